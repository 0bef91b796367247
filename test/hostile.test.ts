// Checkpoints come from the internet: every file of the hostile corpus (scripts/hostile-checkpoints.ts)
// is refused with a clear error, quickly and without a large allocation, and runs no code; random
// byte flips of real checkpoints either fail loudly or load exactly the original values.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as torch from '../src/index.js';
import { Tensor, loadFromBuffer, saveToBuffer } from '../src/index.js';
import { hostileCheckpoints } from '../scripts/hostile-checkpoints.js';
import { fixtureDir } from './helpers.js';

const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

test('the hostile corpus: every file refused with a clear error within 2 s and 200 MB; no code runs', () => {
  const corpus = hostileCheckpoints();
  assert.ok(corpus.length >= 50, `corpus of ${corpus.length} files`);
  const rssBefore = maxRssMb();
  const liveBefore = torch.memory.liveTensors();
  let worstMs = 0;
  for (const file of corpus) {
    const start = performance.now();
    let loaded: unknown;
    let error: Error | undefined;
    try {
      loaded = loadFromBuffer(file.bytes);
    } catch (err) {
      error = err as Error;
    }
    const ms = performance.now() - start;
    worstMs = Math.max(worstMs, ms);
    if (process.env.DISTILL_VERBOSE) console.log(file.name, ms.toFixed(0), error?.message);
    assert.ok(ms < 2000, `${file.name}: took ${ms.toFixed(0)} ms`);
    if (file.refusedWith) {
      assert.ok(error, `${file.name}: loaded without an error`);
      assert.ok(error instanceof Error, `${file.name}: threw a non-Error`);
      assert.match(error.message, file.refusedWith, `${file.name}: unclear error`);
    } else {
      assert.equal(error, undefined, `${file.name}: ${error?.message}`);
      torch.dispose(loaded as never);
    }
  }
  const grownMb = maxRssMb() - rssBefore;
  assert.ok(grownMb < 200, `peak memory grew by ${grownMb.toFixed(0)} MB`);
  assert.equal(torch.memory.liveTensors(), liveBefore, 'a refused file left tensors behind');
  assert.equal(existsSync('/tmp/distill-pwned'), false);
  console.log(`hostile corpus: ${corpus.length} files, worst ${worstMs.toFixed(0)} ms, peak RSS +${grownMb.toFixed(0)} MB`);
});

test('a `__proto__` key is an own key: no prototype replaced, nothing polluted', () => {
  const file = hostileCheckpoints().find((f) => f.name === 'proto-key.pt')!;
  const loaded = loadFromBuffer(file.bytes) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(loaded), Object.prototype);
  assert.deepEqual(Object.keys(loaded), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value?.polluted, 'yes');
  assert.equal((loaded as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

test('500 random byte flips of real checkpoints: each fails with an Error or loads the original values exactly', () => {
  const originals = [
    readFileSync(path.join(fixtureDir, 'py_checkpoint.pt')), // written by PyTorch
    saveToBuffer({ w: torch.randn(8, 8), b: torch.arange(0, 5, 1, { dtype: 'int64' }), meta: { epoch: 3, name: 'x' } }),
  ];
  let seed = 12345;
  const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  let refused = 0;
  let identical = 0;
  for (let i = 0; i < 500; i++) {
    const original = originals[i % 2]!;
    const flipped = Buffer.from(original);
    const at = Math.floor(random() * flipped.length);
    flipped[at] = flipped[at]! ^ (1 + Math.floor(random() * 255));
    let loaded: unknown;
    try {
      loaded = loadFromBuffer(flipped);
    } catch (err) {
      assert.ok(err instanceof Error);
      refused++;
      continue;
    }
    const expected = loadFromBuffer(original);
    assert.equal(flatten(loaded), flatten(expected), `flip at byte ${at} of checkpoint ${i % 2} changed the values silently`);
    torch.dispose([loaded, expected] as never);
    identical++;
  }
  console.log(`byte flips: ${refused} refused, ${identical} harmless (same values)`);
  assert.equal(refused + identical, 500);
});

function flatten(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x instanceof Tensor ? { dtype: x.dtype, shape: x.shape, values: x.tolist() } : typeof x === 'bigint' ? `${x}n` : x,
  );
}
