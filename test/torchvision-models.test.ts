// torchvision's ImageNet networks against torchvision 0.14 itself (scripts/make_torchvision_fixture.py):
// the same state-dict keys and shapes in the same order, and the same logits for a seeded input
// in eval and train mode with weights that both sides draw from the same seeded streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as torch from '../src/index.js';
import { load, manualSeed, models, noGrad, setNumThreads, tidy, type Tensor } from '../src/index.js';
import { fixtureDir, readFixture } from './helpers.js';

const { torchvision } = models;

interface Logits {
  first: number[][];
  sumsq: number[];
  max: number;
}
interface NetworkFixture {
  keys: [string, number[]][];
  parameters: number;
  eval: Logits;
  train: Logits;
  trainDist?: Logits;
  runningVarAfterTrain?: { key: string; first: number[] };
}
const fixture = readFixture<{
  torchvision: string;
  input: { seed: number; shape: number[]; first: number[]; sum: number };
  networks: Record<string, NetworkFixture>;
}>('torchvision.json');

setNumThreads(2);

/** The fixture's weights: entry i of the state dict from manualSeed(1000 + i) (the script's fill()). */
function fill(model: torch.nn.Module, keys: [string, number[]][]): void {
  const state = model.stateDict();
  noGrad(() =>
    keys.forEach(([key, shape], i) =>
      tidy(() => {
        const t = state[key]!;
        if (!torch.isFloatingPoint(t.dtype)) return;
        manualSeed(1000 + i);
        const leaf = key.slice(key.lastIndexOf('.') + 1);
        let v: Tensor;
        if (leaf === 'running_var') v = torch.rand(shape).mul(0.5).add(0.75);
        else if (leaf === 'running_mean') v = torch.randn(shape).mul(0.1);
        else if (['class_token', 'dist_token', 'pos_embedding'].includes(leaf)) v = torch.randn(shape).mul(0.02);
        else if (leaf === 'layer_scale') v = torch.rand(shape).mul(0.5).add(0.1);
        else if (shape.length === 1 && leaf === 'weight') v = torch.randn(shape).mul(0.1).add(1);
        else if (shape.length === 1) v = torch.randn(shape).mul(0.1);
        else v = torch.randn(shape).mul(Math.sqrt(shape[0]! / shape.reduce((a, b) => a * b, 1)));
        t.copy_(v);
      }),
    ),
  );
  torch.dispose(state);
}

/** Largest difference over the reference's largest magnitude, on the first 64 logits of each row and on the rows' sums of squares. */
function relativeError(logits: Tensor, ref: Logits): number {
  const rows = logits.shape[0]!;
  let worst = 0;
  const data = logits.double().toArray() as Float64Array;
  const classes = logits.shape[1]!;
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * classes, (r + 1) * classes);
    ref.first[r]!.forEach((v, j) => (worst = Math.max(worst, Math.abs(row[j]! - v) / ref.max)));
    const sumsq = row.reduce((a, v) => a + v * v, 0);
    worst = Math.max(worst, Math.abs(sumsq - ref.sumsq[r]!) / ref.sumsq[r]!);
  }
  return worst;
}

const TOLERANCE = 1e-4;

function input(): Tensor {
  manualSeed(fixture.input.seed);
  return torch.randn(fixture.input.shape);
}

test("the seeded input is torchvision's (the same generator in both languages)", () => {
  tidy(() => {
    const x = input();
    assert.deepEqual(Array.from(x.flatten().narrow(0, 0, 8).toArray() as Float32Array), fixture.input.first.map(Math.fround));
    assert.ok(Math.abs(x.double().sum().item() - fixture.input.sum) < 1e-6);
  });
});

