// CIFAR ResNets of mdistiller/RepDistiller: resnet8..110 (16-32-64 channels), resnet8x4 and
// resnet32x4 (32-64-128-256). Same modules, names and initialisation as mdistiller's resnet.py;
// global average pooling in place of AvgPool2d(8), identical at 32x32 and valid for other sizes.
import { sequence, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential } from '../nn/layers.js';
import { kaimingNormal_ } from '../nn/init.js';
import { Model, runStages, type ModelOptions, type ModelOutput, type StageOutput } from './model.js';

type BlockOutput = StageOutput;

export abstract class Block extends Module {
  abstract forward(x: Tensor): BlockOutput;
}

export class BasicBlock extends Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  /** `shortcutName`: mdistiller's resnet.py says downsample, its resnetv2.py shortcut. */
  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null, shortcutName = 'downsample') {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    if (shortcutName === 'downsample') this.registerModule('relu', new ReLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = this.registerModule(shortcutName, downsample);
  }
  forward(x: Tensor): BlockOutput {
    const h = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const residual = this.downsample ? this.downsample.forward(x) : x;
    const preact = this.bn2.forward(this.conv2.forward(h)).add(residual);
    return { out: F.relu(preact), preact };
  }
}

export class Bottleneck extends Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  /** `width`: the 3x3 convolution's channels (torchvision's planes × base width / 64; wide ResNets double it). */
  constructor(
    inplanes: number,
    planes: number,
    stride = 1,
    downsample: Sequential | null = null,
    shortcutName = 'downsample',
    width = planes,
  ) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, width, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.registerModule('conv2', new Conv2d(width, width, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width));
    this.conv3 = this.registerModule('conv3', new Conv2d(width, planes * 4, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * 4));
    if (shortcutName === 'downsample') this.registerModule('relu', new ReLU());
    this.downsample = this.registerModule(shortcutName, downsample);
  }
  forward(x: Tensor): BlockOutput {
    let h = F.relu(this.bn1.forward(this.conv1.forward(x)));
    h = F.relu(this.bn2.forward(this.conv2.forward(h)));
    const residual = this.downsample ? this.downsample.forward(x) : x;
    const preact = this.bn3.forward(this.conv3.forward(h)).add(residual);
    return { out: F.relu(preact), preact };
  }
}

/**
 * A stage of blocks, registered 0, 1, ... like nn.Sequential; returns the last block's
 * pre-activation too (a block without one, like ShuffleNetV2's down-sampling block, gives its output).
 */
export class Stage extends Module {
  constructor(readonly blocks: (Module & { forward(x: Tensor): StageOutput | Tensor })[]) {
    super();
    blocks.forEach((b, i) => this.registerModule(String(i), b));
  }
  forward(x: Tensor): StageOutput {
    // Each block's maps are freed when it returns and its output once the next block has run, as
    // PyTorch frees them (autograd holds what backward needs), not at the end of the step.
    return sequence(
      { out: x, preact: x } as StageOutput,
      this.blocks.map((b) => (r: StageOutput): StageOutput => {
        const y = b.forward(r.out);
        return 'out' in y && 'preact' in y ? (y as StageOutput) : { out: y as Tensor, preact: y as Tensor };
      }),
    );
  }
}

export type BlockName = 'basic' | 'bottleneck';

/** The last BatchNorm of each stage's last block (bn2 of a basic block, bn3 of any bottleneck). */
export function lastBlockBatchNorms(stages: Record<string, Stage>): string[] {
  return Object.entries(stages).map(([name, stage]) => {
    const i = stage.blocks.length - 1;
    return `${name}.${i}.${'bn3' in stage.blocks[i]! ? 'bn3' : 'bn2'}`;
  });
}

export class CifarResNet extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Stage;
  readonly layer2: Stage;
  readonly layer3: Stage;
  readonly fc: Linear;

  constructor(depth: number, numFilters: [number, number, number, number], blockName: BlockName, options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    const BlockClass = blockName === 'basic' ? BasicBlock : Bottleneck;
    const per = blockName === 'basic' ? 6 : 9;
    if ((depth - 2) % per !== 0) throw new Error(`CifarResNet: depth must be ${per}n+2 for ${blockName} blocks, got ${depth}`);
    const n = (depth - 2) / per;
    let inplanes = numFilters[0];
    const makeStage = (planes: number, blocks: number, stride: number): Stage => {
      let downsample: Sequential | null = null;
      if (stride !== 1 || inplanes !== planes * BlockClass.expansion) {
        downsample = new Sequential(
          new Conv2d(inplanes, planes * BlockClass.expansion, 1, { stride, bias: false }),
          new BatchNorm2d(planes * BlockClass.expansion),
        );
      }
      const list: Block[] = [new BlockClass(inplanes, planes, stride, downsample)];
      inplanes = planes * BlockClass.expansion;
      for (let i = 1; i < blocks; i++) list.push(new BlockClass(inplanes, planes));
      return new Stage(list);
    };
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, numFilters[0], 3, { padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(numFilters[0]));
    this.registerModule('relu', new ReLU());
    this.layer1 = this.registerModule('layer1', makeStage(numFilters[1], n, 1));
    this.layer2 = this.registerModule('layer2', makeStage(numFilters[2], n, 2));
    this.layer3 = this.registerModule('layer3', makeStage(numFilters[3], n, 2));
    this.fc = this.registerModule('fc', new Linear(numFilters[3] * BlockClass.expansion, numClasses));
    const e = BlockClass.expansion;
    this.featChannels = [numFilters[0], numFilters[1] * e, numFilters[2] * e, numFilters[3] * e];
    this.pooledDim = numFilters[3] * e;
    // mdistiller's init, in module order: kaiming_normal(fan_out, relu) for convs; BN already 1/0.
    for (const m of this.modules()) if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
  }

  override batchNormsBeforeRelu(): string[] {
    return lastBlockBatchNorms({ layer1: this.layer1, layer2: this.layer2, layer3: this.layer3 });
  }

  forward(x: Tensor): ModelOutput {
    const f0 = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const { feats, preactFeats, last } = runStages(f0, [this.layer1, this.layer2, this.layer3]);
    const pooled = F.adaptiveAvgPool2d(last, 1).flatten(1);
    return { logits: this.fc.forward(pooled), feats, preactFeats, pooled, pooledMap: last };
  }
}

const basic = (depth: number, filters: [number, number, number, number]) => (o?: ModelOptions) =>
  new CifarResNet(depth, filters, 'basic', o);
const narrow: [number, number, number, number] = [16, 16, 32, 64];
const wide: [number, number, number, number] = [32, 64, 128, 256];
export const resnet8 = basic(8, narrow);
export const resnet14 = basic(14, narrow);
export const resnet20 = basic(20, narrow);
export const resnet32 = basic(32, narrow);
export const resnet44 = basic(44, narrow);
export const resnet56 = basic(56, narrow);
export const resnet110 = basic(110, narrow);
export const resnet8x4 = basic(8, wide);
export const resnet32x4 = basic(32, wide);
