// DataLoader: seeded shuffling, batches with their sample indices, one or two augmented views,
// rendered by worker threads ahead of time so that training does not wait for data.
import { Worker } from 'node:worker_threads';
import { Tensor, tensor } from '../tensor/index.js';
import { mulberry32, shuffledIndices, type ImageDataset } from './datasets.js';
import { renderBatch, type WorkerSetup } from './render.js';
import type { AugmentConfig } from './transforms.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  dropLast?: boolean;
  seed?: number;
  /** Augmentation (training); null or omitted: normalisation only. */
  augment?: AugmentConfig | null;
  /** Independently augmented views per sample: 2 for DLB. */
  views?: 1 | 2;
  /** The second view's augmentation when it differs from the first (MLKD's strong view). */
  strongAugment?: AugmentConfig | null;
  /**
   * Class-wise pairs (CS-KD's PairBatchSampler): each batch of `batchSize` samples is followed by
   * as many partners, one per sample, drawn uniformly (seeded) from the samples of its class.
   */
  classPairs?: boolean;
  /** Worker threads rendering batches; 0 renders on the main thread. */
  numWorkers?: number;
  /** Batches rendered ahead, per worker. */
  prefetch?: number;
  /** Device for the batch tensors. */
  device?: string;
}

export interface Batch {
  /** First (or only) view: float32 [B, C, H, W]. */
  images: Tensor;
  /** All views (images is views[0]). */
  views: Tensor[];
  labels: Tensor;
  /** Dataset indices of the samples, in batch order. */
  indices: Int32Array;
  /** Index of this batch within its epoch. */
  index: number;
  dispose(): void;
}

export class DataLoader {
  readonly batchSize: number;
  private readonly opts: Required<Omit<LoaderOptions, 'augment' | 'strongAugment' | 'device'>> & {
    augment: AugmentConfig | null;
    strongAugment: AugmentConfig | null;
    device: string;
  };
  private readonly setup: WorkerSetup;
  private workers: Worker[] = [];
  /** Dataset indices of each class (classPairs), in dataset order. */
  private readonly classMembers: Int32Array[] | null;

  constructor(
    readonly dataset: ImageDataset,
    options: LoaderOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    this.batchSize = options.batchSize;
    this.opts = {
      batchSize: options.batchSize,
      shuffle: options.shuffle ?? false,
      dropLast: options.dropLast ?? false,
      seed: options.seed ?? 0,
      augment: options.augment ?? null,
      strongAugment: options.strongAugment ?? null,
      views: options.views ?? 1,
      classPairs: options.classPairs ?? false,
      numWorkers: options.numWorkers ?? 0,
      prefetch: options.prefetch ?? 4,
      device: options.device ?? 'cpu',
    };
    const d = dataset;
    this.classMembers = this.opts.classPairs ? membersByClass(d.labels) : null;
    this.setup = {
      images: d.images,
      geometry: { channels: d.channels, height: d.height, width: d.width, mean: d.mean, std: d.std },
      augment: this.opts.augment,
      strongAugment: this.opts.strongAugment,
      views: this.opts.views,
    };
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length / this.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The sample order of an epoch (seeded; identical on every run). */
  order(epoch: number): Int32Array {
    if (!this.opts.shuffle) return Int32Array.from({ length: this.dataset.length }, (_, i) => i);
    return shuffledIndices(this.dataset.length, mulberry32(mixSeeds(this.opts.seed, epoch, 0x5eed)));
  }

  /** The dataset indices of batch `b` of an epoch: its slice of the order, then its class partners. */
  private batchIndices(order: Int32Array, epoch: number, b: number): Int32Array {
    const anchors = order.slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
    if (!this.classMembers) return anchors;
    const random = mulberry32(mixSeeds(this.opts.seed ^ 0xc1a55, epoch, b));
    const out = new Int32Array(2 * anchors.length);
    out.set(anchors);
    anchors.forEach((i, k) => {
      const members = this.classMembers![this.dataset.labels[i]!]!;
      out[anchors.length + k] = members[Math.floor(random() * members.length)]!;
    });
    return out;
  }

  private makeBatch(views: Float32Array[], indices: Int32Array, index: number): Batch {
    const { channels, height, width } = this.dataset;
    const shape = [indices.length, channels, height, width];
    const device = this.opts.device;
    const viewTensors = views.map((v) => tensor(v, shape, { device }));
    const labels = tensor(
      BigInt64Array.from(indices, (i) => BigInt(this.dataset.labels[i]!)),
      [indices.length],
      { device },
    );
    return {
      images: viewTensors[0]!,
      views: viewTensors,
      labels,
      indices,
      index,
      dispose() {
        for (const v of viewTensors) v.dispose();
        labels.dispose();
      },
    };
  }

  private seedOf(epoch: number, b: number): number {
    return mixSeeds(this.opts.seed, epoch, b);
  }

  /** Batches of an epoch rendered on the main thread (evaluation, tests). Starts at batch `from`. */
  *epochSync(epoch: number, from = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = from; b < this.length; b++) {
      const indices = this.batchIndices(order, epoch, b);
      yield this.makeBatch(renderBatch(this.setup, { id: b, indices, seed: this.seedOf(epoch, b) }), indices, b);
    }
  }

