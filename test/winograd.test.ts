// Winograd convolutions for a frozen network (native/onednn.cc, nn.Conv2d.algorithm): the
// same convolution as libtorch's up to float32 rounding (checked against a float64 direct
// convolution), following the weights when they change (nothing packed is kept), and refusing
// bad arguments with a JS error. A distiller's teacher uses them by default ('auto').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import {
  F,
  Tensor,
  WinogradConvolution,
  createZooModel,
  engine,
  keep,
  nn,
  noGrad,
  tidy,
  winogradAvailable,
  winogradTrain,
} from '../src/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KD } from '../src/distillers/index.js';
import { validateConfig } from '../src/engine/config.js';
import { toOnnx } from '../src/export/onnx.js';

/** max |a − b| / max |b|, computed in float64. */
function relativeError(a: Tensor, b: Tensor): number {
  return tidy(() => {
    const ref = b.to('float64');
    return a.to('float64').sub(ref).abs().max().item() / ref.abs().max().item();
  });
}

function frozenConv(inC: number, outC: number, options: nn.Conv2dOptions = {}): nn.Conv2d {
  const conv = new nn.Conv2d(inC, outC, 3, { padding: 1, ...options });
  for (const p of conv.parameters()) p.requiresGrad = false;
  return conv.eval();
}

test('the addon is built with oneDNN (scripts/setup.sh installs libdnnl-dev)', () => {
  assert.equal(winogradAvailable(), true);
});

test('Winograd convolution equals the direct one up to float32 rounding (float64 reference)', () => {
  torch.manualSeed(1);
  const shapes: [number, number, number, number, boolean, number][] = [
    // [batch, in, out, size, bias, padding]
    [4, 64, 64, 32, true, 1],
    [3, 128, 64, 16, false, 1],
    [2, 256, 256, 8, true, 1],
    [5, 64, 128, 7, true, 1], // odd size: partial tiles
    [2, 64, 64, 12, true, 0],
    [1, 16, 32, 9, true, 1],
  ];
  for (const [n, inC, outC, size, bias, padding] of shapes) {
    for (const channelsLast of [false, true]) {
      tidy(() => {
        const conv = frozenConv(inC, outC, { bias, padding });
        let x = torch.randn(n, inC, size, size);
        if (channelsLast) x = x.contiguous({ memoryFormat: 'channelsLast' });
        const direct = conv.forward(x);
        const reference = F.conv2d(x.to('float64'), conv.weight.to('float64'), {
          bias: conv.bias?.to('float64') ?? null,
          padding,
        });
        conv.algorithm = 'winograd';
        const wino = noGrad(() => conv.forward(x));
        const what = `${JSON.stringify([n, inC, outC, size, bias, padding])} channelsLast=${channelsLast}`;
        assert.deepEqual(wino.shape, direct.shape, what);
        assert.equal(wino.isContiguous(channelsLast ? 'channelsLast' : 'contiguous'), true, what);
        const errWino = relativeError(wino, reference);
        const errDirect = relativeError(direct, reference);
        assert.ok(errWino < 1e-5, `${what}: Winograd is ${errWino} from the float64 convolution`);
        assert.ok(errWino < 50 * Math.max(errDirect, 1e-7), `${what}: Winograd ${errWino}, direct ${errDirect}`);
        // It did run: Winograd rounds differently from the direct kernel.
        assert.ok(relativeError(wino, direct) > 0, `${what}: the output is the direct convolution's`);
        conv.releaseDerived();
      });
    }
  }
});

