// The fast step of issue 16. BatchNorm folding of a frozen teacher: the folded network gives the unfolded one's outputs (every
// output tensor: logits, features, pre-activations) up to rounding, follows later changes of its
// weights, leaves train mode and the state dict alone, and refuses networks it cannot fold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor, nn, createZooModel, createModel, createDistiller, engine, noGrad, tidy } from '../src/index.js';

type Net = nn.Module & { forward(x: Tensor): unknown };

/** Random BN statistics and affine parameters, so that folding has something to fold. */
function randomiseBatchNorms(net: nn.Module): void {
  noGrad(() => {
    for (const [, m] of net.namedModules()) {
      if (!(m instanceof nn.BatchNorm2d)) continue;
      m.runningMean!.copy_(torch.randn(m.numFeatures).mul(0.2));
      m.runningVar!.copy_(torch.rand(m.numFeatures).add(0.5));
      m.weight!.copy_(torch.rand(m.numFeatures).add(0.5));
      m.bias!.copy_(torch.randn(m.numFeatures).mul(0.1));
    }
  });
}

function freeze<T extends nn.Module>(net: T): T {
  for (const p of net.parameters()) p.requiresGrad = false;
  net.eval();
  return net;
}

function outputs(net: Net, x: Tensor): Float64Array[] {
  return noGrad(() =>
    tidy(() => {
      const flat: Tensor[] = [];
      const walk = (o: unknown) => {
        if (o instanceof Tensor) flat.push(o);
        else if (Array.isArray(o)) o.forEach(walk);
        else if (o && typeof o === 'object') Object.values(o).forEach(walk);
      };
      walk(net.forward(x));
      return flat.map((t) => Float64Array.from(t.toArray() as Float32Array));
    }),
  );
}

