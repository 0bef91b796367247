// 5,000 training steps of a zoo ResNet through the library API in a synchronous loop (tidy, SGD
// with momentum), run by memory.test.ts under --expose-gc: resident memory after a full GC at
// step 1,000 (warm) and at step 5,000, and the live tensor count at both.
import * as torch from '../src/index.js';
import { F, createZooModel, optim, tidy } from '../src/index.js';

if (process.env.DISTILL_MEMORY_WORKER) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const model = createZooModel('resnet8', { numClasses: 10 });
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = torch.randn(4, 3, 16, 16);
  const y = torch.randint(0, 10, [4]);
  const sample = (): { rssMb: number; live: number } => {
    gc();
    gc();
    return { rssMb: process.memoryUsage().rss / 2 ** 20, live: torch.memory.liveTensors() };
  };
  let warm = sample();
  for (let step = 1; step <= 5000; step++) {
    tidy(() => {
      opt.zeroGrad();
      F.crossEntropy(model.forward(x).logits, y).backward();
      opt.step();
    });
    if (step === 1000) warm = sample();
  }
  console.log(JSON.stringify({ warm, end: sample() }));
}
