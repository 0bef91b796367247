// The trainer: preparation stages, then the main stage with its LR schedule; evaluation every
// epoch (best and last top-1 both kept); per-loss averages and img/s; JSON-lines logs; atomic
// checkpoints every epoch (latest and best) from which `resume` continues exactly. Each step
// below fits on a screen: plan the stages, restore, train an epoch (one step at a time),
// evaluate, save.
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  cat,
  dispose,
  getRngState,
  loadFromBuffer,
  noGrad,
  saveToBuffer,
  setRngState,
  Tensor,
  tensor,
  tidy,
  zeros,
} from '../tensor/index.js';
import { EXTRA_STATE_KEY, type StateDict } from '../nn/module.js';
import { clipGradNorm_ } from '../nn/utils.js';
import { SGD } from '../optim/sgd.js';
import { AdamW } from '../optim/adamw.js';
import { DistillationOrientedTrainer } from '../optim/dot.js';
import { TensorBoardWriter } from './tensorboard.js';
import type { Optimizer } from '../optim/optimizer.js';
import { LRScheduler, constant, cosine, linearWarmup, multiStep, type Schedule } from '../optim/schedulers.js';
import { DataLoader, type Batch } from '../data/loader.js';
import { BatchNorm1d, BatchNorm2d } from '../nn/layers.js';
import { GradientReducer, broadcastState, parallelGroup, type ProcessGroup } from '../distributed/index.js';
import type { ImageDataset } from '../data/datasets.js';
import type { AugmentConfig } from '../data/transforms.js';
import type { Distiller, TrainBatch, TrainContext } from '../distillers/distiller.js';
import { evaluateClassifiers } from './evaluate.js';
import { CHECKPOINT_VERSION, readCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
import { InputError, asInputError } from './errors.js';
import { acquireRunFolder } from './runfolder.js';
import type { EpochRecord, RunResult, TrainEvent } from './results.js';

export type { EpochRecord, RunResult, TrainEvent } from './results.js';

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
  /** 'sgd' (default), 'adamw', or 'dot' (the main stage; preparation stages use SGD). */
  optimizer?: 'sgd' | 'adamw' | 'dot';
  /** DOT's momentum offset: task momentum − delta, distillation momentum + delta. */
  dot?: { delta: number };
  momentum: number;
  weightDecay: number;
  nesterov?: boolean;
  betas?: [number, number];
  /** Clip the gradients' total norm to this value. */
  clipGradNorm?: number;
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
  /** The second view's augmentation when it differs (MLKD's strong view). */
  strongAugment?: AugmentConfig | null;
  seed: number;
  /** Run folder: log.jsonl, latest.pt, best.pt. None: nothing written. */
  outDir?: string;
  numWorkers?: number;
  /** Preparation stages by name (e.g. `paraphraser`, `ab-init`): epochs and lr. */
  stages?: Record<string, StageOverride>;
  /** Caps the steps of each epoch (quick runs and tests). */
  maxStepsPerEpoch?: number;
  /** Write each epoch's scalars as TensorBoard event files in the run folder. */
  tensorboard?: boolean;
  resume?: boolean;
  device?: string;
  /** Batches in the channels-last memory format (the networks were converted to it). */
  channelsLast?: boolean;
  /** Called with each progress event (console output, progress bars). */
  onEvent?: (event: TrainEvent) => void;
  /**
   * Data-parallel training: this process is one rank of the group. `solver.batchSize` is the
   * global batch (each rank trains its shard); gradients are averaged across ranks; every rank
   * evaluates its shard of the test set and reports the same accuracy; only rank 0 writes the
   * run folder, and every rank resumes from its latest.pt.
   */
  group?: ProcessGroup | null;
}

export function makeSchedule(c: ScheduleConfig, epochs: number): Schedule {
  let s: Schedule;
  if (c.type === 'multistep') s = multiStep(c.milestones ?? [], c.gamma ?? 0.1);
  else if (c.type === 'cosine') s = cosine(epochs);
  else s = constant();
  return c.warmupEpochs ? linearWarmup(c.warmupEpochs, s) : s;
}

