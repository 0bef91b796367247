// Datasets, transforms and the loader: the real Fashion-MNIST files, synthetic files in the exact
// CIFAR binary and IDX formats, an image folder, bad files, seeded loading with workers and two
// views, and a small model that overfits 256 Fashion-MNIST images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import * as torch from '../src/index.js';
import { data, createZooModel, optim, tidy, F } from '../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'distill-data-'));

test("Fashion-MNIST from Debian's files: sizes, labels, pixel statistics", () => {
  const train = data.loadFashionMnist();
  const testSet = data.loadFashionMnist({ train: false });
  assert.deepEqual(
    [train.length, testSet.length, train.channels, train.height, train.width, train.numClasses],
    [60000, 10000, 1, 28, 28, 10],
  );
  assert.equal(train.labels[0], 9, 'the first training image is an ankle boot');
  const counts = new Array(10).fill(0);
  for (const l of train.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(6000));
  let sum = 0;
  for (let i = 0; i < 784 * 1000; i++) sum += train.images[i]!;
  assert.ok(Math.abs(sum / (784 * 1000) / 255 - train.mean[0]!) < 0.02);
});

function idx(magic: number, dims: number[], payload: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(payload)]);
}

test('IDX files, plain and gzipped, decode exactly; bad magic, truncation and missing files are named', () => {
  const root = path.join(dir, 'mnist');
  mkdirSync(root);
  const pixels = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => i % 251);
  writeFileSync(path.join(root, 'train-images-idx3-ubyte'), idx(0x803, [3, 28, 28], pixels));
  writeFileSync(path.join(root, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x801, [3], Uint8Array.from([4, 0, 9]))));
  const ds = data.loadMnist({ root });
  assert.deepEqual(Array.from(ds.labels), [4, 0, 9]);
  assert.deepEqual(Array.from(ds.images.subarray(0, 5)), [0, 1, 2, 3, 4]);
  assert.equal(ds.images[3 * 784 - 1], pixels[3 * 784 - 1]);

  writeFileSync(path.join(root, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x803, [3], Uint8Array.from([4, 0, 9]))));
  assert.throws(() => data.loadMnist({ root }), /train-labels-idx1-ubyte\.gz has magic number 0x00000803, expected 0x00000801/);
  writeFileSync(path.join(root, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x801, [5], Uint8Array.from([4, 0, 9]))));
  assert.throws(() => data.loadMnist({ root }), /is truncated: header promises 5 bytes of data, file has 3/);
  writeFileSync(
    path.join(root, 'train-labels-idx1-ubyte.gz'),
    gzipSync(idx(0x801, [3], Uint8Array.from([4, 0, 9]))).subarray(0, 15),
  );
  assert.throws(() => data.loadMnist({ root }), /train-labels-idx1-ubyte\.gz is a corrupt or truncated gzip file/);
  assert.throws(() => data.loadMnist({ root, train: false }), /t10k-images-idx3-ubyte \(or \.gz\) not found in .*mnist/);
  assert.throws(() => data.loadFashionMnist({ root: path.join(dir, 'nowhere') }), /apt-get install dataset-fashion-mnist/);
});

function cifarRecords(n: number, labelBytes: 1 | 2, seed: number): { buf: Buffer; labels: number[][]; images: Uint8Array[] } {
  const rand = data.mulberry32(seed);
  const parts: Buffer[] = [];
  const labels: number[][] = [];
  const images: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const lab = labelBytes === 1 ? [Math.floor(rand() * 10)] : [Math.floor(rand() * 20), Math.floor(rand() * 100)];
    const img = Uint8Array.from({ length: 3072 }, () => Math.floor(rand() * 256));
    labels.push(lab);
    images.push(img);
    parts.push(Buffer.from(lab), Buffer.from(img));
  }
  return { buf: Buffer.concat(parts), labels, images };
}

