// FitNet (Romero et al. 2015): a regressor maps the student's hint layer to the teacher's guided
// layer; w_ce · CE + w_kd · MSE(regressor(f_s), f_t). mdistiller's ConvReg picks the regressor
// from the two spatial sizes.
import { z } from 'zod';
import { BatchNorm2d, Conv2d, ConvTranspose2d, ReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    hintLayer: z.number().int().nonnegative().default(2).describe("index into a zoo model's feats (stage 2)"),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(100),
  })
  .strict();
export type FitNetOptions = z.infer<typeof options>;

/** Conv (stride 2 to halve, transposed to double, or a kernel that shrinks) + BN + ReLU. */
export function convRegressor(s: number[], t: number[]): Sequential {
  const [, sc, sh, sw] = s as [number, number, number, number];
  const [, tc, th, tw] = t as [number, number, number, number];
  if (s.length !== 4 || t.length !== 4)
    throw new Error(`FitNet: the hint and guided features must be maps [B, C, H, W], got [${s}] and [${t}]`);
  let conv: Conv2d | ConvTranspose2d;
  if (sh === 2 * th) conv = new Conv2d(sc, tc, 3, { stride: 2, padding: 1 });
  else if (sh * 2 === th) conv = new ConvTranspose2d(sc, tc, 4, { stride: 2, padding: 1 });
  else if (sh >= th) conv = new Conv2d(sc, tc, [1 + sh - th, 1 + sw - tw]);
  else throw new Error(`FitNet: no regressor from a ${sh}x${sw} student map to a ${th}x${tw} teacher map`);
  return new Sequential(conv, new BatchNorm2d(tc), new ReLU());
}

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
