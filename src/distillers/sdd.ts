// SDD (Wei et al. CVPR 2024, scale-decoupled distillation; the authors' shicaiwei123/SDD-CVPR2024):
// the map each network pools for its classifier is average-pooled at several scales (1×1, 2×2,
// 4×4: 21 regions), each region's vector goes through that network's own classifier, and KD (or
// DKD) is applied to every region's logits, the regions where the teacher's local and global
// predictions disagree about the label weighted 2.
import { z } from 'zod';
import { cat, noGrad, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import type { Linear } from '../nn/layers.js';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type FeaturePair, type TrainBatch, type TrainContext, type TrainOutput } from './distiller.js';
import { classifiersOption, featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { classifierOf } from './util.js';

const scale = z.union([z.literal(1), z.literal(2), z.literal(4)]);
const options = z
  .object({
    base: z.enum(['kd', 'dkd']).default('kd').describe('the loss on each region: KD (SDD_KD) or DKD (SDD_DKD)'),
    scales: z
      .array(scale)
      .min(1)
      .default([1, 2, 4])
      .refine((s) => s[0] === 1 && s.every((v, i) => i === 0 || v > s[i - 1]!), {
        message: 'scales start with 1 (the global region) and increase: [1], [1, 2] or [1, 2, 4]',
      })
      .describe("pooling grids (the authors' --M): [1, 2, 4] is 1 + 4 + 16 regions; [1] is plain KD/DKD"),
    T: z.number().positive().default(4).describe('temperature'),
    ceWeight: z.number().nonnegative().optional().describe('CE weight: 0.1 with base kd (cfg.KD), 1 with base dkd (cfg.DKD)'),
    kdWeight: z.number().nonnegative().optional().describe('weight of the regional loss: 0.9 with base kd, 1 with base dkd'),
    alpha: z.number().nonnegative().default(1).describe("DKD's TCKD weight"),
    beta: z.number().nonnegative().default(8).describe("DKD's NCKD weight"),
    warmupEpochs: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("DKD's linear ramp of the regional loss (the authors' --warmup, 20); none with base kd"),
    features: featuresOption.describe("the map each network's classifier pools (default: the zoo model's pooledMap)"),
    classifiers: classifiersOption,
  })
  .strict();
/** The options with the per-base defaults resolved (SDD_KD reads cfg.KD, SDD_DKD cfg.DKD and --warmup). */
export type SDDOptions = z.infer<typeof options> & { ceWeight: number; kdWeight: number; warmupEpochs: number };

/**
 * The logits of every region, region-major [N·B, K]: the map average-pooled to 4×4 and the coarser
 * grids pooled from that (the authors' SPP), each region's vector through `classify`.
 */
export function regionLogits(map: Tensor, classify: (v: Tensor) => Tensor, scales: readonly number[]): Tensor {
  const grid4 = F.adaptiveAvgPool2d(map, [4, 4]);
  const pooled = scales.map((s) => (s === 4 ? grid4 : F.adaptiveAvgPool2d(grid4, [s, s])).flatten(2));
  const regions = cat(pooled, 2).permute(2, 0, 1); // [N, B, C]
  return classify(regions.reshape(-1, map.shape[1]!));
}

export class SDD extends Distiller {
  static readonly options = options;
  readonly options: SDDOptions;
  readonly studentClassifier: Linear;
  readonly teacherClassifier: Linear;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    const o = options.parse(opts);
    const isKD = o.base === 'kd';
    this.options = {
      ...o,
      ceWeight: o.ceWeight ?? (isKD ? 0.1 : 1),
      kdWeight: o.kdWeight ?? (isKD ? 0.9 : 1),
      warmupEpochs: o.warmupEpochs ?? (isKD ? 0 : 20),
    };
    this.feats = this.featureSources(this.options.features, (out: ModelOutput) => [out.pooledMap], 1);
    this.studentClassifier = classifierOf(student, this.options.classifiers?.student, 'SDD: classifiers.student');
    this.teacherClassifier = classifierOf(teacher, this.options.classifiers?.teacher, 'SDD: classifiers.teacher');
  }

  private regions(map: Tensor, classifier: Linear): Tensor {
    if (map.shape[1] !== classifier.inFeatures)
      throw new Error(
        `SDD: the classifier takes ${classifier.inFeatures} features but the map has ${map.shape[1]} channels; name the map it pools (features)`,
      );
    return regionLogits(map, (v) => classifier.forward(v), this.options.scales);
  }

  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const o = this.options;
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const zS = this.regions(s.feats[0]!, this.studentClassifier);
    const zT = noGrad(() => this.regions(t.feats[0]!, this.teacherClassifier));
    // mdistiller counts epochs from 1.
    const ramp = o.warmupEpochs > 0 ? Math.min((ctx.epoch + 1) / o.warmupEpochs, 1) : 1;
    const sdd = L.sdd(zS, zT, batch.labels, { base: o.base, T: o.T, alpha: o.alpha, beta: o.beta });
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(o.ceWeight), sdd: sdd.mul(o.kdWeight * ramp) },
    };
  }
}
