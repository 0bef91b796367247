// In-memory image datasets: Fashion-MNIST and MNIST (IDX, gzipped or not), CIFAR-10/100 (binary
// format), and a synthetic set for tests. Images stay uint8 [N, C, H, W] in a SharedArrayBuffer
// so loader workers read them without copies.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { subsetSource, type EncodedSource, type Interpolation } from './encoded.js';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface ImageDataset {
  name: string;
  /** uint8 pixels, [N, C, H, W] row-major, backed by a SharedArrayBuffer. */
  images: Uint8Array;
  labels: Int32Array;
  /** CIFAR-100's 20 superclasses, when present. */
  coarseLabels?: Int32Array;
  length: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  /** The name of each class, when the data says it (exported models carry them). */
  classes?: string[];
  /** Per-channel mean and std of the training pixels in [0, 1] (the usual Normalize values). */
  mean: number[];
  std: number[];
  /**
   * A streaming dataset: `images` is empty and each sample is decoded from `source` by the
   * loader's workers (sharp), at height x width, through Resize(resize) + CenterCrop or the
   * augmentation's RandomResizedCrop.
   */
  encoded?: EncodedData;
}

export interface EncodedData {
  source: EncodedSource;
  /** Resize's shorter side before the center crop (evaluation, and training without RandomResizedCrop). */
  resize: number;
  interpolation: Interpolation;
  /** Fraction of an epoch's samples that may fail to decode (skipped and reported) before the run stops. */
  maxCorruptFraction: number;
}

export const DEFAULT_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

const stats = {
  fashionMnist: {
    mean: [0.286],
    std: [0.353],
    classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  },
  mnist: { mean: [0.1307], std: [0.3081] },
  cifar10: {
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.247, 0.2435, 0.2616],
    classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  },
  cifar100: { mean: [0.5071, 0.4867, 0.4408], std: [0.2675, 0.2565, 0.2761] },
};

function shared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

function readMaybeGz(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new Error(`dataset file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch {
      throw new Error(`dataset file ${file} is a corrupt or truncated gzip file`);
    }
  }
  return raw;
}

/** The first existing path among `name` and `name.gz` in `root`. */
function findFile(root: string, names: string[], what: string, hint: string): string {
  for (const n of names) {
    for (const candidate of [path.join(root, n), path.join(root, `${n}.gz`)]) if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${what}: ${names[0]} (or .gz) not found in ${root}; ${hint}`);
}

