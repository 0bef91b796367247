// Time per training step of every registered method, relative to KD: the Fashion-MNIST pair of the
// quickstart (resnet20 teacher -> resnet8 student, batch 64, 28x28), the main stage's step through
// the trainer's own trainStep (forward, losses, backward, SGD; DOT for the row kd+dot), batches
// rendered beforehand so that only the step is timed. Preparation stages (FT's paraphraser, FSP's
// and AB's initialisation) are not included.
// Usage: npm run bench:methods [-- --steps 30 --threads 2 --only kd,dkd]
import * as torch from '../src/index.js';
import { createDistiller, createZooModel, data, distillers, engine, optim } from '../src/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg('steps', '30'));
const threads = Number(arg('threads', '2'));
const only = arg('only', '');
torch.setNumThreads(threads);

const shape = { numClasses: 10, inChannels: 1 };
const fmnist = data.subset(
  data.loadFashionMnist(),
  Array.from({ length: 64 * (steps + 3) }, (_, i) => i),
);

interface Row {
  method: string;
  msPerStep: number;
  peakMb: number;
}

function time(method: string, optimizer: 'sgd' | 'dot'): Row {
  torch.manualSeed(0);
  const teacher = createZooModel('resnet20', shape);
  const student = createZooModel('resnet8', shape);
  const d = createDistiller(
    method,
    student,
    teacher,
    {},
    {
      inputShape: [1, 28, 28],
      trainLabels: fmnist.labels,
      studentModel: 'resnet8',
    },
  );
  const loader = new data.DataLoader(fmnist, {
    batchSize: 64,
    shuffle: true,
    dropLast: true,
    seed: 1,
    augment: { cropPadding: 2, hflip: true },
    views: d.views,
    classPairs: d.classPairs,
    strongAugment: d.constructor === distillers.MLKD ? { cropPadding: 2, hflip: true, randAugment: {} } : null,
  });
  const batches = [...loader.epochSync(0)];
  const params = d.learnableParameters();
  const opt =
    optimizer === 'dot'
      ? new optim.DistillationOrientedTrainer(params, { lr: 0.05, momentum: 0.825, momentumKd: 0.975, weightDecay: 5e-4 })
      : new optim.SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  d.train();
  const run = (from: number, n: number) => {
    for (let i = from; i < from + n; i++) engine.trainStep(d, batches[i]!, { epoch: 0, epochs: 1, step: i }, opt);
  };
  run(0, 3);
  torch.memory.resetPeak();
  const start = performance.now();
  run(3, steps);
  const ms = (performance.now() - start) / steps;
  const peakMb = torch.memory.stats().peakLiveBytes / 2 ** 20;
  for (const b of batches) b.dispose();
  d.dispose();
  return { method: optimizer === 'dot' ? `${method}+dot` : method, msPerStep: ms, peakMb };
}

const names = distillers.methodNames().filter((m) => !only || only.split(',').includes(m));
const rows = names.map((m) => time(m, 'sgd'));
if (!only || only.split(',').includes('kd')) rows.push(time('kd', 'dot'));
const kd = rows.find((r) => r.method === 'kd')?.msPerStep;
console.log(`threads ${threads}, ${steps} timed steps, batch 64, resnet20 -> resnet8 on Fashion-MNIST\n`);
console.log('| method | ms / step | × KD | peak tensor memory (MiB) |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.method} | ${r.msPerStep.toFixed(1)} | ${kd ? (r.msPerStep / kd).toFixed(2) : ''} | ${r.peakMb.toFixed(0)} |`,
  );
