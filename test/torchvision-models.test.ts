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
        got.forEach((v, i) => assert.ok(Math.abs(v - ref.runningVarAfterTrain!.first[i]!) < 1e-4 * Math.abs(v) + 1e-6, `running_var[${i}]`));
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
