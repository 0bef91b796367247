// TTM and WTTM (Zheng & Yang ICLR 2024, knowledge distillation based on transformed teacher
// matching; the authors' zkxufo/TTM distiller_zoo/ttm.py, wttm.py): the student at temperature 1
// matches the teacher's probabilities raised to the power γ and renormalised; WTTM weights each
// sample by the normaliser Σ_k p_t,k^γ. L = w_ce · CE + β · (W)TTM (the authors' -r and -b).
import { z } from 'zod';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';
import * as L from './losses.js';

const schema = (gamma: number, beta: number, betaNote: string) =>
  z
    .object({
      gamma: z.number().positive().max(1).default(gamma).describe("exponent of the power transform, 1/T (the authors' --ttm_l)"),
      beta: z.number().nonnegative().default(beta).describe(`weight of the matching term (-b); ${betaNote}`),
      ceWeight: z.number().nonnegative().default(1).describe('CE weight (-r)'),
    })
    .strict();

const ttmOptions = schema(0.1, 45, "the README's vgg13 → vgg8 run");
const wttmOptions = schema(
  0.2,
  4,
  "the README gives WTTM's only as the added loss with CRD (-a 4, --ttm_l 0.2); the paper tunes it per pair",
);
export type TTMOptions = z.infer<typeof ttmOptions>;

/** TTM; WTTM is the same step with the weighted loss and its own defaults. */
export class TTM extends Distiller {
  static readonly options: typeof ttmOptions = ttmOptions;
  /** Whether each sample's KL is weighted by its power sum (WTTM). */
  static readonly weighted: boolean = false;
  readonly options: TTMOptions;
  constructor(student: Network, teacher: Network, opts: z.input<typeof ttmOptions> = {}) {
    super(student, teacher);
    this.options = (new.target as typeof TTM).options.parse(opts);
  }
  forwardTrain(batch: TrainBatch): TrainOutput {
    const { gamma, beta, ceWeight } = this.options;
    const weighted = (this.constructor as typeof TTM).weighted;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    return {
      logits: zS,
      losses: {
        ce: this.ce(zS, batch.labels).mul(ceWeight),
        [weighted ? 'wttm' : 'ttm']: L.ttm(zS, zT, { gamma, weighted }).mul(beta),
      },
    };
  }
}

export class WTTM extends TTM {
  static override readonly options = wttmOptions;
  static override readonly weighted = true;
}
