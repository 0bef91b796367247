// ImageNet-style loader benchmark: images/second of the streaming DataLoader alone (JPEGs of
// 500x375, ImageNet's median size, decoded by libjpeg-turbo with RandomResizedCrop(224) + flip +
// normalisation) with 1 and 2 workers, against torchvision's ImageFolder + PIL through PyTorch's
// DataLoader on the same files (under each allocator setting of anchors.md section 11; the
// fastest counts), side by side, and against torchvision.resnet18's training step at 224 (the
// rate the loader must feed).
// Rounds alternate between the two sides; the best round of each is reported (this VM's
// throughput varies by 30% from run to run).
// Usage: npm run bench:imagenet-loader [-- --images 512 --epochs 3 --rounds 3]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as torch from '../src/index.js';
import { F, createModel, data, optim, tidy } from '../src/index.js';
import { createSplit } from '../src/data/registry.js';
import { sizeThreadPool } from '../src/data/encoded.js';
import { TORCH_ALLOCATORS } from './common.js';

sizeThreadPool();

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const IMAGES = Number(arg('images', '512'));
const EPOCHS = Number(arg('epochs', '3'));
const ROUNDS = Number(arg('rounds', '3'));

/** Photo-like JPEGs (smooth colour fields, texture and noise, quality 90), 500x375, in 4 classes. */
async function makeImages(root: string): Promise<void> {
  const [w, h] = [500, 375];
  for (let i = 0; i < IMAGES; i++) {
    const dir = path.join(root, `class${i % 4}`);
    mkdirSync(dir, { recursive: true });
    const raw = Buffer.alloc(w * h * 3);
    let seed = i + 1;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const noise = (seed >> 16) % 25;
        raw[(y * w + x) * 3] = 128 + 90 * Math.sin((x + 7 * i) / 37) * Math.cos(y / 53) + noise;
        raw[(y * w + x) * 3 + 1] = 128 + 80 * Math.cos((x + y + i) / 61) + noise;
        raw[(y * w + x) * 3 + 2] = 128 + 70 * Math.sin(Math.hypot(x - 250, y - 180) / (29 + (i % 5))) + noise;
      }
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path.join(dir, `${i}.jpg`));
  }
}

async function loaderRate(ds: data.ImageDataset, numWorkers: number): Promise<number> {
  const loader = new data.DataLoader(ds, {
    batchSize: 64,
    shuffle: true,
    augment: { randomResizedCrop: {}, hflip: true },
    numWorkers,
  });
  for await (const b of loader.epoch(0)) b.dispose(); // warm-up: workers start, files in the page cache
  const start = performance.now();
  let n = 0;
  for (let e = 1; e <= EPOCHS; e++)
    for await (const b of loader.epoch(e)) {
      n += b.indices.length;
      b.dispose();
    }
  await loader.close();
  return (n * 1000) / (performance.now() - start);
}

/** torchvision.resnet18's training step at 224 (batch 32, SGD, 2 threads): the rate to feed. */
function resnet18Rate(): number {
  torch.setNumThreads(2);
  torch.manualSeed(0);
  const model = createModel('torchvision.resnet18', { numClasses: 1000 });
  const x = torch.randn(32, 3, 224, 224).keep();
  const y = torch.randint(0, 1000, [32]).keep();
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const step = () =>
    tidy(() => {
      const out = model.forward(x);
      const loss = F.crossEntropy(out instanceof torch.Tensor ? out : out.logits, y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  step();
  const steps = 4;
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  model.dispose();
  return (32 * steps * 1000) / (performance.now() - start);
}

const root = mkdtempSync(path.join(os.tmpdir(), 'distill-imagenet-bench-'));
try {
  const folder = path.join(root, 'train');
  await makeImages(folder);
  symlinkSync(folder, path.join(root, 'val')); // the dataset wants a val/ split; the bench reads train/
  const ds = createSplit('imagefolder', { root, size: 224, stream: true }, 'train');
  const train = resnet18Rate();
  console.log(`torchvision.resnet18 training at 224 (batch 32, 2 threads): ${train.toFixed(1)} img/s\n`);
  console.log(
    `${IMAGES} JPEGs of 500x375, RandomResizedCrop(224) + flip + normalise, batch 64, ${EPOCHS} epochs after a warm-up one, best of ${ROUNDS} alternating rounds:\n`,
  );
  console.log(
    '| workers | distill-ts img/s | PyTorch DataLoader + PIL img/s (best allocator) | ratio | distill-ts / resnet18 training |',
  );
  console.log('|---|---|---|---|---|');
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'imagenet_loader_torch.py');
  for (const workers of [1, 2]) {
    let ours = 0;
    let theirs = 0;
    let won = '';
    for (let r = 0; r < ROUNDS; r++) {
      ours = Math.max(ours, await loaderRate(ds, workers));
      // PyTorch in its best setting: every allocator, the fastest counts (anchors.md section 11).
      for (const [name, env] of Object.entries(TORCH_ALLOCATORS)) {
        const py = spawnSync('/usr/bin/python3', [script, folder, String(workers), String(EPOCHS)], {
          encoding: 'utf8',
          env: { ...process.env, ...env },
        });
        if (py.status !== 0) console.error(py.stderr);
        else {
          const rate = (JSON.parse(py.stdout.trim().split('\n').at(-1)!) as { img_s: number }).img_s;
          if (rate > theirs) [theirs, won] = [rate, name];
        }
      }
    }
    console.log(
      `| ${workers} | ${ours.toFixed(1)} | ${theirs.toFixed(1)} (${won}) | ${(ours / theirs).toFixed(2)}x | ${(ours / train).toFixed(2)}x |`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
