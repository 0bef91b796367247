// KD (Hinton et al. 2015): w_ce · CE + w_kd · T² KL(p_t ‖ p_s) at temperature T.
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import { logitStandardizationOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    T: z.number().positive().default(4).describe('temperature'),
    ceWeight: z.number().nonnegative().default(0.1),
    kdWeight: z.number().nonnegative().default(0.9),
    logitStandardization: logitStandardizationOption,
  })
  .strict();
export type KDOptions = z.infer<typeof options>;

export class KD extends Distiller {
  static readonly options = options;
  readonly options: KDOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    const [kS, kT] = L.standardizedPair(zS, zT, this.options.logitStandardization);
    return {
      logits: zS,
      losses: {
        ce: this.ce(zS, batch.labels).mul(this.options.ceWeight),
        kd: L.kd(kS, kT, { T: this.options.T }).mul(this.options.kdWeight),
      },
    };
  }
}