test('CIFAR-10 and CIFAR-100 binary files (fine and coarse labels) decode exactly; bad sizes are named', () => {
  const c10 = path.join(dir, 'cifar-10-batches-bin');
  mkdirSync(c10);
  const batches = [1, 2, 3, 4, 5].map((i) => cifarRecords(4, 1, i));
  batches.forEach((b, i) => writeFileSync(path.join(c10, `data_batch_${i + 1}.bin`), b.buf));
  const testRecs = cifarRecords(3, 1, 9);
  writeFileSync(path.join(c10, 'test_batch.bin'), testRecs.buf);
  const train = data.loadCifar10({ root: c10 });
  assert.equal(train.length, 20);
  assert.deepEqual(
    Array.from(train.labels),
    batches.flatMap((b) => b.labels.map((l) => l[0]!)),
  );
  assert.deepEqual(Array.from(train.images.subarray(7 * 3072, 8 * 3072)), Array.from(batches[1]!.images[3]!));
  assert.equal(data.loadCifar10({ root: c10, train: false }).length, 3);

  const c100 = path.join(dir, 'cifar-100-binary');
  mkdirSync(c100);
  const recs = cifarRecords(5, 2, 3);
  writeFileSync(path.join(c100, 'train.bin'), recs.buf);
  const fine = data.loadCifar100({ root: c100 });
  const coarse = data.loadCifar100({ root: c100, labels: 'coarse' });
  assert.deepEqual(
    Array.from(fine.labels),
    recs.labels.map((l) => l[1]),
  );
  assert.deepEqual(
    Array.from(coarse.labels),
    recs.labels.map((l) => l[0]),
  );
  assert.equal(fine.numClasses, 100);
  assert.equal(coarse.numClasses, 20);
  assert.deepEqual(Array.from(fine.images.subarray(4 * 3072)), Array.from(recs.images[4]!));

  writeFileSync(path.join(c100, 'test.bin'), recs.buf.subarray(0, 5000));
  assert.throws(
    () => data.loadCifar100({ root: c100, train: false }),
    /test\.bin has 5000 bytes, not a whole number of 3074-byte records/,
  );
  assert.throws(() => data.loadCifar10({ root: path.join(dir, 'none') }), /data_batch_1\.bin not found/);
});

