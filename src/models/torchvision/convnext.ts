// torchvision's ConvNeXt-T (Liu et al. 2022): 7x7 depthwise blocks with LayerNorm, an inverted MLP,
// layer scale and stochastic depth.
import { full, noGrad, type Tensor } from '../../tensor/index.js';
import * as F from '../../tensor/functional.js';
import { Conv2d, Flatten, GELU, Layer, LayerNorm, Linear, Sequential, StochasticDepth } from '../../nn/layers.js';
import { truncNormal_, zeros_ } from '../../nn/init.js';
import type { ModelOutput } from '../model.js';
import { ConvNormActivation, Permute, TorchvisionModel, type TorchvisionOptions } from './common.js';
import { tappedForward } from './mobilenet.js';

/** LayerNorm over the channels of an [N, C, H, W] map (torchvision's LayerNorm2d). */
export class LayerNorm2d extends LayerNorm {
  override forward(x: Tensor): Tensor {
    return super.forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2);
  }
}

class CNBlock extends Layer {
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;
  constructor(dim: number, layerScale: number, sdProb: number) {
    super();
    this.block = this.registerModule(
      'block',
      new Sequential(
        new Conv2d(dim, dim, 7, { padding: 3, groups: dim }),
        new Permute([0, 2, 3, 1]),
        new LayerNorm(dim, { eps: 1e-6 }),
        new Linear(dim, 4 * dim),
        new GELU(),
        new Linear(4 * dim, dim),
        new Permute([0, 3, 1, 2]),
      ),
    );
    this.registerParameter('layer_scale', full([dim, 1, 1], layerScale));
    this.stochasticDepth = this.registerModule('stochastic_depth', new StochasticDepth(sdProb));
  }
  forward(x: Tensor): Tensor {
    return this.stochasticDepth.forward(this.param('layer_scale')!.mul(this.block.forward(x))).add(x);
  }
}

const TINY: [number, number | null, number][] = [
  [96, 192, 3],
  [192, 384, 3],
  [384, 768, 9],
  [768, null, 3],
];

export class TorchvisionConvNeXt extends TorchvisionModel {
  readonly architecture = 'convnext_tiny';
  readonly classifierPaths = ['classifier.2'];
  readonly featChannels = [96, 96, 192, 384, 768];
  readonly pooledDim = 768;
  readonly features: Sequential;
  readonly classifier: Sequential;
  /** The stem, then each stage's last block (the down-sampling layers sit between them). */
  private readonly taps = [0, 1, 3, 5, 7];

  constructor(options: TorchvisionOptions = {}) {
    super();
    const { numClasses = 1000, inChannels = 3, stochasticDepthProb = 0.1 } = options;
    const norm2d = (c: number) => new LayerNorm2d(c, { eps: 1e-6 });
    const layers: Layer[] = [new ConvNormActivation(inChannels, 96, 4, { stride: 4, padding: 0, norm: norm2d, bias: true })];
    const total = TINY.reduce((a, [, , n]) => a + n, 0);
    let id = 0;
    for (const [dim, out, n] of TINY) {
      const blocks: Layer[] = [];
      for (let i = 0; i < n; i++) blocks.push(new CNBlock(dim, 1e-6, (stochasticDepthProb * id++) / (total - 1)));
      layers.push(new Sequential(...blocks));
      if (out !== null) layers.push(new Sequential(norm2d(dim), new Conv2d(dim, out, 2, { stride: 2 })));
    }
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule('classifier', new Sequential(norm2d(768), new Flatten(1), new Linear(768, numClasses)));
    noGrad(() => {
      for (const m of this.modules()) {
        if (m instanceof Conv2d || m instanceof Linear) {
          truncNormal_(m.weight, { std: 0.02 });
          if (m.bias) zeros_(m.bias);
        }
      }
    });
  }

  forward(x: Tensor): ModelOutput {
    const { feats, last } = tappedForward(this.features, x, this.taps);
    const pooledMap = last;
    const pooled = this.classifier.at(0).forward(F.adaptiveAvgPool2d(last, 1)).flatten(1);
    return { logits: this.classifier.at(2).forward(pooled), feats, preactFeats: feats, pooled, pooledMap };
  }
}

export const convnextTiny = (o?: TorchvisionOptions) => new TorchvisionConvNeXt(o);
