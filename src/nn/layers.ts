// The layers of torch.nn with PyTorch's parameter names, shapes and default initialisation.
import {
  Tensor,
  cat,
  empty,
  full,
  isAutocastEnabled,
  isGradEnabled,
  keep,
  noGrad,
  ones,
  opsObserved,
  rand,
  sequence,
  tidy,
  zeros,
  tensor,
  winogradAvailable,
  winogradTrain,
  type DType,
} from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from './module.js';
import { fanInOut, kaimingUniform_, uniform_, xavierUniform_ } from './init.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** A module with one input and one output: what Sequential chains. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;
}

/** PyTorch's reset_parameters for Conv and Linear: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), ..). */
function resetLinearLike(weight: Tensor, bias: Tensor | null, fanInFromWeight = true): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const [fanIn] = fanInOut(weight);
    const bound = fanIn > 0 && fanInFromWeight ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}

/** Layers with a `weight` and an optional `bias`, initialised as PyTorch's Conv and Linear. */
abstract class WeightBiasLayer extends Layer {
  protected initWeightBias(weightShape: number[], biasSize: number, bias: boolean, dtype?: DType, device?: string): void {
    const w = this.registerParameter('weight', empty(weightShape, { dtype, device }));
    const b = this.registerParameter('bias', bias ? empty([biasSize], { dtype, device }) : null);
    resetLinearLike(w, b);
  }
  get weight(): Tensor {
    return this.param('weight')!;
  }
  get bias(): Tensor | null {
    return this.param('bias');
  }
}

/**
 * The tensors a derived value (folded weights) was computed from, by identity and
 * libtorch's version counter: `changed` says whether one was replaced or modified in place since.
 */
class Sources {
  private tensors: (Tensor | null)[] = [];
  private versions: number[] = [];

