// The distillation losses against PyTorch (values and gradients) and finite differences; each
// method's training step (teacher frozen, student and extras updated); DLB's carried batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import {
  F,
  Tensor,
  losses,
  tidy,
  createZooModel,
  createDistiller,
  data,
  optim,
  distillers,
  engine,
  noGrad,
} from '../src/index.js';
import { assertClose, decode, gradcheck, readFixture, type Encoded } from './helpers.js';

interface LossCase {
  inputs: Encoded[];
  value: number;
  grads: (Encoded | null)[];
}
const cases = readFixture<Record<string, LossCase>>('losses.json');

/** CTKD's temperature from a raw value: start + span · sigmoid(GRL(raw, λ)). */
const ctkdTemperature = (raw: Tensor, lambda: number, start: number, span: number) =>
  losses.gradientReversal(raw, lambda).sigmoid().mul(span).add(start);

/** DIST+ as torchdistill's DISTPlusLoss: DIST, ι · channel correlation, κ · spatial relation. */
function distPlusTotal(
  zS: Tensor,
  zT: Tensor,
  fS: Tensor,
  fT: Tensor,
  o: { beta: number; gamma: number; iota: number; kappa: number; tau: number },
) {
  const { channel, spatial } = losses.distPlusRelations(fS, fT);
  return losses.dist(zS, zT, o).add(channel.mul(o.iota)).add(spatial.mul(o.kappa));
}

/** MLKD's total: CE on both views, then its terms, all distillation terms weighted alike. */
function mlkdTotal(
  sW: Tensor,
  sS: Tensor,
  tW: Tensor,
  tS: Tensor,
  y: Tensor,
  o: { T?: number; kdWeight?: number; logitStandardization?: boolean },
) {
  const { kd, cc, bc } = losses.mlkd(sW, sS, tW, tS, o);
  const ce = F.crossEntropy(sW, y).add(F.crossEntropy(sS, y)).mul(0.1);
  return ce.add(
    kd
      .add(cc)
      .add(bc)
      .mul(o.kdWeight ?? 0.9),
  );
}

/** The authors' patch scores [B, K, N] as SDD's region-major rows [N·B, K]. */
const regionMajor = (p: Tensor) => p.permute(2, 0, 1).reshape(-1, p.shape[1]!);
const sddRegions = (x: Tensor, w: Tensor, b: Tensor, scales: number[]) =>
  distillers.regionLogits(x, (v) => F.linear(v, w, { bias: b }), scales);

