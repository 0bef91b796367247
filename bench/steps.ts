// Whole distillation steps against PyTorch in its best setting (issue 16): every seed method and
// the most used others on resnet32x4 -> resnet8x4 and wrn_40_2 -> wrn_16_2, batch 64 at 32x32,
// SGD with momentum and weight decay, 1 and 2 threads. distill-ts runs the trainer's own step
// (engine.trainStep: forward, losses, backward, SGD; AB's initialisation stage, its own step);
// PyTorch runs each method's reference step (bench/steps_torch.py).
//
// Settings: PyTorch under each allocator of anchors.md section 11 (glibc; jemalloc with decay
// off; glibc tunables), channels-last or not; distill-ts channels-last or not. The settings are
// ranked on KD for each pair and thread count (all of them, interleaved rounds, best round each);
// every other method then runs with the winning setting of each side, again interleaved. The KD
// rows list every setting's figure. Peak RSS of each process is reported beside img/s, and at
// the end where distill-ts's comes from (its allocator's live bytes after the forward, at the peak,
// and what it holds from the system).
// `--teacher-precision bfloat16` adds rows with distill-ts's teacher under autocast (opt-in), and
// the relative change of the distillation loss it causes on the same batch. distill-ts's teacher
// runs its default convolutions (teacher.convAlgorithm: auto, Winograd where it pays);
// `--teacher-conv direct` measures it with libtorch's direct convolutions only. `--student-conv
// auto` adds rows (or joins the bfloat16 ones) with the student's convolutions through Winograd
// in training (student.convAlgorithm, opt-in).
// Usage: npm run bench:steps [-- --methods kd,dkd --pairs resnet32x4-resnet8x4 --threads 1,2 --steps 10 --rounds 2]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { createDistiller, createZooModel, engine, nn, optim, tidy, type Tensor } from '../src/index.js';
import { TORCH_ALLOCATORS, torchThreads } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const METHODS = ['kd', 'dkd', 'dist', 'sp', 'ft', 'ab', 'dlb', 'reviewkd', 'crd'];
const PAIRS = ['resnet32x4-resnet8x4', 'wrn_40_2-wrn_16_2'];
const steps = Number(arg('steps', '10'));
type ConvAlgorithm = 'auto' | 'direct' | 'winograd';
const teacherConv = arg('teacher-conv', 'auto') as ConvAlgorithm;
const rounds = Number(arg('rounds', '2'));
const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', '..', 'bench', 'steps_torch.py');

interface Measure {
  imgPerSec: number;
  peakMb: number;
  /** distill-ts only: the distillation loss of the first step (to compare teacher precisions). */
  distillLoss?: number;
  /** distill-ts only: its allocator over the timed steps, MB (where the peak RSS comes from). */
  allocator?: { start: number; afterForward: number; peakLive: number; held: number };
}

function pytorch(method: string, pair: string, threads: number, channelsLast: boolean, env: NodeJS.ProcessEnv): Measure {
  const out = execFileSync('/usr/bin/python3', [script, method, pair, String(threads), String(steps), channelsLast ? '1' : '0'], {
    encoding: 'utf8',
    env: { ...process.env, ...env, ...torchThreads(threads) },
    cwd: path.dirname(script),
  });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { img_s: number; peak_rss_mb: number };
  return { imgPerSec: r.img_s, peakMb: r.peak_rss_mb };
}

