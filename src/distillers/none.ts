// The baseline: the student trained alone with cross entropy.
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';

const options = z.object({}).strict();

export class Vanilla extends Distiller {
  static override readonly needsTeacher = false;
  static readonly options = options;
  constructor(student: Network, _teacher?: Network | null, _options: z.input<typeof options> = {}) {
    super(student, null);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const logits = this.studentLogits(batch.images);
    return { logits, losses: { ce: this.ce(logits, batch.labels) } };
  }
}
