// torchvision's EfficientNet B0-B3 (Tan & Le 2019): MBConv blocks with squeeze-and-excitation and
// SiLU, stochastic depth growing linearly with the block index.
import type { Tensor } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import { Dropout, Layer, Linear, Sequential, SiLU, StochasticDepth } from '../../nn/layers.js';
import { ConvNormActivation, SqueezeExcitation, initConvNormLinear, makeDivisible, type TorchvisionOptions } from './common.js';
import { FeaturesClassifier, stageEnds } from './mobilenet.js';

class MBConv extends Layer {
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;
  readonly useResidual: boolean;
  constructor(expandRatio: number, kernel: number, stride: number, inp: number, out: number, sdProb: number) {
    super();
    this.useResidual = stride === 1 && inp === out;
    const silu = () => new SiLU();
    const expanded = makeDivisible(inp * expandRatio, 8);
    const layers: Layer[] = [];
    if (expanded !== inp) layers.push(new ConvNormActivation(inp, expanded, 1, { activation: silu }));
    layers.push(
      new ConvNormActivation(expanded, expanded, kernel, { stride, groups: expanded, activation: silu }),
      new SqueezeExcitation(expanded, Math.max(1, Math.floor(inp / 4)), (x) => F.silu(x)),
      new ConvNormActivation(expanded, out, 1),
    );
    this.block = this.registerModule('block', new Sequential(...layers));
    this.stochasticDepth = this.registerModule('stochastic_depth', new StochasticDepth(sdProb));
  }
  forward(x: Tensor): Tensor {
    const y = this.block.forward(x);
    return this.useResidual ? this.stochasticDepth.forward(y).add(x) : y;
  }
}

/** expand ratio, kernel, stride, input channels, output channels, layers (B0; scaled by width and depth). */
const B0: [number, number, number, number, number, number][] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];
/** width multiplier, depth multiplier, dropout. */
const SCALING = { b0: [1.0, 1.0, 0.2], b1: [1.0, 1.1, 0.2], b2: [1.1, 1.2, 0.3], b3: [1.2, 1.4, 0.3] } as const;

export class TorchvisionEfficientNet extends FeaturesClassifier {
  readonly architecture: string;
  readonly classifierPaths = ['classifier'];
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly features: Sequential;
  readonly classifier: Sequential;
  protected readonly taps: number[];

  constructor(variant: keyof typeof SCALING, options: TorchvisionOptions = {}) {
    super();
    this.architecture = `efficientnet_${variant}`;
    const [width, depth, defaultDropout] = SCALING[variant];
    const { numClasses = 1000, inChannels = 3, dropout = defaultDropout, stochasticDepthProb = 0.2 } = options;
    const channels = (c: number) => makeDivisible(c * width, 8);
    const stages = B0.map(([t, k, s, i, o, n]) => ({ t, k, s, i: channels(i), o: channels(o), n: Math.ceil(n * depth) }));
    const total = stages.reduce((a, st) => a + st.n, 0);
    const silu = () => new SiLU();
    const layers: Layer[] = [new ConvNormActivation(inChannels, stages[0]!.i, 3, { stride: 2, activation: silu })];
    const strides = [2];
    const outChannels = [stages[0]!.i];
    let id = 0;
    for (const st of stages) {
      const blocks: Layer[] = [];
      for (let b = 0; b < st.n; b++) {
        blocks.push(new MBConv(st.t, st.k, b ? 1 : st.s, b ? st.o : st.i, st.o, (stochasticDepthProb * id) / total));
        id++;
      }
      layers.push(new Sequential(...blocks));
      strides.push(st.s);
      outChannels.push(st.o);
    }
    const lastIn = stages[stages.length - 1]!.o;
    this.pooledDim = 4 * lastIn;
    layers.push(new ConvNormActivation(lastIn, 4 * lastIn, 1, { activation: silu }));
    strides.push(1);
    outChannels.push(4 * lastIn);
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule('classifier', new Sequential(new Dropout(dropout), new Linear(4 * lastIn, numClasses)));
    this.taps = stageEnds(strides);
    this.featChannels = this.taps.map((i) => outChannels[i]!);
    initConvNormLinear(this, 'uniform-out');
  }
}

export const efficientnet = (variant: keyof typeof SCALING) => (o?: TorchvisionOptions) =>
  new TorchvisionEfficientNet(variant, o);