test('image folder: JPEG and PNG decoded, resized and center-cropped; classes from folder names', () => {
  const root = path.join(dir, 'images');
  for (const c of ['cat', 'dog']) mkdirSync(path.join(root, c), { recursive: true });
  const png = new PNG({ width: 40, height: 30 });
  for (let i = 0; i < 40 * 30; i++) png.data.set([200, 100, 50, 255], i * 4);
  writeFileSync(path.join(root, 'cat', 'a.png'), PNG.sync.write(png));
  const rgba = Buffer.alloc(20 * 20 * 4);
  for (let i = 0; i < 400; i++) rgba.set([10, 20, 240, 255], i * 4);
  writeFileSync(path.join(root, 'dog', 'b.jpg'), jpeg.encode({ data: rgba, width: 20, height: 20 }, 95).data);
  writeFileSync(path.join(root, 'dog', 'notes.txt'), 'ignored');
  const ds = data.loadImageFolder({ root, size: 16 });
  assert.deepEqual(ds.classes, ['cat', 'dog']);
  assert.deepEqual(Array.from(ds.labels), [0, 1]);
  assert.deepEqual([ds.length, ds.channels, ds.height, ds.width], [2, 3, 16, 16]);
  assert.deepEqual([ds.images[0], ds.images[256], ds.images[512]], [200, 100, 50], 'a solid PNG stays solid');
  assert.ok(Math.abs(ds.images[768 + 512 + 100]! - 240) <= 3, 'JPEG blue channel');
  writeFileSync(path.join(root, 'dog', 'c.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  assert.throws(() => data.loadImageFolder({ root, size: 16 }), /image .*c\.png is corrupt or truncated/);
  // Images that declare 20000x20000 pixels are refused from their headers, before any pixel is allocated.
  const hugePng = Buffer.from(PNG.sync.write(png));
  hugePng.writeUInt32BE(20000, 16);
  hugePng.writeUInt32BE(20000, 20);
  writeFileSync(path.join(root, 'dog', 'c.png'), hugePng);
  const start = performance.now();
  assert.throws(() => data.loadImageFolder({ root, size: 16 }), /c\.png declares 20000x20000 pixels, more than 89478485/);
  rmSync(path.join(root, 'dog', 'c.png'));
  const hugeJpeg = Buffer.from(jpeg.encode({ data: rgba, width: 20, height: 20 }, 95).data);
  const sof = hugeJpeg.indexOf(Buffer.from([0xff, 0xc0]));
  hugeJpeg.writeUInt16BE(20000, sof + 5);
  hugeJpeg.writeUInt16BE(20000, sof + 7);
  writeFileSync(path.join(root, 'dog', 'd.jpg'), hugeJpeg);
  assert.throws(() => data.loadImageFolder({ root, size: 16 }), /d\.jpg declares more than 89478485 pixels/);
  assert.ok(performance.now() - start < 2000, 'refused from the header, not after decoding');
  rmSync(path.join(root, 'dog', 'd.jpg'));
  assert.throws(() => data.loadImageFolder({ root: path.join(dir, 'none') }), /not found/);
});

test('transforms: normalisation, zero padding of the crop, horizontal flip', () => {
  const g = { channels: 1, height: 2, width: 3, mean: [0.5], std: [0.25] };
  const img = Uint8Array.from([0, 51, 102, 153, 204, 255]);
  const out = new Float32Array(6);
  data.renderSample(img, 0, g, out, 0, null, Math.random);
  const expected = Array.from(img, (v) => (v / 255 - 0.5) / 0.25);
  out.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-5));
  // Flip only (rand 0.1 < 0.5 flips): rows reversed left to right.
  data.renderSample(img, 0, g, out, 0, { hflip: true }, () => 0.1);
  assert.ok(Math.abs(out[0]! - expected[2]!) < 1e-5 && Math.abs(out[2]! - expected[0]!) < 1e-5);
  // Crop with padding 1, offsets dy = dx = -1 (rand 0): the first row and column are padding.
  data.renderSample(img, 0, g, out, 0, { cropPadding: 1 }, () => 0);
  assert.ok(Math.abs(out[0]! - -2) < 1e-5, 'padding is black after normalisation');
  assert.ok(Math.abs(out[4]! - expected[0]!) < 1e-5);
});

test('DataLoader: seeded order, dropLast, indices, two views, workers equal the main thread', async () => {
  const ds = data.syntheticDataset({ length: 100, size: 8, seed: 4 });
  const opts = { batchSize: 32, shuffle: true, seed: 7, augment: { cropPadding: 2, hflip: true }, views: 2 as const };
  const a = new data.DataLoader(ds, { ...opts, dropLast: true });
  assert.equal(a.length, 3);
  assert.deepEqual(Array.from(a.order(0)), Array.from(new data.DataLoader(ds, opts).order(0)), 'same seed, same order');
  assert.notDeepEqual(Array.from(a.order(0)), Array.from(a.order(1)), 'epochs differ');
  const sync = [...a.epochSync(1)];
  const seen = sync.flatMap((b) => Array.from(b.indices));
  assert.equal(new Set(seen).size, 96);
  for (const b of sync) {
    assert.deepEqual(b.images.shape, [32, 1, 8, 8]);
    assert.equal(b.views.length, 2);
    assert.notDeepEqual(b.views[0]!.tolist(), b.views[1]!.tolist(), 'views are augmented independently');
    assert.deepEqual(
      b.labels.tolist(),
      Array.from(b.indices, (i) => ds.labels[i]),
    );
  }
  const w = new data.DataLoader(ds, { ...opts, dropLast: true, numWorkers: 2, prefetch: 2 });
  let k = 0;
  for await (const b of w.epoch(1)) {
    assert.deepEqual(b.views[1]!.tolist(), sync[k]!.views[1]!.tolist(), `batch ${k} from workers`);
    k++;
  }
  assert.equal(k, 3);
  const resumed = [...a.epochSync(1, 2)];
  assert.deepEqual(Array.from(resumed[0]!.indices), Array.from(sync[2]!.indices), 'starting mid-epoch gives the same batches');
  await w.close();
  assert.equal(new data.DataLoader(ds, { batchSize: 32 }).length, 4, 'without dropLast the last batch is partial');
  assert.throws(() => new data.DataLoader(ds, { batchSize: 0 }), /batchSize must be a positive integer/);
});