const impls: Record<string, (x: Tensor[]) => Tensor> = {
  kd: ([a, b]) => losses.kd(a!, b!),
  kd_T1: ([a, b]) => losses.kd(a!, b!, { T: 1 }),
  dist: ([a, b]) => losses.dist(a!, b!),
  dist_weighted: ([a, b]) => losses.dist(a!, b!, { beta: 2, gamma: 0.5, tau: 1 }),
  dkd: ([a, b, y]) => losses.dkd(a!, b!, y!),
  dkd_params: ([a, b, y]) => losses.dkd(a!, b!, y!, { alpha: 0.5, beta: 2, T: 2 }),
  sp: ([a, b]) => losses.sp(a!, b!),
  ft: ([a, b]) => losses.ft(a!, b!),
  ab: ([a, b]) => losses.ab(a!, b!),
  ab_margin: ([a, b]) => losses.ab(a!, b!, { margin: 0.5 }),
  at: ([a, b]) => losses.at(a!, b!),
  at_pool: ([a, b]) => losses.at(a!, b!),
  rkd_distance: ([a, b]) => losses.rkdDistance(a!, b!),
  rkd_angle: ([a, b]) => losses.rkdAngle(a!, b!),
  fitnet: ([a, b]) => losses.fitnet(a!, b!),
  ickd: ([a, b]) => losses.ickd(a!, b!),
  hcl: ([a, b]) => losses.hcl(a!, b!),
  hcl_small: ([a, b]) => losses.hcl(a!, b!),
  pkt: ([a, b]) => losses.pkt(a!, b!),
  nst: ([a, b]) => losses.nst(a!, b!),
  nst_pool: ([a, b]) => losses.nst(a!, b!),
  cc: ([a, b]) => losses.cc(a!, b!),
  vid: ([m, t, s]) => losses.vid(m!, t!, s!),
  kdsvd: ([s1, s2, t1, t2]) => losses.kdsvd([s1!, s2!], [t1!, t2!]),
  kdsvd_k2: ([s1, s2, s3, t1, t2, t3]) => losses.kdsvd([s1!, s2!, s3!], [t1!, t2!, t3!], { k: 2 }),
  ofd: ([s, t, w, b]) => losses.ofd(s!, t!, losses.ofdMargins(w!, b!.mul(3))),
  fsp: ([s1, s2, s3, t1, t2, t3]) => losses.fsp([s1!, s2!, s3!], [t1!, t2!, t3!]),
  catkd: ([s, t]) => losses.catkd(s!, t!, { normalize: true }),
  catkd_raw: ([s, t]) => losses.catkd(s!, t!, { normalize: false }),
  catkd_r4: ([s, t]) => losses.catkd(s!, t!, { resolution: 4, normalize: true }),
  crd_contrast: ([x]) => losses.crdContrast(x!, 50),
  ft_repdistiller: ([s, t]) => losses.ft(s!, t!, { factor: 'attention' }),
  kd_ls: ([a, b]) => losses.kd(...losses.standardizedPair(a!, b!, true), { T: 2 }),
  dkd_ls: ([a, b, y]) => losses.dkd(...losses.standardizedPair(a!, b!, true), y!, { alpha: 9, beta: 72, T: 2 }),
  dist_ls: ([a, b]) => losses.dist(...losses.standardizedPair(a!, b!, true), { tau: 2 }),
  wttm: ([a, b]) => losses.ttm(a!, b!, { gamma: 0.1 }),
  ttm_g03: ([a, b]) => losses.ttm(a!, b!, { gamma: 0.3, weighted: false }),
  tfkd_reg: ([z, y]) => losses.tfkdRegularization(z!, y!),
  tfkd_reg_t2: ([z, y]) => losses.tfkdRegularization(z!, y!, { T: 2, correctProb: 0.9 }),
  tfkd_self: ([a, b]) => losses.tfkdSelf(a!, b!),
  nkd: ([a, b, y]) => losses.nkd(a!, b!, y!),
  nkd_cifar: ([a, b, y]) => losses.nkd(a!, b!, y!, { T: 3, gamma: 3.5 }),
  pskd_ce: ([z, q]) => losses.softTargetCrossEntropy(z!, q!),
  kdsvd_mdistiller: ([s1, s2, t1, t2]) => losses.kdsvd([s1!, s2!], [t1!, t2!], { layout: 'mdistiller' }),
  ctkd_global: ([a, b, g]) => losses.kd(a!, b!, { T: ctkdTemperature(g!, -0.7, 1, 20) }),
  ctkd_dkd: ([a, b, y, g]) => losses.dkd(a!, b!, y!, { alpha: 1, beta: 2, T: ctkdTemperature(g!, -0.4, 2, 5) }),
  ctkd_instance: ([a, b, t]) => losses.kdInstanceTemperature(a!, b!, t!.mul(3)),
  sdd_kd_maps: ([x, w, b, pt, y]) => losses.sdd(sddRegions(x!, w!, b!, [1, 2, 4]), regionMajor(pt!.mul(3)), y!, { T: 4 }),
  sdd_kd_m12: ([x, w, b, pt, y]) => losses.sdd(sddRegions(x!, w!, b!, [1, 2]), regionMajor(pt!.mul(3)), y!, { T: 2 }),
  mlkd: ([a, b, c, d, y]) => mlkdTotal(a!, b!, c!.mul(2), d!.mul(2), y!, {}),
  mlkd_odd_ls: ([a, b, c, d, y]) =>
    mlkdTotal(a!, b!, c!.mul(2), d!.mul(2), y!, { T: 2, kdWeight: 9, logitStandardization: true }),
  distplus: ([a, b, f, g]) => distPlusTotal(a!, b!.mul(2), f!, g!, { beta: 2, gamma: 2, iota: 1, kappa: 1, tau: 1 }),
  distplus_tau4: ([a, b, f, g]) => distPlusTotal(a!, b!.mul(2), f!, g!, { beta: 1, gamma: 0.5, iota: 2, kappa: 3, tau: 4 }),
  sdd_dkd: ([s, t, y]) => losses.sdd(regionMajor(s!), regionMajor(t!.mul(3)), y!, { base: 'dkd', alpha: 1, beta: 8, T: 4 }),
};

/** Inputs whose gradient passes CTKD's gradient reversal (λ × the derivative): checked by the test below, not by finite differences. */
const reversedInputs: Record<string, number[]> = { ctkd_global: [2], ctkd_dkd: [3] };

test('gradient reversal: identity forward, λ × the derivative backward', () => {
  tidy(() => {
    const x = torch.tensor([0.3, -1.2], { dtype: 'float64' }).requiresGrad_();
    const y = losses.gradientReversal(x, -0.7);
    assert.deepEqual(Array.from(y.dataSync() as Float64Array), [0.3, -1.2]);
    y.pow(3).sum().backward();
    const expected = [0.3, -1.2].map((v) => -0.7 * 3 * v * v);
    Array.from(x.grad!.dataSync() as Float64Array).forEach((g, i) =>
      assert.ok(Math.abs(g - expected[i]!) < 1e-15, `${g} vs ${expected[i]}`),
    );
  });
});

test('every loss fixture has an implementation', () => {
  assert.deepEqual(Object.keys(impls).sort(), Object.keys(cases).sort());
});

