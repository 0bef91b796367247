// torchvision's VisionTransformer (Dosovitskiy et al. 2021): vit_b_16, and DeiT-Tiny (Touvron et
// al. 2021) on the same module tree, with DeiT's distillation token as an option.
import { cat, empty, noGrad, zeros, type Tensor } from '../../tensor/index.js';
import { Conv2d, Dropout, GELU, LayerNorm, Linear, ModuleDict, MultiheadAttention, Sequential } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { normal_, truncNormal_, xavierUniform_, zeros_ } from '../../nn/init.js';
import type { ModelOutput } from '../model.js';
import { NamedSequential, TorchvisionModel, type TorchvisionOptions } from './common.js';

class EncoderBlock extends Module {
  readonly ln1: LayerNorm;
  readonly selfAttention: MultiheadAttention;
  readonly dropout: Dropout;
  readonly ln2: LayerNorm;
  readonly mlp: Sequential;
  constructor(heads: number, hidden: number, mlpDim: number, dropout: number, attentionDropout: number) {
    super();
    this.ln1 = this.registerModule('ln_1', new LayerNorm(hidden, { eps: 1e-6 }));
    this.selfAttention = this.registerModule(
      'self_attention',
      new MultiheadAttention(hidden, heads, { dropout: attentionDropout }),
    );
    this.dropout = this.registerModule('dropout', new Dropout(dropout));
    this.ln2 = this.registerModule('ln_2', new LayerNorm(hidden, { eps: 1e-6 }));
    // torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout (keys mlp.0 and mlp.3).
    this.mlp = this.registerModule(
      'mlp',
      new Sequential(
        new Linear(hidden, mlpDim),
        new GELU(),
        new Dropout(dropout),
        new Linear(mlpDim, hidden),
        new Dropout(dropout),
      ),
    );
    noGrad(() => {
      for (const i of [0, 3]) {
        const l = this.mlp.at(i) as Linear;
        xavierUniform_(l.weight);
        normal_(l.bias!, 0, 1e-6);
      }
    });
  }
  forward(input: Tensor): Tensor {
    const x = this.dropout.forward(this.selfAttention.forward(this.ln1.forward(input))).add(input);
    return x.add(this.mlp.forward(this.ln2.forward(x)));
  }
}

export interface VitConfig {
  imageSize: number;
  patchSize: number;
  layers: number;
  heads: number;
  hidden: number;
  mlpDim: number;
}

export class TorchvisionVisionTransformer extends TorchvisionModel {
  readonly classifierPaths: string[];
  readonly featChannels: number[];
  readonly pooledDim: number;
  readonly convProj: Conv2d;
  readonly encoder: Encoder;
  readonly heads: NamedSequential;
  readonly headDist: Linear | null;
  readonly distilled: boolean;
  /** Encoder layers whose patch tokens (as maps) are the stage features, with the stem's. */
  private readonly taps: number[];

  constructor(
    readonly architecture: string,
    readonly config: VitConfig,
    options: TorchvisionOptions & { distillationToken?: boolean; attentionDropout?: number } = {},
  ) {
    super();
    const { numClasses = 1000, inChannels = 3, dropout = 0, attentionDropout = 0, distillationToken = false } = options;
    const { imageSize, patchSize, layers, heads, hidden, mlpDim } = config;
    this.distilled = distillationToken;
    this.convProj = this.registerModule('conv_proj', new Conv2d(inChannels, hidden, patchSize, { stride: patchSize }));
    this.registerParameter('class_token', zeros([1, 1, hidden]));
    if (distillationToken) this.registerParameter('dist_token', zeros([1, 1, hidden]));
    const tokens = (imageSize / patchSize) ** 2 + (distillationToken ? 2 : 1);
    this.encoder = this.registerModule(
      'encoder',
      new Encoder(tokens, () => new EncoderBlock(heads, hidden, mlpDim, dropout, attentionDropout), layers, hidden, dropout),
    );
    this.heads = this.registerModule('heads', new NamedSequential([['head', new Linear(hidden, numClasses)]]));
    this.headDist = distillationToken ? this.registerModule('head_dist', new Linear(hidden, numClasses)) : null;
    this.classifierPaths = distillationToken ? ['heads.head', 'head_dist'] : ['heads.head'];
    this.taps = [layers / 4, layers / 2, (3 * layers) / 4].map((d) => Math.round(d) - 1);
    this.featChannels = [hidden, hidden, hidden, hidden, hidden];
    this.pooledDim = hidden;
    noGrad(() => {
      const fanIn = inChannels * patchSize * patchSize;
      truncNormal_(this.convProj.weight, { std: Math.sqrt(1 / fanIn) });
      zeros_(this.convProj.bias!);
      for (const head of [this.heads.layers[0]![1] as Linear, this.headDist]) {
        if (!head) continue;
        zeros_(head.weight);
        zeros_(head.bias!);
      }
    });
  }

