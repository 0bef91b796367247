// An experiment from a config: data, teacher (from its checkpoint), student, method, training,
// and the run folder's files (config.json, log.jsonl, latest.pt, best.pt, student.pt,
// result.json, report.md). Every bad input is found before training starts (InputError).
import { statSync } from 'node:fs';
import { writeText } from './results.js';
import path from 'node:path';
import { cuda, dispose, load, manualSeed, save, setNumThreads, tidy, type Tensor } from '../tensor/index.js';
import { createModel } from '../models/index.js';
import { setConvAlgorithm } from '../nn/fold.js';
import { createDistiller, logitsOf, methodEntry, type Distiller, type Network } from '../distillers/index.js';
import * as data from '../data/datasets.js';
import type { AugmentConfig } from '../data/transforms.js';
import { RAND_AUGMENT_DEFAULTS } from '../data/autoaugment.js';
import { checkSplitsAgree, createSplit, type Split } from '../data/registry.js';
import type { ExperimentConfig } from './config.js';
import { isMainRank, runLog, runTraining } from './trainer.js';
import { convertSyncBatchNorm, getDefaultGroup, parallelGroup, type ProcessGroup } from '../distributed/index.js';
import { evaluate } from './evaluate.js';
import { acquireRunFolder } from './runfolder.js';
import { extractStateDict, loadWeights } from './checkpoint.js';
import { InputError, asInputError } from './errors.js';
import { writeRunReport } from './report.js';
import type { ExperimentResult, TrainEvent } from './results.js';

export type { ExperimentResult } from './results.js';

export interface Datasets {
  train: data.ImageDataset;
  test: data.ImageDataset;
}

/** Seeds of the subsets' sample order: fixed, so every run of a comparison sees the same images. */
export const TRAIN_SUBSET_SEED = 1234;
export const TEST_SUBSET_SEED = 4321;
/** Offset from the run's seed for the choice of noisy labels. */
export const LABEL_NOISE_SEED_OFFSET = 77;

/** One split of the config's dataset: its registered loader, then the subset, normalisation and (training) label noise. */
export function loadSplit(c: ExperimentConfig['dataset'], seed: number, split: Split): data.ImageDataset {
  const spec = {
    root: c.root,
    size: c.size,
    trainSubset: c.trainSubset,
    testSubset: c.testSubset,
    stream: c.stream,
    resize: c.resize,
    interpolation: c.interpolation,
    maxCorruptFraction: c.maxCorruptFraction,
  };
  let ds = asInputError(() => createSplit(c.name, spec, split));
  // A subset is the first N samples in a fixed seeded order; a loader that honours the subset
  // size itself (synthetic) already returns N samples, which this keeps.
  const [n, subsetSeed] = split === 'train' ? [c.trainSubset, TRAIN_SUBSET_SEED] : [c.testSubset, TEST_SUBSET_SEED];
  if (n && n > ds.length) {
    throw new InputError(
      `dataset.${split === 'train' ? 'trainSubset' : 'testSubset'} is ${n}, but ${c.name}'s ${split} split has only ${ds.length} samples; lower it or leave it out to use them all`,
    );
  }
  if (n && n < ds.length) ds = data.subset(ds, data.shuffledIndices(ds.length, data.mulberry32(subsetSeed)).subarray(0, n));
  if (c.mean || c.std) {
    const norm = { mean: c.mean ?? ds.mean, std: c.std ?? ds.std };
    if (norm.mean.length !== ds.channels || norm.std.length !== ds.channels)
      throw new InputError(`dataset.mean/std: ${c.name} has ${ds.channels} channel(s); give one value per channel`);
    ds = { ...ds, ...norm };
  }
  if (split === 'train' && c.labelNoise > 0) ds = data.withLabelNoise(ds, c.labelNoise, seed + LABEL_NOISE_SEED_OFFSET).dataset;
  return ds;
}

/** Both splits of the config's dataset (loadSplit), agreeing in channels and classes. */
export function loadDatasets(c: ExperimentConfig['dataset'], seed: number): Datasets {
  const splits = { train: loadSplit(c, seed, 'train'), test: loadSplit(c, seed, 'test') };
  asInputError(() => checkSplitsAgree(c.name, splits));
  return splits;
}

