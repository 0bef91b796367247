// Data-parallel training on c10d: PyTorch's own DDP reproduced, SyncBatchNorm equal to one process
// on the global batch, the loader's shards, the rendezvous errors, and the launcher end to end
// (KD and DLB on two workers, two "machines" on localhost, a killed worker with and without restarts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { data, load, save, tensor, type Tensor } from '../src/index.js';
import { scaledSolver } from '../src/engine/experiment.js';
import { configFromObject } from '../src/engine/plugins.js';
import { cliPath, readFixture, repoRoot } from './helpers.js';

const worker = path.join(repoRoot, 'dist', 'test', 'distributed-worker.js');
const dir = mkdtempSync(path.join(tmpdir(), 'distill-dist-'));

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Exit {
  code: number | null;
  out: string;
  err: string;
}

function run(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Exit>((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

/** Starts `args` as ranks 0..world-1 with torchrun's variables; their exits. */
async function ranks(world: number, args: string[], extra: Record<string, string> = {}): Promise<Exit[]> {
  const port = String(await freePort());
  const env = (r: number) => ({
    RANK: String(r),
    WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: port,
    ...extra,
  });
  return Promise.all(Array.from({ length: world }, (_, r) => run(args, env(r)).done));
}

const relErr = (a: number, b: number, floor = 0) => Math.abs(a - b) / Math.max(Math.abs(b), floor);

test("DistributedDataParallel equals PyTorch's DDP (gloo, 2 processes, BatchNorm, SGD with momentum): every loss and the final weights of both ranks", async () => {
  const fx = readFixture<{
    losses: number[][];
    final: Record<string, { data: number[] }>;
    finalRank1: Record<string, { data: number[] }>;
  }>('ddp.json');
  const outs = [0, 1].map((r) => path.join(dir, `ddp-${r}.json`));
  const port = String(await freePort());
  const exits = await Promise.all(
    [0, 1].map(
      (r) =>
        run([worker, 'ddp-fixture', outs[r]!], { RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port })
          .done,
    ),
  );
  for (const e of exits) assert.equal(e.code, 0, e.err);
  let worstLoss = 0;
  let worstWeight = 0;
  for (const r of [0, 1]) {
    const got = JSON.parse(readFileSync(outs[r]!, 'utf8')) as { losses: number[]; state: Record<string, number[]> };
    got.losses.forEach((l, s) => (worstLoss = Math.max(worstLoss, relErr(l, fx.losses[r]![s]!))));
    // After the last step each rank keeps its own BatchNorm statistics (broadcast happens before a forward).
    const expected = r === 0 ? fx.final : fx.finalRank1;
    for (const [k, e] of Object.entries(expected))
      e.data.forEach((v, i) => (worstWeight = Math.max(worstWeight, relErr(got.state[k]![i]!, v, 1e-3))));
  }
  console.log(
    `DDP vs PyTorch DDP: worst loss rel. error ${worstLoss.toExponential(1)}, worst weight ${worstWeight.toExponential(1)}`,
  );
  assert.ok(worstLoss <= 1e-5 && worstWeight <= 1e-5, `loss ${worstLoss}, weights ${worstWeight}`);
});

test('SyncBatchNorm on 2 processes (global batch 64 from the loader shards) equals one process with batch 64: 20 losses and the final weights, float64', async () => {
  const one = path.join(dir, 'sync-1.json');
  const two = path.join(dir, 'sync-2.json');
  const single = await run([worker, 'syncbn', one]).done;
  assert.equal(single.code, 0, single.err);
  for (const e of await ranks(2, [worker, 'syncbn', two])) assert.equal(e.code, 0, e.err);
  const a = JSON.parse(readFileSync(one, 'utf8')) as { losses: number[]; state: Record<string, number[]> };
  const b = JSON.parse(readFileSync(two, 'utf8')) as typeof a;
  assert.equal(a.losses.length, 20);
  const worstLoss = Math.max(...a.losses.map((l, i) => relErr(b.losses[i]!, l)));
  let worstWeight = 0;
  for (const [k, v] of Object.entries(a.state))
    v.forEach((x, i) => (worstWeight = Math.max(worstWeight, relErr(b.state[k]![i]!, x, 1e-3))));
  console.log(
    `SyncBatchNorm, 2 processes vs 1: worst loss rel. error ${worstLoss.toExponential(1)}, worst weight ${worstWeight.toExponential(1)}`,
  );
  assert.ok(worstLoss <= 1e-9, `loss ${worstLoss}`);
  assert.ok(worstWeight <= 1e-9, `weights ${worstWeight}`);
});

test('a parameter some ranks use is averaged over all ranks; one no rank uses keeps no gradient (find_unused_parameters)', async () => {
  const outs = [0, 1].map((r) => path.join(dir, `unused-${r}.json`));
  const port = String(await freePort());
  const exits = await Promise.all(
    [0, 1].map(
      (r) =>
        run([worker, 'unused', outs[r]!], { RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port }).done,
    ),
  );
  for (const e of exits) assert.equal(e.code, 0, e.err);
  for (const out of outs) {
    const { got, expected } = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, number[] | null>>;
    for (const k of ['c.0', 'c.1']) assert.equal(got[k], null, `${k}: no rank used it`);
    for (const k of ['a.0', 'a.1', 'b.0', 'b.1']) {
      assert.ok(got[k] && expected[k], k);
      got[k]!.forEach((v, i) => assert.ok(relErr(v, expected[k]![i]!, 1e-6) < 1e-5, `${k}[${i}]: ${v} vs ${expected[k]![i]}`));
    }
  }
});

test("after every epoch each rank holds rank 0's network, BatchNorm statistics included: sharded evaluation scores the network rank 0 saves", async () => {
  const outs = [0, 1].map((r) => path.join(dir, `trainer-${r}.json`));
  const port = String(await freePort());
  const exits = await Promise.all(
    [0, 1].map(
      (r) =>
        run([worker, 'trainer', outs[r]!], { RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port })
          .done,
    ),
  );
  for (const e of exits) assert.equal(e.code, 0, e.err);
  const [a, b] = outs.map((o) => JSON.parse(readFileSync(o, 'utf8')) as { top1: number[]; state: Record<string, number[]> });
  assert.deepEqual(b!.top1, a!.top1);
  assert.deepEqual(b!.state, a!.state);
});

test("the loader's shards of W processes together are exactly one process's batches (indices, images, class partners)", () => {
  const ds = data.syntheticDataset({ length: 96, seed: 3, size: 8 });
  for (const classPairs of [false, true]) {
    const opts = { batchSize: 12, shuffle: true, dropLast: true, seed: 9, augment: { cropPadding: 2, hflip: true }, classPairs };
    const whole = [...new data.DataLoader(ds, opts).epochSync(1)];
    for (const world of [2, 3]) {
      const shards = Array.from({ length: world }, (_, rank) => [
        ...new data.DataLoader(ds, { ...opts, shard: { rank, worldSize: world } }).epochSync(1),
      ]);
      assert.ok(
        shards.every((s) => s.length === whole.length),
        'every rank has as many batches as one process',
      );
      whole.forEach((batch, b) => {
        const per = ds.channels * ds.height * ds.width;
        const img = batch.images.toArray() as Float32Array;
        const half = batch.indices.length / (classPairs ? 2 : 1);
        for (let rank = 0; rank < world; rank++) {
          const mine = shards[rank]![b]!;
          const mineImg = mine.images.toArray() as Float32Array;
          const n = mine.indices.length / (classPairs ? 2 : 1);
          for (let k = 0; k < n; k++) {
            const pos = rank + k * world;
            assert.equal(mine.indices[k], batch.indices[pos]);
            assert.deepEqual(mineImg.subarray(k * per, (k + 1) * per), img.subarray(pos * per, (pos + 1) * per));
            if (classPairs) {
              assert.equal(mine.indices[n + k], batch.indices[half + pos], 'the partner of the same anchor');
              assert.deepEqual(
                mineImg.subarray((n + k) * per, (n + k + 1) * per),
                img.subarray((half + pos) * per, (half + pos + 1) * per),
              );
            }
          }
        }
      });
      for (const s of shards) for (const b of s) b.dispose();
    }
    for (const b of whole) b.dispose();
  }
  assert.throws(
    () => new data.DataLoader(ds, { batchSize: 10, shard: { rank: 0, worldSize: 3 } }),
    /does not split evenly across 3/,
  );
});

test('rendezvous errors name the cause within the timeout: world size mismatch, port in use, unreachable master, a rank taken twice', async (t) => {
  const script = path.join(dir, 'join.mjs');
  writeFileSync(
    script,
    `import { distributed } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'index.js'))};\n` +
      `try { distributed.initFromEnv({ timeoutMs: 3000 })?.destroy(); console.log('joined'); } catch (e) { console.log(e.message); process.exit(3); }\n`,
  );
  const port = String(await freePort());
  const base = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port };
  let t0 = Date.now();
  const [r0, r1] = await Promise.all([
    run([script], { ...base, RANK: '0', WORLD_SIZE: '2' }).done,
    run([script], { ...base, RANK: '1', WORLD_SIZE: '3' }).done,
  ]);
  const mismatchMs = Date.now() - t0;
  for (const e of [r0, r1]) assert.match(e.out, /rank 1 has WORLD_SIZE=3 but rank 0 has 2/);
  const busy = createServer();
  const busyPort = await new Promise<number>((resolve) =>
    busy.listen(0, '0.0.0.0', () => resolve((busy.address() as { port: number }).port)),
  );
  t0 = Date.now();
  const inUse = await run([script], { ...base, MASTER_PORT: String(busyPort), RANK: '0', WORLD_SIZE: '2' }).done;
  const inUseMs = Date.now() - t0;
  busy.close();
  assert.match(inUse.out, /the port is in use; choose another --master-port/);
  const lonelyPort = String(await freePort());
  t0 = Date.now();
  const lonely = await run([script], { ...base, MASTER_PORT: lonelyPort, RANK: '1', WORLD_SIZE: '2' }).done;
  const lonelyMs = Date.now() - t0;
  assert.match(lonely.out, /could not reach the master at 127\.0\.0\.1:\d+ within 3 s/);
  assert.ok(lonelyMs < 15_000);
  const outside = await run([script], { ...base, RANK: '2', WORLD_SIZE: '2' }).done;
  assert.match(outside.out, /RANK 2 is outside the world of 2 processes/);
  const dup = { ...base, MASTER_PORT: String(await freePort()), WORLD_SIZE: '3' };
  const twice = await Promise.all(['0', '1', '1'].map((rank) => run([script], { ...dup, RANK: rank }).done));
  assert.equal(twice.filter((e) => /two processes have RANK=1; each worker needs its own rank/.test(e.out)).length, 2);
  t.diagnostic(
    `mismatch reported after ${mismatchMs} ms, port in use after ${inUseMs} ms, unreachable master after ${lonelyMs} ms (timeout 3 s)`,
  );
});

// ---- The launcher end to end on the synthetic data set ----

const config = (name: string, method: string, runtime = 'runtime: { workers: 0 }') => {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
dataset: { name: synthetic, trainSubset: 384, testSubset: 96, augment: { cropPadding: 2, hflip: true } }
student: { model: resnet8 }
${method}
solver: { epochs: 3, batchSize: 32, lr: 0.05, schedule: { type: cosine } }
${runtime}
output: ${dir}/runs
`,
  );
  return file;
};

let teacherCkpt: string | null = null;
function teacher(): string {
  if (teacherCkpt) return teacherCkpt;
  const file = config('teacher', 'method: { name: none }');
  const r = spawnSync(process.execPath, [cliPath, 'train', file, '--threads', '2', '--set', 'solver.epochs=1'], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return (teacherCkpt = path.join(dir, 'runs', 'teacher', 'student.pt'));
}

const launched = (file: string, flags: string[], port: number, set: string[] = []) =>
  run([
    cliPath,
    'run',
    file,
    '--nproc-per-node',
    '2',
    '--master-port',
    String(port),
    '--timeout',
    '30',
    ...flags,
    ...set.flatMap((s) => ['--set', s]),
  ]);

const result = (name: string) =>
  JSON.parse(readFileSync(path.join(dir, 'runs', name, 'result.json'), 'utf8')) as {
    worldSize: number;
    globalBatch: number;
    bestTop1: number;
    lastTop1: number;
    history: { top1: number | null; losses: Record<string, number> }[];
  };

const epochEvents = (name: string) =>
  readFileSync(path.join(dir, 'runs', name, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"event":"epoch"')).length;

test('KD, DLB and PS-KD through --nproc-per-node 2 with SyncBatchNorm follow one process on the global batch; rank 0 alone writes the result, the log and the summary', async () => {
  const t = teacher();
  for (const [name, method] of [
    ['kd', `method: { name: kd }\nteacher: { model: resnet8, checkpoint: ${t} }\nlogging: { tensorboard: true }`],
    ['dlb', 'method: { name: dlb }'],
    // Each rank writes the predictions of the whole global batch into its memory (ctx.gather).
    ['pskd', 'method: { name: pskd }'],
  ] as const) {
    const file = config(`${name}-two`, method, 'runtime: { workers: 0, syncBatchNorm: true }');
    const r = await launched(file, [], await freePort(), ['solver.epochs=2']).done;
    assert.equal(r.code, 0, r.err);
    const one = spawnSync(
      process.execPath,
      [cliPath, 'run', file, '--threads', '2', '--set', `name=${name}-one`, '--set', 'solver.epochs=2'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    assert.equal(one.status, 0, one.stderr);
    const [a, b] = [result(`${name}-one`), result(`${name}-two`)];
    assert.equal(b.worldSize, 2);
    assert.equal(b.globalBatch, 32);
    assert.equal(a.worldSize, 1);
    assert.equal(b.history.length, 2);
    let worst = 0;
    a.history.forEach((h, e) => {
      // Relative to the total: a small term (DLB's KL of two near-equal predictions) drifts more in relative terms.
      for (const [k, v] of Object.entries(h.losses))
        worst = Math.max(worst, Math.abs(b.history[e]!.losses[k]! - v) / h.losses.total!);
    });
    console.log(
      `${name}: 2 processes with SyncBatchNorm vs 1, worst epoch-loss difference ${worst.toExponential(1)} of the total (float32)`,
    );
    assert.ok(worst < 1e-3, `${name}: ${worst}`);
    assert.equal(epochEvents(`${name}-two`), 2, 'only rank 0 logs');
    assert.match(
      readFileSync(path.join(dir, 'runs', `${name}-two`, 'report.md'), 'utf8'),
      /\| processes \| 2 \(data parallel\), global batch 32 \|/,
    );
    assert.equal((r.out.match(/best top-1/g) ?? []).length, 1, 'one summary line, from rank 0');
    if (name === 'kd')
      assert.equal(readdirSync(path.join(dir, 'runs', 'kd-two')).filter((f) => f.startsWith('events.out.tfevents')).length, 1);
  }
});

test('preparation stages (FT, AB), memories (CRD) and DOT run data-parallel', async () => {
  const t = teacher();
  for (const method of ['ft', 'ab', 'crd', 'kd']) {
    const name = `${method}-smoke`;
    const file = config(
      name,
      `method: { name: ${method} }\nteacher: { model: resnet8, checkpoint: ${t} }\nstages: { paraphraser: { epochs: 1 }, ab-init: { epochs: 1 } }`,
      'runtime: { workers: 0, maxStepsPerEpoch: 3 }',
    );
    const set = ['solver.epochs=1', ...(method === 'kd' ? ['solver.optimizer=dot'] : [])];
    const r = await launched(file, [], await freePort(), set).done;
    assert.equal(r.code, 0, `${method}: ${r.err}`);
    const res = result(name);
    assert.equal(res.worldSize, 2, method);
    assert.ok(
      res.history.every((h) => Object.values(h.losses).every(Number.isFinite)),
      method,
    );
  }
});

test('two "machines" on localhost (two launchers, --nnodes 2) train one run together', async () => {
  const file = config('nodes2', 'method: { name: none }', 'runtime: { workers: 0, syncBatchNorm: true }');
  const port = await freePort();
  const common = ['--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', String(port), '--timeout', '30'];
  const [a, b] = await Promise.all(
    ['0', '1'].map(
      (rank) =>
        run([cliPath, 'run', file, '--nproc-per-node', '1', '--node-rank', rank, ...common, '--set', 'solver.epochs=1']).done,
    ),
  );
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  assert.equal(result('nodes2').worldSize, 2);
});

test("workers started by an external launcher (torchrun's variables, no flag) join and train; when one dies, the other stops on its own", async () => {
  const file = config('external', 'method: { name: none }', 'runtime: { workers: 0 }');
  const exits = await ranks(2, [cliPath, 'run', file, '--set', 'solver.epochs=1'], { DISTILL_DIST_TIMEOUT_S: '20' });
  for (const e of exits) assert.equal(e.code, 0, e.err);
  assert.equal(result('external').worldSize, 2);

  const port = String(await freePort());
  const env = (r: number) => ({
    RANK: String(r),
    WORLD_SIZE: '2',
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: port,
    DISTILL_DIST_TIMEOUT_S: '20',
  });
  const args = [cliPath, 'run', config('orphan', 'method: { name: none }'), '--set', 'solver.epochs=20'];
  const [r0, r1] = [run(args, env(0)), run(args, env(1))];
  const log = path.join(dir, 'runs', 'orphan', 'log.jsonl');
  for (let i = 0; i < 600 && !(existsSync(log) && readFileSync(log, 'utf8').includes('"event":"epoch"')); i++)
    await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  r1.child.kill('SIGKILL');
  const e0 = await r0.done;
  await r1.done;
  assert.notEqual(e0.code, 0);
  assert.match(e0.err, /distill: .*(Connection|closed|reset|peer|timed out|Timeout)/i);
  assert.ok(Date.now() - t0 < 20_000, `rank 0 stopped after ${Date.now() - t0} ms`);
});

/** The pid of the worker with RANK=r among the launcher's children. */
function workerPid(launcher: number, rank: number): number | null {
  const children = spawnSync('pgrep', ['-P', String(launcher)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);
  for (const pid of children) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RANK=${rank}`)) return Number(pid);
    } catch {
      // exited meanwhile
    }
  }
  return null;
}

