// KD (Hinton et al. 2015): w_ce · CE + w_kd · T² KL(p_t ‖ p_s) at temperature T.
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface KDOptions {
  T: number;
  ceWeight: number;
  kdWeight: number;
}

export class KD extends Distiller {
  static readonly defaults: KDOptions = { T: 4, ceWeight: 0.1, kdWeight: 0.9 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: KDOptions = KD.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const zS = this.student.forward(batch.images).logits;
    const zT = this.teacherForward(batch.images).logits;
    return {
      logits: zS,
      losses: {
        ce: F.crossEntropy(zS, batch.labels).mul(this.options.ceWeight),
        kd: L.kd(zS, zT, { T: this.options.T }).mul(this.options.kdWeight),
      },
    };
  }
}
