// SP (Tung & Mori 2019): w_ce · CE + w_kd · Σ_pairs ‖G_t − G_s‖²_F / B² (default: the last
// feature maps).
import { z } from 'zod';
import { Distiller, lastFeatureMap, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(3000),
  })
  .strict();
export type SPOptions = z.infer<typeof options>;

export class SP extends Distiller {
  static readonly options = options;
  readonly options: SPOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, lastFeatureMap);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const sp = s.feats.map((fs, i) => L.sp(fs, t.feats[i]!)).reduce((a, b) => a.add(b));
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), sp: sp.mul(this.options.kdWeight) },
    };
  }
}
