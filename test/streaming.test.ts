// Streaming data: image folders and WebDataset shards decoded by sharp in the loader, against
// torchvision's transforms (scripts/make_transforms_fixture.py), and bad input: corrupt images
// skipped and counted, empty class folders, shards that are not tar archives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import * as torch from '../src/index.js';
import { data, engine } from '../src/index.js';
import { adjustHue } from '../src/data/autoaugment.js';
import {
  decodeImage,
  decodeResizedCrop,
  indexTarShards,
  randomResizedCropBox,
  scanImageFolder,
  toPlanar,
} from '../src/data/encoded.js';
import { createSplit } from '../src/data/registry.js';
import { fixtureDir, readFixture } from './helpers.js';

const fixture = readFixture<{
  resizeCenterCrop: { resize: number; size: number; chw: string };
  resizedCrop: { box: { top: number; left: number; height: number; width: number }; size: number; chw: string };
  hue: { image: string; shape: [number, number, number]; out: Record<string, string> };
}>('transforms.json');
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const jpeg = readFileSync(path.join(fixtureDir, 'imagenet_sample.jpg'));

function compare(got: Uint8Array, want: Uint8Array): { mean: number; max: number } {
  assert.equal(got.length, want.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / got.length, max };
}

test("JPEGs: Resize + CenterCrop and resized_crop equal torchvision's on PIL exactly (libjpeg-turbo, Pillow's resampling)", async () => {
  const rc = fixture.resizeCenterCrop;
  const spec = { size: rc.size, resize: rc.resize, interpolation: 'bilinear' as const, randomResizedCrop: null };
  const a = toPlanar(await decodeImage(jpeg, spec, Math.random));
  assert.deepEqual(compare(a, bytes(rc.chw)), { mean: 0, max: 0 });
  const { box, size } = fixture.resizedCrop;
  const b = toPlanar(await decodeResizedCrop(jpeg, box, size));
  assert.deepEqual(compare(b, bytes(fixture.resizedCrop.chw)), { mean: 0, max: 0 });
});

test('other formats (here the same photo as PNG) go through sharp: within a grey level of PIL on average', async () => {
  const png = await sharp(jpeg).png().toBuffer();
  const rc = fixture.resizeCenterCrop;
  const spec = { size: rc.size, resize: rc.resize, interpolation: 'bilinear' as const, randomResizedCrop: null };
  const ea = compare(toPlanar(await decodeImage(png, spec, Math.random)), bytes(rc.chw));
  const { box, size } = fixture.resizedCrop;
  const eb = compare(toPlanar(await decodeResizedCrop(png, box, size)), bytes(fixture.resizedCrop.chw));
  console.log(
    `sharp: resize+center crop: mean |diff| ${ea.mean.toFixed(2)}, max ${ea.max}; resized crop: ${eb.mean.toFixed(2)}, ${eb.max}`,
  );
  // Two resamplers (libvips' reduce and Pillow's) agree to under a grey level on average; a box
  // one pixel off differs by 7 on this image, a wrong scale or orientation by tens.
  for (const e of [ea, eb]) assert.ok(e.mean < 1 && e.max <= 8, JSON.stringify(e));
});

test("adjust_hue follows torchvision's tensor path exactly", () => {
  const [c, h, w] = fixture.hue.shape;
  const image = { data: bytes(fixture.hue.image), channels: c, height: h, width: w };
  for (const [factor, want] of Object.entries(fixture.hue.out)) {
    const got = adjustHue(image, Number(factor)).data;
    const e = compare(got, bytes(want));
    assert.equal(e.max, 0, `hue ${factor}: ${JSON.stringify(e)}`);
  }
});

test("RandomResizedCrop's boxes: torchvision's area and ratio ranges, inside the image; the central fallback", () => {
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  for (let i = 0; i < 2000; i++) {
    const b = randomResizedCropBox(500, 375, [0.08, 1], [3 / 4, 4 / 3], rand);
    assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= 500 && b.top + b.height <= 375, JSON.stringify(b));
    const area = (b.width * b.height) / (500 * 375);
    assert.ok(area > 0.07 && area <= 1.01, `area ${area}`);
  }
  // No try fits (a scale above what the ratio allows in a thin image): the central crop at the nearest ratio.
  assert.deepEqual(
    randomResizedCropBox(400, 40, [0.99, 1], [1, 1], () => 0.5),
    { left: 180, top: 0, width: 40, height: 40 },
  );
});

