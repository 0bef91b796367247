// PKT (Passalis & Tefas 2018): w_ce · CE + w_kd · KL(P_t ‖ P_s) between the distributions of
// cosine similarities of the pooled features within the batch.
import { z } from 'zod';
import { Distiller, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { pooledFeatureOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    features: pooledFeatureOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(30000).describe("RepDistiller's beta"),
  })
  .strict();
export type PKTOptions = z.infer<typeof options>;

export class PKT extends Distiller {
  static readonly options = options;
  readonly options: PKTOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.pooledSources(this.options.features);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const pkt = L.pkt(s.feats[0]!.flatten(1), t.feats[0]!.flatten(1));
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), pkt: pkt.mul(this.options.kdWeight) },
    };
  }
}
