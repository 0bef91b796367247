// An experiment from a config: data, teacher (from its checkpoint), student, method, training,
// and the run folder's files (log.jsonl, latest.pt, best.pt, student.pt, report.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tensor, load, manualSeed, save, setNumThreads } from '../tensor/index.js';
import { createModel, type Model } from '../models/index.js';
import { createDistiller, methodNeedsTeacher } from '../distillers/index.js';
import * as data from '../data/datasets.js';
import type { ExperimentConfig } from './config.js';
import { runTraining, type RunResult, type TrainEvent } from './trainer.js';
import { evaluate } from './evaluate.js';
import { writeRunReport } from './report.js';

export interface Datasets {
  train: data.ImageDataset;
  test: data.ImageDataset;
}

export function loadDatasets(c: ExperimentConfig['dataset'], seed: number): Datasets {
  const root = c.root;
  const need = (what: string) => {
    if (!root) throw new Error(`dataset ${c.name}: set dataset.root to the ${what} folder`);
    return root;
  };
  let train: data.ImageDataset;
  let test: data.ImageDataset;
  switch (c.name) {
    case 'fashion-mnist':
      train = data.loadFashionMnist({ root, train: true });
      test = data.loadFashionMnist({ root, train: false });
      break;
    case 'mnist':
      train = data.loadMnist({ root: need('MNIST IDX'), train: true });
      test = data.loadMnist({ root: need('MNIST IDX'), train: false });
      break;
    case 'cifar10':
      train = data.loadCifar10({ root: need('cifar-10-batches-bin'), train: true });
      test = data.loadCifar10({ root: need('cifar-10-batches-bin'), train: false });
      break;
    case 'cifar100':
      train = data.loadCifar100({ root: need('cifar-100-binary'), train: true });
      test = data.loadCifar100({ root: need('cifar-100-binary'), train: false });
      break;
    case 'synthetic':
      train = data.syntheticDataset({ length: c.trainSubset ?? 2048, seed: 1 });
      test = data.syntheticDataset({ length: c.testSubset ?? 512, seed: 2 });
      break;
  }
  // Subsets are the first N samples in a seeded order, the same for every run of a comparison.
  const pick = (ds: data.ImageDataset, n: number | undefined, s: number) => {
    if (!n || n >= ds.length) return ds;
    const idx = data.shuffledIndices(ds.length, data.mulberry32(s));
    return data.subset(ds, idx.subarray(0, n));
  };
  if (c.name !== 'synthetic') {
    train = pick(train, c.trainSubset, 1234);
    test = pick(test, c.testSubset, 4321);
  }
  if (c.labelNoise > 0) train = data.withLabelNoise(train, c.labelNoise, seed + 77).dataset;
  return { train, test };
}

/** The state dict inside a checkpoint: a raw state dict, mdistiller's {model}, or ours (student.*). */
export function extractStateDict(ckpt: unknown, file: string): Record<string, Tensor> {
  const isStateDict = (o: unknown): o is Record<string, Tensor> =>
    !!o && typeof o === 'object' && Object.values(o).length > 0 && Object.values(o).every((v) => v instanceof Tensor);
  const obj = ckpt as Record<string, unknown>;
  let sd: Record<string, Tensor> | null = null;
  if (isStateDict(obj)) sd = obj;
  else
    for (const key of ['model', 'state_dict', 'net', 'student'])
      if (isStateDict(obj?.[key])) sd = obj[key] as Record<string, Tensor>;
  if (!sd) throw new Error(`${file} holds no state dict (expected a state dict, or one under 'model' / 'state_dict')`);
  if (Object.keys(sd).some((k) => k.startsWith('student.'))) {
    sd = Object.fromEntries(
      Object.entries(sd)
        .filter(([k]) => k.startsWith('student.'))
        .map(([k, v]) => [k.slice('student.'.length), v]),
    );
  }
  return sd;
}

export function loadModelCheckpoint(model: Model, file: string, role: string): void {
  const sd = extractStateDict(load(file), file);
  try {
    model.loadStateDict(sd);
  } catch (err) {
    throw new Error(`${role} checkpoint ${file} does not fit the ${role} architecture: ${(err as Error).message}`);
  }
}

export interface ExperimentResult extends RunResult {
  name: string;
  method: string;
  student: string;
  teacher: string | null;
  studentParameters: number;
  teacherTop1: number | null;
  outDir: string;
}

/** Runs one experiment. `datasets` may be shared between runs of a comparison. */
export async function runExperiment(
  c: ExperimentConfig,
  options: { resume?: boolean; datasets?: Datasets; onEvent?: (e: TrainEvent) => void; outDir?: string } = {},
): Promise<ExperimentResult> {
  if (c.runtime.threads) setNumThreads(c.runtime.threads);
  const outDir = options.outDir ?? path.join(c.output, c.name);
  mkdirSync(outDir, { recursive: true });
  const { train, test } = options.datasets ?? loadDatasets(c.dataset, c.seed);
  const shape = { numClasses: train.numClasses, inChannels: train.channels };
  manualSeed(c.seed);
  const method = c.method.name.toLowerCase();
  let teacher: Model | null = null;
  let teacherTop1: number | null = null;
  if (methodNeedsTeacher(method)) {
    if (!c.teacher?.checkpoint)
      throw new Error(`config ${c.name}: method '${method}' needs teacher.model and teacher.checkpoint`);
    teacher = createModel(c.teacher.model, shape).to(c.runtime.device);
    loadModelCheckpoint(teacher, c.teacher.checkpoint, 'teacher');
    teacher.eval();
    const t = teacher;
    teacherTop1 = evaluate((x) => t.forward(x).logits, test, { device: c.runtime.device }).top1;
  }
  const student = createModel(c.student.model, shape).to(c.runtime.device);
  const distiller = createDistiller(method, student, teacher, c.method.options, { inputSize: train.height });
  writeFileSync(path.join(outDir, 'config.json'), JSON.stringify(c, null, 2));
  const result = await runTraining({
    distiller,
    train,
    test,
    solver: c.solver,
    augment: c.dataset.augment,
    seed: c.seed,
    outDir,
    numWorkers: c.runtime.workers,
    stages: c.stages,
    maxStepsPerEpoch: c.runtime.maxStepsPerEpoch,
    resume: options.resume,
    device: c.runtime.device,
    onEvent: options.onEvent,
  });
  // The student alone, in mdistiller's checkpoint shape, usable as a teacher checkpoint.
  const sd = student.stateDict();
  save({ model: sd }, path.join(outDir, 'student.pt'));
  for (const t of Object.values(sd)) t.dispose();
  const out: ExperimentResult = {
    ...result,
    name: c.name,
    method,
    student: c.student.model,
    teacher: teacher ? c.teacher!.model : null,
    studentParameters: student.numParameters(),
    teacherTop1,
    outDir,
  };
  writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(out, null, 2));
  await writeRunReport(c, out);
  distiller.dispose();
  return out;
}
