// Datasets read as encoded images (JPEG, PNG, WebP) and decoded while training, by the loader's
// workers with sharp (libvips): image folders in ImageNet's layout and WebDataset tar shards.
// Only an index (paths, or shard offsets, and labels) is held in memory; pixels exist for the
// batches in flight, so memory stays flat whatever the data set's size.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, fstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Sharp from 'sharp';
import { findBuilt } from '../util/built.js';
import { lazyRequire } from '../util/lazy.js';
import { roundHalfEven } from './autoaugment.js';

/** sharp (libvips: ~30 MB resident), loaded where images are decoded; a CIFAR run never needs it. */
const sharp = lazyRequire<typeof Sharp>('sharp');

/**
 * libvips for a loader: no operation cache (memory stays flat across millions of images) and one
 * thread per image; samples decode in parallel on libuv's pool instead.
 */
export function configureSharp(): void {
  sharp().cache(false);
  sharp().concurrency(1);
}

/**
 * libuv's thread pool (where sharp decodes) sized to the cores unless UV_THREADPOOL_SIZE says
 * otherwise: its default of 4 oversubscribes a 2-core machine (−14% img/s measured). Effective
 * only before the pool's first use, so the CLI calls it first thing.
 */
export function sizeThreadPool(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, availableParallelism()));
}

/** Where each sample's encoded bytes are: one file per sample, or a member of a tar shard. */
export type EncodedSource =
  | { kind: 'files'; files: string[] }
  | { kind: 'tar'; shards: string[]; shard: Int32Array; offset: Float64Array; size: Float64Array; names: string[] };

export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos';

/** The geometry taken while decoding: RandomResizedCrop (training) or Resize + CenterCrop. */
export interface DecodeSpec {
  /** Output side (height = width). */
  size: number;
  /** Resize's shorter side before the center crop (torchvision's recipe: size × 256 / 224). */
  resize: number;
  interpolation: Interpolation;
  randomResizedCrop: { scale: [number, number]; ratio: [number, number] } | null;
}

/** Pillow's MAX_IMAGE_PIXELS: larger images are refused before their pixels are decoded. */
export const MAX_IMAGE_PIXELS = 89_478_485;

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp)$/i;

/** A class folder layout: root/<class>/<image>, classes sorted as torchvision's ImageFolder. */
export function scanImageFolder(root: string): { classes: string[]; files: string[]; labels: Int32Array } {
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch {
    throw new Error(`image folder ${root} not found or not readable`);
  }
  const classes = entries.filter((e) => statSync(path.join(root, e)).isDirectory());
  if (!classes.length) throw new Error(`image folder ${root} has no class subfolders (expected root/<class>/<image>.jpg)`);
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  classes.forEach((c, label) => {
    const images = readdirSync(path.join(root, c))
      .filter((f) => IMAGE_EXTENSIONS.test(f))
      .sort();
    if (!images.length) empty.push(c);
    for (const f of images) {
      files.push(path.join(root, c, f));
      labels.push(label);
    }
  });
  if (empty.length)
    throw new Error(
      `image folder ${root}: class folder${empty.length > 1 ? 's' : ''} ${empty.slice(0, 5).join(', ')}${empty.length > 5 ? ', ...' : ''} ${empty.length > 1 ? 'have' : 'has'} no .jpg, .jpeg, .png or .webp images; add images or remove the folder (every folder is a class)`,
    );
  return { classes, files, labels: Int32Array.from(labels) };
}

/** Reads a tar header field as a string up to its first NUL. */
const field = (b: Buffer, start: number, length: number) => {
  const raw = b.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
};

/** A size field: octal text, or GNU's base-256 (high bit set) for sizes over 8 GiB. */
function sizeField(b: Buffer, start: number): number {
  if (b[start]! & 0x80) {
    let v = 0;
    for (let i = start + 1; i < start + 12; i++) v = v * 256 + b[i]!;
    return v;
  }
  const text = field(b, start, 12).trim();
  return text ? parseInt(text, 8) : 0;
}

function checksumOk(b: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  return sum === parseInt(field(b, 148, 8).trim(), 8);
}

/**
 * Indexes tar shards by their headers only (no member's data is read, except labels and long
 * names): WebDataset's grouping, files sharing a key (the path up to the first dot of the
 * basename) form one sample; the image is its .jpg/.jpeg/.png/.webp member, the label its .cls.
 */