for (const [name, c] of Object.entries(cases)) {
  test(`loss ${name}: value and gradients equal PyTorch's, gradients equal finite differences`, (t) => {
    tidy(() => {
      const inputs = c.inputs.map((e, i) => (c.grads[i] ? decode(e).requiresGrad_() : decode(e)));
      const value = impls[name]!(inputs);
      assert.deepEqual(value.shape, [], 'a scalar');
      const v = value.item();
      assert.ok(Math.abs(v - c.value) <= 1e-5 * Math.max(1, Math.abs(c.value)), `${name}: ${v} vs PyTorch ${c.value}`);
      value.backward();
      let gradError = 0;
      c.grads.forEach((g, i) => {
        if (!g) return;
        assertClose(inputs[i]!.grad!, g, `${name} grad ${i}`, 1e-4, 1e-6);
        const got = Array.from(inputs[i]!.grad!.dataSync() as ArrayLike<number>);
        const want = g.data as number[];
        const scale = Math.max(...want.map(Math.abs));
        if (scale > 0) gradError = Math.max(gradError, Math.max(...got.map((x, j) => Math.abs(x - want[j]!))) / scale);
      });
      // The reached errors (the closing notes' fixture tables): value relative, gradients relative to the largest.
      t.diagnostic(
        `relative error: value ${(Math.abs(v - c.value) / Math.max(Math.abs(c.value), 1e-30)).toExponential(1)}, gradients ${gradError.toExponential(1)}`,
      );
      const wrt = c.grads.flatMap((g, i) => (g && !reversedInputs[name]?.includes(i) ? [i] : []));
      const f64 = c.inputs.map((e) => (e.dtype === 'float32' ? decode(e, 'float64') : decode(e)));
      // Finite differences see the scalar loss itself (the cotangent of a scalar is -1: sign only).
      gradcheck((xs) => impls[name]!(xs).reshape(1), f64, wrt, name, 1e-6, 1e-4);
    });
  });
}

// ---- methods: a tiny pair on real Fashion-MNIST images ----

const fmnist = data.subset(
  data.loadFashionMnist(),
  Array.from({ length: 1024 }, (_, i) => i),
);
const shape = { numClasses: 10, inChannels: 1 };

function makePair(method: string, options: Record<string, unknown> = {}) {
  torch.manualSeed(1);
  const teacher = createZooModel('resnet14', shape);
  const student = createZooModel('resnet8', shape);
  return createDistiller(method, student, teacher, options, {
    inputShape: [1, 28, 28],
    trainLabels: fmnist.labels,
    studentModel: 'resnet8',
  });
}

function loaderFor(d: distillers.Distiller, batchSize = 32) {
  return new data.DataLoader(fmnist, {
    batchSize,
    shuffle: true,
    dropLast: true,
    seed: 3,
    augment: { cropPadding: 2, hflip: true },
    views: d.views,
    classPairs: d.classPairs,
  });
}

const snapshot = (ts: [string, Tensor][]) => new Map(ts.map(([k, t]) => [k, t.detach().clone().keep()]));
const changed = (before: Map<string, Tensor>, after: [string, Tensor][]) =>
  after.filter(([k, t]) => tidy(() => t.sub(before.get(k)!).abs().max().item()) > 0).map(([k]) => k);

// Every registered method (the registry is the single list).
for (const method of distillers.methodNames().filter((m) => m !== 'none')) {
  test(`${method}: one step leaves the teacher (weights and BN statistics) unchanged and moves the student and extras`, () => {
    const d = makePair(method);
    const teacherState = d.teacher ? Object.entries(d.teacher.stateDict()) : [];
    const teacherBefore = snapshot(teacherState);
    const studentBefore = snapshot([...d.student.namedParameters()]);
    const extras = d.extraModules().flatMap((m, i) => [...m.namedParameters(`extra${i}`)]);
    const extrasBefore = snapshot(extras);
    const opt = new optim.SGD(d.learnableParameters(), { lr: 0.1, momentum: 0.9 });
    const loader = loaderFor(d);
    const batches = loader.epochSync(0);
    for (let i = 0; i < 2; i++) {
      const b = batches.next().value!;
      engine.trainStep(d, b, { epoch: 0, epochs: 1, step: i }, opt);
      b.dispose();
    }
    if (d.teacher) {
      const moved = changed(teacherBefore, Object.entries(d.teacher.stateDict()));
      if (d.teacherInTrainMode) {
        // OFD's teacher normalises with batch statistics, as its authors run it: only those move.
        assert.ok(moved.length > 0 && moved.every((k) => /running_(mean|var)$|num_batches_tracked$/.test(k)), moved.join());
        assert.equal(d.teacher.training, true, 'teacher in train mode');
      } else {
        assert.deepEqual(moved, [], 'teacher state changed');
        assert.equal(d.teacher.training, false, 'teacher stays in eval mode');
      }
      assert.ok(d.teacher.parameters().every((p) => !p.requiresGrad));
    }
    const movedStudent = changed(studentBefore, [...d.student.namedParameters()]);
    // SimKD predicts through the teacher's classifier: the student's own (weight, bias) is unused.
    const unused = distillers.methodEntry(method).deploysStudentAlone ? 1 : 2;
    assert.ok(
      movedStudent.length >= d.student.parameters().length - unused,
      `only ${movedStudent.length} student parameters moved`,
    );
    if (extras.length) {
      // Every extra parameter takes part (a gradient); all move but a bias right before a BatchNorm
      // (BYOT's heads), whose true gradient is zero and whose rounding-level update may vanish.
      assert.ok(
        extras.every(([, p]) => p.grad),
        'every extra parameter has a gradient',
      );
      const significant = extras.filter(([, p]) => tidy(() => p.grad!.abs().max().item()) > 1e-6);
      const moved = new Set(changed(extrasBefore, extras));
      assert.deepEqual(
        significant.map(([k]) => k).filter((k) => !moved.has(k)),
        [],
        'every extra parameter with a gradient moved',
      );
      assert.ok(moved.size >= extras.length - 2, `only ${moved.size} of ${extras.length} extra parameters moved`);
    }
  });
}