  changed(tensors: (Tensor | null)[]): boolean {
    return (
      tensors.length !== this.tensors.length ||
      tensors.some((t, i) => t !== this.tensors[i] || (t?._version() ?? -1) !== this.versions[i])
    );
  }
  record(tensors: (Tensor | null)[]): void {
    this.tensors = tensors;
    this.versions = tensors.map((t) => t?._version() ?? -1);
  }
  forget(): void {
    this.tensors = [];
    this.versions = [];
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
  device?: string;
}
export class Conv2d extends WeightBiasLayer {
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, dtype, device } = options;
    if (inChannels % groups || outChannels % groups) {
      throw new Error(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`,
      );
    }
    this.stride = pair(stride);
    this.padding = typeof padding === 'string' ? padding : pair(padding);
    this.dilation = pair(dilation);
    this.groups = groups;
    const [kh, kw] = pair(kernelSize);
    this.initWeightBias([outChannels, inChannels / groups, kh, kw], outChannels, bias, dtype, device);
  }
  private folded: FoldedBatchNorm | null = null;

  /**
   * Folds `bn` (an eval-mode BatchNorm that reads this convolution's output) into this
   * convolution's weight and bias while both are in eval mode with frozen parameters; null undoes
   * it. Used by nn.foldBatchNorm, which checks that the pair reads as assumed.
   */
  foldBatchNorm(bn: BatchNorm2d | null): void {
    // Folding the same pair again (a teacher shared by several distillers) keeps the folded weights.
    if (bn && this.folded?.bn === bn) return;
    if (this.folded) {
      this.folded.bn.foldedInto = null;
      this.folded.release();
    }
    this.folded = bn ? new FoldedBatchNorm(this, bn) : null;
    if (bn) bn.foldedInto = this;
  }

  /**
   * Which convolution algorithm runs: 'direct' (libtorch's: the default), 'winograd' (oneDNN's
   * F(4x4, 3x3) kernels wherever they apply) or 'auto' (Winograd where it pays: winogradPays).
   * Winograd applies to float32 3x3 convolutions on the CPU outside autocast; everything else
   * runs direct. In training, forward, backward-data and backward-weights all run Winograd. Its results differ
   * from direct's by rounding (~1e-6 relative), as cuDNN's algorithm choice does on a GPU.
   * nn.setConvAlgorithm sets it on a network.
   */
  algorithm: ConvAlgorithm = 'direct';

  forward(x: Tensor): Tensor {
    const folded = this.folded?.active() ? this.folded.current() : null;
    const weight = folded?.weight ?? this.weight;
    const bias = folded ? folded.bias : this.bias;
    const fast = this.algorithm === 'direct' ? null : this.winogradForward(x, weight, bias);
    return (
      fast ??
      F.conv2d(x, weight, { bias, stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups })
    );
  }

  /** The Winograd convolution of x, or null where it does not apply (then the direct one runs). */
  private winogradForward(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor | null {
    const { padding, dilation } = this;
    if (typeof padding === 'string' || this.groups !== 1 || dilation[0] !== 1 || dilation[1] !== 1) return null;
    if (weight.shape[2] !== 3 || weight.shape[3] !== 3 || x.ndim !== 4 || x.dtype !== 'float32' || x.device !== 'cpu')
      return null;
    // Under autocast the convolution runs in reduced precision; a trace (ONNX export) must see it.
    if (isAutocastEnabled('cpu') || opsObserved() || !winogradAvailable()) return null;
    if (this.algorithm === 'auto') {
      // Frozen here (nothing asks for its gradients): only the forward's time counts.
      const training = isGradEnabled() && (x.requiresGrad || weight.requiresGrad);
      if (!winogradPays(this.inChannels, this.outChannels, training)) return null;
    }
    // Frozen or not, the weights are transformed by each call, not packed once and kept: packed
    // kernels hold 4x the weights (resnet32x4's: 120 MB) for 0-14% of a layer's time (npm run
    // bench:winograd, "packed" column) and no measurable part of a whole teacher or a KD step.
    return winogradTrain(x, weight, bias, this.stride, padding);
  }

  override releaseDerived(): void {
    this.folded?.release();
  }
}

export type ConvAlgorithm = 'direct' | 'winograd' | 'auto';

/**
 * Whether oneDNN's Winograd kernels beat its direct ones on a 3x3 convolution: measured on the
 * CIFAR networks' shapes (npm run bench:winograd) at 1 and 2 threads, with the reorders to and from
 * its blocked layout counted. In training (forward + backward) they do with 64 or more output
 * channels from 32 or more input channels (1.5x at 32x32, 1.5-1.75x at 16x16, up to 2.2x at 8x8);
 * 32 -> 32 ties (1.03-1.06x) and 16 -> 32 loses. Frozen (the forward alone: a teacher), 32 -> 32
 * pays too (1.19-1.31x at 32x32, a third of wrn_40_2's arithmetic); 16 -> 32 still loses.
 */
export function winogradPays(inChannels: number, outChannels: number, training = true): boolean {
  return inChannels >= 32 && outChannels >= (training ? 64 : 32);
}

export class ConvTranspose2d extends WeightBiasLayer {
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Omit<Conv2dOptions, 'padding'> & { padding?: Pair; outputPadding?: Pair } = {},
  ) {
    super();
    const { stride = 1, padding = 0, outputPadding = 0, dilation = 1, groups = 1, bias = true, dtype, device } = options;
    this.stride = pair(stride);
    this.padding = pair(padding);
    this.outputPadding = pair(outputPadding);
    this.dilation = pair(dilation);
    this.groups = groups;
    const [kh, kw] = pair(kernelSize);
    // PyTorch's transposed weight layout: [in, out / groups, kh, kw].
    this.initWeightBias([inChannels, outChannels / groups, kh, kw], outChannels, bias, dtype, device);
  }
  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, {
      bias: this.bias,
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      groups: this.groups,
      dilation: this.dilation,
    });
  }
}

export class Linear extends WeightBiasLayer {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean; dtype?: DType; device?: string } = {},
  ) {
    super();
    const { bias = true, dtype, device } = options;
    this.initWeightBias([outFeatures, inFeatures], outFeatures, bias, dtype, device);
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, { bias: this.bias });
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** null: cumulative moving average, as PyTorch's momentum=None. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  dtype?: DType;
  device?: string;
}
/** A BatchNorm folded into a convolution: W·s and (b − μ)·s + β with s = γ / √(σ² + ε). */
class FoldedBatchNorm {
  private weight: Tensor | null = null;
  private bias: Tensor | null = null;
  private readonly sources = new Sources();

  constructor(
    readonly conv: Conv2d,
    readonly bn: BatchNorm2d,
  ) {}

  active(): boolean {
    return !this.conv.training && !this.bn.training && !this.conv.weight.requiresGrad;
  }

  /** The folded weight and bias, recomputed when a source tensor was replaced or changed in place. */
  current(): { weight: Tensor; bias: Tensor } {
    const sources = [this.conv.weight, this.conv.bias, this.bn.weight, this.bn.bias, this.bn.runningMean, this.bn.runningVar];
    if (this.sources.changed(sources) || !this.weight || !this.bias) {
      this.release();
      noGrad(() =>
        tidy(() => {
          const { conv, bn } = this;
          let scale = bn.runningVar!.add(bn.eps).rsqrt();
          if (bn.weight) scale = scale.mul(bn.weight);
          const shift = (conv.bias ? conv.bias.sub(bn.runningMean!) : bn.runningMean!.neg()).mul(scale);
          this.weight = keep(conv.weight.mul(scale.view([-1, 1, 1, 1])));
          this.bias = keep(bn.bias ? shift.add(bn.bias) : shift);
        }),
      );
      this.sources.record(sources);
    }
    return { weight: this.weight!, bias: this.bias! };
  }

  release(): void {
    this.weight?.dispose();
    this.bias?.dispose();
    this.weight = this.bias = null;
    this.sources.forget();
  }
}

/**
 * Sums a tensor over the processes of a data-parallel group, differentiably (the gradient is the
 * sum of every process's gradient): what SyncBatchNorm needs from a process group.
 */
export interface CrossReplicaSum {
  readonly worldSize: number;
  allReduceDifferentiable(t: Tensor): Tensor;
}

abstract class BatchNormBase extends Layer {
  readonly eps: number;
  readonly momentum: number | null;
  /**
   * Set (by distributed.convertSyncBatchNorm): training batches are normalised with the
   * statistics of the global batch across the group's processes, as torch.nn.SyncBatchNorm.
   */
  syncGroup: CrossReplicaSum | null = null;
  /** Set by Conv2d.foldBatchNorm: in eval mode the convolution applies this normalisation. */
  foldedInto: Conv2d | null = null;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true, dtype, device } = options;
    this.eps = eps;
    this.momentum = momentum;
    this.registerParameter('weight', affine ? ones([numFeatures], { dtype, device }) : null);
    this.registerParameter('bias', affine ? zeros([numFeatures], { dtype, device }) : null);
    this.registerBuffer('running_mean', trackRunningStats ? zeros([numFeatures], { dtype, device }) : null);
    this.registerBuffer('running_var', trackRunningStats ? ones([numFeatures], { dtype, device }) : null);
    this.registerBuffer('num_batches_tracked', trackRunningStats ? tensor(new BigInt64Array(1), [], { device }) : null);
  }
  protected abstract checkInput(x: Tensor): void;
  get weight(): Tensor | null {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.param('bias');
  }
  get runningMean(): Tensor | null {
    return this.buffer('running_mean');
  }
  get runningVar(): Tensor | null {
    return this.buffer('running_var');
  }
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    if (this.foldedInto && !this.training && !this.foldedInto.training && !this.foldedInto.weight.requiresGrad) return x;
    const runningMean = this.runningMean;
    let momentum = this.momentum ?? 0;
    if (this.training && runningMean) {
      const tracked = this.buffer('num_batches_tracked')!;
      tracked.add_(1);
      if (this.momentum === null) momentum = 1 / tracked.item();
    }
    const useBatchStats = this.training || !runningMean;
    if (this.training && this.syncGroup && this.syncGroup.worldSize > 1) return this.syncedForward(x, momentum, this.syncGroup);
    return F.batchNorm(x, runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum,
      eps: this.eps,
    });
  }

  /**
   * The global batch's mean and biased variance from two differentiable sums across processes
   * (the second around the global mean, so that float32 keeps its precision); running statistics
   * take the unbiased variance over the global count, as SyncBatchNorm.
   */
  private syncedForward(x: Tensor, momentum: number, group: CrossReplicaSum): Tensor {
    const dims = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    const channels = x.shape[1]!;
    const local = x.numel() / channels;
    const view = [1, channels, ...Array<number>(x.ndim - 2).fill(1)];
    const sums = group.allReduceDifferentiable(cat([x.sum(dims), full([1], local, { dtype: x.dtype, device: x.device })]));
    const count = sums.narrow(0, channels, 1);
    const mean = sums.narrow(0, 0, channels).div(count);
    const centred = x.sub(mean.view(view));
    const variance = group.allReduceDifferentiable(centred.mul(centred).sum(dims)).div(count);
    let y = centred.mul(variance.add(this.eps).rsqrt().view(view));
    if (this.weight) y = y.mul(this.weight.view(view));
    if (this.bias) y = y.add(this.bias.view(view));
    const runningMean = this.runningMean;
    const runningVar = this.runningVar;
    if (runningMean && runningVar) {
      const n = count.item();
      noGrad(() => {
        runningMean.mul_(1 - momentum).add_(mean.detach().mul(momentum));
        runningVar.mul_(1 - momentum).add_(variance.detach().mul((momentum * n) / Math.max(n - 1, 1)));
      });
    }
    return y;
  }
}
export class BatchNorm2d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d: expected a 4D input [N, C, H, W], got [${x.shape.join(', ')}]`);
  }
}
export class BatchNorm1d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new Error(`BatchNorm1d: expected a 2D or 3D input, got [${x.shape.join(', ')}]`);
  }
}

