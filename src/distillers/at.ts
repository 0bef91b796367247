// AT (Zagoruyko & Komodakis 2017): w_ce · CE + w_kd · Σ_stages mean((a_s − a_t)²) over the stage
// outputs after the stem, a(f) = l2-normalised channel mean of f^p.
import { z } from 'zod';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { sumPairs } from './util.js';

const options = z
  .object({
    p: z.number().positive().default(2).describe('power of the attention map'),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(1000),
  })
  .strict();
export type ATOptions = z.infer<typeof options>;

export class AT extends Distiller {
  static readonly options = options;
  readonly options: ATOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, _context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    const stages = (o: ModelOutput) => o.feats.slice(1);
    this.feats = this.featureSources(this.options.features, stages);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const at = sumPairs(s.feats, t.feats, (fs, ft) => L.at(fs, ft, { p: this.options.p }));
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), at: at.mul(this.options.kdWeight) },
    };
  }
}
