// Loader benchmark: images/second of the DataLoader alone (CIFAR-sized 32x32x3 images, random
// crop with padding 4 and flip, one and two views) against resnet8x4's training img/s.
// Usage: npm run build && node dist/bench/loader.js
import * as torch from '../src/index.js';
import { data, F, optim, tidy, createModel } from '../src/index.js';

const ds = data.syntheticDataset({ length: 20000, channels: 3, size: 32, numClasses: 100, seed: 1 });

async function loaderRate(numWorkers: number, views: 1 | 2): Promise<number> {
  const loader = new data.DataLoader(ds, {
    batchSize: 64,
    shuffle: true,
    augment: { cropPadding: 4, hflip: true },
    numWorkers,
    views,
  });
  for await (const b of loader.epoch(0)) b.dispose(); // warm-up (workers start, JIT)
  const start = performance.now();
  let n = 0;
  for await (const b of loader.epoch(1)) {
    n += b.indices.length;
    b.dispose();
  }
  await loader.close();
  return (n * 1000) / (performance.now() - start);
}

function trainRate(threads: number): number {
  torch.setNumThreads(threads);
  const model = createModel('resnet8x4', { numClasses: 100 });
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = torch.randn(64, 3, 32, 32).keep();
  const y = torch.randint(0, 100, [64]).keep();
  const step = () =>
    tidy(() => {
      const loss = F.crossEntropy(model.forward(x).logits, y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  for (let i = 0; i < 2; i++) step();
  const start = performance.now();
  for (let i = 0; i < 8; i++) step();
  return (8 * 64 * 1000) / (performance.now() - start);
}

const train = trainRate(2);
console.log(`resnet8x4 training (2 threads, batch 64): ${train.toFixed(0)} img/s\n`);
console.log('| loader | views | img/s | x training |');
console.log('|---|---|---|---|');
for (const workers of [0, 1, 2]) {
  for (const views of [1, 2] as const) {
    const r = await loaderRate(workers, views);
    console.log(
      `| ${workers === 0 ? 'main thread' : `${workers} worker(s)`} | ${views} | ${r.toFixed(0)} | ${(r / train).toFixed(1)}x |`,
    );
  }
}
