// ONNX export by tracing: every zoo model exports and runs in ONNX Runtime (onnxruntime-node, a
// development dependency) with logits equal to distill-ts's evaluation forward, at batch 1 and 8
// from one file with a symbolic batch; an operator without a mapping is named with its module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import * as torch from '../src/index.js';
import { cliIn } from './helpers.js';
import { createZooModel, exportOnnx, modelNames, nn, toOnnx, type Tensor } from '../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'distill-onnx-'));

async function run(bytes: Uint8Array, x: Tensor, output = 'logits'): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync() as Float32Array), x.shape) });
  await session.release();
  return out[output]!.data as Float32Array;
}

test('every zoo model exports (symbolic batch) and ONNX Runtime gives its logits at batch 1 and 8 (max abs difference ≤ 1e-4)', async (t) => {
  let worst = 0;
  const perModel = new Map<string, number>();
  const worstOf = (name: string) => perModel.get(name) ?? 0;
  for (const name of modelNames().filter((n) => !n.startsWith('torchvision.'))) {
    torch.manualSeed(0);
    const model = createZooModel(name, { numClasses: 10 });
    // As a trained network's: each BatchNorm keeps the statistics of one train-mode batch (momentum 1),
    // so that activations stay normalised (random running statistics let a deep ResNet's logits reach 1e8).
    for (const m of model.modules()) if (m instanceof nn.BatchNorm2d) (m as { momentum: number | null }).momentum = 1;
    torch.noGrad(() => torch.tidy(() => void model.forward(torch.randn(32, 3, 32, 32))));
    const x = torch.randn(8, 3, 32, 32).keep();
    const bytes = toOnnx(model, x.narrow(0, 0, 1), { dynamicBatch: true });
    assert.equal(model.training, true, 'the model is back in its mode');
    model.eval();
    for (const n of [1, 8]) {
      const xi = torch.keep(x.narrow(0, 0, n).contiguous());
      const want = torch.noGrad(() => torch.tidy(() => Array.from(model.forward(xi).logits.dataSync() as Float32Array)));
      const got = await run(bytes, xi);
      assert.equal(got.length, want.length, `${name} batch ${n}`);
      const error = Math.max(...want.map((v, i) => Math.abs(v - got[i]!)));
      worst = Math.max(worst, error);
      perModel.set(name, Math.max(worstOf(name), error));
      assert.ok(error <= 1e-4, `${name} batch ${n}: max abs difference ${error}`);
      xi.dispose();
    }
    // The closing notes' export table: model, file size, max abs difference over batch 1 and 8.
    t.diagnostic(`${name}: ${(bytes.length / 2 ** 20).toFixed(2)} MB, max abs difference ${worstOf(name).toExponential(1)}`);
    model.dispose();
    x.dispose();
  }
  t.diagnostic(`${modelNames().length} models, worst max abs difference ${worst.toExponential(1)}`);
});

test('foldBatchNorm folds each BatchNorm into its convolution: fewer nodes, the same logits', async () => {
  for (const name of ['resnet8', 'wrn_16_2', 'MobileNetV2', 'ShuffleV2', 'vgg8']) {
    torch.manualSeed(2);
    const model = createZooModel(name, { numClasses: 10 });
    const x = torch.randn(4, 3, 32, 32).keep();
    const count = (bytes: Uint8Array, op: string) =>
      onnxProto.onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.opType === op).length;
    const plain = toOnnx(model, x);
    const folded = toOnnx(model, x, { foldBatchNorm: true });
    assert.ok(
      count(plain, 'BatchNormalization') > 0 && count(folded, 'BatchNormalization') < count(plain, 'BatchNormalization'),
      name,
    );
    const [a, b] = [await run(plain, x), await run(folded, x)];
    const scale = Math.max(1, ...Array.from(a, Math.abs));
    const error = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!))) / scale;
    assert.ok(error <= 1e-4, `${name}: folded differs by ${error} of the largest logit`);
    model.dispose();
    x.dispose();
  }
});

