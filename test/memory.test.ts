// Memory stays flat over long runs: 5,000 steps through the library API (a synchronous loop) and
// 5,000 steps through `distill run`, resident memory measured after a full GC, must grow by
// less than 10 MB after warm-up, with no tensor left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliPath, repoRoot } from './helpers.js';

test('library API: 5,000 steps of resnet8 (tidy, SGD) grow RSS by under 10 MB after warm-up', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(repoRoot, 'dist', 'test', 'memory-worker.js')], {
    env: { ...process.env, DISTILL_MEMORY_WORKER: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const { warm, end } = JSON.parse(r.stdout) as Record<'warm' | 'end', { rssMb: number; live: number }>;
  const growth = end.rssMb - warm.rssMb;
  console.log(`library: RSS ${warm.rssMb.toFixed(1)} MB at step 1,000, ${end.rssMb.toFixed(1)} MB at step 5,000`);
  assert.ok(growth < 10, `RSS grew ${growth.toFixed(1)} MB from step 1,000 to 5,000`);
  assert.equal(end.live, warm.live, 'tensors leaked across steps');
});

test('CLI: 5,000 steps of `distill run` (loader worker, augmentation) grow RSS by under 10 MB after warm-up', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'distill-memory-'));
  const config = path.join(dir, 'memory.yaml');
  writeFileSync(
    config,
    `name: memory
dataset: { name: synthetic, trainSubset: 2000, testSubset: 16, augment: { cropPadding: 2, hflip: true } }
student: { model: resnet8 }
solver: { epochs: 10, batchSize: 4, lr: 0.01 }
runtime: { threads: 1, workers: 1 }
output: ${dir}/runs
`,
  );
  const r = spawnSync(process.execPath, ['--expose-gc', cliPath, 'run', config], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const epochs = readFileSync(path.join(dir, 'runs', 'memory', 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; rssMb?: number })
    .filter((e) => e.event === 'epoch');
  assert.equal(epochs.length, 10);
  const rss = epochs.map((e) => e.rssMb!);
  console.log(`CLI: RSS per epoch of 500 steps (MB): ${rss.map((v) => v.toFixed(1)).join(', ')}`);
  const growth = Math.max(...rss.slice(2)) - rss[1]!;
  assert.ok(growth < 10, `RSS grew ${growth.toFixed(1)} MB after epoch 2`);
});
