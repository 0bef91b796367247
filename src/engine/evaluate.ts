// Top-1 / top-5 accuracy of a classifier on a dataset.
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { DataLoader } from '../data/loader.js';
import type { ImageDataset } from '../data/datasets.js';

export interface Accuracy {
  top1: number;
  top5: number;
  loss: number;
}

/** Evaluates `forward` (in eval mode) on every sample of `dataset`; accuracies in percent. */
export function evaluate(
  forward: (x: Tensor) => Tensor,
  dataset: ImageDataset,
  options: { batchSize?: number; device?: string } = {},
): Accuracy {
  return evaluateClassifiers((x) => ({ main: forward(x) }), dataset, options).main!;
}

/**
 * Evaluates several classifiers that share one forward pass per batch (a student and its
 * auxiliary heads, or a cohort of peers): `forward` returns logits by name; accuracies by name.
 */
export function evaluateClassifiers(
  forward: (x: Tensor) => Record<string, Tensor>,
  dataset: ImageDataset,
  options: { batchSize?: number; device?: string } = {},
): Record<string, Accuracy> {
  const loader = new DataLoader(dataset, { batchSize: options.batchSize ?? 256, device: options.device });
  const sums: Record<string, Accuracy> = {};
  for (const batch of loader.epochSync(0)) {
    tidy(() =>
      noGrad(() => {
        for (const [name, logits] of Object.entries(forward(batch.images))) {
          const k = Math.min(5, logits.shape[1]!);
          const pred = logits.topk(k, { dim: 1 }).indices;
          const hits = pred.eq(batch.labels.unsqueeze(1));
          const s = (sums[name] ??= { top1: 0, top5: 0, loss: 0 });
          s.top1 += hits.narrow(1, 0, 1).sum().item();
          s.top5 += hits.sum().item();
          s.loss += F.crossEntropy(logits, batch.labels, { reduction: 'sum' }).item();
        }
      }),
    );
    batch.dispose();
  }
  const n = dataset.length;
  return Object.fromEntries(
    Object.entries(sums).map(([name, s]) => [name, { top1: (100 * s.top1) / n, top5: (100 * s.top5) / n, loss: s.loss / n }]),
  );
}
