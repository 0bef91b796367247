// The KD step against PyTorch in its best setting (issue 16's honest baseline): teacher resnet32x4
// under no-grad, student resnet8x4, CE + KD, SGD with momentum and weight decay, batch 64 at
// 32x32. PyTorch runs mdistiller's step (bench/kd_step_torch.py) under each allocator setting
// (glibc as is; jemalloc with decay off; glibc tunables that keep freed memory) with and without
// channels-last; distill-ts runs the trainer's step (engine.trainStep) with and without
// channels-last. Rounds interleave every setting; each setting's best round counts, and the best
// PyTorch setting is the baseline. Peak RSS of each process is reported beside img/s.
// Usage: npm run bench:kd-step [-- --steps 20 --rounds 3]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { createDistiller, createZooModel, engine, optim } from '../src/index.js';
import { TORCH_ALLOCATORS } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg('steps', '20'));
const rounds = Number(arg('rounds', '3'));
const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', '..', 'bench', 'kd_step_torch.py');

function pytorch(threads: number, channelsLast: boolean, env: NodeJS.ProcessEnv): { imgPerSec: number; peakMb: number } {
  const out = execFileSync('/usr/bin/python3', [script, String(threads), String(steps), channelsLast ? '1' : '0'], {
    encoding: 'utf8',
    env: { ...process.env, ...env, OMP_NUM_THREADS: String(threads) },
    cwd: path.dirname(script),
  });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { img_s: number; peak_rss_mb: number };
  return { imgPerSec: r.img_s, peakMb: r.peak_rss_mb };
}

/** distill-ts's step, in a child process of its own (peak RSS per setting, like PyTorch's). */
function ours(threads: number, channelsLast: boolean): { imgPerSec: number; peakMb: number } {
  const out = execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', String(threads), channelsLast ? '1' : '0', '--steps', String(steps)],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { imgPerSec: number; peakMb: number };
}

function child(threads: number, channelsLast: boolean): void {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const shape = { numClasses: 100 };
  const teacher = createZooModel('resnet32x4', shape).eval();
  const student = createZooModel('resnet8x4', shape);
  let images = torch.randn(64, 3, 32, 32).keep();
  if (channelsLast) {
    teacher.to({ memoryFormat: 'channelsLast' });
    student.to({ memoryFormat: 'channelsLast' });
    images = images.contiguous({ memoryFormat: 'channelsLast' }).keep();
  }
  const labels = torch.randint(0, 100, [64]).keep();
  const kd = createDistiller('kd', student, teacher, {}, { inputShape: [3, 32, 32] });
  const opt = new optim.SGD(kd.learnableParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const batch = {
    images,
    views: [images],
    labels,
    indices: Int32Array.from({ length: 64 }, (_, i) => i),
    index: 0,
    dispose() {},
  };
  const step = (i: number) => engine.trainStep(kd, batch, { epoch: 0, epochs: 1, step: i }, opt);
  for (let i = 0; i < 3; i++) step(i);
  const start = performance.now();
  for (let i = 0; i < steps; i++) step(i);
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ imgPerSec: (64 * steps) / seconds, peakMb: process.resourceUsage().maxRSS / 1024 }));
}

if (process.argv[2] === '--child') {
  child(Number(process.argv[3]), process.argv[4] === '1');
} else {
  console.log(`KD step, resnet32x4 -> resnet8x4, batch 64 at 32x32, ${steps} steps, best of ${rounds} interleaved rounds\n`);
  console.log(
    '| threads | distill-ts img/s (setting) | peak MB | PyTorch best img/s (setting) | peak MB | ratio | every PyTorch setting |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const threads of [1, 2]) {
    const best = new Map<string, { imgPerSec: number; peakMb: number }>();
    const keep = (k: string, r: { imgPerSec: number; peakMb: number }) => {
      if (!best.has(k) || best.get(k)!.imgPerSec < r.imgPerSec) best.set(k, r);
    };
    for (let round = 0; round < rounds; round++) {
      for (const cl of [false, true]) {
        keep(`ours${cl ? ', channels-last' : ''}`, ours(threads, cl));
        for (const [name, env] of Object.entries(TORCH_ALLOCATORS))
          keep(`torch ${name}${cl ? ', channels-last' : ''}`, pytorch(threads, cl, env));
      }
    }
    const pick = (prefix: string) =>
      [...best.entries()].filter(([k]) => k.startsWith(prefix)).sort((a, b) => b[1].imgPerSec - a[1].imgPerSec)[0]!;
    const [oursName, o] = pick('ours');
    const [torchName, t] = pick('torch');
    const every = [...best.entries()]
      .filter(([k]) => k.startsWith('torch'))
      .map(([k, v]) => `${k.slice(6)}: ${v.imgPerSec.toFixed(1)}`)
      .join('; ');
    console.log(
      `| ${threads} | ${o.imgPerSec.toFixed(1)} (${oursName.slice(4).replace(/^, /, '') || 'contiguous'}) | ${o.peakMb.toFixed(0)} | ${t.imgPerSec.toFixed(1)} (${torchName.slice(6)}) | ${t.peakMb.toFixed(0)} | ${(o.imgPerSec / t.imgPerSec).toFixed(2)}x | ${every} |`,
    );
  }
}
