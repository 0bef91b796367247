// AT (Zagoruyko & Komodakis 2017): w_ce · CE + w_kd · Σ_stages mean((a_s − a_t)²) over the stage
// outputs after the stem, a(f) = l2-normalised channel mean of f^p.
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface ATOptions {
  p: number;
  ceWeight: number;
  kdWeight: number;
}

export class AT extends Distiller {
  static readonly defaults: ATOptions = { p: 2, ceWeight: 1, kdWeight: 1000 };
  readonly info = { needsTeacher: true, views: 1 as const };
  constructor(
    student: Model,
    teacher: Model,
    readonly options: ATOptions = AT.defaults,
  ) {
    super(student, teacher);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const s = this.student.forward(batch.images);
    const t = this.teacherForward(batch.images);
    const n = Math.min(s.feats.length, t.feats.length);
    let at = L.at(s.feats[1]!, t.feats[1]!, { p: this.options.p });
    for (let i = 2; i < n; i++) at = at.add(L.at(s.feats[i]!, t.feats[i]!, { p: this.options.p }));
    return {
      logits: s.logits,
      losses: { ce: F.crossEntropy(s.logits, batch.labels).mul(this.options.ceWeight), at: at.mul(this.options.kdWeight) },
    };
  }
}
