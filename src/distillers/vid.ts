// VID (Ahn et al. 2019, variational information distillation, as RepDistiller runs it): for each
// stage after the stem, a 1×1-conv regressor predicts the teacher's map from the student's, with
// a learned variance per teacher channel; w_ce · CE + w_kd · Σ_stages NLL(teacher map).
import { z } from 'zod';
import { full } from '../tensor/index.js';
import { Conv2d, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { matchSpatial, sumPairs } from './util.js';

const options = z
  .object({
    initVariance: z
      .number()
      .positive()
      .default(5)
      .describe("the variance each channel starts from (RepDistiller's init_pred_var)"),
    eps: z.number().positive().default(1e-5),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(1).describe("RepDistiller's beta"),
  })
  .strict();
export type VIDOptions = z.infer<typeof options>;

/** One stage's regressor (conv1x1 → ReLU → conv1x1 → ReLU → conv1x1, no biases) and its log-scales. */
export class VIDHead extends Module {
  readonly regressor: Sequential;
  constructor(studentChannels: number, teacherChannels: number, initVariance: number, eps: number) {
    super();
    const conv = (i: number, o: number) => new Conv2d(i, o, 1, { bias: false });
    this.regressor = this.registerModule(
      'regressor',
      new Sequential(
        conv(studentChannels, teacherChannels),
        new ReLU(),
        conv(teacherChannels, teacherChannels),
        new ReLU(),
        conv(teacherChannels, teacherChannels),
      ),
    );
    // softplus(logScale) + eps = initVariance at the start.
    this.registerParameter('log_scale', full([teacherChannels], Math.log(Math.exp(initVariance - eps) - 1)));
  }
  get logScale() {
    return this.param('log_scale')!;
  }
}

export class VID extends Distiller {
  static readonly options = options;
  readonly options: VIDOptions;
  readonly heads: VIDHead[];
  private readonly feats: FeaturePair;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => o.feats.slice(1));
    const shapes = this.featureShapes(this.feats, context);
    const n = Math.min(shapes.student.length, shapes.teacher.length);
    const { initVariance, eps } = this.options;
    this.heads = Array.from({ length: n }, (_, i) =>
      this.registerModule(`vid${i}`, new VIDHead(shapes.student[i]![1]!, shapes.teacher[i]![1]!, initVariance, eps)),
    );
  }
  override extraModules(): Module[] {
    return this.heads;
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const nll = sumPairs(s.feats, t.feats, (f1, f2, i) => {
      const head = this.heads[i]!;
      const [fs, ft] = matchSpatial(f1, f2);
      return L.vid(head.regressor.forward(fs), ft, head.logScale, { eps: this.options.eps });
    });
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), vid: nll.mul(this.options.kdWeight) },
    };
  }
}
