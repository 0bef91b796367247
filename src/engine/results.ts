// What training, experiments and comparisons produce: the types that reports format, and the
// atomic write of the files that hold them.
import { writeFileAtomic } from '../tensor/index.js';

/** Writes a run's text file atomically: a kill leaves the old file or the new one, never half. */
export function writeText(file: string, text: string): void {
  writeFileAtomic(file, Buffer.from(text));
}

export interface EpochRecord {
  stage: string;
  epoch: number;
  lr: number;
  losses: Record<string, number>;
  trainTop1: number;
  top1: number | null;
  top5: number | null;
  /** Test top-1 of the method's other classifiers (BYOT's heads, DML's peers), by name. */
  otherTop1?: Record<string, number>;
  imgPerSec: number;
  seconds: number;
  /** Resident memory at the end of the epoch, in MiB (after a full GC when node runs with --expose-gc). */
  rssMb?: number;
  metrics?: Record<string, number>;
}

export type TrainEvent =
  | { type: 'stage'; stage: string; epochs: number; stepsPerEpoch: number }
  | { type: 'step'; stage: string; epoch: number; step: number; steps: number; losses: Record<string, number>; imgPerSec: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'resume'; stage: string; epoch: number; /** Every stage had already finished: nothing trains. */ complete: boolean }
  | { type: 'warning'; message: string };

export interface RunResult {
  bestTop1: number;
  bestEpoch: number;
  lastTop1: number;
  lastTop5: number;
  history: EpochRecord[];
  seconds: number;
  imgPerSec: number;
  extraParameters: number;
  /** Processes that trained together (1: a single process). */
  worldSize: number;
  /** Samples per optimisation step over all processes (solver.batchSize). */
  globalBatch: number;
}

export interface ExperimentResult extends RunResult {
  name: string;
  method: string;
  student: string;
  teacher: string | null;
  studentParameters: number;
  teacherTop1: number | null;
  numClasses: number;
  seed: number;
  outDir: string;
  /** Things a person should look at (a collapsed student, a weak teacher). */
  warnings: string[];
}

export interface ComparisonRow {
  label: string;
  method: string;
  model: string;
  seeds: number;
  best: { mean: number; std: number };
  last: { mean: number; std: number };
  /** Mean best top-1 minus the baseline's (null for the teacher and the baseline itself). */
  delta: number | null;
  extraParameters: number;
  parameters: number;
  seconds: number;
  imgPerSec: number;
}

export interface Comparison {
  teacher: ComparisonRow | null;
  rows: ComparisonRow[];
  markdown: string;
  warnings: string[];
}
