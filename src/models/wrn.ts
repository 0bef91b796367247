// Wide ResNets of mdistiller/RepDistiller (wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2): pre-activation
// blocks, same module names and initialisation. The pre-activation features are the BN outputs
// that the following stage computes anyway (mdistiller calls those BNs a second time instead,
// which updates their running statistics twice per step).
import { sequence, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, Linear, ModuleList, ReLU } from '../nn/layers.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Model, type ModelOptions, type ModelOutput } from './model.js';

class WideBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly convShortcut: Conv2d | null;
  readonly equalInOut: boolean;

  constructor(inPlanes: number, outPlanes: number, stride: number) {
    super();
    this.equalInOut = inPlanes === outPlanes;
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes));
    this.registerModule('relu1', new ReLU());
    this.conv1 = this.registerModule('conv1', new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outPlanes));
    this.registerModule('relu2', new ReLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(outPlanes, outPlanes, 3, { padding: 1, bias: false }));
    this.convShortcut = this.registerModule(
      'convShortcut',
      this.equalInOut ? null : new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }),
    );
  }

  /** Returns the block output and the BN output of its input (the previous stage's pre-activation). */
  forward(x: Tensor): { out: Tensor; inputBn: Tensor } {
    const inputBn = this.bn1.forward(x);
    const act = F.relu(inputBn);
    const h = F.relu(this.bn2.forward(this.conv1.forward(act)));
    const shortcut = this.equalInOut ? x : this.convShortcut!.forward(act);
    return { out: this.conv2.forward(h).add(shortcut), inputBn };
  }
}

/** n blocks under `layer` (keys block1.layer.0...), as mdistiller's NetworkBlock. */
class NetworkBlock extends Module {
  readonly layer: ModuleList<WideBlock>;
  constructor(n: number, inPlanes: number, outPlanes: number, stride: number) {
    super();
    const blocks = Array.from(
      { length: n },
      (_, i) => new WideBlock(i === 0 ? inPlanes : outPlanes, outPlanes, i === 0 ? stride : 1),
    );
    this.layer = this.registerModule('layer', new ModuleList(blocks));
  }
  forward(x: Tensor): { out: Tensor; inputBn: Tensor } {
    // Block by block, each block's maps freed as PyTorch frees them (models/resnet.ts Stage).
    const blocks = [...this.layer];
    return sequence({ out: x, inputBn: x }, [
      (r) => blocks[0]!.forward(r.out),
      ...blocks.slice(1).map((b) => (r: { out: Tensor; inputBn: Tensor }) => ({ out: b.forward(r.out).out, inputBn: r.inputBn })),
    ]);
  }
}

export class WideResNet extends Model {
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly conv1: Conv2d;
  readonly block1: NetworkBlock;
  readonly block2: NetworkBlock;
  readonly block3: NetworkBlock;
  readonly bn1: BatchNorm2d;
  readonly fc: Linear;

  constructor(depth: number, widen: number, options: ModelOptions = {}) {
    super();
    const { numClasses = 10, inChannels = 3 } = options;
    if ((depth - 4) % 6 !== 0) throw new Error(`WideResNet: depth must be 6n+4, got ${depth}`);
    const n = (depth - 4) / 6;
    const ch = [16, 16 * widen, 32 * widen, 64 * widen];
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, ch[0]!, 3, { padding: 1, bias: false }));
    this.block1 = this.registerModule('block1', new NetworkBlock(n, ch[0]!, ch[1]!, 1));
    this.block2 = this.registerModule('block2', new NetworkBlock(n, ch[1]!, ch[2]!, 2));
    this.block3 = this.registerModule('block3', new NetworkBlock(n, ch[2]!, ch[3]!, 2));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(ch[3]!));
    this.registerModule('relu', new ReLU());
    this.fc = this.registerModule('fc', new Linear(ch[3]!, numClasses));
    this.featChannels = ch;
    this.pooledDim = ch[3]!;
    for (const m of this.modules()) {
      if (m instanceof Conv2d) normal_(m.weight, 0, Math.sqrt(2 / (m.weight.shape[2]! * m.weight.shape[3]! * m.outChannels)));
      else if (m instanceof Linear) zeros_(m.bias!);
    }
  }

  /** Pre-activation blocks: each stage's output is normalised by the next stage's first bn1 (mdistiller). */
  override batchNormsBeforeRelu(): string[] {
    return ['block2.layer.0.bn1', 'block3.layer.0.bn1', 'bn1'];
  }

  forward(x: Tensor): ModelOutput {
    const f0 = this.conv1.forward(x);
    const f1 = this.block1.forward(f0).out;
    const s2 = this.block2.forward(f1);
    const s3 = this.block3.forward(s2.out);
    const f3Pre = this.bn1.forward(s3.out);
    const pooledMap = F.relu(f3Pre);
    const pooled = F.adaptiveAvgPool2d(pooledMap, 1).flatten(1);
    return {
      logits: this.fc.forward(pooled),
      feats: [f0, f1, s2.out, s3.out],
      preactFeats: [f0, s2.inputBn, s3.inputBn, f3Pre],
      pooled,
      pooledMap,
    };
  }
}

export const wrn = (depth: number, widen: number) => (o?: ModelOptions) => new WideResNet(depth, widen, o);
