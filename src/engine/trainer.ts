// The trainer: preparation stages, then the main stage with its LR schedule; evaluation every
// epoch (best and last top-1 both kept); per-loss averages and img/s; JSON-lines logs; atomic
// checkpoints every epoch (latest and best) from which `resume` continues exactly.
import { appendFileSync, existsSync, mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { Tensor, getRngState, load, save, setRngState, tidy, type Saveable } from '../tensor/index.js';
import { SGD } from '../optim/sgd.js';
import { LRScheduler, constant, cosine, linearWarmup, multiStep, type Schedule } from '../optim/schedulers.js';
import { DataLoader, type Batch } from '../data/loader.js';
import type { ImageDataset } from '../data/datasets.js';
import type { AugmentConfig } from '../data/transforms.js';
import type { Distiller, TrainBatch, TrainContext } from '../distillers/distiller.js';
import { evaluate } from './evaluate.js';

export interface ScheduleConfig {
  type: 'multistep' | 'cosine' | 'constant';
  milestones?: number[];
  gamma?: number;
  warmupEpochs?: number;
}

export interface SolverConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov?: boolean;
  schedule: ScheduleConfig;
}

export interface StageOverride {
  epochs?: number;
  lr?: number;
}

export interface RunSpec {
  distiller: Distiller;
  train: ImageDataset;
  test: ImageDataset;
  solver: SolverConfig;
  augment: AugmentConfig | null;
  seed: number;
  /** Run folder: log.jsonl, latest.pt, best.pt. None: nothing written. */
  outDir?: string;
  numWorkers?: number;
  /** Preparation stages by name (e.g. `paraphraser`, `ab-init`): epochs and lr. */
  stages?: Record<string, StageOverride>;
  /** Caps the steps of each epoch (quick runs and tests). */
  maxStepsPerEpoch?: number;
  resume?: boolean;
  device?: string;
  /** Called with each progress event (console output, progress bars). */
  onEvent?: (event: TrainEvent) => void;
}

export interface EpochRecord {
  stage: string;
  epoch: number;
  lr: number;
  losses: Record<string, number>;
  trainTop1: number;
  top1: number | null;
  top5: number | null;
  imgPerSec: number;
  seconds: number;
  metrics?: Record<string, number>;
}

export type TrainEvent =
  | { type: 'stage'; stage: string; epochs: number; stepsPerEpoch: number }
  | { type: 'step'; stage: string; epoch: number; step: number; steps: number; losses: Record<string, number>; imgPerSec: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'resume'; stage: string; epoch: number };

export interface RunResult {
  bestTop1: number;
  bestEpoch: number;
  lastTop1: number;
  lastTop5: number;
  history: EpochRecord[];
  seconds: number;
  imgPerSec: number;
  extraParameters: number;
}

export function makeSchedule(c: ScheduleConfig, epochs: number): Schedule {
  let s: Schedule;
  if (c.type === 'multistep') s = multiStep(c.milestones ?? [], c.gamma ?? 0.1);
  else if (c.type === 'cosine') s = cosine(epochs);
  else s = constant();
  return c.warmupEpochs ? linearWarmup(c.warmupEpochs, s) : s;
}

interface StagePlan {
  name: string;
  epochs: number;
  lr: number;
  params: () => Tensor[];
  enter: () => void;
  step: (batch: TrainBatch, ctx: TrainContext) => { logits: Tensor | null; losses: Record<string, Tensor> };
  schedule: Schedule;
  report?: (batch: TrainBatch) => Record<string, number>;
  evaluate: boolean;
}

interface Checkpoint {
  version: number;
  stageIndex: number;
  /** Epochs completed in that stage. */
  epoch: number;
  model: Record<string, Tensor>;
  optimizer: unknown;
  history: string;
  best: { top1: number; epoch: number };
  carried: Record<string, Tensor> | null;
  /** libtorch's CPU generator (dropout and other random ops), so a resumed run draws the same numbers. */
  rng: Tensor;
  /** Optimisation steps done in the stage. */
  step: number;
  seconds: number;
}