export function indexTarShards(shards: string[]): EncodedSource & { kind: 'tar'; labels: Int32Array } {
  const shardOf: number[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  const names: string[] = [];
  const labels: number[] = [];
  const header = Buffer.alloc(512);
  shards.forEach((file, s) => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      throw new Error(`WebDataset shard ${file} not found or not readable`);
    }
    try {
      const length = fstatSync(fd).size;
      const samples = new Map<string, { image?: [number, number, string]; label?: number }>();
      const order: string[] = [];
      let pos = 0;
      let longName: string | null = null;
      while (pos + 512 <= length) {
        readSync(fd, header, 0, 512, pos);
        if (header.every((v) => v === 0)) break; // the end-of-archive blocks
        if (!checksumOk(header))
          throw new Error(
            pos === 0
              ? `WebDataset shard ${file} is not a tar archive (its first block is not a tar header); shards are .tar files (tar cf shard.tar key.jpg key.cls ...)`
              : `WebDataset shard ${file} is corrupt: the tar header at byte ${pos} fails its checksum`,
          );
        const size = sizeField(header, 124);
        const type = String.fromCharCode(header[156]!);
        const dataAt = pos + 512;
        if (dataAt + size > length)
          throw new Error(
            `WebDataset shard ${file} is truncated: a member at byte ${pos} needs ${size} bytes, the file ends first`,
          );
        const readData = () => {
          const b = Buffer.alloc(size);
          readSync(fd, b, 0, size, dataAt);
          return b;
        };
        if (type === 'L') longName = readData().toString('utf8').replace(/\0+$/, '');
        else if (type === 'x') {
          const m = /\d+ path=([^\n]*)\n/.exec(readData().toString('utf8'));
          if (m) longName = m[1]!;
        } else if (type === '0' || type === '\0') {
          const prefix = field(header, 345, 155);
          const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
          longName = null;
          const base = name.slice(name.lastIndexOf('/') + 1);
          const dot = base.indexOf('.');
          if (dot > 0) {
            const key = name.slice(0, name.length - base.length + dot);
            const ext = base.slice(dot + 1).toLowerCase();
            let sample = samples.get(key);
            if (!sample) {
              sample = {};
              samples.set(key, sample);
              order.push(key);
            }
            if (/^(jpe?g|png|webp)$/.test(ext) && !sample.image) sample.image = [dataAt, size, name];
            else if (ext === 'cls') {
              const text = readData().toString('utf8').trim();
              const label = Number(text);
              if (!/^\d+$/.test(text) || !Number.isSafeInteger(label))
                throw new Error(`WebDataset shard ${file}: ${name} holds '${text.slice(0, 20)}', not a class index`);
              sample.label = label;
            }
          }
        } else longName = null;
        pos = dataAt + Math.ceil(size / 512) * 512;
      }
      for (const key of order) {
        const sample = samples.get(key)!;
        if (!sample.image) continue; // metadata-only keys (e.g. __key__.json) carry no image
        if (sample.label === undefined) throw new Error(`WebDataset shard ${file}: sample ${key} has an image but no .cls label`);
        shardOf.push(s);
        offsets.push(sample.image[0]);
        sizes.push(sample.image[1]);
        names.push(`${file}:${sample.image[2]}`);
        labels.push(sample.label);
      }
    } finally {
      closeSync(fd);
    }
  });
  if (!names.length) throw new Error(`WebDataset shards ${shards.join(', ')} hold no samples with an image and a .cls label`);
  return {
    kind: 'tar',
    shards,
    shard: Int32Array.from(shardOf),
    offset: Float64Array.from(offsets),
    size: Float64Array.from(sizes),
    names,
    labels: Int32Array.from(labels),
  };
}

/** The shards of a split: every .tar in `dir`, sorted. */
export function shardsIn(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    throw new Error(`WebDataset folder ${dir} not found or not readable`);
  }
  const shards = entries
    .filter((f) => f.endsWith('.tar'))
    .sort()
    .map((f) => path.join(dir, f));
  if (!shards.length) throw new Error(`WebDataset folder ${dir} has no .tar shards`);
  return shards;
}

/** The name of sample i, for reports. */
export function sampleName(source: EncodedSource, i: number): string {
  return source.kind === 'files' ? source.files[i]! : source.names[i]!;
}

/** Keeps the samples at `indices` (a subset that holds no pixels). */
export function subsetSource(source: EncodedSource, indices: ArrayLike<number>): EncodedSource {
  const pick = <T>(xs: ArrayLike<T>) => Array.from(indices, (i) => xs[i]!);
  if (source.kind === 'files') return { kind: 'files', files: pick(source.files) };
  return {
    kind: 'tar',
    shards: source.shards,
    shard: Int32Array.from(pick(source.shard)),
    offset: Float64Array.from(pick(source.offset)),
    size: Float64Array.from(pick(source.size)),
    names: pick(source.names),
  };
}

