// DIST (Huang et al. 2022): w_ce · CE + w_kd · τ² (β · inter-class + γ · intra-class relation).
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface DISTOptions {
  beta: number;
  gamma: number;
  tau: number;
  ceWeight: number;
  kdWeight: number;
}

export class DIST extends Distiller {
  static readonly defaults: DISTOptions = { beta: 1, gamma: 1, tau: 4, ceWeight: 1, kdWeight: 2 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: DISTOptions = DIST.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { beta, gamma, tau, ceWeight, kdWeight } = this.options;
    const zS = this.student.forward(batch.images).logits;
    const zT = this.teacherForward(batch.images).logits;
    return {
      logits: zS,
      losses: { ce: F.crossEntropy(zS, batch.labels).mul(ceWeight), dist: L.dist(zS, zT, { beta, gamma, tau }).mul(kdWeight) },
    };
  }
}
