// BYOT (Zhang et al. ICCV 2019, be your own teacher: self distillation; as the widely used
// luanyunteng/pytorch-be-your-own-teacher implements it, the authors having published no training
// code): an auxiliary head on each of the student's stages but the last (a bottleneck down to the
// deepest stage's width and resolution, average pooling, a classifier). Every head learns from the
// labels, from the deepest classifier's softened prediction and from its pooled feature:
//   (1 − α) Σ CE + α Σ_i T² · CE(softmax(z/T), log_softmax(z_i/T)) + β Σ_i ‖(f_i − f)·[f_i > 0 ∨ f > 0]‖².
// The heads are extra modules: trained with the student, not part of the deployed network.
import { z } from 'zod';
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { kaimingNormal_ } from '../nn/init.js';
import { inputChannels, type ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type TrainBatch, type TrainOutput } from './distiller.js';
import type { FeatureSource, Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    T: z.number().positive().default(3).describe("temperature of the deepest classifier's soft targets"),
    alpha: z.number().min(0).max(1).default(0.1).describe('weight of the KD terms; the CE terms take 1 − α'),
    beta: z.number().nonnegative().default(1e-6).describe('weight of the feature hints (summed squared differences)'),
    features: z
      .array(z.string().min(1))
      .min(3)
      .optional()
      .describe(
        "module paths: the stages that get a head, then the deepest stage's map, then the vector the classifier takes (e.g. [layer1, layer2, layer3, layer4, 'fc:input']); default the zoo model's stages and pooled vector",
      ),
  })
  .strict();
export type BYOTOptions = z.infer<typeof options>;

/** The reference's branchBottleNeck: 1×1 to width/4, k×k stride k, 1×1 to the width, each + BN + ReLU. */
function branchBottleneck(inChannels: number, outChannels: number, kernel: number): Sequential {
  const middle = Math.max(1, Math.floor(outChannels / 4));
  const convs = [
    new Conv2d(inChannels, middle, 1),
    new Conv2d(middle, middle, kernel, { stride: kernel }),
    new Conv2d(middle, outChannels, 1),
  ];
  // The reference model initialises every conv He-normal (fan_out), BatchNorm to (1, 0).
  for (const c of convs) kaimingNormal_(c.weight, { mode: 'fan_out', nonlinearity: 'relu' });
  return new Sequential(...convs.flatMap((c) => [c, new BatchNorm2d(c.outChannels), new ReLU()]));
}

/** One auxiliary classifier: bottleneck, global average pooling, a linear layer. */
export class AuxiliaryHead extends Module {
  readonly bottleneck: Sequential;
  readonly fc: Linear;
  constructor(inChannels: number, width: number, kernel: number, classes: number) {
    super();
    this.bottleneck = this.registerModule('bottleneck', branchBottleneck(inChannels, width, kernel));
    this.fc = this.registerModule('fc', new Linear(width, classes));
  }
  forward(x: Tensor): { logits: Tensor; feature: Tensor } {
    const feature = this.bottleneck.forward(x).mean([2, 3]);
    return { logits: this.fc.forward(feature), feature };
  }
}

export class BYOT extends Distiller {
  static override readonly needsTeacher = false;
  static readonly options = options;
  readonly options: BYOTOptions;
  readonly heads: AuxiliaryHead[];
  private readonly source: FeatureSource;

  constructor(student: Network, _teacher: Network | null, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, null);
    this.options = options.parse(opts);
    this.source = this.studentFeatureSource(this.options.features, (o: ModelOutput) => [...o.feats.slice(1), o.pooled]);
    const shape = context.inputShape ?? ([inputChannels(student), 32, 32] as [number, number, number]);
    const shapes = this.source.probe(shape);
    const classes = this.studentClasses(context);
    const [finalMap, pooled] = [shapes.at(-2)!, shapes.at(-1)!];
    if (shapes.length < 3 || finalMap.length !== 4 || pooled.length !== 2)
      throw new Error(
        `BYOT: needs the stages that get a head, then the deepest stage's map [B, C, H, W], then the classifier's input [B, C]; got shapes ${JSON.stringify(shapes.map((s) => s.slice(1)))}`,
      );
    this.heads = shapes.slice(0, -2).map((s, i) => {
      const kernel = s[2]! / finalMap[2]!;
      if (s.length !== 4 || !Number.isInteger(kernel) || s[3]! / finalMap[3]! !== kernel)
        throw new Error(
          `BYOT: stage ${i + 1} (${s.slice(1).join('×')}) is not an integer multiple of the deepest map (${finalMap.slice(1).join('×')}) in size; name other stages (features)`,
        );
      return this.registerModule(`head${i + 1}`, new AuxiliaryHead(s[1]!, pooled[1]!, kernel, classes));
    });
  }

  override extraModules(): Module[] {
    return this.heads;
  }

  /** The student's logits and each head's, from one forward. */
  override forwardEvaluation(x: Tensor): { logits: Tensor; others: Record<string, Tensor> } {
    const { logits, feats } = this.source.forward(x);
    return { logits, others: Object.fromEntries(this.heads.map((h, i) => [`head${i + 1}`, h.forward(feats[i]!).logits])) };
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { T, alpha, beta } = this.options;
    const { logits, feats } = this.source.forward(batch.images);
    const final = feats.at(-1)!;
    const target = F.softmax(logits.detach().div(T), 1);
    const outs = this.heads.map((h, i) => h.forward(feats[i]!));
    const sum = (xs: Tensor[]) => xs.reduce((a, b) => a.add(b));
    return {
      logits,
      losses: {
        ce: this.ce(logits, batch.labels).mul(1 - alpha),
        ceHeads: sum(outs.map((o) => this.ce(o.logits, batch.labels))).mul(1 - alpha),
        kd: sum(outs.map((o) => L.softTargetCrossEntropy(o.logits.div(T), target).mul(T * T))).mul(alpha),
        feature: sum(outs.map((o) => L.byotFeature(o.feature, final))).mul(beta),
      },
    };
  }
}