test("DataLoader classPairs (CS-KD's PairBatchSampler): each sample followed by a partner of its class, seeded, the same from workers", async () => {
  const ds = data.syntheticDataset({ length: 120, size: 8, seed: 5 });
  const opts = { batchSize: 16, shuffle: true, dropLast: true, seed: 3, classPairs: true };
  const loader = new data.DataLoader(ds, opts);
  const batches = [...loader.epochSync(0)];
  assert.equal(batches.length, 7, 'the batch count is that of the anchors');
  const anchors = batches.flatMap((b) => Array.from(b.indices.subarray(0, 16)));
  assert.deepEqual(anchors, Array.from(loader.order(0)).slice(0, 112), 'the first half is the ordinary batch');
  let self = 0;
  for (const b of batches) {
    assert.deepEqual(b.images.shape, [32, 1, 8, 8]);
    assert.equal(b.indices.length, 32);
    for (let k = 0; k < 16; k++) {
      const [i, j] = [b.indices[k]!, b.indices[16 + k]!];
      assert.equal(ds.labels[j], ds.labels[i], `partner ${j} of ${i} is of its class`);
      if (i === j) self++;
    }
    assert.deepEqual(
      b.labels.tolist(),
      Array.from(b.indices, (i) => ds.labels[i]),
    );
  }
  assert.ok(self < 20, 'partners are drawn from the whole class (the sample itself only by chance)');
  const partners = (l: data.DataLoader, epoch: number) =>
    [...l.epochSync(epoch)].flatMap((b) => Array.from(b.indices.subarray(16)));
  assert.deepEqual(partners(new data.DataLoader(ds, opts), 0), partners(loader, 0), 'same seed, same partners');
  assert.notDeepEqual(partners(loader, 1), partners(loader, 0), 'new partners each epoch');
  const workers = new data.DataLoader(ds, { ...opts, numWorkers: 2 });
  let k = 0;
  for await (const b of workers.epoch(0)) {
    assert.deepEqual(Array.from(b.indices), Array.from(batches[k]!.indices), `batch ${k} from workers`);
    assert.deepEqual(b.images.tolist(), batches[k]!.images.tolist());
    b.dispose();
    k++;
  }
  await workers.close();
  for (const b of batches) b.dispose();
});

test('a small model overfits 256 Fashion-MNIST images to 100% training accuracy', async () => {
  torch.setNumThreads(2);
  torch.manualSeed(0);
  const ds = data.subset(
    data.loadFashionMnist(),
    Array.from({ length: 256 }, (_, i) => i),
  );
  const model = createZooModel('resnet8', { numClasses: 10, inChannels: 1 });
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const loader = new data.DataLoader(ds, { batchSize: 64, shuffle: true, seed: 1 });
  for (let epoch = 0; epoch < 40; epoch++) {
    for (const b of loader.epochSync(epoch)) {
      tidy(() => {
        const loss = F.crossEntropy(model.forward(b.images).logits, b.labels);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
      b.dispose();
    }
  }
  model.eval();
  const acc = await torch.engine.evaluate((x) => model.forward(x).logits, ds);
  assert.equal(acc.top1, 100);
});