/** A folder of generated JPEGs: root/{train,val}/<class>/<i>.jpg, class c tinted by c. */
async function makeFolder(root: string, classes: string[], perClass: Record<'train' | 'val', number>): Promise<void> {
  for (const split of ['train', 'val'] as const)
    for (const [ci, cls] of classes.entries()) {
      const dir = path.join(root, split, cls);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass[split]; i++) {
        const [w, h] = [96 + 8 * i, 72 + 4 * ci];
        const raw = Buffer.alloc(w * h * 3);
        for (let p = 0; p < w * h; p++) raw.set([(40 + 90 * ci + p) % 256, (p * 7 + i * 13) % 256, 200 - 60 * ci], p * 3);
        await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
          .jpeg({ quality: 85 })
          .toFile(path.join(dir, `${i}.jpg`));
      }
    }
}

/** A tar archive of these members (tar-stream), as WebDataset's writers make them. */
async function packTar(members: [string, Buffer | string][]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [name, content] of members) pack.entry({ name }, content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** One shard of a split folder: key <class>_<i> with its .jpg and .cls (the class index). */
async function shardFrom(splitDir: string, file: string, classes: string[]): Promise<void> {
  const members: [string, Buffer | string][] = [];
  for (const [ci, cls] of classes.entries())
    for (const f of readdirSync(path.join(splitDir, cls)).sort()) {
      const key = `${cls}_${path.basename(f, '.jpg')}`;
      members.push([`${key}.jpg`, readFileSync(path.join(splitDir, cls, f))], [`${key}.cls`, String(ci)]);
    }
  writeFileSync(file, await packTar(members));
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'distill-stream-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('a streaming image folder and the same images as WebDataset shards give the same batches, through workers or not', async () => {
  const root = path.join(tmp, 'folder');
  const classes = ['ant', 'bee', 'cat'];
  await makeFolder(root, classes, { train: 4, val: 2 });
  const wds = path.join(tmp, 'wds');
  mkdirSync(path.join(wds, 'train'), { recursive: true });
  mkdirSync(path.join(wds, 'val'), { recursive: true });
  await shardFrom(path.join(root, 'train'), path.join(wds, 'train', 'shard-000.tar'), classes);
  await shardFrom(path.join(root, 'val'), path.join(wds, 'val', 'shard-000.tar'), classes);

  const folder = createSplit('imagefolder', { root, size: 32, stream: true }, 'train');
  const shards = createSplit('webdataset', { root: wds, size: 32 }, 'train');
  assert.equal(folder.length, 12);
  assert.deepEqual([shards.length, shards.numClasses], [12, 3]);
  assert.deepEqual(Array.from(shards.labels), Array.from(folder.labels));
  const augment = {
    randomResizedCrop: {},
    hflip: true,
    colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
  };
  const batches = async (ds: data.ImageDataset, numWorkers: number) => {
    const loader = new data.DataLoader(ds, { batchSize: 5, shuffle: true, seed: 3, augment, numWorkers });
    const out: Float32Array[] = [];
    for await (const b of loader.epoch(1)) {
      assert.deepEqual(b.images.shape.slice(1), [3, 32, 32]);
      out.push(b.images.toArray() as Float32Array);
      b.dispose();
    }
    await loader.close();
    return out;
  };
  const a = await batches(folder, 0);
  const b = await batches(shards, 2);
  assert.equal(a.length, 3);
  assert.deepEqual(b, a, 'the same pixels from a folder on the main thread and from shards in two workers');
  const again = await batches(folder, 2);
  assert.deepEqual(again, a, 'the same seed, the same augmentations');
  // The one-pass path (crop and flip only) equals the general one (a policy that does nothing).
  const plain = async (extra: object) => {
    const loader = new data.DataLoader(folder, {
      batchSize: 12,
      seed: 5,
      augment: { randomResizedCrop: {}, hflip: true, ...extra },
    });
    const b = (await loader.epoch(0).next()).value as data.Batch;
    const v = b.images.toArray() as Float32Array;
    b.dispose();
    await loader.close();
    return v;
  };
  assert.deepEqual(await plain({ randAugment: { numOps: 0 } }), await plain({}));
  assert.throws(() => [...new data.DataLoader(folder, { batchSize: 4 }).epochSync(0)], /streaming dataset.*epoch\(\)/);
  assert.throws(
    () => new data.DataLoader(data.syntheticDataset({ length: 8 }), { batchSize: 4, augment: { randomResizedCrop: {} } }),
    /randomResizedCrop is taken while decoding/,
  );
  const val = createSplit('imagefolder', { root, size: 32, stream: true }, 'test');
  assert.equal(val.length, 6);
  // Evaluation decodes Resize + CenterCrop in workers: a classifier by mean colour (red rises with the class) is right on all.
  const acc = await engine.evaluate(
    (x) =>
      x
        .select(1, 0)
        .mean([1, 2])
        .unsqueeze(1)
        .mul(torch.tensor([[-1, 0, 1]])),
    val,
    {
      numWorkers: 2,
    },
  );
  assert.ok(Number.isFinite(acc.top1) && acc.top5 === 100, JSON.stringify(acc));
});

