// Engine behaviour: creation, dtypes, scopes and disposal, autograd API, errors, settings.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { engine } from '../src/index.js';
import { F, Tensor, tensor, tidy, keep, memory, noGrad, type DType } from '../src/index.js';

test('tensor() from nested arrays and typed arrays keeps values, shape and dtype', () => {
  const a = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.tolist(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal(tensor([true, false]).dtype, 'bool');
  assert.equal(tensor(new Float64Array([1, 2])).dtype, 'float64');
  assert.equal(tensor(new Int32Array([1, 2])).dtype, 'int32');
  const l = tensor(new BigInt64Array([3n, -4n]));
  assert.equal(l.dtype, 'int64');
  assert.deepEqual(Array.from(l.dataSync() as BigInt64Array), [3n, -4n]);
  assert.deepEqual(tensor([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'int64' }).tolist(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.equal(tensor(7.5).item(), 7.5);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /do not fill shape/);
  for (const d of ['float32', 'float64', 'int64', 'int32', 'uint8', 'bool'] as const) {
    const t = torch.ones([2], { dtype: d });
    assert.equal(t.dtype, d);
    assert.equal(t.to('float64').dtype, 'float64');
  }
});

test('creation functions: shapes, dtypes, requiresGrad and *Like', () => {
  assert.deepEqual(torch.zeros(2, 3).shape, [2, 3]);
  assert.deepEqual(torch.ones([4], { dtype: 'int64' }).tolist(), [1, 1, 1, 1]);
  assert.equal(torch.randn([2, 2], { requiresGrad: true }).requiresGrad, true);
  const x = torch.rand(3, 4);
  const mn = x.min().item();
  const mx = x.max().item();
  assert.ok(mn >= 0 && mx < 1);
  assert.deepEqual(torch.zerosLike(x).shape, [3, 4]);
  assert.equal(torch.onesLike(x, { dtype: 'float64' }).dtype, 'float64');
  assert.deepEqual(torch.fullLike(x, 2).sum().item(), 24);
  assert.deepEqual(torch.randnLike(x).shape, [3, 4]);
  assert.equal(torch.randint(0, 5, [100]).max().item() < 5, true);
  assert.deepEqual(torch.randperm(5).sort().values.tolist(), [0, 1, 2, 3, 4]);
});

test('tidy() frees intermediates, keeps returned and kept tensors; dispose() frees at once', () => {
  const before = memory.liveTensors();
  const kept = torch.ones(2);
  const out = tidy(() => {
    const a = torch.ones(3).mul(2);
    const b = a.add(1);
    keep(torch.zeros(1));
    return { b, list: [a.sum()] };
  });
  assert.equal(out.b.isDisposed, false);
  assert.equal(out.list[0]!.item(), 6);
  assert.equal(kept.isDisposed, false);
  assert.equal(memory.liveTensors(), before + 4, 'kept, b, sum and the kept zeros remain');
  out.b.dispose();
  assert.equal(out.b.isDisposed, true);
  assert.throws(() => out.b.add(1), /disposed/);
  assert.throws(() => out.b.shape, /disposed/);
  // Nested scopes: what the inner scope returns is owned by the outer one.
  let inner: Tensor | undefined;
  tidy(() => {
    inner = tidy(() => torch.ones(2).mul(3));
    assert.equal(inner.isDisposed, false);
  });
  assert.equal(inner!.isDisposed, true);
  // An exception inside the scope still frees what it created.
  let leaked: Tensor | undefined;
  assert.throws(() =>
    tidy(() => {
      leaked = torch.ones(2);
      throw new Error('boom');
    }),
  );
  assert.equal(leaked!.isDisposed, true);
  assert.throws(() => tidy(() => Promise.resolve(1) as unknown as number), /Promise/);
  torch.dispose([kept, out.list]);
  assert.equal(kept.isDisposed, true);
});

test('autograd: backward, grad accumulation, detach, noGrad, retainGraph, gradients survive scopes', () => {
  const w = torch.tensor([1, 2, 3], { requiresGrad: true });
  tidy(() => w.mul(w).sum().backward());
  assert.deepEqual(w.grad!.tolist(), [2, 4, 6]);
  tidy(() => w.sum().backward());
  assert.deepEqual(w.grad!.tolist(), [3, 5, 7], 'gradients accumulate');
  w.grad!.zero_();
  assert.deepEqual(w.grad!.tolist(), [0, 0, 0]);
  const y = noGrad(() => w.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.equal(torch.isGradEnabled(), true);
  assert.equal(w.mul(2).detach().requiresGrad, false);
  const z = w.mul(w).sum();
  assert.equal(z.gradFn, 'SumBackward0');
  assert.equal(w.isLeaf, true);
  z.backward(undefined, { retainGraph: true });
  z.backward();
  const v = w.mul(2);
  assert.throws(() => v.backward(), /scalar outputs/);
  v.backward(torch.ones(3));
  assert.deepEqual(w.grad!.tolist(), [6, 10, 14]);
  w.grad = null;
  assert.equal(w.grad, null);
});

test('in-place ops modify the tensor itself', () => {
  const t = torch.zeros(3);
  const id = t._storageId();
  assert.equal(t.add_(2), t);
  t.mul_(3).sub_(1, { alpha: 2 }).div_(2);
  assert.deepEqual(t.tolist(), [2, 2, 2]);
  t.copy_(tensor([1, 2, 3]));
  t.addcmul_(tensor([1, 1, 1]), tensor([2, 2, 2]), { value: 0.5 });
  assert.deepEqual(t.tolist(), [2, 3, 4]);
  t.clamp_({ max: 3 }).fill_(9);
  assert.deepEqual(t.tolist(), [9, 9, 9]);
  assert.equal(t._storageId(), id);
  const v = t.view(3, 1);
  assert.equal(v._storageId(), id, 'views share storage');
});

test('libtorch errors become JS errors naming the op; nothing aborts the process', () => {
  const a = torch.ones(2, 3);
  assert.throws(() => a.matmul(torch.ones(2, 3)), /aten::matmul: .*cannot be multiplied/);
  assert.throws(() => a.add(torch.ones(4)), /aten::add.Tensor: The size of tensor a \(3\) must match/);
  assert.throws(() => a.index(5), /aten::select.int: .*out of range/);
  assert.throws(() => a.reshape(4, 2), /aten::reshape: shape '\[4, 2\]' is invalid/);
  assert.throws(() => F.crossEntropy(torch.ones(2, 3), torch.ones(2)), /aten::cross_entropy_loss/);
  assert.throws(() => torch.ones(2).to('float128' as never), /invalid device|unknown dtype/);
  assert.throws(() => torch.ones(2).to('tpu'), /invalid device 'tpu'/);
  assert.throws(() => a.reshape(2.5 as number), /must be an integer/);
  assert.throws(
    () => F.conv2d(torch.ones(1, 3, 4, 4), torch.ones(2, 2, 3, 3)),
    /aten::conv2d: .*expected input\[1, 3, 4, 4\] to have 2 channels/,
  );
  assert.throws(() => torch.op('aten::no_such_op').call([]), /unknown operator aten::no_such_op/);
  assert.throws(() => F.dropout(a, { p: 2 }), /probability/);
  assert.throws(() => F.klDiv(a, a, { reduction: 'avg' as never }), /unknown reduction 'avg'/);
  assert.throws(() => a.add('x' as never), /expected a Tensor/);
  assert.deepEqual(a.sum().item(), 6, 'the engine still works after errors');
});

test('devices: cpu always; cuda reported honestly; a cuda request without CUDA fails clearly', () => {
  assert.equal(torch.ones(1).device, 'cpu');
  assert.equal(typeof torch.cuda.isAvailable(), 'boolean');
  if (!torch.cuda.isAvailable()) {
    assert.throws(() => torch.ones(1).to('cuda'), /aten::to|CUDA/);
    assert.equal(torch.cuda.deviceCount(), 0);
  } else {
    const g = torch.ones(2, { device: 'cuda' });
    assert.match(g.device, /^cuda/);
    assert.deepEqual(g.mul(2).cpu().tolist(), [2, 2]);
  }
});

test('threads, seeds and deterministic mode', () => {
  const before = torch.getNumThreads();
  torch.setNumThreads(1);
  assert.equal(torch.getNumThreads(), 1);
  torch.setNumThreads(before);
  assert.throws(() => torch.setNumThreads(0), /need an integer from 1 to 1024, got 0/);
  torch.manualSeed(42);
  const a = torch.randn(5).tolist();
  torch.manualSeed(42);
  assert.deepEqual(torch.randn(5).tolist(), a);
  const state = torch.getRngState();
  const first = torch.rand(4).tolist();
  torch.setRngState(state);
  assert.deepEqual(torch.rand(4).tolist(), first, 'a saved generator state replays the same numbers');
  assert.throws(() => torch.setRngState(torch.ones(3)), /setRngState/);
  torch.useDeterministicAlgorithms(true);
  torch.useDeterministicAlgorithms(false);
  assert.throws(() => torch.manualSeed(-1), /non-negative integer/);
});

/** The library's entry point, for code run in a child process of its own (a fresh allocator, its own threads). */
const libraryIndex = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');

/**
 * Runs an ES module body in a new Node process (`torch` is the library, imported first) and
 * returns the JSON it prints last; `shell` wraps the command (e.g. a ulimit) as `shell "$@"`.
 */
function inChild<T>(body: string, options: { env?: NodeJS.ProcessEnv; shell?: string } = {}): T {
  const code = `const torch = await import(${JSON.stringify(libraryIndex)});\n${body}`;
  const command = [process.execPath, '--input-type=module', '-e', code];
  const r = options.shell
    ? spawnSync('bash', ['-c', `${options.shell} && exec "$@"`, 'bash', ...command], { encoding: 'utf8', env: options.env })
    : spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', env: options.env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

test('one thread means one thread: matrix products at setNumThreads(1) keep off the other cores (OpenBLAS pool sized, no spinning)', () => {
  // A child of its own: CPU time per thread (Linux /proc) while 1-thread products and a small
  // network's steps run; before, OpenBLAS's second worker took ~40% of a core for a tiny Linear.
  const { main, others, timeout } = inChild<{ main: number; others: number; timeout: string }>(`
    const fs = await import('node:fs');
    torch.setNumThreads(1);
    const cpu = () => Object.fromEntries(fs.readdirSync('/proc/self/task').map((id) => {
      const f = fs.readFileSync('/proc/self/task/' + id + '/stat', 'utf8').split(') ')[1].split(' ');
      return [id, Number(f[11]) + Number(f[12])];
    }));
    const a = torch.randn(64, 512).keep(), w = torch.randn(512, 512).keep();
    for (let i = 0; i < 5; i++) torch.tidy(() => { a.matmul(w).sum().item(); });
    const before = cpu();
    const t0 = performance.now();
    while (performance.now() - t0 < 1500) torch.tidy(() => { a.matmul(w).relu().matmul(w).sum().item(); });
    const after = cpu();
    const main = String(process.pid);
    let others = 0;
    for (const id of Object.keys(after)) if (id !== main) others += after[id] - (before[id] ?? 0);
    console.log(JSON.stringify({ main: after[main] - before[main], others, timeout: process.env.OPENBLAS_THREAD_TIMEOUT }));
  `);
  assert.ok(main >= 100, `the main thread ran the products (${main} ticks)`);
  assert.ok(others <= main * 0.1, `other threads used ${others} ticks against the main thread's ${main}`);
  assert.equal(timeout, '4', "OpenBLAS's workers are told not to spin");
  const given = inChild<string>('console.log(JSON.stringify(process.env.OPENBLAS_THREAD_TIMEOUT));', {
    env: { ...process.env, OPENBLAS_THREAD_TIMEOUT: '12' },
  });
  assert.equal(given, '12', "a user's own setting wins");
});

test('importing the library loads no image, protobuf or chart package (each loads where it is used)', () => {
  // sharp, protobufjs, onnx-proto and resvg are CommonJS: once loaded they are in require.cache.
  const heavy = ['/sharp/', '/protobufjs/', '/onnx-proto/', '/@resvg/'];
  const loaded = inChild<string[]>(`
    const { createRequire } = await import('node:module');
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const heavy = ${JSON.stringify(heavy)};
    const onImport = heavy.filter((p) => cache.some((f) => f.includes('/node_modules' + p)));
    // The same check sees a package once something uses it: an event is encoded with protobufjs.
    const { scalarEvent } = await import(${JSON.stringify(path.join(path.dirname(libraryIndex), 'engine', 'tensorboard.js'))});
    scalarEvent(1, { loss: 1 }, 0);
    const afterUse = Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/protobufjs/'));
    console.log(JSON.stringify([...onImport, afterUse ? 'used: protobufjs' : 'not seen after use']));
  `);
  assert.deepEqual(loaded, ['used: protobufjs']);
});

test('tensor() from a typed array into a wider dtype (converted by libtorch) keeps every value exactly', () => {
  const cases: [Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array, DType[], number[]][] = [
    [new Int8Array([-128, -1, 0, 127]), ['int16', 'int32', 'int64', 'float32', 'float64'], [-128, -1, 0, 127]],
    [new Uint8Array([0, 1, 128, 255]), ['int16', 'int32', 'int64', 'float32', 'float64'], [0, 1, 128, 255]],
    [new Int16Array([-32768, -7, 32767]), ['int32', 'int64', 'float32', 'float64'], [-32768, -7, 32767]],
    [new Int32Array([-(2 ** 31), -5, 2 ** 31 - 1]), ['int64', 'float64'], [-(2 ** 31), -5, 2 ** 31 - 1]],
    [new Float32Array([0.1, -3.5e38, 1e-45]), ['float64'], Array.from(new Float32Array([0.1, -3.5e38, 1e-45]))],
  ];
  for (const [data, dtypes, values] of cases) {
    for (const dtype of dtypes) {
      const t = tensor(data, [1, data.length], { dtype, requiresGrad: dtype.startsWith('float') });
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [1, data.length]);
      assert.equal(t.requiresGrad, dtype.startsWith('float'));
      assert.deepEqual((t.tolist() as number[][])[0], values, `${data.constructor.name} -> ${dtype}`);
    }
  }
  // A million indices, as CRD's contrast indices of a step: the values at the end are right.
  const indices = Int32Array.from({ length: 2 ** 20 }, (_, i) => (i * 7919) % 50000);
  const t = tensor(indices, { dtype: 'int64' });
  assert.deepEqual(Array.from(t.narrow(0, 2 ** 20 - 2, 2).dataSync() as BigInt64Array), [
    BigInt(indices[2 ** 20 - 2]!),
    BigInt(indices[2 ** 20 - 1]!),
  ]);
  assert.throws(() => tensor(new Int32Array(5), [2, 2], { dtype: 'int64' }), /5 values do not fill shape \[2, 2\]/);
});

test('dropout: zero in eval mode changes nothing; in training keeps about 1-p, scaled by 1/(1-p)', () => {
  const x = torch.ones(10000);
  assert.deepEqual(F.dropout(x, { p: 0.3, training: false }).sum().item(), 10000);
  const y = F.dropout(x, { p: 0.3 });
  const kept = y.gt(0).sum().item();
  assert.ok(Math.abs(kept / 10000 - 0.7) < 0.03, `kept fraction ${kept / 10000}`);
  assert.ok(Math.abs(y.max().item() - 1 / 0.7) < 1e-5);
});

test('the caching allocator is on and reuses blocks', () => {
  const s0 = memory.stats();
  assert.equal(s0.enabled, true);
  for (let i = 0; i < 10; i++) tidy(() => torch.ones(1000).mul(2));
  const s1 = memory.stats();
  assert.ok(s1.hits > s0.hits, 'freed blocks are reused');
  memory.emptyCache();
  assert.ok(memory.stats().cachedBytes <= memory.stats().segmentBytes, 'only pieces of segments in use stay cached');
});

test('large blocks: a freed block serves smaller requests (split) and its pieces merge back (coalesce)', () => {
  const mib = 2 ** 20;
  const floats = (bytes: number) => torch.zeros([bytes / 4]);
  memory.emptyCache();
  const s0 = memory.stats();
  tidy(() => {
    floats(16 * mib); // one segment, free again
  });
  const s1 = memory.stats();
  assert.ok(s1.segmentBytes >= s0.segmentBytes + 16 * mib);
  // Four 3.5 MiB tensors fit in the free 16 MiB: no new segment.
  tidy(() => {
    const parts = [0, 1, 2, 3].map(() => floats(3.5 * mib));
    assert.equal(memory.stats().segmentBytes, s1.segmentBytes);
    return parts.length;
  });
  // Their pieces merged: 15 MiB fits again, and a live tensor counts its block in liveBytes.
  tidy(() => {
    const before = memory.stats().liveBytes;
    floats(15 * mib);
    assert.equal(memory.stats().segmentBytes, s1.segmentBytes);
    assert.ok(memory.stats().liveBytes - before >= 15 * mib);
  });
  memory.emptyCache();
  assert.equal(memory.stats().segmentBytes, s0.segmentBytes, 'a wholly free segment goes back to the system');
});

test("large blocks: a request no free block serves grows the arena's free last block by the shortfall only", () => {
  // A fresh process: free blocks left by other tests could serve these requests instead.
  const r = inChild<{ arena: boolean; grownMib: number; values: number[] }>(`
    const mib = 2 ** 20;
    const floats = (bytes, v) => torch.keep(torch.full([bytes / 4], v));
    const a = floats(8 * mib, 1);
    const b = floats(4 * mib, 2); // the arena's last block
    const before = torch.memory.stats().segmentBytes;
    b.dispose(); // free, at the end
    const c = floats(6 * mib, 3);
    const grownMib = (torch.memory.stats().segmentBytes - before) / mib;
    const values = torch.tidy(() => [a.min().item(), a.max().item(), c.min().item(), c.max().item()]);
    console.log(JSON.stringify({ arena: torch.memory.stats().arena, grownMib, values }));
  `);
  assert.equal(r.arena, true);
  assert.ok(r.grownMib > 1.9 && r.grownMib < 2.2, `grew by ${r.grownMib} MiB, not 6`);
  assert.deepEqual(r.values, [1, 1, 3, 3]);
});

test('allocator without the arena (address space refused: ulimit -v): segments one by one, the same results', () => {
  // The arena reserves 256 GiB of address space; under a 64 GiB limit the allocator takes segments
  // from posix_memalign instead. A child process under that limit runs the split/coalesce checks.
  const { arena, grew, back } = inChild<{ arena: boolean; grew: number; back: boolean }>(
    `
    const mib = 2 ** 20;
    const s0 = torch.memory.stats().segmentBytes;
    torch.tidy(() => { torch.zeros([4 * mib]); });
    const s1 = torch.memory.stats().segmentBytes;
    torch.tidy(() => { const parts = [0, 1, 2, 3].map(() => torch.full([0.875 * mib], 3)); if (torch.memory.stats().segmentBytes !== s1) throw new Error('a new segment'); return parts.map((p) => p.sum().item()); });
    torch.memory.emptyCache();
    const arena = torch.memory.stats().arena;
    console.log(JSON.stringify({ arena, grew: (s1 - s0) / mib, back: torch.memory.stats().segmentBytes === s0 }));
  `,
    { shell: 'ulimit -v 67108864' },
  );
  assert.equal(arena, false, 'the reservation was refused');
  assert.ok(grew >= 16 && grew < 16.1, `one 16 MiB segment (its header rounded up to 64 KiB): ${grew}`);
  assert.equal(back, true, 'a wholly free segment goes back to the system');
});

test('blocks from 64 KiB up share the arena: a freed 800 KiB block serves a 300 KiB and a 400 KiB request', () => {
  const kib = 2 ** 10;
  const floats = (bytes: number) => torch.zeros([bytes / 4]);
  memory.emptyCache();
  tidy(() => void floats(800 * kib));
  const s0 = memory.stats();
  tidy(() => {
    floats(300 * kib);
    floats(400 * kib);
    const s1 = memory.stats();
    assert.equal(s1.segmentBytes, s0.segmentBytes, 'no new memory');
    assert.equal(s1.misses, s0.misses, 'both served by the freed block (size buckets would have missed twice)');
  });
  memory.emptyCache();
});

test('allocator fuzz: random sizes allocated and freed in random order never overlap (each tensor keeps its own values)', () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const live: { t: Tensor; value: number }[] = [];
  for (let i = 0; i < 400; i++) {
    if (live.length && random() < 0.45) {
      const [gone] = live.splice(Math.floor(random() * live.length), 1);
      gone!.t.dispose();
      continue;
    }
    // Large blocks of many sizes (1 MiB up), mid-sized ones (64 KiB to 1 MiB: the arena too), some
    // small (buckets).
    const r = random();
    const floats =
      r < 0.5
        ? 2 ** 18 + Math.floor(random() * 2 ** 21)
        : r < 0.8
          ? 2 ** 14 + Math.floor(random() * 2 ** 18)
          : 1 + Math.floor(random() * 4000);
    live.push({ t: keep(torch.full([floats], i)), value: i });
  }
  for (const { t, value } of live) {
    assert.deepEqual(
      tidy(() => [t.min().item(), t.max().item()]),
      [value, value],
    );
    t.dispose();
  }
  memory.emptyCache();
});

test("trainStep frees the forward's intermediates before backward (autograd keeps what it needs)", () => {
  const n = 2 ** 20; // 4 MiB maps
  const x = keep(torch.rand([n]));
  const w = keep(torch.ones([1]).requiresGrad_());
  const opt = new torch.optim.SGD([w], { lr: 0 });
  const map = n * 4;
  // a = x·w is not needed by backward (exp keeps its output b): PyTorch frees it once b exists.
  const step = () => ({ logits: null, losses: { loss: x.mul(w).exp().sum() } });
  const batch = { images: x, views: [x], labels: x, indices: new Int32Array(0) };
  engine.trainStep(step, batch, { epoch: 0, epochs: 1, step: 0 }, opt);
  memory.resetPeak();
  const start = memory.stats().liveBytes;
  engine.trainStep(step, batch, { epoch: 0, epochs: 1, step: 1 }, opt);
  const peak = (memory.stats().peakLiveBytes - start) / map;
  // Backward holds b, the gradient of a and the product for w's gradient: 3 maps; a as well made 4.
  assert.ok(peak < 3.5, `peak ${peak.toFixed(2)} maps above the start`);
  x.dispose();
  w.dispose();
});

test('libtorch discovery: a missing install fails with one line saying how to get it; LIBTORCH=/path is used as given', () => {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'libtorch-config.cjs');
  const missing = spawnSync(process.execPath, [script, 'check'], {
    env: { ...process.env, LIBTORCH: '/nonexistent' },
    encoding: 'utf8',
  });
  assert.equal(missing.status, 1);
  assert.equal(
    missing.stderr.trim(),
    "distill-ts: libtorch not found in LIBTORCH=/nonexistent: install it with 'apt-get install libtorch-dev' or set LIBTORCH=/path/to/libtorch",
  );
  // A pytorch.org-style layout (include/, lib/) built from the system install by links.
  const root = mkdtempSync(path.join(tmpdir(), 'libtorch-'));
  symlinkSync('/usr/include', path.join(root, 'include'));
  symlinkSync('/usr/lib/x86_64-linux-gnu', path.join(root, 'lib'));
  const run = (what: string) =>
    spawnSync(process.execPath, [script, what], { env: { ...process.env, LIBTORCH: root }, encoding: 'utf8' });
  assert.equal(run('check').status, 0);
  assert.match(run('libs').stdout, new RegExp(`-L${root}/lib .*-ltorch -ltorch_cpu -lc10`));
  assert.match(run('includes').stdout, new RegExp(`${root}/include ${root}/include/torch/csrc/api/include`));
});

test('solver.optimizer dot: momenta within [0, 1], no clipping or Nesterov, a teacher method; the report names DOT and its delta', () => {
  const base = {
    name: 'dot',
    dataset: { name: 'synthetic', trainSubset: 64, testSubset: 32 },
    teacher: { model: 'resnet8', checkpoint: 'x.pt' },
    student: { model: 'resnet8' },
    method: { name: 'kd' },
    solver: { epochs: 1, batchSize: 32, lr: 0.05, optimizer: 'dot' },
  };
  const check = { checkTeacherCheckpoint: false };
  const ok = engine.validateConfig(base, 'dot', check);
  assert.equal(ok.solver.dot.delta, 0.075);
  const bad =
    (solver: Record<string, unknown>, method = 'kd') =>
    () =>
      engine.validateConfig({ ...base, method: { name: method }, solver: { ...base.solver, ...solver } }, 'dot', check);
  assert.throws(
    bad({ dot: { delta: 0.2 } }),
    /solver\.dot\.delta: DOT's momenta momentum ± delta \(0\.9 ± 0\.2\) must lie in \[0, 1\]/,
  );
  assert.throws(
    bad({ clipGradNorm: 1 }),
    /solver\.optimizer: DOT updates from two backward passes: it takes neither clipGradNorm nor nesterov/,
  );
  assert.throws(bad({}, 'pskd'), /'pskd' has no teacher: use sgd/);
  const report = engine.solverSummary(ok.solver);
  assert.match(report, /dot \(task momentum 0\.825, distillation momentum 0\.975\)/);
});

test("the strong view's augmentation: the config's, else for MLKD the weak view's plus RandAugment, else none", () => {
  const base = {
    name: 'strong',
    dataset: { name: 'synthetic', augment: { cropPadding: 2, hflip: true } },
    teacher: { model: 'resnet8', checkpoint: 'x.pt' },
    student: { model: 'resnet8' },
    method: { name: 'mlkd' },
    solver: { epochs: 1, batchSize: 32, lr: 0.05 },
  };
  const check = { checkTeacherCheckpoint: false };
  const mlkd = engine.validateConfig(base, 'strong', check);
  assert.deepEqual(engine.strongAugmentOf(mlkd), {
    cropPadding: 2,
    hflip: true,
    randAugment: { numOps: 2, magnitude: 9, numMagnitudeBins: 31 },
  });
  const kd = engine.validateConfig({ ...base, method: { name: 'kd' } }, 'strong', check);
  assert.equal(engine.strongAugmentOf(kd), null);
  const own = engine.validateConfig(
    { ...base, dataset: { ...base.dataset, strongAugment: { autoAugment: 'cifar10' } } },
    'strong',
    check,
  );
  assert.deepEqual(engine.strongAugmentOf(own), { autoAugment: 'cifar10' });
  assert.throws(
    () =>
      engine.validateConfig(
        { ...base, dataset: { ...base.dataset, augment: { randAugment: { magnitude: 31 } } } },
        'strong',
        check,
      ),
    /dataset\.augment\.randAugment: magnitude must be below numMagnitudeBins/,
  );
  assert.throws(
    () => engine.validateConfig({ ...base, dataset: { ...base.dataset, augment: { autoAugment: 'mnist' } } }, 'strong', check),
    /dataset\.augment\.autoAugment/,
  );
});
