// Random calls across the API in child processes: every bad call must end in a JS Error, never
// in a dead process (a C++ exception escaping the addon aborts node).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers.js';

const worker = path.join(repoRoot, 'dist', 'test', 'fuzz-worker.js');

test('2,400 seeded random API calls: zero native crashes, every failure a JS Error', () => {
  let total = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = spawnSync(process.execPath, [worker], {
      env: { ...process.env, DISTILL_FUZZ_SEED: String(seed), DISTILL_FUZZ_CALLS: '400' },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const lines = r.stdout.trimEnd().split('\n');
    const last = lines[lines.length - 1] ?? '';
    assert.equal(r.signal, null, `seed ${seed}: process killed by ${r.signal} during ${last}\n${r.stderr.slice(-2000)}`);
    assert.equal(r.status, 0, `seed ${seed}: exit ${r.status} during ${last}\n${r.stderr.slice(-2000)}`);
    assert.match(last, /^RESULT /, `seed ${seed}: no result line`);
    const result = JSON.parse(last.slice('RESULT '.length)) as { ok: number; errors: number; nonErrors: string[] };
    assert.deepEqual(result.nonErrors, [], `seed ${seed}: thrown values that are not Errors`);
    assert.ok(result.ok > 50 && result.errors > 50, `seed ${seed}: calls should both succeed and fail (${last})`);
    total += result.ok + result.errors;
  }
  assert.equal(total, 2400);
});