export class ReLU extends Layer {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}
export class ReLU6 extends Layer {
  forward(x: Tensor): Tensor {
    return F.relu6(x);
  }
}
export class GELU extends Layer {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}
export class SiLU extends Layer {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}
export class Hardswish extends Layer {
  forward(x: Tensor): Tensor {
    return F.hardswish(x);
  }
}
export class Hardsigmoid extends Layer {
  forward(x: Tensor): Tensor {
    return F.hardsigmoid(x);
  }
}
export class Sigmoid extends Layer {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}

/** Normalises over the trailing dimensions `normalizedShape` with a per-element affine, as nn.LayerNorm. */
export class LayerNorm extends Layer {
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean; dtype?: DType; device?: string } = {},
  ) {
    super();
    const { elementwiseAffine = true, dtype, device } = options;
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.registerParameter('weight', elementwiseAffine ? ones(this.normalizedShape, { dtype, device }) : null);
    this.registerParameter('bias', elementwiseAffine ? zeros(this.normalizedShape, { dtype, device }) : null);
  }
  get eps(): number {
    return this.options.eps ?? 1e-5;
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, { weight: this.param('weight'), bias: this.param('bias'), eps: this.eps });
  }
}

/**
 * Randomly drops a residual branch per sample while training (Huang et al. 2016), torchvision's
 * StochasticDepth(p, 'row'): survivors are scaled by 1 / (1 - p); identity in eval or at p = 0.
 */