export async function runTraining(spec: RunSpec): Promise<RunResult> {
  const { distiller, solver } = spec;
  const emit = spec.onEvent ?? (() => {});
  if (spec.outDir) mkdirSync(spec.outDir, { recursive: true });
  const log = (obj: object) => {
    if (spec.outDir)
      appendFileSync(path.join(spec.outDir, 'log.jsonl'), JSON.stringify({ time: new Date().toISOString(), ...obj }) + '\n');
  };

  const plans: StagePlan[] = distiller.prepStages().map((s) => {
    const o = spec.stages?.[s.name] ?? {};
    return {
      name: s.name,
      epochs: o.epochs ?? s.epochs,
      lr: o.lr ?? s.lr,
      params: s.parameters,
      enter: s.enter,
      step: (b: TrainBatch, ctx: TrainContext) => ({ logits: null, losses: s.step(b, ctx) }),
      schedule: constant(),
      report: s.report,
      evaluate: false,
    };
  });
  plans.push({
    name: 'main',
    epochs: solver.epochs,
    lr: solver.lr,
    params: () => distiller.learnableParameters(),
    enter: () => distiller.train(),
    step: (b, ctx) => distiller.forwardTrain(b, ctx),
    schedule: makeSchedule(solver.schedule, solver.epochs),
    evaluate: true,
  });

  const loader = new DataLoader(spec.train, {
    batchSize: solver.batchSize,
    shuffle: true,
    dropLast: true,
    seed: spec.seed,
    augment: spec.augment,
    views: distiller.info.views,
    numWorkers: spec.numWorkers ?? 1,
    device: spec.device,
  });
  const stepsPerEpoch = Math.min(loader.length, spec.maxStepsPerEpoch ?? Infinity);
  if (stepsPerEpoch < 1)
    throw new Error(`the training set (${spec.train.length} samples) is smaller than one batch of ${solver.batchSize}`);

  let history: EpochRecord[] = [];
  let best = { top1: -1, epoch: -1 };
  let startStage = 0;
  let startEpoch = 0;
  let elapsedBefore = 0;
  let resumeOptimizer: unknown = null;
  const latest = spec.outDir ? path.join(spec.outDir, 'latest.pt') : null;
  if (spec.resume && latest && existsSync(latest)) {
    const ck = load(latest) as unknown as Checkpoint;
    if (!ck || typeof ck !== 'object' || ck.version !== 1 || !ck.model)
      throw new Error(`${latest} is not a distill-ts checkpoint (or of another version)`);
    distiller.loadStateDict(ck.model);
    distiller.loadCarriedState(ck.carried ?? null);
    if (ck.rng instanceof Tensor) setRngState(ck.rng);
    history = JSON.parse(ck.history) as EpochRecord[];
    best = ck.best;
    startStage = ck.stageIndex;
    startEpoch = ck.epoch;
    elapsedBefore = ck.seconds;
    resumeOptimizer = ck.optimizer;
    if (startEpoch >= plans[startStage]!.epochs) {
      startStage++;
      startEpoch = 0;
      resumeOptimizer = null;
    }
    emit({ type: 'resume', stage: plans[Math.min(startStage, plans.length - 1)]!.name, epoch: startEpoch });
    log({ event: 'resume', stage: startStage, epoch: startEpoch });
  }

  const started = performance.now();
  let trainImages = 0;
  let trainSeconds = 0;
  try {
    for (let si = startStage; si < plans.length; si++) {
      const plan = plans[si]!;
      if (plan.epochs <= 0) continue;
      const optimizer = new SGD(plan.params(), {
        lr: plan.lr,
        momentum: solver.momentum,
        weightDecay: solver.weightDecay,
        nesterov: solver.nesterov ?? false,
      });
      if (resumeOptimizer && si === startStage) optimizer.loadStateDict(resumeOptimizer as never);
      const scheduler = new LRScheduler(optimizer, plan.schedule);
      emit({ type: 'stage', stage: plan.name, epochs: plan.epochs, stepsPerEpoch });
      log({ event: 'stage', stage: plan.name, epochs: plan.epochs, lr: plan.lr });
      for (let epoch = si === startStage ? startEpoch : 0; epoch < plan.epochs; epoch++) {
        scheduler.setEpoch(epoch);
        plan.enter();
        const sums: Record<string, number> = {};
        let correct = 0;
        let seen = 0;
        let lastBatch: Batch | null = null;
        const epochStart = performance.now();
        let step = 0;
        for await (const batch of loader.epoch(epoch)) {
          if (step >= stepsPerEpoch) {
            batch.dispose();
            break;
          }
          const ctx: TrainContext = { epoch, epochs: plan.epochs, step: epoch * stepsPerEpoch + step };
          const stepLosses = tidy(() => {
            const { logits, losses } = plan.step(batch, ctx);
            const total = Object.values(losses).reduce((a, b) => a.add(b));
            optimizer.zeroGrad();
            total.backward();
            optimizer.step();
            const values = Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, v.item()]));
            values.total = total.item();
            if (logits) {
              correct += logits.argmax(1).eq(batch.labels).sum().item();
              seen += batch.labels.shape[0]!;
            }
            return values;
          });
          for (const [k, v] of Object.entries(stepLosses)) {
            if (!Number.isFinite(v))
              throw new Error(
                `stage ${plan.name}, epoch ${epoch + 1}, step ${step + 1}: loss '${k}' is ${v} (diverged); lower the learning rate or the loss weight`,
              );
            sums[k] = (sums[k] ?? 0) + v;
          }
          step++;
          const secs = (performance.now() - epochStart) / 1000;
          emit({
            type: 'step',
            stage: plan.name,
            epoch,
            step,
            steps: stepsPerEpoch,
            losses: stepLosses,
            imgPerSec: (step * solver.batchSize) / secs,
          });
          if (lastBatch) lastBatch.dispose();
          lastBatch = plan.report ? batch : null;
          if (!plan.report) batch.dispose();
        }
        const seconds = (performance.now() - epochStart) / 1000;
        trainImages += step * solver.batchSize;
        trainSeconds += seconds;
        const metrics = plan.report && lastBatch ? plan.report(lastBatch) : undefined;
        lastBatch?.dispose();
        let top1: number | null = null;
        let top5: number | null = null;
        if (plan.evaluate) {
          distiller.eval();
          const acc = evaluate((x) => distiller.forwardTest(x), spec.test, { device: spec.device });
          top1 = acc.top1;
          top5 = acc.top5;
        }
        const record: EpochRecord = {
          stage: plan.name,
          epoch: epoch + 1,
          lr: optimizer.lr,
          losses: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / step])),
          trainTop1: seen ? (100 * correct) / seen : NaN,
          top1,
          top5,
          imgPerSec: (step * solver.batchSize) / seconds,
          seconds,
          metrics,
        };
        history.push(record);
        const isBest = top1 !== null && top1 > best.top1;
        if (isBest) best = { top1: top1!, epoch: epoch + 1 };
        log({ event: 'epoch', ...record });
        emit({ type: 'epoch', record });
        if (latest) {
          const ck: Checkpoint = {
            version: 1,
            stageIndex: si,
            epoch: epoch + 1,
            model: distiller.stateDict(),
            optimizer: optimizer.stateDict(),
            history: JSON.stringify(history),
            best,
            carried: distiller.carriedState(),
            rng: getRngState(),
            step: (epoch + 1) * stepsPerEpoch,
            seconds: elapsedBefore + (performance.now() - started) / 1000,
          };
          save(ck as unknown as Saveable, latest);
          if (isBest) copyFileSync(latest, path.join(spec.outDir!, 'best.pt'));
          for (const t of Object.values(ck.model)) t.dispose();
          ck.carried?.indices?.dispose(); // made for the checkpoint; the rest is the distiller's own state
          ck.rng.dispose();
        }
      }
    }
  } finally {
    await loader.close();
  }
  const mainRecords = history.filter((h) => h.stage === 'main');
  const last = mainRecords.at(-1);
  return {
    bestTop1: best.top1,
    bestEpoch: best.epoch,
    lastTop1: last?.top1 ?? NaN,
    lastTop5: last?.top5 ?? NaN,
    history,
    seconds: elapsedBefore + (performance.now() - started) / 1000,
    imgPerSec: trainSeconds ? trainImages / trainSeconds : 0,
    extraParameters: distiller.extraParameterCount(),
  };
}
