// Datasets by name: one entry each (how to load its training and test sets, what it is), open to
// user code. Configs, the CLI's listings and createDataset read it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadCifar10, loadCifar100, loadFashionMnist, loadMnist, syntheticDataset, type ImageDataset } from './datasets.js';
import { loadImageFolder } from './imagefolder.js';

/** What a dataset's loader receives from the config's `dataset:` section. */
export interface DatasetSpec {
  root?: string;
  /** Image side for datasets that resize (image folders). */
  size?: number;
  /** Sizes for generated data (synthetic). */
  trainSubset?: number;
  testSubset?: number;
}

export interface DatasetSplits {
  train: ImageDataset;
  test: ImageDataset;
}

export interface DatasetEntry {
  name: string;
  load: (spec: DatasetSpec) => DatasetSplits;
  description: string;
}

const datasets = new Map<string, DatasetEntry>();

/** Registers a dataset under `name`; an existing name needs `{ override: true }`. */
export function registerDataset(
  name: string,
  def: { load: (spec: DatasetSpec) => DatasetSplits; description?: string },
  options: { override?: boolean } = {},
): DatasetEntry {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_.-]*$/i.test(name))
    throw new Error(`registerDataset: '${String(name)}' is not a valid name (letters, digits, _ . and -)`);
  if (typeof def?.load !== 'function') throw new Error(`registerDataset('${name}'): load(spec) => { train, test } is required`);
  if (datasets.has(name) && !options.override)
    throw new Error(`registerDataset: a dataset '${name}' already exists; pass { override: true } to replace it`);
  const entry = { name, load: def.load, description: def.description ?? '' };
  datasets.set(name, entry);
  return entry;
}

export const datasetNames = (): string[] => [...datasets.keys()];
export const datasetEntries = (): DatasetEntry[] => [...datasets.values()];

/** Loads both splits of a registered dataset and checks that each is a well-formed ImageDataset. */
export function createDataset(name: string, spec: DatasetSpec = {}): DatasetSplits {
  const entry = datasets.get(name);
  if (!entry) throw new Error(`unknown dataset '${name}'; available: ${datasetNames().join(', ')}`);
  const splits = entry.load(spec);
  for (const split of ['train', 'test'] as const) checkImageDataset(splits?.[split], `dataset '${name}' (${split})`);
  if (splits.train.channels !== splits.test.channels || splits.train.numClasses !== splits.test.numClasses)
    throw new Error(`dataset '${name}': the train and test splits differ in channels or classes`);
  return splits;
}

/** Throws unless `ds` is an ImageDataset whose arrays agree with its sizes. */
export function checkImageDataset(ds: unknown, what: string): asserts ds is ImageDataset {
  const d = ds as ImageDataset;
  if (!d || typeof d !== 'object') throw new Error(`${what}: the loader returned no dataset`);
  const positive = (k: keyof ImageDataset) => Number.isInteger(d[k]) && (d[k] as number) > 0;
  for (const k of ['length', 'channels', 'height', 'width', 'numClasses'] as const)
    if (!positive(k)) throw new Error(`${what}: '${k}' must be a positive integer, got ${String(d[k])}`);
  if (!(d.images instanceof Uint8Array) || d.images.length !== d.length * d.channels * d.height * d.width)
    throw new Error(`${what}: images must be a Uint8Array of length × channels × height × width values`);
  if (!(d.labels instanceof Int32Array) || d.labels.length !== d.length)
    throw new Error(`${what}: labels must be an Int32Array with one label per image`);
  const bad = d.labels.findIndex((l) => l < 0 || l >= d.numClasses);
  if (bad >= 0) throw new Error(`${what}: label ${d.labels[bad]} of sample ${bad} is outside 0..${d.numClasses - 1}`);
  if (!Array.isArray(d.mean) || !Array.isArray(d.std) || d.mean.length !== d.channels || d.std.length !== d.channels)
    throw new Error(`${what}: mean and std need one value per channel`);
}

