// Datasets by name: one entry each (how to load its training and test sets, what it is), open to
// user code. Configs, the CLI's listings and createDataset read it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadCifar10, loadCifar100, loadFashionMnist, loadMnist, syntheticDataset, type ImageDataset } from './datasets.js';
import { IMAGENET, loadImageFolder } from './imagefolder.js';
import { indexTarShards, scanImageFolder, shardsIn, type EncodedSource, type Interpolation } from './encoded.js';
import { Registry } from '../util/registry.js';

/** What a dataset's loader receives from the config's `dataset:` section. */
export interface DatasetSpec {
  root?: string;
  /** Image side for datasets that resize (image folders). */
  size?: number;
  /** Sizes for generated data (synthetic). */
  trainSubset?: number;
  testSubset?: number;
  /** Image folders: decode in the loader's workers while training instead of once into memory. */
  stream?: boolean;
  /** Streaming datasets: Resize's shorter side before the center crop (default size × 256 / 224). */
  resize?: number;
  interpolation?: Interpolation;
  /** Streaming datasets: the fraction of an epoch's samples that may fail to decode (skipped, reported). */
  maxCorruptFraction?: number;
}

export interface DatasetSplits {
  train: ImageDataset;
  test: ImageDataset;
}

export type Split = 'train' | 'test';

export interface DatasetEntry {
  name: string;
  /** Loads one split, so that evaluation never decodes the training set. */
  load: (spec: DatasetSpec, split: Split) => ImageDataset;
  description: string;
}

const datasets = new Registry<DatasetEntry>('dataset', 'registerDataset');

/** Registers a dataset under `name`; an existing name needs `{ override: true }`. */
export function registerDataset(
  name: string,
  def: { load: (spec: DatasetSpec, split: Split) => ImageDataset; description?: string },
  options: { override?: boolean } = {},
): DatasetEntry {
  if (typeof def?.load !== 'function')
    throw new Error(`registerDataset('${String(name)}'): load(spec, split) => ImageDataset is required`);
  return datasets.add(name, (key) => ({ name: key, load: def.load, description: def.description ?? '' }), options);
}

export const datasetNames = (): string[] => datasets.names();
export const datasetEntries = (): DatasetEntry[] => datasets.values();

/** One split of a registered dataset, checked to be a well-formed ImageDataset. */
export function createSplit(name: string, spec: DatasetSpec, split: Split): ImageDataset {
  const ds = datasets.get(name).load(spec, split);
  checkImageDataset(ds, `dataset '${name}' (${split})`);
  return ds;
}

/** Both splits of a registered dataset, checked, and agreeing in channels and classes. */
export function createDataset(name: string, spec: DatasetSpec = {}): DatasetSplits {
  const splits = { train: createSplit(name, spec, 'train'), test: createSplit(name, spec, 'test') };
  checkSplitsAgree(name, splits);
  return splits;
}

/** Throws unless the two splits have the same channels and classes. */
export function checkSplitsAgree(name: string, { train, test }: DatasetSplits): void {
  if (train.channels !== test.channels || train.numClasses !== test.numClasses)
    throw new Error(`dataset '${name}': the train and test splits differ in channels or classes`);
}

