// The kernels under a distillation step, alone (issue 16): resnet8x4's convolutions and
// BatchNorm + ReLU, forward and backward, channels-last, in distill-ts and in PyTorch
// (bench/kernels_torch.py, jemalloc with decay off, the same threads), with each convolution's
// GFLOP/s against one core's float32 FMA peak (bench/fma_peak.c, built here with the C compiler;
// skipped where there is none or the CPU lacks AVX-512). Both sides run the same oneDNN kernels:
// this is the floor under a student's step that no binding can go below.
// Usage: npm run bench:kernels [-- --threads 1 --reps 20]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { F, randnLike, tidy, type Tensor } from '../src/index.js';
import { TORCH_ALLOCATORS, torchThreads } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const threads = Number(arg('threads', '1'));
const reps = Number(arg('reps', '20'));
const source = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const shapes = JSON.parse(readFileSync(path.join(source, 'kernels_shapes.json'), 'utf8')) as {
  batch: number;
  convs: [number, number, number, number, number][];
  norms: [number, number][];
};
type Times = Record<string, [number, number]>;

/** Milliseconds per call of `fn` after 3 untimed calls; what it creates is freed each call. */
function timed(fn: () => void): number {
  for (let i = 0; i < 3; i++) tidy(fn);
  const start = performance.now();
  for (let i = 0; i < reps; i++) tidy(fn);
  return (performance.now() - start) / reps;
}

function ours(): Times {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const cl = { memoryFormat: 'channelsLast' } as const;
  const out: Times = {};
  const b = shapes.batch;
  for (const [ci, co, size, k, stride] of shapes.convs) {
    const x = torch.randn(b, ci, size, size).contiguous(cl).requiresGrad_().keep();
    const w = torch.randn(co, ci, k, k).contiguous(cl).requiresGrad_().keep();
    const conv = () => F.conv2d(x, w, { stride, padding: (k - 1) / 2 });
    const g = tidy(() => randnLike(conv())).keep();
    const forward = timed(() => void conv());
    const both = timed(() => {
      x.grad = w.grad = null;
      conv().backward(g);
    });
    out[`conv ${ci}->${co} ${k}x${k} s${stride} at ${size}x${size}`] = [forward, both - forward];
    for (const t of [x, w, g]) t.dispose();
  }
  for (const [c, size] of shapes.norms) {
    const x = torch.randn(b, c, size, size).contiguous(cl).requiresGrad_().keep();
    const weight = torch.ones([c]).requiresGrad_().keep();
    const bias = torch.zeros([c]).requiresGrad_().keep();
    const [mean, variance] = [torch.zeros([c]).keep(), torch.ones([c]).keep()];
    const norm = () => F.relu(F.batchNorm(x, mean, variance, { weight, bias, training: true, momentum: 0.1, eps: 1e-5 }));
    const g = tidy(() => randnLike(norm())).keep();
    const forward = timed(() => void norm());
    const both = timed(() => {
      x.grad = weight.grad = bias.grad = null;
      norm().backward(g);
    });
    out[`batch_norm + relu ${c} at ${size}x${size}`] = [forward, both - forward];
    for (const t of [x, weight, bias, mean, variance, g] as Tensor[]) t.dispose();
  }
  return out;
}

/** One core's FMA peak in GFLOP/s, or null where it cannot be measured here. */
function fmaPeak(): number | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'distill-fma-'));
  try {
    const exe = path.join(dir, 'fma_peak');
    execFileSync('cc', ['-O2', '-mavx512f', '-o', exe, path.join(source, 'fma_peak.c')], { stdio: 'ignore' });
    return Number(execFileSync(exe, { encoding: 'utf8' }).split(' ')[0]);
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const mine = ours();
  const theirs = JSON.parse(
    execFileSync('/usr/bin/python3', [path.join(source, 'kernels_torch.py'), String(threads), String(reps)], {
      encoding: 'utf8',
      env: { ...process.env, ...TORCH_ALLOCATORS.jemalloc, ...torchThreads(threads) },
    })
      .trim()
      .split('\n')
      .at(-1)!,
  ) as Times;
  const peak = threads === 1 ? fmaPeak() : null;
  console.log(
    `Kernels alone, batch ${shapes.batch}, channels-last, ${threads} thread(s), mean of ${reps} calls, ms` +
      (peak ? `; one core's float32 FMA peak: ${peak.toFixed(0)} GFLOP/s (bench/fma_peak.c)` : '') +
      '\n',
  );
  console.log('| kernel | distill-ts forward | backward | PyTorch forward | backward | distill-ts GFLOP/s forward, backward |');
  console.log('|---|---|---|---|---|---|');
  const convFlops = new Map(
    shapes.convs.map(([ci, co, size, k, stride]) => [
      `conv ${ci}->${co} ${k}x${k} s${stride} at ${size}x${size}`,
      2 * shapes.batch * co * ci * k * k * (size / stride) ** 2,
    ]),
  );
  for (const [name, [forward, backward]] of Object.entries(mine)) {
    const [tf, tb] = theirs[name]!;
    const flops = convFlops.get(name);
    // Backward computes the input's and the weight's gradients: twice the forward's arithmetic
    // (the first layer's input needs none, but the input here requires gradients everywhere).
    const rate = flops
      ? `${(flops / forward / 1e6).toFixed(0)}, ${((2 * flops) / backward / 1e6).toFixed(0)}` +
        (peak
          ? ` (${((100 * flops) / forward / 1e6 / peak).toFixed(0)}%, ${((200 * flops) / backward / 1e6 / peak).toFixed(0)}% of peak)`
          : '')
      : '-';
    console.log(`| ${name} | ${forward.toFixed(2)} | ${backward.toFixed(2)} | ${tf.toFixed(2)} | ${tb.toFixed(2)} | ${rate} |`);
  }
}

main();
