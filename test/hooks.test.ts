// Forward hooks and features by module path: PyTorch's hook semantics, named modules, and every
// feature method reading named modules giving exactly the numbers of the zoo's feature contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { Tensor, createZooModel, createDistiller, data, distillers, nn, tidy } from '../src/index.js';

test('forward hooks: every call, registration order, output replaced, pre-hooks replace inputs, remove()', () => {
  const lin = new nn.Linear(3, 2);
  const calls: string[] = [];
  const h1 = lin.registerForwardHook((_m, inputs, out) => {
    calls.push(`a:${(inputs[0] as Tensor).shape}`);
    return (out as Tensor).mul(2);
  });
  const h2 = lin.registerForwardHook((_m, _i, out) => {
    calls.push('b');
    return (out as Tensor).add(1); // sees the output the first hook returned
  });
  const x = torch.ones(4, 3);
  const plain = tidy(() => torch.F.linear(x, lin.weight, { bias: lin.bias }).keep());
  const y = lin.forward(x);
  assert.deepEqual(calls, ['a:4,3', 'b']);
  assert.deepEqual(y.tolist(), plain.mul(2).add(1).tolist());
  lin.forward(x);
  assert.equal(calls.length, 4, 'called on every forward');
  h1.remove();
  assert.deepEqual(lin.forward(x).tolist(), plain.add(1).tolist(), 'a removed hook no longer runs');
  h2.remove();
  assert.ok(!Object.prototype.hasOwnProperty.call(lin, 'forward'), 'without hooks the class forward runs directly');
  assert.deepEqual(lin.forward(x).tolist(), plain.tolist());
  const pre = lin.registerForwardPreHook((_m, inputs) => (inputs[0] as Tensor).mul(0));
  assert.deepEqual(lin.forward(x).tolist(), torch.F.linear(torch.zeros(4, 3), lin.weight, { bias: lin.bias }).tolist());
  const pre2 = lin.registerForwardPreHook(() => undefined);
  lin.forward(x);
  pre.remove();
  pre2.remove();
  assert.throws(() => lin.registerForwardHook(42 as never), /a hook must be a function/);
});

test('what a hook saw lives to the end of the outermost scope and is freed there (hooked steps do not leak)', () => {
  torch.manualSeed(3);
  const net = createZooModel('resnet8', { numClasses: 10 });
  const x = torch.randn(8, 3, 32, 32);
  let seen: Tensor | null = null;
  const handle = net.getSubmodule('layer1').registerForwardHook((_m, _i, out) => {
    seen = (out as { out: Tensor }).out;
  });
  const live = () => torch.memory.stats().liveBytes;
  const step = () =>
    tidy(() => {
      tidy(() => void net.forward(x).logits.sum().backward());
      // The inner scope handed the map on: the hook's copy is still readable here.
      assert.ok(Number.isFinite((seen as Tensor | null)!.sum().item()));
    });
  step();
  const before = live();
  for (let i = 0; i < 5; i++) step();
  assert.equal(live() - before, 0, 'the hooked maps of five steps were freed');
  assert.ok((seen as Tensor | null)!.isDisposed, 'freed when the outermost scope ended');
  handle.remove();
  for (const p of net.parameters()) p.grad = null;
});

test("nn.foldBatchNorm's traced forward, called outside any scope, leaves no tensor behind", () => {
  // Its hooks saw every map of the probe's forward; they were never freed at the top level (19 MB
  // of resnet32x4's maps held by every distiller whose teacher folded).
  const net = createZooModel('resnet8', { numClasses: 10 }).eval();
  for (const p of net.parameters()) p.requiresGrad = false;
  const probe = torch.randn(8, 3, 32, 32);
  const before = torch.memory.stats().liveBytes;
  nn.foldBatchNorm(net, probe);
  nn.unfoldBatchNorm(net);
  assert.equal(torch.memory.stats().liveBytes - before, 0);
  probe.dispose();
  net.dispose();
});

test('a forward the instance owns (an arrow-function field) is hooked too, and comes back when the hooks go', () => {
  class Doubler extends nn.Module {
    forward = (x: Tensor): Tensor => x.mul(2);
  }
  const d = new Doubler();
  const own = d.forward;
  const h = d.registerForwardHook((_m, _i, out) => (out as Tensor).add(1));
  assert.deepEqual(d.forward(torch.ones(2)).tolist(), [3, 3]);
  h.remove();
  assert.equal(d.forward, own);
  assert.deepEqual(d.forward(torch.ones(2)).tolist(), [2, 2]);
});

test("namedModules uses PyTorch's dotted names (those of the state dict), each module once; getSubmodule suggests close names", () => {
  const m = createZooModel('resnet8', { numClasses: 10 });
  const names = [...m.namedModules()].map(([n]) => n);
  assert.equal(names[0], '');
  for (const n of ['conv1', 'bn1', 'layer1', 'layer1.0', 'layer1.0.conv1', 'layer2.0.downsample', 'layer2.0.downsample.0', 'fc'])
    assert.ok(names.includes(n), n);
  const prefixes = new Set(Object.keys(m.stateDict()).map((k) => k.split('.').slice(0, -1).join('.')));
  for (const p of prefixes) assert.ok(names.includes(p), `state-dict prefix ${p} is a module`);
  assert.equal(new Set(names).size, names.length);
  const shared = new nn.Linear(2, 2);
  const seq = new nn.Sequential(shared, shared);
  assert.deepEqual(
    [...seq.namedModules()].map(([n]) => n),
    ['', '0'],
    'a shared module is listed once, as in PyTorch',
  );
  assert.equal(m.getSubmodule('layer2.0.bn2'), (m.getSubmodule('layer2') as nn.Module).getSubmodule('0.bn2'));
  assert.throws(() => m.getSubmodule('layer2.0.bn3'), /has no module 'layer2\.0\.bn3'; closest: layer2\.0\.bn1, layer2\.0\.bn2,/);
});

