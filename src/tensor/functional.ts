// torch.nn.functional in camelCase: tensors positional, then PyTorch's keyword options.
import { op } from './ops.js';
import { Tensor, optDtype } from './tensor.js';
import type { DType } from './dtype.js';

export type Reduction = 'none' | 'mean' | 'sum';
const reductionCode = (r: Reduction | undefined, name: string): number => {
  const code = { none: 0, mean: 1, sum: 2 }[r ?? 'mean'];
  if (code === undefined) throw new Error(`${name}: unknown reduction '${String(r)}'; expected none, mean or sum`);
  return code;
};

type Pair = number | [number, number];

const O = {
  conv2d: op('aten::conv2d'),
  conv2dPadding: op('aten::conv2d', 'padding'),
  convTranspose2d: op('aten::conv_transpose2d', 'input'),
  linear: op('aten::linear'),
  batchNorm: op('aten::batch_norm'),
  relu: op('aten::relu'),
  relu_: op('aten::relu_'),
  leakyRelu: op('aten::leaky_relu'),
  gelu: op('aten::gelu'),
  silu: op('aten::silu'),
  hardswish: op('aten::hardswish'),
  hardsigmoid: op('aten::hardsigmoid'),
  hardtanh: op('aten::hardtanh'),
  layerNorm: op('aten::layer_norm'),
  maxPool2d: op('aten::max_pool2d'),
  avgPool2d: op('aten::avg_pool2d'),
  adaptiveAvgPool2d: op('aten::adaptive_avg_pool2d'),
  dropout: op('aten::dropout'),
  upsampleNearest: op('aten::upsample_nearest2d', 'vec'),
  upsampleBilinear: op('aten::upsample_bilinear2d', 'vec'),
  softmax: op('aten::softmax', 'int'),
  logSoftmax: op('aten::log_softmax', 'int'),
  crossEntropy: op('aten::cross_entropy_loss'),
  nllLoss: op('aten::nll_loss_nd'),
  klDiv: op('aten::kl_div'),
  mseLoss: op('aten::mse_loss'),
  l1Loss: op('aten::l1_loss'),
  smoothL1Loss: op('aten::smooth_l1_loss'),
  cosineSimilarity: op('aten::cosine_similarity'),
  oneHot: op('aten::one_hot'),
  pad: op('aten::pad'),
  norm: op('aten::linalg_vector_norm'),
  clampMin: op('aten::clamp_min'),
  div: op('aten::div', 'Tensor'),
  expandAs: op('aten::expand_as'),
};

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
}
export function conv2d(input: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  const { bias = null, stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  if (typeof padding === 'string')
    return O.conv2dPadding.call([input, weight, bias, stride, padding, dilation, groups]) as Tensor;
  return O.conv2d.call([input, weight, bias, stride, padding, dilation, groups]) as Tensor;
}

export interface ConvTranspose2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  padding?: Pair;
  outputPadding?: Pair;
  groups?: number;
  dilation?: Pair;
}
export function convTranspose2d(input: Tensor, weight: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const { bias = null, stride = 1, padding = 0, outputPadding = 0, groups = 1, dilation = 1 } = options;
  const ones = (v: Pair) => (typeof v === 'number' ? v === 1 : v[0] === 1 && v[1] === 1);
  const zeros = (v: Pair) => (typeof v === 'number' ? v === 0 : v[0] === 0 && v[1] === 0);
  const [kh, kw] = [weight.shape[2]!, weight.shape[3]!];
  const [ph, pw] = typeof padding === 'number' ? [padding, padding] : padding;
  if (
    ones(stride) &&
    ones(dilation) &&
    zeros(outputPadding) &&
    groups === 1 &&
    ph <= kh - 1 &&
    pw <= kw - 1 &&
    input.ndim === 4
  ) {
    // Stride 1: a transposed convolution is the convolution with the flipped, transposed kernel.
    // libtorch's CPU transposed convolution is ~80x slower than its convolution here (FT's paraphraser).
    const flipped = weight.transpose(0, 1).flip([2, 3]);
    const out = O.conv2d.call([input, flipped, bias, 1, [kh - 1 - ph, kw - 1 - pw], 1, 1]) as Tensor;
    flipped.dispose();
    return out;
  }
  return O.convTranspose2d.call([input, weight, bias, stride, padding, outputPadding, groups, dilation]) as Tensor;
}

