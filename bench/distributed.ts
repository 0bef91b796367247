// Data-parallel scaling on one machine: the KD step (teacher resnet32x4 under no-grad, student
// resnet8x4, CE + KD, SGD with momentum and weight decay, global batch 64 at 32x32, CIFAR-100
// shapes) in one process with 2 threads against 2 processes with 1 thread each (Gloo over
// loopback, gradients reduced in buckets during backward, BatchNorm statistics broadcast every
// step as the trainer does). Rounds alternate between the two settings; the best round of each
// is reported, with the communication per step (first bucket launched to last reduced) and the
// part of it backward waited for after its own computation (not overlapped).
// Communication per step: the buckets' allreduce times summed, launch to result (this includes
// waiting for the other rank to reach the same bucket).
// Usage: npm run bench:distributed [-- --steps 12 --rounds 2]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { createDistiller, createZooModel, distributed, engine, optim, tidy } from '../src/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg('steps', '12'));
const rounds = Number(arg('rounds', '2'));
const GLOBAL_BATCH = 64;
const WARMUP = 3;

interface Measure {
  imgPerSec: number;
  commMsPerStep: number;
  waitMsPerStep: number;
  buckets: number;
}

/** One worker: the KD step on its share of the global batch; rank 0 prints its measurement. */
function worker(): void {
  const group = distributed.initFromEnv({ timeoutMs: 120_000 });
  const world = group?.worldSize ?? 1;
  torch.setNumThreads(Number(arg('threads', '1')));
  torch.manualSeed(0);
  const shape = { numClasses: 100 };
  const teacher = createZooModel('resnet32x4', shape).eval();
  const student = createZooModel('resnet8x4', shape);
  const kd = createDistiller('kd', student, teacher, {}, { inputShape: [3, 32, 32] });
  const params = kd.learnableParameters();
  const opt = new optim.SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const reducer = group ? new distributed.GradientReducer(params, group) : null;
  if (group) distributed.broadcastState(kd, group);
  const local = GLOBAL_BATCH / world;
  const images = torch.randn(local, 3, 32, 32).keep();
  const labels = torch.randint(0, 100, [local]).keep();
  const batch = {
    images,
    views: [images],
    labels,
    indices: Int32Array.from({ length: local }, (_, i) => i),
    index: 0,
    dispose() {},
  };
  const statistics = group
    ? [...student.modules()].filter((m) => m instanceof torch.nn.BatchNorm2d).flatMap((m) => m.buffers())
    : [];
  kd.train();
  const step = (i: number) => {
    if (group) tidy(() => torch.noGrad(() => group.broadcast(statistics, 0)));
    engine.trainStep(kd, batch, { epoch: 0, epochs: 1, step: i }, opt);
  };
  for (let i = 0; i < WARMUP; i++) step(i);
  const before = reducer?.stats;
  const start = performance.now();
  for (let i = 0; i < steps; i++) step(WARMUP + i);
  const seconds = (performance.now() - start) / 1000;
  const after = reducer?.stats;
  const perStep = (a?: number, b?: number) => (a === undefined || b === undefined ? 0 : ((b - a) / steps) * 1000);
  const m: Measure = {
    imgPerSec: (GLOBAL_BATCH * steps) / seconds,
    commMsPerStep: perStep(before?.totalCommSeconds, after?.totalCommSeconds),
    waitMsPerStep: perStep(before?.totalWaitSeconds, after?.totalWaitSeconds),
    buckets: after?.bucketElements.length ?? 0,
  };
  if (!group || group.rank === 0) console.log(`RESULT ${JSON.stringify(m)}`);
  reducer?.dispose();
  group?.destroy();
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function launch(world: number, threads: number): Promise<Measure> {
  const port = String(await freePort());
  const script = fileURLToPath(import.meta.url);
  const outs = await Promise.all(
    Array.from({ length: world }, (_, rank) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: port,
      };
      if (world === 1) for (const k of ['RANK', 'WORLD_SIZE']) delete env[k];
      const child = spawn(process.execPath, [script, '--worker', '--threads', String(threads), '--steps', String(steps)], {
        env,
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      return new Promise<string>((resolve, reject) =>
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker ${rank} failed: ${err}`)))),
      );
    }),
  );
  const line = outs
    .join('\n')
    .split('\n')
    .find((l) => l.startsWith('RESULT '));
  return JSON.parse(line!.slice('RESULT '.length)) as Measure;
}

async function main(): Promise<void> {
  const best: Record<string, Measure> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [label, world, threads] of [
      ['1 process x 2 threads', 1, 2],
      ['2 processes x 1 thread', 2, 1],
    ] as const) {
      const m = await launch(world, threads);
      console.log(`round ${r + 1}, ${label}: ${m.imgPerSec.toFixed(1)} img/s`);
      if (!best[label] || m.imgPerSec > best[label]!.imgPerSec) best[label] = m;
    }
  }
  const single = best['1 process x 2 threads']!;
  console.log(
    `\nKD resnet32x4 -> resnet8x4, global batch ${GLOBAL_BATCH}, 32x32, ${steps} steps after ${WARMUP} warm-up, best of ${rounds} rounds`,
  );
  console.log('| setting | img/s | vs 1 process | communication per step | of it not overlapped | buckets |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, m] of Object.entries(best))
    console.log(
      `| ${label} | ${m.imgPerSec.toFixed(1)} | ${(m.imgPerSec / single.imgPerSec).toFixed(2)}x | ${m.buckets ? `${m.commMsPerStep.toFixed(1)} ms` : '-'} | ${m.buckets ? `${m.waitMsPerStep.toFixed(1)} ms` : '-'} | ${m.buckets || '-'} |`,
    );
}

if (process.argv.includes('--worker')) worker();
else await main();