  /**
   * Batches of an epoch, rendered by worker threads with prefetch (or on the main thread when
   * numWorkers is 0). The same seed gives the same batches either way. Starts at batch `from`.
   */
  async *epoch(epoch: number, from = 0): AsyncGenerator<Batch> {
    if (this.opts.numWorkers === 0) {
      yield* this.epochSync(epoch, from);
      return;
    }
    this.startWorkers();
    const order = this.order(epoch);
    const pending = new Map<number, Promise<Float32Array[]>>();
    const total = this.length;
    let next = from;
    const request = (b: number) => {
      const worker = this.workers[b % this.workers.length]!;
      const indices = this.batchIndices(order, epoch, b);
      pending.set(
        b,
        new Promise((resolve, reject) => {
          const onMessage = (msg: { id: number; views: Float32Array[] }) => {
            if (msg.id !== b) return;
            worker.off('message', onMessage);
            worker.off('error', reject);
            resolve(msg.views);
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
          worker.postMessage({ id: b, indices, seed: this.seedOf(epoch, b) });
        }),
      );
    };
    const ahead = this.opts.prefetch * this.workers.length;
    while (next < total && pending.size < ahead) request(next++);
    for (let b = from; b < total; b++) {
      const views = await pending.get(b)!;
      pending.delete(b);
      if (next < total) request(next++);
      yield this.makeBatch(views, this.batchIndices(order, epoch, b), b);
    }
  }

  private startWorkers(): void {
    if (this.workers.length) return;
    const url = new URL('./worker.js', import.meta.url);
    for (let i = 0; i < this.opts.numWorkers; i++) {
      const w = new Worker(url, { workerData: this.setup });
      w.unref();
      w.setMaxListeners(0);
      this.workers.push(w);
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

/** The dataset indices of each class label, in dataset order. */
function membersByClass(labels: ArrayLike<number>): Int32Array[] {
  const lists: number[][] = [];
  for (let i = 0; i < labels.length; i++) (lists[labels[i]!] ??= []).push(i);
  return Array.from(lists, (l) => Int32Array.from(l ?? []));
}

/** Mixes three integers into one 32-bit seed (FNV-1a then a murmur finaliser): streams per epoch and step. */
export function mixSeeds(a: number, b: number, c: number): number {
  let h = 0x811c9dc5 ^ a;
  h = Math.imul(h ^ b, 0x01000193);
  h = Math.imul(h ^ c, 0x01000193);
  h ^= h >>> 13;
  return Math.imul(h, 0x5bd1e995) >>> 0;
}
