// Augmentation and normalisation of uint8 images into float32 batches: random crop with
// zero padding, horizontal flip, per-channel normalisation, in one pass per sample.
// Pure functions of their inputs and a seeded generator, so workers and the main thread agree.

export interface AugmentConfig {
  /** Random crop of the original size after zero-padding by this many pixels (CIFAR: 4). */
  cropPadding?: number;
  /** Random horizontal flip with probability 1/2. */
  hflip?: boolean;
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