/** distill-ts's step, in a child process of its own (peak RSS per setting, like PyTorch's). */
function ours(
  method: string,
  pair: string,
  threads: number,
  channelsLast: boolean,
  precision: string,
  studentConv: ConvAlgorithm = 'direct',
): Measure {
  const out = execFileSync(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      '--child',
      method,
      pair,
      String(threads),
      channelsLast ? '1' : '0',
      precision,
      studentConv,
      '--steps',
      String(steps),
      '--teacher-conv',
      teacherConv,
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Measure;
}

function child(
  method: string,
  pair: string,
  threads: number,
  channelsLast: boolean,
  precision: string,
  studentConv: ConvAlgorithm,
): void {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const [teacherName, studentName] = pair.split('-') as [string, string];
  const shape = { numClasses: 100 };
  const teacher = createZooModel(teacherName, shape);
  const student = createZooModel(studentName, shape);
  let images = torch.randn(64, 3, 32, 32).keep();
  const labels = torch.randint(0, 100, [64]).keep();
  // CRD's memory covers CIFAR-100's 50000 training samples.
  const trainLabels = Int32Array.from({ length: 50000 }, (_, i) => i % 100);
  const d = createDistiller(method, student, teacher, {}, { inputShape: [3, 32, 32], trainLabels, studentModel: studentName });
  d.teacherPrecision = precision as 'float32' | 'bfloat16';
  d.teacherConvAlgorithm = teacherConv;
  nn.setConvAlgorithm(student, studentConv);
  if (channelsLast) {
    d.to({ memoryFormat: 'channelsLast' });
    images = images.contiguous({ memoryFormat: 'channelsLast' }).keep();
  }
  // DLB's second view: the previous batch's (here: the same images in another order).
  const views = d.views === 2 ? [images, images.flip([0]).keep()] : [images];
  const batch = { images, views, labels, indices: Int32Array.from({ length: 64 }, (_, i) => i * 700) };
  const stage = method === 'ab' ? d.prepStages()[0]! : null;
  stage?.enter();
  const params = stage ? stage.parameters() : d.learnableParameters();
  const opt = new optim.SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: method === 'dlb' });
  const ctx = (i: number) => ({ epoch: 0, epochs: 240, step: i });
  let afterForward = 0;
  const forward: Parameters<typeof engine.trainStep>[0] = (b, c) => {
    const out = stage ? { logits: null, losses: stage.step(b, c) } : d.forwardTrain(b, c);
    afterForward = torch.memory.stats().liveBytes;
    return out;
  };
  const step = (i: number) => engine.trainStep(forward, batch, ctx(i), opt);
  const distillLoss = tidy(() => {
    const losses = stage ? stage.step(batch, ctx(0)) : d.forwardTrain(batch, ctx(0)).losses;
    return Object.entries(losses)
      .filter(([k]) => k !== 'ce')
      .reduce((sum, [, v]: [string, Tensor]) => sum + (v.item() as number), 0);
  });
  for (let i = 0; i < 3; i++) step(i);
  torch.memory.resetPeak();
  const startLive = torch.memory.stats().liveBytes;
  const start = performance.now();
  for (let i = 0; i < steps; i++) step(i);
  const seconds = (performance.now() - start) / 1000;
  const mb = (bytes: number) => bytes / 2 ** 20;
  const stats = torch.memory.stats();
  const allocator = {
    start: mb(startLive),
    afterForward: mb(afterForward),
    peakLive: mb(stats.peakLiveBytes),
    held: mb(stats.liveBytes + stats.cachedBytes),
  };
  const r: Measure = { imgPerSec: (64 * steps) / seconds, peakMb: process.resourceUsage().maxRSS / 1024, distillLoss, allocator };
  console.log(JSON.stringify(r));
}

type Best = Map<string, Measure>;
const keep = (best: Best, k: string, r: Measure) => {
  if (!best.has(k) || best.get(k)!.imgPerSec < r.imgPerSec) best.set(k, r);
};
const fastest = (best: Best, prefix: string) =>
  [...best.entries()].filter(([k]) => k.startsWith(prefix)).sort((a, b) => b[1].imgPerSec - a[1].imgPerSec)[0]!;
const layout = (cl: boolean) => (cl ? 'channels-last' : 'contiguous');