/** Throws unless `ds` is an ImageDataset whose arrays agree with its sizes. */
export function checkImageDataset(ds: unknown, what: string): asserts ds is ImageDataset {
  const d = ds as ImageDataset;
  if (!d || typeof d !== 'object') throw new Error(`${what}: the loader returned no dataset`);
  const positive = (k: keyof ImageDataset) => Number.isInteger(d[k]) && (d[k] as number) > 0;
  for (const k of ['length', 'channels', 'height', 'width', 'numClasses'] as const)
    if (!positive(k)) throw new Error(`${what}: '${k}' must be a positive integer, got ${String(d[k])}`);
  if (d.encoded) {
    const src = d.encoded.source;
    const n = src?.kind === 'files' ? src.files?.length : src?.kind === 'tar' ? src.names?.length : undefined;
    if (n !== d.length) throw new Error(`${what}: a streaming dataset's source must list one entry per sample`);
  } else if (!(d.images instanceof Uint8Array) || d.images.length !== d.length * d.channels * d.height * d.width)
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

const subfolders = (dir: string) =>
  readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

/** root/train, or root/val (else root/test), classes as sub-folders; the test split must have the training classes. */
function loadImageFolderSplit(spec: DatasetSpec, split: Split): ImageDataset {
  const root = need(spec, 'imagefolder', 'image folder (with train/ and val/ inside)');
  const trainDir = path.join(root, 'train');
  const testDir = ['val', 'test'].map((d) => path.join(root, d)).find((d) => existsSync(d));
  if (!existsSync(trainDir) || !testDir)
    throw new Error(`dataset imagefolder: ${root} must hold train/ and val/ (or test/), one sub-folder per class in each`);
  if (spec.stream) {
    const dir = split === 'train' ? trainDir : testDir;
    const { classes, files, labels } = scanImageFolder(dir);
    if (split === 'test' && classes.join('\n') !== subfolders(trainDir).join('\n'))
      throw new Error(`dataset imagefolder: train/ and ${path.basename(testDir)}/ must have the same class folders`);
    return streamingDataset(
      `imagefolder:${path.basename(root)}`,
      { kind: 'files', files },
      labels,
      classes.length,
      spec,
      classes,
    );
  }
  const ds = loadImageFolder({ root: split === 'train' ? trainDir : testDir, size: spec.size ?? 224 });
  if (split === 'test' && ds.classes.join('\n') !== subfolders(trainDir).join('\n'))
    throw new Error(`dataset imagefolder: train/ and ${path.basename(testDir)}/ must have the same class folders`);
  return ds;
}

/** A dataset decoded by the loader's workers: geometry from the spec, ImageNet's normalisation. */
function streamingDataset(
  name: string,
  source: EncodedSource,
  labels: Int32Array,
  numClasses: number,
  spec: DatasetSpec,
  classes?: string[],
): ImageDataset {
  const size = spec.size ?? 224;
  return {
    name,
    images: new Uint8Array(0),
    labels,
    length: labels.length,
    channels: 3,
    height: size,
    width: size,
    numClasses,
    ...(classes ? { classes } : {}),
    ...IMAGENET,
    encoded: {
      source,
      resize: spec.resize ?? Math.floor((size * 256) / 224),
      interpolation: spec.interpolation ?? 'bilinear',
      maxCorruptFraction: spec.maxCorruptFraction ?? 0.01,
    },
  };
}

/**
 * WebDataset shards: root/train/*.tar and root/val/*.tar (or test/); each sample a key's image
 * (.jpg/.jpeg/.png/.webp) and its .cls class index. The number of classes is the training
 * split's largest index + 1, or dataset.numClasses.
 */
/** Training labels by shard files (path, size, mtime), for the test split's class count. */
const trainLabelsByShards = new Map<string, Int32Array>();

function loadWebDatasetSplit(spec: DatasetSpec, split: Split): ImageDataset {
  const root = need(spec, 'webdataset', 'folder with train/ and val/ holding .tar shards');
  const dirs = split === 'train' ? ['train'] : ['val', 'test'];
  const dir = dirs.map((d) => path.join(root, d)).find((d) => existsSync(d));
  if (!dir) throw new Error(`dataset webdataset: ${root} must hold ${dirs.join(' or ')}/ with .tar shards`);
  const { labels, ...source } = indexTarShards(shardsIn(dir));
  // The test split's classes are the training split's: their index, made once for these files.
  const trainShards = split === 'train' ? shardsIn(dir) : shardsIn(path.join(root, 'train'));
  const key = trainShards.map((f) => `${f}:${statSync(f).size}:${statSync(f).mtimeMs}`).join('\n');
  if (split === 'train') trainLabelsByShards.set(key, labels);
  const trainLabels = trainLabelsByShards.get(key) ?? indexTarShards(trainShards).labels;
  const numClasses = trainLabels.reduce((m, l) => Math.max(m, l), 0) + 1;
  const bad = labels.findIndex((l) => l >= numClasses);
  if (bad >= 0)
    throw new Error(
      `dataset webdataset: ${source.names[bad]} has class ${labels[bad]}, but the training shards have only ${numClasses} classes`,
    );
  return streamingDataset(`webdataset:${path.basename(root)}`, source, labels, numClasses, spec);
}

/** Loads a split from a root folder that the dataset needs. */
const rooted =
  (name: string, what: string, load: (o: { root: string; train: boolean }) => ImageDataset) =>
  (spec: DatasetSpec, split: Split) =>
    load({ root: need(spec, name, what), train: split === 'train' });

registerDataset('fashion-mnist', {
  load: (s, split) => loadFashionMnist({ root: s.root, train: split === 'train' }),
  description: "Fashion-MNIST, 28x28 grey, 10 classes (default root: Debian's dataset-fashion-mnist)",
});
registerDataset('mnist', {
  load: rooted('mnist', 'MNIST IDX', loadMnist),
  description: 'MNIST digits, 28x28 grey, 10 classes (IDX files, gzipped or not)',
});
registerDataset('cifar10', {
  load: rooted('cifar10', 'cifar-10-batches-bin', loadCifar10),
  description: 'CIFAR-10, 32x32 colour, 10 classes (binary version)',
});
registerDataset('cifar100', {
  load: rooted('cifar100', 'cifar-100-binary', loadCifar100),
  description: 'CIFAR-100, 32x32 colour, 100 classes (binary version)',
});
registerDataset('imagefolder', {
  load: loadImageFolderSplit,
  description:
    'JPEG/PNG/WebP images in root/train/<class>/ and root/val/<class>/ at dataset.size; stream: true decodes in the loader workers (ImageNet-sized data)',
});
registerDataset('webdataset', {
  load: loadWebDatasetSplit,
  description: 'WebDataset tar shards in root/train/ and root/val/ (key.jpg + key.cls), decoded in the loader workers',
});
registerDataset('synthetic', {
  load: (s, split) =>
    split === 'train'
      ? syntheticDataset({ length: s.trainSubset ?? 2048, seed: 1 })
      : syntheticDataset({ length: s.testSubset ?? 512, seed: 2 }),
  description: 'generated, learnable 28x28 patterns (tests and smoke runs)',
});