test('a frozen network differentiated with respect to its input goes through Winograd; float64 and autocast never do', () => {
  torch.manualSeed(2);
  tidy(() => {
    const conv = frozenConv(64, 64);
    conv.algorithm = 'winograd';
    const x = torch.randn(2, 64, 8, 8);
    // An input that needs its gradient (a generator trained through a frozen teacher): the training path.
    const xg = torch.randn(2, 64, 8, 8).requiresGrad_();
    const yg = conv.forward(xg);
    assert.ok(/WinogradFunction/.test(yg.gradFn ?? ''), `grad_fn ${yg.gradFn}`);
    yg.sum().backward();
    assert.equal(conv.weight.grad, null);
    const expected = F.convTranspose2d(torch.ones(2, 64, 8, 8), conv.weight, { padding: 1 });
    assert.ok(relativeError(xg.grad!, expected) < 1e-5);
    // float64 and autocast: the direct convolution, exactly.
    const x64 = torch.randn(1, 64, 6, 6, { dtype: 'float64' });
    const w64 = conv.weight.to('float64');
    const b64 = conv.bias!.to('float64');
    const direct64 = F.conv2d(x64, w64, { bias: b64, padding: 1 });
    const conv64 = frozenConv(64, 64).to('float64');
    noGrad(() => {
      conv64.weight.copy_(w64);
      conv64.bias!.copy_(b64);
    });
    conv64.algorithm = 'winograd';
    assert.equal(
      noGrad(() => conv64.forward(x64))
        .sub(direct64)
        .abs()
        .max()
        .item(),
      0,
    );
    const bf = noGrad(() => torch.autocast('cpu', 'bfloat16', () => conv.forward(x)));
    assert.equal(bf.dtype, 'bfloat16');
    conv.releaseDerived();
  });
});

test('a frozen Winograd layer follows its weights: replaced, changed in place, folded with a BatchNorm', () => {
  torch.manualSeed(3);
  tidy(() => {
    const conv = frozenConv(64, 64);
    conv.algorithm = 'winograd';
    const x = torch.randn(2, 64, 8, 8);
    const run = () => noGrad(() => conv.forward(x));
    const direct = () => F.conv2d(x, conv.weight, { bias: conv.bias, padding: 1 });
    assert.ok(relativeError(run(), direct()) < 1e-5);
    assert.ok(relativeError(run(), direct()) > 0, 'Winograd ran');
    noGrad(() => conv.weight.mul_(2)); // in place: the version counter moves
    assert.ok(relativeError(run(), direct()) < 1e-5);
    noGrad(() => conv.bias!.add_(1));
    assert.ok(relativeError(run(), direct()) < 1e-5);
    conv.loadStateDict({ weight: torch.randn(64, 64, 3, 3), bias: torch.zeros(64) });
    assert.ok(relativeError(run(), direct()) < 1e-5);
    // With a folded BatchNorm the Winograd convolution runs the folded weights.
    const bn = new nn.BatchNorm2d(64).eval();
    noGrad(() => {
      bn.runningMean!.copy_(torch.randn(64));
      bn.runningVar!.copy_(torch.rand(64).add(0.5));
      bn.weight!.copy_(torch.rand(64).add(0.5));
    });
    for (const p of bn.parameters()) p.requiresGrad = false;
    const unfolded = noGrad(() => bn.forward(direct()));
    conv.foldBatchNorm(bn);
    assert.ok(
      relativeError(
        noGrad(() => bn.forward(run())),
        unfolded,
      ) < 1e-5,
    );
    noGrad(() => bn.runningMean!.add_(0.5));
    const moved = noGrad(() => {
      conv.foldBatchNorm(null);
      const r = bn.forward(direct());
      conv.foldBatchNorm(bn);
      return r;
    });
    assert.ok(
      relativeError(
        noGrad(() => bn.forward(run())),
        moved,
      ) < 1e-5,
    );
    conv.foldBatchNorm(null);
    conv.releaseDerived();
  });
});

