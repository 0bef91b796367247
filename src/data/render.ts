// Batch rendering shared by the loader's main-thread path and its workers.
import { mixSeeds, mulberry32 } from './datasets.js';
import { renderSample, type AugmentConfig, type ImageGeometry } from './transforms.js';
import {
  decodeFailure,
  decodeImage,
  normalizeInterleaved,
  toPlanar,
  type EncodedReader,
  type EncodedSource,
  type Interpolation,
} from './encoded.js';

export interface WorkerSetup {
  images: Uint8Array;
  geometry: ImageGeometry;
  augment: AugmentConfig | null;
  /** The augmentation of the second and later views, when they differ from the first (MLKD's strong view). */
  strongAugment?: AugmentConfig | null;
  views: number;
  /** A streaming dataset: decode each sample from here (images is then empty). */
  encoded?: { source: EncodedSource; resize: number; interpolation: Interpolation };
}

export interface BatchRequest {
  id: number;
  indices: Int32Array;
  /** Each sample's position in the global batch (default: its position here). */
  positions?: Int32Array;
  seed: number;
  /** Buffers of earlier batches the main thread has copied out, returned for reuse. */
  recycle?: ArrayBuffer[];
}

/** Gives a float32 array of n elements: a fresh one, or a returned buffer of the same size. */
export type Allocate = (n: number) => Float32Array;
const fresh: Allocate = (n) => new Float32Array(n);

/**
 * Reuses returned batch buffers: a fresh 38 MB array (64 images at 224) costs its page faults on
 * first write, as long as decoding the batch on this kind of machine.
 */
export function recycler(): { allocate: Allocate; give(buffers: ArrayBuffer[] | undefined): void } {
  const free: ArrayBuffer[] = [];
  return {
    allocate(n) {
      const i = free.findIndex((b) => b.byteLength === n * 4);
      return i >= 0 ? new Float32Array(free.splice(i, 1)[0]!) : new Float32Array(n);
    },
    give(buffers) {
      if (buffers) free.push(...buffers);
      // Keep a few: a worker has at most its prefetch of batches in flight.
      free.splice(0, Math.max(0, free.length - 16));
    },
  };
}

/**
 * Renders `views` independently augmented copies of the batch (DLB uses two). Each sample and
 * view draws from its own stream (the batch's seed, the sample's position in the global batch,
 * the view), so a batch split across processes or workers renders the same images.
 */
export function renderBatch(setup: WorkerSetup, req: BatchRequest, allocate: Allocate = fresh): Float32Array[] {
  const { channels, height, width } = setup.geometry;
  const per = channels * height * width;
  const out: Float32Array[] = [];
  for (let v = 0; v < setup.views; v++) {
    const buf = allocate(req.indices.length * per);
    for (let i = 0; i < req.indices.length; i++)
      renderSample(
        setup.images,
        req.indices[i]!,
        setup.geometry,
        buf,
        i * per,
        v > 0 && setup.strongAugment ? setup.strongAugment : setup.augment,
        mulberry32(mixSeeds(req.seed, req.positions ? req.positions[i]! : i, v)),
      );
    out.push(buf);
  }
  return out;
}

/** What a batch of a streaming dataset gives: the views of the samples that decoded, and which did not. */
export interface EncodedBatch {
  views: Float32Array[];
  /** Positions in the batch that failed to decode, with the reason (their slots are left zero). */
  failed: [number, string][];
}

/**
 * Renders a batch of a streaming dataset: each sample is read once, then decoded per view with
 * its geometry (RandomResizedCrop from the view's stream, or Resize + CenterCrop) and the rest
 * of the augmentation (flip, ColorJitter, policies, normalisation) as for in-memory images. The
 * samples decode concurrently (libvips runs on libuv's thread pool).
 */
export async function renderEncodedBatch(
  setup: WorkerSetup,
  req: BatchRequest,
  reader: EncodedReader,
  allocate: Allocate = fresh,
): Promise<EncodedBatch> {
  const encoded = setup.encoded!;
  const { channels, height, width } = setup.geometry;
  const per = channels * height * width;
  const views = Array.from({ length: setup.views }, () => allocate(req.indices.length * per));
  const failed: [number, string][] = [];
  await Promise.all(
    Array.from(req.indices, async (index, i) => {
      try {
        const bytes = await reader.read(index);
        for (let v = 0; v < setup.views; v++) {
          const augment = v > 0 && setup.strongAugment ? setup.strongAugment : setup.augment;
          const rand = mulberry32(mixSeeds(req.seed, req.positions ? req.positions[i]! : i, v));
          const crop = augment?.randomResizedCrop;
          const pixels = await decodeImage(
            bytes,
            {
              size: height,
              resize: encoded.resize,
              interpolation: encoded.interpolation,
              randomResizedCrop: crop ? { scale: crop.scale ?? [0.08, 1], ratio: crop.ratio ?? [3 / 4, 4 / 3] } : null,
            },
            rand,
          );
          if (onlyFlip(augment)) {
            const { mean, std } = setup.geometry;
            const flip = augment?.hflip ? rand() < 0.5 : false;
            normalizeInterleaved(pixels, height, mean, std, flip, views[v]!, i * per);
          } else renderSample(toPlanar(pixels), 0, setup.geometry, views[v]!, i * per, augment, rand);
        }
      } catch (err) {
        failed.push([i, decodeFailure(err)]);
      }
    }),
  );
  failed.sort((a, b) => a[0] - b[0]);
  return { views, failed };
}

/** Whether nothing but a flip follows the decode's crop: the one-pass path (renderSample draws the flip the same way). */
function onlyFlip(a: AugmentConfig | null): boolean {
  return !a || (!a.cropPadding && !a.randAugment && !a.autoAugment && !a.colorJitter);
}
