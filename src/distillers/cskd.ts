// CS-KD (Yun et al. CVPR 2020, class-wise self-knowledge distillation; the authors'
// alinlab/cs-kd): no teacher network. Each batch comes with a partner per sample, another sample of
// the same class (the loader's classPairs, the authors' PairBatchSampler); the model's prediction
// for the partner, without gradient, is the soft target of the sample's:
// CE(first half) + λ · T² · KL(p(partner) ‖ p(sample)) summed over classes, averaged over the half.
import { z } from 'zod';
import { noGrad } from '../tensor/index.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    T: z.number().positive().default(4).describe("temperature (the authors' --temp)"),
    lambda: z
      .number()
      .nonnegative()
      .default(1)
      .describe("weight of the class-wise term (the authors' --lamda: 1 on CIFAR-100, 3 on the fine-grained sets)"),
  })
  .strict();
export type CSKDOptions = z.infer<typeof options>;

export class CSKD extends Distiller {
  static override readonly needsTeacher = false;
  static override readonly classPairs = true;
  static readonly options = options;
  readonly options: CSKDOptions;

  constructor(student: Network, _teacher: Network | null, opts: z.input<typeof options> = {}) {
    super(student, null);
    this.options = options.parse(opts);
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const half = batch.labels.shape[0]! / 2;
    if (!Number.isInteger(half) || half < 1)
      throw new Error('CS-KD: each batch must carry a same-class partner per sample (DataLoader option classPairs)');
    const labels = batch.labels.narrow(0, 0, half);
    const z = this.studentLogits(batch.images.narrow(0, 0, half));
    // The partners' forward runs in train mode without gradient, as the reference's.
    const partners = noGrad(() => this.studentLogits(batch.images.narrow(0, half, half)));
    return {
      logits: z,
      labels,
      losses: { ce: this.ce(z, labels), cls: L.kd(z, partners, { T: this.options.T }).mul(this.options.lambda) },
    };
  }
}
