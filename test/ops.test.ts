// Every op against values and gradients computed by PyTorch (test/fixtures/ops.json, made by
// scripts/make_fixtures.py), and against finite differences in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { F, Tensor, slice, tidy } from '../src/index.js';
import { assertClose, cotangent, decode, gradcheck, readFixture, type Encoded } from './helpers.js';

type Impl = (x: Tensor[]) => Tensor | Tensor[];
const vi = (r: { values: Tensor; indices: Tensor }): Tensor[] => [r.values, r.indices];

const impls: Record<string, Impl> = {
  add: ([a, b]) => a!.add(b!),
  add_alpha: ([a, b]) => a!.add(b!, { alpha: 0.5 }),
  add_scalar: ([a]) => a!.add(2.5),
  add_broadcast: ([a, b]) => a!.add(b!),
  add_promote_int: ([a, b]) => a!.add(b!),
  mul_int_by_float: ([a]) => a!.mul(2.5),
  sub: ([a, b]) => a!.sub(b!),
  mul: ([a, b]) => a!.mul(b!),
  mul_scalar: ([a]) => a!.mul(-1.5),
  div: ([a, b]) => a!.div(b!),
  div_scalar: ([a]) => a!.div(3.0),
  div_floor: ([a, b]) => a!.div(b!, { roundingMode: 'floor' }),
  neg: ([a]) => a!.neg(),
  pow_scalar: ([a]) => a!.pow(3),
  pow_tensor: ([a, b]) => a!.pow(b!),
  sqrt: ([a]) => a!.sqrt(),
  rsqrt: ([a]) => a!.rsqrt(),
  exp: ([a]) => a!.exp(),
  log: ([a]) => a!.log(),
  abs: ([a]) => a!.abs(),
  sign: ([a]) => a!.sign(),
  clamp: ([a]) => a!.clamp({ min: -0.5, max: 0.7 }),
  clamp_min: ([a]) => a!.clampMin(0.1),
  sigmoid: ([a]) => a!.sigmoid(),
  tanh: ([a]) => a!.tanh(),
  relu: ([a]) => F.relu(a!),
  maximum: ([a, b]) => a!.maximum(b!),
  minimum: ([a, b]) => a!.minimum(b!),
  reciprocal: ([a]) => a!.reciprocal(),
  square: ([a]) => a!.square(),
  floor: ([a]) => a!.floor(),
  round: ([a]) => a!.round(),
  eq: ([a, b]) => a!.eq(b!),
  gt_scalar: ([a]) => a!.gt(0.1),
  le: ([a, b]) => a!.le(b!),
  where: ([c, a, b]) => torch.where(c!, a!, b!),
  masked_fill: ([a, m]) => a!.maskedFill(m!, -1.0),
  sum_all: ([a]) => a!.sum(),
  sum_dim_keepdim: ([a]) => a!.sum([0, 2], { keepdim: true }),
  mean_dim: ([a]) => a!.mean(1),
  var_dim: ([a]) => a!.var(2),
  var_biased: ([a]) => a!.var(1, { unbiased: false, keepdim: true }),
  std_all: ([a]) => a!.std(),
  max_all: ([a]) => a!.max(),
  max_dim: ([a]) => vi(a!.max(1)),
  min_dim_keepdim: ([a]) => vi(a!.min(0, { keepdim: true })),
  argmax_dim: ([a]) => a!.argmax(1),
  argmax_all: ([a]) => a!.argmax(),
  norm_dim: ([a]) => a!.norm(2, 1),
  norm_p1_all: ([a]) => a!.norm(1),
  logsumexp: ([a]) => a!.logsumexp(1),
  cumsum: ([a]) => a!.cumsum(1),
  prod: ([a]) => a!.prod(),
  matmul: ([a, b]) => a!.matmul(b!),
  matmul_broadcast: ([a, b]) => a!.matmul(b!),
  mm: ([a, b]) => a!.mm(b!),
  bmm: ([a, b]) => a!.bmm(b!),
  t: ([a]) => a!.t(),
  topk: ([a]) => vi(a!.topk(2, { dim: 1 })),
  topk_smallest: ([a]) => vi(a!.topk(3, { dim: 0, largest: false })),
  sort: ([a]) => vi(a!.sort(1)),
  sort_desc: ([a]) => vi(a!.sort(0, { descending: true })),
  reshape: ([a]) => a!.reshape(2, 6),
  view_infer: ([a]) => a!.view([-1, 2]),
  permute: ([a]) => a!.permute(2, 0, 1),
  transpose: ([a]) => a!.transpose(0, 2),
  flatten: ([a]) => a!.flatten(1),
  squeeze: ([a]) => a!.squeeze(),
  squeeze_dim: ([a]) => a!.squeeze(1),
  unsqueeze: ([a]) => a!.unsqueeze(1),
  expand: ([a]) => a!.expand(3, 4),
  cat: ([a, b]) => torch.cat([a!, b!], 0),
  stack: ([a, b]) => torch.stack([a!, b!], 1),
  split: ([a]) => a!.split(2, 0),
  split_sizes: ([a]) => a!.split([1, 4], 0),
  chunk: ([a]) => a!.chunk(3, 0),
  narrow: ([a]) => a!.narrow(1, 1, 2),
  index_mixed: ([a, i]) => a!.index(0, slice(1, 3), i!),
  index_step: ([a]) => a!.index(slice(1, 6, 2)),
  index_bool: ([a, m]) => a!.index(m!),
  index_select: ([a, i]) => a!.indexSelect(0, i!),
  gather: ([a, i]) => a!.gather(1, i!),
  scatter: ([a, i, s]) => a!.scatter(1, i!, s!),
  scatter_value: ([a, i]) => a!.scatter(1, i!, 5.0),
  flip: ([a]) => a!.flip([0, 1]),
  repeat: ([a]) => a!.repeat(2, 1, 2),
  channels_last: ([a]) => {
    const cl = a!.contiguous({ memoryFormat: 'channelsLast' });
    assert.ok(cl.isContiguous('channelsLast') && !cl.isContiguous());
    return cl.mul(2);
  },
  conv2d: ([x, w, b]) => F.conv2d(x!, w!, { bias: b!, stride: 2, padding: 1 }),
  conv2d_dilation: ([x, w]) => F.conv2d(x!, w!, { dilation: 2, padding: 2 }),
  conv2d_groups: ([x, w]) => F.conv2d(x!, w!, { padding: 1, groups: 4 }),
  conv2d_same: ([x, w]) => F.conv2d(x!, w!, { padding: 'same' }),
  conv_transpose2d: ([x, w, b]) => F.convTranspose2d(x!, w!, { bias: b!, stride: 2, padding: 1, outputPadding: 1 }),
  conv_transpose2d_s1: ([x, w, b]) => F.convTranspose2d(x!, w!, { bias: b!, padding: 1 }),
  conv_transpose2d_s1_nopad: ([x, w]) => F.convTranspose2d(x!, w!),
  linear: ([x, w, b]) => F.linear(x!, w!, { bias: b! }),
  batch_norm_eval: ([x, rm, rv, w, b]) => F.batchNorm(x!, rm!, rv!, { weight: w!, bias: b!, training: false, eps: 1e-5 }),
  batch_norm_train: ([x, rm, rv, w, b]) => {
    const runMean = rm!.clone();
    const runVar = rv!.clone();
    const out = F.batchNorm(x!, runMean, runVar, { weight: w!, bias: b!, training: true, momentum: 0.2, eps: 1e-3 });
    return [out, runMean, runVar];
  },
  leaky_relu: ([a]) => F.leakyRelu(a!, { negativeSlope: 0.2 }),
  gelu: ([a]) => F.gelu(a!),
  gelu_tanh: ([a]) => F.gelu(a!, { approximate: 'tanh' }),
  max_pool2d: ([a]) => F.maxPool2d(a!, 2),
  max_pool2d_pad: ([a]) => F.maxPool2d(a!, 3, { stride: 2, padding: 1 }),
  avg_pool2d: ([a]) => F.avgPool2d(a!, 3, { stride: 2 }),
  avg_pool2d_pad: ([a]) => F.avgPool2d(a!, 3, { stride: 2, padding: 1, countIncludePad: false }),
  adaptive_avg_pool2d: ([a]) => F.adaptiveAvgPool2d(a!, 3),
  adaptive_avg_pool2d_1: ([a]) => F.adaptiveAvgPool2d(a!, 1),
  interpolate_nearest: ([a]) => F.interpolate(a!, { size: [6, 5], mode: 'nearest' }),
  interpolate_bilinear: ([a]) => F.interpolate(a!, { scaleFactor: 2, mode: 'bilinear', alignCorners: false }),
  interpolate_bilinear_ac: ([a]) => F.interpolate(a!, { size: 5, mode: 'bilinear', alignCorners: true }),
  softmax: ([a]) => F.softmax(a!, 1),
  log_softmax: ([a]) => F.logSoftmax(a!, 0),
  cross_entropy: ([a, y]) => F.crossEntropy(a!, y!),
  cross_entropy_sum_ignore: ([a, y]) => F.crossEntropy(a!, y!, { ignoreIndex: 2, reduction: 'sum' }),
  cross_entropy_smoothing: ([a, y]) => F.crossEntropy(a!, y!, { labelSmoothing: 0.1 }),
  cross_entropy_soft: ([a, p]) => F.crossEntropy(a!, p!.div(p!.sum(1, { keepdim: true }))),
  nll_loss: ([a, y]) => F.nllLoss(F.logSoftmax(a!, 1), y!),
  kl_div_batchmean: ([a, b]) => F.klDiv(F.logSoftmax(a!, 1), F.softmax(b!, 1), { reduction: 'batchmean' }),
  kl_div_log_target: ([a, b]) => F.klDiv(F.logSoftmax(a!, 1), F.logSoftmax(b!, 1), { reduction: 'sum', logTarget: true }),
  kl_div_none: ([a, b]) => F.klDiv(F.logSoftmax(a!, 1), F.softmax(b!, 1), { reduction: 'none' }),
  mse_loss: ([a, b]) => F.mseLoss(a!, b!),
  l1_loss: ([a, b]) => F.l1Loss(a!, b!),
  smooth_l1_loss: ([a, b]) => F.smoothL1Loss(a!, b!, { beta: 0.5 }),
  normalize: ([a]) => F.normalize(a!, { dim: 1 }),
  normalize_p1: ([a]) => F.normalize(a!, { p: 1, dim: 0 }),
  cosine_similarity: ([a, b]) => F.cosineSimilarity(a!, b!, { dim: 1 }),
  one_hot: ([y]) => F.oneHot(y!, 4),
  pad_constant: ([a]) => F.pad(a!, [1, 2, 0, 1], { value: 0.5 }),
  pad_reflect: ([a]) => F.pad(a!, [1, 1, 1, 1], { mode: 'reflect' }),
  random_seeded: () => {
    torch.manualSeed(7);
    return [torch.randn(2, 3), torch.rand(4), torch.randint(0, 10, [5]), torch.randperm(6)];
  },
  creation: () => [torch.arange(5), torch.arange(1, 2, 0.25), torch.linspace(-1, 1, 5), torch.eye(2, 3), torch.full([2, 2], 1.5)],
};

