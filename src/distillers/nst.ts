// NST (Huang & Wang 2017): w_ce · CE + w_kd · Σ_stages MMD²(student channels, teacher channels)
// with a polynomial kernel, over the stage outputs after the stem (RepDistiller's feat[1:-1]).
import { z } from 'zod';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { sumPairs } from './util.js';

const options = z
  .object({
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(50).describe("RepDistiller's beta"),
  })
  .strict();
export type NSTOptions = z.infer<typeof options>;

export class NST extends Distiller {
  static readonly options = options;
  readonly options: NSTOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => o.feats.slice(1));
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const nst = sumPairs(s.feats, t.feats, L.nst);
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), nst: nst.mul(this.options.kdWeight) },
    };
  }
}
