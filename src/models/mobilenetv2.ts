// MobileNetV2 for CIFAR as mdistiller's (mobile_half: expansion 6, width 0.5). Blocks end in a
// linear bottleneck (no ReLU), so their outputs are also the pre-activation features.
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Layer, Linear, ModuleList, ReLU, Sequential } from '../nn/layers.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Model, type ModelOptions, type ModelOutput } from './model.js';

const convBn = (inp: number, oup: number, k: number, stride: number) =>
  new Sequential(new Conv2d(inp, oup, k, { stride, padding: (k - 1) / 2, bias: false }), new BatchNorm2d(oup), new ReLU());

class InvertedResidual extends Layer {
  readonly conv: Sequential;
  readonly useResidual: boolean;
  constructor(inp: number, oup: number, stride: number, expand: number) {
    super();
    const hidden = inp * expand;
    this.useResidual = stride === 1 && inp === oup;
    this.conv = this.registerModule(
      'conv',
      new Sequential(
        new Conv2d(inp, hidden, 1, { bias: false }),
        new BatchNorm2d(hidden),
        new ReLU(),
        new Conv2d(hidden, hidden, 3, { stride, padding: 1, groups: hidden, bias: false }),
        new BatchNorm2d(hidden),
        new ReLU(),
        new Conv2d(hidden, oup, 1, { bias: false }),
        new BatchNorm2d(oup),
      ),
    );
  }
  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.useResidual ? x.add(y) : y;
  }
}

export class MobileNetV2 extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Sequential;
  readonly blocks: ModuleList<Sequential>;
  readonly conv2: Sequential;
  readonly classifier: Sequential;

  constructor(expand: number, width: number, options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    const setting: [number, number, number, number][] = [
      [1, 16, 1, 1],
      [expand, 24, 2, 1],
      [expand, 32, 3, 2],
      [expand, 64, 4, 2],
      [expand, 96, 3, 1],
      [expand, 160, 3, 2],
      [expand, 320, 1, 1],
    ];
    let input = Math.trunc(32 * width);
    this.conv1 = this.registerModule('conv1', convBn(inChannels, input, 3, 2));
    const stages: Sequential[] = [];
    for (const [t, c, n, s] of setting) {
      const out = Math.trunc(c * width);
      const layers = Array.from({ length: n }, (_, i) => {
        const block = new InvertedResidual(input, out, i === 0 ? s : 1, t);
        input = out;
        return block;
      });
      stages.push(new Sequential(...layers));
    }
    this.blocks = this.registerModule('blocks', new ModuleList(stages));
    const last = width > 1 ? Math.trunc(1280 * width) : 1280;
    this.conv2 = this.registerModule('conv2', convBn(input, last, 1, 1));
    this.classifier = this.registerModule('classifier', new Sequential(new Linear(last, numClasses)));
    this.pooledDim = last;
    this.featChannels = [32, 24, 32, 96, 320].map((c) => Math.trunc(c * width));
    for (const m of this.modules()) {
      if (m instanceof Conv2d) normal_(m.weight, 0, Math.sqrt(2 / (m.weight.shape[2]! * m.weight.shape[3]! * m.outChannels)));
      else if (m instanceof Linear) {
        normal_(m.weight, 0, 0.01);
        zeros_(m.bias!);
      }
    }
  }

  /** The last BatchNorm of the last block of the stages that end a feature (mdistiller). */
  override batchNormsBeforeRelu(): string[] {
    return [1, 2, 4, 6].map((i) => {
      const stage = this.blocks.at(i);
      return `blocks.${i}.${stage.length - 1}.conv.7`;
    });
  }

  forward(x: Tensor): ModelOutput {
    const b = (i: number, h: Tensor) => this.blocks.at(i).forward(h);
    const f0 = this.conv1.forward(x);
    const f1 = b(1, b(0, f0));
    const f2 = b(2, f1);
    const f3 = b(4, b(3, f2));
    const f4 = b(6, b(5, f3));
    const pooledMap = this.conv2.forward(f4);
    const pooled = F.adaptiveAvgPool2d(pooledMap, 1).flatten(1);
    const feats = [f0, f1, f2, f3, f4];
    return { logits: this.classifier.forward(pooled), feats, preactFeats: feats, pooled, pooledMap };
  }
}

export const mobileHalf = (o?: ModelOptions) => new MobileNetV2(6, 0.5, o);
