// MLKD (Jin et al. CVPR 2023, multi-level logit distillation; the authors' Jin-Ying/
// Multi-Level-Logit-Distillation KD_ours.py, and LSKD's MLKD.py with logit standardisation): KD,
// class-level and batch-level alignment at five temperatures, on a weak and a strong view of each
// image. The teacher's confidence on the weak view picks which terms count: its samples and
// classes at or below the median confidence.
import { z } from 'zod';
import type { Tensor } from '../tensor/index.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import { logitStandardizationOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    T: z.number().positive().default(4).describe('the first of the five temperatures [T, 3, 5, 2, 6] (cfg.KD.TEMPERATURE)'),
    ceWeight: z.number().nonnegative().default(0.1).describe('weight of CE on each view (cfg.KD.LOSS.CE_WEIGHT)'),
    kdWeight: z.number().nonnegative().default(0.9).describe('weight of every KD, class and batch term (cfg.KD.LOSS.KD_WEIGHT)'),
    logitStandardization: logitStandardizationOption,
  })
  .strict();
export type MLKDOptions = z.infer<typeof options>;

export class MLKD extends Distiller {
  static override readonly views = 2;
  static override readonly strongView = true;
  static readonly options = options;
  readonly options: MLKDOptions;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { T, ceWeight, kdWeight, logitStandardization } = this.options;
    const [weak, strong] = batch.views as [Tensor, Tensor];
    const sW = this.studentLogits(weak);
    const sS = this.studentLogits(strong);
    const { kd, cc, bc } = L.mlkd(sW, sS, this.teacherLogits(weak), this.teacherLogits(strong), { T, logitStandardization });
    return {
      logits: sW,
      losses: {
        ce: this.ce(sW, batch.labels).add(this.ce(sS, batch.labels)).mul(ceWeight),
        kd: kd.mul(kdWeight),
        cc: cc.mul(kdWeight),
        bc: bc.mul(kdWeight),
      },
    };
  }
}