test("setConvAlgorithm: 'auto' takes layers of 64+ output channels from 32+ in training, 32+ from 32+ frozen; a frozen resnet32x4 keeps its logits", () => {
  torch.manualSeed(4);
  const net = createZooModel('resnet32x4', { numClasses: 10 }).eval();
  for (const p of net.parameters()) p.requiresGrad = false;
  const convs = [...net.modules()].filter((m): m is nn.Conv2d => m instanceof nn.Conv2d);
  assert.equal(nn.setConvAlgorithm(net, 'auto'), convs.length);
  assert.ok(convs.every((c) => c.algorithm === 'auto'));
  assert.equal(nn.winogradPays(32, 32), false);
  assert.equal(nn.winogradPays(16, 64), false);
  assert.equal(nn.winogradPays(32, 64), true);
  assert.equal(nn.winogradPays(64, 64), true);
  // Frozen, the forward alone: 32 -> 32 pays as well, 16 -> 32 still does not.
  assert.equal(nn.winogradPays(32, 32, false), true);
  assert.equal(nn.winogradPays(16, 32, false), false);
  assert.equal(nn.winogradPays(32, 16, false), false);
  const x = torch.randn(3, 3, 32, 32).keep();
  const logits = (alg: nn.ConvAlgorithm) => {
    nn.setConvAlgorithm(net, alg);
    return noGrad(() => tidy(() => net.forward(x).logits.keep()));
  };
  const direct = logits('direct');
  const auto = logits('auto');
  const rel = relativeError(auto, direct);
  assert.ok(rel > 0 && rel < 1e-5, `auto vs direct logits: ${rel}`);
  assert.throws(() => nn.setConvAlgorithm(net, 'fast' as nn.ConvAlgorithm), /direct, winograd or auto/);
  nn.setConvAlgorithm(net, 'direct');
  for (const t of [x, direct, auto]) t.dispose();
  net.dispose();
});

test("'auto' on a 32 -> 32 layer: Winograd when frozen (the forward alone pays), direct when its weights train", () => {
  torch.manualSeed(6);
  const conv = new nn.Conv2d(32, 32, 3, { padding: 1, bias: false });
  conv.to({ memoryFormat: 'channelsLast' });
  const x = torch.randn(4, 32, 16, 16).contiguous({ memoryFormat: 'channelsLast' });
  const difference = (run: () => Tensor) =>
    tidy(() => {
      conv.algorithm = 'direct';
      const direct = run();
      conv.algorithm = 'auto';
      const auto = run();
      return auto.sub(direct).abs().max().item() / direct.abs().max().item();
    });
  const frozen = difference(() => noGrad(() => conv.forward(x)));
  assert.ok(frozen > 0 && frozen < 1e-5, `frozen: Winograd's rounding (${frozen})`);
  assert.equal(
    difference(() => conv.forward(x)),
    0,
    'training: the direct convolution',
  );
  conv.weight.requiresGrad = false;
  const noGradients = difference(() => conv.forward(x));
  assert.ok(noGradients > 0, 'frozen weights and an input without gradient: Winograd');
  conv.dispose();
});

test("a distiller's teacher runs 'auto' by default; the KD loss moves by rounding only; 'direct' is the reference", () => {
  torch.manualSeed(5);
  const make = () => {
    torch.manualSeed(6);
    const teacher = createZooModel('resnet8x4', { numClasses: 10 });
    const student = createZooModel('resnet8', { numClasses: 10 });
    return new KD(student, teacher, { T: 4, ceWeight: 0.1, kdWeight: 0.9 });
  };
  const x = torch.randn(4, 3, 32, 32).keep();
  const y = torch.tensor([1, 2, 3, 4], { dtype: 'int64' }).keep();
  const losses = (alg: nn.ConvAlgorithm | null) => {
    const d = make();
    if (alg) d.teacherConvAlgorithm = alg;
    assert.equal(d.teacherConvAlgorithm, alg ?? 'auto');
    const out = tidy(() => {
      const o = d.forwardTrain({ images: x, views: [x], labels: y, indices: new Int32Array(4) });
      return Object.fromEntries(Object.entries(o.losses).map(([k, v]) => [k, (v as Tensor).item()]));
    });
    const teacherLogits = tidy(() => (d as unknown as { teacherLogits(x: Tensor): Tensor }).teacherLogits(x).keep());
    const teacherConvs = [...d.teacher!.modules()].filter((m): m is nn.Conv2d => m instanceof nn.Conv2d);
    assert.ok(teacherConvs.every((c) => c.algorithm === (alg ?? 'auto')));
    d.dispose();
    return { out, teacherLogits };
  };
  const { out: auto, teacherLogits: autoLogits } = losses(null);
  const { out: direct, teacherLogits: directLogits } = losses('direct');
  const rel = relativeError(autoLogits, directLogits);
  assert.ok(rel > 0 && rel < 1e-5, `teacher logits auto vs direct: ${rel}`);
  autoLogits.dispose();
  directLogits.dispose();
  for (const k of Object.keys(direct)) {
    const rel = Math.abs(auto[k]! - direct[k]!) / Math.abs(direct[k]!);
    assert.ok(rel < 1e-5, `${k}: ${auto[k]} vs ${direct[k]}`);
  }
  x.dispose();
  y.dispose();
});