test('exportOnnx writes the file atomically, with softmax and metadata on request', async () => {
  torch.manualSeed(1);
  const model = createZooModel('resnet8', { numClasses: 10, inChannels: 1 });
  const x = torch.randn(2, 1, 28, 28).keep();
  const file = path.join(dir, 'student.onnx');
  exportOnnx(model, x, file, { softmax: true, metadata: { classes: 'a,b', mean: '0.286' } });
  assert.deepEqual(readdirSync(dir), ['student.onnx'], 'no temporary file left');
  const bytes = readFileSync(file);
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.outputNames, ['probabilities']);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.dataSync() as Float32Array), x.shape) });
  const p = out.probabilities!.data as Float32Array;
  model.eval();
  const want = torch.noGrad(() =>
    torch.tidy(() => Array.from(torch.F.softmax(model.forward(x).logits, 1).dataSync() as Float32Array)),
  );
  want.forEach((v, i) => assert.ok(Math.abs(v - p[i]!) < 1e-5));
  await session.release();
  assert.ok(bytes.includes(Buffer.from('classes')) && bytes.includes(Buffer.from('0.286')), 'metadata in the file');
  model.dispose();
  x.dispose();
});

test("a user's network of element-wise, reduction, matrix and shape operators exports and runs as distill-ts computes it", async () => {
  class Mixed extends torch.Module {
    readonly fc = this.registerModule('fc', new nn.Linear(12, 12));
    readonly conv = this.registerModule('conv', new nn.Conv2d(3, 4, 3, { padding: 1 }));
    forward(x: Tensor): Tensor {
      const f = this.conv.forward(x); // [B, 4, 6, 6]
      const pooled = f.mean([2, 3]); // [B, 4]
      const h = torch.F.gelu(this.fc.forward(f.flatten(1).narrow(1, 0, 12)));
      const a = torch.F.leakyRelu(h, { negativeSlope: 0.2 }).sub(0.1).mul(h.tanh()).div(h.abs().add(1));
      const b = a.clamp({ min: -0.5, max: 2 }).pow(2).sqrt().add(a.exp().neg().sigmoid());
      const m = b.unsqueeze(2).matmul(b.unsqueeze(1)).sum([2]); // [B, 12]
      const s = torch.F.softmax(m.transpose(0, 1).t(), 1).add(torch.F.logSoftmax(m, 1).mul(0.01));
      return s.narrow(1, 0, 4).add(pooled).clampMin(-3);
    }
  }
  torch.manualSeed(4);
  const net = new Mixed();
  const x = torch.randn(3, 3, 6, 6).keep();
  net.eval();
  const want = torch.noGrad(() => torch.tidy(() => Array.from(net.forward(x).dataSync() as Float32Array)));
  for (const opset of [13, 17, 18]) {
    const got = await run(toOnnx(net, x, { opset }), x);
    want.forEach((v, i) =>
      assert.ok(Math.abs(v - got[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `opset ${opset} [${i}]: ${got[i]} vs ${v}`),
    );
  }
  net.dispose();
  x.dispose();
});

test('an operator without an ONNX mapping is an error naming it and the module; an in-place one too', () => {
  class Exp extends nn.Layer {
    forward(x: Tensor): Tensor {
      return x.erfc();
    }
  }
  class Net extends torch.Module {
    readonly fc = this.registerModule('fc', new nn.Linear(4, 3));
    readonly act = this.registerModule('act', new Exp());
    forward(x: Tensor): Tensor {
      return this.act.forward(this.fc.forward(x));
    }
  }
  const net = new Net();
  const x = torch.randn(1, 4).keep();
  assert.throws(() => toOnnx(net, x), /ATen operator aten::erfc \(in module act\) has no ONNX mapping/);
  class InPlace extends torch.Module {
    readonly fc = this.registerModule('fc', new nn.Linear(4, 3));
    forward(y: Tensor): Tensor {
      return this.fc.forward(y).mul_(2);
    }
  }
  assert.throws(() => toOnnx(new InPlace(), x), /in-place operator aten::mul_[.A-Za-z]* in module \(top\) is not exported/);
  assert.throws(() => toOnnx(net, x, { opset: 9 }), /opset 9: use 13 to 21/);
  net.dispose();
  x.dispose();
});

test('distill export: a run folder, a checkpoint or a config to ONNX; the file answers as distill eval does; bad input named', async () => {
  const distill = cliIn(dir);
  const config = path.join(dir, 'tiny.yaml');
  writeFileSync(
    config,
    `name: tiny
dataset: { name: synthetic, trainSubset: 64, testSubset: 32 }
student: { model: resnet8 }
solver: { epochs: 1, batchSize: 32, lr: 0.05 }
runtime: { threads: 1, workers: 0 }
output: ${dir}/runs
`,
  );
  assert.equal(distill(['train', config]).code, 0);
  const run = path.join(dir, 'runs', 'tiny');
  const r = distill(['export', run, '--dynamic-batch']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /best\.pt -> .*student\.onnx \(ONNX opset 17, any batch size, logits\)/);
  const session = await ort.InferenceSession.create(readFileSync(path.join(run, 'student.onnx')));
  assert.deepEqual([session.inputNames, session.outputNames], [['input'], ['logits']]);
  // The exported file classifies the test images as the checkpoint does.
  const test = torch.engine.loadDatasets(
    { name: 'synthetic', trainSubset: 64, testSubset: 32, augment: null, strongAugment: null, labelNoise: 0 },
    0,
  ).test;
  const x = new Float32Array(test.length * test.channels * test.height * test.width);
  const loader = new torch.data.DataLoader(test, { batchSize: test.length });
  const [batch] = [...loader.epochSync(0)];
  x.set(batch!.images.dataSync() as Float32Array);
  const out = await session.run({ input: new ort.Tensor('float32', x, batch!.images.shape) });
  const logits = out.logits!.data as Float32Array;
  const classes = test.numClasses;
  let correct = 0;
  for (let i = 0; i < test.length; i++) {
    const row = Array.from(logits.subarray(i * classes, (i + 1) * classes));
    if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
  }
  batch!.dispose();
  await session.release();
  const evaluated = distill(['eval', path.join(run, 'best.pt')]);
  assert.match(evaluated.out, new RegExp(`top-1 ${((100 * correct) / test.length).toFixed(2)}`), evaluated.out);
  assert.equal(distill(['export', config, '--out', path.join(dir, 'from-config.onnx')]).code, 0);
  for (const [args, message] of [
    [['export', run, '--format', 'tflite'], /unknown export format 'tflite'; the formats: onnx/],
    [['export', run, '--out', path.join(dir, 'missing', 'x.onnx')], /folder .*missing does not exist/],
    [['export', run, '--opset', '7'], /--opset 7: use 13 to 21/],
    [['export', path.join(dir, 'runs')], /no config\.json in it/],
  ] as const) {
    const bad = distill([...args]);
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, message);
  }
});

test("torchvision's networks (a student's usual shapes) export and ONNX Runtime gives their logits", async () => {
  for (const [name, size] of [
    ['torchvision.mobilenet_v2', 64],
    ['torchvision.mobilenet_v3_small', 64],
    ['torchvision.efficientnet_b0', 64],
    ['torchvision.shufflenet_v2_x0_5', 64],
    ['torchvision.regnet_y_400mf', 64],
    ['torchvision.resnet18', 64],
    ['torchvision.deit_tiny', 224],
  ] as const) {
    torch.manualSeed(0);
    const model = createZooModel(name, { numClasses: 10 });
    // Statistics of one train-mode batch, as a trained network's (see the zoo test above).
    for (const m of model.modules()) if (m instanceof nn.BatchNorm2d) (m as { momentum: number | null }).momentum = 1;
    torch.noGrad(() => torch.tidy(() => void model.forward(torch.randn(8, 3, size, size))));
    model.eval();
    const x = torch.randn(2, 3, size, size).keep();
    const bytes = toOnnx(model, x, {});
    const want = torch.noGrad(() => torch.tidy(() => Array.from(model.forward(x).logits.dataSync() as Float32Array)));
    const got = await run(bytes, x);
    const scale = Math.max(1, ...want.map(Math.abs));
    const error = Math.max(...want.map((v, i) => Math.abs(v - got[i]!))) / scale;
    assert.ok(error <= 1e-4, `${name}: relative difference ${error}`);
    x.dispose();
    model.dispose();
  }
});