/** The solver's optimizer over `params` at learning rate `lr`. */
export function makeOptimizer(
  params: Tensor[],
  lr: number,
  solver: SolverConfig,
  stage: 'main' | 'prep' = 'main',
): Optimizer<{ lr: number }> {
  if (solver.optimizer === 'dot' && stage === 'main') {
    const delta = solver.dot?.delta ?? 0.075;
    return new DistillationOrientedTrainer(params, {
      lr,
      momentum: solver.momentum - delta,
      momentumKd: solver.momentum + delta,
      weightDecay: solver.weightDecay,
    });
  }
  if ((solver.optimizer ?? 'sgd') === 'adamw')
    return new AdamW(params, { lr, weightDecay: solver.weightDecay, betas: solver.betas ?? [0.9, 0.999] });
  return new SGD(params, { lr, momentum: solver.momentum, weightDecay: solver.weightDecay, nesterov: solver.nesterov ?? false });
}

/** What one optimisation step of a stage computes. */
export type StepFn = (
  batch: TrainBatch,
  ctx: TrainContext,
) => { logits: Tensor | null; labels?: Tensor; losses: Record<string, Tensor>; monitor?: Record<string, Tensor> };

export interface StepResult {
  /** Each loss and their sum ('total'). */
  losses: Record<string, number>;
  /** The step's monitored scalars (TrainOutput.monitor). */
  monitor: Record<string, number>;
  /** Correct top-1 predictions and samples seen (0 when the step gives no logits). */
  correct: number;
  seen: number;
}

/** One optimisation step: the losses, their sum, zero grad, backward, clip, optimizer step. */
export function trainStep(
  step: StepFn | Distiller,
  batch: TrainBatch,
  ctx: TrainContext,
  optimizer: Optimizer<{ lr: number }>,
  options: { clipGradNorm?: number } = {},
): StepResult {
  const forward: StepFn = typeof step === 'function' ? step : (b, c) => step.forwardTrain(b, c);
  return tidy(() => {
    // The forward's own scope: its intermediates (maps, features, the loss's parts) are freed
    // before backward, as PyTorch frees them once the graph is built; autograd holds what
    // backward needs by its own references.
    const { logits, labels = batch.labels, losses, monitor = {} } = tidy(() => forward(batch, ctx));
    const total = Object.values(losses).reduce((a, b) => a.add(b));
    optimizer.zeroGrad();
    if (optimizer instanceof DistillationOrientedTrainer) {
      // mdistiller's DOT step: the distillation losses' gradients first, then the task loss's.
      const { ce, ...distillation } = losses;
      const terms = Object.values(distillation);
      if (!ce || !terms.length)
        throw new Error(
          `DOT needs a task loss 'ce' and a distillation loss; this method gives ${Object.keys(losses).join(', ')}: use solver.optimizer sgd`,
        );
      terms.reduce((a, b) => a.add(b)).backward(undefined, { retainGraph: true });
      optimizer.stepKd();
      optimizer.zeroGrad();
      ce.backward();
    } else {
      total.backward();
      if (options.clipGradNorm)
        clipGradNorm_(
          optimizer.paramGroups.flatMap((g) => g.params),
          options.clipGradNorm,
        );
    }
    optimizer.step();
    const values = Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, v.item()]));
    values.total = total.item();
    const correct = logits ? logits.argmax(1).eq(labels).sum().item() : 0;
    const watched = Object.fromEntries(Object.entries(monitor).map(([k, v]) => [k, v.item()]));
    return { losses: values, monitor: watched, correct, seen: logits ? labels.shape[0]! : 0 };
  });
}

interface StagePlan {
  name: string;
  epochs: number;
  lr: number;
  params: () => Tensor[];
  enter: () => void;
  step: StepFn;
  schedule: Schedule;
  report?: (batch: TrainBatch) => Record<string, number>;
  evaluate: boolean;
}

/** The method's preparation stages (with the config's overrides), then the main stage. */
function planStages(spec: RunSpec): StagePlan[] {
  const { distiller, solver } = spec;
  const plans: StagePlan[] = distiller.prepStages().map((s) => ({
    name: s.name,
    epochs: spec.stages?.[s.name]?.epochs ?? s.epochs,
    lr: spec.stages?.[s.name]?.lr ?? s.lr,
    params: s.parameters,
    enter: s.enter,
    step: (b, ctx) => ({ logits: null, losses: s.step(b, ctx) }),
    schedule: constant(),
    report: s.report,
    evaluate: false,
  }));
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
  return plans;
}