interface Case {
  inputs: Encoded[];
  outputs: Encoded[];
  grads?: (Encoded | null)[];
}
const { cases } = readFixture<{ cases: Record<string, Case> }>('ops.json');
const asList = (r: Tensor | Tensor[]): Tensor[] => (Array.isArray(r) ? r : [r]);

test('every fixture case has an implementation and vice versa', () => {
  assert.deepEqual(Object.keys(impls).sort(), Object.keys(cases).sort());
  assert.ok(Object.keys(cases).length >= 120);
});

for (const [name, c] of Object.entries(cases)) {
  test(`op ${name}: values${c.grads ? ' and gradients' : ''} equal PyTorch's`, () => {
    tidy(() => {
      const wantGrad = (c.grads ?? []).map((g) => g !== null);
      const inputs = c.inputs.map((e, i) => {
        const t = decode(e);
        return wantGrad[i] ? t.requiresGrad_() : t;
      });
      const outs = asList(impls[name]!(inputs));
      assert.equal(outs.length, c.outputs.length, 'number of outputs');
      outs.forEach((o, i) => assertClose(o, c.outputs[i]!, `${name} output ${i}`));
      if (c.grads) {
        outs[0]!.mul(cotangent(outs[0]!)).sum().backward();
        c.grads.forEach((g, i) => {
          if (g) assertClose(inputs[i]!.grad!, g, `${name} grad of input ${i}`, 1e-4, 1e-5);
        });
      }
    });
  });
}

test('gradients of every differentiable op match finite differences in float64', () => {
  let checked = 0;
  for (const [name, c] of Object.entries(cases)) {
    if (!c.grads) continue;
    const wrt = c.grads.flatMap((g, i) => (g ? [i] : []));
    tidy(() => {
      const inputs = c.inputs.map((e) => (e.dtype === 'float32' ? decode(e, 'float64') : decode(e)));
      gradcheck((xs) => asList(impls[name]!(xs))[0]!, inputs, wrt, name);
    });
    checked++;
  }
  assert.ok(checked >= 90, `only ${checked} differentiable ops checked`);
});
