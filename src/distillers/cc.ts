// CC (Peng et al. 2019, correlation congruence, as RepDistiller runs it): the pooled features of
// both networks are embedded by a learned linear map each (RepDistiller's LinearEmbed, 128-d);
// w_ce · CE + w_kd · mean_i Σ |Δ_i| |Δ_i+1| with Δ = embed_s(f_s) − embed_t(f_t).
import { z } from 'zod';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { pooledFeatureOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    embedDim: z.number().int().positive().default(128).describe("RepDistiller's feat_dim"),
    features: pooledFeatureOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(0.02).describe("RepDistiller's beta"),
  })
  .strict();
export type CCOptions = z.infer<typeof options>;

export class CC extends Distiller {
  static readonly options = options;
  readonly options: CCOptions;
  readonly embedStudent: Linear;
  readonly embedTeacher: Linear;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.pooledSources(this.options.features);
    const shapes = this.featureShapes(this.feats, context);
    const width = (shape: number[]) => shape.slice(1).reduce((a, b) => a * b, 1);
    this.embedStudent = this.registerModule('embedStudent', new Linear(width(shapes.student[0]!), this.options.embedDim));
    this.embedTeacher = this.registerModule('embedTeacher', new Linear(width(shapes.teacher[0]!), this.options.embedDim));
  }
  override extraModules(): Module[] {
    return [this.embedStudent, this.embedTeacher];
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const cc = L.cc(this.embedStudent.forward(s.feats[0]!.flatten(1)), this.embedTeacher.forward(t.feats[0]!.flatten(1)));
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), cc: cc.mul(this.options.kdWeight) },
    };
  }
}