/** Fails early, with the fix, when the config asks for a device this libtorch does not have. */
export function checkDevice(device: string): void {
  if (device.startsWith('cuda') && !cuda.isAvailable())
    throw new InputError(
      `runtime.device is '${device}', but this libtorch has no CUDA (or sees no GPU); use runtime.device: cpu, or build distill-ts against a CUDA libtorch: LIBTORCH=/path/to/libtorch npm ci`,
    );
  if (device !== 'cpu' && !/^cuda(:\d+)?$/.test(device))
    throw new InputError(`runtime.device '${device}': expected cpu, cuda or cuda:N`);
}

interface Prepared {
  train: data.ImageDataset;
  test: data.ImageDataset;
  teacher: Network | null;
  teacherTop1: number | null;
  student: Network;
  distiller: Distiller;
  /** What the run should say before it trains (a replaced classifier). */
  notes: string[];
}

/** Data, networks and the method: every failure here is bad input (exit code 2). */
async function prepare(
  c: ExperimentConfig,
  datasets: Datasets | undefined,
  teacherTop1s: Map<string, number> | undefined,
  group: ProcessGroup | null,
): Promise<Prepared> {
  checkDevice(c.runtime.device);
  const { train, test } = datasets ?? loadDatasets(c.dataset, c.seed);
  const shape = { numClasses: train.numClasses, inChannels: train.channels };
  manualSeed(c.seed);
  const entry = methodEntry(c.method.name);
  const notes: string[] = [];
  let teacher: Network | null = null;
  let student: Network | null = null;
  try {
    let teacherTop1: number | null = null;
    if (entry.needsTeacher) {
      if (!c.teacher?.checkpoint)
        throw new InputError(`config ${c.name}: method '${entry.name}' needs teacher.model and teacher.checkpoint`);
      const t = (teacher = asInputError(() => createModel(c.teacher!.model, shape)).to(c.runtime.device));
      loadWeights(t, c.teacher.checkpoint, { role: 'teacher', modelName: c.teacher.model });
      t.eval();
      // Runs of a comparison share the teacher: its accuracy is measured once per weights and data.
      const key = [c.teacher.checkpoint, statSync(c.teacher.checkpoint).mtimeMs, c.teacher.model, JSON.stringify(c.dataset)].join(
        '\n',
      );
      teacherTop1 =
        teacherTop1s?.get(key) ??
        (await evaluate((x) => logitsOf(t.forward(x)), test, { device: c.runtime.device, group, numWorkers: c.runtime.workers }))
          .top1;
      teacherTop1s?.set(key, teacherTop1);
    }
    student = asInputError(() => createModel(c.student.model, shape)).to(c.runtime.device);
    const s = student;
    setConvAlgorithm(s, c.student.convAlgorithm);
    if (c.student.pretrained) {
      const { replaced } = loadWeights(s, c.student.pretrained, {
        role: 'student.pretrained',
        modelName: c.student.model,
        replaceClassifier: true,
      });
      if (replaced.length)
        notes.push(
          `student.pretrained: ${replaced.join(', ')} replaced (the checkpoint has another number of classes; the new classifier starts fresh)`,
        );
    }
    const distiller = asInputError(() =>
      createDistiller(entry.name, s, teacher, c.method.options, {
        inputShape: [train.channels, train.height, train.width],
        trainLabels: train.labels,
        seed: c.seed,
        studentModel: c.student.model,
      }),
    );
    // The method's own modules and buffers (connectors, memories) join the networks' device.
    distiller.to(c.runtime.device);
    if (c.runtime.channelsLast) distiller.to({ memoryFormat: 'channelsLast' });
    distiller.labelSmoothing = c.solver.labelSmoothing;
    if (c.teacher) {
      distiller.foldTeacherBatchNorm = c.teacher.foldBatchNorm;
      distiller.teacherPrecision = c.teacher.precision;
      distiller.teacherConvAlgorithm = c.teacher.convAlgorithm;
    }
    // The trained networks and the method's modules; the teacher stays in eval mode.
    if (group && c.runtime.syncBatchNorm) for (const m of [s, ...distiller.extraModules()]) convertSyncBatchNorm(m, group);
    return { train, test, teacher, teacherTop1, student, distiller, notes };
  } catch (err) {
    // Nothing will train: release the networks built so far.
    teacher?.dispose();
    student?.dispose();
    throw err;
  }
}