/** Where a run stands: what is done, the best so far, and the optimizer state to continue with. */
interface Progress {
  history: EpochRecord[];
  best: { top1: number; epoch: number };
  stage: number;
  epoch: number;
  secondsBefore: number;
  optimizer: unknown;
}

/** The progress saved in latest.pt (model, extra state and RNG restored in place), or a fresh start. */
function restore(spec: RunSpec, plans: StagePlan[], latest: string | null): Progress {
  const fresh: Progress = { history: [], best: { top1: -1, epoch: -1 }, stage: 0, epoch: 0, secondsBefore: 0, optimizer: null };
  if (!spec.resume || !latest || !existsSync(latest)) return fresh;
  const ck = readCheckpoint(latest);
  try {
    if (ck.stageIndex >= plans.length)
      throw new InputError(`${latest}: stage ${ck.stageIndex} does not exist in this run's plan; delete it to start afresh`);
    asInputError(() => spec.distiller.loadStateDict(ck.model));
    restoreRankState(spec, ck.ranks, latest);
    asInputError(() => setRngState(ck.rng));
  } finally {
    // Copied into the distiller and the generator; the optimizer's state is released once loaded.
    dispose([ck.model, ck.rng, ck.ranks]);
  }
  const p: Progress = {
    history: ck.history,
    best: ck.best,
    stage: ck.stageIndex,
    epoch: ck.epoch,
    secondsBefore: ck.seconds,
    optimizer: ck.optimizer,
  };
  if (p.epoch >= plans[p.stage]!.epochs) {
    dispose(p.optimizer);
    Object.assign(p, { stage: p.stage + 1, epoch: 0, optimizer: null });
  }
  return p;
}

const isExtraStateKey = (k: string): boolean => k.startsWith(`${EXTRA_STATE_KEY}.`) || k.includes(`.${EXTRA_STATE_KEY}.`);

/** The extra state entries of the distiller (DLB's carried batch): what differs between ranks. */
function extraState(distiller: Distiller): StateDict {
  const sd = distiller.stateDict();
  const out: StateDict = {};
  for (const [k, v] of Object.entries(sd)) {
    if (isExtraStateKey(k)) out[k] = v;
    else v.dispose();
  }
  return out;
}

/**
 * Every rank's own extra state, gathered on rank 0 for the checkpoint (all ranks call it):
 * serialised, padded to the longest, all-gathered. Null when the method keeps none.
 */
function gatherRankState(distiller: Distiller, group: ProcessGroup): Tensor[] | null {
  return tidy(() => {
    const state = extraState(distiller);
    if (!Object.keys(state).length) return null;
    const bytes = saveToBuffer(state);
    const lengths = group.allGather(tensor(BigInt64Array.of(BigInt(bytes.length)), [1])).map((t) => Number(t.item()));
    const padded = zeros([Math.max(...lengths)], { dtype: 'uint8' });
    padded.narrow(0, 0, bytes.length).copy_(tensor(new Uint8Array(bytes), [bytes.length], { dtype: 'uint8' }));
    const all = group.allGather(padded);
    return all.slice(1).map((t, i) => t.narrow(0, 0, lengths[i + 1]!).clone());
  });
}

/** A rank other than 0 takes its own extra state back from the checkpoint. */
function restoreRankState(spec: RunSpec, ranks: Tensor[] | undefined, file: string): void {
  const group = spec.group;
  if (!group || group.rank === 0 || !ranks) return;
  const bad = (why: string) =>
    new InputError(`${file}: the saved state of rank ${group.rank} is unusable (${why}); delete it to start the run afresh`);
  if (ranks.length !== group.worldSize - 1)
    throw new InputError(
      `${file} holds the state of ${ranks.length + 1} processes (${spec.distiller.constructor.name} keeps state per process); resume it with ${ranks.length + 1} processes`,
    );
  tidy(() => {
    let state: unknown;
    try {
      state = loadFromBuffer(Buffer.from(ranks[group.rank - 1]!.toArray() as Uint8Array));
    } catch (err) {
      throw bad((err as Error).message);
    }
    if (!state || typeof state !== 'object') throw bad('not a state dict');
    // Only the rank's own extra state: the weights are rank 0's, whatever else the entry holds.
    const own = Object.entries(state as StateDict).filter(([k]) => isExtraStateKey(k));
    if (!own.every(([, v]) => v instanceof Tensor)) throw bad('not a state dict of tensors');
    try {
      spec.distiller.loadStateDict(Object.fromEntries(own), { strict: false });
    } catch (err) {
      throw bad((err as Error).message);
    }
  });
}

