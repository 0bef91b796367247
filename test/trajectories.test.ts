// Step-level checks against the reference implementation's own PyTorch step: the same weights,
// the same batches, 10 SGD steps in float64 (scripts/make_trajectories.py made the fixture).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { Module, Tensor, distillers, engine, nn, optim } from '../src/index.js';
import { assertClose, decode, readFixture, type Encoded } from './helpers.js';

type StateFixture = Record<string, Encoded>;
type Batch = { x: Encoded; y: Encoded };
interface Trajectory {
  beta: number;
  initial: { student: StateFixture; teacher: StateFixture; heads: StateFixture[] };
  batches: Batch[];
  losses: number[];
  final: { student: StateFixture; heads: StateFixture[] };
}
const fixtures = readFixture<{
  vid: Trajectory;
  cc: Trajectory & { featDim: number };
  fsp: Trajectory;
  simkd: Trajectory & { testLogits: Encoded };
  ofd: Omit<Trajectory, 'final'> & { final: { student: StateFixture; teacher: StateFixture; heads: StateFixture[] } };
  pskd: {
    epochs: number;
    alphaT: number;
    labels: Encoded;
    initial: StateFixture;
    steps: (Batch & { epoch: number; index: Encoded })[];
    losses: number[];
    final: StateFixture;
    predictions: Encoded;
  };
  crd: Omit<Trajectory, 'batches'> & {
    featDim: number;
    nceK: number;
    labels: Encoded;
    batches: (Batch & { index: Encoded })[];
    contrast: Encoded[];
  };
  ctkd: Trajectory & { perEpoch: number; loops: number; temperatures: number[] };
  ctkd_dkd: Trajectory & { perEpoch: number; loops: number; temperatures: number[] };
  dot_kd: Trajectory;
  dot_ctkd: Trajectory;
  cskd: { initial: StateFixture; final: StateFixture; losses: number[]; batches: Batch[] };
  byot: Omit<Trajectory, 'initial'> & { initial: { student: StateFixture; heads: StateFixture[] } };
  dml: { initial: StateFixture[]; final: StateFixture[]; losses: number[]; batches: Batch[] };
  dlb: { initial: StateFixture; final: StateFixture; losses: number[]; batches: { x0: Encoded; x1: Encoded; y: Encoded }[] };
}>('trajectories.json');

/** conv1 -> [BN] -> ReLU -> conv2 (stride 2) -> ReLU -> mean -> fc, as the fixture script's Net. */
class Net extends Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d | null;
  readonly conv2: nn.Conv2d;
  readonly fc: nn.Linear;
  constructor(c1: number, c2: number, options: { bn?: boolean } = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(3, c1, 3, { padding: 1 }));
    this.bn1 = options.bn ? this.registerModule('bn1', new nn.BatchNorm2d(c1)) : null;
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(c1, c2, 3, { stride: 2, padding: 1 }));
    this.fc = this.registerModule('fc', new nn.Linear(c2, 5));
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

/** Final parameters and buffers within rtol 1e-6 of the reference's. */
/** The largest relative errors seen in the current test (reported as a test diagnostic). */
const achieved = { loss: 0, state: 0 };

/** The reference scripts' optimizer: SGD, lr 0.05, momentum 0.9, weight decay 5e-4. */
const referenceSGD = (params: Tensor[], options: { nesterov?: boolean } = {}) =>
  new optim.SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, ...options });

/** A trajectory test that reports the relative errors it reached. */
function trajectoryTest(name: string, body: () => void): void {
  test(name, (t) => {
    achieved.loss = achieved.state = 0;
    body();
    t.diagnostic(
      `max relative error: losses ${achieved.loss.toExponential(1)}, final weights ${achieved.state.toExponential(1)}`,
    );
  });
}

function assertState(m: Module, expected: StateFixture, what: string): void {
  const sd = m.stateDict();
  for (const [k, e] of Object.entries(expected)) {
    assertClose(sd[k]!, e, `${what} ${k}`, 1e-6, 1e-9);
    const got = Array.from(sd[k]!.dataSync() as ArrayLike<number | bigint>, Number);
    const want = e.data as number[];
    const scale = Math.max(...want.map(Math.abs));
    if (scale > 0) achieved.state = Math.max(achieved.state, Math.max(...got.map((x, i) => Math.abs(x - want[i]!))) / scale);
  }
  torch.dispose(sd);
}