export function linear(input: Tensor, weight: Tensor, options: { bias?: Tensor | null } = {}): Tensor {
  return O.linear.call([input, weight, options.bias ?? null]) as Tensor;
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
}
/** Normalises over the batch (training, updating the running stats in place) or with the running stats (eval). */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options;
  return O.batchNorm.call([input, weight, bias, runningMean, runningVar, training, momentum, eps, true]) as Tensor;
}

export function relu(input: Tensor, options: { inplace?: boolean } = {}): Tensor {
  if (options.inplace) {
    O.relu_.inplace([input]);
    return input;
  }
  return O.relu.call([input]) as Tensor;
}
export function leakyRelu(input: Tensor, options: { negativeSlope?: number } = {}): Tensor {
  return O.leakyRelu.call([input, options.negativeSlope ?? 0.01]) as Tensor;
}
export function gelu(input: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  return O.gelu.call([input, options.approximate ?? 'none']) as Tensor;
}

/** x * sigmoid(x) (swish). */
export function silu(input: Tensor): Tensor {
  return O.silu.call([input]) as Tensor;
}
/** x * relu6(x + 3) / 6, MobileNetV3's activation. */
export function hardswish(input: Tensor): Tensor {
  return O.hardswish.call([input]) as Tensor;
}
/** relu6(x + 3) / 6. */
export function hardsigmoid(input: Tensor): Tensor {
  return O.hardsigmoid.call([input]) as Tensor;
}
/** min(max(x, 0), 6), MobileNetV2's activation. */
export function relu6(input: Tensor): Tensor {
  return O.hardtanh.call([input, 0, 6]) as Tensor;
}
/** Normalises over the trailing `normalizedShape` dimensions, as F.layer_norm. */
export function layerNorm(
  input: Tensor,
  normalizedShape: number[],
  options: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {},
): Tensor {
  const { weight = null, bias = null, eps = 1e-5 } = options;
  return O.layerNorm.call([input, normalizedShape, weight, bias, eps, true]) as Tensor;
}

export interface Pool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  ceilMode?: boolean;
}
export function maxPool2d(input: Tensor, kernelSize: Pair, options: Pool2dOptions & { dilation?: Pair } = {}): Tensor {
  const { stride = null, padding = 0, dilation = 1, ceilMode = false } = options;
  return O.maxPool2d.call([input, kernelSize, stride ?? [], padding, dilation, ceilMode]) as Tensor;
}
export function avgPool2d(
  input: Tensor,
  kernelSize: Pair,
  options: Pool2dOptions & { countIncludePad?: boolean; divisorOverride?: number | null } = {},
): Tensor {
  const { stride = null, padding = 0, ceilMode = false, countIncludePad = true, divisorOverride = null } = options;
  return O.avgPool2d.call([input, kernelSize, stride ?? [], padding, ceilMode, countIncludePad, divisorOverride]) as Tensor;
}
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return O.adaptiveAvgPool2d.call([input, outputSize]) as Tensor;
}

export function dropout(input: Tensor, options: { p?: number; training?: boolean } = {}): Tensor {
  const { p = 0.5, training = true } = options;
  if (p < 0 || p > 1) throw new Error(`dropout: probability must be in [0, 1], got ${p}`);
  return O.dropout.call([input, p, training]) as Tensor;
}

export interface InterpolateOptions {
  size?: Pair;
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}
export function interpolate(input: Tensor, options: InterpolateOptions): Tensor {
  const { size, scaleFactor, mode = 'nearest', alignCorners = false } = options;
  if ((size === undefined) === (scaleFactor === undefined))
    throw new Error('interpolate: give exactly one of size and scaleFactor');
  const outputSize = size === undefined ? null : typeof size === 'number' ? [size, size] : size;
  const scales = scaleFactor === undefined ? null : typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor;
  if (mode === 'nearest') return O.upsampleNearest.call([input, outputSize, scales]) as Tensor;
  if (mode === 'bilinear') return O.upsampleBilinear.call([input, outputSize, alignCorners, scales]) as Tensor;
  throw new Error(`interpolate: unknown mode '${String(mode)}'; expected nearest or bilinear`);
}

