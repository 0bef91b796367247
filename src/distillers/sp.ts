// SP (Tung & Mori 2019): w_ce · CE + w_kd · ‖G_t − G_s‖²_F / B² on the last feature maps.
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface SPOptions {
  ceWeight: number;
  kdWeight: number;
}

export class SP extends Distiller {
  static readonly defaults: SPOptions = { ceWeight: 1, kdWeight: 3000 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: SPOptions = SP.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const s = this.student.forward(batch.images);
    const t = this.teacherForward(batch.images);
    return {
      logits: s.logits,
      losses: {
        ce: F.crossEntropy(s.logits, batch.labels).mul(this.options.ceWeight),
        sp: L.sp(s.feats.at(-1)!, t.feats.at(-1)!).mul(this.options.kdWeight),
      },
    };
  }
}
