// DeiT's distillation (Touvron et al. 2021, facebookresearch/deit losses.py DistillationLoss):
// (1 − α) · CE(class head, y) + α · D(distillation head, teacher), D hard: CE against the
// teacher's argmax; soft: T² KL(p_t ‖ p_s) summed and divided by the logits' element count (as
// the authors' code). A student without a distillation token distils through its class head.
import { z } from 'zod';
import { noGrad, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import { logitsOf, type Network } from './features.js';

const options = z
  .object({
    type: z.enum(['hard', 'soft']).default('hard').describe("hard: CE on the teacher's argmax (DeiT's recipe); soft: KL at tau"),
    alpha: z.number().min(0).max(1).default(0.5).describe('weight of the distillation term; the class term gets 1 − alpha'),
    tau: z.number().positive().default(1).describe('temperature of the soft variant'),
  })
  .strict();
export type DeiTOptions = z.infer<typeof options>;

export class DeiT extends Distiller {
  static readonly options = options;
  readonly options: DeiTOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const zT = this.teacherLogits(batch.images); // first: its maps are freed before the student's exist
    const out = this.student.forward(batch.images);
    const zS = logitsOf(out);
    const zDist = (out as { distLogits?: Tensor }).distLogits ?? zS;
    const { alpha, tau } = this.options;
    let distill: Tensor;
    if (this.options.type === 'hard')
      distill = F.crossEntropy(
        zDist,
        noGrad(() => zT.argmax(1)),
      );
    else
      distill = F.klDiv(F.logSoftmax(zDist.div(tau), 1), F.logSoftmax(zT.div(tau), 1), { reduction: 'sum', logTarget: true })
        .mul(tau * tau)
        .div(zDist.numel());
    return {
      logits: zS,
      losses: { ce: this.ce(zS, batch.labels).mul(1 - alpha), kd: distill.mul(alpha) },
    };
  }
}
