// KDSVD (Lee et al. 2018, self-supervised KD with singular value decomposition, as RepDistiller
// runs it): w_ce · CE + w_kd · KDSVD over the stage outputs after the stem (RepDistiller's
// feat[1:-1]); the relation of consecutive stages' singular vectors is what transfers.
import { z } from 'zod';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    k: z.number().int().positive().default(1).describe('singular vectors taken from the teacher (the student gives k + 3)'),
    variant: z
      .enum(['repdistiller', 'mdistiller'])
      .default('repdistiller')
      .describe("repdistiller: the [HW, C] matrix of each map (the authors' layout); mdistiller: its [C·H, W] view"),
    features: featuresOption.describe('two or more maps per network, shallow to deep (default: every stage after the stem)'),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(1).describe("RepDistiller's beta"),
  })
  .strict();
export type KDSVDOptions = z.infer<typeof options>;

export class KDSVD extends Distiller {
  static readonly options = options;
  static override readonly equalWidths = true;
  readonly options: KDSVDOptions;
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => o.feats.slice(1));
    // Singular vectors span channels (repdistiller) or columns (mdistiller): those must agree.
    const shapes = this.featureShapes(this.feats, context);
    if (this.options.variant === 'repdistiller') this.checkEqualWidths(shapes);
    else this.checkEqualWidths(shapes, 3, 'columns');
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const { k, variant } = this.options;
    const kdsvd = L.kdsvd(s.feats, t.feats, { k, layout: variant });
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), kdsvd: kdsvd.mul(this.options.kdWeight) },
    };
  }
}
