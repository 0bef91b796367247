// torchvision's MobileNetV2 (Sandler et al. 2018) and MobileNetV3 small/large (Howard et al. 2019).
import type { Tensor } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import { BatchNorm2d, Conv2d, Dropout, Hardswish, Layer, Linear, ReLU, ReLU6, Sequential } from '../../nn/layers.js';
import type { ModelOutput } from '../model.js';
import {
  ConvNormActivation,
  SqueezeExcitation,
  TorchvisionModel,
  initConvNormLinear,
  makeDivisible,
  type TorchvisionOptions,
} from './common.js';

/**
 * Runs `features` (an nn.Sequential) and keeps the output of the layers listed in `taps`: the
 * stage ends of these networks, whose blocks end linearly (so the pre-activation is the output).
 */
export function tappedForward(features: Sequential, x: Tensor, taps: number[]): { feats: Tensor[]; last: Tensor } {
  const feats: Tensor[] = [];
  let h = x;
  features.layers.forEach((layer, i) => {
    h = layer.forward(h);
    if (taps.includes(i)) feats.push(h);
  });
  return { feats, last: h };
}

/** Indices of the layers after which the spatial size halves next (each stride's last layer), from strides. */
export function stageEnds(strides: number[]): number[] {
  const ends: number[] = [];
  strides.forEach((s, i) => {
    if (i > 0 && s > 1) ends.push(i - 1);
  });
  ends.push(strides.length - 1);
  return ends;
}

/**
 * torchvision's features -> global average pool -> classifier networks (MobileNets,
 * EfficientNets): `feats` are the outputs of the `features` layers at `taps`.
 */
export abstract class FeaturesClassifier extends TorchvisionModel {
  abstract readonly features: Sequential;
  abstract readonly classifier: Sequential;
  protected abstract readonly taps: number[];

  forward(x: Tensor): ModelOutput {
    const { feats, last } = tappedForward(this.features, x, this.taps);
    const pooled = F.adaptiveAvgPool2d(last, 1).flatten(1);
    return { logits: this.classifier.forward(pooled), feats, preactFeats: feats, pooled, pooledMap: last };
  }
}

class InvertedResidualV2 extends Layer {
  readonly conv: Sequential;
  readonly useResidual: boolean;
  constructor(inp: number, oup: number, stride: number, expandRatio: number) {
    super();
    const hidden = Math.round(inp * expandRatio);
    this.useResidual = stride === 1 && inp === oup;
    const layers: Layer[] = [];
    const relu6 = () => new ReLU6();
    if (expandRatio !== 1) layers.push(new ConvNormActivation(inp, hidden, 1, { activation: relu6 }));
    layers.push(
      new ConvNormActivation(hidden, hidden, 3, { stride, groups: hidden, activation: relu6 }),
      new Conv2d(hidden, oup, 1, { bias: false }),
      new BatchNorm2d(oup),
    );
    this.conv = this.registerModule('conv', new Sequential(...layers));
  }
  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.useResidual ? y.add(x) : y;
  }
}

export class TorchvisionMobileNetV2 extends FeaturesClassifier {
  readonly architecture = 'mobilenet_v2';
  readonly classifierPaths = ['classifier'];
  readonly featChannels: number[];
  readonly pooledDim = 1280;
  readonly features: Sequential;
  readonly classifier: Sequential;
  protected readonly taps: number[];

  constructor(options: TorchvisionOptions = {}) {
    super();
    const { numClasses = 1000, inChannels = 3, dropout = 0.2 } = options;
    const setting: [number, number, number, number][] = [
      [1, 16, 1, 1],
      [6, 24, 2, 2],
      [6, 32, 3, 2],
      [6, 64, 4, 2],
      [6, 96, 3, 1],
      [6, 160, 3, 2],
      [6, 320, 1, 1],
    ];
    const relu6 = () => new ReLU6();
    const layers: Layer[] = [new ConvNormActivation(inChannels, 32, 3, { stride: 2, activation: relu6 })];
    const strides = [2];
    const channels = [32];
    let input = 32;
    for (const [t, c, n, s] of setting) {
      for (let i = 0; i < n; i++) {
        layers.push(new InvertedResidualV2(input, c, i === 0 ? s : 1, t));
        strides.push(i === 0 ? s : 1);
        channels.push(c);
        input = c;
      }
    }
    layers.push(new ConvNormActivation(input, 1280, 1, { activation: relu6 }));
    strides.push(1);
    channels.push(1280);
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule('classifier', new Sequential(new Dropout(dropout), new Linear(1280, numClasses)));
    // Stage ends at strides 2, 4, 8, 16, 32: features 1, 3, 6, 13, 18.
    this.taps = stageEnds(strides);
    this.featChannels = this.taps.map((i) => channels[i]!);
    initConvNormLinear(this, 'normal');
  }
}

/** One MobileNetV3 bottleneck: input, kernel, expanded, output, SE, hard-swish, stride. */
type V3Block = [number, number, number, number, boolean, boolean, number];

