// ShuffleNet V1 (groups 3) and V2 (1x) for CIFAR, as mdistiller's ShuffleV1 / ShuffleV2.
import { cat, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from '../nn/module.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, Sequential } from '../nn/layers.js';
import { Model, runStages, type ModelOptions, type ModelOutput, type StageOutput } from './model.js';
import { Stage } from './resnet.js';

/** [N, C, H, W] -> [N, g, C/g, H, W] -> transpose -> [N, C, H, W]. */
function shuffle(x: Tensor, groups: number): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return x
    .reshape(n, groups, c / groups, h, w)
    .permute(0, 2, 1, 3, 4)
    .reshape(n, c, h, w);
}

type BlockOut = StageOutput;

class V1Bottleneck extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Sequential;
  readonly firstGroups: number;

  constructor(
    inPlanes: number,
    outPlanes: number,
    readonly stride: number,
    groups: number,
  ) {
    super();
    const mid = Math.trunc(outPlanes / 4);
    this.firstGroups = inPlanes === 24 ? 1 : groups;
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, mid, 1, { groups: this.firstGroups, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(mid));
    this.conv2 = this.registerModule('conv2', new Conv2d(mid, mid, 3, { stride, padding: 1, groups: mid, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(mid));
    this.conv3 = this.registerModule('conv3', new Conv2d(mid, outPlanes, 1, { groups, bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outPlanes));
    this.shortcut = this.registerModule(
      'shortcut',
      stride === 2 ? new Sequential(new AvgPool2d(3, { stride: 2, padding: 1 })) : new Sequential(),
    );
  }
  forward(x: Tensor): BlockOut {
    let h = F.relu(this.bn1.forward(this.conv1.forward(x)));
    h = shuffle(h, this.firstGroups);
    h = F.relu(this.bn2.forward(this.conv2.forward(h)));
    h = this.bn3.forward(this.conv3.forward(h));
    const res = this.shortcut.forward(x);
    const preact = this.stride === 2 ? cat([h, res], 1) : h.add(res);
    return { out: F.relu(preact), preact };
  }
}

export class ShuffleNetV1 extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Stage[];
  readonly linear: Linear;

  constructor(
    outPlanes: [number, number, number],
    numBlocks: [number, number, number],
    groups: number,
    options: ModelOptions = {},
  ) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, 24, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(24));
    let inPlanes = 24;
    this.layers = outPlanes.map((out, s) => {
      const blocks = Array.from({ length: numBlocks[s]! }, (_, i) => {
        const b = new V1Bottleneck(inPlanes, out - (i === 0 ? inPlanes : 0), i === 0 ? 2 : 1, groups);
        inPlanes = out;
        return b;
      });
      return this.registerModule(`layer${s + 1}`, new Stage(blocks));
    });
    this.linear = this.registerModule('linear', new Linear(outPlanes[2], numClasses));
    this.featChannels = [24, ...outPlanes];
    this.pooledDim = outPlanes[2];
  }

  forward(x: Tensor): ModelOutput {
    const f0 = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const { feats, preactFeats, last: h } = runStages(f0, this.layers);
    const pooled = F.adaptiveAvgPool2d(h, 1).flatten(1);
    return { logits: this.linear.forward(pooled), feats, preactFeats, pooled, pooledMap: h };
  }
}

class V2Basic extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly half: number;
  constructor(inChannels: number) {
    super();
    const c = Math.trunc(inChannels * 0.5);
    this.half = c;
    this.conv1 = this.registerModule('conv1', new Conv2d(c, c, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(c));
    this.conv2 = this.registerModule('conv2', new Conv2d(c, c, 3, { padding: 1, groups: c, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(c));
    this.conv3 = this.registerModule('conv3', new Conv2d(c, c, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(c));
  }
  forward(x: Tensor): BlockOut {
    const c = x.shape[1]!;
    const x1 = x.narrow(1, 0, this.half);
    const x2 = x.narrow(1, this.half, c - this.half);
    let h = F.relu(this.bn1.forward(this.conv1.forward(x2)));
    h = this.bn2.forward(this.conv2.forward(h));
    const pre = this.bn3.forward(this.conv3.forward(h));
    return { out: shuffle(cat([x1, F.relu(pre)], 1), 2), preact: cat([x1, pre], 1) };
  }
}

class V2Down extends Module {
  readonly convs: Conv2d[];
  readonly bns: BatchNorm2d[];
  constructor(inC: number, outC: number) {
    super();
    const mid = Math.trunc(outC / 2);
    const specs: [number, number, number, number, number][] = [
      // in, out, kernel, stride, groups
      [inC, inC, 3, 2, inC],
      [inC, mid, 1, 1, 1],
      [inC, mid, 1, 1, 1],
      [mid, mid, 3, 2, mid],
      [mid, mid, 1, 1, 1],
    ];
    this.convs = [];
    this.bns = [];
    specs.forEach(([i, o, k, s, g], j) => {
      this.convs.push(
        this.registerModule(`conv${j + 1}`, new Conv2d(i, o, k, { stride: s, padding: (k - 1) / 2, groups: g, bias: false })),
      );
      this.bns.push(this.registerModule(`bn${j + 1}`, new BatchNorm2d(o)));
    });
  }
  forward(x: Tensor): Tensor {
    const cb = (j: number, h: Tensor) => this.bns[j]!.forward(this.convs[j]!.forward(h));
    const left = F.relu(cb(1, cb(0, x)));
    const right = F.relu(cb(4, cb(3, F.relu(cb(2, x)))));
    return shuffle(cat([left, right], 1), 2);
  }
}

export class ShuffleNetV2 extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Stage[];
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly linear: Linear;

  constructor(outChannels: [number, number, number, number], numBlocks: [number, number, number], options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, 24, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(24));
    let inC = 24;
    this.layers = [0, 1, 2].map((s) => {
      const out = outChannels[s]!;
      const blocks: (V2Basic | V2Down)[] = [new V2Down(inC, out)];
      for (let i = 0; i < numBlocks[s]!; i++) blocks.push(new V2Basic(out));
      inC = out;
      return this.registerModule(`layer${s + 1}`, new Stage(blocks));
    });
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels[2], outChannels[3], 1, { bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outChannels[3]));
    this.linear = this.registerModule('linear', new Linear(outChannels[3], numClasses));
    this.featChannels = [24, outChannels[0], outChannels[1], outChannels[2]];
    this.pooledDim = outChannels[3];
  }

  forward(x: Tensor): ModelOutput {
    const f0 = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const { feats, preactFeats, last: h } = runStages(f0, this.layers);
    const pooledMap = F.relu(this.bn2.forward(this.conv2.forward(h)));
    const pooled = F.adaptiveAvgPool2d(pooledMap, 1).flatten(1);
    return { logits: this.linear.forward(pooled), feats, preactFeats, pooled, pooledMap };
  }
}

export const shuffleV1 = (o?: ModelOptions) => new ShuffleNetV1([240, 480, 960], [4, 8, 4], 3, o);
export const shuffleV2 = (o?: ModelOptions) => new ShuffleNetV2([116, 232, 464, 1024], [3, 7, 3], o);
