// AutoAugment and RandAugment as torchvision 0.14 defines them (transforms/autoaugment.py) on
// uint8 images [C, H, W], each operation following torchvision's tensor path
// (functional_tensor.py): float32 arithmetic where it computes in float32, truncation where it
// casts to uint8, nearest-neighbour resampling through its affine grid. Randomness comes from the
// loader's seeded generator (not torch's), so a run's augmentations repeat exactly.

export type AugmentOp =
  | 'Identity'
  | 'ShearX'
  | 'ShearY'
  | 'TranslateX'
  | 'TranslateY'
  | 'Rotate'
  | 'Brightness'
  | 'Color'
  | 'Contrast'
  | 'Sharpness'
  | 'Posterize'
  | 'Solarize'
  | 'AutoContrast'
  | 'Equalize'
  | 'Invert';

export interface RandAugmentConfig {
  /** Operations applied in sequence (torchvision: 2). */
  numOps?: number;
  /** Magnitude bin (torchvision: 9). */
  magnitude?: number;
  /** Number of magnitude bins (torchvision: 31). */
  numMagnitudeBins?: number;
}

/** torchvision's RandAugment defaults, the one place the config, the strong view and the policy read them. */
export const RAND_AUGMENT_DEFAULTS = { numOps: 2, magnitude: 9, numMagnitudeBins: 31 } as const;

export type AutoAugmentPolicy = 'cifar10' | 'imagenet' | 'svhn';

/** A uint8 image [C, H, W]. */
export interface Image {
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

const f32 = Math.fround;

/** float32 → uint8 as torch's .to(torch.uint8) after a clamp to [0, 255]: truncation. */
const toByte = (v: number) => Math.trunc(Math.min(Math.max(v, 0), 255));

/** torchvision's _blend in float32: (r · img1 + (1 − r) · img2).clamp(0, 255).to(uint8). */
function blend(img: Image, other: (i: number) => number, ratio: number): Image {
  const r = f32(ratio);
  const q = f32(1 - ratio);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = toByte(f32(f32(r * img.data[i]!) + f32(q * other(i))));
  return { ...img, data: out };
}

/** rgb_to_grayscale: (0.2989 r + 0.587 g + 0.114 b) in float32, truncated; a one-channel image is its own. */
function grayscale(img: Image): Uint8Array {
  if (img.channels !== 3) return img.data.slice();
  const n = img.height * img.width;
  const [wr, wg, wb] = [f32(0.2989), f32(0.587), f32(0.114)];
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = f32(f32(f32(wr * img.data[i]!) + f32(wg * img.data[n + i]!)) + f32(wb * img.data[2 * n + i]!));
    out[i] = toByte(v);
  }
  return out;
}

function brightness(img: Image, factor: number): Image {
  return blend(img, () => 0, factor);
}

function saturation(img: Image, factor: number): Image {
  if (img.channels === 1) return img; // as PIL
  const gray = grayscale(img);
  const n = img.height * img.width;
  return blend(img, (i) => gray[i % n]!, factor);
}

function contrast(img: Image, factor: number): Image {
  const gray = grayscale(img);
  // An integer sum is exact in float32 up to 2^24; the mean is then one rounding, as torch's.
  let sum = 0;
  for (const v of gray) sum += v;
  const mean = f32(sum / gray.length);
  return blend(img, () => mean, factor);
}

/** adjust_sharpness: blend with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]]/13 inside its border (rounded). */
function sharpness(img: Image, factor: number): Image {
  const { channels: c, height: h, width: w, data } = img;
  if (h <= 2 || w <= 2) return img;
  const k = f32(1 / 13);
  const centre = f32(5 / 13);
  const blurred = data.slice();
  for (let ch = 0; ch < c; ch++) {
    const p = ch * h * w;
    for (let y = 1; y < h - 1; y++)
      for (let x = 1; x < w - 1; x++) {
        let acc = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) acc = f32(acc + f32((dy || dx ? k : centre) * data[p + (y + dy) * w + x + dx]!));
        blurred[p + y * w + x] = roundHalfEven(acc);
      }
  }
  return blend(img, (i) => blurred[i]!, factor);
}

/** Python's round(): halves to the even neighbour. */
export const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