/**
 * Whether the run continues from `latest`: rank 0 decides, and every rank must then read the
 * same file (several machines: the run folder on a filesystem they share).
 */
function resumable(spec: RunSpec, latest: string): boolean {
  if (!spec.resume) return false;
  const group = spec.group;
  if (!group || group.worldSize === 1) return existsSync(latest);
  const found = group.agree('resume', () => existsSync(latest));
  if (found && !existsSync(latest))
    throw new InputError(
      `rank ${group.rank} cannot read ${latest}, which rank 0 resumes from: put the run folder on a filesystem every machine shares`,
    );
  return found;
}

/** Appends timestamped events to a run folder's log.jsonl (creating the folder); without a folder, nothing. */
export function runLog(outDir: string | undefined): (event: object) => void {
  if (!outDir) return () => {};
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'log.jsonl');
  return (event) => appendFileSync(file, JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n');
}

/** A run in progress: its stages, data, where it stands, and its outputs. */
interface Run {
  spec: RunSpec;
  plans: StagePlan[];
  loader: DataLoader;
  stepsPerEpoch: number;
  latest: string | null;
  progress: Progress;
  started: number;
  emit: (e: TrainEvent) => void;
  log: (o: object) => void;
  /** Epochs already done when this process resumed the run (null: a fresh run). */
  resumedAt: number | null;
  tensorboard: TensorBoardWriter | null;
}

export async function runTraining(spec: RunSpec): Promise<RunResult> {
  const release = spec.outDir && isMainRank(spec) ? acquireRunFolder(spec.outDir) : () => {};
  let run: Run;
  try {
    run = openRun(spec);
  } catch (err) {
    release();
    throw err;
  }
  try {
    for (let si = run.progress.stage; si < run.plans.length; si++) await runStage(run, si);
  } finally {
    await run.loader.close();
    run.tensorboard?.close();
    release();
  }
  const { progress } = run;
  // Over every epoch of the run, those before a resume included (their records are in the history).
  const throughput = progress.history.reduce(
    (t, h) => ({ images: t.images + h.imgPerSec * h.seconds, seconds: t.seconds + h.seconds }),
    { images: 0, seconds: 0 },
  );
  const last = progress.history.filter((h) => h.stage === 'main').at(-1);
  return {
    bestTop1: progress.best.top1,
    bestEpoch: progress.best.epoch,
    lastTop1: last?.top1 ?? NaN,
    lastTop5: last?.top5 ?? NaN,
    history: progress.history,
    seconds: progress.secondsBefore + (performance.now() - run.started) / 1000,
    imgPerSec: throughput.seconds ? throughput.images / throughput.seconds : 0,
    extraParameters: spec.distiller.extraParameterCount(),
    worldSize: spec.group?.worldSize ?? 1,
    globalBatch: spec.solver.batchSize,
  };
}

/** Rank 0 (or a single process): the one that writes the run folder and reports progress. */
export function isMainRank(spec: { group?: ProcessGroup | null }): boolean {
  return !spec.group || spec.group.rank === 0;
}

/** The run folder's log, the stage plans, the loader, and the progress restored from latest.pt. */
function openRun(spec: RunSpec): Run {
  const { distiller, solver } = spec;
  const main = isMainRank(spec);
  const log = runLog(main ? spec.outDir : undefined);
  const emit = (main && spec.onEvent) || (() => {});
  const group = parallelGroup(spec.group);
  const plans = planStages(spec);
  const loader = new DataLoader(spec.train, {
    batchSize: solver.batchSize,
    shuffle: true,
    dropLast: true,
    seed: spec.seed,
    augment: spec.augment,
    strongAugment: spec.strongAugment ?? null,
    views: distiller.views,
    classPairs: distiller.classPairs,
    numWorkers: spec.numWorkers ?? 1,
    device: spec.device,
    memoryFormat: spec.channelsLast ? 'channelsLast' : 'contiguous',
    shard: group ? { rank: group.rank, worldSize: group.worldSize } : undefined,
  });
  const stepsPerEpoch = Math.min(loader.length, spec.maxStepsPerEpoch ?? Infinity);
  if (stepsPerEpoch < 1)
    throw new Error(`the training set (${spec.train.length} samples) is smaller than one batch of ${solver.batchSize}`);
  const latest = spec.outDir ? path.join(spec.outDir, 'latest.pt') : null;
  const progress = restore(spec, plans, latest && resumable(spec, latest) ? latest : null);
  if (spec.resume && progress.history.length) {
    const complete = progress.stage >= plans.length;
    emit({ type: 'resume', stage: plans[Math.min(progress.stage, plans.length - 1)]!.name, epoch: progress.epoch, complete });
    log({ event: 'resume', stage: progress.stage, epoch: progress.epoch });
  }
  const resumedAt = spec.resume && progress.history.length ? progress.history.length : null;
  return {
    spec,
    plans,
    loader,
    stepsPerEpoch,
    latest,
    progress,
    started: performance.now(),
    emit,
    log,
    resumedAt,
    tensorboard: null,
  };
}