test('train(mode) reaches every child through its own train(), so an override in a sub-module holds', () => {
  class Frozen extends nn.Linear {
    override train(_mode = true): this {
      return super.train(false);
    }
  }
  const seq = new nn.Sequential(new nn.Linear(2, 2), new Frozen(2, 2));
  seq.train();
  assert.equal(seq.at(0).training, true);
  assert.equal(seq.at(1).training, false);
});

const fmnist = data.subset(
  data.loadFashionMnist(),
  Array.from({ length: 64 }, (_, i) => i),
);

/** Each feature method with module paths that name exactly what its zoo default reads. */
const samePaths: Record<string, { student: string[]; teacher: string[] }> = {
  fitnet: { student: ['layer2'], teacher: ['layer2'] },
  at: { student: ['layer1', 'layer2', 'layer3'], teacher: ['layer1', 'layer2', 'layer3'] },
  sp: { student: ['layer3'], teacher: ['layer3'] },
  rkd: { student: ['fc:input'], teacher: ['fc:input'] },
  ickd: { student: ['layer3'], teacher: ['layer3'] },
  ft: { student: ['layer3'], teacher: ['layer3'] },
  ab: {
    student: ['layer1:preact', 'layer2:preact', 'layer3:preact'],
    teacher: ['layer1:preact', 'layer2:preact', 'layer3:preact'],
  },
  reviewkd: {
    student: ['layer1', 'layer2', 'layer3', 'fc:input'],
    teacher: ['layer1:preact', 'layer2:preact', 'layer3:preact', 'fc:input'],
  },
};

for (const [method, features] of Object.entries(samePaths)) {
  test(`${method}: features named by module path give exactly the zoo contract's losses`, () => {
    const make = (options: Record<string, unknown>) => {
      torch.manualSeed(1);
      const shape = { numClasses: 10, inChannels: 1 };
      return createDistiller(method, createZooModel('resnet8', shape), createZooModel('resnet14', shape), options, {
        inputShape: [1, 28, 28],
      });
    };
    const byContract = make({});
    const byPath = make({ features });
    const loader = new data.DataLoader(fmnist, { batchSize: 16, seed: 5, views: byContract.views });
    const b = loader.epochSync(0).next().value!;
    const ctx = { epoch: 3, epochs: 10, step: 0 };
    tidy(() => {
      const stepOf = (d: distillers.Distiller) => {
        const prep = d.prepStages().map((s) => Object.values(s.step(b, ctx)).map((l) => l.item()));
        const out = d.forwardTrain(b, ctx);
        return { prep, main: Object.fromEntries(Object.entries(out.losses).map(([k, v]) => [k, v.item()])) };
      };
      const a = stepOf(byContract);
      const p = stepOf(byPath);
      assert.deepEqual(p, a);
      assert.ok(Object.values(a.main).every(Number.isFinite));
    });
    b.dispose();
    byPath.dispose();
  });
}

test('feature paths: a wrong path lists the closest module names; a count mismatch and a non-tensor output are named', () => {
  const shape = { numClasses: 10, inChannels: 1 };
  const pair = () => [createZooModel('resnet8', shape), createZooModel('resnet14', shape)] as const;
  assert.throws(
    () => createDistiller('at', ...pair(), { features: { student: ['layer9'], teacher: ['layer1'] } }),
    /features\.student: CifarResNet has no module 'layer9'; closest: layer1, layer2, layer3/,
  );
  assert.throws(
    () => createDistiller('at', ...pair(), { features: { student: ['layer1'], teacher: ['layer1', 'layer2'] } }),
    /AT: the student gives 1 features and the teacher 2/,
  );
  assert.throws(
    () =>
      createDistiller(
        'fitnet',
        ...pair(),
        { features: { student: ['conv1:preact'], teacher: ['conv1'] } },
        { inputShape: [1, 28, 28] },
      ),
    /has no pre-activation/,
  );
  assert.throws(
    () => createDistiller('sp', ...pair(), { features: { student: ['layer1:sideways'], teacher: ['layer1'] } }),
    /must be output, input or preact/,
  );
  // A network outside the zoo must name its features.
  class Plain extends nn.Module {
    readonly conv = this.registerModule('conv', new nn.Conv2d(1, 4, 3));
    readonly fc = this.registerModule('fc', new nn.Linear(4, 10));
    forward(x: Tensor): Tensor {
      return this.fc.forward(torch.F.adaptiveAvgPool2d(this.conv.forward(x), 1).flatten(1));
    }
  }
  assert.throws(
    () => createDistiller('sp', new Plain(), new Plain(), {}),
    /SP: set method\.options\.features\.student to module paths of this model \(e\.g\. \[conv, fc\]\)/,
  );
  const d = createDistiller('sp', new Plain(), new Plain(), { features: { student: ['conv'], teacher: ['conv'] } });
  const out = d.forwardTrain(
    {
      images: torch.randn(4, 1, 8, 8),
      views: [],
      labels: torch.tensor([1, 2, 3, 4], [4], { dtype: 'int64' }),
      indices: new Int32Array(4),
    },
    { epoch: 0, epochs: 1, step: 0 },
  );
  assert.ok(Number.isFinite(out.losses.sp!.item()));
  assert.deepEqual(out.logits.shape, [4, 10]);
});
