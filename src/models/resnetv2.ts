// The CIFAR variants of ResNet18/34/50 (mdistiller's resnetv2.py): a 3x3 stem without pooling,
// four stages of 64-128-256-512 planes, `shortcut` projections and a `linear` classifier.
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Linear, Sequential } from '../nn/layers.js';
import { kaimingNormal_ } from '../nn/init.js';
import { Model, runStages, type ModelOptions, type ModelOutput } from './model.js';
import { BasicBlock, Bottleneck, Stage, lastBlockBatchNorms, type Block } from './resnet.js';

export class ResNetV2 extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Stage[];
  readonly linear: Linear;

  constructor(kind: 'basic' | 'bottleneck', numBlocks: [number, number, number, number], options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    const BlockClass = kind === 'basic' ? BasicBlock : Bottleneck;
    const e = BlockClass.expansion;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, 64, 3, { padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    let inPlanes = 64;
    this.layers = [64, 128, 256, 512].map((planes, s) => {
      const blocks: Block[] = [];
      for (let i = 0; i < numBlocks[s]!; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        const shortcut =
          stride !== 1 || inPlanes !== planes * e
            ? new Sequential(new Conv2d(inPlanes, planes * e, 1, { stride, bias: false }), new BatchNorm2d(planes * e))
            : null;
        blocks.push(new BlockClass(inPlanes, planes, stride, shortcut, 'shortcut'));
        inPlanes = planes * e;
      }
      return this.registerModule(`layer${s + 1}`, new Stage(blocks));
    });
    this.linear = this.registerModule('linear', new Linear(512 * e, numClasses));
    this.featChannels = [64, 64 * e, 128 * e, 256 * e, 512 * e];
    this.pooledDim = 512 * e;
    for (const m of this.modules()) if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
  }

  override batchNormsBeforeRelu(): string[] {
    return lastBlockBatchNorms(Object.fromEntries(this.layers.map((l, i) => [`layer${i + 1}`, l])));
  }

  forward(x: Tensor): ModelOutput {
    const f0 = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const { feats, preactFeats, last } = runStages(f0, this.layers);
    const pooled = F.adaptiveAvgPool2d(last, 1).flatten(1);
    return { logits: this.linear.forward(pooled), feats, preactFeats, pooled, pooledMap: last };
  }
}

export const resNet18 = (o?: ModelOptions) => new ResNetV2('basic', [2, 2, 2, 2], o);
export const resNet34 = (o?: ModelOptions) => new ResNetV2('basic', [3, 4, 6, 3], o);
export const resNet50 = (o?: ModelOptions) => new ResNetV2('bottleneck', [3, 4, 6, 3], o);
