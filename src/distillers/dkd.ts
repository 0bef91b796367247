// DKD (Zhao et al. 2022): w_ce · CE + min(epoch / warmup, 1) · (α · TCKD + β · NCKD).
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainContext, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface DKDOptions {
  alpha: number;
  beta: number;
  T: number;
  ceWeight: number;
  warmupEpochs: number;
}

export class DKD extends Distiller {
  static readonly defaults: DKDOptions = { alpha: 1, beta: 8, T: 4, ceWeight: 1, warmupEpochs: 20 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: DKDOptions = DKD.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const { alpha, beta, T, ceWeight, warmupEpochs } = this.options;
    const zS = this.student.forward(batch.images).logits;
    const zT = this.teacherForward(batch.images).logits;
    // mdistiller counts epochs from 1.
    const ramp = warmupEpochs > 0 ? Math.min((ctx.epoch + 1) / warmupEpochs, 1) : 1;
    return {
      logits: zS,
      losses: {
        ce: F.crossEntropy(zS, batch.labels).mul(ceWeight),
        dkd: L.dkd(zS, zT, batch.labels, { alpha, beta, T }).mul(ramp),
      },
    };
  }
}
