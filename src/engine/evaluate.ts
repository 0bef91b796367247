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
  const loader = new DataLoader(dataset, { batchSize: options.batchSize ?? 256, device: options.device });
  let top1 = 0;
  let top5 = 0;
  let loss = 0;
  for (const batch of loader.epochSync(0)) {
    tidy(() =>
      noGrad(() => {
        const logits = forward(batch.images);
        const k = Math.min(5, logits.shape[1]!);
        const pred = logits.topk(k, { dim: 1 }).indices;
        const hits = pred.eq(batch.labels.unsqueeze(1));
        top1 += hits.narrow(1, 0, 1).sum().item();
        top5 += hits.sum().item();
        loss += F.crossEntropy(logits, batch.labels, { reduction: 'sum' }).item();
      }),
    );
    batch.dispose();
  }
  const n = dataset.length;
  return { top1: (100 * top1) / n, top5: (100 * top5) / n, loss: loss / n };
}