/**
 * Builds an ImageDataset from uint8 pixels [N, C, H, W] and labels (a plugin's data); the
 * pixels are copied into shared memory so loader workers read them without copies.
 */
export function imageDataset(o: {
  name: string;
  images: ArrayLike<number>;
  labels: ArrayLike<number>;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  mean?: number[];
  std?: number[];
}): ImageDataset {
  const length = o.labels.length;
  const images = new Uint8Array(new SharedArrayBuffer(o.images.length));
  images.set(o.images);
  const ds: ImageDataset = {
    name: o.name,
    images,
    labels: Int32Array.from(o.labels),
    length,
    channels: o.channels,
    height: o.height,
    width: o.width,
    numClasses: o.numClasses,
    mean: o.mean ?? Array(o.channels).fill(0.5),
    std: o.std ?? Array(o.channels).fill(0.25),
  };
  checkImageDataset(ds, `imageDataset '${o.name}'`);
  return ds;
}

const need = (spec: DatasetSpec, name: string, what: string): string => {
  if (!spec.root) throw new Error(`dataset ${name}: set dataset.root to the ${what} folder`);
  return spec.root;
};

/** train/ and val/ (or test/) image folders under root, classes as sub-folders. */
function loadImageFolders(spec: DatasetSpec): DatasetSplits {
  const root = need(spec, 'imagefolder', 'image folder (with train/ and val/ inside)');
  const val = ['val', 'test'].map((d) => path.join(root, d)).find((d) => existsSync(d));
  if (!existsSync(path.join(root, 'train')) || !val)
    throw new Error(`dataset imagefolder: ${root} must hold train/ and val/ (or test/), one sub-folder per class in each`);
  const size = spec.size ?? 224;
  const train = loadImageFolder({ root: path.join(root, 'train'), size });
  const test = loadImageFolder({ root: val, size });
  if (train.classes.join('\n') !== test.classes.join('\n'))
    throw new Error(`dataset imagefolder: train/ and ${path.basename(val)}/ must have the same class folders`);
  return { train, test };
}

registerDataset('fashion-mnist', {
  load: (s) => ({
    train: loadFashionMnist({ root: s.root, train: true }),
    test: loadFashionMnist({ root: s.root, train: false }),
  }),
  description: "Fashion-MNIST, 28x28 grey, 10 classes (default root: Debian's dataset-fashion-mnist)",
});
registerDataset('mnist', {
  load: (s) => {
    const root = need(s, 'mnist', 'MNIST IDX');
    return { train: loadMnist({ root, train: true }), test: loadMnist({ root, train: false }) };
  },
  description: 'MNIST digits, 28x28 grey, 10 classes (IDX files, gzipped or not)',
});
registerDataset('cifar10', {
  load: (s) => {
    const root = need(s, 'cifar10', 'cifar-10-batches-bin');
    return { train: loadCifar10({ root, train: true }), test: loadCifar10({ root, train: false }) };
  },
  description: 'CIFAR-10, 32x32 colour, 10 classes (binary version)',
});
registerDataset('cifar100', {
  load: (s) => {
    const root = need(s, 'cifar100', 'cifar-100-binary');
    return { train: loadCifar100({ root, train: true }), test: loadCifar100({ root, train: false }) };
  },
  description: 'CIFAR-100, 32x32 colour, 100 classes (binary version)',
});
registerDataset('imagefolder', {
  load: loadImageFolders,
  description: 'JPEG/PNG images in root/train/<class>/ and root/val/<class>/, resized and center-cropped to dataset.size',
});
registerDataset('synthetic', {
  load: (s) => ({
    train: syntheticDataset({ length: s.trainSubset ?? 2048, seed: 1 }),
    test: syntheticDataset({ length: s.testSubset ?? 512, seed: 2 }),
  }),
  description: 'generated, learnable 28x28 patterns (tests and smoke runs)',
});
