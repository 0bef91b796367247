// DataLoader: seeded shuffling, batches with their sample indices, one or two augmented views,
// rendered by worker threads ahead of time so that training does not wait for data.
import { Worker } from 'node:worker_threads';
import { Tensor, tensor } from '../tensor/index.js';
import { mixSeeds, mulberry32, shuffledIndices, type ImageDataset } from './datasets.js';
import { renderBatch, renderEncodedBatch, type EncodedBatch, type WorkerSetup } from './render.js';
import { EncodedReader, configureSharp, sampleName } from './encoded.js';
import type { AugmentConfig } from './transforms.js';

export { mixSeeds } from './datasets.js';

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
  /** Memory format of the image tensors (channelsLast: for networks converted to it). */
  memoryFormat?: 'contiguous' | 'channelsLast';
  /**
   * This process's part of each batch in data-parallel training: `batchSize` is the global batch,
   * and rank r takes the samples at positions r, r + W, r + 2W, ... of every global batch (with
   * their class partners), PyTorch's DistributedSampler order. Each sample's augmentation is drawn
   * from its own stream (seed, epoch, batch, position in the global batch), so the W shards
   * together are exactly the batches of one process.
   */
  shard?: { rank: number; worldSize: number };
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
  private readonly opts: Required<Omit<LoaderOptions, 'augment' | 'strongAugment' | 'device' | 'shard' | 'memoryFormat'>> & {
    memoryFormat?: LoaderOptions['memoryFormat'];
    augment: AugmentConfig | null;
    strongAugment: AugmentConfig | null;
    device: string;
  };
  /** This process's shard of every batch (a world of one: the whole batch). */
  readonly shard: { rank: number; worldSize: number };
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
    const shard = options.shard ?? { rank: 0, worldSize: 1 };
    if (
      !Number.isInteger(shard.worldSize) ||
      shard.worldSize < 1 ||
      !Number.isInteger(shard.rank) ||
      shard.rank < 0 ||
      shard.rank >= shard.worldSize
    )
      throw new Error(`DataLoader: shard rank ${shard.rank} of world ${shard.worldSize} is not a valid rank`);
    if (options.batchSize % shard.worldSize !== 0)
      throw new Error(
        `DataLoader: the global batch of ${options.batchSize} does not split evenly across ${shard.worldSize} processes; choose a multiple of ${shard.worldSize}`,
      );
    this.shard = shard;
    for (const a of [options.augment, options.strongAugment])
      if (a?.randomResizedCrop && !dataset.encoded)
        throw new Error(
          `DataLoader: randomResizedCrop is taken while decoding; ${dataset.name} is already decoded (use a streaming dataset)`,
        );
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
      memoryFormat: options.memoryFormat,
    };
    const d = dataset;
    this.classMembers = this.opts.classPairs ? membersByClass(d.labels) : null;
    this.setup = {
      images: d.images,
      geometry: { channels: d.channels, height: d.height, width: d.width, mean: d.mean, std: d.std },
      augment: this.opts.augment,
      strongAugment: this.opts.strongAugment,
      views: this.opts.views,
      encoded: d.encoded
        ? { source: d.encoded.source, resize: d.encoded.resize, interpolation: d.encoded.interpolation }
        : undefined,
    };
    if (d.encoded) configureSharp();
  }

  /** A streaming dataset's samples that failed to decode in the current epoch (skipped), with examples. */
  get corrupt(): { epoch: number; count: number; examples: string[] } {
    return { ...this.corruptSeen, examples: [...this.corruptSeen.examples] };
  }
  private corruptSeen = { epoch: -1, count: 0, examples: [] as string[] };
  private mainReader: EncodedReader | null = null;
  /** Per worker: buffers of batches already copied into tensors, sent back with its next request. */
  private returned: ArrayBuffer[][] = [];

  /**
   * Drops the samples that failed to decode (with their class partners, or the anchors whose
   * partner failed), counts them, and stops the run above the dataset's threshold.
   */
  private dropFailed(epoch: number, indices: Int32Array, r: EncodedBatch): { views: Float32Array[]; indices: Int32Array } {
    if (!r.failed.length) return { views: r.views, indices };
    const encoded = this.dataset.encoded!;
    const bad = new Set(r.failed.map(([i]) => i));
    if (this.classMembers) {
      const half = indices.length / 2;
      for (let k = 0; k < half; k++) if (bad.has(k) || bad.has(half + k)) [k, half + k].forEach((i) => bad.add(i));
    }
    const c = this.corruptSeen;
    for (const [i, reason] of r.failed) {
      c.count++;
      if (c.examples.length < 5) c.examples.push(`${sampleName(encoded.source, indices[i]!)}: ${reason}`);
    }
    const limit = encoded.maxCorruptFraction * this.dataset.length;
    if (c.count > limit)
      throw new Error(
        `${c.count} image${c.count > 1 ? 's' : ''} of ${this.dataset.name} failed to decode in epoch ${epoch + 1}, more than dataset.maxCorruptFraction (${encoded.maxCorruptFraction}) of its ${this.dataset.length}; e.g. ${c.examples.join('; ')}. Repair or remove them, or raise dataset.maxCorruptFraction`,
      );
    const keep = Int32Array.from(indices.keys()).filter((i) => !bad.has(i));
    const per = this.dataset.channels * this.dataset.height * this.dataset.width;
    const views = r.views.map((v) => {
      const out = new Float32Array(keep.length * per);
      keep.forEach((i, k) => out.set(v.subarray(i * per, (i + 1) * per), k * per));
      return out;
    });
    return { views, indices: keep.map((i) => indices[i]!) };
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

  /**
   * The dataset indices of this process's part of batch `b` of an epoch (its shard of the global
   * batch's slice of the order, then their class partners), and each sample's position in the
   * global batch (its augmentation stream).
   */
  private batchIndices(order: Int32Array, epoch: number, b: number): { indices: Int32Array; positions: Int32Array } {
    const global = order.slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
    const { rank, worldSize } = this.shard;
    const mine = (n: number) =>
      Int32Array.from({ length: Math.max(0, Math.ceil((n - rank) / worldSize)) }, (_, k) => rank + k * worldSize);
    if (!this.classMembers) {
      const positions = mine(global.length);
      return { indices: worldSize === 1 ? global : positions.map((p) => global[p]!), positions };
    }
    const random = mulberry32(mixSeeds(this.opts.seed ^ 0xc1a55, epoch, b));
    const partners = global.map((i) => {
      const members = this.classMembers![this.dataset.labels[i]!]!;
      return members[Math.floor(random() * members.length)]!;
    });
    const anchorPositions = mine(global.length);
    const positions = new Int32Array(2 * anchorPositions.length);
    const indices = new Int32Array(2 * anchorPositions.length);
    anchorPositions.forEach((p, k) => {
      indices[k] = global[p]!;
      indices[anchorPositions.length + k] = partners[p]!;
      positions[k] = p;
      positions[anchorPositions.length + k] = global.length + p;
    });
    return { indices, positions };
  }

  private makeBatch(views: Float32Array[], indices: Int32Array, index: number): Batch {
    const { channels, height, width } = this.dataset;
    const shape = [indices.length, channels, height, width];
    const device = this.opts.device;
    const channelsLast = this.opts.memoryFormat === 'channelsLast';
    const viewTensors = views.map((v) => {
      const t = tensor(v, shape, { device });
      if (!channelsLast) return t;
      const converted = t.contiguous({ memoryFormat: 'channelsLast' });
      t.dispose();
      return converted;
    });
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
    if (this.dataset.encoded)
      throw new Error(
        `DataLoader: ${this.dataset.name} is a streaming dataset, decoded asynchronously; iterate it with epoch() (for await)`,
      );
    const order = this.order(epoch);
    for (let b = from; b < this.length; b++) {
      const { indices, positions } = this.batchIndices(order, epoch, b);
      yield this.makeBatch(renderBatch(this.setup, { id: b, indices, positions, seed: this.seedOf(epoch, b) }), indices, b);
    }
  }

  /**
   * Batches of an epoch, rendered by worker threads with prefetch (or on the main thread when
   * numWorkers is 0). The same seed gives the same batches either way. Starts at batch `from`.
   */
  async *epoch(epoch: number, from = 0): AsyncGenerator<Batch> {
    if (this.corruptSeen.epoch !== epoch) this.corruptSeen = { epoch, count: 0, examples: [] };
    if (this.opts.numWorkers === 0 && !this.dataset.encoded) {
      yield* this.epochSync(epoch, from);
      return;
    }
    if (this.opts.numWorkers === 0) {
      // A streaming dataset on the main thread: decoded batch by batch, without prefetch.
      const order = this.order(epoch);
      this.mainReader ??= new EncodedReader(this.dataset.encoded!.source);
      for (let b = from; b < this.length; b++) {
        const { indices, positions } = this.batchIndices(order, epoch, b);
        const r = await renderEncodedBatch(
          this.setup,
          { id: b, indices, positions, seed: this.seedOf(epoch, b) },
          this.mainReader,
        );
        const kept = this.dropFailed(epoch, indices, r);
        if (kept.indices.length || this.shard.worldSize > 1) yield this.makeBatch(kept.views, kept.indices, b);
      }
      return;
    }
    this.startWorkers();
    const order = this.order(epoch);
    const pending = new Map<number, { indices: Int32Array; views: Promise<EncodedBatch> }>();
    const total = this.length;
    let next = from;
    const returned = this.returned;
    const request = (b: number) => {
      const w = b % this.workers.length;
      const worker = this.workers[w]!;
      const recycle = returned[w]!.splice(0);
      const { indices, positions } = this.batchIndices(order, epoch, b);
      pending.set(b, {
        indices,
        views: new Promise((resolve, reject) => {
          const onMessage = (msg: EncodedBatch & { id: number; error?: string }) => {
            if (msg.id !== b) return;
            worker.off('message', onMessage);
            worker.off('error', reject);
            if (msg.error) reject(new Error(msg.error));
            else resolve(msg);
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
          worker.postMessage({ id: b, indices, positions, seed: this.seedOf(epoch, b), recycle }, recycle);
        }),
      });
    };
    const ahead = this.opts.prefetch * this.workers.length;
    while (next < total && pending.size < ahead) request(next++);
    for (let b = from; b < total; b++) {
      const { indices, views } = pending.get(b)!;
      pending.delete(b);
      if (next < total) request(next++);
      const rendered = await views;
      const kept = this.dropFailed(epoch, indices, rendered);
      // An empty batch (every sample failed) is skipped; in data-parallel runs every rank keeps
      // its steps in lockstep, so it goes on (as a batch of none).
      const batch = kept.indices.length || this.shard.worldSize > 1 ? this.makeBatch(kept.views, kept.indices, b) : null;
      // makeBatch copied the pixels into tensors: the buffers can be filled again.
      returned[b % this.workers.length]!.push(...rendered.views.map((v) => v.buffer as ArrayBuffer));
      if (batch) yield batch;
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
      this.returned.push([]);
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
    this.returned = [];
    await this.mainReader?.close();
    this.mainReader = null;
  }
}

/** The dataset indices of each class label, in dataset order. */
function membersByClass(labels: ArrayLike<number>): Int32Array[] {
  const lists: number[][] = [];
  for (let i = 0; i < labels.length; i++) (lists[labels[i]!] ??= []).push(i);
  return Array.from(lists, (l) => Int32Array.from(l ?? []));
}