/** Reads encoded bytes; tar shards stay open (one handle per shard and reader). */
export class EncodedReader {
  private readonly fds = new Map<number, number>();
  constructor(readonly source: EncodedSource) {}

  /**
   * Synchronous, files and shard members alike: a loader worker's thread is free to block, and
   * libuv's pool stays for decoding (an async readFile is four pool tasks per file).
   */
  async read(i: number): Promise<Buffer> {
    const s = this.source;
    if (s.kind === 'files') return readFileSync(s.files[i]!);
    const shard = s.shard[i]!;
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      fd = openSync(s.shards[shard]!, 'r');
      this.fds.set(shard, fd);
    }
    const size = s.size[i]!;
    const buf = Buffer.alloc(size);
    const bytesRead = readSync(fd, buf, 0, size, s.offset[i]!);
    if (bytesRead !== size) throw new Error(`the shard ended after ${bytesRead} of ${size} bytes`);
    return buf;
  }

  async close(): Promise<void> {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/**
 * libjpeg-turbo and Pillow's resampling (native/image.cc, no libtorch: it loads in workers), for
 * JPEGs with bilinear interpolation, torchvision's default: the pixels PIL gives, 3-4x faster than
 * libvips' decoder here. Other formats and interpolations, and CMYK JPEGs, go through sharp.
 */
interface ImageAddon {
  decodeJpeg(bytes: Buffer, maxPixels: number): { width: number; height: number; data: Buffer };
  resizeRgb(
    data: Buffer,
    width: number,
    height: number,
    left: number,
    top: number,
    cropWidth: number,
    cropHeight: number,
    outWidth: number,
    outHeight: number,
  ): Buffer;
  normalizeRgb(
    data: Uint8Array,
    size: number,
    scale: number[],
    shift: number[],
    flip: boolean,
    out: Float32Array,
    offset: number,
  ): void;
}
const imageAddon: ImageAddon | null = (() => {
  const file = findBuilt('distill_image.node');
  return file ? (createRequire(import.meta.url)(file) as ImageAddon) : null;
})();

const isJpeg = (b: Buffer) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decode and geometry through the native path; null when it does not apply (then sharp decodes). */
function decodeNative(bytes: Buffer, spec: DecodeSpec, rand: () => number): Buffer | null {
  if (!imageAddon || spec.interpolation !== 'bilinear' || !isJpeg(bytes)) return null;
  let img: { width: number; height: number; data: Buffer };
  try {
    img = imageAddon.decodeJpeg(bytes, MAX_IMAGE_PIXELS);
  } catch (err) {
    if ((err as Error).message === 'CMYK JPEG') return null;
    throw err;
  }
  const { width, height, data } = img;
  const { size } = spec;
  if (spec.randomResizedCrop) {
    const b = randomResizedCropBox(width, height, spec.randomResizedCrop.scale, spec.randomResizedCrop.ratio, rand);
    return imageAddon.resizeRgb(data, width, height, b.left, b.top, b.width, b.height, size, size);
  }
  const [w, h] = resizeShape(width, height, spec.resize, size);
  const resized = imageAddon.resizeRgb(data, width, height, 0, 0, width, height, w, h);
  const left = roundHalfEven((w - size) / 2);
  const top = roundHalfEven((h - size) / 2);
  const out = Buffer.allocUnsafe(size * size * 3);
  for (let y = 0; y < size; y++) resized.copy(out, y * size * 3, ((top + y) * w + left) * 3, ((top + y) * w + left + size) * 3);
  return out;
}

/** Resize(resize)'s output: the shorter side to `resize`, the longer int(resize × long / short). */
function resizeShape(width: number, height: number, resize: number, size: number): [number, number] {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.floor((resize * long) / short);
  const [w, h] = width <= height ? [resize, newLong] : [newLong, resize];
  if (w < size || h < size) throw new Error(`resize ${resize} is smaller than the crop ${size}`);
  return [w, h];
}

const KERNELS = { nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic', lanczos: 'lanczos3' } as const;

/** torchvision's RandomResizedCrop.get_params: ten tries at a random area and log-uniform ratio, else the central crop. */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
  rand: () => number,
): { left: number; top: number; width: number; height: number } {
  const area = width * height;
  const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + rand() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLo + rand() * (logHi - logLo));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(rand() * (height - h + 1));
      const left = Math.floor(rand() * (width - w + 1));
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Decodes one image into uint8 [size, size, 3] (interleaved RGB), taking the geometry while decoding:
 * RandomResizedCrop, or Resize (shorter side) + CenterCrop as torchvision computes them. EXIF
 * orientation is ignored and alpha dropped, as PIL's convert('RGB').
 */
export async function decodeImage(bytes: Buffer, spec: DecodeSpec, rand: () => number): Promise<Buffer> {
  const native = decodeNative(bytes, spec, rand);
  if (native) return native;
  const image = openImage(bytes);
  const meta = await image.metadata();
  const width = meta.width;
  const height = meta.height;
  if (!width || !height) throw new Error('no image size in the header');
  const kernel = KERNELS[spec.interpolation];
  const { size } = spec;
  if (spec.randomResizedCrop) {
    const box = randomResizedCropBox(width, height, spec.randomResizedCrop.scale, spec.randomResizedCrop.ratio, rand);
    return rgb(image.extract(box).resize(size, size, { fit: 'fill', kernel, fastShrinkOnLoad: false }), size);
  }
  // Resize(resize), then CenterCrop(size).
  const [w, h] = resizeShape(width, height, spec.resize, size);
  // CenterCrop: int(round((h - size) / 2.0)), Python's round (half to even).
  const crop = { left: roundHalfEven((w - size) / 2), top: roundHalfEven((h - size) / 2), width: size, height: size };
  return rgb(image.resize(w, h, { fit: 'fill', kernel, fastShrinkOnLoad: false }).extract(crop), size);
}

/** torchvision's resized_crop(img, top, left, height, width, size): the box, resized to size x size. */
export async function decodeResizedCrop(
  bytes: Buffer,
  box: { left: number; top: number; width: number; height: number },
  size: number,
  interpolation: Interpolation = 'bilinear',
): Promise<Buffer> {
  if (imageAddon && interpolation === 'bilinear' && isJpeg(bytes)) {
    const img = imageAddon.decodeJpeg(bytes, MAX_IMAGE_PIXELS);
    return imageAddon.resizeRgb(img.data, img.width, img.height, box.left, box.top, box.width, box.height, size, size);
  }
  const kernel = KERNELS[interpolation];
  return rgb(openImage(bytes).extract(box).resize(size, size, { fit: 'fill', kernel, fastShrinkOnLoad: false }), size);
}

const openImage = (bytes: Buffer) => sharp()(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'truncated' });