export class StochasticDepth extends Layer {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`StochasticDepth: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const survival = 1 - this.p;
    const shape = [x.shape[0]!, ...Array<number>(x.ndim - 1).fill(1)];
    const noise = rand(shape, { dtype: x.dtype, device: x.device }).lt(survival).to(x.dtype);
    return x.mul(survival > 0 ? noise.div(survival) : noise);
  }
}

/**
 * Self- or cross-attention with PyTorch's parameters (`in_proj_weight`, `in_proj_bias`,
 * `out_proj`), batch first: inputs [N, L, E]. Softmax(q k^T / sqrt(head dim)) v per head.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly outProj: Linear;
  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly options: { dropout?: number; dtype?: DType; device?: string } = {},
  ) {
    super();
    if (embedDim % numHeads)
      throw new Error(`MultiheadAttention: embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.headDim = embedDim / numHeads;
    const { dtype, device } = options;
    xavierUniform_(this.registerParameter('in_proj_weight', empty([3 * embedDim, embedDim], { dtype, device })));
    this.registerParameter('in_proj_bias', zeros([3 * embedDim], { dtype, device }));
    this.outProj = this.registerModule('out_proj', new Linear(embedDim, embedDim, { dtype, device }));
    noGrad(() => this.outProj.bias!.zero_());
  }
  forward(query: Tensor, key: Tensor = query, value: Tensor = key): Tensor {
    const [n, l, e] = query.shape as [number, number, number];
    const w = this.param('in_proj_weight')!;
    const b = this.param('in_proj_bias')!;
    const heads = (t: Tensor) => t.reshape(n, -1, this.numHeads, this.headDim).transpose(1, 2);
    let q: Tensor, k: Tensor, v: Tensor;
    if (query === key && key === value) {
      // One projection, split by narrows (single-output ops: the module exports to ONNX).
      const qkv = F.linear(query, w, { bias: b });
      [q, k, v] = [0, 1, 2].map((i) => qkv.narrow(-1, i * e, e)) as [Tensor, Tensor, Tensor];
    } else {
      const [wq, wk, wv] = w.chunk(3, 0) as [Tensor, Tensor, Tensor];
      const [bq, bk, bv] = b.chunk(3, 0) as [Tensor, Tensor, Tensor];
      q = F.linear(query, wq, { bias: bq });
      k = F.linear(key, wk, { bias: bk });
      v = F.linear(value, wv, { bias: bv });
    }
    let attn = F.softmax(heads(q).div(Math.sqrt(this.headDim)).matmul(heads(k).transpose(-2, -1)), -1);
    if (this.options.dropout) attn = F.dropout(attn, { p: this.options.dropout, training: this.training });
    const out = attn.matmul(heads(v)).transpose(1, 2).reshape(n, l, e);
    return this.outProj.forward(out);
  }
}

