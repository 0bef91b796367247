// A worker of test/distributed.test.ts, started with RANK/WORLD_SIZE/MASTER_* set (or alone):
//   ddp-fixture OUT     PyTorch's DDP reference (test/fixtures/ddp.json) replayed on DistributedDataParallel
//   syncbn OUT          20 float64 SGD steps of resnet8 with SyncBatchNorm on the loader's shards
// It writes its losses and final weights as JSON to OUT (rank 0 only, other ranks check themselves).
import { writeFileSync } from 'node:fs';
import * as torch from '../src/index.js';
import { F, createDistiller, createZooModel, data, distributed, engine, nn, optim, tidy, type Tensor } from '../src/index.js';
import { readFixture, decode, type Encoded } from './helpers.js';

interface DdpFixture {
  steps: number;
  classes: number;
  sgd: { lr: number; momentum: number; weightDecay: number };
  initial: Record<string, Encoded>;
  inputs: Encoded;
  labels: Encoded;
}

const stateValues = (m: torch.Module): Record<string, number[]> =>
  Object.fromEntries(
    Object.entries(m.stateDict()).map(([k, v]) => [k, Array.from(v.dataSync() as ArrayLike<number | bigint>, Number)]),
  );

function ddpFixture(out: string): void {
  const group = distributed.initFromEnv({ timeoutMs: 60_000 })!;
  const fx = readFixture<DdpFixture>('ddp.json');
  torch.manualSeed(100 + group.rank);
  const model = new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1, bias: false }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.Conv2d(8, 16, 3, { stride: 2, padding: 1, bias: false }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(16, fx.classes),
  );
  // Rank 0 holds PyTorch's rank-0 weights; rank 1 keeps its own random ones (DDP broadcasts rank 0's).
  if (group.rank === 0)
    tidy(() => model.loadStateDict(Object.fromEntries(Object.entries(fx.initial).map(([k, e]) => [k, decode(e)]))));
  const ddp = new distributed.DistributedDataParallel(model);
  const opt = new optim.SGD(model.parameters(), fx.sgd);
  const xs = decode(fx.inputs);
  const ys = decode(fx.labels);
  const idx = torch.arange(group.rank, xs.shape[1]!, group.worldSize);
  const losses: number[] = [];
  for (let s = 0; s < fx.steps; s++) {
    tidy(() => {
      const x = xs.select(0, s).indexSelect(0, idx);
      const y = ys.select(0, s).indexSelect(0, idx);
      const loss = F.crossEntropy(ddp.forward(x) as Tensor, y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  writeFileSync(out, JSON.stringify({ rank: group.rank, losses, state: stateValues(model), stats: ddp.stats }));
  group.destroy();
}

function syncBn(out: string): void {
  const group = distributed.initFromEnv({ timeoutMs: 60_000 });
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  torch.setNumThreads(1);
  torch.manualSeed(3);
  const ds = data.syntheticDataset({ length: 64 * 20, seed: 5, size: 16 });
  const model = createZooModel('resnet8', { numClasses: ds.numClasses, inChannels: ds.channels }).to('float64');
  if (group) {
    distributed.convertSyncBatchNorm(model, group);
    new distributed.DistributedDataParallel(model, { group });
  }
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const loader = new data.DataLoader(ds, {
    batchSize: 64,
    shuffle: true,
    dropLast: true,
    seed: 11,
    augment: { cropPadding: 4, hflip: true },
    shard: { rank, worldSize: world },
  });
  const losses: number[] = [];
  for (const batch of loader.epochSync(0)) {
    tidy(() => {
      const logits = model.forward(batch.images.to('float64')).logits;
      const loss = F.crossEntropy(logits, batch.labels);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      // The global batch's loss: the mean of the ranks' means (equal halves).
      const global = loss.detach().clone();
      group?.allReduce(global);
      losses.push(global.item() / world);
    });
    batch.dispose();
  }
  if (rank === 0) writeFileSync(out, JSON.stringify({ losses, state: stateValues(model) }));
  group?.destroy();
}

/**
 * find_unused_parameters semantics: `a` is used by both ranks, `b` by rank 0 only, `c` by none.
 * Every rank also computes the expected gradients itself on a plain copy, from both ranks' data:
 * the mean of the two ranks' losses.
 */
function unused(out: string): void {
  const group = distributed.initFromEnv({ timeoutMs: 60_000 })!;
  torch.manualSeed(5);
  const make = () => ({ a: new nn.Linear(3, 2), b: new nn.Linear(3, 2), c: new nn.Linear(3, 2) });
  const net = make();
  const ref = make();
  for (const k of ['a', 'b', 'c'] as const) tidy(() => ref[k].loadStateDict(net[k].stateDict()));
  const holder = new nn.ModuleDict(net);
  new distributed.DistributedDataParallel(holder, { group });
  const xs = [0, 1].map((r) => {
    torch.manualSeed(10 + r);
    return torch.randn(4, 3).keep();
  });
  const loss = (m: typeof net, r: number) => {
    let l = m.a.forward(xs[r]!).pow(2).sum();
    if (r === 0) l = l.add(m.b.forward(xs[r]!).pow(2).sum());
    return l;
  };
  tidy(() => loss(net, group.rank).backward());
  tidy(() => loss(ref, 0).add(loss(ref, 1)).div(2).backward());
  const grads = (m: typeof net) =>
    Object.fromEntries(
      (['a', 'b', 'c'] as const).flatMap((k) =>
        m[k].parameters().map((p, i) => [`${k}.${i}`, p.grad ? Array.from(p.grad.toArray() as Float32Array) : null]),
      ),
    );
  writeFileSync(out, JSON.stringify({ got: grads(net), expected: grads(ref) }));
  group.destroy();
}

/** The trainer without SyncBatchNorm for 2 epochs; each rank writes its network's whole state afterwards. */
async function trainerState(out: string): Promise<void> {
  const group = distributed.initFromEnv({ timeoutMs: 60_000 })!;
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const train = data.syntheticDataset({ length: 128, seed: 1, size: 16 });
  const test = data.syntheticDataset({ length: 32, seed: 2, size: 16 });
  const student = createZooModel('resnet8', { numClasses: train.numClasses, inChannels: train.channels });
  const distiller = createDistiller('none', student, null, {}, { inputShape: [train.channels, train.height, train.width] });
  const solver = {
    epochs: 2,
    batchSize: 32,
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 5e-4,
    schedule: { type: 'constant' as const },
  };
  const r = await engine.runTraining({
    distiller,
    train,
    test,
    solver,
    augment: { cropPadding: 2, hflip: true },
    seed: 0,
    numWorkers: 0,
    group,
  });
  writeFileSync(out, JSON.stringify({ top1: r.history.map((h) => h.top1), state: stateValues(student) }));
  group.destroy();
}

// Run by the test with a mode; `node --test dist/test/` loads this file too, and then it does nothing.
const [mode, out] = process.argv.slice(2);
if (mode === 'ddp-fixture') ddpFixture(out!);
else if (mode === 'syncbn') syncBn(out!);
else if (mode === 'unused') unused(out!);
else if (mode === 'trainer') await trainerState(out!);
else if (mode !== undefined) throw new Error(`unknown mode ${mode}`);
