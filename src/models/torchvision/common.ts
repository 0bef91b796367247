// Pieces shared by torchvision's classification networks, with torchvision's module names so that
// a torchvision state_dict() loads one to one: Conv2dNormActivation, SqueezeExcitation, the base
// class that replaces the classifier for fine-tuning.
import { Tensor, noGrad } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import type { Module, StateDictMismatch } from '../../nn/module.js';
import { BatchNorm2d, Conv2d, Layer, Linear, Sequential } from '../../nn/layers.js';
import { kaimingNormal_, normal_, zeros_, ones_ } from '../../nn/init.js';
import { Model, type ModelOptions } from '../model.js';

/** The options every torchvision network takes. */
export interface TorchvisionOptions extends ModelOptions {
  /** Dropout before the classifier (the architecture's default when omitted). */
  dropout?: number;
  /** Stochastic depth's largest drop probability (EfficientNet, ConvNeXt; their default when omitted). */
  stochasticDepthProb?: number;
}

/** torchvision's _make_divisible: the nearest multiple of `divisor`, never 10% below `v`. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let out = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

export type ActivationFactory = (() => Layer) | null;

/**
 * Conv2d, a norm layer, an activation, registered 0, 1, 2 as torchvision's Conv2dNormActivation
 * (padding (k - 1) / 2 * dilation; bias only without a norm layer).
 */
export class ConvNormActivation extends Sequential {
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: {
      stride?: number;
      groups?: number;
      dilation?: number;
      padding?: number;
      bias?: boolean;
      norm?: ((channels: number) => Layer) | null;
      activation?: ActivationFactory;
    } = {},
  ) {
    const { stride = 1, groups = 1, dilation = 1, norm = (c: number) => new BatchNorm2d(c), activation = null } = options;
    const padding = options.padding ?? Math.floor((kernelSize - 1) / 2) * dilation;
    const layers: Layer[] = [
      new Conv2d(inChannels, outChannels, kernelSize, { stride, padding, dilation, groups, bias: options.bias ?? !norm }),
    ];
    if (norm) layers.push(norm(outChannels));
    if (activation) layers.push(activation());
    super(...layers);
  }
}

/** Squeeze-and-excitation (Hu et al. 2018) as torchvision's: avgpool, fc1, activation, fc2, scale activation. */
export class SqueezeExcitation extends Layer {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  constructor(
    inputChannels: number,
    squeezeChannels: number,
    readonly activation: (x: Tensor) => Tensor = (x) => F.relu(x),
    readonly scaleActivation: (x: Tensor) => Tensor = (x) => x.sigmoid(),
  ) {
    super();
    this.fc1 = this.registerModule('fc1', new Conv2d(inputChannels, squeezeChannels, 1));
    this.fc2 = this.registerModule('fc2', new Conv2d(squeezeChannels, inputChannels, 1));
  }
  forward(x: Tensor): Tensor {
    const scale = this.scaleActivation(this.fc2.forward(this.activation(this.fc1.forward(F.adaptiveAvgPool2d(x, 1)))));
    return x.mul(scale);
  }
}

/** The result of loading a checkpoint whose classifier has another number of classes. */
export interface PretrainedLoad {
  missing: string[];
  unexpected: string[];
  /** The classifier's keys left at their fresh initialisation because the checkpoint's have another shape. */
  replaced: string[];
}

/** A torchvision architecture: the zoo's feature contract plus torchvision's key names. */
export abstract class TorchvisionModel extends Model {
  /** torchvision's builder name, e.g. resnet18. */
  abstract readonly architecture: string;
  /** Module paths of the classifier's layers whose shape depends on the number of classes. */
  abstract readonly classifierPaths: string[];

  /**
   * Loads a checkpoint (strictly by default). With `replaceClassifier`, a classifier whose shape
   * differs (a 1000-class ImageNet checkpoint for a 10-class fine-tune) keeps its fresh weights
   * and is reported in `replaced`; every other key must still be present with its shape.
   */
  override loadStateDict(
    state: Record<string, unknown>,
    options: { strict?: boolean; replaceClassifier?: boolean } = {},
  ): PretrainedLoad {
    const own = this.stateDict();
    const replaced: string[] = [];
    const kept: Record<string, unknown> = {};
    try {
      for (const [key, value] of Object.entries(state)) {
        const mine = own[key];
        const isHead = this.classifierPaths.some((p) => key.startsWith(`${p}.`));
        const differs = mine && value instanceof Tensor && value.shape.join(',') !== mine.shape.join(',');
        if (isHead && differs && !options.replaceClassifier) {
          throw new Error(
            `loadStateDict(torchvision.${this.architecture}): the checkpoint's classifier ${key} is [${(value as Tensor).shape.join(', ')}] but this network's is [${mine.shape.join(', ')}] (another number of classes); to fine-tune from it, load with { replaceClassifier: true } (config: pretrained)`,
          );
        }
        if (isHead && differs) {
          replaced.push(key);
          kept[key] = mine;
        } else kept[key] = value;
      }
    } finally {
      for (const [key, t] of Object.entries(own)) if (kept[key] !== t) t.dispose();
    }
    try {
      const result = super.loadStateDict(kept, { strict: options.strict });
      return { ...result, replaced };
    } catch (err) {
      const mismatch = err as StateDictMismatch;
      const wrapped = new Error(
        `${mismatch.message.replace(/check that the checkpoint was saved from the same architecture$/, '')}this is torchvision.${this.architecture}; a checkpoint of another architecture (or of a timm model) has other keys or shapes`,
        { cause: err },
      ) as StateDictMismatch;
      // The key lists travel with it, for the callers that print them.
      Object.assign(wrapped, { missing: mismatch.missing, unexpected: mismatch.unexpected, misshaped: mismatch.misshaped });
      throw wrapped;
    } finally {
      for (const key of replaced) (kept[key] as Tensor).dispose();
    }
  }
}

/** torchvision's usual initialisation: convolutions kaiming-normal (fan out), norms 1 and 0, linears N(0, 0.01). */
export function initConvNormLinear(net: Module, linear: 'normal' | 'uniform-out' | 'default' = 'normal'): void {
  noGrad(() => {
    for (const m of net.modules()) {
      if (m instanceof Conv2d) {
        kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof BatchNorm2d) {
        if (m.weight) ones_(m.weight);
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof Linear && linear !== 'default') {
        if (linear === 'normal') normal_(m.weight, 0, 0.01);
        else {
          const range = 1 / Math.sqrt(m.outFeatures);
          m.weight.uniform_(-range, range);
        }
        if (m.bias) zeros_(m.bias);
      }
    }
  });
}

/** Layers applied in order under the names given, as an nn.Sequential built from an OrderedDict. */
export class NamedSequential extends Layer {
  readonly layers: [string, Layer][];
  constructor(layers: [string, Layer][]) {
    super();
    this.layers = layers;
    for (const [name, layer] of layers) this.registerModule(name, layer);
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const [, layer] of this.layers) h = layer.forward(h);
    return h;
  }
}

/** torchvision.ops.misc.Permute. */
export class Permute extends Layer {
  constructor(readonly dims: number[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.permute(this.dims);
  }
}
