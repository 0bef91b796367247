// Loader benchmark: images/second of the DataLoader alone (CIFAR-sized 32x32x3 images, random
// crop with padding 4 and flip, one and two views) against resnet8x4's training img/s.
// Usage: npm run build && node dist/bench/loader.js
import { data } from '../src/index.js';
import { trainJs } from './common.js';

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

const train = trainJs('resnet8x4', 2, false, 8).img_s;
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
