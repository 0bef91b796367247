// DIST (Huang et al. 2022): w_ce · CE + w_kd · τ² (β · inter-class + γ · intra-class relation).
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import { logitStandardizationOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    beta: z.number().nonnegative().default(1).describe('weight of the inter-class relation'),
    gamma: z.number().nonnegative().default(1).describe('weight of the intra-class relation'),
    tau: z.number().positive().default(4).describe('temperature'),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(2),
    logitStandardization: logitStandardizationOption,
  })
  .strict();
export type DISTOptions = z.infer<typeof options>;

export class DIST extends Distiller {
  static readonly options = options;
  readonly options: DISTOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { beta, gamma, tau, ceWeight, kdWeight } = this.options;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    const [kS, kT] = L.standardizedPair(zS, zT, this.options.logitStandardization);
    return {
      logits: zS,
      losses: { ce: this.ce(zS, batch.labels).mul(ceWeight), dist: L.dist(kS, kT, { beta, gamma, tau }).mul(kdWeight) },
    };
  }
}
