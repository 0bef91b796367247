// Augmentation and normalisation of uint8 images into float32 batches: random crop with
// zero padding, horizontal flip, optionally AutoAugment or RandAugment (autoaugment.ts) on the
// cropped uint8 image, per-channel normalisation. Pure functions of their inputs and a seeded
// generator, so workers and the main thread agree.
import {
  autoAugment,
  colorJitter,
  randAugment,
  type AutoAugmentPolicy,
  type ColorJitterConfig,
  type Image,
  type RandAugmentConfig,
} from './autoaugment.js';

export interface AugmentConfig {
  /** Random crop of the original size after zero-padding by this many pixels (CIFAR: 4). */
  cropPadding?: number;
  /** Random horizontal flip with probability 1/2. */
  hflip?: boolean;
  /** torchvision's RandAugment after the crop and flip. */
  randAugment?: RandAugmentConfig;
  /** torchvision's AutoAugment with this policy after the crop and flip. */
  autoAugment?: AutoAugmentPolicy;
  /** torchvision's ColorJitter after the crop and flip (before AutoAugment or RandAugment). */
  colorJitter?: ColorJitterConfig;
  /**
   * torchvision's RandomResizedCrop to the dataset's size, taken while decoding (streaming image
   * folders and WebDataset shards); without it they resize and center-crop.
   */
  randomResizedCrop?: { scale?: [number, number]; ratio?: [number, number] };
}

export interface ImageGeometry {
  channels: number;
  height: number;
  width: number;
  mean: number[];
  std: number[];
}

/**
 * Writes sample `index` of `images` into `out` at `offset` as normalised float32 [C, H, W].
 * `rand` is used only when augmenting.
 */
export function renderSample(
  images: Uint8Array,
  index: number,
  g: ImageGeometry,
  out: Float32Array,
  offset: number,
  augment: AugmentConfig | null,
  rand: () => number,
): void {
  if (augment?.randAugment || augment?.autoAugment || augment?.colorJitter) {
    renderWithPolicy(images, index, g, out, offset, augment, rand);
    return;
  }
  const { channels: c, height: h, width: w } = g;
  const pad = augment?.cropPadding ?? 0;
  const dy = pad ? Math.floor(rand() * (2 * pad + 1)) - pad : 0;
  const dx = pad ? Math.floor(rand() * (2 * pad + 1)) - pad : 0;
  const flip = augment?.hflip ? rand() < 0.5 : false;
  const base = index * c * h * w;
  for (let ch = 0; ch < c; ch++) {
    const scale = 1 / (255 * g.std[ch]!);
    const shift = g.mean[ch]! / g.std[ch]!;
    const zero = -shift; // a padded (black) pixel after normalisation
    const plane = base + ch * h * w;
    const outPlane = offset + ch * h * w;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      const row = outPlane + y * w;
      if (sy < 0 || sy >= h) {
        out.fill(zero, row, row + w);
        continue;
      }
      const srcRow = plane + sy * w;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        out[row + x] = sx < 0 || sx >= w ? zero : images[srcRow + sx]! * scale - shift;
      }
    }
  }
}

/** Crop and flip into a uint8 image (zero padding, as torchvision pads with 0), the policy, then normalisation. */
function renderWithPolicy(
  images: Uint8Array,
  index: number,
  g: ImageGeometry,
  out: Float32Array,
  offset: number,
  augment: AugmentConfig,
  rand: () => number,
): void {
  const { channels: c, height: h, width: w } = g;
  const n = c * h * w;
  // The crop and flip as renderSample's, written as bytes: mean 0 and std 1/255 leave them unchanged.
  const bytes = new Float32Array(n);
  renderSample(
    images,
    index,
    { ...g, mean: new Array(c).fill(0), std: new Array(c).fill(1 / 255) },
    bytes,
    0,
    {
      cropPadding: augment.cropPadding,
      hflip: augment.hflip,
    },
    rand,
  );
  let img: Image = { data: Uint8Array.from(bytes, Math.round), channels: c, height: h, width: w };
  if (augment.colorJitter) img = colorJitter(img, augment.colorJitter, rand);
  if (augment.autoAugment) img = autoAugment(img, augment.autoAugment, rand);
  if (augment.randAugment) img = randAugment(img, augment.randAugment, rand);
  for (let ch = 0; ch < c; ch++) {
    const scale = 1 / (255 * g.std[ch]!);
    const shift = g.mean[ch]! / g.std[ch]!;
    for (let i = ch * h * w; i < (ch + 1) * h * w; i++) out[offset + i] = img.data[i]! * scale - shift;
  }
}