const table: string[] = [];
for (const [name, ref] of Object.entries(fixture.networks)) {
  test(`torchvision.${name}: torchvision's keys and shapes, ${ref.parameters} parameters, logits in eval and train mode within ${TOLERANCE}`, () => {
    const model = torchvision.createTorchvisionModel(name, { dropout: 0, stochasticDepthProb: 0 });
    try {
      const state = model.stateDict();
      const keys = Object.entries(state).map(([k, t]) => [k, t.shape] as [string, number[]]);
      torch.dispose(state);
      assert.deepEqual(keys, ref.keys, 'state-dict keys, shapes and order');
      assert.equal(model.numParameters(), ref.parameters);
      fill(model, ref.keys);
      const x = input();
      model.eval();
      const evalErr = tidy(() => {
        const out = noGrad(() => model.forward(x));
        assert.equal(out.feats.length, model.featChannels.length);
        out.feats.forEach((f, i) => assert.equal(f.shape[1], model.featChannels[i], `feats[${i}] channels`));
        assert.deepEqual(out.pooled.shape, [2, model.pooledDim]);
        // pooledMap pools into pooled, except where a LayerNorm follows the pool (ConvNeXt) or the
        // class token is the vector (ViT, DeiT).
        if (!/convnext|vit|deit/.test(name)) {
          const gap = out.pooledMap.mean([2, 3]).sub(out.pooled).abs().max().item();
          assert.ok(gap < 1e-4 * Math.max(1, out.pooled.abs().max().item()), `pooledMap vs pooled: ${gap}`);
        }
        const bns = model.batchNormsBeforeRelu();
        if (/resnet/.test(name)) {
          assert.equal(bns!.length, 4);
          bns!.forEach((p, i) =>
            assert.equal((model.getSubmodule(p) as torch.nn.BatchNorm2d).numFeatures, model.featChannels[i + 1]),
          );
        } else assert.equal(bns, null);
        return relativeError(out.logits, ref.eval);
      });
      model.train();
      const [trainErr, distErr] = tidy(() => {
        const out = noGrad(() => model.forward(x)) as torch.models.ModelOutput & { distLogits?: Tensor };
        const dist = ref.trainDist ? relativeError(out.distLogits!, ref.trainDist) : 0;
        return [relativeError(out.logits, ref.train), dist];
      });
      x.dispose();
      if (ref.runningVarAfterTrain) {
        const sd = model.stateDict();
        const got = Array.from(sd[ref.runningVarAfterTrain.key]!.narrow(0, 0, 16).toArray() as Float32Array);
        torch.dispose(sd);
        got.forEach((v, i) =>
          assert.ok(Math.abs(v - ref.runningVarAfterTrain!.first[i]!) < 1e-4 * Math.abs(v) + 1e-6, `running_var[${i}]`),
        );
      }
      table.push(`| ${name} | ${ref.parameters} | ${evalErr.toExponential(1)} | ${trainErr.toExponential(1)} |`);
      assert.ok(evalErr < TOLERANCE, `eval logits: relative error ${evalErr}`);
      assert.ok(trainErr < TOLERANCE, `train logits: relative error ${trainErr}`);
      assert.ok(distErr < TOLERANCE, `train distillation-head logits: relative error ${distErr}`);
    } finally {
      model.dispose();
    }
  });
}

test('the fixture table (printed for the closing note)', () => {
  console.log(['| network | parameters | eval rel. error | train rel. error |', '|---|---|---|---|', ...table].join('\n'));
  assert.equal(table.length, Object.keys(fixture.networks).length);
});

test('a state dict saved by torch.save(torchvision.models.shufflenet_v2_x0_5(num_classes=10).state_dict()) loads one to one and gives its logits', () => {
  const file = path.join(fixtureDir, 'torchvision_shufflenet_v2_x0_5.pt');
  const ref = readFixture<{ input: { seed: number; shape: number[] }; logits: number[][] }>(
    'torchvision_shufflenet_v2_x0_5.json',
  );
  const model = models.createModel('torchvision.shufflenet_v2_x0_5', { numClasses: 10 }) as models.torchvision.TorchvisionModel;
  const state = load(file) as Record<string, Tensor>;
  const result = model.loadStateDict(state);
  assert.deepEqual([result.missing, result.unexpected, result.replaced], [[], [], []]);
  torch.dispose(state);
  model.eval();
  tidy(() => {
    manualSeed(ref.input.seed);
    const logits = noGrad(() => model.forward(torch.randn(ref.input.shape)).logits);
    const got = logits.toArray() as Float32Array;
    ref.logits.flat().forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-5, `logit ${i}: ${got[i]} vs ${v}`));
  });
  model.dispose();
});

