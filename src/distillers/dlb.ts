// DLB (Shen et al. 2022): self-distillation from the last mini-batch. Each step runs the model on
// the current batch (view 0) and the previous batch again (view 1) in one pass; loss
// CE(both halves) + α · T² KL(softmax(z_prev_saved / T) ‖ softmax(z_prev_now / T)).
import { Tensor, cat, keep, tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import type { Model } from '../models/model.js';
import { Distiller, type TrainBatch, type TrainOutput } from './distiller.js';

export interface DLBOptions {
  T: number;
  alpha: number;
}

interface Carried {
  images: Tensor;
  labels: Tensor;
  logits: Tensor;
  indices: Int32Array;
}

export class DLB extends Distiller {
  static readonly defaults: DLBOptions = { T: 3, alpha: 1 };
  readonly info = { needsTeacher: false, views: 2 as const };
  private carried: Carried | null = null;

  constructor(
    student: Model,
    _teacher: Model | null,
    readonly options: DLBOptions = DLB.defaults,
  ) {
    super(student, null);
  }

  /** The batch carried to the next step: its second view, labels, indices and saved logits. */
  get previous(): Readonly<Carried> | null {
    return this.carried;
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    if (batch.views.length < 2) throw new Error('DLB needs two augmented views per sample: use a loader with views: 2');
    const b = batch.labels.shape[0]!;
    const prev = this.carried;
    const inputs = prev ? cat([batch.views[0]!, prev.images]) : batch.views[0]!;
    const labels = prev ? cat([batch.labels, prev.labels]) : batch.labels;
    const all = this.student.forward(inputs).logits;
    const logits = prev ? all.narrow(0, 0, b) : all;
    const losses: Record<string, Tensor> = { ce: F.crossEntropy(all, labels) };
    if (prev) {
      const { T, alpha } = this.options;
      const prevNow = all.narrow(0, b, prev.labels.shape[0]!);
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
      logits: keep(logits),
      indices: Int32Array.from(indices),
    };
    if (old) for (const t of [old.images, old.labels, old.logits]) t.dispose();
  }

  override carriedState(): Record<string, Tensor> | null {
    const c = this.carried;
    if (!c) return null;
    return { images: c.images, labels: c.labels, logits: c.logits, indices: tensor(c.indices) };
  }

  override loadCarriedState(state: Record<string, unknown> | null): void {
    if (!state) {
      this.carried = null;
      return;
    }
    const { images, labels, logits, indices } = state as Record<string, Tensor>;
    if (!(images instanceof Tensor && labels instanceof Tensor && logits instanceof Tensor && indices instanceof Tensor)) {
      throw new Error('DLB: the checkpoint has a malformed carried batch (needs images, labels, logits, indices)');
    }
    this.carry(images, labels, logits, Int32Array.from(indices.dataSync() as Int32Array));
  }
}
