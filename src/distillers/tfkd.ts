// Tf-KD (Yuan et al. CVPR 2020, revisiting KD via label smoothing regularisation, the authors'
// yuanli2333/Teacher-free-Knowledge-Distillation my_loss_function.py). Two methods:
// - tfkd-reg: no teacher network, a virtual teacher (0.99 on the label) softened at T;
//   (1 − α) · CE + α · multiplier · KL.
// - tfkd-self: the teacher is a pretrained copy of the student; (1 − α) · CE + α · multiplier · T² · KL.
// The reference's KL is nn.KLDivLoss() with its default mean over every element.
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';
import * as L from './losses.js';

const regOptions = z
  .object({
    alpha: z.number().min(0).max(1).default(0.1).describe("weight of the virtual teacher's term (reg_alpha)"),
    T: z.number().positive().default(20).describe("the virtual teacher's temperature (reg_temperature)"),
    multiplier: z.number().positive().default(100).describe('scale of the KL term (100 for ResNet-18 on CIFAR-100)'),
    correctProb: z.number().gt(0).lt(1).default(0.99).describe("the virtual teacher's probability of the label"),
  })
  .strict();
export type TfKDRegOptions = z.infer<typeof regOptions>;

export class TfKDReg extends Distiller {
  static override readonly needsTeacher = false;
  static readonly options = regOptions;
  readonly options: TfKDRegOptions;
  constructor(student: Network, _teacher: Network | null, opts: z.input<typeof regOptions> = {}) {
    super(student, null);
    this.options = regOptions.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { alpha, T, multiplier, correctProb } = this.options;
    const zS = this.studentLogits(batch.images);
    return {
      logits: zS,
      losses: {
        ce: this.ce(zS, batch.labels).mul(1 - alpha),
        reg: L.tfkdRegularization(zS, batch.labels, { T, correctProb }).mul(alpha * multiplier),
      },
    };
  }
}

const selfOptions = z
  .object({
    alpha: z.number().min(0).max(1).default(0.95).describe('weight of the self-teacher term'),
    T: z.number().positive().default(6).describe('temperature'),
    multiplier: z.number().positive().default(50).describe('scale of the KL term (50 for ResNet-18 on CIFAR-100)'),
  })
  .strict();
export type TfKDSelfOptions = z.infer<typeof selfOptions>;

export class TfKDSelf extends Distiller {
  static readonly options = selfOptions;
  readonly options: TfKDSelfOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof selfOptions> = {}) {
    super(student, teacher);
    this.options = selfOptions.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { alpha, T, multiplier } = this.options;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    return {
      logits: zS,
      losses: {
        ce: this.ce(zS, batch.labels).mul(1 - alpha),
        kd: L.tfkdSelf(zS, zT, { T }).mul(alpha * multiplier),
      },
    };
  }
}
