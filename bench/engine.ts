// Engine benchmark: CIFAR ResNet-20 and resnet8x4 training steps (batch 64, 32x32, SGD) from JS
// and from PyTorch (bench/engine_torch.py, the same step) at 1 and 2 threads, in one run.
// Prints images/second, the ratio, and the per-call overhead of a tiny op.
// Usage: npm run bench [-- --steps 20]; `-- --overhead` prints the per-op overhead alone.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { tidy } from '../src/index.js';
import { torchThreads, trainJs } from './common.js';

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1] || 20) || 20;
const here = path.dirname(fileURLToPath(import.meta.url));
const pyScript = path.join(here, '..', '..', 'bench', 'engine_torch.py');
const python = '/usr/bin/python3';

function overheadJs(): number {
  const a = torch.ones(1).keep();
  const b = torch.ones(1).keep();
  const run = (n: number) => {
    for (let i = 0; i < n; i += 1000)
      tidy(() => {
        for (let j = 0; j < 1000; j++) a.add(b);
      });
  };
  run(10000);
  const n = 100000;
  const start = performance.now();
  run(n);
  return ((performance.now() - start) * 1000) / n;
}

function py(args: string[]): Record<string, number> | null {
  try {
    // args[1] is the thread count: the same OpenMP and OpenBLAS threads as distill-ts's.
    const env = { ...process.env, ...torchThreads(Number(args[1])) };
    return JSON.parse(execFileSync(python, [pyScript, ...args], { encoding: 'utf8', env }).trim()) as Record<string, number>;
  } catch {
    return null;
  }
}

if (process.argv.includes('--overhead')) {
  torch.setNumThreads(1);
  const runs = Array.from({ length: 5 }, overheadJs).sort((a, b) => a - b);
  console.log(
    `Per-op overhead (add of two 1-element tensors), 5 runs: median ${runs[2]!.toFixed(2)} us/call, min ${runs[0]!.toFixed(2)}, max ${runs[4]!.toFixed(2)}`,
  );
  process.exit(0);
}

const rows: string[] = [];
const fmt = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(0));
for (const name of ['resnet20', 'resnet8x4']) {
  for (const threads of [1, 2]) {
    const jsPlain = trainJs(name, threads, false, steps);
    const jsCl = trainJs(name, threads, true, steps);
    const pyPlain = py([name, String(threads), String(steps), '0']);
    const pyCl = py([name, String(threads), String(steps), '1']);
    const jsBest = Math.max(jsPlain.img_s, jsCl.img_s);
    const pyBest = pyPlain && pyCl ? Math.max(pyPlain.img_s!, pyCl.img_s!) : undefined;
    rows.push(
      `| ${name} | ${threads} | ${fmt(jsPlain.img_s)} | ${fmt(jsCl.img_s)} | ${fmt(pyPlain?.img_s)} | ${fmt(pyCl?.img_s)} | ${pyBest ? (jsBest / pyBest).toFixed(2) + 'x' : 'n/a'} | ${jsPlain.peak_mb.toFixed(0)} |`,
    );
    console.error(rows[rows.length - 1]);
  }
}
torch.setNumThreads(1);
const jsOverhead = overheadJs();
const pyOverhead = py(['overhead', '1']);

console.log(`\nTraining step, batch 64, 32x32, SGD (img/s; ${steps} timed steps after 3 warm-up; libtorch ${torch.version()})\n`);
console.log(
  '| model | threads | JS | JS channels-last | PyTorch | PyTorch channels-last | best JS / best PyTorch | JS peak tensor MB |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\nPer-op overhead (add of two 1-element tensors): JS ${jsOverhead.toFixed(2)} us/call, PyTorch ${pyOverhead ? pyOverhead.us_per_call!.toFixed(2) : 'n/a'} us/call`,
);
