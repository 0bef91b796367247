// Top-1 / top-5 accuracy of a classifier on a dataset.
import { noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { DataLoader } from '../data/loader.js';
import type { ImageDataset } from '../data/datasets.js';
import { parallelGroup, type ProcessGroup } from '../distributed/index.js';

export interface Accuracy {
  top1: number;
  top5: number;
  loss: number;
}

/** Evaluates `forward` (in eval mode) on every sample of `dataset`; accuracies in percent. */
export async function evaluate(
  forward: (x: Tensor) => Tensor,
  dataset: ImageDataset,
  options: EvaluateOptions = {},
): Promise<Accuracy> {
  return (await evaluateClassifiers((x) => ({ main: forward(x) }), dataset, options)).main!;
}

export interface EvaluateOptions {
  batchSize?: number;
  device?: string;
  /** Loader workers decoding or rendering the batches (streaming datasets decode in them); 0: the main thread. */
  numWorkers?: number;
  /** Data-parallel evaluation: each rank evaluates its shard (samples r, r + W, ...), and the counts are summed, so every rank returns the same accuracy. */
  group?: ProcessGroup | null;
}

/**
 * Evaluates several classifiers that share one forward pass per batch (a student and its
 * auxiliary heads, or a cohort of peers): `forward` returns logits by name; accuracies by name.
 */
export async function evaluateClassifiers(
  forward: (x: Tensor) => Record<string, Tensor>,
  dataset: ImageDataset,
  options: EvaluateOptions = {},
): Promise<Record<string, Accuracy>> {
  const group = parallelGroup(options.group);
  // Sharded as training batches are (rank r: samples r, r + W, ... of each batch); the batch is
  // rounded up to a multiple of the world so that it splits, and the last one may leave a rank none.
  const world = group?.worldSize ?? 1;
  const loader = new DataLoader(dataset, {
    batchSize: Math.ceil((options.batchSize ?? 256) / world) * world,
    device: options.device,
    shard: group ? { rank: group.rank, worldSize: world } : undefined,
    numWorkers: dataset.encoded ? (options.numWorkers ?? 0) : 0,
  });
  const sums: Record<string, Accuracy> = {};
  // Samples of a streaming dataset that fail to decode are skipped (and reported by the loader):
  // accuracies are over the samples evaluated.
  let seen = 0;
  try {
    seen = await evaluateBatches(loader, forward, sums);
  } finally {
    await loader.close();
  }
  if (group) {
    // Every rank evaluates the same classifiers; a shard may be empty, so the names come from rank 0's.
    const names = group.agree('evaluate/names', () => Object.keys(sums).sort());
    const values = names.flatMap((k) => [sums[k]?.top1 ?? 0, sums[k]?.top5 ?? 0, sums[k]?.loss ?? 0]);
    const flat = tensor(Float64Array.from([...values, seen]), [3 * names.length + 1]);
    try {
      group.allReduce(flat);
      const v = flat.toArray() as Float64Array;
      names.forEach((k, i) => (sums[k] = { top1: v[3 * i]!, top5: v[3 * i + 1]!, loss: v[3 * i + 2]! }));
      seen = v[3 * names.length]!;
    } finally {
      flat.dispose();
    }
  }
  const n = Math.max(seen, 1);
  return Object.fromEntries(
    Object.entries(sums).map(([name, s]) => [name, { top1: (100 * s.top1) / n, top5: (100 * s.top5) / n, loss: s.loss / n }]),
  );
}

async function evaluateBatches(
  loader: DataLoader,
  forward: (x: Tensor) => Record<string, Tensor>,
  sums: Record<string, Accuracy>,
): Promise<number> {
  let seen = 0;
  for await (const batch of loader.epoch(0)) {
    seen += batch.indices.length;
    if (!batch.indices.length) {
      batch.dispose();
      continue;
    }
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
  return seen;
}
