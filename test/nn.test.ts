// Modules against PyTorch: default initialisation with the same seed, BN running statistics,
// state-dict names and round trips, the resnet8x4 of mdistiller loading one-to-one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as torch from '../src/index.js';
import { Tensor, nn, createZooModel, load, save, noGrad } from '../src/index.js';
import { assertClose, decode, fixtureDir, readFixture, type Encoded } from './helpers.js';

interface NnFixture {
  init: Record<string, Encoded>;
  bn: {
    xs: Encoded[];
    running_mean: Encoded;
    running_var: Encoded;
    cum_running_mean: Encoded;
    cum_running_var: Encoded;
    num_batches_tracked: number;
    eval_out: Encoded;
  };
  resnet8x4: {
    x: Encoded;
    logits: Encoded;
    feat3: Encoded;
    pre3: Encoded;
    pooled: Encoded;
    keys: string[];
    first_weights: Record<string, Encoded>;
  };
}
const fx = readFixture<NnFixture>('nn.json');

test('default initialisation draws what PyTorch draws for the same seed (Conv2d, Linear, ConvTranspose2d)', () => {
  torch.manualSeed(5);
  const conv = new nn.Conv2d(3, 4, 3);
  const lin = new nn.Linear(5, 2);
  const convt = new nn.ConvTranspose2d(3, 2, 3, { stride: 2 });
  const got: Record<string, Tensor> = {
    'conv.weight': conv.weight,
    'conv.bias': conv.bias!,
    'linear.weight': lin.weight,
    'linear.bias': lin.bias!,
    'convt.weight': convt.weight,
    'convt.bias': convt.bias!,
  };
  for (const [k, e] of Object.entries(fx.init)) assertClose(got[k]!, e, k, 0, 1e-7);
  assert.deepEqual(convt.forward(torch.randn(1, 3, 4, 4)).shape, [1, 2, 9, 9]);
});

test('BatchNorm2d: running statistics (momentum and cumulative), num_batches_tracked, eval output', () => {
  const bn = new nn.BatchNorm2d(3);
  const cum = new nn.BatchNorm2d(3, { momentum: null });
  for (const e of fx.bn.xs) {
    bn.forward(decode(e));
    cum.forward(decode(e));
  }
  assertClose(bn.runningMean!, fx.bn.running_mean, 'running_mean');
  assertClose(bn.runningVar!, fx.bn.running_var, 'running_var');
  assertClose(cum.runningMean!, fx.bn.cum_running_mean, 'cumulative running_mean');
  assertClose(cum.runningVar!, fx.bn.cum_running_var, 'cumulative running_var');
  assert.equal(bn.stateDict()['num_batches_tracked']!.item(), fx.bn.num_batches_tracked);
  bn.eval();
  assertClose(bn.forward(decode(fx.bn.xs[0]!)), fx.bn.eval_out, 'eval output');
  assert.throws(() => bn.forward(torch.ones(2, 3)), /BatchNorm2d: expected a 4D input/);
});

test('resnet8x4: PyTorch key names, same initial weights for the same seed, and a PyTorch state dict loads to equal outputs', () => {
  torch.manualSeed(0);
  const model = createZooModel('resnet8x4', { numClasses: 10 });
  const sd = model.stateDict();
  assert.deepEqual(Object.keys(sd), fx.resnet8x4.keys);
  for (const [k, e] of Object.entries(fx.resnet8x4.first_weights))
    assertClose(sd[k]!.flatten().narrow(0, 0, 8), e, `init ${k}`, 1e-6, 1e-7);

  const fresh = createZooModel('resnet8x4', { numClasses: 10 });
  fresh.loadStateDict(load(path.join(fixtureDir, 'resnet8x4_seed0.pt')) as Record<string, Tensor>);
  fresh.eval();
  const out = noGrad(() => fresh.forward(decode(fx.resnet8x4.x)));
  assertClose(out.logits, fx.resnet8x4.logits, 'logits', 1e-4, 1e-5);
  assertClose(out.feats[3]!, fx.resnet8x4.feat3, 'feats[3]', 1e-4, 1e-5);
  assertClose(out.preactFeats[3]!, fx.resnet8x4.pre3, 'preactFeats[3]', 1e-4, 1e-5);
  assertClose(out.pooled, fx.resnet8x4.pooled, 'pooled', 1e-4, 1e-5);
});