test('corrupt and truncated images are skipped, counted and reported; above maxCorruptFraction the epoch stops naming them', async () => {
  const root = path.join(tmp, 'corrupt');
  await makeFolder(root, ['a', 'b'], { train: 5, val: 1 });
  const good = readFileSync(path.join(root, 'train', 'a', '0.jpg'));
  writeFileSync(path.join(root, 'train', 'a', '1.jpg'), good.subarray(0, Math.floor(good.length / 2)));
  writeFileSync(path.join(root, 'train', 'b', '2.jpg'), Buffer.from('this is not an image'));
  const ds = createSplit('imagefolder', { root, size: 24, stream: true, maxCorruptFraction: 0.25 }, 'train');
  const loader = new data.DataLoader(ds, { batchSize: 4, numWorkers: 1 });
  let seen = 0;
  for await (const b of loader.epoch(0)) {
    seen += b.indices.length;
    assert.equal(b.images.shape[0], b.indices.length);
    b.dispose();
  }
  assert.equal(seen, 8);
  const report = loader.corrupt;
  assert.equal(report.count, 2);
  assert.match(report.examples.join('\n'), /a\/1\.jpg: .*(premature end|truncated)/i);
  assert.match(report.examples.join('\n'), /b\/2\.jpg: .*unsupported image format/);
  await loader.close();

  const strict = createSplit('imagefolder', { root, size: 24, stream: true, maxCorruptFraction: 0.1 }, 'train');
  const failing = new data.DataLoader(strict, { batchSize: 10 });
  await assert.rejects(async () => {
    for await (const b of failing.epoch(0)) b.dispose();
  }, /2 images of imagefolder:corrupt failed to decode in epoch 1, more than dataset\.maxCorruptFraction \(0\.1\).*raise dataset\.maxCorruptFraction/);
});

