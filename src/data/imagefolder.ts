// An image-folder dataset (one folder per class, JPEG/PNG) for ImageNet-style data: images are
// decoded (jpeg-js, pngjs), resized so the shorter side is `resize`, center-cropped to `size`
// and kept in memory as uint8, like the other datasets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { ImageDataset } from './datasets.js';
import { MAX_IMAGE_PIXELS, scanImageFolder } from './encoded.js';

export { MAX_IMAGE_PIXELS };

/** torchvision's ImageNet normalisation. */
export const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function checkPixels(file: string, width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new Error(
      `image ${file} declares ${width}x${height} pixels, more than ${MAX_IMAGE_PIXELS} (a decompression bomb?); resize it before training`,
    );
  }
}

function decode(file: string): Rgba {
  const bytes = readFileSync(file);
  // A PNG's size is in its first chunk (IHDR); it is checked before anything is inflated.
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50)
    checkPixels(file, bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50) {
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, data: png.data };
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      // jpeg-js checks the frame size against maxResolutionInMP before it allocates.
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
        maxMemoryUsageInMB: 1024,
      });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (err) {
    const message = (err as Error).message;
    if (/maxResolutionInMP/.test(message)) {
      throw new Error(
        `image ${file} declares more than ${MAX_IMAGE_PIXELS} pixels (a decompression bomb?); resize it before training`,
      );
    }
    throw new Error(`image ${file} is corrupt or truncated: ${message}`);
  }
  throw new Error(`image ${file} is neither JPEG nor PNG (other formats, WebP among them: dataset.stream: true decodes them)`);
}

/** Bilinear resize (shorter side to `resize`, half-pixel centres) then center crop to size x size, into CHW. */
export function resizeCenterCrop(img: Rgba, resize: number, size: number, out: Uint8Array, offset: number): void {
  const scale = resize / Math.min(img.width, img.height);
  const w = Math.max(size, Math.round(img.width * scale));
  const h = Math.max(size, Math.round(img.height * scale));
  const left = Math.floor((w - size) / 2);
  const top = Math.floor((h - size) / 2);
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    const sy = Math.min(img.height - 1, Math.max(0, ((y + top + 0.5) * img.height) / h - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(img.height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = Math.min(img.width - 1, Math.max(0, ((x + left + 0.5) * img.width) / w - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(img.width - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 4 + c]!;
        const v = (p(y0, x0) * (1 - fx) + p(y0, x1) * fx) * (1 - fy) + (p(y1, x0) * (1 - fx) + p(y1, x1) * fx) * fy;
        out[offset + c * plane + y * size + x] = Math.round(v);
      }
    }
  }
}

export function loadImageFolder(options: {
  root: string;
  size?: number;
  resize?: number;
}): ImageDataset & { classes: string[]; files: string[] } {
  const { root, size = 224 } = options;
  const resize = options.resize ?? Math.round((size * 256) / 224);
  const { classes, files, labels } = scanImageFolder(root);
  const per = 3 * size * size;
  const images = new Uint8Array(new SharedArrayBuffer(files.length * per));
  files.forEach((f, i) => resizeCenterCrop(decode(f), resize, size, images, i * per));
  return {
    name: `imagefolder:${path.basename(root)}`,
    images,
    labels,
    length: files.length,
    channels: 3,
    height: size,
    width: size,
    numClasses: classes.length,
    ...IMAGENET,
    classes,
    files,
  };
}
