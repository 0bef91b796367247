// ICKD (Liu et al. 2021): inter-channel correlation. A 1×1 conv + BN embeds the student's last
// map to the teacher's channels; w_ce · CE + w_kd · Σ (G_s − G_t)² / (C·B) over channel Grams.
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';

export interface ICKDOptions {
  ceWeight: number;
  kdWeight: number;
}

export class ICKD extends Distiller {
  static readonly defaults: ICKDOptions = { ceWeight: 1, kdWeight: 2.5 };
  readonly info = { needsTeacher: true, views: 1 as const };
  readonly embed: Sequential;
  constructor(
    student: Model,
    teacher: Model,
    readonly options: ICKDOptions = ICKD.defaults,
  ) {
    super(student, teacher);
    const cs = student.featChannels.at(-1)!;
    const ct = teacher.featChannels.at(-1)!;
    this.embed = this.registerModule('embed', new Sequential(new Conv2d(cs, ct, 1, { bias: false }), new BatchNorm2d(ct)));
  }
  override extraModules(): Module[] {
    return [this.embed];
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const s = this.student.forward(batch.images);
    const t = this.teacherForward(batch.images);
    return {
      logits: s.logits,
      losses: {
        ce: F.crossEntropy(s.logits, batch.labels).mul(this.options.ceWeight),
        ickd: L.ickd(this.embed.forward(s.feats.at(-1)!), t.feats.at(-1)!).mul(this.options.kdWeight),
      },
    };
  }
}
