// Where a KD step's time goes (issue 16): teacher forward, student forward, losses, backward,
// optimizer, and what is left (the binding, JS), per step, for distill-ts and for PyTorch
// (bench/profile_torch.py, jemalloc with decay off), resnet32x4 -> resnet8x4 (or --pair
// wrn_40_2-wrn_16_2), batch 64 at 32x32.
// distill-ts runs five ways: the teacher as written (before issue 16), with its BatchNorms folded,
// folded with Winograd convolutions (teacher.convAlgorithm: auto, the default now), the same with
// the student's convolutions through Winograd too (student.convAlgorithm: auto, opt-in), and
// folded under bfloat16 autocast (opt-in).
// Usage: npm run bench:profile [-- --steps 8 --threads 1,2 --channels-last 1 --pair resnet32x4-resnet8x4]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { F, autocast, createZooModel, nn, noGrad, optim, tidy } from '../src/index.js';
import { TORCH_ALLOCATORS, torchThreads } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg('steps', '8'));
const pair = arg('pair', 'resnet32x4-resnet8x4');
const [teacherName, studentName] = pair.split('-') as [string, string];
const here = path.dirname(fileURLToPath(import.meta.url));
type Phases = Record<'teacher' | 'studentForward' | 'losses' | 'backward' | 'optimizer' | 'other' | 'total', number>;

function child(threads: number, channelsLast: boolean, mode: string): Phases {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const teacher = createZooModel(teacherName, { numClasses: 100 }).eval();
  const student = createZooModel(studentName, { numClasses: 100 });
  for (const p of teacher.parameters()) p.requiresGrad = false;
  let x = torch.randn(64, 3, 32, 32).keep();
  if (channelsLast) {
    teacher.to({ memoryFormat: 'channelsLast' });
    student.to({ memoryFormat: 'channelsLast' });
    x = x.contiguous({ memoryFormat: 'channelsLast' }).keep();
  }
  if (mode !== 'as written') nn.foldBatchNorm(teacher, x.narrow(0, 0, 2));
  if (mode.startsWith('folded, Winograd')) nn.setConvAlgorithm(teacher, 'auto');
  if (mode.endsWith('student Winograd')) nn.setConvAlgorithm(student, 'auto');
  const y = torch.randint(0, 100, [64]).keep();
  const opt = new optim.SGD(student.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const sum: Phases = { teacher: 0, studentForward: 0, losses: 0, backward: 0, optimizer: 0, other: 0, total: 0 };
  const runTeacher = () => tidy(() => teacher.forward(x).logits);
  const step = (record: boolean) => {
    const t0 = performance.now();
    tidy(() => {
      const a = performance.now();
      const zt = noGrad(() =>
        mode === 'folded, bfloat16' ? autocast('cpu', 'bfloat16', runTeacher).to('float32') : runTeacher(),
      );
      const b = performance.now();
      const zs = student.forward(x).logits;
      const c = performance.now();
      const kd = F.klDiv(F.logSoftmax(zs.div(4), 1), F.softmax(zt.div(4), 1), { reduction: 'none' })
        .sum(1)
        .mean()
        .mul(16);
      const loss = F.crossEntropy(zs, y).mul(0.1).add(kd.mul(0.9));
      opt.zeroGrad();
      const d = performance.now();
      loss.backward();
      const e = performance.now();
      opt.step();
      const f = performance.now();
      loss.item();
      if (record) {
        sum.teacher += b - a;
        sum.studentForward += c - b;
        sum.losses += d - c;
        sum.backward += e - d;
        sum.optimizer += f - e;
      }
    });
    if (record) sum.total += performance.now() - t0;
  };
  for (let i = 0; i < 3; i++) step(false);
  for (let i = 0; i < steps; i++) step(true);
  for (const k of Object.keys(sum) as (keyof Phases)[]) sum[k] /= steps;
  sum.other = sum.total - sum.teacher - sum.studentForward - sum.losses - sum.backward - sum.optimizer;
  return sum;
}

function main(): void {
  const cl = arg('channels-last', '1') === '1';
  console.log(
    `KD step phases, ${pair}, ms per step (batch 64), ${steps} steps after 3 warm-up, ${cl ? 'channels-last' : 'contiguous'}\n`,
  );
  console.log('| threads | run | teacher | student forward | losses | backward | optimizer | other | total | img/s |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const threads of arg('threads', '1,2').split(',').map(Number)) {
    const rows: [string, Phases][] = [];
    for (const mode of ['as written', 'folded', 'folded, Winograd', 'folded, Winograd, student Winograd', 'folded, bfloat16']) {
      const out = execFileSync(
        process.execPath,
        [
          fileURLToPath(import.meta.url),
          '--child',
          String(threads),
          cl ? '1' : '0',
          mode,
          '--steps',
          String(steps),
          '--pair',
          pair,
        ],
        {
          encoding: 'utf8',
        },
      );
      rows.push([`distill-ts, teacher ${mode}`, JSON.parse(out.trim().split('\n').at(-1)!) as Phases]);
    }
    const py = execFileSync(
      '/usr/bin/python3',
      [path.join(here, '..', '..', 'bench', 'profile_torch.py'), String(threads), cl ? '1' : '0', String(steps), pair],
      {
        encoding: 'utf8',
        env: { ...process.env, ...TORCH_ALLOCATORS.jemalloc, ...torchThreads(threads) },
      },
    );
    rows.push(['PyTorch (jemalloc)', JSON.parse(py.trim().split('\n').at(-1)!) as Phases]);
    for (const [name, p] of rows)
      console.log(
        `| ${threads} | ${name} | ${[p.teacher, p.studentForward, p.losses, p.backward, p.optimizer, p.other, p.total].map((v) => v.toFixed(1)).join(' | ')} | ${(64000 / p.total).toFixed(1)} |`,
      );
  }
}

if (process.argv[2] === '--child')
  console.log(JSON.stringify(child(Number(process.argv[3]), process.argv[4] === '1', process.argv[5]!)));
else main();
