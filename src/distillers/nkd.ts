// NKD (Yang et al. ICCV 2023, from knowledge distillation to self-knowledge distillation with a
// normalized loss; the authors' yzd-v/cls_KD NKDLoss): CE + the target term and the normalised
// non-target term at temperature T, weighted γ.
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    T: z
      .number()
      .positive()
      .default(1)
      .describe('temperature of the non-target term (the authors: 1 on ImageNet, 3 on CIFAR-100)'),
    gamma: z.number().nonnegative().default(1.5).describe('weight of the non-target term (1.5 on ImageNet, 3.5 on CIFAR-100)'),
    ceWeight: z.number().nonnegative().default(1),
  })
  .strict();
export type NKDOptions = z.infer<typeof options>;

export class NKD extends Distiller {
  static readonly options = options;
  readonly options: NKDOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { T, gamma, ceWeight } = this.options;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    return {
      logits: zS,
      losses: { ce: this.ce(zS, batch.labels).mul(ceWeight), nkd: L.nkd(zS, zT, batch.labels, { T, gamma }) },
    };
  }
}