function main(): void {
  const methods = arg('methods', METHODS.join(',')).split(',');
  const pairs = arg('pairs', PAIRS.join(',')).split(',');
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const precision = arg('teacher-precision', '');
  const studentConv = arg('student-conv', '') as ConvAlgorithm | '';
  const variant = [precision && `${precision} teacher`, studentConv && `student convolutions ${studentConv}`]
    .filter(Boolean)
    .join(', ');
  console.log(
    `Whole training steps, batch 64 at 32x32, ${steps} steps after 3 warm-up steps, best of ${rounds} interleaved rounds; distill-ts's teacher convolutions: ${teacherConv}\n`,
  );
  console.log(
    '| method | pair | threads | distill-ts img/s (setting) | peak MB | PyTorch best img/s (setting) | peak MB | ratio |' +
      (variant ? ` distill-ts, ${variant}: img/s, ratio, distillation loss change |` : ''),
  );
  console.log('|---|---|---|---|---|---|---|---|' + (variant ? '---|' : ''));
  const notes: string[] = [];
  const memory: string[] = [];
  for (const pair of pairs) {
    for (const threads of threadCounts) {
      // Rank every setting on KD.
      const ranked: Best = new Map();
      for (let round = 0; round < rounds; round++) {
        for (const cl of [false, true]) {
          keep(ranked, `ours ${layout(cl)}`, ours('kd', pair, threads, cl, 'float32'));
          for (const [name, env] of Object.entries(TORCH_ALLOCATORS))
            keep(ranked, `torch ${name}, ${layout(cl)}`, pytorch('kd', pair, threads, cl, env));
        }
      }
      const [oursSetting] = fastest(ranked, 'ours');
      const [torchSetting] = fastest(ranked, 'torch');
      const oursCl = oursSetting.endsWith('channels-last');
      const torchCl = torchSetting.endsWith('channels-last');
      const torchEnv = TORCH_ALLOCATORS[torchSetting.slice(6).split(',')[0]!]!;
      notes.push(
        `${pair}, ${threads} thread(s), KD, every setting: ` +
          [...ranked.entries()].map(([k, v]) => `${k}: ${v.imgPerSec.toFixed(1)}`).join('; '),
      );
      for (const method of methods) {
        const best: Best = new Map();
        if (method === 'kd') for (const [k, v] of ranked) best.set(k, v);
        else
          for (let round = 0; round < rounds; round++) {
            keep(best, oursSetting, ours(method, pair, threads, oursCl, 'float32'));
            keep(best, torchSetting, pytorch(method, pair, threads, torchCl, torchEnv));
          }
        let reduced = '';
        if (variant) {
          const base = best.get(oursSetting)!;
          const r: Best = new Map();
          for (let round = 0; round < rounds; round++)
            keep(r, 'ours', ours(method, pair, threads, oursCl, precision || 'float32', studentConv || 'direct'));
          const m = r.get('ours')!;
          const change = Math.abs(m.distillLoss! - base.distillLoss!) / Math.abs(base.distillLoss!);
          reduced = ` ${m.imgPerSec.toFixed(1)}, ${(m.imgPerSec / best.get(torchSetting)!.imgPerSec).toFixed(2)}x, ${change.toExponential(1)} |`;
        }
        const o = best.get(oursSetting)!;
        const t = best.get(torchSetting)!;
        const a = o.allocator!;
        memory.push(
          `${method}, ${pair}, ${threads} thread(s): peak RSS ${o.peakMb.toFixed(0)}; allocator: ${[a.start, a.afterForward, a.peakLive, a.held].map((v) => v.toFixed(0)).join(' / ')}`,
        );
        console.log(
          `| ${method} | ${pair} | ${threads} | ${o.imgPerSec.toFixed(1)} (${oursSetting.slice(5)}) | ${o.peakMb.toFixed(0)} | ${t.imgPerSec.toFixed(1)} (${torchSetting.slice(6)}) | ${t.peakMb.toFixed(0)} | ${(o.imgPerSec / t.imgPerSec).toFixed(2)}x |${reduced}`,
        );
      }
    }
  }
  console.log('\n' + notes.join('\n'));
  console.log(
    "\ndistill-ts's memory, MB (allocator: live at the step's start / live after the forward / peak live / held from the system):\n" +
      memory.join('\n'),
  );
}

if (process.argv[2] === '--child') {
  const [method, pair, threads, cl, precision, studentConv] = process.argv.slice(3);
  child(method!, pair!, Number(threads), cl === '1', precision!, studentConv as ConvAlgorithm);
} else {
  main();
}
