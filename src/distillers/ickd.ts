// ICKD (Liu et al. 2021): inter-channel correlation. A 1×1 conv + BN embeds the student's last
// map to the teacher's channels; w_ce · CE + w_kd · Σ (G_s − G_t)² / (C·B) over channel Grams.
import { z } from 'zod';
import { BatchNorm2d, Conv2d, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import {
  Distiller,
  lastFeatureMap,
  type DistillerContext,
  type FeaturePair,
  type TrainBatch,
  type TrainOutput,
} from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(2.5),
  })
  .strict();
export type ICKDOptions = z.infer<typeof options>;

export class ICKD extends Distiller {
  static readonly options = options;
  readonly options: ICKDOptions;
  readonly embed: Sequential;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, lastFeatureMap, 1);
    const shapes = this.featureShapes(this.feats, context);
    const [cs, ct] = [shapes.student[0]![1]!, shapes.teacher[0]![1]!];
    this.embed = this.registerModule('embed', new Sequential(new Conv2d(cs, ct, 1, { bias: false }), new BatchNorm2d(ct)));
  }
  override extraModules(): Module[] {
    return [this.embed];
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    return {
      logits: s.logits,
      losses: {
        ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
        ickd: L.ickd(this.embed.forward(s.feats[0]!), t.feats[0]!).mul(this.options.kdWeight),
      },
    };
  }
}