async function killRankAfterFirstEpoch(child: ChildProcess, name: string, rank: number): Promise<void> {
  const log = path.join(dir, 'runs', name, 'log.jsonl');
  for (let i = 0; i < 600; i++) {
    if (existsSync(log) && readFileSync(log, 'utf8').includes('"event":"epoch"')) {
      const pid = workerPid(child.pid!, rank);
      if (pid) {
        process.kill(pid, 'SIGKILL');
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the run never finished its first epoch');
}

test('a worker killed mid-run: the launcher stops the group and exits non-zero naming the rank; with --max-restarts 1 the run ends as an uninterrupted one (KD, and DLB whose carried batch is per rank)', async () => {
  const t = teacher();
  const longer = ['solver.epochs=3'];
  const killed = launched(
    config('kd-killed', `method: { name: kd }\nteacher: { model: resnet8, checkpoint: ${t} }`),
    [],
    await freePort(),
    longer,
  );
  const t0 = Date.now();
  await killRankAfterFirstEpoch(killed.child, 'kd-killed', 1);
  const k = await killed.done;
  assert.notEqual(k.code, 0);
  assert.match(k.err, /rank 1 \(pid \d+\) was killed by SIGKILL/);
  assert.ok(Date.now() - t0 < 30_000, 'the group stops well within the timeout');

  for (const [name, method] of [
    ['kd', `method: { name: kd }\nteacher: { model: resnet8, checkpoint: ${t} }`],
    ['dlb', 'method: { name: dlb }'],
  ] as const) {
    const clean = await launched(config(`${name}-clean`, method), [], await freePort(), longer).done;
    assert.equal(clean.code, 0, clean.err);
    const restarted = launched(config(`${name}-restarted`, method), ['--max-restarts', '1'], await freePort(), longer);
    await killRankAfterFirstEpoch(restarted.child, `${name}-restarted`, 1);
    const r = await restarted.done;
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /restarting the group from the last checkpoint \(restart 1 of 1\)/);
    const [a, b] = [result(`${name}-clean`), result(`${name}-restarted`)];
    assert.equal(b.history.length, 3);
    assert.deepEqual(
      b.history.map((h) => h.top1),
      a.history.map((h) => h.top1),
      name,
    );
    assert.deepEqual(b.history.at(-1)!.losses, a.history.at(-1)!.losses, name);
    assert.equal(b.lastTop1, a.lastTop1);
    assert.ok(readdirSync(path.join(dir, 'runs', `${name}-restarted`)).includes('student.pt'));
  }

  // A crafted per-rank entry in latest.pt: bad input naming the file, never silently used.
  const latest = path.join(dir, 'runs', 'dlb-restarted', 'latest.pt');
  const ck = load(latest) as Record<string, unknown>;
  assert.equal((ck.ranks as Tensor[]).length, 1);
  ck.ranks = [
    tensor(
      Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256),
      [64],
      { dtype: 'uint8' },
    ),
  ];
  save(ck as never, latest);
  const crafted = await launched(config('dlb-restarted', 'method: { name: dlb }'), ['--resume'], await freePort(), [
    'solver.epochs=4',
  ]).done;
  assert.equal(crafted.code, 2, crafted.err);
  assert.match(crafted.err, /latest\.pt: the saved state of rank 1 is unusable/);
});

test('a global batch that does not split across the workers is bad input (exit 2), never restarted; lrScaling linear scales lr by batchSize / lrReferenceBatch', async () => {
  const r = await launched(config('odd', 'method: { name: none }'), ['--max-restarts', '2'], await freePort(), []).done;
  assert.equal(r.code, 0, r.err);
  const three = await run([
    cliPath,
    'run',
    config('odd3', 'method: { name: none }'),
    '--nproc-per-node',
    '3',
    '--max-restarts',
    '2',
    '--master-port',
    String(await freePort()),
    '--timeout',
    '30',
  ]).done;
  assert.equal(three.code, 2);
  assert.match(
    three.err,
    /solver\.batchSize 32 is the global batch and must split evenly across the 3 processes; choose a multiple of 3/,
  );
  assert.doesNotMatch(three.err, /restarting/);
  const raw = { name: 'lr', dataset: { name: 'synthetic' }, student: { model: 'resnet8' } };
  const solver = { epochs: 1, batchSize: 512, lr: 0.1, lrScaling: 'linear' };
  const c = await configFromObject({ ...raw, solver: { ...solver, lrReferenceBatch: 128 } }, 'lr.yaml');
  assert.equal(scaledSolver(c.solver).lr, 0.4);
  assert.equal(scaledSolver({ ...c.solver, lrScaling: 'none' }).lr, 0.1);
  await assert.rejects(configFromObject({ ...raw, solver }, 'lr.yaml'), /solver\.lrReferenceBatch: lrScaling linear scales lr/);
});

test("the launch environment: torchrun's variables, Slurm's, and bad values named", async () => {
  const { distributed } = await import('../src/index.js');
  assert.equal(distributed.launchEnv({}), null);
  assert.deepEqual(
    distributed.launchEnv({
      RANK: '3',
      WORLD_SIZE: '4',
      LOCAL_RANK: '1',
      LOCAL_WORLD_SIZE: '2',
      MASTER_ADDR: 'h',
      MASTER_PORT: '1234',
    }),
    {
      rank: 3,
      worldSize: 4,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'h',
      masterPort: 1234,
    },
  );
  assert.deepEqual(
    distributed.launchEnv({
      SLURM_PROCID: '5',
      SLURM_NTASKS: '8',
      SLURM_LOCALID: '1',
      SLURM_NTASKS_PER_NODE: '4(x2)',
      MASTER_ADDR: 'node0',
    }),
    { rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'node0', masterPort: 29500 },
  );
  assert.throws(
    () => distributed.launchEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '2' }),
    /without MASTER_ADDR; export MASTER_ADDR=/,
  );
  assert.throws(() => distributed.launchEnv({ RANK: 'x', WORLD_SIZE: '2' }), /RANK=x is not a non-negative integer/);
  assert.throws(() => distributed.launchEnv({ RANK: '0' }), /WORLD_SIZE is not set/);
});