test('bad folders and shards: an empty class folder, a file that is not a tar, a truncated shard, a sample without a label', async () => {
  const root = path.join(tmp, 'bad');
  await makeFolder(root, ['x', 'y'], { train: 2, val: 1 });
  mkdirSync(path.join(root, 'train', 'z-empty'));
  assert.throws(
    () => scanImageFolder(path.join(root, 'train')),
    /class folder z-empty has no \.jpg, \.jpeg, \.png or \.webp images; add images or remove the folder/,
  );
  const notTar = path.join(tmp, 'not.tar');
  writeFileSync(notTar, Buffer.alloc(2048, 7));
  assert.throws(() => indexTarShards([notTar]), /not\.tar is not a tar archive/);
  const shard = path.join(tmp, 'ok.tar');
  await shardFrom(path.join(root, 'val'), shard, ['x', 'y']);
  const whole = readFileSync(shard);
  const cut = path.join(tmp, 'cut.tar');
  writeFileSync(cut, whole.subarray(0, 700));
  assert.throws(() => indexTarShards([cut]), /cut\.tar is truncated: a member at byte 0 needs \d+ bytes/);
  const unlabelled = path.join(tmp, 'unlabelled.tar');
  writeFileSync(unlabelled, await packTar([['k1.jpg', readFileSync(path.join(root, 'val', 'x', '0.jpg'))]]));
  assert.throws(() => indexTarShards([unlabelled]), /sample k1 has an image but no \.cls label/);
  assert.throws(() => indexTarShards([path.join(tmp, 'missing.tar')]), /missing\.tar not found/);
});

test('fuzz: 400 mutated shards and 200 mutated JPEGs give an index or a clear error, never a crash', async () => {
  const root = path.join(tmp, 'fuzz');
  await makeFolder(root, ['p', 'q'], { train: 2, val: 1 });
  const shard = path.join(tmp, 'fuzz-ok.tar');
  await shardFrom(path.join(root, 'train'), shard, ['p', 'q']);
  const good = readFileSync(shard);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const mutate = (b: Buffer) => {
    const out = Buffer.from(b);
    const kind = Math.floor(rand() * 3);
    if (kind === 0) for (let k = 0; k < 1 + rand() * 8; k++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    if (kind === 1) return out.subarray(0, Math.floor(rand() * out.length));
    if (kind === 2) out.fill(Math.floor(rand() * 256), Math.floor(rand() * 1024), Math.floor(rand() * 1024) + 16);
    return out;
  };
  const file = path.join(tmp, 'fuzz.tar');
  let indexed = 0;
  for (let i = 0; i < 400; i++) {
    writeFileSync(file, mutate(good));
    try {
      const r = indexTarShards([file]);
      indexed++;
      assert.equal(r.names.length, r.labels.length);
      for (let s = 0; s < r.names.length; s++) assert.ok(r.offset[s]! + r.size[s]! <= readFileSync(file).length);
    } catch (err) {
      assert.ok(err instanceof Error);
      assert.match(err.message, /fuzz\.tar/, err.message);
    }
  }
  const jpegBytes = readFileSync(path.join(root, 'train', 'p', '0.jpg'));
  let decoded = 0;
  for (let i = 0; i < 200; i++) {
    try {
      const px = await decodeImage(
        mutate(jpegBytes),
        { size: 16, resize: 18, interpolation: 'bilinear', randomResizedCrop: null },
        rand,
      );
      assert.equal(px.length, 3 * 16 * 16);
      decoded++;
    } catch (err) {
      assert.ok(err instanceof Error && err.message.length > 0);
    }
  }
  console.log(`fuzz: ${indexed}/400 mutated shards still indexed, ${decoded}/200 mutated JPEGs still decoded`);
});

test('memory stays flat over epochs of a streaming loader (no decoded image outlives its batch)', async () => {
  const root = path.join(tmp, 'flat');
  await makeFolder(root, ['m', 'n'], { train: 8, val: 1 });
  const ds = createSplit('imagefolder', { root, size: 64, stream: true }, 'train');
  const loader = new data.DataLoader(ds, { batchSize: 4, numWorkers: 0, augment: { randomResizedCrop: {}, hflip: true } });
  const rss: number[] = [];
  for (let epoch = 0; epoch < 12; epoch++) {
    for await (const b of loader.epoch(epoch)) b.dispose();
    const gc = (globalThis as { gc?: () => void }).gc;
    if (typeof gc === 'function') gc();
    rss.push(process.memoryUsage().rss / 2 ** 20);
  }
  await loader.close();
  const growth = rss.at(-1)! - rss[3]!;
  assert.ok(growth < 25, `RSS grew ${growth.toFixed(1)} MiB from epoch 4 to 12: ${rss.map((v) => v.toFixed(0)).join(' ')}`);
});
