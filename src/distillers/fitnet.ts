// FitNet (Romero et al. 2015): a regressor maps the student's hint layer to the teacher's guided
// layer; w_ce · CE + w_kd · MSE(regressor(f_s), f_t). mdistiller's ConvReg picks the regressor
// from the two spatial sizes.
import { z } from 'zod';
import type { Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { convRegressor } from './util.js';

const options = z
  .object({
    hintLayer: z.number().int().nonnegative().default(2).describe("index into a zoo model's feats (stage 2)"),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(100),
  })
  .strict();
export type FitNetOptions = z.infer<typeof options>;

export class FitNet extends Distiller {
  static readonly options = options;
  readonly options: FitNetOptions;
  readonly regressor: Sequential;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    const layer = this.options.hintLayer;
    const hint = (o: ModelOutput) => {
      if (!o.feats[layer]) throw new Error(`FitNet: hintLayer ${layer} is out of range for these models`);
      return [o.feats[layer]];
    };
    this.feats = this.featureSources(this.options.features, hint, 1);
    const shapes = this.featureShapes(this.feats, context);
    this.regressor = this.registerModule('regressor', convRegressor(shapes.student[0]!, shapes.teacher[0]!));
  }

  override extraModules(): Module[] {
    return [this.regressor];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    return {
      logits: s.logits,
      losses: {
        ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
        fitnet: L.fitnet(this.regressor.forward(s.feats[0]!), t.feats[0]!).mul(this.options.kdWeight),
      },
    };
  }
}