test('wrong arguments to every native distributed function throw JS errors; the process lives (a world of one)', async () => {
  const script = path.join(dir, 'fuzz-dist.mjs');
  writeFileSync(
    script,
    `import * as D from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'index.js'))};
const port = Number(process.argv[2]);
const g = D.distributed.initProcessGroup({ masterAddr: '127.0.0.1', masterPort: port, rank: 0, worldSize: 1, timeoutMs: 5000 });
const a = D.distributed.addon();
const values = [undefined, null, 0, -1, 1e12, 'x', {}, [], [1], D.zeros([2]), D.zeros([2], { dtype: 'bool' }), g.handle, () => 1, NaN];
const fns = Object.keys(a).filter((k) => !['initProcessGroup', 'destroyProcessGroup', 'reducerDispose'].includes(k));
let calls = 0, errors = 0;
for (let i = 0; i < 3000; i++) {
  const args = Array.from({ length: 4 }, (_, j) => values[(i * 7 + j * 13 + Math.floor(i / fns.length)) % values.length]);
  calls++;
  try { a[fns[i % fns.length]](...args); } catch (e) { if (!(e instanceof Error)) throw new Error('a non-Error was thrown'); errors++; }
}
for (const bad of [[1, 2], ['gloo', 5, 1, 0, 1, 1000], ['gloo', 'h', 'p', 0, 1, 1000], ['mpi', '127.0.0.1', port + 1, 0, 1, 1000]]) {
  calls++;
  try { a.initProcessGroup(...bad); } catch (e) { errors++; }
}
g.destroy();
let destroyed = '';
try { g.allReduce(D.zeros([1])); } catch (e) { destroyed = e.message; }
console.log(JSON.stringify({ calls, errors, destroyed }));
`,
  );
  const r = await run([script, String(await freePort())]).done;
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out.trim().split('\n').at(-1)!) as { calls: number; errors: number; destroyed: string };
  assert.ok(out.errors > out.calls / 2, `${out.errors} errors of ${out.calls} calls`);
  assert.match(out.destroyed, /the process group was destroyed/);
});