type Losses = (batch: distillers.TrainBatch, ctx: distillers.TrainContext) => Record<string, Tensor>;
/** The main stage's losses of a method. */
const mainStage =
  (d: distillers.Distiller): Losses =>
  (batch, ctx) =>
    d.forwardTrain(batch, ctx).losses;

/** Runs the batches through a stage's step with SGD; each step's total loss within 1e-9 of the reference's. */
function replay(
  losses: Losses,
  opt: optim.SGD,
  batches: distillers.TrainBatch[],
  expected: number[],
  contextOf: (step: number) => distillers.TrainContext = (step) => ({ epoch: 0, epochs: 1, step }),
): void {
  batches.forEach((batch, step) => {
    const loss = torch.tidy(() => {
      const total = Object.values(losses(batch, contextOf(step))).reduce((a, c) => a.add(c));
      opt.zeroGrad();
      total.backward();
      opt.step();
      return total.item();
    });
    const error = Math.abs(loss - expected[step]!) / Math.abs(expected[step]!);
    achieved.loss = Math.max(achieved.loss, error);
    assert.ok(error <= 1e-9, `step ${step}: ${loss} vs ${expected[step]}`);
  });
}

/** One view per sample, as the loader gives a method with views = 1. */
const single = (b: Batch): distillers.TrainBatch => {
  const images = torch.keep(decode(b.x, 'float64'));
  return { images, labels: torch.keep(decode(b.y, 'int64')), views: [images], indices: new Int32Array(4) };
};

/** A teacher-student method on the two Nets, its extra modules loaded from the fixture, replayed. */
function checkTeacherStudent(
  fx: Trajectory,
  make: (s: Net, t: Net) => distillers.Distiller,
  extras: (d: distillers.Distiller) => Module[],
  rename: (k: string) => string = (k) => k,
  after: (d: distillers.Distiller, batches: distillers.TrainBatch[]) => void = () => {},
  contextOf?: (step: number) => distillers.TrainContext,
  stage: (d: distillers.Distiller) => Losses = mainStage,
): void {
  const d = make(new Net(4, 6), new Net(5, 8));
  d.to('float64');
  load(d.student, fx.initial.student);
  load(d.teacher!, fx.initial.teacher);
  const renamed = (sd: StateFixture) => Object.fromEntries(Object.entries(sd).map(([k, e]) => [rename(k), e]));
  extras(d).forEach((m, i) => load(m, renamed(fx.initial.heads[i]!)));
  const batches = fx.batches.map(single);
  replay(stage(d), referenceSGD(d.learnableParameters()), batches, fx.losses, contextOf);
  assertState(d.student, fx.final.student, 'student');
  extras(d).forEach((m, i) => assertState(m, renamed(fx.final.heads[i]!), `extra module ${i}`));
  after(d, batches);
  torch.dispose(batches.map((b) => [b.images, b.labels]));
  d.dispose();
}

trajectoryTest("DLB: 10 steps in float64 equal Meta-knowledge-Lab/DLB dlb.py's (two passes, BatchNorm, Nesterov SGD)", () => {
  const fx = fixtures.dlb;
  const d = new distillers.DLB(new Net(4, 6, { bn: true }), null, { T: 3, alpha: 1 });
  d.to('float64');
  load(d.student, fx.initial);
  const batches = fx.batches.map((b) => {
    const views = [torch.keep(decode(b.x0, 'float64')), torch.keep(decode(b.x1, 'float64'))];
    return { images: views[0]!, labels: torch.keep(decode(b.y, 'int64')), views, indices: Int32Array.from([0, 1, 2, 3]) };
  });
  const opt = referenceSGD(d.learnableParameters(), { nesterov: true });
  replay(mainStage(d), opt, batches, fx.losses);
  assertState(d.student, fx.final, 'student');
  torch.dispose(batches.map((b) => [...b.views, b.labels]));
  d.dispose();
});

trajectoryTest(
  'VID: 10 SGD steps in float64 equal RepDistiller VIDLoss with its regressors and variances trained alongside',
  () => {
    const features = { student: ['conv1', 'conv2'], teacher: ['conv1', 'conv2'] };
    checkTeacherStudent(
      fixtures.vid,
      (s, t) => new distillers.VID(s, t, { features, kdWeight: fixtures.vid.beta }, { inputShape: [3, 8, 8] }),
      (d) => (d as distillers.VID).heads,
    );
  },
);