function posterize(img: Image, bits: number): Image {
  const mask = -(2 ** (8 - bits)) & 0xff;
  return { ...img, data: img.data.map((v) => v & mask) };
}

function solarize(img: Image, threshold: number): Image {
  return { ...img, data: img.data.map((v) => (v >= threshold ? 255 - v : v)) };
}

function invert(img: Image): Image {
  return { ...img, data: img.data.map((v) => 255 - v) };
}

/** autocontrast: each channel stretched to [0, 255] by (x − min) · 255/(max − min) in float32, truncated. */
function autocontrast(img: Image): Image {
  const { channels: c, height: h, width: w } = img;
  const n = h * w;
  const out = new Uint8Array(img.data.length);
  for (let ch = 0; ch < c; ch++) {
    const plane = img.data.subarray(ch * n, (ch + 1) * n);
    let [lo, hi] = [255, 0];
    for (const v of plane) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const scale = hi === lo ? 1 : f32(255 / (hi - lo));
    const min = hi === lo ? 0 : lo;
    for (let i = 0; i < n; i++) out[ch * n + i] = toByte(f32((plane[i]! - min) * scale));
  }
  return { ...img, data: out };
}

/** equalize: each channel through the lookup table of its cumulative histogram (torchvision's _scale_channel). */
function equalize(img: Image): Image {
  const n = img.height * img.width;
  const out = img.data.slice();
  for (let ch = 0; ch < img.channels; ch++) {
    const plane = img.data.subarray(ch * n, (ch + 1) * n);
    const hist = new Array<number>(256).fill(0);
    for (const v of plane) hist[v]!++;
    const nonzero = hist.filter((v) => v !== 0);
    const step = Math.floor((nonzero.reduce((a, b) => a + b, 0) - nonzero.at(-1)!) / 255);
    if (step === 0) continue;
    const lut = new Array<number>(256);
    let cum = 0;
    for (let i = 0; i < 256; i++) {
      // The table is shifted by one: entry i comes from the cumulative count below i.
      lut[i] = Math.min(255, Math.floor((cum + Math.floor(step / 2)) / step));
      cum += hist[i]!;
    }
    for (let i = 0; i < n; i++) out[ch * n + i] = lut[plane[i]!]!;
  }
  return { ...img, data: out };
}

/** torchvision's _get_inverse_affine_matrix (in double, as Python's math). */
function inverseAffine(center: [number, number], angle: number, translate: [number, number], shear: [number, number]): number[] {
  const rad = (d: number) => (d * Math.PI) / 180;
  const [rot, sx, sy] = [rad(angle), rad(shear[0]), rad(shear[1])];
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0];
  m[2] += m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5] += m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/**
 * F_t.affine with nearest resampling and zero fill: an output pixel's centre mapped through the
 * inverse matrix (float32, torchvision's _gen_affine_grid), unnormalised as grid_sample with
 * align_corners=False, rounded half to even.
 */
function affineNearest(img: Image, m: number[]): Image {
  const { channels: c, height: h, width: w, data } = img;
  const theta = m.map(f32);
  const [sw, sh] = [f32(0.5 * w), f32(0.5 * h)];
  // rescaled_theta = theta^T / [0.5 w, 0.5 h]: column j of the grid from row j of theta.
  const r = [
    f32(theta[0]! / sw),
    f32(theta[1]! / sw),
    f32(theta[2]! / sw),
    f32(theta[3]! / sh),
    f32(theta[4]! / sh),
    f32(theta[5]! / sh),
  ];
  const xs = linspace(-w * 0.5 + 0.5, w * 0.5 + 0.5 - 1, w);
  const ys = linspace(-h * 0.5 + 0.5, h * 0.5 + 0.5 - 1, h);
  const out = new Uint8Array(data.length);
  const [halfW, halfH] = [f32(w / 2), f32(h / 2)];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const gx = f32(f32(f32(xs[x]! * r[0]!) + f32(ys[y]! * r[1]!)) + r[2]!);
      const gy = f32(f32(f32(xs[x]! * r[3]!) + f32(ys[y]! * r[4]!)) + r[5]!);
      const ix = roundHalfEven(f32(f32(f32(gx + 1) * halfW) - 0.5));
      const iy = roundHalfEven(f32(f32(f32(gy + 1) * halfH) - 0.5));
      if (ix < 0 || ix >= w || iy < 0 || iy >= h) continue;
      for (let ch = 0; ch < c; ch++) out[ch * h * w + y * w + x] = data[ch * h * w + iy * w + ix]!;
    }
  return { ...img, data: out };
}