for (const method of distillers.methodNames()) {
  test(`${method}: 150 steps on Fashion-MNIST, no NaN, the loss goes down`, () => {
    const d = makePair(method, method === 'sp' ? { kdWeight: 3000 } : {});
    const opt = new optim.SGD(d.learnableParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
    const loader = loaderFor(d);
    const totals: number[] = [];
    let epoch = 0;
    while (totals.length < 150) {
      for (const b of loader.epochSync(epoch)) {
        if (totals.length >= 150) {
          b.dispose();
          continue;
        }
        totals.push(engine.trainStep(d, b, { epoch, epochs: 10, step: totals.length }, opt).losses.total!);
        b.dispose();
      }
      epoch++;
    }
    assert.ok(totals.every(Number.isFinite), 'a loss was NaN or infinite');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(totals.slice(0, 20));
    const last = mean(totals.slice(-20));
    assert.ok(last < first, `${method}: loss went from ${first.toFixed(4)} to ${last.toFixed(4)}`);
  });
}

test('DLB: carries the previous batch (its indices and second view), the KL uses the logits saved at the previous step, CE alone first', () => {
  const d = makePair('dlb') as distillers.DLB;
  const loader = loaderFor(d, 16);
  const it = loader.epochSync(0);
  const b1 = it.next().value!;
  const step = (b: distillers.TrainBatch, i: number) =>
    (d as distillers.Distiller).forwardTrain(b, { epoch: 0, epochs: 1, step: i });
  const out1 = step(b1, 0);
  assert.deepEqual(Object.keys(out1.losses), ['ce'], 'first iteration: CE only');
  assert.deepEqual(Array.from(d.previous!.indices), Array.from(b1.indices));
  assert.deepEqual(d.previous!.images.tolist(), b1.views[1]!.tolist(), 'the carried images are the second view');
  assert.deepEqual(d.previous!.logits.tolist(), out1.logits.detach().tolist(), 'the saved logits are those of view 0');
  const saved = d.previous!.logits.clone();
  const b2 = it.next().value!;
  const out2 = step(b2, 1);
  assert.deepEqual(Object.keys(out2.losses).sort(), ['ce', 'kl']);
  // Recompute the KL from the saved logits and a fresh pass on the carried view.
  d.eval();
  d.train();
  const expected = noGrad(() => {
    const prevNow = distillers.logitsOf(d.student.forward(b1.views[1]!));
    return torch.F.klDiv(torch.F.logSoftmax(prevNow.div(3), 1), torch.F.softmax(saved.div(3), 1), { reduction: 'batchmean' })
      .mul(9)
      .item();
  });
  assert.ok(
    Math.abs(out2.losses.kl!.item() - expected) < 1e-3 * Math.max(1, expected),
    `kl ${out2.losses.kl!.item()} vs ${expected}`,
  );
  assert.deepEqual(Array.from(d.previous!.indices), Array.from(b2.indices), 'the carried batch is now the second one');
  const state = d.stateDict();
  assert.deepEqual(
    Object.keys(state)
      .filter((k) => k.startsWith('_extra_state.'))
      .sort(),
    ['_extra_state.images', '_extra_state.indices', '_extra_state.labels', '_extra_state.logits'],
    'the carried batch travels in the state dict',
  );
  const other = makePair('dlb') as distillers.DLB;
  other.loadStateDict(state);
  assert.deepEqual(Array.from(other.previous!.indices), Array.from(b2.indices), 'the carried batch survives a checkpoint');
});

test('DLB steps as dlb.py: two forward passes (BatchNorm per half, running statistics updated twice), CE over cat(out_pre, out)', () => {
  const d = makePair('dlb') as distillers.DLB;
  const it = loaderFor(d, 16).epochSync(0);
  const [b1, b2] = [it.next().value!, it.next().value!];
  const step = (b: distillers.TrainBatch, i: number) =>
    (d as distillers.Distiller).forwardTrain(b, { epoch: 0, epochs: 1, step: i });
  step(b1, 0);
  // A replica of the student replays the authors' step by hand on the same weights and statistics.
  const replica = makePair('dlb') as distillers.DLB;
  const state = d.student.stateDict();
  replica.student.loadStateDict(state);
  torch.dispose(state);
  replica.train();
  const saved = d.previous!.logits.clone();
  const out2 = step(b2, 1);
  const out = distillers.logitsOf(replica.student.forward(b2.views[0]!));
  const outPre = distillers.logitsOf(replica.student.forward(b1.views[1]!));
  const ce = torch.F.crossEntropy(torch.cat([outPre, out]), torch.cat([b1.labels, b2.labels]));
  const kl = torch.F.klDiv(torch.F.logSoftmax(outPre.div(3), 1), torch.F.softmax(saved.div(3), 1), {
    reduction: 'batchmean',
  }).mul(9);
  assert.equal(out2.losses.ce!.item(), ce.item(), 'CE over both halves, previous first');
  assert.equal(out2.losses.kl!.item(), kl.item(), 'KL against the logits saved at the previous step');
  assert.deepEqual(out2.logits.tolist(), out.tolist(), 'the step reports the current half');
  const mine = d.student.stateDict();
  const theirs = replica.student.stateDict();
  for (const key of Object.keys(mine).filter((k) => /running_(mean|var)|num_batches_tracked/.test(k))) {
    assert.deepEqual(mine[key]!.tolist(), theirs[key]!.tolist(), `${key}: BatchNorm statistics of two passes`);
  }
  assert.equal(mine['bn1.num_batches_tracked']!.item(), 3, 'one update for the first step, two for the second');
  torch.dispose([mine, theirs]);
  replica.dispose();
});

test('label noise flips the stated fraction of training labels and none of the test labels', () => {
  const train = data.subset(
    data.loadFashionMnist(),
    Array.from({ length: 2000 }, (_, i) => i),
  );
  const { dataset, flipped } = data.withLabelNoise(train, 0.3, 5);
  let differ = 0;
  for (let i = 0; i < train.length; i++) if (dataset.labels[i] !== train.labels[i]) differ++;
  assert.equal(differ, 600);
  assert.equal(flipped.length, 600);
  assert.ok(dataset.labels.every((l) => l >= 0 && l < 10));
  assert.equal(dataset.images, train.images, 'pixels are shared, not copied');
  const { test: testSet } = torch.engine.loadDatasets(
    { name: 'fashion-mnist', labelNoise: 0.3, augment: null, strongAugment: null, trainSubset: 500, testSubset: 500 },
    0,
  );
  const cleanTest = data.subset(
    data.loadFashionMnist({ train: false }),
    Array.from({ length: 10000 }, (_, i) => i),
  );
  const byPixels = new Map<string, number>();
  for (let i = 0; i < cleanTest.length; i++)
    byPixels.set(Buffer.from(cleanTest.images.subarray(i * 784, (i + 1) * 784)).toString('base64'), cleanTest.labels[i]!);
  for (let i = 0; i < testSet.length; i++) {
    const key = Buffer.from(testSet.images.subarray(i * 784, (i + 1) * 784)).toString('base64');
    assert.equal(testSet.labels[i], byPixels.get(key), 'a test label changed');
  }
  assert.throws(() => data.withLabelNoise(train, 1.5, 0), /fraction must be in \[0, 1\]/);
});

test("AB reports the activation similarity and its initialisation stage raises it; FT's paraphraser loss falls in its stage", async () => {
  for (const [method, stageName, metric] of [
    ['ab', 'ab-init', 'ab'],
    ['ft', 'paraphraser', 'reconstruction'],
  ] as const) {
    const d = makePair(method);
    const stage = d.prepStages().find((s) => s.name === stageName)!;
    assert.ok(stage, `${method} declares its ${stageName} stage`);
    const opt = new optim.SGD(stage.parameters(), { lr: method === 'ab' ? 0.05 : 0.1, momentum: 0.9 });
    stage.enter();
    const loader = loaderFor(d);
    const values: number[] = [];
    let probe: data.Batch | null = null;
    let simBefore = 0;
    for (const epoch of [0, 1]) {
      for (const b of loader.epochSync(epoch)) {
        if (!probe) {
          probe = b;
          if (stage.report) simBefore = stage.report(b).activationSimilarity!;
        }
        const step = (batch: distillers.TrainBatch, ctx: distillers.TrainContext) => ({
          logits: null,
          losses: stage.step(batch, ctx),
        });
        values.push(engine.trainStep(step, b, { epoch, epochs: 2, step: values.length }, opt).losses[metric]!);
        if (b !== probe) b.dispose();
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(
      mean(values.slice(-10)) < mean(values.slice(0, 10)),
      `${method} ${metric} did not fall: ${values.slice(0, 3)} ... ${values.slice(-3)}`,
    );
    if (stage.report) {
      const simAfter = stage.report(probe!).activationSimilarity!;
      assert.ok(simAfter > 0 && simAfter <= 1);
      assert.ok(simAfter > simBefore, `activation similarity ${simBefore} -> ${simAfter}`);
    }
    probe!.dispose();
  }
});

test('createDistiller: unknown method and option, missing teacher, cross-architecture channel mismatch handled', () => {
  const s = createZooModel('resnet8', shape);
  assert.throws(() => createDistiller('kdx', s, null), /unknown method 'kdx'; available: none, kd/);
  assert.throws(
    () => createDistiller('kd', s, createZooModel('resnet14', shape), { temperature: 4 }),
    /unknown option\(s\) 'temperature'; valid options: T, ceWeight, kdWeight/,
  );
  assert.throws(() => createDistiller('kd', s, null), /needs a teacher/);
  // resnet8x4 (256 channels) teaching resnet8 (64 channels): connectors and translators adapt.
  for (const method of ['ab', 'ft', 'sp', 'fitnet', 'at', 'ickd', 'rkd', 'reviewkd']) {
    const d = createDistiller(
      method,
      createZooModel('resnet8', shape),
      createZooModel('resnet8x4', shape),
      {},
      { inputShape: [1, 28, 28] },
    );
    const b = loaderFor(d, 8).epochSync(0).next().value!;
    tidy(() => {
      const out = d.forwardTrain(b, { epoch: 0, epochs: 1, step: 0 });
      assert.ok(Object.values(out.losses).every((l) => Number.isFinite(l.item())));
      for (const st of d.prepStages())
        assert.ok(Object.values(st.step(b, { epoch: 0, epochs: 1, step: 0 })).every((l) => Number.isFinite(l.item())));
    });
    b.dispose();
  }
});

test('the cross-architecture pairs of the literature work with every method (one step, finite losses, gradients reach the student)', () => {
  const cifarLike = data.syntheticDataset({ length: 8, channels: 3, size: 32, numClasses: 100, seed: 9 });
  const pairs: [string, string][] = [
    ['resnet32x4', 'ShuffleV2'],
    ['vgg13', 'MobileNetV2'],
    ['wrn_40_2', 'wrn_16_2'],
    ['resnet32x4', 'resnet8x4'],
  ];
  for (const [t, s] of pairs) {
    const teacher = createZooModel(t, { numClasses: 100 });
    for (const method of distillers.methodNames()) {
      tidy(() => {
        const student = createZooModel(s, { numClasses: 100 });
        const build = () =>
          createDistiller(
            method,
            student,
            teacher,
            {},
            { inputShape: [3, 32, 32], trainLabels: cifarLike.labels, studentModel: s },
          );
        const [sc, tc] = [student.featChannels.slice(1), teacher.featChannels.slice(1)];
        const widthsDiffer = sc.slice(0, tc.length).some((c, i) => c !== tc[i]);
        if (distillers.methodEntry(method).equalWidths && widthsDiffer) {
          // Methods that compare channel by channel refuse, naming the fix, before any work.
          assert.throws(build, /feature \d has \d+ \(student\) and \d+ \(teacher\) channels; name features of equal width/);
          student.dispose();
          return;
        }
        const d = build();
        const loader = new data.DataLoader(cifarLike, {
          batchSize: 4,
          views: d.views,
          classPairs: d.classPairs,
          augment: { cropPadding: 4, hflip: true },
        });
        const b = loader.epochSync(0).next().value!;
        const ctx = { epoch: 0, epochs: 1, step: 0 };
        for (const st of d.prepStages()) {
          st.enter();
          const l = Object.values(st.step(b, ctx)).reduce((a, x) => a.add(x));
          assert.ok(Number.isFinite(l.item()), `${t} -> ${s} ${method} ${st.name}`);
        }
        d.train();
        const out = d.forwardTrain(b, ctx);
        const total = Object.values(out.losses).reduce((a, x) => a.add(x));
        assert.ok(Number.isFinite(total.item()), `${t} -> ${s} ${method}: loss ${total.item()}`);
        total.backward();
        assert.ok(student.parameters()[0]!.grad !== null, `${t} -> ${s} ${method}: no gradient at the student's stem`);
        assert.deepEqual(out.logits.shape, [4, 100]);
        b.dispose();
        student.dispose();
        for (const m of d.extraModules()) m.dispose();
      });
    }
    teacher.dispose();
  }
});

test("CAT-KD's student is the authors' converted network: no classifier bias, logits = the pooled class activation maps", () => {
  const d = makePair('catkd') as distillers.CATKD;
  const bias = d.studentClassifier.bias!;
  assert.equal(bias.requiresGrad, false);
  tidy(() => {
    assert.equal(bias.abs().max().item(), 0);
    const x = torch.randn([2, 1, 28, 28]);
    const out = (d.student as ReturnType<typeof createZooModel>).forward(x);
    const cams = distillers.classActivationMaps(out.pooledMap, d.studentClassifier);
    assert.ok(cams.mean([2, 3]).sub(out.logits).abs().max().item() < 1e-5);
  });
  d.dispose();
});

test("CRD's negatives: the sample first, then K of other classes (mode exact) or of any (uniform), the same for the same seed, epoch and step", () => {
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  const indices = Int32Array.from([3, 17, 22, 8]);
  const ctx = { epoch: 2, epochs: 5, step: 7 };
  const exact = distillers.contrastSampler(labels, 50, 'exact', 1);
  const a = exact(indices, ctx);
  assert.equal(a.length, 4 * 51);
  indices.forEach((index, b) => {
    const row = a.subarray(b * 51, (b + 1) * 51);
    assert.equal(row[0], index);
    for (const j of row.subarray(1)) {
      assert.ok(j >= 0 && j < 40);
      assert.notEqual(labels[j], labels[index], 'a negative of the same class');
    }
  });
  assert.deepEqual(exact(indices, ctx), a, 'reproducible');
  assert.throws(() => exact(Int32Array.from([40]), ctx), /sample index 40 is not a row of the training set \(40 samples\)/);
  assert.notDeepEqual(exact(indices, { ...ctx, step: 8 }), a, 'a new draw each step');
  assert.notDeepEqual(distillers.contrastSampler(labels, 50, 'exact', 2)(indices, ctx), a, 'a new draw for another seed');
  const uniform = distillers.contrastSampler(labels, 400, 'uniform', 1)(indices, ctx);
  const sameClass = Array.from(uniform.subarray(1, 401)).filter((j) => labels[j] === labels[3]).length;
  assert.ok(sameClass > 50 && sameClass < 150, `uniform draws hit the own class about a quarter of the time (${sameClass}/400)`);
});

test('CRD with memory: queue keeps the last nceK embeddings of each network, not a row per sample', () => {
  const d = makePair('crd', { memory: 'queue', nceK: 48 }) as distillers.CRD;
  assert.deepEqual(d.contrast.memory('memory_v1').shape, [48, 128]);
  const opt = new optim.SGD(d.learnableParameters(), { lr: 0.05, momentum: 0.9 });
  const batches = loaderFor(d, 32).epochSync(0);
  for (let step = 0; step < 2; step++) {
    const b = batches.next().value!;
    const { losses: l } = engine.trainStep(d, b, { epoch: 0, epochs: 1, step }, opt);
    assert.ok(Number.isFinite(l.total!));
    b.dispose();
  }
  assert.equal(d.contrast.memory('queue_ptr').item(), 64 % 48, 'two batches of 32 written, wrapping around');
  tidy(() => {
    const rows = d.contrast.memory('memory_v1');
    const norms = rows.pow(2).sum(1).sqrt();
    // Slots 0..15 and 32..47 were written by the second batch, 16..31 by the first: unit embeddings.
    assert.ok(norms.sub(1).abs().max().item() < 1e-5, 'every slot holds a unit-norm embedding');
  });
  d.dispose();
});

test("variant repdistiller: FT's translator has BatchNorm and RepDistiller's recipe; AB's connectors are identities where shapes agree, else conv+BN", () => {
  const ft = makePair('ft', { variant: 'repdistiller' }) as distillers.FT;
  assert.deepEqual(ft.recipe, { kdWeight: 200, paraphraserEpochs: 30, paraphraserLr: 0.01 });
  assert.ok([...ft.translator.modules()].some((m) => m instanceof torch.nn.BatchNorm2d));
  assert.equal(ft.prepStages()[0]!.epochs, 30);
  const authors = makePair('ft') as distillers.FT;
  assert.deepEqual(authors.recipe, { kdWeight: 500, paraphraserEpochs: 5, paraphraserLr: 0.1 });
  assert.ok(![...authors.translator.modules()].some((m) => m instanceof torch.nn.BatchNorm2d));
  // resnet14 teaching resnet8: equal widths and sizes at every stage, so RepDistiller's connectors are identities.
  const ab = makePair('ab', { variant: 'repdistiller' }) as distillers.AB;
  assert.ok(ab.connectors.items.every((c) => c instanceof torch.nn.Identity));
  const wide = createDistiller(
    'ab',
    createZooModel('resnet8', shape),
    createZooModel('resnet8x4', shape),
    { variant: 'repdistiller' },
    {
      inputShape: [1, 28, 28],
    },
  ) as distillers.AB;
  assert.ok(
    wide.connectors.items.every(
      (c) => !(c instanceof torch.nn.Identity) && ![...c.modules()].some((m) => m instanceof torch.nn.ReLU),
    ),
  );
  for (const d of [ft, authors, ab, wide]) d.dispose();
});

/** A user's network outside the zoo: forward returns logits only, features come by module path. */
class UserNet extends torch.Module {
  readonly conv1 = this.registerModule('conv1', new torch.nn.Conv2d(1, 8, 3, { padding: 1 }));
  readonly bn1 = this.registerModule('bn1', new torch.nn.BatchNorm2d(8));
  readonly relu1 = this.registerModule('relu1', new torch.nn.ReLU());
  readonly conv2 = this.registerModule('conv2', new torch.nn.Conv2d(8, 12, 3, { stride: 2, padding: 1 }));
  readonly relu2 = this.registerModule('relu2', new torch.nn.ReLU());
  readonly fc = this.registerModule('fc', new torch.nn.Linear(12, 10));
  forward(x: Tensor): Tensor {
    const h = this.relu2.forward(this.conv2.forward(this.relu1.forward(this.bn1.forward(this.conv1.forward(x)))));
    return this.fc.forward(h.mean([2, 3]));
  }
}

test("the new methods run on a user's networks with features named by module path (one step, finite loss, gradients reach the student)", () => {
  const both = (paths: string[]) => ({ student: paths, teacher: paths });
  const cases: [string, Record<string, unknown>][] = [
    ['kdsvd', { features: both(['relu1', 'relu2']) }],
    ['ofd', { features: both(['bn1']), teacherBatchNorms: ['bn1'] }],
    ['fsp', { features: both(['relu1', 'relu2']) }],
    ['simkd', { features: both(['relu2']) }],
    ['catkd', { features: both(['relu2']) }],
    ['crd', { features: both(['fc:input']), nceK: 64 }],
    ['sdd', { features: both(['relu2']), base: 'dkd' }],
  ];
  for (const [method, options] of cases) {
    torch.manualSeed(3);
    const student = new UserNet();
    const d = createDistiller(method, student, new UserNet(), options, { inputShape: [1, 28, 28], trainLabels: fmnist.labels });
    const b = loaderFor(d, 16).epochSync(0).next().value!;
    tidy(() => {
      for (const st of d.prepStages()) {
        st.enter();
        assert.ok(
          Object.values(st.step(b, { epoch: 0, epochs: 1, step: 0 })).every((l) => Number.isFinite(l.item())),
          method,
        );
      }
      d.train();
      const total = Object.values(d.forwardTrain(b, { epoch: 0, epochs: 1, step: 0 }).losses).reduce((a, x) => a.add(x));
      assert.ok(Number.isFinite(total.item()), `${method}: ${total.item()}`);
      total.backward();
      assert.ok(student.conv1.weight.grad !== null, `${method}: no gradient at the student's first conv`);
    });
    b.dispose();
    d.dispose();
  }
});

test('logitStandardization (LSKD) z-scores both networks’ logits inside KD, DKD and DIST; CE keeps the raw logits', () => {
  const first = makePair('kd');
  const b = loaderFor(first, 8).epochSync(0).next().value!;
  first.dispose();
  const cases: [string, Record<string, unknown>, (zS: Tensor, zT: Tensor) => Tensor][] = [
    ['kd', { T: 2, kdWeight: 1 }, (s, t) => losses.kd(s, t, { T: 2 })],
    ['dkd', { T: 2, warmupEpochs: 0 }, (s, t) => losses.dkd(s, t, b.labels, { T: 2 })],
    ['dist', { tau: 2, kdWeight: 1 }, (s, t) => losses.dist(s, t, { tau: 2 })],
  ];
  for (const [method, options, loss] of cases) {
    const d = makePair(method, { ...options, logitStandardization: true });
    d.eval(); // BatchNorm on running statistics: the two forwards below see the same logits
    tidy(() => {
      const out = d.forwardTrain(b, { epoch: 0, epochs: 1, step: 0 });
      const zS = d.forwardTest(b.images);
      const zT = losses.standardizeLogits((d.teacher!.forward(b.images) as { logits: Tensor }).logits);
      const expected = loss(losses.standardizeLogits(zS), zT).item();
      const got = Object.entries(out.losses)
        .find(([k]) => k !== 'ce')![1]
        .item();
      assert.ok(Math.abs(got - expected) < 1e-5 * Math.max(1, Math.abs(expected)), `${method}: ${got} vs ${expected}`);
      const z = losses.standardizeLogits(zS);
      assert.ok(z.mean(1).abs().max().item() < 1e-5 && z.std(1).sub(1).abs().max().item() < 1e-4, 'rows z-scored');
    });
    d.dispose();
  }
  b.dispose();
});

test("CTKD's curriculum λ (the authors' CosineDecay of 1-based epochs) and its instance-wise temperature: [B, 1], gradients reversed, none into the student", () => {
  const o = { curriculum: 'cosine', lambdaMax: 0, lambdaMin: -1, lambdaEpochs: 10 } as const;
  assert.ok(Math.abs(distillers.ctkdLambda(0, o) - ((Math.cos(Math.PI / 10) + 1) / 2 - 1)) < 1e-15);
  assert.equal(distillers.ctkdLambda(9, o), -1);
  assert.equal(distillers.ctkdLambda(100, o), -1);
  assert.ok(Math.abs(distillers.ctkdLambda(4, { ...o, curriculum: 'linear' }) - -0.5) < 1e-15, 'LinearDecay at epoch 5 of 10');
  const d = makePair('ctkd', { temperature: 'instance', lambdaEpochs: 2 }) as distillers.CTKD;
  const batch = loaderFor(d, 8).epochSync(0).next().value!;
  tidy(() => {
    const x = batch.images;
    const zS = d.student.forward(x) as { logits: Tensor };
    const zT = noGrad(() => (d.teacher!.forward(x) as { logits: Tensor }).logits);
    const t = d.temperatureOf(zS.logits, zT, 0);
    assert.deepEqual(t.shape, [8, 1]);
    const values = Array.from(t.dataSync() as Float32Array);
    assert.ok(values.every((v) => v > 1 && v < 21) && new Set(values).size > 1, 'one temperature per sample in (1, 21)');
    // The same loss through the MLP without the reversal: the module's gradient is λ times it.
    const mlp = d.temperatureModule.mlp!;
    const loss = (temp: Tensor) => losses.kdInstanceTemperature(zS.logits.detach(), zT, temp);
    loss(t).backward();
    const reversed = mlp.parameters().map((p) => Array.from(p.grad!.dataSync() as Float32Array));
    mlp.zeroGrad();
    const plain = mlp
      .forward(torch.cat([zT, zS.logits.detach()], 1))
      .sigmoid()
      .mul(20)
      .add(1);
    loss(plain).backward();
    const lambda = distillers.ctkdLambda(0, { ...o, lambdaEpochs: 2 });
    mlp.parameters().forEach((p, i) => {
      Array.from(p.grad!.dataSync() as Float32Array).forEach((g, j) => {
        assert.ok(Math.abs(reversed[i]![j]! - lambda * g) <= 1e-6 * Math.max(1, Math.abs(g)), `param ${i}[${j}]`);
      });
    });
    assert.ok(
      d.student.parameters().every((p) => !p.grad),
      'the temperature module sends no gradient into the student',
    );
  });
  batch.dispose();
  d.dispose();
});