test('fine-tuning: a 1000-class checkpoint loads into a 10-class network with replaceClassifier (the head reported as replaced), and is refused without it', () => {
  const imagenet = torchvision.createTorchvisionModel('mobilenet_v3_small');
  const state = imagenet.stateDict();
  const tuned = torchvision.createTorchvisionModel('mobilenet_v3_small', { numClasses: 10 });
  const freshHead = tidy(() => tuned.stateDict()['classifier.3.weight']!.clone().keep());
  assert.throws(
    () => tuned.loadStateDict(state),
    /classifier classifier\.3\.weight is \[1000, 1024\] but this network's is \[10, 1024\].*replaceClassifier: true/,
  );
  const result = tuned.loadStateDict(state, { replaceClassifier: true });
  assert.deepEqual(result.replaced, ['classifier.3.weight', 'classifier.3.bias']);
  assert.deepEqual([result.missing, result.unexpected], [[], []]);
  const after = tuned.stateDict();
  tidy(() => {
    assert.equal(after['classifier.0.weight']!.sub(state['classifier.0.weight']!).abs().max().item(), 0, 'the rest is loaded');
    assert.equal(after['features.3.block.0.0.weight']!.sub(state['features.3.block.0.0.weight']!).abs().max().item(), 0);
    assert.equal(after['classifier.3.weight']!.sub(freshHead).abs().max().item(), 0, 'the head keeps its fresh weights');
  });
  torch.dispose([state, after, freshHead]);
  imagenet.dispose();
  tuned.dispose();
});

test('a checkpoint of another architecture is refused with the keys and shapes that differ', () => {
  const r18 = torchvision.createTorchvisionModel('resnet18');
  const r34 = torchvision.createTorchvisionModel('resnet34');
  const r50 = torchvision.createTorchvisionModel('resnet50');
  const s18 = r18.stateDict();
  const s50 = r50.stateDict();
  assert.throws(() => r34.loadStateDict(s18), /keys missing, e\.g\. layer1\.2\.conv1\.weight.*this is torchvision\.resnet34/);
  assert.throws(
    () => r18.loadStateDict(s50, { replaceClassifier: true }),
    /mis-shaped, e\.g\. layer1\.0\.conv1\.weight: checkpoint \[64, 64, 1, 1\] vs model \[64, 64, 3, 3\].*unexpected keys, e\.g\. layer1\.0\.conv3\.weight/,
  );
  torch.dispose([s18, s50]);
  for (const m of [r18, r34, r50]) m.dispose();
});

test('registered as torchvision.<name> beside the CIFAR zoo (ResNet18 is still the CIFAR one); DeiT refuses another image size with the fix', () => {
  for (const [name] of torchvision.torchvisionArchitectures) assert.ok(models.modelNames().includes(`torchvision.${name}`), name);
  assert.ok(models.modelNames().includes('ResNet18'));
  const deit = models.createModel('torchvision.deit_tiny', { numClasses: 5 });
  assert.throws(
    () => tidy(() => deit.forward(torch.randn([1, 3, 64, 64]))),
    /expects 224x224 images .* got 64x64; resize the data/,
  );
  deit.dispose();
});

test("DeiT's distillation: the class head learns the labels, the distillation head the teacher's argmax (hard) or its softened distribution (soft)", () => {
  manualSeed(3);
  const teacher = models.createModel('torchvision.resnet18', { numClasses: 10 });
  for (const type of ['hard', 'soft'] as const) {
    const student = models.createModel('torchvision.deit_tiny_distilled', { numClasses: 10 });
    const d = torch.distillers.createDistiller('deit', student, teacher, { type, alpha: 0.3, tau: 2 });
    tidy(() => {
      const images = torch.randn([2, 3, 224, 224]);
      const labels = torch.tensor([3, 7]).long();
      const batch = { images, views: [images], labels, indices: Int32Array.from([0, 1]), index: 0, dispose() {} };
      const { losses } = d.forwardTrain(batch, { epoch: 0, epochs: 1, step: 0 });
      const out = noGrad(() => student.forward(images)) as torch.models.ModelOutput & { distLogits: Tensor };
      const zT = noGrad(() => (teacher.forward(images) as torch.models.ModelOutput).logits);
      const ce = torch.F.crossEntropy(out.logits, labels).mul(0.7).item();
      const kd =
        type === 'hard'
          ? torch.F.crossEntropy(out.distLogits, zT.argmax(1)).mul(0.3).item()
          : torch.F.klDiv(torch.F.logSoftmax(out.distLogits.div(2), 1), torch.F.logSoftmax(zT.div(2), 1), {
              reduction: 'sum',
              logTarget: true,
            })
              .mul(4 / 20)
              .mul(0.3)
              .item();
      assert.ok(Math.abs(losses.ce!.item() - ce) < 1e-6 * Math.abs(ce), `${type} ce`);
      assert.ok(Math.abs(losses.kd!.item() - kd) < 1e-5 * Math.abs(kd), `${type} kd ${losses.kd!.item()} vs ${kd}`);
    });
    student.dispose();
  }
  teacher.dispose();
});
