// torchvision's RegNetY-400MF (Radosavovic et al. 2020): residual bottlenecks with group
// convolutions and squeeze-and-excitation; stage widths as torchvision computes them.
import * as F from '../../tensor/functional.js';
import { noGrad, type Tensor } from '../../tensor/index.js';
import { BatchNorm2d, Conv2d, Layer, Linear, ModuleDict, ReLU } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { normal_, ones_, zeros_ } from '../../nn/init.js';
import type { ModelOutput, StageOutput } from '../model.js';
import { ConvNormActivation, NamedSequential, SqueezeExcitation, TorchvisionModel, type TorchvisionOptions } from './common.js';

class ResBottleneckBlock extends Module {
  readonly proj: ConvNormActivation | null;
  readonly f: NamedSequential;
  constructor(widthIn: number, widthOut: number, stride: number, groupWidth: number, seRatio: number) {
    super();
    const relu = () => new ReLU();
    this.proj = this.registerModule(
      'proj',
      widthIn !== widthOut || stride !== 1 ? new ConvNormActivation(widthIn, widthOut, 1, { stride }) : null,
    );
    const wb = widthOut;
    const layers: [string, Layer][] = [
      ['a', new ConvNormActivation(widthIn, wb, 1, { activation: relu })],
      ['b', new ConvNormActivation(wb, wb, 3, { stride, groups: wb / groupWidth, activation: relu })],
    ];
    if (seRatio) layers.push(['se', new SqueezeExcitation(wb, Math.round(seRatio * widthIn))]);
    layers.push(['c', new ConvNormActivation(wb, widthOut, 1)]);
    this.f = this.registerModule('f', new NamedSequential(layers));
    this.registerModule('activation', new ReLU());
  }
  forward(x: Tensor): StageOutput {
    const preact = (this.proj ? this.proj.forward(x) : x).add(this.f.forward(x));
    return { out: F.relu(preact), preact };
  }
}

class AnyStage extends Module {
  readonly blocks: ResBottleneckBlock[] = [];
  constructor(index: number, widthIn: number, widthOut: number, depth: number, groupWidth: number, seRatio: number) {
    super();
    for (let i = 0; i < depth; i++) {
      const block = new ResBottleneckBlock(i ? widthOut : widthIn, widthOut, i ? 1 : 2, groupWidth, seRatio);
      this.blocks.push(this.registerModule(`block${index}-${i}`, block));
    }
  }
  forward(x: Tensor): StageOutput {
    let r: StageOutput = { out: x, preact: x };
    for (const b of this.blocks) r = b.forward(r.out);
    return r;
  }
}

/** regnet_y_400mf: BlockParams.from_init_params(depth 16, w_0 48, w_a 27.89, w_m 2.09, group width 8, SE 0.25) expanded. */
const REGNET_Y_400MF = { widths: [48, 104, 208, 440], depths: [1, 3, 6, 6], groupWidth: 8, seRatio: 0.25 };

export class TorchvisionRegNet extends TorchvisionModel {
  readonly architecture = 'regnet_y_400mf';
  readonly classifierPaths = ['fc'];
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly stem: ConvNormActivation;
  readonly stages: AnyStage[];
  readonly fc: Linear;

  constructor(options: TorchvisionOptions = {}) {
    super();
    const { numClasses = 1000, inChannels = 3 } = options;
    const { widths, depths, groupWidth, seRatio } = REGNET_Y_400MF;
    this.stem = this.registerModule(
      'stem',
      new ConvNormActivation(inChannels, 32, 3, { stride: 2, activation: () => new ReLU() }),
    );
    const trunk = this.registerModule('trunk_output', new ModuleDict<AnyStage>());
    let width = 32;
    this.stages = widths.map((w, i) => {
      const stage = new AnyStage(i + 1, width, w, depths[i]!, groupWidth, seRatio);
      trunk.set(`block${i + 1}`, stage);
      width = w;
      return stage;
    });
    this.fc = this.registerModule('fc', new Linear(width, numClasses));
    this.pooledDim = width;
    this.featChannels = [32, ...widths];
    noGrad(() => {
      for (const m of this.modules()) {
        if (m instanceof Conv2d) {
          const [o, , kh, kw] = m.weight.shape as number[];
          normal_(m.weight, 0, Math.sqrt(2 / (kh! * kw! * o!)));
        } else if (m instanceof BatchNorm2d) {
          ones_(m.weight!);
          zeros_(m.bias!);
        } else if (m instanceof Linear) {
          normal_(m.weight, 0, 0.01);
          zeros_(m.bias!);
        }
      }
    });
  }

  forward(x: Tensor): ModelOutput {
    const f0 = this.stem.forward(x);
    const feats = [f0];
    const preactFeats = [f0];
    let h = f0;
    for (const s of this.stages) {
      const r = s.forward(h);
      feats.push(r.out);
      preactFeats.push(r.preact);
      h = r.out;
    }
    const pooled = F.adaptiveAvgPool2d(h, 1).flatten(1);
    return { logits: this.fc.forward(pooled), feats, preactFeats, pooled, pooledMap: h };
  }
}

export const regnetY400mf = (o?: TorchvisionOptions) => new TorchvisionRegNet(o);