test('WinogradConvolution refuses bad arguments with a JS error', () => {
  tidy(() => {
    const w = torch.randn(64, 64, 3, 3);
    assert.throws(() => new WinogradConvolution(torch.randn(64, 64, 5, 5), null, [1, 1], [1, 1]), /\[out, in, 3, 3\]/);
    assert.throws(() => new WinogradConvolution(w.to('float64'), null, [1, 1], [1, 1]), /float32/);
    assert.throws(() => new WinogradConvolution(w, torch.randn(3), [1, 1], [1, 1]), /bias/);
    assert.throws(() => new WinogradConvolution(w, null, [0, 1], [1, 1]), /stride/);
    assert.throws(() => new WinogradConvolution(w, null, [1, 1], [7, 1]), /padding/);
    const conv = new WinogradConvolution(w, null, [1, 1], [1, 1]);
    assert.throws(() => conv.forward(torch.randn(2, 32, 8, 8)), /input must be a float32 CPU tensor of shape \[N, 64, H, W\]/);
    assert.throws(() => conv.forward(torch.randn(64, 8, 8)), /input must be/);
    assert.throws(() => conv.forward(torch.randn(1, 64, 8, 8, { dtype: 'float64' })), /float32/);
    // Stride 2 has no Winograd kernel: null, and the caller runs the direct convolution.
    const strided = new WinogradConvolution(w, null, [2, 2], [1, 1]);
    assert.equal(strided.forward(torch.randn(1, 64, 8, 8)), null);
    strided.dispose();
    conv.dispose();
    conv.dispose();
    assert.throws(() => conv.forward(torch.randn(1, 64, 8, 8)), /disposed/);
  });
});

test('hostile arguments to the native calls: JS errors or null, never a dead process', () => {
  tidy(() => {
    const w = torch.randn(64, 64, 3, 3);
    const x = torch.randn(1, 64, 8, 8);
    const pairs = [1, [1], [NaN, 1], [1e300, 1], ['a', 'b'], [1.5, 1], null] as unknown as [number, number][];
    for (const bad of pairs) {
      assert.throws(() => new WinogradConvolution(w, null, bad, [1, 1]), /stride must be an array of 2 integers/);
      assert.throws(() => new WinogradConvolution(w, null, [1, 1], bad), /padding must be an array of 2 integers/);
      assert.throws(() => winogradTrain(x, w, null, bad, [1, 1]), /stride must be an array of 2 integers/);
    }
    assert.throws(() => new WinogradConvolution(w, 5 as unknown as Tensor, [1, 1], [1, 1]), /bias.*expected a Tensor/);
    assert.throws(() => new WinogradConvolution({} as Tensor, null, [1, 1], [1, 1]), /weight.*expected a Tensor/);
    // Shapes with no Winograd kernel (oneDNN's heuristics divide by them: an empty batch once
    // killed the process with SIGFPE) answer null, and nn.Conv2d runs libtorch's convolution.
    const conv = new WinogradConvolution(w, null, [1, 1], [0, 0]);
    assert.equal(conv.forward(torch.randn(0, 64, 8, 8)), null);
    assert.equal(conv.forward(torch.randn(1, 64, 2, 2)), null);
    conv.dispose();
    assert.equal(new WinogradConvolution(torch.randn(0, 64, 3, 3), null, [1, 1], [1, 1]).forward(x), null);
    assert.equal(winogradTrain(torch.randn(0, 64, 8, 8).requiresGrad_(), w, null, [1, 1], [1, 1]), null);
    assert.equal(winogradTrain(torch.randn(1, 64, 1, 1), w, null, [1, 1], [0, 0]), null);
    const layer = frozenConv(64, 64);
    layer.algorithm = 'winograd';
    assert.deepEqual(noGrad(() => layer.forward(torch.randn(0, 64, 8, 8))).shape, [0, 64, 8, 8]);
    // A weight changed in place between forward and backward is refused by autograd, as in PyTorch.
    const wg = torch.randn(64, 64, 3, 3).requiresGrad_();
    const y = winogradTrain(x, wg, null, [1, 1], [1, 1])!;
    noGrad(() => wg.add_(1));
    assert.throws(() => y.sum().backward(), /modified by an inplace operation/);
  });
});