/** Runs the pipeline to sRGB without alpha: interleaved [size, size, 3]. */
async function rgb(pipeline: ReturnType<typeof Sharp>, size: number): Promise<Buffer> {
  const { data, info } = await pipeline.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size)
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  return data;
}

/** Interleaved RGB [H, W, 3] to planar [3, H, W]. */
export function toPlanar(data: Uint8Array): Uint8Array {
  const plane = data.length / 3;
  const out = new Uint8Array(data.length);
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    out[p] = data[i]!;
    out[plane + p] = data[i + 1]!;
    out[2 * plane + p] = data[i + 2]!;
  }
  return out;
}

/**
 * Interleaved RGB [size, size, 3] straight into normalised float32 [3, size, size] with an
 * optional horizontal flip: one pass, for augmentations with nothing else after the crop.
 */
export function normalizeInterleaved(
  data: Uint8Array,
  size: number,
  mean: number[],
  std: number[],
  flip: boolean,
  out: Float32Array,
  offset: number,
): void {
  const plane = size * size;
  const scale = [0, 1, 2].map((c) => 1 / (255 * std[c]!));
  const shift = [0, 1, 2].map((c) => mean[c]! / std[c]!);
  if (imageAddon && Buffer.isBuffer(data)) {
    imageAddon.normalizeRgb(data, size, scale, shift, flip, out, offset);
    return;
  }
  const [s0, s1, s2] = scale as [number, number, number];
  const [h0, h1, h2] = shift as [number, number, number];
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const i = 3 * (row + (flip ? size - 1 - x : x));
      const o = offset + row + x;
      out[o] = data[i]! * s0 - h0;
      out[o + plane] = data[i + 1]! * s1 - h1;
      out[o + 2 * plane] = data[i + 2]! * s2 - h2;
    }
  }
}

/** Why a sample could not be decoded, kept short for reports. */
export function decodeFailure(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  if (/pixel limit/i.test(message)) return `more than ${MAX_IMAGE_PIXELS} pixels (a decompression bomb?)`;
  // libvips loses its message when decoding fails on a pool thread: say what it usually is.
  if (!message.trim() || /^unknown error$/i.test(message.trim())) return 'corrupt or truncated image data';
  return message.split('\n')[0]!.slice(0, 200);
}