export class LeakyReLU extends Layer {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, { negativeSlope: this.negativeSlope });
  }
}
export class MaxPool2d extends Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.options);
  }
}
export class AvgPool2d extends Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.options);
  }
}
export class AdaptiveAvgPool2d extends Layer {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}
export class Dropout extends Layer {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new Error(`Dropout: probability must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, { p: this.p, training: this.training });
  }
}
export class Flatten extends Layer {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}
export class Identity extends Layer {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Layers applied in order; children are named 0, 1, 2 ... as in PyTorch. */
export class Sequential extends Layer {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): Layer {
    return this.layers[i < 0 ? i + this.layers.length : i]!;
  }
  forward(x: Tensor): Tensor {
    // Each layer's output is freed once the next layer has run (scope.ts sequence), as in PyTorch.
    return sequence(
      x,
      this.layers.map((layer) => (h: Tensor) => layer.forward(h)),
    );
  }
}

/** A list of modules registered as 0, 1, 2 ... */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i < 0 ? i + this.items.length : i]!;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** Modules by name. */
export class ModuleDict<M extends Module = Module> extends Module {
  readonly entries = new Map<string, M>();
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  set(name: string, m: M): this {
    this.registerModule(name, m);
    this.entries.set(name, m);
    return this;
  }
  get(name: string): M {
    const m = this.entries.get(name);
    if (!m) throw new Error(`ModuleDict: no module '${name}'; have ${[...this.entries.keys()].join(', ')}`);
    return m;
  }
}