/** An epoch's scalars in the run's TensorBoard file (opened at the first epoch this process trains). */
function writeScalars(run: Run, r: EpochRecord, step: number): void {
  if (!run.spec.tensorboard || !run.spec.outDir || !isMainRank(run.spec)) return;
  // A resumed run marks where it resumed: TensorBoard drops later steps of the earlier files.
  run.tensorboard ??= new TensorBoardWriter(run.spec.outDir, { resumeStep: run.resumedAt ?? undefined });
  const stage = r.stage === 'main' ? '' : `${r.stage}/`;
  const values: Record<string, number> = { lr: r.lr, img_per_s: r.imgPerSec, [`${stage}train/top1`]: r.trainTop1 };
  for (const [k, v] of Object.entries(r.losses)) values[`${stage}train/loss/${k}`] = v;
  for (const [k, v] of Object.entries(r.metrics ?? {})) values[`${stage}train/${k}`] = v;
  if (r.top1 !== null) values['test/top1'] = r.top1;
  if (r.top5 !== null) values['test/top5'] = r.top5;
  for (const [k, v] of Object.entries(r.otherTop1 ?? {})) values[`test/top1/${k}`] = v;
  run.tensorboard.scalars(step, values);
}

/** Every remaining epoch of one stage, each trained, evaluated, logged and checkpointed. */
async function runStage(run: Run, si: number): Promise<void> {
  const { spec, progress, stepsPerEpoch } = run;
  const plan = run.plans[si]!;
  if (plan.epochs <= 0) return;
  const optimizer = makeOptimizer(plan.params(), plan.lr, spec.solver, plan.name === 'main' ? 'main' : 'prep');
  if (progress.optimizer && si === progress.stage) {
    const saved = progress.optimizer;
    progress.optimizer = null;
    try {
      asInputError(() => optimizer.loadStateDict(saved as never));
    } finally {
      dispose(saved); // copied into the optimizer
    }
  }
  const scheduler = new LRScheduler(optimizer, plan.schedule);
  run.emit({ type: 'stage', stage: plan.name, epochs: plan.epochs, stepsPerEpoch });
  run.log({ event: 'stage', stage: plan.name, epochs: plan.epochs, lr: plan.lr });
  const group = parallelGroup(spec.group);
  // Every replica starts the stage from rank 0's state; the stage's parameters are averaged on every backward.
  if (group) broadcastState(spec.distiller, group);
  const reducer = group ? new GradientReducer(plan.params(), group) : null;
  try {
    await runEpochs(run, si, plan, optimizer, scheduler, group);
  } finally {
    reducer?.dispose();
  }
}