/**
 * The network a run of `c` deploys, with the weights of `file` (a run's best.pt/latest.pt or its
 * student.pt), as a logits function; `release` frees it. For most methods that is the student
 * alone; a method that deploys more (SimKD) is rebuilt around the teacher's architecture, whose
 * weights come from the file too.
 */
export function loadDeployed(
  c: ExperimentConfig,
  file: string,
  shape: { numClasses: number; inChannels: number; inputShape: [number, number, number] },
): { network: Network; logits: (x: Tensor) => Tensor; release: () => void } {
  const entry = methodEntry(c.method.name);
  const { inputShape, ...modelShape } = shape;
  const student = createModel(c.student.model, modelShape).to(c.runtime.device);
  if (entry.deploysStudentAlone) {
    try {
      loadWeights(student, file, { role: 'student', modelName: c.student.model });
    } catch (err) {
      student.dispose();
      throw err;
    }
    student.eval();
    return { network: student, logits: (x) => logitsOf(student.forward(x)), release: () => student.dispose() };
  }
  let teacher: Network | null = null;
  let distiller: Distiller;
  try {
    if (!c.teacher)
      throw new InputError(`config ${c.name}: method '${entry.name}' deploys parts of the teacher; set teacher.model`);
    teacher = createModel(c.teacher.model, modelShape).to(c.runtime.device);
    distiller = createDistiller(entry.name, student, teacher, c.method.options, { inputShape }).to(c.runtime.device);
  } catch (err) {
    student.dispose();
    teacher?.dispose();
    throw err;
  }
  try {
    tidy(() => {
      const sd = extractStateDict(load(file), file, { keepPrefixes: true });
      // A run checkpoint holds the whole method (student., teacher., extras); student.pt the deployed network.
      const target = Object.keys(sd).some((k) => k.startsWith('teacher.')) ? distiller : distiller.deployable();
      try {
        target.loadStateDict(sd);
      } catch (err) {
        throw new InputError(
          `checkpoint ${file} does not fit ${entry.name} with student ${c.student.model} and teacher ${c.teacher!.model}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    });
  } catch (err) {
    distiller.dispose();
    throw err;
  }
  distiller.eval();
  return { network: distiller.deployable(), logits: (x) => distiller.forwardTest(x), release: () => distiller.dispose() };
}

/** Runs one experiment. `datasets` may be shared between runs of a comparison. */
export async function runExperiment(
  c: ExperimentConfig,
  options: {
    resume?: boolean;
    datasets?: Datasets;
    onEvent?: (e: TrainEvent) => void;
    outDir?: string;
    /** Teacher accuracies already measured (a comparison's runs share one map). */
    teacherTop1s?: Map<string, number>;
    /** Data-parallel training with this group (default: the process's group, if it joined one). */
    group?: ProcessGroup | null;
  } = {},
): Promise<ExperimentResult> {
  if (c.runtime.threads) setNumThreads(c.runtime.threads);
  const outDir = options.outDir ?? path.join(c.output, c.name);
  const group = parallelGroup(options.group === undefined ? getDefaultGroup() : options.group);
  const world = group?.worldSize ?? 1;
  if (c.solver.batchSize % world !== 0)
    throw new InputError(
      `solver.batchSize ${c.solver.batchSize} is the global batch and must split evenly across the ${world} processes; choose a multiple of ${world}`,
    );
  // Nothing is written to the run folder until the run is valid: data, networks, weights, method.
  const p = await prepare(c, options.datasets, options.teacherTop1s, group);
  let release: () => void;
  try {
    release = isMainRank({ group }) ? acquireRunFolder(outDir) : () => {};
  } catch (err) {
    p.distiller.dispose();
    throw err;
  }
  try {
    return await runInFolder(c, p, outDir, { ...options, group });
  } finally {
    release();
  }
}

/** The run proper, once its folder is held: config.json, training, student.pt, result and report. */
async function runInFolder(
  c: ExperimentConfig,
  p: Prepared,
  outDir: string,
  options: Parameters<typeof runExperiment>[1] & object,
): Promise<ExperimentResult> {
  const main = isMainRank(options);
  const log = runLog(main ? outDir : undefined);
  if (main) writeText(path.join(outDir, 'config.json'), JSON.stringify(c, null, 2));
  if (main)
    for (const message of p.notes) {
      options.onEvent?.({ type: 'warning', message: `${c.name}: ${message}` });
      log({ event: 'note', message });
    }
  const studentParameters = p.student.numParameters();
  let result;
  try {
    result = await runTraining({
      distiller: p.distiller,
      train: p.train,
      test: p.test,
      solver: scaledSolver(c.solver),
      augment: c.dataset.augment,
      strongAugment: strongAugmentOf(c),
      seed: c.seed,
      outDir,
      numWorkers: c.runtime.workers,
      stages: c.stages,
      maxStepsPerEpoch: c.runtime.maxStepsPerEpoch,
      tensorboard: c.logging.tensorboard,
      resume: options.resume,
      device: c.runtime.device,
      channelsLast: c.runtime.channelsLast,
      onEvent: options.onEvent,
      group: options.group,
    });
    // The deployed network in mdistiller's checkpoint shape: the student alone (usable as a teacher
    // checkpoint), or what the method deploys (SimKD: student, projector, teacher classifier).
    if (main) {
      const sd = p.distiller.deployable().stateDict();
      save({ model: sd }, path.join(outDir, 'student.pt'));
      dispose(sd);
    }
  } finally {
    p.distiller.dispose();
  }
  const out: ExperimentResult = {
    ...result,
    name: c.name,
    method: methodEntry(c.method.name).name,
    student: c.student.model,
    teacher: p.teacher ? c.teacher!.model : null,
    studentParameters,
    teacherTop1: p.teacherTop1,
    numClasses: p.train.numClasses,
    seed: c.seed,
    outDir,
    warnings: runWarnings(result.bestTop1, p.teacherTop1, p.train.numClasses),
  };
  if (!main) return out;
  for (const message of out.warnings) {
    options.onEvent?.({ type: 'warning', message: `${c.name}: ${message}` });
    log({ event: 'warning', message });
  }
  writeText(path.join(outDir, 'result.json'), JSON.stringify(out, null, 2));
  await writeRunReport(c, out);
  return out;
}

/** The solver with lr scaled to the global batch (solver.lrScaling). */
export function scaledSolver(solver: ExperimentConfig['solver']): ExperimentConfig['solver'] {
  if (solver.lrScaling !== 'linear' || !solver.lrReferenceBatch) return solver;
  return { ...solver, lr: (solver.lr * solver.batchSize) / solver.lrReferenceBatch };
}

/** A student no better than chance, or a teacher that barely learned, is worth a loud word. */
export function runWarnings(bestTop1: number, teacherTop1: number | null, numClasses: number): string[] {
  const chance = 100 / numClasses;
  const near = (acc: number) => acc <= 1.5 * chance;
  const warnings: string[] = [];
  if (near(bestTop1))
    warnings.push(
      `the student collapsed: best top-1 ${bestTop1.toFixed(2)}% is near chance (${chance.toFixed(1)}%); lower the learning rate or the loss weights, or train longer`,
    );
  if (teacherTop1 !== null && near(teacherTop1))
    warnings.push(
      `the teacher is near chance (${teacherTop1.toFixed(2)}% top-1): it has little to teach; check teacher.checkpoint and the dataset`,
    );
  return warnings;
}

/** The strong view's augmentation: the config's, else for a method that wants one the weak view's plus RandAugment. */
export function strongAugmentOf(c: ExperimentConfig): AugmentConfig | null {
  if (c.dataset.strongAugment) return c.dataset.strongAugment;
  if (!methodEntry(c.method.name).strongView) return null;
  return { ...(c.dataset.augment ?? {}), randAugment: { ...RAND_AUGMENT_DEFAULTS } };
}