/**
 * torch.linspace in float32 as its CPU kernel computes it: from the start for the first half, from
 * the end for the rest, each as one fused multiply-add (a single rounding; the product of a float32
 * step and a small integer is exact in double).
 */
export function linspace(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [f32(start)];
  const [s, e] = [f32(start), f32(end)];
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f32(s + step * i) : f32(e - step * (steps - i - 1))));
}

/** torchvision's _apply_op on a uint8 image. */
export function applyOp(img: Image, op: AugmentOp, magnitude: number): Image {
  const degrees = (v: number) => (Math.atan(v) * 180) / Math.PI;
  const corner: [number, number] = [-img.width * 0.5, -img.height * 0.5]; // center=[0, 0]: the top-left corner
  switch (op) {
    case 'ShearX':
      return affineNearest(img, inverseAffine(corner, 0, [0, 0], [degrees(magnitude), 0]));
    case 'ShearY':
      return affineNearest(img, inverseAffine(corner, 0, [0, 0], [0, degrees(magnitude)]));
    case 'TranslateX':
      return affineNearest(img, inverseAffine([0, 0], 0, [Math.trunc(magnitude), 0], [0, 0]));
    case 'TranslateY':
      return affineNearest(img, inverseAffine([0, 0], 0, [0, Math.trunc(magnitude)], [0, 0]));
    case 'Rotate':
      // F.rotate passes −angle to the matrix (the direction of F.affine's angle is the opposite).
      return affineNearest(img, inverseAffine([0, 0], -magnitude, [0, 0], [0, 0]));
    case 'Brightness':
      return brightness(img, 1 + magnitude);
    case 'Color':
      return saturation(img, 1 + magnitude);
    case 'Contrast':
      return contrast(img, 1 + magnitude);
    case 'Sharpness':
      return sharpness(img, 1 + magnitude);
    case 'Posterize':
      return posterize(img, Math.trunc(magnitude));
    case 'Solarize':
      return solarize(img, magnitude);
    case 'AutoContrast':
      return autocontrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
    case 'Identity':
      return img;
  }
}

/** The magnitudes of an operation in `bins` bins and whether it takes a random sign (_augmentation_space). */
export function magnitudes(op: AugmentOp, bins: number, height: number, width: number): { values: number[]; signed: boolean } {
  switch (op) {
    case 'ShearX':
    case 'ShearY':
      return { values: linspace(0, 0.3, bins), signed: true };
    case 'TranslateX':
      return { values: linspace(0, (150 / 331) * width, bins), signed: true };
    case 'TranslateY':
      return { values: linspace(0, (150 / 331) * height, bins), signed: true };
    case 'Rotate':
      return { values: linspace(0, 30, bins), signed: true };
    case 'Brightness':
    case 'Color':
    case 'Contrast':
    case 'Sharpness':
      return { values: linspace(0, 0.9, bins), signed: true };
    case 'Posterize':
      // 8 − round(i / ((bins − 1) / 4)), torch.round being half to even.
      return { values: Array.from({ length: bins }, (_, i) => 8 - roundHalfEven(f32(i / f32((bins - 1) / 4)))), signed: false };
    case 'Solarize':
      return { values: linspace(255, 0, bins), signed: false };
    default:
      return { values: [0], signed: false };
  }
}

const RAND_AUGMENT_OPS: AugmentOp[] = [
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
];