async function runEpochs(
  run: Run,
  si: number,
  plan: StagePlan,
  optimizer: Optimizer<{ lr: number }>,
  scheduler: LRScheduler,
  group: ProcessGroup | null,
): Promise<void> {
  const { spec, progress, stepsPerEpoch } = run;
  for (let epoch = si === progress.stage ? progress.epoch : 0; epoch < plan.epochs; epoch++) {
    scheduler.setEpoch(epoch);
    const record = await trainEpoch(spec, plan, epoch, run.loader, stepsPerEpoch, optimizer, run.emit, group);
    if (plan.evaluate) Object.assign(record, await evaluateEpoch(spec));
    progress.history.push(record);
    const isBest = record.top1 !== null && record.top1 > progress.best.top1;
    if (isBest) progress.best = { top1: record.top1!, epoch: epoch + 1 };
    run.log({ event: 'epoch', ...record });
    writeScalars(run, record, progress.history.length);
    run.emit({ type: 'epoch', record });
    const ranks = run.latest && group ? gatherRankState(spec.distiller, group) : null;
    if (run.latest && isMainRank(spec)) {
      const seconds = progress.secondsBefore + (performance.now() - run.started) / 1000;
      const at = { si, epoch: epoch + 1, step: (epoch + 1) * stepsPerEpoch, seconds, progress, optimizer, ranks };
      saveRun(spec, run.latest, at, isBest);
    }
    dispose(ranks);
  }
}

/** One epoch of a stage: every step, the NaN guard, progress events; the epoch's record (no test accuracy yet). */
async function trainEpoch(
  spec: RunSpec,
  plan: StagePlan,
  epoch: number,
  loader: DataLoader,
  stepsPerEpoch: number,
  optimizer: Optimizer<{ lr: number }>,
  emit: (e: TrainEvent) => void,
  group: ProcessGroup | null = null,
): Promise<EpochRecord> {
  plan.enter();
  // PyTorch's broadcast_buffers: every step starts from rank 0's BatchNorm statistics.
  const statistics = group ? batchNormStatistics(spec.distiller) : [];
  const gather = (t: Tensor): Tensor => noGrad(() => cat(group!.allGather(t.contiguous())));
  const sums: Record<string, number> = {};
  const watched: Record<string, number> = {};
  let correct = 0;
  let seen = 0;
  let lastBatch: Batch | null = null;
  const epochStart = performance.now();
  let step = 0;
  const batchSize = spec.solver.batchSize;
  for await (const batch of loader.epoch(epoch)) {
    if (step >= stepsPerEpoch) {
      batch.dispose();
      break;
    }
    const ctx: TrainContext = { epoch, epochs: plan.epochs, step: epoch * stepsPerEpoch + step, ...(group ? { gather } : {}) };
    if (group && statistics.length) noGrad(() => group.broadcast(statistics, 0));
    const r = trainStep(plan.step, batch, ctx, optimizer, { clipGradNorm: spec.solver.clipGradNorm });
    for (const [k, v] of Object.entries(r.losses)) {
      if (!Number.isFinite(v))
        throw new Error(
          `stage ${plan.name}, epoch ${epoch + 1}, step ${step + 1}: loss '${k}' is ${v} (diverged); lower the learning rate or the loss weight`,
        );
      sums[k] = (sums[k] ?? 0) + v;
    }
    for (const [k, v] of Object.entries(r.monitor)) watched[k] = (watched[k] ?? 0) + v;
    correct += r.correct;
    seen += r.seen;
    step++;
    const secs = (performance.now() - epochStart) / 1000;
    emit({
      type: 'step',
      stage: plan.name,
      epoch,
      step,
      steps: stepsPerEpoch,
      losses: r.losses,
      imgPerSec: (step * batchSize) / secs,
    });
    lastBatch?.dispose();
    lastBatch = plan.report ? batch : null;
    if (!plan.report) batch.dispose();
  }
  const corrupt = loader.corrupt;
  if (corrupt.count) {
    const message = `epoch ${epoch + 1}: skipped ${corrupt.count} image${corrupt.count > 1 ? 's' : ''} that did not decode, e.g. ${corrupt.examples.join('; ')}`;
    emit({ type: 'warning', message });
    runLog(spec.outDir && isMainRank(spec) ? spec.outDir : undefined)({
      event: 'corrupt',
      epoch: epoch + 1,
      count: corrupt.count,
      examples: corrupt.examples,
    });
  }
  if (group) {
    ({ correct, seen } = reduceEpochSums(group, sums, watched, correct, seen));
    // The last step moved each rank's statistics by its own batch: evaluation (sharded) and the
    // checkpoint (rank 0's) must see one network, rank 0's.
    if (statistics.length) noGrad(() => group.broadcast(statistics, 0));
  }
  const seconds = (performance.now() - epochStart) / 1000;
  const reported = plan.report && lastBatch ? plan.report(lastBatch) : undefined;
  const averaged = Object.fromEntries(Object.entries(watched).map(([k, v]) => [k, v / step]));
  const metrics = reported || Object.keys(averaged).length ? { ...averaged, ...reported } : undefined;
  lastBatch?.dispose();
  return {
    stage: plan.name,
    epoch: epoch + 1,
    lr: optimizer.lr,
    losses: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / step])),
    trainTop1: seen ? (100 * correct) / seen : NaN,
    top1: null,
    top5: null,
    imgPerSec: (step * batchSize) / seconds,
    seconds,
    rssMb: residentMb(),
    metrics,
  };
}

