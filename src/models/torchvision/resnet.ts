// torchvision's ResNets (He et al. 2016, v1.5: the stride on the 3x3 convolution) and wide ResNets
// (Zagoruyko & Komodakis 2016): resnet18/34/50/101, wide_resnet50_2, with torchvision's keys.
import type { Tensor } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../../nn/layers.js';
import { BasicBlock, Bottleneck, Stage, lastBlockBatchNorms, type Block } from '../resnet.js';
import { runStages, type ModelOutput } from '../model.js';
import { TorchvisionModel, initConvNormLinear, type TorchvisionOptions } from './common.js';

export class TorchvisionResNet extends TorchvisionModel {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly classifierPaths = ['fc'];
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Stage[];
  readonly fc: Linear;

  constructor(
    readonly architecture: string,
    kind: 'basic' | 'bottleneck',
    depths: [number, number, number, number],
    options: TorchvisionOptions & { baseWidth?: number } = {},
  ) {
    super();
    const { numClasses = 1000, inChannels = 3, baseWidth = 64 } = options;
    const e = kind === 'basic' ? 1 : 4;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    this.registerModule('relu', new ReLU());
    this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inplanes = 64;
    this.layers = [64, 128, 256, 512].map((planes, s) => {
      const blocks: Block[] = [];
      for (let i = 0; i < depths[s]!; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        const downsample =
          i === 0 && (stride !== 1 || inplanes !== planes * e)
            ? new Sequential(new Conv2d(inplanes, planes * e, 1, { stride, bias: false }), new BatchNorm2d(planes * e))
            : null;
        blocks.push(
          kind === 'basic'
            ? new BasicBlock(inplanes, planes, stride, downsample)
            : new Bottleneck(inplanes, planes, stride, downsample, 'downsample', Math.floor((planes * baseWidth) / 64)),
        );
        inplanes = planes * e;
      }
      return this.registerModule(`layer${s + 1}`, new Stage(blocks));
    });
    this.fc = this.registerModule('fc', new Linear(512 * e, numClasses));
    this.featChannels = [64, 64 * e, 128 * e, 256 * e, 512 * e];
    this.pooledDim = 512 * e;
    initConvNormLinear(this, 'default');
  }

  override batchNormsBeforeRelu(): string[] {
    return lastBlockBatchNorms(Object.fromEntries(this.layers.map((l, i) => [`layer${i + 1}`, l])));
  }

  /** feats: the stem after max pooling (stride 4), then layer1..layer4 (strides 4, 8, 16, 32). */
  forward(x: Tensor): ModelOutput {
    const stem = F.maxPool2d(F.relu(this.bn1.forward(this.conv1.forward(x))), 3, { stride: 2, padding: 1 });
    const { feats, preactFeats, last } = runStages(stem, this.layers);
    const pooled = F.adaptiveAvgPool2d(last, 1).flatten(1);
    return { logits: this.fc.forward(pooled), feats, preactFeats, pooled, pooledMap: last };
  }
}

export const resnet18 = (o?: TorchvisionOptions) => new TorchvisionResNet('resnet18', 'basic', [2, 2, 2, 2], o);
export const resnet34 = (o?: TorchvisionOptions) => new TorchvisionResNet('resnet34', 'basic', [3, 4, 6, 3], o);
export const resnet50 = (o?: TorchvisionOptions) => new TorchvisionResNet('resnet50', 'bottleneck', [3, 4, 6, 3], o);
export const resnet101 = (o?: TorchvisionOptions) => new TorchvisionResNet('resnet101', 'bottleneck', [3, 4, 23, 3], o);
export const wideResnet50_2 = (o?: TorchvisionOptions) =>
  new TorchvisionResNet('wide_resnet50_2', 'bottleneck', [3, 4, 6, 3], { ...o, baseWidth: 128 });