/** RandAugment: `numOps` operations drawn uniformly, each at the magnitude bin, signed ones negated with probability 1/2. */
export function randAugment(img: Image, config: RandAugmentConfig, rand: () => number): Image {
  const numOps = config.numOps ?? RAND_AUGMENT_DEFAULTS.numOps;
  const magnitude = config.magnitude ?? RAND_AUGMENT_DEFAULTS.magnitude;
  const numMagnitudeBins = config.numMagnitudeBins ?? RAND_AUGMENT_DEFAULTS.numMagnitudeBins;
  let out = img;
  for (let k = 0; k < numOps; k++) {
    const op = RAND_AUGMENT_OPS[Math.floor(rand() * RAND_AUGMENT_OPS.length)]!;
    const { values, signed } = magnitudes(op, numMagnitudeBins, img.height, img.width);
    let m = values.length > 1 ? values[magnitude]! : 0;
    if (signed && rand() < 0.5) m = -m;
    out = applyOp(out, op, m);
  }
  return out;
}

type SubPolicy = [[AugmentOp, number, number | null], [AugmentOp, number, number | null]];

/** torchvision's AutoAugment policies (operation, probability, magnitude bin of 10). */
const POLICIES: Record<AutoAugmentPolicy, SubPolicy[]> = {
  imagenet: [
    [
      ['Posterize', 0.4, 8],
      ['Rotate', 0.6, 9],
    ],
    [
      ['Solarize', 0.6, 5],
      ['AutoContrast', 0.6, null],
    ],
    [
      ['Equalize', 0.8, null],
      ['Equalize', 0.6, null],
    ],
    [
      ['Posterize', 0.6, 7],
      ['Posterize', 0.6, 6],
    ],
    [
      ['Equalize', 0.4, null],
      ['Solarize', 0.2, 4],
    ],
    [
      ['Equalize', 0.4, null],
      ['Rotate', 0.8, 8],
    ],
    [
      ['Solarize', 0.6, 3],
      ['Equalize', 0.6, null],
    ],
    [
      ['Posterize', 0.8, 5],
      ['Equalize', 1.0, null],
    ],
    [
      ['Rotate', 0.2, 3],
      ['Solarize', 0.6, 8],
    ],
    [
      ['Equalize', 0.6, null],
      ['Posterize', 0.4, 6],
    ],
    [
      ['Rotate', 0.8, 8],
      ['Color', 0.4, 0],
    ],
    [
      ['Rotate', 0.4, 9],
      ['Equalize', 0.6, null],
    ],
    [
      ['Equalize', 0.0, null],
      ['Equalize', 0.8, null],
    ],
    [
      ['Invert', 0.6, null],
      ['Equalize', 1.0, null],
    ],
    [
      ['Color', 0.6, 4],
      ['Contrast', 1.0, 8],
    ],
    [
      ['Rotate', 0.8, 8],
      ['Color', 1.0, 2],
    ],
    [
      ['Color', 0.8, 8],
      ['Solarize', 0.8, 7],
    ],
    [
      ['Sharpness', 0.4, 7],
      ['Invert', 0.6, null],
    ],
    [
      ['ShearX', 0.6, 5],
      ['Equalize', 1.0, null],
    ],
    [
      ['Color', 0.4, 0],
      ['Equalize', 0.6, null],
    ],
    [
      ['Equalize', 0.4, null],
      ['Solarize', 0.2, 4],
    ],
    [
      ['Solarize', 0.6, 5],
      ['AutoContrast', 0.6, null],
    ],
    [
      ['Invert', 0.6, null],
      ['Equalize', 1.0, null],
    ],
    [
      ['Color', 0.6, 4],
      ['Contrast', 1.0, 8],
    ],
    [
      ['Equalize', 0.8, null],
      ['Equalize', 0.6, null],
    ],
  ],
  cifar10: [
    [
      ['Invert', 0.1, null],
      ['Contrast', 0.2, 6],
    ],
    [
      ['Rotate', 0.7, 2],
      ['TranslateX', 0.3, 9],
    ],
    [
      ['Sharpness', 0.8, 1],
      ['Sharpness', 0.9, 3],
    ],
    [
      ['ShearY', 0.5, 8],
      ['TranslateY', 0.7, 9],
    ],
    [
      ['AutoContrast', 0.5, null],
      ['Equalize', 0.9, null],
    ],
    [
      ['ShearY', 0.2, 7],
      ['Posterize', 0.3, 7],
    ],
    [
      ['Color', 0.4, 3],
      ['Brightness', 0.6, 7],
    ],
    [
      ['Sharpness', 0.3, 9],
      ['Brightness', 0.7, 9],
    ],
    [
      ['Equalize', 0.6, null],
      ['Equalize', 0.5, null],
    ],
    [
      ['Contrast', 0.6, 7],
      ['Sharpness', 0.6, 5],
    ],
    [
      ['Color', 0.7, 7],
      ['TranslateX', 0.5, 8],
    ],
    [
      ['Equalize', 0.3, null],
      ['AutoContrast', 0.4, null],
    ],
    [
      ['TranslateY', 0.4, 3],
      ['Sharpness', 0.2, 6],
    ],
    [
      ['Brightness', 0.9, 6],
      ['Color', 0.2, 8],
    ],
    [
      ['Solarize', 0.5, 2],
      ['Invert', 0.0, null],
    ],
    [
      ['Equalize', 0.2, null],
      ['AutoContrast', 0.6, null],
    ],
    [
      ['Equalize', 0.2, null],
      ['Equalize', 0.6, null],
    ],
    [
      ['Color', 0.9, 9],
      ['Equalize', 0.6, null],
    ],
    [
      ['AutoContrast', 0.8, null],
      ['Solarize', 0.2, 8],
    ],
    [
      ['Brightness', 0.1, 3],
      ['Color', 0.7, 0],
    ],
    [
      ['Solarize', 0.4, 5],
      ['AutoContrast', 0.9, null],
    ],
    [
      ['TranslateY', 0.9, 9],
      ['TranslateY', 0.7, 9],
    ],
    [
      ['AutoContrast', 0.9, null],
      ['Solarize', 0.8, 3],
    ],
    [
      ['Equalize', 0.8, null],
      ['Invert', 0.1, null],
    ],
    [
      ['TranslateY', 0.7, 9],
      ['AutoContrast', 0.9, null],
    ],
  ],
  svhn: [
    [
      ['ShearX', 0.9, 4],
      ['Invert', 0.2, null],
    ],
    [
      ['ShearY', 0.9, 8],
      ['Invert', 0.7, null],
    ],
    [
      ['Equalize', 0.6, null],
      ['Solarize', 0.6, 6],
    ],
    [
      ['Invert', 0.9, null],
      ['Equalize', 0.6, null],
    ],
    [
      ['Equalize', 0.6, null],
      ['Rotate', 0.9, 3],
    ],
    [
      ['ShearX', 0.9, 4],
      ['AutoContrast', 0.8, null],
    ],
    [
      ['ShearY', 0.9, 8],
      ['Invert', 0.4, null],
    ],
    [
      ['ShearY', 0.9, 5],
      ['Solarize', 0.2, 6],
    ],
    [
      ['Invert', 0.9, null],
      ['AutoContrast', 0.8, null],
    ],
    [
      ['Equalize', 0.6, null],
      ['Rotate', 0.9, 3],
    ],
    [
      ['ShearX', 0.9, 4],
      ['Solarize', 0.3, 3],
    ],
    [
      ['ShearY', 0.8, 8],
      ['Invert', 0.7, null],
    ],
    [
      ['Equalize', 0.9, null],
      ['TranslateY', 0.6, 6],
    ],
    [
      ['Invert', 0.9, null],
      ['Equalize', 0.6, null],
    ],
    [
      ['Contrast', 0.3, 3],
      ['Rotate', 0.8, 4],
    ],
    [
      ['Invert', 0.8, null],
      ['TranslateY', 0.0, 2],
    ],
    [
      ['ShearY', 0.7, 6],
      ['Solarize', 0.4, 8],
    ],
    [
      ['Invert', 0.6, null],
      ['Rotate', 0.8, 4],
    ],
    [
      ['ShearY', 0.3, 7],
      ['TranslateX', 0.9, 3],
    ],
    [
      ['ShearX', 0.1, 6],
      ['Invert', 0.6, null],
    ],
    [
      ['Solarize', 0.7, 2],
      ['TranslateY', 0.6, 7],
    ],
    [
      ['ShearY', 0.8, 4],
      ['Invert', 0.8, null],
    ],
    [
      ['ShearX', 0.7, 9],
      ['TranslateY', 0.8, 3],
    ],
    [
      ['ShearY', 0.8, 5],
      ['AutoContrast', 0.7, null],
    ],
    [
      ['ShearX', 0.7, 2],
      ['Invert', 0.1, null],
    ],
  ],
};

