// The whole pipeline against the bare step (issue 16): `distill run` of KD resnet32x4 ->
// resnet8x4 on CIFAR-100-shaped data (generated records in CIFAR-100's binary format, RandomCrop
// with padding 4 + horizontal flip + normalisation, the loader's workers) against the same step on
// a batch made beforehand (bench/steps.ts), and PyTorch's loop (torchvision's transforms on PIL
// images through DataLoader, bench/pipeline_torch.py) against its own bare step, on the same file.
// Both measure the second epoch (the first warms up). PyTorch runs jemalloc with decay off, the
// setting that wins its KD step on this machine (bench:steps), channels-last as given.
// Usage: npm run bench:pipeline [-- --threads 1,2 --workers 1 --batches 30]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { createZooModel, save } from '../src/index.js';
import { TORCH_ALLOCATORS, torchThreads } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const threadCounts = arg('threads', '1,2').split(',').map(Number);
const workers = Number(arg('workers', '1'));
const batches = Number(arg('batches', '30'));
const channelsLast = arg('channels-last', '1') === '1';
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.join(here, '..', '..');

/** CIFAR-100 binary records: coarse label, fine label, 3072 bytes of planar RGB. */
function writeCifar(file: string, n: number, seed: number): void {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const buf = Buffer.alloc(n * 3074);
  for (let i = 0; i < n; i++) {
    const fine = i % 100;
    buf[i * 3074] = fine % 20;
    buf[i * 3074 + 1] = fine;
    for (let p = 0; p < 3072; p++) buf[i * 3074 + 2 + p] = Math.floor(((fine * 37 + p) % 256) * 0.5 + rand() * 128);
  }
  writeFileSync(file, buf);
}

function oursPipeline(dir: string, threads: number): number {
  const out = path.join(dir, `runs-${threads}`);
  const config = path.join(dir, `kd-${threads}.yaml`);
  writeFileSync(
    config,
    [
      'name: pipeline',
      `dataset: { name: cifar100, root: ${path.join(dir, 'cifar-100-binary')}, augment: { cropPadding: 4, hflip: true } }`,
      `teacher: { model: resnet32x4, checkpoint: ${path.join(dir, 'teacher.pt')} }`,
      'student: { model: resnet8x4 }',
      'method: { name: kd, options: { T: 4, ceWeight: 0.1, kdWeight: 0.9 } }',
      'solver: { epochs: 2, batchSize: 64, lr: 0.05, momentum: 0.9, weightDecay: 0.0005, schedule: { type: constant } }',
      `runtime: { threads: ${threads}, workers: ${workers}, channelsLast: ${channelsLast} }`,
      `output: ${out}`,
    ].join('\n'),
  );
  execFileSync(process.execPath, [path.join(repo, 'dist', 'src', 'cli', 'main.js'), 'run', config], {
    stdio: 'ignore',
  });
  const log = readFileSync(path.join(out, 'pipeline', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event?: string; imgPerSec?: number });
  return log.filter((e) => e.event === 'epoch').at(-1)!.imgPerSec!;
}

function oursBare(threads: number): number {
  const out = execFileSync(
    process.execPath,
    [
      path.join(here, 'steps.js'),
      '--child',
      'kd',
      'resnet32x4-resnet8x4',
      String(threads),
      channelsLast ? '1' : '0',
      'float32',
      'direct', // the student's convolutions: distill run's default
      '--steps',
      String(batches),
    ],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out.trim().split('\n').at(-1)!) as { imgPerSec: number }).imgPerSec;
}

function pytorch(dir: string, threads: number): { pipeline: number; bare: number } {
  const out = execFileSync(
    '/usr/bin/python3',
    [
      path.join(repo, 'bench', 'pipeline_torch.py'),
      path.join(dir, 'cifar-100-binary', 'train.bin'),
      String(threads),
      String(workers),
      channelsLast ? '1' : '0',
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, ...TORCH_ALLOCATORS.jemalloc, ...torchThreads(threads) },
      cwd: path.join(repo, 'bench'),
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { pipeline: number; bare: number };
}

const dir = mkdtempSync(path.join(tmpdir(), 'distill-pipeline-'));
try {
  mkdirSync(path.join(dir, 'cifar-100-binary'));
  writeCifar(path.join(dir, 'cifar-100-binary', 'train.bin'), 64 * batches, 1);
  writeCifar(path.join(dir, 'cifar-100-binary', 'test.bin'), 256, 2);
  torch.manualSeed(0);
  const teacher = createZooModel('resnet32x4', { numClasses: 100 });
  save(teacher.stateDict(), path.join(dir, 'teacher.pt'));
  console.log(
    `KD resnet32x4 -> resnet8x4, batch 64, ${batches} batches per epoch (the second epoch measured), ${workers} loader worker(s), ${channelsLast ? 'channels-last' : 'contiguous'}\n`,
  );
  console.log(
    '| threads | distill-ts pipeline img/s | distill-ts bare step | loss | PyTorch DataLoader loop img/s | PyTorch bare step | loss | pipeline ratio |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const threads of threadCounts) {
    const pipe = oursPipeline(dir, threads);
    const bare = oursBare(threads);
    const t = pytorch(dir, threads);
    const loss = (p: number, b: number) => `${((100 * (b - p)) / b).toFixed(1)}%`;
    console.log(
      `| ${threads} | ${pipe.toFixed(1)} | ${bare.toFixed(1)} | ${loss(pipe, bare)} | ${t.pipeline.toFixed(1)} | ${t.bare.toFixed(1)} | ${loss(t.pipeline, t.bare)} | ${(pipe / t.pipeline).toFixed(2)}x |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
