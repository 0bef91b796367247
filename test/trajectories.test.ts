// Step-level checks against the reference implementation's own PyTorch step: the same weights,
// the same batches, 10 SGD steps in float64 (scripts/make_trajectories.py made the fixture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { Module, Tensor, distillers, nn, optim } from '../src/index.js';
import { assertClose, decode, readFixture, type Encoded } from './helpers.js';

type StateFixture = Record<string, Encoded>;
interface Trajectory {
  beta: number;
  initial: { student: StateFixture; teacher: StateFixture; heads: StateFixture[] };
  batches: { x: Encoded; y: Encoded }[];
  losses: number[];
  final: { student: StateFixture; heads: StateFixture[] };
}

/** conv1 -> [BN] -> ReLU -> conv2 (stride 2) -> ReLU -> mean -> fc, as the fixture script's Net. */
class Net extends Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d | null;
  readonly conv2: nn.Conv2d;
  readonly fc: nn.Linear;
  constructor(c1: number, c2: number, options: { classes?: number; bn?: boolean } = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(3, c1, 3, { padding: 1 }));
    this.bn1 = options.bn ? this.registerModule('bn1', new nn.BatchNorm2d(c1)) : null;
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(c1, c2, 3, { stride: 2, padding: 1 }));
    this.fc = this.registerModule('fc', new nn.Linear(c2, options.classes ?? 5));
  }
  forward(x: Tensor): Tensor {
    const f1 = this.conv1.forward(x);
    const f2 = this.conv2.forward((this.bn1 ? this.bn1.forward(f1) : f1).relu());
    return this.fc.forward(f2.relu().mean([2, 3]));
  }
}

const load = (m: Module, sd: StateFixture) => {
  const tensors = Object.fromEntries(
    Object.entries(sd).map(([k, e]) => [k, decode(e, e.dtype === 'int64' ? 'int64' : 'float64')]),
  );
  m.loadStateDict(tensors);
  torch.dispose(tensors);
};

test("DLB: 10 steps in float64 equal Meta-knowledge-Lab/DLB dlb.py's (two passes, BatchNorm, Nesterov SGD)", () => {
  const fx = readFixture<{
    dlb: Omit<Trajectory, 'beta' | 'initial' | 'final' | 'batches'> & {
      initial: StateFixture;
      final: StateFixture;
      batches: { x0: Encoded; x1: Encoded; y: Encoded }[];
    };
  }>('trajectories.json').dlb;
  const d = new distillers.DLB(new Net(4, 6, { bn: true }), null, { T: 3, alpha: 1 });
  d.to('float64');
  load(d.student, fx.initial);
  const opt = new optim.SGD(d.learnableParameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  fx.batches.forEach((b, step) => {
    const loss = torch.tidy(() => {
      const views = [decode(b.x0, 'float64'), decode(b.x1, 'float64')];
      const labels = decode(b.y, 'int64');
      const out = d.forwardTrain({ images: views[0]!, labels, views, indices: Int32Array.from([0, 1, 2, 3]) });
      const total = Object.values(out.losses).reduce((a, c) => a.add(c));
      opt.zeroGrad();
      total.backward();
      opt.step();
      return total.item();
    });
    assert.ok(
      Math.abs(loss - fx.losses[step]!) <= 1e-9 * Math.abs(fx.losses[step]!),
      `step ${step}: ${loss} vs ${fx.losses[step]}`,
    );
  });
  const sd = d.student.stateDict();
  for (const [k, e] of Object.entries(fx.final)) assertClose(sd[k]!, e, k, 1e-6, 1e-9);
  torch.dispose(sd);
  d.dispose();
});

test('VID: 10 SGD steps in float64 equal RepDistiller VIDLoss with its regressors and variances trained alongside', () => {
  const fx = readFixture<{ vid: Trajectory }>('trajectories.json').vid;
  const features = { student: ['conv1', 'conv2'], teacher: ['conv1', 'conv2'] };
  const d = new distillers.VID(new Net(4, 6), new Net(5, 8), { features, kdWeight: fx.beta }, { inputShape: [3, 8, 8] });
  d.to('float64');
  load(d.student, fx.initial.student);
  load(d.teacher!, fx.initial.teacher);
  d.heads.forEach((h, i) => load(h, fx.initial.heads[i]!));
  const opt = new optim.SGD(d.learnableParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  fx.batches.forEach((b, step) => {
    const loss = torch.tidy(() => {
      const images = decode(b.x, 'float64');
      const labels = decode(b.y, 'int64');
      const out = d.forwardTrain({ images, labels, views: [images], indices: new Int32Array(4) });
      const total = Object.values(out.losses).reduce((a, c) => a.add(c));
      opt.zeroGrad();
      total.backward();
      opt.step();
      return total.item();
    });
    assert.ok(
      Math.abs(loss - fx.losses[step]!) <= 1e-9 * Math.abs(fx.losses[step]!),
      `step ${step}: ${loss} vs ${fx.losses[step]}`,
    );
  });
  const student = d.student.stateDict();
  for (const [k, e] of Object.entries(fx.final.student)) assertClose(student[k]!, e, `student ${k}`, 1e-6, 1e-9);
  d.heads.forEach((h, i) => {
    const sd = h.stateDict();
    for (const [k, e] of Object.entries(fx.final.heads[i]!)) assertClose(sd[k]!, e, `head ${i} ${k}`, 1e-6, 1e-9);
    torch.dispose(sd);
  });
  torch.dispose(student);
  d.dispose();
});
