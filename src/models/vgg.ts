// VGG with batch norm for CIFAR, as mdistiller's vgg8_bn ... vgg19_bn (the zoo's vgg8 ... vgg19):
// five conv blocks (the last ReLU of each left to forward, so pre-activations are visible),
// max pooling between blocks, global average pooling, one linear classifier.
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, AdaptiveAvgPool2d, type Layer } from '../nn/layers.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Model, type ModelOptions, type ModelOutput } from './model.js';

const configs: Record<string, number[][]> = {
  vgg8: [[64], [128], [256], [512], [512]],
  vgg11: [[64], [128], [256, 256], [512, 512], [512, 512]],
  vgg13: [
    [64, 64],
    [128, 128],
    [256, 256],
    [512, 512],
    [512, 512],
  ],
  vgg16: [
    [64, 64],
    [128, 128],
    [256, 256, 256],
    [512, 512, 512],
    [512, 512, 512],
  ],
  vgg19: [
    [64, 64],
    [128, 128],
    [256, 256, 256, 256],
    [512, 512, 512, 512],
    [512, 512, 512, 512],
  ],
};

function makeBlock(channels: number[], inChannels: number): Sequential {
  const layers: Layer[] = [];
  let c = inChannels;
  for (const v of channels) {
    layers.push(new Conv2d(c, v, 3, { padding: 1 }), new BatchNorm2d(v), new ReLU());
    c = v;
  }
  layers.pop(); // the block's last ReLU is applied in forward
  return new Sequential(...layers);
}

export class VGG extends Model {
  readonly featChannels: number[];
  readonly pooledDim = 512;
  readonly blocks: Sequential[];
  readonly pools: MaxPool2d[];
  readonly classifier: Linear;

  constructor(cfg: number[][], options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    this.blocks = cfg.map((c, i) => this.registerModule(`block${i}`, makeBlock(c, i === 0 ? inChannels : cfg[i - 1]!.at(-1)!)));
    this.pools = [0, 1, 2, 3].map((i) => this.registerModule(`pool${i}`, new MaxPool2d(2, { stride: 2 })));
    this.registerModule('pool4', new AdaptiveAvgPool2d(1));
    this.classifier = this.registerModule('classifier', new Linear(512, numClasses));
    this.featChannels = cfg.map((c) => c.at(-1)!);
    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        normal_(m.weight, 0, Math.sqrt(2 / (m.weight.shape[2]! * m.weight.shape[3]! * m.outChannels)));
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof Linear) {
        normal_(m.weight, 0, 0.01);
        zeros_(m.bias!);
      }
    }
  }

  /** Each block ends in its BatchNorm; blocks 1..4 make the stages after the stem. */
  override batchNormsBeforeRelu(): string[] {
    return [1, 2, 3, 4].map((i) => `block${i}.${this.blocks[i]!.length - 1}`);
  }

  forward(x: Tensor): ModelOutput {
    const f0 = F.relu(this.blocks[0]!.forward(x));
    const feats = [f0];
    const preactFeats = [f0];
    let h = this.pools[0]!.forward(f0);
    for (let i = 1; i < 5; i++) {
      // mdistiller pools before block 4 only for 64x64 inputs; 32x32 maps stay 4x4 there.
      if (i === 4 && h.shape[2]! >= 8) h = this.pools[3]!.forward(h);
      const pre = this.blocks[i]!.forward(h);
      const out = F.relu(pre);
      preactFeats.push(pre);
      feats.push(out);
      h = i < 3 ? this.pools[i]!.forward(out) : out;
    }
    const pooled = F.adaptiveAvgPool2d(h, 1).flatten(1);
    return { logits: this.classifier.forward(pooled), feats, preactFeats, pooled, pooledMap: h };
  }
}

export const vgg = (name: keyof typeof configs) => (o?: ModelOptions) => new VGG(configs[name]!, o);
