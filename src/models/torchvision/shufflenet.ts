// torchvision's ShuffleNetV2 x0.5 and x1.0 (Ma et al. 2018).
import { cat, type Tensor } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import { BatchNorm2d, Conv2d, Layer, Linear, ReLU, Sequential } from '../../nn/layers.js';
import type { ModelOutput } from '../model.js';
import { TorchvisionModel, type TorchvisionOptions } from './common.js';

function channelShuffle(x: Tensor, groups: number): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return x
    .view(n, groups, c / groups, h, w)
    .transpose(1, 2)
    .contiguous()
    .view(n, c, h, w);
}

const depthwise = (channels: number, stride: number) =>
  new Conv2d(channels, channels, 3, { stride, padding: 1, groups: channels, bias: false });

class ShuffleUnit extends Layer {
  readonly branch1: Sequential;
  readonly branch2: Sequential;
  constructor(
    inp: number,
    oup: number,
    readonly stride: number,
  ) {
    super();
    const bf = oup / 2;
    this.branch1 = this.registerModule(
      'branch1',
      stride > 1
        ? new Sequential(
            depthwise(inp, stride),
            new BatchNorm2d(inp),
            new Conv2d(inp, bf, 1, { bias: false }),
            new BatchNorm2d(bf),
            new ReLU(),
          )
        : new Sequential(),
    );
    this.branch2 = this.registerModule(
      'branch2',
      new Sequential(
        new Conv2d(stride > 1 ? inp : bf, bf, 1, { bias: false }),
        new BatchNorm2d(bf),
        new ReLU(),
        depthwise(bf, stride),
        new BatchNorm2d(bf),
        new Conv2d(bf, bf, 1, { bias: false }),
        new BatchNorm2d(bf),
        new ReLU(),
      ),
    );
  }
  forward(x: Tensor): Tensor {
    let out: Tensor;
    if (this.stride === 1) {
      // x.chunk(2, dim=1) as two narrows (one output each, so the network exports to ONNX).
      const half = x.shape[1]! / 2;
      out = cat([x.narrow(1, 0, half), this.branch2.forward(x.narrow(1, half, half))], 1);
    } else out = cat([this.branch1.forward(x), this.branch2.forward(x)], 1);
    return channelShuffle(out, 2);
  }
}

const WIDTHS = { x0_5: [24, 48, 96, 192, 1024], x1_0: [24, 116, 232, 464, 1024] } as const;

export class TorchvisionShuffleNetV2 extends TorchvisionModel {
  readonly architecture: string;
  readonly classifierPaths = ['fc'];
  readonly featChannels: number[];
  readonly pooledDim = 1024;
  readonly conv1: Sequential;
  readonly stages: Sequential[];
  readonly conv5: Sequential;
  readonly fc: Linear;

  constructor(width: keyof typeof WIDTHS, options: TorchvisionOptions = {}) {
    super();
    this.architecture = `shufflenet_v2_${width}`;
    const { numClasses = 1000, inChannels = 3 } = options;
    const w = WIDTHS[width];
    this.conv1 = this.registerModule(
      'conv1',
      new Sequential(new Conv2d(inChannels, w[0], 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(w[0]), new ReLU()),
    );
    let input: number = w[0];
    this.stages = [4, 8, 4].map((repeats, s) => {
      const out = w[s + 1]!;
      const units = [new ShuffleUnit(input, out, 2)];
      for (let i = 1; i < repeats; i++) units.push(new ShuffleUnit(out, out, 1));
      input = out;
      return this.registerModule(`stage${s + 2}`, new Sequential(...units));
    });
    this.conv5 = this.registerModule(
      'conv5',
      new Sequential(new Conv2d(input, w[4], 1, { bias: false }), new BatchNorm2d(w[4]), new ReLU()),
    );
    this.fc = this.registerModule('fc', new Linear(w[4], numClasses));
    this.featChannels = [w[0], w[0], w[1], w[2], w[4]];
  }

  /** feats: conv1 (stride 2), after max pooling (4), stage2 (8), stage3 (16), stage4 + conv5 (32). */
  forward(x: Tensor): ModelOutput {
    const c1 = this.conv1.forward(x);
    const pooled0 = F.maxPool2d(c1, 3, { stride: 2, padding: 1 });
    const s2 = this.stages[0]!.forward(pooled0);
    const s3 = this.stages[1]!.forward(s2);
    const last = this.conv5.forward(this.stages[2]!.forward(s3));
    const feats = [c1, pooled0, s2, s3, last];
    const pooled = last.mean([2, 3]);
    return { logits: this.fc.forward(pooled), feats, preactFeats: feats, pooled, pooledMap: last };
  }
}

export const shufflenetV2 = (width: keyof typeof WIDTHS) => (o?: TorchvisionOptions) => new TorchvisionShuffleNetV2(width, o);