test('views in other layouts: a transposed input, weight and incoming gradient give the dense results', () => {
  torch.manualSeed(12);
  tidy(() => {
    const x = torch.randn(2, 64, 10, 10).transpose(2, 3).requiresGrad_();
    const w = torch.randn(64, 64, 3, 3).transpose(2, 3).requiresGrad_();
    const g = torch.randn(2, 64, 10, 10).transpose(2, 3);
    const y = winogradTrain(x, w, null, [1, 1], [1, 1])!;
    y.backward(g);
    const x64 = x.detach().to('float64').requiresGrad_();
    const w64 = w.detach().to('float64').requiresGrad_();
    const y64 = F.conv2d(x64, w64, { padding: 1 });
    y64.backward(g.to('float64'));
    for (const [got, want] of [
      [y, y64],
      [x.grad!, x64.grad!],
      [w.grad!, w64.grad!],
    ] as [Tensor, Tensor][])
      assert.ok(relativeError(got, want) < 2e-5);
    const frozen = new WinogradConvolution(w.detach(), null, [1, 1], [1, 1]);
    assert.ok(relativeError(frozen.forward(x.detach())!, y64) < 1e-5);
    frozen.dispose();
  });
});

test('isAutocastEnabled reads libtorch: on inside autocast, off outside, for the device asked', () => {
  assert.equal(torch.isAutocastEnabled('cpu'), false);
  torch.autocast('cpu', 'bfloat16', () => {
    assert.equal(torch.isAutocastEnabled('cpu'), true);
    assert.equal(torch.isAutocastEnabled('cuda'), false);
  });
  assert.equal(torch.isAutocastEnabled('cpu'), false);
  assert.throws(() => torch.isAutocastEnabled('tpu' as 'cpu'), /cpu or cuda/);
});

test('training through Winograd: the output and the gradients of input, weight and bias match a float64 direct convolution', () => {
  torch.manualSeed(7);
  const shapes: [number, number, number, number, boolean][] = [
    [4, 64, 64, 16, true],
    [2, 128, 128, 8, false],
    [3, 64, 128, 12, true],
    [2, 64, 64, 7, true],
  ];
  for (const [n, inC, outC, size, bias] of shapes) {
    for (const channelsLast of [false, true]) {
      tidy(() => {
        const what = `${JSON.stringify([n, inC, outC, size, bias])} channelsLast=${channelsLast}`;
        const conv = new nn.Conv2d(inC, outC, 3, { padding: 1, bias });
        if (channelsLast) conv.to({ memoryFormat: 'channelsLast' });
        conv.algorithm = 'winograd';
        let x = torch.randn(n, inC, size, size);
        if (channelsLast) x = x.contiguous({ memoryFormat: 'channelsLast' });
        x.requiresGrad = true;
        const r = torch.randn(n, outC, size, size);
        const y = conv.forward(x);
        assert.ok(/WinogradFunction/.test(y.gradFn ?? ''), `${what}: grad_fn ${y.gradFn}`);
        assert.equal(y.isContiguous(channelsLast ? 'channelsLast' : 'contiguous'), true, what);
        y.mul(r).sum().backward();
        // The reference: libtorch's direct convolution in float64, through its own autograd.
        const x64 = x.detach().to('float64').requiresGrad_();
        const w64 = conv.weight.detach().to('float64').requiresGrad_();
        const b64 = bias ? conv.bias!.detach().to('float64').requiresGrad_() : null;
        const y64 = F.conv2d(x64, w64, { bias: b64, padding: 1 });
        y64.mul(r.to('float64')).sum().backward();
        const checks: [string, Tensor, Tensor][] = [
          ['output', y, y64],
          ['input gradient', x.grad!, x64.grad!],
          ['weight gradient', conv.weight.grad!, w64.grad!],
        ];
        if (bias) checks.push(['bias gradient', conv.bias!.grad!, b64!.grad!]);
        for (const [name, got, want] of checks) {
          const err = relativeError(got, want);
          assert.ok(err < 2e-5, `${what}: ${name} is ${err} from the float64 reference`);
        }
        assert.ok(relativeError(y, y64.to('float32')) > 0, `${what}: the output is the direct convolution's`);
      });
    }
  }
});

