// The feature contract every model of the zoo follows (docs/methods.md):
// logits, the output of each stage, the same before its final ReLU, and the pooled vector.
import type { Tensor } from '../tensor/index.js';
import { Module } from '../nn/module.js';

export interface ModelOutput {
  logits: Tensor;
  /** Output of the stem and of each stage, shallow to deep. */
  feats: Tensor[];
  /** The same maps before the ReLU that ends each stage (pre-activation). */
  preactFeats: Tensor[];
  /** The vector given to the classifier. */
  pooled: Tensor;
  /** The map global-average-pooled into `pooled` (the classifier applied to it gives class activation maps). */
  pooledMap: Tensor;
}

/** Any network distill-ts trains: a Module whose forward(x) returns the logits, or a zoo model's richer output. */
export type Network = Module & { forward(x: Tensor): Tensor | ModelOutput };

export interface ModelOptions {
  numClasses?: number;
  inChannels?: number;
}

export abstract class Model extends Module {
  /** Channels of each entry of `feats`. */
  abstract readonly featChannels: number[];
  /** Length of `pooled`. */
  abstract readonly pooledDim: number;
  abstract forward(x: Tensor): ModelOutput;

  /**
   * Module paths of the BatchNorm whose output feeds each stage's final ReLU, one per entry of
   * `feats` after the stem (mdistiller's get_bn_before_relu; OFD's margins). Null where the
   * family has none (mdistiller refuses ShuffleNet teachers the same way).
   */
  batchNormsBeforeRelu(): string[] | null {
    return null;
  }

  /** Channels of the input image: those of the stem convolution. */
  get inChannels(): number {
    return inputChannels(this);
  }
}

/** Channels of a network's input: those of its first 4-D parameter (the stem convolution). */
export function inputChannels(net: Module): number {
  for (const p of net.parameters()) if (p.ndim === 4) return p.shape[1]!;
  throw new Error(`${net.constructor.name}: no convolution to infer the input channels from`);
}

/** The output of a stage and, for feature methods, the same before its final ReLU. */
export interface StageOutput {
  out: Tensor;
  preact: Tensor;
}

/** Runs stages in order from the stem's output: the contract's feats and preactFeats, and the last map. */
export function runStages(
  f0: Tensor,
  stages: { forward(x: Tensor): StageOutput }[],
): { feats: Tensor[]; preactFeats: Tensor[]; last: Tensor } {
  const feats = [f0];
  const preactFeats = [f0];
  let h = f0;
  for (const stage of stages) {
    const r = stage.forward(h);
    feats.push(r.out);
    preactFeats.push(r.preact);
    h = r.out;
  }
  return { feats, preactFeats, last: h };
}