/** The running statistics of the BatchNorm layers being trained (rank 0's are broadcast before each step). */
function batchNormStatistics(distiller: Distiller): Tensor[] {
  const out: Tensor[] = [];
  for (const m of distiller.modules()) {
    if (!(m instanceof BatchNorm2d || m instanceof BatchNorm1d) || !m.training) continue;
    for (const [name, b] of m.namedBuffers()) if (!name.includes('.')) out.push(b);
  }
  return out;
}

/** The epoch's loss and accuracy sums over every rank: the record is the global batch's, the same on every rank. */
function reduceEpochSums(
  group: ProcessGroup,
  sums: Record<string, number>,
  watched: Record<string, number>,
  correct: number,
  seen: number,
): { correct: number; seen: number } {
  const lossKeys = Object.keys(sums).sort();
  const watchKeys = Object.keys(watched).sort();
  const values = tensor(
    Float64Array.from([...lossKeys.map((k) => sums[k]!), ...watchKeys.map((k) => watched[k]!), correct, seen]),
  );
  try {
    group.allReduce(values);
    const v = values.toArray() as Float64Array;
    const w = group.worldSize;
    lossKeys.forEach((k, i) => (sums[k] = v[i]! / w));
    watchKeys.forEach((k, i) => (watched[k] = v[lossKeys.length + i]! / w));
    return { correct: v[v.length - 2]!, seen: v[v.length - 1]! };
  } finally {
    values.dispose();
  }
}

/** Resident memory in MiB; after a full GC when one is exposed, so that the figure shows retained memory only. */
function residentMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') gc();
  return Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;
}

/** Test accuracy of the student, in eval mode. */
async function evaluateEpoch(spec: RunSpec): Promise<{ top1: number; top5: number; otherTop1?: Record<string, number> }> {
  spec.distiller.eval();
  const acc = await evaluateClassifiers(
    (x) => {
      const { logits, others } = spec.distiller.forwardEvaluation(x);
      return { ...others, [DEPLOYED]: logits };
    },
    spec.test,
    { device: spec.device, group: spec.group, numWorkers: spec.numWorkers },
  );
  const { [DEPLOYED]: main, ...others } = acc;
  const otherTop1 = Object.fromEntries(Object.entries(others).map(([k, a]) => [k, a.top1]));
  return { top1: main!.top1, top5: main!.top5, ...(Object.keys(otherTop1).length ? { otherTop1 } : {}) };
}

/** The deployed network's key among the evaluated classifiers (no method names a classifier so). */
const DEPLOYED = '\u0000deployed';

/** latest.pt, and best.pt when this epoch is the best (both replaced atomically). */
function saveRun(
  spec: RunSpec,
  latest: string,
  at: {
    si: number;
    epoch: number;
    step: number;
    seconds: number;
    progress: Progress;
    optimizer: Optimizer<{ lr: number }>;
    ranks?: Tensor[] | null;
  },
  isBest: boolean,
): void {
  const ck: Checkpoint = {
    version: CHECKPOINT_VERSION,
    stageIndex: at.si,
    epoch: at.epoch,
    model: spec.distiller.stateDict(),
    optimizer: at.optimizer.stateDict(),
    history: JSON.stringify(at.progress.history),
    best: at.progress.best,
    rng: getRngState(),
    step: at.step,
    seconds: at.seconds,
    ...(at.ranks ? { ranks: at.ranks } : {}),
  };
  try {
    // best.pt first: a kill between the two writes leaves latest.pt one epoch behind, and the
    // resumed run redoes that epoch and writes the same best.pt again.
    saveCheckpoint(ck, ...(isBest ? [path.join(spec.outDir!, 'best.pt')] : []), latest);
  } finally {
    dispose([ck.model, ck.rng]); // made for the checkpoint; the optimizer's state is its own
  }
}