test('training through Winograd: no input gradient is computed when the input needs none; stride 2 runs direct', () => {
  torch.manualSeed(8);
  tidy(() => {
    const conv = new nn.Conv2d(64, 64, 3, { padding: 1 });
    conv.algorithm = 'winograd';
    const x = torch.randn(2, 64, 8, 8);
    const y = conv.forward(x);
    assert.ok(/WinogradFunction/.test(y.gradFn ?? ''));
    y.sum().backward();
    assert.equal(x.grad, null);
    const w64 = conv.weight.detach().to('float64').requiresGrad_();
    F.conv2d(x.to('float64'), w64, { bias: conv.bias!.detach().to('float64'), padding: 1 })
      .sum()
      .backward();
    assert.ok(relativeError(conv.weight.grad!, w64.grad!) < 2e-5);
    const strided = new nn.Conv2d(64, 64, 3, { padding: 1, stride: 2 });
    strided.algorithm = 'winograd';
    const ys = strided.forward(x);
    assert.ok(/Convolution/.test(ys.gradFn ?? ''), `stride 2: ${ys.gradFn}`);
  });
});

test("a student trained with convAlgorithm 'auto' follows the direct student's losses to rounding over SGD steps", () => {
  const run = (alg: nn.ConvAlgorithm) => {
    torch.manualSeed(9);
    const net = createZooModel('resnet8x4', { numClasses: 10 });
    assert.equal(nn.setConvAlgorithm(net, alg), [...net.modules()].filter((m) => m instanceof nn.Conv2d).length);
    const opt = new torch.optim.SGD(net.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
    const x = torch.randn(8, 3, 32, 32).keep();
    const y = torch.randint(0, 10, [8]).keep();
    const losses: number[] = [];
    for (let i = 0; i < 4; i++)
      tidy(() => {
        const loss = F.crossEntropy(net.forward(x).logits, y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses.push(loss.item());
      });
    net.dispose();
    x.dispose();
    y.dispose();
    return losses;
  };
  const direct = run('direct');
  const auto = run('auto');
  for (let i = 0; i < direct.length; i++) {
    const rel = Math.abs(auto[i]! - direct[i]!) / Math.abs(direct[i]!);
    assert.ok(rel < 1e-4, `step ${i}: ${auto[i]} vs ${direct[i]}`);
  }
  assert.notDeepEqual(auto, direct, 'the Winograd student ran the direct convolutions');
});

test('configs: teacher.convAlgorithm defaults to auto, student.convAlgorithm to direct; other values are refused', () => {
  const base = {
    name: 'conv',
    dataset: { name: 'synthetic', trainSubset: 64, testSubset: 32 },
    teacher: { model: 'resnet8', checkpoint: 'x.pt' },
    student: { model: 'resnet8' },
    method: { name: 'kd' },
    solver: { epochs: 1, batchSize: 32, lr: 0.05 },
  };
  const check = { checkTeacherCheckpoint: false };
  const c = validateConfig(base, 'conv', check);
  assert.equal(c.teacher!.convAlgorithm, 'auto');
  assert.equal(c.student.convAlgorithm, 'direct');
  const set = validateConfig(
    { ...base, teacher: { ...base.teacher, convAlgorithm: 'direct' }, student: { model: 'resnet8', convAlgorithm: 'auto' } },
    'conv',
    check,
  );
  assert.equal(set.teacher!.convAlgorithm, 'direct');
  assert.equal(set.student.convAlgorithm, 'auto');
  assert.throws(
    () => validateConfig({ ...base, student: { model: 'resnet8', convAlgorithm: 'fft' } }, 'conv', check),
    /convAlgorithm/,
  );
});

test('ONNX export traces the ATen convolution of a network set to Winograd (the same file as direct)', () => {
  torch.manualSeed(10);
  const net = createZooModel('resnet8x4', { numClasses: 10 }).eval();
  const x = torch.randn(1, 3, 32, 32).keep();
  const direct = toOnnx(net, x);
  nn.setConvAlgorithm(net, 'winograd');
  const wino = toOnnx(net, x);
  assert.ok(Buffer.from(wino).equals(Buffer.from(direct)), 'the exported files differ');
  net.dispose();
  x.dispose();
});

test('packed kernels: one packing per layout oneDNN picks (never repacked while in use, at most 3), freed by dispose', () => {
  torch.manualSeed(11);
  const w = torch.randn(256, 256, 3, 3).keep();
  const conv = new WinogradConvolution(w, null, [1, 1], [1, 1]);
  const weightBytes = 256 * 256 * 9 * 4;
  const live = () => torch.memory.stats().liveBytes;
  const base = live();
  const packings: number[] = [];
  for (const n of [64, 16, 2, 100, 64, 16, 64, 16]) {
    tidy(() => {
      conv.forward(torch.randn(n, 256, 8, 8));
    });
    // F(4x4, 3x3) stores 6x6 per 3x3 kernel: 4x the weight per packing (plus a little padding).
    packings.push((live() - base) / weightBytes / 4);
  }
  const seen = packings.map((v) => v.toFixed(2)).join(', ');
  for (const p of packings) assert.ok(Math.abs(p - Math.round(p)) < 0.05 && p >= 1 && p < 3.05, seen);
  // Alternating between two batch sizes neither grows memory nor repacks (the count stays).
  assert.equal(Math.round(packings.at(-1)!), Math.round(packings.at(-3)!), seen);
  conv.dispose();
  assert.equal(live(), base);
  w.dispose();
});

test('a frozen nn.Conv2d through Winograd keeps nothing beyond its weights between calls (no packed kernels)', () => {
  torch.manualSeed(12);
  const conv = frozenConv(256, 256);
  conv.algorithm = 'winograd';
  const x = torch.randn(64, 256, 8, 8).keep();
  const live = () => torch.memory.stats().liveBytes;
  const direct = tidy(() => keep(F.conv2d(x, conv.weight, { bias: conv.bias, padding: 1 })));
  const base = live();
  for (let i = 0; i < 3; i++)
    tidy(() => {
      const y = noGrad(() => conv.forward(x));
      const error = relativeError(y, direct);
      assert.ok(error > 0 && error < 1e-5, `Winograd ran: ${error}`);
    });
  assert.equal(live(), base);
  for (const t of [x, direct]) t.dispose();
  conv.dispose();
});

test("student.convAlgorithm reaches the run: the trained student's weights follow the direct run's to rounding", async () => {
  const out = mkdtempSync(path.join(tmpdir(), 'winograd-run-'));
  try {
    const run = async (convAlgorithm: string) => {
      const config = engine.validateConfig(
        {
          name: `student-${convAlgorithm}`,
          dataset: { name: 'synthetic', trainSubset: 64, testSubset: 16 },
          student: { model: 'resnet8', convAlgorithm },
          solver: { epochs: 1, batchSize: 32, lr: 0.05 },
          runtime: { threads: 1, workers: 0 },
          output: out,
        },
        'winograd',
      );
      const r = await engine.runExperiment(config);
      // The losses agree to float32's resolution here; the weights after two SGD steps tell the runs apart.
      return torch.tensorsIn<Tensor>(torch.load(path.join(r.outDir, 'best.pt'))).filter((t) => t.dtype === 'float32');
    };
    const direct = await run('direct');
    const auto = await run('auto');
    assert.equal(auto.length, direct.length);
    let differ = 0;
    for (let i = 0; i < direct.length; i++) {
      const rel = relativeError(auto[i]!, direct[i]!);
      assert.ok(rel < 1e-4, `tensor ${i}: ${rel}`);
      if (rel > 0) differ++;
    }
    assert.ok(
      differ > direct.length / 2,
      `only ${differ} of ${direct.length} tensors differ: the student's convolutions ran direct`,
    );
    torch.dispose([...direct, ...auto]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