function maxRelative(a: Float64Array[], b: Float64Array[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((u, i) => {
    const v = b[i]!;
    assert.equal(u.length, v.length);
    const scale = u.reduce((m, e) => Math.max(m, Math.abs(e)), 1e-12);
    for (let k = 0; k < u.length; k++) worst = Math.max(worst, Math.abs(u[k]! - v[k]!) / scale);
  });
  return worst;
}

test('folded resnet32x4 gives the unfolded outputs (logits, stage features, pre-activations): float32 and float64; the state dict is untouched', (t) => {
  for (const dtype of ['float32', 'float64'] as const) {
    torch.manualSeed(3);
    const net = createZooModel('resnet32x4', { numClasses: 100 });
    randomiseBatchNorms(net);
    if (dtype === 'float64') net.to(dtype);
    freeze(net);
    const x = torch.randn([4, 3, 32, 32], { dtype });
    const before = outputs(net, x);
    const state = Object.fromEntries(Object.entries(net.stateDict()).map(([k, v]) => [k, v.clone().keep()]));
    const result = nn.foldBatchNorm(net, x);
    assert.equal(result.folded.length, 34, 'every convolution of resnet32x4 is followed by its BatchNorm');
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(result.folded[1], ['layer1.0.conv1', 'layer1.0.bn1']);
    const error = maxRelative(before, outputs(net, x));
    t.diagnostic(`${dtype}: max relative difference over ${before.length} outputs ${error.toExponential(1)}`);
    assert.ok(error < (dtype === 'float64' ? 1e-12 : 2e-5), `${dtype}: ${error}`);
    for (const [k, v] of Object.entries(net.stateDict())) {
      assert.ok(v.eq(state[k]!).all().item(), `${k} unchanged`);
      state[k]!.dispose();
    }
    nn.unfoldBatchNorm(net);
    assert.ok(maxRelative(before, outputs(net, x)) === 0, 'unfolded: the BatchNorms run again');
  }
});

test('folded weights follow the network: new weights loaded in place, changed running statistics; train mode runs the BatchNorm as written', () => {
  torch.manualSeed(4);
  const net = freeze(createZooModel('resnet8x4', { numClasses: 10 }));
  const x = torch.randn(4, 3, 32, 32);
  nn.foldBatchNorm(net, x);
  const other = createZooModel('resnet8x4', { numClasses: 10 });
  randomiseBatchNorms(other);
  freeze(other);
  net.loadStateDict(other.stateDict());
  assert.ok(maxRelative(outputs(other, x), outputs(net, x)) < 2e-5, 'a state dict loaded after folding');
  noGrad(() => {
    const bn = [...net.namedModules()].find(([n]) => n === 'layer2.0.bn2')![1] as nn.BatchNorm2d;
    bn.runningVar!.mul_(3);
    const twin = [...other.namedModules()].find(([n]) => n === 'layer2.0.bn2')![1] as nn.BatchNorm2d;
    twin.runningVar!.mul_(3);
  });
  assert.ok(maxRelative(outputs(other, x), outputs(net, x)) < 2e-5, 'a running variance changed in place');
  net.train();
  other.train();
  const a = outputs(net, x);
  const b = outputs(other, x);
  assert.ok(maxRelative(a, b) < 1e-6, 'train mode: batch statistics, no folding');
  const bnOf = (m: nn.Module) => [...m.namedModules()].find(([n]) => n === 'bn1')![1] as nn.BatchNorm2d;
  assert.deepEqual(bnOf(net).runningMean!.toArray(), bnOf(other).runningMean!.toArray(), 'running statistics updated as usual');
});

test('what is not folded: trainable parameters, train mode, a convolution whose output is used elsewhere too', () => {
  torch.manualSeed(5);
  const x = torch.randn(2, 3, 32, 32);
  const trainable = createZooModel('resnet8', { numClasses: 10 }).eval();
  const r1 = nn.foldBatchNorm(trainable, x);
  assert.equal(r1.folded.length, 0);
  assert.match(r1.skipped[0]!, /bn1: trainable/);
  const training = createZooModel('resnet8', { numClasses: 10 });
  for (const p of training.parameters()) p.requiresGrad = false;
  assert.match(nn.foldBatchNorm(training, x).skipped[0]!, /in train mode/);

  class Twice extends nn.Module {
    conv = this.registerModule('conv', new nn.Conv2d(3, 4, 3, { padding: 1 }));
    bn = this.registerModule('bn', new nn.BatchNorm2d(4));
    forward(input: Tensor): Tensor {
      const h = this.conv.forward(input);
      return this.bn.forward(h).add(h);
    }
  }
  const twice = freeze(new Twice());
  randomiseBatchNorms(twice);
  const before = outputs(twice, x);
  const r2 = nn.foldBatchNorm(twice, x);
  assert.equal(r2.folded.length, 0);
  assert.match(r2.skipped.at(-1)!, /^bn: folding it changes the network's output .*used elsewhere/);
  assert.equal(maxRelative(before, outputs(twice, x)), 0, 'left as it was');
});

test("wrn_40_2 (pre-activation): each block's conv1 -> bn2 folds; the stem convolution, whose output is also a returned feature, does not", () => {
  torch.manualSeed(7);
  const net = freeze(createZooModel('wrn_40_2', { numClasses: 100 }));
  randomiseBatchNorms(net);
  const x = torch.randn(2, 3, 32, 32);
  const before = outputs(net, x);
  const result = nn.foldBatchNorm(net, x);
  assert.equal(result.folded.length, 18);
  assert.ok(result.folded.every(([c, b]) => c.endsWith('.conv1') && b.endsWith('.bn2')));
  assert.deepEqual(result.skipped, ["block1.layer.0.bn1: its convolution's output is also read elsewhere"]);
  assert.ok(maxRelative(before, outputs(net, x)) < 2e-5);
});

test('torchvision networks fold: resnet18, mobilenet_v3_small, efficientnet_b0 (depthwise and grouped convolutions)', (t) => {
  for (const [name, pairs] of [
    ['torchvision.resnet18', 20],
    ['torchvision.mobilenet_v3_small', 34],
    ['torchvision.efficientnet_b0', 49],
  ] as const) {
    torch.manualSeed(6);
    const net = freeze(createModel(name, { numClasses: 10 }) as Net);
    randomiseBatchNorms(net);
    const x = torch.randn(2, 3, 64, 64);
    const before = outputs(net, x);
    const result = nn.foldBatchNorm(net, x);
    assert.equal(result.folded.length, pairs, name);
    const error = maxRelative(before, outputs(net, x));
    t.diagnostic(`${name}: ${pairs} pairs folded, max relative difference ${error.toExponential(1)}`);
    assert.ok(error < 5e-5, `${name}: ${error}`);
  }
});

test('autocast: convolutions in bfloat16 inside, float32 outside; regions nest and restore', () => {
  const x = torch.randn(2, 3, 8, 8);
  const w = torch.randn(4, 3, 3, 3);
  const inner = torch.autocast('cpu', 'bfloat16', () => {
    const y = torch.F.conv2d(x, w);
    const nested = torch.autocast('cpu', 'bfloat16', () => torch.F.conv2d(x, w).dtype);
    return [y.dtype, nested, torch.F.conv2d(x, w).dtype];
  });
  assert.deepEqual(inner, ['bfloat16', 'bfloat16', 'bfloat16']);
  assert.equal(torch.F.conv2d(x, w).dtype, 'float32', 'off again after the region');
  assert.throws(() => torch.autocast('cpu', 'int8' as 'bfloat16', () => 0), /bfloat16 or float16/);
});

test('teacher.precision bfloat16: the teacher runs under autocast, its logits and features come back in float32, the KD and SP losses move by < 2%', (t) => {
  const losses: Record<string, number[]> = {};
  for (const precision of ['float32', 'bfloat16'] as const) {
    for (const method of ['kd', 'sp']) {
      torch.manualSeed(8);
      // Fresh BatchNorms: moderate logits, so that the teacher's softened distribution is not one-hot.
      const teacher = createZooModel('resnet32x4', { numClasses: 100 });
      const student = createZooModel('resnet8x4', { numClasses: 100 });
      const d = torch.createDistiller(method, student, teacher, {}, { inputShape: [3, 32, 32] });
      d.teacherPrecision = precision;
      const x = torch.randn(8, 3, 32, 32);
      const labels = torch.randint(0, 100, [8]);
      const out = tidy(() => {
        const o = d.forwardTrain({ images: x, views: [x], labels, indices: new Int32Array(8) }, { epoch: 1, epochs: 1, step: 0 });
        return Object.fromEntries(Object.entries(o.losses).map(([k, v]) => [k, [v.dtype, v.item() as number] as const]));
      });
      const kdTerm = Object.entries(out).find(([k]) => k !== 'ce')!;
      assert.equal(kdTerm[1][0], 'float32');
      (losses[method] ??= []).push(kdTerm[1][1]);
      assert.equal(d.teacherFold!.folded.length, 34);
    }
  }
  for (const [method, [full, reduced]] of Object.entries(losses)) {
    const change = Math.abs(reduced! - full!) / Math.abs(full!);
    t.diagnostic(
      `${method}: distillation loss ${full!.toPrecision(6)} (float32 teacher) vs ${reduced!.toPrecision(6)} (bfloat16), ${(100 * change).toFixed(2)}%`,
    );
    assert.ok(change > 0 && change < 0.02, `${method}: ${change} (0: the teacher did not run in bfloat16)`);
  }
});

test('config: teacher.foldBatchNorm and teacher.precision (float16 only on CUDA); a run with runtime.channelsLast and a bfloat16 teacher trains', () => {
  const base = {
    name: 'fast-teacher',
    dataset: { name: 'synthetic', trainSubset: 128, testSubset: 64 },
    teacher: { model: 'resnet8', checkpoint: 'teacher.pt' },
    student: { model: 'resnet8' },
    method: { name: 'kd' },
    solver: { epochs: 1, batchSize: 32, lr: 0.05 },
  };
  const check = { checkTeacherCheckpoint: false };
  const parsed = engine.validateConfig(base, 'fast', check);
  assert.equal(parsed.teacher!.foldBatchNorm, true);
  assert.equal(parsed.teacher!.precision, 'float32');
  assert.equal(parsed.runtime.channelsLast, false);
  assert.throws(
    () => engine.validateConfig({ ...base, teacher: { ...base.teacher, precision: 'float16' } }, 'fast', check),
    /float16 autocast needs a CUDA device; on the CPU use teacher.precision: bfloat16/,
  );

  const dir = mkdtempSync(path.join(tmpdir(), 'distill-fast-teacher-'));
  torch.manualSeed(1);
  torch.save(createZooModel('resnet8', { numClasses: 10, inChannels: 1 }).stateDict(), path.join(dir, 'teacher.pt'));
  const config = {
    ...base,
    teacher: { ...base.teacher, checkpoint: path.join(dir, 'teacher.pt'), precision: 'bfloat16' },
    runtime: { channelsLast: true, workers: 0 },
    output: dir,
  };
  writeFileSync(path.join(dir, 'fast.yaml'), JSON.stringify(config));
  const cli = path.join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'run', path.join(dir, 'fast.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const epochs = readFileSync(path.join(dir, 'fast-teacher', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type?: string; event?: string; record?: { losses: Record<string, number> } })
    .filter((e) => e.type === 'epoch' || e.event === 'epoch');
  assert.ok(epochs.length >= 1, 'an epoch was recorded');
  rmSync(dir, { recursive: true, force: true });
});

test('maps are freed block by block, yet a forward hook may keep the map it saw (PyTorch’s feature-extraction idiom), with and without gradients', () => {
  torch.manualSeed(9);
  const net = createZooModel('resnet32x4', { numClasses: 10 });
  const x = torch.randn(4, 3, 32, 32);
  let seen: Tensor | null = null;
  const conv = [...net.namedModules()].find(([n]) => n === 'layer1.2.conv1')![1];
  const handle = conv.registerForwardHook((_m, _i, out) => {
    seen = out as Tensor;
  });
  for (const grad of [true, false]) {
    const sum = tidy(() => {
      const run = () => net.forward(x).logits;
      const logits = grad ? run() : noGrad(run);
      assert.ok(logits.shape[0] === 4);
      return (seen as Tensor | null)!.sum().item() as number;
    });
    assert.ok(Number.isFinite(sum), `the hooked map is alive after the forward (grad ${grad})`);
  }
  handle.remove();
  // Without hooks, a no-grad forward of resnet32x4 holds far less than all its maps at once.
  const live = () => torch.memory.stats().liveBytes;
  const big = torch.randn(32, 3, 32, 32);
  torch.memory.resetPeak();
  const before = live();
  noGrad(() => tidy(() => void net.forward(big).logits));
  const peak = torch.memory.stats().peakLiveBytes - before;
  const oneMap = 32 * 64 * 32 * 32 * 4; // layer1's maps: 64 channels at 32x32
  assert.ok(
    peak < 12 * oneMap,
    `peak ${(peak / 2 ** 20).toFixed(0)} MB for ${(oneMap / 2 ** 20).toFixed(0)} MB maps (layer1 alone has 5 blocks of about 3 of them)`,
  );
});

test("a logits-only method frees the student's other outputs as soon as its logits exist (DLB's two forwards hold no pre-activations)", () => {
  torch.manualSeed(10);
  const student = createZooModel('resnet8x4', { numClasses: 10 });
  const d = createDistiller('dlb', student, null);
  const b = 16;
  const views = [torch.randn(b, 3, 32, 32), torch.randn(b, 3, 32, 32)];
  const batch = {
    images: views[0]!,
    views,
    labels: torch.randint(0, 10, [b]),
    indices: Int32Array.from({ length: b }, (_, i) => i),
  };
  const ctx = { epoch: 0, epochs: 1, step: 0 };
  tidy(() => void d.forwardTrain(batch, ctx)); // carries a batch: the next call runs two forwards
  const live = () => torch.memory.stats().liveBytes;
  const held = (run: () => void) =>
    tidy(() => {
      const before = live();
      run();
      return live() - before;
    });
  const scoped = held(() => void d.forwardTrain(batch, ctx));
  // The same two forwards with every output kept to the end, as the step did before.
  const kept = held(() => void [student.forward(views[0]!), student.forward(views[1]!)]);
  // Not saved for backward (ReLU keeps its output), so freed with the forward's other outputs:
  // the three stages' pre-activations, 64 x 32², 128 x 16² and 256 x 8² per sample, twice.
  const preacts = 2 * b * 4 * (64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8);
  assert.ok(
    kept - scoped >= 0.9 * preacts,
    `DLB's step holds ${(scoped / 2 ** 20).toFixed(1)} MB, the forwards with all their outputs ${(kept / 2 ** 20).toFixed(1)} MB (pre-activations: ${(preacts / 2 ** 20).toFixed(1)} MB)`,
  );
});
