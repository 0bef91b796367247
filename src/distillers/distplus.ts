// DIST+ (Huang et al. TPAMI 2025, knowledge distillation from a stronger adaptive teacher; as
// torchdistill's DISTPlusLoss, the only public implementation): DIST on the logits plus two
// relations of the last feature maps, across channels at each position and across the batch at
// each position. L = w_ce · CE + w_kd · (DIST + ι · channel + κ · spatial).
import { z } from 'zod';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { matchSpatial } from './util.js';

const options = z
  .object({
    beta: z.number().nonnegative().default(2).describe('weight of the inter-class relation (torchdistill sample: 2)'),
    gamma: z.number().nonnegative().default(2).describe('weight of the intra-class relation (2)'),
    iota: z.number().nonnegative().default(1).describe('weight of the channel relation (1)'),
    kappa: z.number().nonnegative().default(1).describe('weight of the spatial relation (1)'),
    tau: z.number().positive().default(1).describe('temperature (1)'),
    channelRelation: z
      .enum(['correlation', 'distance'])
      .default('correlation')
      .describe(
        "torchdistill adds the channel correlation itself to the loss ('correlation', which rewards decorrelation); 'distance' adds 1 − correlation",
      ),
    features: featuresOption.describe("one map per network (default: the zoo model's last stage)"),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(2).describe("weight of the DIST+ term (the sample config's sub-term weight 2)"),
  })
  .strict();
export type DISTPlusOptions = z.infer<typeof options>;

export class DISTPlus extends Distiller {
  static override readonly equalWidths = true;
  static readonly options = options;
  readonly options: DISTPlusOptions;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => [o.feats.at(-1)!], 1);
    this.checkEqualWidths(this.featureShapes(this.feats, context));
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const o = this.options;
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const [fS, fT] = matchSpatial(s.feats[0]!, t.feats[0]!);
    const { channel, spatial } = L.distPlusRelations(fS, fT);
    const channelTerm = o.channelRelation === 'distance' ? channel.neg().add(1) : channel;
    const term = L.dist(s.logits, t.logits, { beta: o.beta, gamma: o.gamma, tau: o.tau })
      .add(channelTerm.mul(o.iota))
      .add(spatial.mul(o.kappa));
    return { logits: s.logits, losses: { ce: this.ce(s.logits, batch.labels).mul(o.ceWeight), distplus: term.mul(o.kdWeight) } };
  }
}
