// DLB (Shen et al. 2022): self-distillation from the last mini-batch. Each step runs the model on
// the current batch (view 0), then, in a second forward pass, on the previous batch again (view 1),
// as the authors' dlb.py does (BatchNorm normalises each half alone and updates its running
// statistics twice); loss CE(both halves) + α · T² KL(softmax(z_prev_saved / T) ‖ softmax(z_prev_now / T)).
import { z } from 'zod';
import { Tensor, cat, keep, tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import type { ExtraState } from '../nn/module.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';
import type { Network } from './features.js';

const options = z
  .object({
    T: z.number().positive().default(3).describe('temperature'),
    alpha: z.number().nonnegative().default(1).describe('weight of the KL term'),
  })
  .strict();
export type DLBOptions = z.infer<typeof options>;

interface Carried {
  images: Tensor;
  labels: Tensor;
  logits: Tensor;
  indices: Int32Array;
}

export class DLB extends Distiller {
  static override readonly needsTeacher = false;
  static override readonly views = 2;
  static readonly options = options;
  readonly options: DLBOptions;
  private carried: Carried | null = null;

  constructor(student: Network, _teacher?: Network | null, opts: z.input<typeof options> = {}) {
    super(student, null);
    this.options = options.parse(opts);
  }

  /** The batch carried to the next step: its second view, labels, indices and saved logits. */
  get previous(): Readonly<Carried> | null {
    return this.carried;
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    if (batch.views.length < 2) throw new Error('DLB needs two augmented views per sample: use a loader with views: 2');
    const prev = this.carried;
    const logits = this.studentLogits(batch.views[0]!);
    const losses: Record<string, Tensor> = {};
    if (!prev) {
      losses.ce = this.ce(logits, batch.labels);
    } else {
      const { T, alpha } = this.options;
      const prevNow = this.studentLogits(prev.images);
      // The previous half first, as in dlb.py's torch.cat((out_pre, out)).
      losses.ce = this.ce(cat([prevNow, logits]), cat([prev.labels, batch.labels]));
      losses.kl = F.klDiv(F.logSoftmax(prevNow.div(T), 1), F.softmax(prev.logits.div(T), 1), { reduction: 'batchmean' }).mul(
        alpha * T * T,
      );
    }
    this.carry(batch.views[1]!, batch.labels, logits.detach(), batch.indices);
    return { logits, losses };
  }

  private carry(images: Tensor, labels: Tensor, logits: Tensor, indices: Int32Array): void {
    const old = this.carried;
    this.carried = {
      images: keep(images.detach()),
      labels: keep(labels.detach()),
      logits: keep(logits.detach()),
      indices: Int32Array.from(indices),
    };
    if (old) for (const t of [old.images, old.labels, old.logits]) t.dispose();
  }

  /** The carried batch travels in the state dict (`_extra_state.*`), so a checkpoint resumes it; empty before the first step. */
  override getExtraState(): ExtraState {
    const c = this.carried;
    if (!c) return {};
    return { images: c.images.detach(), labels: c.labels.detach(), logits: c.logits.detach(), indices: tensor(c.indices) };
  }

  override setExtraState(state: ExtraState): void {
    if (!Object.keys(state).length) {
      this.dropCarried();
      return;
    }
    const { images, labels, logits, indices } = state;
    if (!(images instanceof Tensor && labels instanceof Tensor && logits instanceof Tensor && indices instanceof Tensor)) {
      throw new Error('DLB: the checkpoint has a malformed carried batch (needs images, labels, logits, indices)');
    }
    const b = labels.shape[0]!;
    if (images.shape[0] !== b || logits.shape[0] !== b || indices.numel() !== b)
      throw new Error('DLB: the carried batch in the checkpoint has inconsistent sizes');
    this.carry(images, labels, logits, Int32Array.from(indices.dataSync() as Int32Array));
  }

  private dropCarried(): void {
    if (this.carried) for (const t of [this.carried.images, this.carried.labels, this.carried.logits]) t.dispose();
    this.carried = null;
  }

  override dispose(): void {
    this.dropCarried();
    super.dispose();
  }
}
