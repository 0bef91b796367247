// The baseline: the student trained alone with cross entropy.
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';

export interface NoneOptions {
  labelSmoothing: number;
}

export class Vanilla extends Distiller {
  static readonly defaults: NoneOptions = { labelSmoothing: 0 };
  readonly info = { needsTeacher: false, views: 1 as const };
  constructor(
    student: Model,
    _teacher: Model | null,
    readonly options: NoneOptions = Vanilla.defaults,
  ) {
    super(student, null);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const logits = this.student.forward(batch.images).logits;
    return { logits, losses: { ce: F.crossEntropy(logits, batch.labels, { labelSmoothing: this.options.labelSmoothing }) } };
  }
}
