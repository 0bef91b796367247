// Shared by the benchmarks: the timed CIFAR training step (batch 64, 32x32, SGD) from JS.
import * as torch from '../src/index.js';
import { F, optim, tidy, createZooModel, memory } from '../src/index.js';

/** Trains `name` for `steps` timed steps after 3 warm-up steps; img/s and peak tensor memory. */
export function trainJs(name: string, threads: number, channelsLast: boolean, steps: number): { img_s: number; peak_mb: number } {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const model = createZooModel(name, { numClasses: 100 });
  let x = torch.randn(64, 3, 32, 32).keep();
  const y = torch.randint(0, 100, [64]).keep();
  if (channelsLast) {
    model.to({ memoryFormat: 'channelsLast' });
    x = x.contiguous({ memoryFormat: 'channelsLast' }).keep();
  }
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const step = () =>
    tidy(() => {
      const loss = F.crossEntropy(model.forward(x).logits, y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  for (let i = 0; i < 3; i++) step();
  memory.resetPeak();
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const elapsed = (performance.now() - start) / 1000;
  const peak = memory.stats().peakLiveBytes / 2 ** 20;
  model.dispose();
  return { img_s: (64 * steps) / elapsed, peak_mb: peak };
}

/**
 * PyTorch's thread settings for `threads` threads: OpenMP's (OMP_NUM_THREADS also sizes OpenBLAS's
 * pool, as torch.setNumThreads does for distill-ts), and OpenBLAS's worker timeout distill-ts runs
 * with (src/tensor/native.ts sets it when the library loads, unless the user did): both sides run
 * the same BLAS.
 */
export const torchThreads = (threads: number): NodeJS.ProcessEnv => ({
  OMP_NUM_THREADS: String(threads),
  OPENBLAS_THREAD_TIMEOUT: process.env.OPENBLAS_THREAD_TIMEOUT,
});

/**
 * PyTorch's allocator settings (anchors.md section 11): glibc as is, jemalloc with decay off, glibc
 * tunables that keep freed memory. A PyTorch baseline is the fastest of them.
 */
export const TORCH_ALLOCATORS: Record<string, NodeJS.ProcessEnv> = {
  glibc: {},
  jemalloc: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', MALLOC_CONF: 'dirty_decay_ms:-1,muzzy_decay_ms:-1' },
  'glibc tunables': { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295' },
};
