// RKD (Park et al. 2019): w_ce · CE + w_kd · (w_d · distance + w_a · angle) on the pooled features.
import { z } from 'zod';
import { Distiller, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { pooledFeatureOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    distanceWeight: z.number().nonnegative().default(25),
    angleWeight: z.number().nonnegative().default(50),
    features: pooledFeatureOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(1),
  })
  .strict();
export type RKDOptions = z.infer<typeof options>;

export class RKD extends Distiller {
  static readonly options = options;
  readonly options: RKDOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.pooledSources(this.options.features);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { distanceWeight, angleWeight, ceWeight, kdWeight } = this.options;
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const [es, et] = [s.feats[0]!.flatten(1), t.feats[0]!.flatten(1)];
    const rkd = L.rkdDistance(es, et).mul(distanceWeight).add(L.rkdAngle(es, et).mul(angleWeight));
    return { logits: s.logits, losses: { ce: this.ce(s.logits, batch.labels).mul(ceWeight), rkd: rkd.mul(kdWeight) } };
  }
}