trajectoryTest("CC: 10 SGD steps in float64 equal RepDistiller's Correlation with both LinearEmbeds trained alongside", () => {
  const features = { student: ['fc:input'], teacher: ['fc:input'] };
  const { featDim, beta } = fixtures.cc;
  checkTeacherStudent(
    fixtures.cc,
    (s, t) => new distillers.CC(s, t, { features, embedDim: featDim, kdWeight: beta }, { inputShape: [3, 8, 8] }),
    (d) => [(d as distillers.CC).embedStudent, (d as distillers.CC).embedTeacher],
    (k) => k.replace(/^linear\./, ''), // RepDistiller's LinearEmbed wraps its Linear as `linear`
  );
});

trajectoryTest(
  "FSP: the initialisation stage's 10 SGD steps in float64 equal RepDistiller's init() with FSP.py (student BatchNorm in train mode)",
  () => {
    const fx = fixtures.fsp;
    const maps = ['conv1:input', 'conv1', 'conv2'];
    const features = { student: maps, teacher: maps };
    const d = new distillers.FSP(
      new Net(4, 6, { bn: true }),
      new Net(4, 6, { bn: true }),
      { features },
      { inputShape: [3, 8, 8] },
    );
    d.to('float64');
    load(d.student, fx.initial.student);
    load(d.teacher!, fx.initial.teacher);
    const [stage] = d.prepStages();
    stage!.enter();
    const batches = fx.batches.map(single);
    replay(stage!.step, referenceSGD(stage!.parameters()), batches, fx.losses);
    assertState(d.student, fx.final.student, 'student');
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);

trajectoryTest(
  "SimKD: 10 SGD steps in float64 equal the authors' step (projector trained, teacher classifier reused), and so does the deployed prediction",
  () => {
    const features = { student: ['conv2'], teacher: ['conv2'] };
    const fx = fixtures.simkd;
    checkTeacherStudent(
      fx,
      (s, t) => new distillers.SimKD(s, t, { features, kdWeight: fx.beta }, { inputShape: [3, 8, 8] }),
      (d) => [(d as distillers.SimKD).projector],
      (k) => k.replace(/^transfer\./, ''), // the authors' projector is the `transfer` Sequential
      (d, batches) => {
        d.eval();
        torch.tidy(() =>
          assertClose(
            torch.noGrad(() => d.forwardTest(batches[0]!.images)),
            fx.testLogits,
            'deployed logits',
            1e-6,
            1e-9,
          ),
        );
      },
    );
  },
);

trajectoryTest(
  "CRD: 10 SGD steps in float64 equal RepDistiller's CRDLoss (embeddings trained, both memories and Z updated) on the reference's contrast indices",
  () => {
    const fx = fixtures.crd;
    const int32 = (e: Encoded) => Int32Array.from(e.data as number[]);
    const features = { student: ['fc:input'], teacher: ['fc:input'] };
    const d = new distillers.CRD(
      new Net(4, 6),
      new Net(5, 8),
      { features, featDim: fx.featDim, nceK: fx.nceK, kdWeight: fx.beta },
      { inputShape: [3, 8, 8], trainLabels: int32(fx.labels) },
    );
    d.to('float64');
    load(d.student, fx.initial.student);
    load(d.teacher!, fx.initial.teacher);
    // RepDistiller's CRDLoss holds embed_s, embed_t and contrast: the distiller's own module names.
    const part = (sd: StateFixture, prefix: string) =>
      Object.fromEntries(Object.entries(sd).flatMap(([k, e]) => (k.startsWith(prefix) ? [[k.slice(prefix.length), e]] : [])));
    const parts: [Module, string][] = [
      [d.embedStudent, 'embed_s.'],
      [d.embedTeacher, 'embed_t.'],
      [d.contrast, 'contrast.'],
    ];
    for (const [m, prefix] of parts) load(m, part(fx.initial.heads[0]!, prefix));
    d.sampleContrast = (_indices, ctx) => int32(fx.contrast[ctx.step]!);
    const batches = fx.batches.map((b) => ({ ...single(b), indices: int32(b.index) }));
    replay(mainStage(d), referenceSGD(d.learnableParameters()), batches, fx.losses);
    assertState(d.student, fx.final.student, 'student');
    for (const [m, prefix] of parts) assertState(m, part(fx.final.heads[0]!, prefix), prefix);
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);

trajectoryTest(
  "OFD: 10 SGD steps in float64 equal mdistiller's OFD step (connector trained, margins from the teacher's BatchNorm, the teacher in train mode)",
  () => {
    const fx = fixtures.ofd;
    const d = new distillers.OFD(
      new Net(4, 6, { bn: true }),
      new Net(5, 8, { bn: true }),
      { features: { student: ['bn1'], teacher: ['bn1'] }, teacherBatchNorms: ['bn1'], kdWeight: fx.beta },
      { inputShape: [3, 8, 8] },
    );
    d.to('float64');
    load(d.student, fx.initial.student);
    load(d.teacher!, fx.initial.teacher);
    load(d.connectors, fx.initial.heads[0]!);
    d.resetMargins(); // from the fixture teacher's γ and β
    const batches = fx.batches.map(single);
    d.train();
    replay(mainStage(d), referenceSGD(d.learnableParameters()), batches, fx.losses);
    assertState(d.student, fx.final.student, 'student');
    assertState(d.teacher!, fx.final.teacher, 'teacher (running statistics of its train-mode BatchNorm)');
    assertState(d.connectors, fx.final.heads[0]!, 'connector');
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);

trajectoryTest(
  "PS-KD: 3 epochs of SGD in float64 equal the authors' train() (soft targets from each sample's prediction of the previous epoch)",
  () => {
    const fx = fixtures.pskd;
    const labels = Int32Array.from(fx.labels.data as number[]);
    const d = new distillers.PSKD(
      new Net(4, 6, { bn: true }),
      null,
      { alphaT: fx.alphaT },
      { inputShape: [3, 8, 8], trainLabels: labels },
    );
    d.to('float64');
    load(d.student, fx.initial);
    d.train();
    const opt = referenceSGD(d.learnableParameters());
    fx.steps.forEach((b, step) => {
      const batch = { ...single(b), indices: Int32Array.from(b.index.data as number[]) };
      const loss = torch.tidy(() => {
        const out = d.forwardTrain(batch, { epoch: b.epoch, epochs: fx.epochs, step });
        const total = Object.values(out.losses).reduce((a, c) => a.add(c));
        opt.zeroGrad();
        total.backward();
        opt.step();
        return total.item();
      });
      const error = Math.abs(loss - fx.losses[step]!) / Math.abs(fx.losses[step]!);
      achieved.loss = Math.max(achieved.loss, error);
      assert.ok(error <= 1e-9, `step ${step}: ${loss} vs ${fx.losses[step]}`);
      torch.dispose([batch.images, batch.labels]);
    });
    assertState(d.student, fx.final, 'student');
    assertClose(d.predictions, fx.predictions, 'past predictions', 1e-6, 1e-9);
    d.dispose();
  },
);

for (const base of ['kd', 'dkd'] as const) {
  trajectoryTest(
    `CTKD (${base}): 5 epochs in float64 equal zhengli97/CTKD's train_distill (learned global temperature, gradient reversal, cosine curriculum)`,
    () => {
      const fx = base === 'kd' ? fixtures.ctkd : fixtures.ctkd_dkd;
      const epochs = fx.batches.length / fx.perEpoch;
      const contextOf = (step: number) => ({ epoch: Math.floor(step / fx.perEpoch), epochs, step });
      const temperatures: number[] = [];
      checkTeacherStudent(
        fx,
        (s, t) => new distillers.CTKD(s, t, { base, lambdaEpochs: fx.loops }),
        (d) => [(d as distillers.CTKD).temperatureModule],
        (k) => k,
        () => assert.equal(temperatures.length, fx.temperatures.length),
        contextOf,
        (d) => (batch, ctx) => {
          const out = d.forwardTrain(batch, ctx);
          const t = out.monitor!.temperature!.item();
          const want = fx.temperatures[temperatures.length]!;
          assert.ok(Math.abs(t - want) <= 1e-12 * want, `step ${temperatures.length}: temperature ${t} vs ${want}`);
          temperatures.push(t);
          return out.losses;
        },
      );
    },
  );
}

for (const method of ['kd', 'ctkd'] as const) {
  trajectoryTest(
    `DOT with ${method.toUpperCase()}: 10 steps in float64 equal mdistiller's DistillationOrientedTrainer (two backward passes, task and distillation momenta${method === 'ctkd' ? ', a parameter only the distillation loss reaches' : ''})`,
    () => {
      const fx = method === 'kd' ? fixtures.dot_kd : fixtures.dot_ctkd;
      const d =
        method === 'kd'
          ? new distillers.KD(new Net(4, 6), new Net(5, 8), { T: 4, ceWeight: 0.1, kdWeight: 0.9 })
          : new distillers.CTKD(new Net(4, 6), new Net(5, 8), { lambdaEpochs: 3 });
      d.to('float64');
      load(d.student, fx.initial.student);
      load(d.teacher!, fx.initial.teacher);
      d.extraModules().forEach((m, i) => load(m, fx.initial.heads[i]!));
      const opt = new optim.DistillationOrientedTrainer(d.learnableParameters(), {
        lr: 0.05,
        momentum: 0.9 - fx.beta,
        momentumKd: 0.9 + fx.beta,
        weightDecay: 5e-4,
      });
      d.train();
      fx.batches.map(single).forEach((batch, step) => {
        const r = engine.trainStep(d, batch, { epoch: Math.floor(step / 2), epochs: 5, step }, opt);
        const error = Math.abs(r.losses.total! - fx.losses[step]!) / Math.abs(fx.losses[step]!);
        achieved.loss = Math.max(achieved.loss, error);
        assert.ok(error <= 1e-9, `step ${step}: ${r.losses.total} vs ${fx.losses[step]}`);
        torch.dispose([batch.images, batch.labels]);
      });
      assertState(d.student, fx.final.student, 'student');
      d.extraModules().forEach((m, i) => assertState(m, fx.final.heads[i]!, 'temperature'));
      const state = opt.stateDict().state;
      assert.ok(
        [...state.values()].every((s) => s.momentum_kd_buffer instanceof Tensor),
        'a distillation momentum per parameter',
      );
      torch.dispose([...state.values()].flatMap((s) => Object.values(s).filter((v) => v instanceof Tensor)));
      d.dispose();
    },
  );
}

trajectoryTest(
  "CS-KD: 10 steps in float64 equal alinlab/cs-kd's train() (a pair batch: the partners' half in train mode without gradient, CE + λ · KD)",
  () => {
    const fx = fixtures.cskd;
    const d = new distillers.CSKD(new Net(4, 6, { bn: true }), null, { T: 4, lambda: 1 });
    d.to('float64');
    load(d.student, fx.initial);
    d.train();
    const batches = fx.batches.map((b) => {
      const images = torch.keep(decode(b.x, 'float64'));
      return { images, labels: torch.keep(decode(b.y, 'int64')), views: [images], indices: new Int32Array(8) };
    });
    replay(mainStage(d), referenceSGD(d.learnableParameters()), batches, fx.losses);
    assertState(d.student, fx.final, 'student (BatchNorm statistics of both halves included)');
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);

trajectoryTest(
  'BYOT: 10 steps in float64 equal luanyunteng/pytorch-be-your-own-teacher (a head on a stage: bottleneck, CE, KD from the deepest classifier, feature hint)',
  () => {
    const fx = fixtures.byot;
    const d = new distillers.BYOT(
      new Net(4, 8, { bn: true }),
      null,
      { T: 3, alpha: 0.1, beta: fx.beta, features: ['conv1', 'conv2', 'fc:input'] },
      { inputShape: [3, 8, 8] },
    );
    d.to('float64');
    load(d.student, fx.initial.student);
    load(d.heads[0]!, fx.initial.heads[0]!);
    d.train();
    const batches = fx.batches.map(single);
    replay(mainStage(d), referenceSGD(d.learnableParameters()), batches, fx.losses);
    assertState(d.student, fx.final.student, 'student');
    assertState(d.heads[0]!, fx.final.heads[0]!, 'head');
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);

trajectoryTest(
  "DML: 8 steps of a cohort of three in float64 equal the authors' train_models.py (each network: CE + Σ KL from the others, its gradient reaching itself only)",
  () => {
    const fx = fixtures.dml;
    const nets = [new Net(4, 6, { bn: true }), new Net(5, 8, { bn: true }), new Net(3, 4, { bn: true })];
    const d = new distillers.DML(nets[0]!, null, {}, { inputShape: [3, 8, 8] }, nets.slice(1));
    d.to('float64');
    nets.forEach((n, i) => load(n, fx.initial[i]!));
    d.train();
    const batches = fx.batches.map(single);
    replay(mainStage(d), referenceSGD(d.learnableParameters()), batches, fx.losses);
    nets.forEach((n, i) => assertState(n, fx.final[i]!, i ? `peer ${i}` : 'student'));
    torch.dispose(batches.map((b) => [b.images, b.labels]));
    d.dispose();
  },
);
