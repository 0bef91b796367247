// FitNet (Romero et al. 2015): a regressor maps the student's hint layer to the teacher's guided
// layer; w_ce · CE + w_kd · MSE(regressor(f_s), f_t). mdistiller's ConvReg picks the regressor
// from the two spatial sizes.
import { BatchNorm2d, Conv2d, ConvTranspose2d, ReLU, Sequential } from '../nn/layers.js';
import * as F from '../tensor/functional.js';
import type { Module } from '../nn/module.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface FitNetOptions {
  hintLayer: number;
  ceWeight: number;
  kdWeight: number;
  inputSize: number;
}

/** Conv (stride 2 to halve, transposed to double, or a kernel that shrinks) + BN + ReLU. */
export function convRegressor(s: number[], t: number[]): Sequential {
  const [, sc, sh, sw] = s as [number, number, number, number];
  const [, tc, th, tw] = t as [number, number, number, number];
  let conv: Conv2d | ConvTranspose2d;
  if (sh === 2 * th) conv = new Conv2d(sc, tc, 3, { stride: 2, padding: 1 });
  else if (sh * 2 === th) conv = new ConvTranspose2d(sc, tc, 4, { stride: 2, padding: 1 });
  else if (sh >= th) conv = new Conv2d(sc, tc, [1 + sh - th, 1 + sw - tw]);
  else throw new Error(`FitNet: no regressor from a ${sh}x${sw} student map to a ${th}x${tw} teacher map`);
  return new Sequential(conv, new BatchNorm2d(tc), new ReLU());
}

export class FitNet extends Distiller {
  static readonly defaults: FitNetOptions = { hintLayer: 2, ceWeight: 1, kdWeight: 100, inputSize: 32 };
  readonly info = { needsTeacher: true, views: 1 as const };
  readonly regressor: Sequential;

  constructor(
    student: Model,
    teacher: Model,
    readonly options: FitNetOptions = FitNet.defaults,
  ) {
    super(student, teacher);
    const shapes = this.featureShapes([options.inputSize, options.inputSize]);
    const layer = options.hintLayer;
    if (!shapes.student[layer] || !shapes.teacher[layer])
      throw new Error(`FitNet: hintLayer ${layer} is out of range for these models`);
    this.regressor = this.registerModule('regressor', convRegressor(shapes.student[layer]!, shapes.teacher[layer]!));
  }

  override extraModules(): Module[] {
    return [this.regressor];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const s = this.student.forward(batch.images);
    const t = this.teacherForward(batch.images);
    const layer = this.options.hintLayer;
    return {
      logits: s.logits,
      losses: {
        ce: F.crossEntropy(s.logits, batch.labels).mul(this.options.ceWeight),
        fitnet: L.fitnet(this.regressor.forward(s.feats[layer]!), t.feats[layer]!).mul(this.options.kdWeight),
      },
    };
  }
}
