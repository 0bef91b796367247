// FSP (Yim et al. 2017, "a gift from knowledge distillation", as RepDistiller runs it): the flow
// of solution procedure between consecutive feature maps, G = F_top · F_botᵀ / (H·W) per sample.
// Stage 1 trains the student's body to match the teacher's FSP matrices (MSE, Σ over pairs);
// the main stage is ordinary training (CE, optionally plus KD).
import { z } from 'zod';
import type { Tensor } from '../tensor/index.js';
import type { ModelOutput } from '../models/model.js';
import {
  Distiller,
  type DistillerContext,
  type FeaturePair,
  type PrepStage,
  type TrainBatch,
  type TrainOutput,
} from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    features: featuresOption.describe(
      'three or more maps per network, shallow to deep, of equal widths in student and teacher (default: the stem and every stage)',
    ),
    fspWeight: z.number().positive().default(1).describe('scale of the FSP loss in stage 1 (RepDistiller: 1)'),
    initEpochs: z.number().int().nonnegative().default(30),
    initLr: z.number().positive().default(0.05),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(0).describe("optional KD in the main stage (RepDistiller's alpha)"),
    T: z.number().positive().default(4),
  })
  .strict();
export type FSPOptions = z.infer<typeof options>;

export class FSP extends Distiller {
  static readonly options = options;
  static override readonly equalWidths = true;
  readonly options: FSPOptions;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => o.feats);
    const shapes = this.featureShapes(this.feats, context);
    if (shapes.student.length !== shapes.teacher.length)
      throw new Error(
        `FSP: the student gives ${shapes.student.length} feature maps and the teacher ${shapes.teacher.length}; name as many of each (method.options.features)`,
      );
    if (shapes.student.length < 2) throw new Error('FSP relates consecutive feature maps: name at least 2 per network');
    this.checkEqualWidths(shapes);
  }

  /** Σ over consecutive pairs of the MSE between the student's and the teacher's FSP matrices. */
  fspLoss(batch: TrainBatch): Tensor {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    return L.fsp(s.feats, t.feats).mul(this.options.fspWeight);
  }

  override prepStages(): PrepStage[] {
    return [
      {
        name: 'fsp-init',
        epochs: this.options.initEpochs,
        lr: this.options.initLr,
        parameters: () => this.student.parameters(),
        enter: () => this.train(),
        step: (batch) => ({ fsp: this.fspLoss(batch) }),
      },
    ];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const zS = this.studentLogits(batch.images);
    const losses: Record<string, Tensor> = { ce: this.ce(zS, batch.labels).mul(this.options.ceWeight) };
    if (this.options.kdWeight > 0) {
      losses.kd = L.kd(zS, this.teacherLogits(batch.images), { T: this.options.T }).mul(this.options.kdWeight);
    }
    return { logits: zS, losses };
  }
}