test('state dict round trip through a file, and clear errors for a state dict that does not fit', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'distill-nn-'));
  const a = createZooModel('resnet8', { numClasses: 7 });
  save(a.stateDict(), path.join(dir, 'a.pt'));
  const b = createZooModel('resnet8', { numClasses: 7 });
  b.loadStateDict(load(path.join(dir, 'a.pt')) as Record<string, Tensor>);
  for (const [k, v] of Object.entries(b.stateDict())) assert.deepEqual(v.tolist(), a.stateDict()[k]!.tolist(), k);

  const wrong = createZooModel('resnet8', { numClasses: 5 });
  assert.throws(() => wrong.loadStateDict(a.stateDict()), /mis-shaped: fc.weight: checkpoint \[7, 64\] vs model \[5, 64\]/);
  const other = createZooModel('resnet14', { numClasses: 7 });
  assert.throws(
    () => other.loadStateDict(a.stateDict()),
    (err: Error & { missing?: string[] }) =>
      /\(36 keys missing, e\.g\. layer1\.1\.conv1\.weight, /.test(err.message) && err.missing?.length === 36,
    'a summary in the message, every key on the error',
  );
  const sd = a.stateDict();
  sd['extra.weight'] = torch.ones(1);
  assert.throws(() => b.loadStateDict(sd), /unexpected keys: extra\.weight/);
  const result = b.loadStateDict(sd, { strict: false });
  assert.deepEqual(result.unexpected, ['extra.weight']);
});

test('Module: parameters, buffers, children, train/eval, Sequential naming, zeroGrad, to(dtype)', () => {
  const seq = new nn.Sequential(
    new nn.Conv2d(1, 2, 3, { bias: false }),
    new nn.BatchNorm2d(2),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(8, 3),
  );
  assert.deepEqual(
    [...seq.namedParameters()].map(([k]) => k),
    ['0.weight', '1.weight', '1.bias', '4.weight', '4.bias'],
  );
  assert.deepEqual(
    [...seq.namedBuffers()].map(([k]) => k),
    ['1.running_mean', '1.running_var', '1.num_batches_tracked'],
  );
  assert.equal(seq.numParameters(), 18 + 2 + 2 + 24 + 3);
  assert.equal([...seq.children()].length, 5);
  seq.eval();
  assert.ok([...seq.modules()].every((m) => !m.training));
  seq.train();
  const y = seq.forward(torch.randn(4, 1, 4, 4));
  assert.deepEqual(y.shape, [4, 3]);
  y.sum().backward();
  assert.ok(seq.parameters().every((p) => p.grad !== null));
  seq.zeroGrad();
  assert.ok(seq.parameters().every((p) => p.grad === null));
  seq.to('float64');
  assert.ok(seq.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad));
  assert.equal(seq.stateDict()['1.num_batches_tracked']!.dtype, 'int64');
  assert.deepEqual(seq.forward(torch.randn([2, 1, 4, 4], { dtype: 'float64' })).shape, [2, 3]);
  const list = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 1)]);
  assert.deepEqual(Object.keys(list.stateDict()), ['0.weight', '0.bias', '1.weight', '1.bias']);
  const dict = new nn.ModuleDict({ head: new nn.Linear(2, 2) });
  assert.deepEqual(Object.keys(dict.stateDict()), ['head.weight', 'head.bias']);
  assert.throws(() => dict.get('tail'), /no module 'tail'/);
  const drop = new nn.Dropout(0.5).eval();
  assert.equal(drop.forward(torch.ones(100)).sum().item(), 100);
  assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/);
});

test('clipGradNorm_: total L2 norm over all gradients, scaled by maxNorm / (norm + 1e-6) when above, untouched below', () => {
  const a = torch.tensor([3, 0], [2], { dtype: 'float64' }).requiresGrad_();
  const b = torch.tensor([0, 4], [2], { dtype: 'float64' }).requiresGrad_();
  a.mul(a).sum().div(2).add(b.mul(b).sum().div(2)).backward(); // grads = values, total norm 5
  const norm = nn.clipGradNorm_([a, b], 1);
  assert.equal(norm, 5);
  const c = 1 / (5 + 1e-6);
  assert.deepEqual(a.grad!.tolist(), [3 * c, 0]);
  assert.deepEqual(b.grad!.tolist(), [0, 4 * c]);
  assert.equal(nn.clipGradNorm_([a, b], 10), 5 * c, 'below the limit: returns the norm, changes nothing');
  assert.deepEqual(a.grad!.tolist(), [3 * c, 0]);
  assert.throws(() => nn.clipGradNorm_([a], 0), /maxNorm must be positive/);
});
