// DKD (Zhao et al. 2022): w_ce · CE + min(epoch / warmup, 1) · (α · TCKD + β · NCKD).
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainContext, type TrainOutput } from './distiller.js';
import { logitStandardizationOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    alpha: z.number().nonnegative().default(1).describe('weight of TCKD'),
    beta: z.number().nonnegative().default(8).describe('weight of NCKD (mdistiller sets it per pair)'),
    T: z.number().positive().default(4).describe('temperature'),
    ceWeight: z.number().nonnegative().default(1),
    warmupEpochs: z.number().int().nonnegative().default(20).describe('epochs over which the loss ramps up'),
    logitStandardization: logitStandardizationOption,
  })
  .strict();
export type DKDOptions = z.infer<typeof options>;

export class DKD extends Distiller {
  static readonly options = options;
  readonly options: DKDOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }
  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const { alpha, beta, T, ceWeight, warmupEpochs } = this.options;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    const [kS, kT] = L.standardizedPair(zS, zT, this.options.logitStandardization);
    // mdistiller counts epochs from 1.
    const ramp = warmupEpochs > 0 ? Math.min((ctx.epoch + 1) / warmupEpochs, 1) : 1;
    return {
      logits: zS,
      losses: {
        ce: this.ce(zS, batch.labels).mul(ceWeight),
        dkd: L.dkd(kS, kT, batch.labels, { alpha, beta, T }).mul(ramp),
      },
    };
  }
}