export function softmax(input: Tensor, dim: number, options: { dtype?: DType } = {}): Tensor {
  return O.softmax.call([input, dim, optDtype(options.dtype)]) as Tensor;
}
export function logSoftmax(input: Tensor, dim: number, options: { dtype?: DType } = {}): Tensor {
  return O.logSoftmax.call([input, dim, optDtype(options.dtype)]) as Tensor;
}

export interface CrossEntropyOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}
/** Cross entropy from logits; `target` holds class indices (int64) or class probabilities. */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { weight = null, ignoreIndex = -100, reduction, labelSmoothing = 0 } = options;
  return O.crossEntropy.call([
    input,
    target,
    weight,
    reductionCode(reduction, 'crossEntropy'),
    ignoreIndex,
    labelSmoothing,
  ]) as Tensor;
}
export function nllLoss(input: Tensor, target: Tensor, options: Omit<CrossEntropyOptions, 'labelSmoothing'> = {}): Tensor {
  const { weight = null, ignoreIndex = -100, reduction } = options;
  return O.nllLoss.call([input, target, weight, reductionCode(reduction, 'nllLoss'), ignoreIndex]) as Tensor;
}

/** KL divergence with `input` in log-space, as F.kl_div; 'batchmean' divides the sum by the batch size. */
export function klDiv(
  input: Tensor,
  target: Tensor,
  options: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {},
): Tensor {
  const { reduction = 'mean', logTarget = false } = options;
  if (reduction === 'batchmean') {
    const total = O.klDiv.call([input, target, 2, logTarget]) as Tensor;
    const out = total.div(input.ndim > 0 ? input.shape[0]! : 1);
    total.dispose();
    return out;
  }
  return O.klDiv.call([input, target, reductionCode(reduction, 'klDiv'), logTarget]) as Tensor;
}
export function mseLoss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  return O.mseLoss.call([input, target, reductionCode(options.reduction, 'mseLoss')]) as Tensor;
}
export function l1Loss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  return O.l1Loss.call([input, target, reductionCode(options.reduction, 'l1Loss')]) as Tensor;
}
export function smoothL1Loss(input: Tensor, target: Tensor, options: { reduction?: Reduction; beta?: number } = {}): Tensor {
  return O.smoothL1Loss.call([input, target, reductionCode(options.reduction, 'smoothL1Loss'), options.beta ?? 1]) as Tensor;
}

/** x / max(||x||_p, eps) along dim, as F.normalize. */
export function normalize(input: Tensor, options: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const { p = 2, dim = 1, eps = 1e-12 } = options;
  const norm = O.norm.call([input, p, [dim], true]) as Tensor;
  const clamped = O.clampMin.call([norm, eps]) as Tensor;
  const denom = O.expandAs.call([clamped, input]) as Tensor;
  const out = O.div.call([input, denom]) as Tensor;
  norm.dispose();
  clamped.dispose();
  denom.dispose();
  return out;
}
export function cosineSimilarity(x1: Tensor, x2: Tensor, options: { dim?: number; eps?: number } = {}): Tensor {
  return O.cosineSimilarity.call([x1, x2, options.dim ?? 1, options.eps ?? 1e-8]) as Tensor;
}
export function oneHot(input: Tensor, numClasses = -1): Tensor {
  return O.oneHot.call([input, numClasses]) as Tensor;
}
/** Pads the last dimensions: `pad` lists (left, right, top, bottom, ...) as F.pad. */
export function pad(
  input: Tensor,
  padding: number[],
  options: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number } = {},
): Tensor {
  return O.pad.call([input, padding, options.mode ?? 'constant', options.value ?? null]) as Tensor;
}
