// PS-KD (Kim et al. ICCV 2021, progressive self-knowledge distillation, the authors'
// lgcnsai/PS-KD-Pytorch): no teacher network; the targets are (1 − α_t) · one-hot + α_t · the
// model's own prediction for that sample in the previous epoch, α_t = α_T · (epoch + 1) / epochs.
// The predictions live in a buffer of N × classes (in the checkpoint, so a resumed run is exact).
import { z } from 'zod';
import { noGrad, tensor, zeros, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Distiller, type DistillerContext, type TrainBatch, type TrainContext, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    alphaT: z.number().min(0).max(1).default(0.8).describe('α_T, the weight of the past predictions at the last epoch'),
  })
  .strict();
export type PSKDOptions = z.infer<typeof options>;

export class PSKD extends Distiller {
  static override readonly needsTeacher = false;
  static readonly options = options;
  readonly options: PSKDOptions;
  readonly numClasses: number;

  constructor(student: Network, _teacher: Network | null, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, null);
    this.options = options.parse(opts);
    const labels = context.trainLabels;
    if (!labels?.length)
      throw new Error('PS-KD: needs the training set (a row of past predictions per sample): context.trainLabels');
    this.numClasses = this.studentClasses(context);
    // The authors' all_predictions (saved as 'prev_predictions').
    this.registerBuffer('prev_predictions', zeros([labels.length, this.numClasses]));
  }

  get predictions(): Tensor {
    return this.buffer('prev_predictions')!;
  }

  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const alpha = this.options.alphaT * ((ctx.epoch + 1) / ctx.epochs);
    const z = this.studentLogits(batch.images);
    const index = tensor(batch.indices, { dtype: 'int64', device: z.device });
    const oneHot = F.oneHot(batch.labels, z.shape[1]!).to(z.dtype);
    const memory = this.predictions;
    // Epoch 0 has no past predictions: the one-hot labels stand in (the reference writes them first).
    if (ctx.epoch === 0) noGrad(() => memory.indexCopy_(0, index, oneHot));
    const targets = noGrad(() => oneHot.mul(1 - alpha).add(memory.indexSelect(0, index).mul(alpha)));
    const loss = L.softTargetCrossEntropy(z, targets);
    // Data-parallel: the whole global batch's predictions, so that every rank's memory is the same.
    noGrad(() => {
      const predictions = F.softmax(z.detach(), 1);
      memory.indexCopy_(0, ctx.gather?.(index) ?? index, ctx.gather?.(predictions) ?? predictions);
    });
    return { logits: z, losses: { pskd: loss } };
  }
}