  forward(x: Tensor): ModelOutput & { distLogits?: Tensor } {
    const { imageSize, patchSize, hidden } = this.config;
    const [n, , h, w] = x.shape as [number, number, number, number];
    if (h !== imageSize || w !== imageSize)
      throw new Error(
        `torchvision.${this.architecture}: expects ${imageSize}x${imageSize} images (its position embedding has one slot per ${patchSize}x${patchSize} patch), got ${h}x${w}; resize the data (data.size)`,
      );
    const grid = imageSize / patchSize;
    const stem = this.convProj.forward(x);
    const prefix = this.distilled ? 2 : 1;
    const toMap = (t: Tensor) =>
      t
        .narrow(1, prefix, grid * grid)
        .transpose(1, 2)
        .reshape(n, hidden, grid, grid);
    const tokens = [this.param('class_token')!.expand(n, -1, -1)];
    if (this.distilled) tokens.push(this.param('dist_token')!.expand(n, -1, -1));
    tokens.push(stem.reshape(n, hidden, grid * grid).transpose(1, 2));
    let t = this.encoder.embed(cat(tokens, 1));
    const feats = [stem];
    this.encoder.blocks.forEach((block, i) => {
      t = block.forward(t);
      if (this.taps.includes(i)) feats.push(toMap(t));
    });
    t = this.encoder.ln.forward(t);
    const pooledMap = toMap(t);
    feats.push(pooledMap);
    const pooled = t.select(1, 0);
    const logits = this.heads.forward(pooled);
    if (!this.headDist) return { logits, feats, preactFeats: feats, pooled, pooledMap };
    const distLogits = this.headDist.forward(t.select(1, 1));
    // DeiT: in training the two heads are supervised apart; at inference their mean is the prediction.
    if (this.training) return { logits, distLogits, feats, preactFeats: feats, pooled, pooledMap };
    return { logits: logits.add(distLogits).div(2), distLogits, feats, preactFeats: feats, pooled, pooledMap };
  }
}

/** torchvision's Encoder: pos_embedding, dropout, layers.encoder_layer_{i}, ln. */
class Encoder extends Module {
  readonly dropout: Dropout;
  readonly blocks: EncoderBlock[] = [];
  readonly ln: LayerNorm;
  constructor(tokens: number, block: () => EncoderBlock, depth: number, hidden: number, dropout: number) {
    super();
    normal_(this.registerParameter('pos_embedding', empty([1, tokens, hidden])), 0, 0.02);
    this.dropout = this.registerModule('dropout', new Dropout(dropout));
    const layers = this.registerModule('layers', new ModuleDict<EncoderBlock>());
    for (let i = 0; i < depth; i++) {
      const b = block();
      layers.set(`encoder_layer_${i}`, b);
      this.blocks.push(b);
    }
    this.ln = this.registerModule('ln', new LayerNorm(hidden, { eps: 1e-6 }));
  }
  /** Adds the position embedding (the layers run one by one in the network's forward, to tap them). */
  embed(tokens: Tensor): Tensor {
    return this.dropout.forward(tokens.add(this.param('pos_embedding')!));
  }
  forward(tokens: Tensor): Tensor {
    let t = this.embed(tokens);
    for (const b of this.blocks) t = b.forward(t);
    return this.ln.forward(t);
  }
}

export const vitB16 = (o?: TorchvisionOptions) =>
  new TorchvisionVisionTransformer(
    'vit_b_16',
    { imageSize: 224, patchSize: 16, layers: 12, heads: 12, hidden: 768, mlpDim: 3072 },
    o,
  );
const DEIT_TINY: VitConfig = { imageSize: 224, patchSize: 16, layers: 12, heads: 3, hidden: 192, mlpDim: 768 };
export const deitTiny = (o?: TorchvisionOptions) => new TorchvisionVisionTransformer('deit_tiny', DEIT_TINY, o);
export const deitTinyDistilled = (o?: TorchvisionOptions) =>
  new TorchvisionVisionTransformer('deit_tiny_distilled', DEIT_TINY, { ...o, distillationToken: true });
