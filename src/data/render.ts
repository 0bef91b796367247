// Batch rendering shared by the loader's main-thread path and its workers.
import { mixSeeds, mulberry32 } from './datasets.js';
import { renderSample, type AugmentConfig, type ImageGeometry } from './transforms.js';

export interface WorkerSetup {
  images: Uint8Array;
  geometry: ImageGeometry;
  augment: AugmentConfig | null;
  /** The augmentation of the second and later views, when they differ from the first (MLKD's strong view). */
  strongAugment?: AugmentConfig | null;
  views: number;
}

export interface BatchRequest {
  id: number;
  indices: Int32Array;
  /** Each sample's position in the global batch (default: its position here). */
  positions?: Int32Array;
  seed: number;
}

/**
 * Renders `views` independently augmented copies of the batch (DLB uses two). Each sample and
 * view draws from its own stream (the batch's seed, the sample's position in the global batch,
 * the view), so a batch split across processes or workers renders the same images.
 */
export function renderBatch(setup: WorkerSetup, req: BatchRequest): Float32Array[] {
  const { channels, height, width } = setup.geometry;
  const per = channels * height * width;
  const out: Float32Array[] = [];
  for (let v = 0; v < setup.views; v++) {
    const buf = new Float32Array(req.indices.length * per);
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