/** AutoAugment: one sub-policy drawn uniformly; each of its two operations applied with its probability. */
export function autoAugment(img: Image, policy: AutoAugmentPolicy, rand: () => number): Image {
  const subs = POLICIES[policy];
  const sub = subs[Math.floor(rand() * subs.length)]!;
  let out = img;
  for (const [op, p, bin] of sub) {
    const [u, sign] = [rand(), rand() < 0.5];
    if (u > p) continue; // torchvision applies when probs[i] <= p
    const { values, signed } = magnitudes(op, 10, img.height, img.width);
    let m = bin === null ? 0 : values[bin]!;
    if (signed && sign) m = -m;
    out = applyOp(out, op, m);
  }
  return out;
}

/** ColorJitter's ranges: brightness, contrast and saturation factors drawn from [max(0, 1 − v), 1 + v], hue from [−v, v]. */
export interface ColorJitterConfig {
  brightness?: number;
  contrast?: number;
  saturation?: number;
  /** At most 0.5. */
  hue?: number;
}

/** adjust_hue on the tensor path: to float in [0, 1], to HSV, h + factor mod 1, back to RGB, to uint8 (× 255, truncated). */
export function adjustHue(img: Image, factor: number): Image {
  if (img.channels !== 3) return img;
  const n = img.height * img.width;
  const out = new Uint8Array(img.data.length);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const r = f32(d[i]! / 255);
    const g = f32(d[n + i]! / 255);
    const b = f32(d[2 * n + i]! / 255);
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    const eqc = maxc === minc;
    const cr = f32(maxc - minc);
    const s = f32(cr / (eqc ? 1 : maxc));
    const div = eqc ? 1 : cr;
    const rc = f32(f32(maxc - r) / div);
    const gc = f32(f32(maxc - g) / div);
    const bc = f32(f32(maxc - b) / div);
    let h: number;
    if (maxc === r) h = f32(bc - gc);
    else if (maxc === g) h = f32(f32(2 + rc) - bc);
    else h = f32(f32(4 + gc) - rc);
    h = f32(f32(f32(h / 6) + 1) % 1);
    // (h + factor) % 1.0 with Python's sign rule (the result takes the divisor's sign).
    h = f32(h + f32(factor));
    h = f32(h - Math.floor(h));
    const v = maxc;
    const i6 = Math.floor(f32(h * 6));
    const f = f32(f32(h * 6) - i6);
    const clamp01 = (x: number) => Math.min(Math.max(x, 0), 1);
    const p = clamp01(f32(v * f32(1 - s)));
    const q = clamp01(f32(v * f32(1 - f32(s * f))));
    const t = clamp01(f32(v * f32(1 - f32(s * f32(1 - f)))));
    const sector = ((i6 % 6) + 6) % 6;
    const rgb = [
      [v, t, p],
      [q, v, p],
      [p, v, t],
      [p, q, v],
      [t, p, v],
      [v, p, q],
    ][sector]!;
    for (let c = 0; c < 3; c++) out[c * n + i] = toByte(f32(rgb[c]! * 255));
  }
  return { ...img, data: out };
}

/**
 * torchvision's ColorJitter: the four adjustments in a random order (randperm(4)), each factor
 * drawn after the order, brightness, contrast, saturation, hue; an adjustment whose range is
 * zero is skipped, as torchvision's None.
 */
export function colorJitter(img: Image, config: ColorJitterConfig, rand: () => number): Image {
  const order = [0, 1, 2, 3];
  for (let i = 3; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const draw = (v: number | undefined, centre: number, lo = Math.max(0, centre - (v ?? 0))) =>
    v ? lo + rand() * (centre + v - lo) : null;
  const factors = [
    draw(config.brightness, 1),
    draw(config.contrast, 1),
    draw(config.saturation, 1),
    config.hue ? -config.hue + rand() * 2 * config.hue : null,
  ];
  const ops = [brightness, contrast, saturation, adjustHue];
  let out = img;
  for (const k of order) if (factors[k] !== null) out = ops[k]!(out, factors[k]!);
  return out;
}
