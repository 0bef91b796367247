// RKD (Park et al. 2019): w_ce · CE + w_kd · (w_d · distance + w_a · angle) on the pooled features.
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface RKDOptions {
  distanceWeight: number;
  angleWeight: number;
  ceWeight: number;
  kdWeight: number;
}

export class RKD extends Distiller {
  static readonly defaults: RKDOptions = { distanceWeight: 25, angleWeight: 50, ceWeight: 1, kdWeight: 1 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: RKDOptions = RKD.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { distanceWeight, angleWeight, ceWeight, kdWeight } = this.options;
    const s = this.student.forward(batch.images);
    const t = this.teacherForward(batch.images);
    const rkd = L.rkdDistance(s.pooled, t.pooled).mul(distanceWeight).add(L.rkdAngle(s.pooled, t.pooled).mul(angleWeight));
    return { logits: s.logits, losses: { ce: F.crossEntropy(s.logits, batch.labels).mul(ceWeight), rkd: rkd.mul(kdWeight) } };
  }
}