/** Parses an IDX file of unsigned bytes (magic 0x0801 labels, 0x0803 images). */
export function readIdx(file: string, expectedDims: 1 | 3): { dims: number[]; data: Uint8Array } {
  const buf = readMaybeGz(file);
  if (buf.length < 4 + 4 * expectedDims) throw new Error(`IDX file ${file} is truncated (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  const expectedMagic = 0x0800 + expectedDims;
  if (magic !== expectedMagic) {
    throw new Error(
      `IDX file ${file} has magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic.toString(16).padStart(8, '0')} (unsigned-byte ${expectedDims === 1 ? 'labels' : 'images'})`,
    );
  }
  const dims = Array.from({ length: expectedDims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * expectedDims;
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length - offset < count) {
    throw new Error(`IDX file ${file} is truncated: header promises ${count} bytes of data, file has ${buf.length - offset}`);
  }
  const data = shared(count);
  data.set(buf.subarray(offset, offset + count));
  return { dims, data };
}

function idxDataset(
  name: string,
  root: string,
  train: boolean,
  s: { mean: number[]; std: number[] },
  hint: string,
): ImageDataset {
  const prefix = train ? 'train' : 't10k';
  const imagesFile = findFile(root, [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`], name, hint);
  const labelsFile = findFile(root, [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`], name, hint);
  const images = readIdx(imagesFile, 3);
  const labels = readIdx(labelsFile, 1);
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n)
    throw new Error(`${name}: ${imagesFile} has ${n} images but ${labelsFile} has ${labels.dims[0]} labels`);
  const lab = Int32Array.from(labels.data);
  const bad = lab.findIndex((l) => l > 9);
  if (bad >= 0) throw new Error(`${name}: label ${lab[bad]} at index ${bad} of ${labelsFile} is out of range 0-9`);
  return { name, images: images.data, labels: lab, length: n, channels: 1, height: h, width: w, numClasses: 10, ...s };
}

export function loadFashionMnist(options: { root?: string; train?: boolean } = {}): ImageDataset {
  const root = options.root ?? DEFAULT_FASHION_MNIST;
  return idxDataset(
    'fashion-mnist',
    root,
    options.train ?? true,
    stats.fashionMnist,
    "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set the dataset root",
  );
}

export function loadMnist(options: { root: string; train?: boolean }): ImageDataset {
  return idxDataset('mnist', options.root, options.train ?? true, stats.mnist, 'point root at a folder with the MNIST IDX files');
}

function readCifarRecords(
  files: string[],
  labelBytes: 1 | 2,
  what: string,
): { images: Uint8Array; fine: Int32Array; coarse?: Int32Array } {
  const record = labelBytes + 3072;
  const buffers = files.map((f) => {
    if (!existsSync(f)) throw new Error(`${what}: ${f} not found; download the binary version and point root at its folder`);
    const size = statSync(f).size;
    if (size === 0 || size % record !== 0) {
      throw new Error(
        `${what}: ${f} has ${size} bytes, not a whole number of ${record}-byte records (truncated or not the binary version)`,
      );
    }
    return readFileSync(f);
  });
  const n = buffers.reduce((a, b) => a + b.length / record, 0);
  const images = shared(n * 3072);
  const fine = new Int32Array(n);
  const coarse = labelBytes === 2 ? new Int32Array(n) : undefined;
  let i = 0;
  for (const buf of buffers) {
    for (let p = 0; p < buf.length; p += record, i++) {
      if (coarse) {
        coarse[i] = buf[p]!;
        fine[i] = buf[p + 1]!;
      } else fine[i] = buf[p]!;
      images.set(buf.subarray(p + labelBytes, p + record), i * 3072);
    }
  }
  return { images, fine, coarse };
}

/** CIFAR-10, binary version: root is the `cifar-10-batches-bin` folder. */
export function loadCifar10(options: { root: string; train?: boolean }): ImageDataset {
  const train = options.train ?? true;
  const files = train
    ? [1, 2, 3, 4, 5].map((i) => path.join(options.root, `data_batch_${i}.bin`))
    : [path.join(options.root, 'test_batch.bin')];
  const { images, fine } = readCifarRecords(files, 1, 'cifar10');
  const bad = fine.findIndex((l) => l > 9);
  if (bad >= 0) throw new Error(`cifar10: label ${fine[bad]} of record ${bad} is out of range 0-9 (corrupt file)`);
  return {
    name: 'cifar10',
    images,
    labels: fine,
    length: fine.length,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: 10,
    ...stats.cifar10,
  };
}

/** CIFAR-100, binary version: root is the `cifar-100-binary` folder; fine labels (100) by default. */
export function loadCifar100(options: { root: string; train?: boolean; labels?: 'fine' | 'coarse' }): ImageDataset {
  const file = path.join(options.root, (options.train ?? true) ? 'train.bin' : 'test.bin');
  const { images, fine, coarse } = readCifarRecords([file], 2, 'cifar100');
  const useCoarse = options.labels === 'coarse';
  const labels = useCoarse ? coarse! : fine;
  const k = useCoarse ? 20 : 100;
  const bad = labels.findIndex((l) => l >= k);
  if (bad >= 0) throw new Error(`cifar100: label ${labels[bad]} of record ${bad} is out of range 0-${k - 1} (corrupt file)`);
  return {
    name: 'cifar100',
    images,
    labels,
    coarseLabels: coarse,
    length: labels.length,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: k,
    ...stats.cifar100,
  };
}

/**
 * A deterministic synthetic dataset whose classes are learnable: each class has its own mean
 * pattern, plus noise.
 */
export function syntheticDataset(options: {
  length: number;
  channels?: number;
  size?: number;
  numClasses?: number;
  seed?: number;
}): ImageDataset {
  const { length, channels = 1, size = 28, numClasses = 10, seed = 0 } = options;
  const pixels = channels * size * size;
  // The class patterns are one fixed set, so every split (seed) is drawn from the same classes.
  const patternRand = mulberry32(0x5eed);
  const patterns = Array.from({ length: numClasses }, () => Float32Array.from({ length: pixels }, () => patternRand() * 255));
  const rand = mulberry32(seed);
  const images = shared(length * pixels);
  const labels = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const label = Math.floor(rand() * numClasses);
    labels[i] = label;
    const pattern = patterns[label]!;
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = Math.max(0, Math.min(255, pattern[p]! * 0.6 + rand() * 102));
  }
  return {
    name: 'synthetic',
    images,
    labels,
    length,
    channels,
    height: size,
    width: size,
    numClasses,
    mean: Array(channels).fill(0.5),
    std: Array(channels).fill(0.25),
  };
}

/** A view of some samples of a dataset (copies the selected pixels). */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  if (ds.encoded) {
    const labels = Int32Array.from(indices, (j) => {
      if (j < 0 || j >= ds.length) throw new Error(`subset: index ${j} out of range for ${ds.name} (${ds.length} samples)`);
      return ds.labels[j]!;
    });
    const source = subsetSource(ds.encoded.source, indices);
    return { ...ds, labels, coarseLabels: undefined, length: indices.length, encoded: { ...ds.encoded, source } };
  }
  const pixels = ds.channels * ds.height * ds.width;
  const images = shared(indices.length * pixels);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (j < 0 || j >= ds.length) throw new Error(`subset: index ${j} out of range for ${ds.name} (${ds.length} samples)`);
    images.set(ds.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = ds.labels[j]!;
  }
  return { ...ds, images, labels, coarseLabels: undefined, length: indices.length };
}

/**
 * Symmetric label noise: exactly round(p * N) samples, chosen with `seed`, get a label drawn
 * uniformly from the other classes. Returns a new dataset (pixels shared) and the flipped indices.
 */
export function withLabelNoise(ds: ImageDataset, p: number, seed: number): { dataset: ImageDataset; flipped: Int32Array } {
  if (!(p >= 0 && p <= 1)) throw new Error(`label noise: fraction must be in [0, 1], got ${p}`);
  const rand = mulberry32(seed);
  const order = shuffledIndices(ds.length, rand);
  const count = Math.round(p * ds.length);
  const flipped = order.slice(0, count).sort();
  const labels = Int32Array.from(ds.labels);
  for (const i of flipped) {
    const shift = 1 + Math.floor(rand() * (ds.numClasses - 1));
    labels[i] = (labels[i]! + shift) % ds.numClasses;
  }
  return { dataset: { ...ds, labels }, flipped };
}

/** 0..n-1 in a random order (Fisher–Yates) drawn from `rand`. */
export function shuffledIndices(n: number, rand: () => number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/** A small, fast, seedable PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes three integers into one 32-bit seed (FNV-1a then a murmur finaliser): streams per epoch and step. */
export function mixSeeds(a: number, b: number, c: number): number {
  let h = 0x811c9dc5 ^ a;
  h = Math.imul(h ^ b, 0x01000193);
  h = Math.imul(h ^ c, 0x01000193);
  h ^= h >>> 13;
  return Math.imul(h, 0x5bd1e995) >>> 0;
}