class InvertedResidualV3 extends Layer {
  readonly block: Sequential;
  readonly useResidual: boolean;
  constructor(cnf: V3Block, norm: (c: number) => Layer) {
    super();
    const [inp, kernel, expanded, out, se, hs, stride] = cnf;
    this.useResidual = stride === 1 && inp === out;
    const activation = hs ? () => new Hardswish() : () => new ReLU();
    const layers: Layer[] = [];
    if (expanded !== inp) layers.push(new ConvNormActivation(inp, expanded, 1, { norm, activation }));
    layers.push(new ConvNormActivation(expanded, expanded, kernel, { stride, groups: expanded, norm, activation }));
    if (se) layers.push(new SqueezeExcitation(expanded, makeDivisible(expanded / 4, 8), undefined, (x) => F.hardsigmoid(x)));
    layers.push(new ConvNormActivation(expanded, out, 1, { norm }));
    this.block = this.registerModule('block', new Sequential(...layers));
  }
  forward(x: Tensor): Tensor {
    const y = this.block.forward(x);
    return this.useResidual ? y.add(x) : y;
  }
}

const V3: Record<'small' | 'large', { blocks: V3Block[]; lastChannel: number }> = {
  large: {
    blocks: [
      [16, 3, 16, 16, false, false, 1],
      [16, 3, 64, 24, false, false, 2],
      [24, 3, 72, 24, false, false, 1],
      [24, 5, 72, 40, true, false, 2],
      [40, 5, 120, 40, true, false, 1],
      [40, 5, 120, 40, true, false, 1],
      [40, 3, 240, 80, false, true, 2],
      [80, 3, 200, 80, false, true, 1],
      [80, 3, 184, 80, false, true, 1],
      [80, 3, 184, 80, false, true, 1],
      [80, 3, 480, 112, true, true, 1],
      [112, 3, 672, 112, true, true, 1],
      [112, 5, 672, 160, true, true, 2],
      [160, 5, 960, 160, true, true, 1],
      [160, 5, 960, 160, true, true, 1],
    ],
    lastChannel: 1280,
  },
  small: {
    blocks: [
      [16, 3, 16, 16, true, false, 2],
      [16, 3, 72, 24, false, false, 2],
      [24, 3, 88, 24, false, false, 1],
      [24, 5, 96, 40, true, true, 2],
      [40, 5, 240, 40, true, true, 1],
      [40, 5, 240, 40, true, true, 1],
      [40, 5, 120, 48, true, true, 1],
      [48, 5, 144, 48, true, true, 1],
      [48, 5, 288, 96, true, true, 2],
      [96, 5, 576, 96, true, true, 1],
      [96, 5, 576, 96, true, true, 1],
    ],
    lastChannel: 1024,
  },
};

export class TorchvisionMobileNetV3 extends FeaturesClassifier {
  readonly architecture: string;
  readonly classifierPaths = ['classifier.3'];
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly features: Sequential;
  readonly classifier: Sequential;
  protected readonly taps: number[];

  constructor(size: 'small' | 'large', options: TorchvisionOptions = {}) {
    super();
    this.architecture = `mobilenet_v3_${size}`;
    const { numClasses = 1000, inChannels = 3, dropout = 0.2 } = options;
    const { blocks, lastChannel } = V3[size];
    // MobileNetV3's BatchNorm: eps 0.001, momentum 0.01 (TensorFlow's defaults).
    const norm = (c: number) => new BatchNorm2d(c, { eps: 0.001, momentum: 0.01 });
    const hardswish = () => new Hardswish();
    const first = blocks[0]![0];
    const layers: Layer[] = [new ConvNormActivation(inChannels, first, 3, { stride: 2, norm, activation: hardswish })];
    const strides = [2];
    const channels = [first];
    for (const b of blocks) {
      layers.push(new InvertedResidualV3(b, norm));
      strides.push(b[6]);
      channels.push(b[3]);
    }
    const lastIn = blocks[blocks.length - 1]![3];
    layers.push(new ConvNormActivation(lastIn, 6 * lastIn, 1, { norm, activation: hardswish }));
    strides.push(1);
    channels.push(6 * lastIn);
    this.pooledDim = 6 * lastIn;
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(
        new Linear(6 * lastIn, lastChannel),
        new Hardswish(),
        new Dropout(dropout),
        new Linear(lastChannel, numClasses),
      ),
    );
    this.taps = stageEnds(strides);
    this.featChannels = this.taps.map((i) => channels[i]!);
    initConvNormLinear(this, 'normal');
  }
}

export const mobilenetV2 = (o?: TorchvisionOptions) => new TorchvisionMobileNetV2(o);
export const mobilenetV3Small = (o?: TorchvisionOptions) => new TorchvisionMobileNetV3('small', o);
export const mobilenetV3Large = (o?: TorchvisionOptions) => new TorchvisionMobileNetV3('large', o);
