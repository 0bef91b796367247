// The README's main job: on Fashion-MNIST (Debian's dataset-fashion-mnist), train a teacher, a
// baseline student and a student with each seed method, then print the comparison table.
import { validateConfig, type ExperimentConfig, type ExperimentInput } from './config.js';
import { methodDefaults } from '../distillers/index.js';

export const QUICKSTART_METHODS = ['none', 'kd', 'dist', 'sp', 'ft', 'ab', 'dlb'] as const;

export interface QuickstartOptions {
  /** A few hundred steps in all, for tests: tiny subsets and capped epochs. */
  quick?: boolean;
  outDir?: string;
  threads?: number;
  root?: string;
  /** Methods to compare (the baseline `none` included); default: the six seed methods. */
  methods?: string[];
}

/** The configs of the quickstart: teacher first, then one run per method. */
export function quickstartConfigs(o: QuickstartOptions = {}): { teacher: ExperimentConfig; runs: ExperimentConfig[] } {
  const quick = o.quick ?? false;
  const base: ExperimentInput = {
    name: 'base',
    dataset: {
      name: 'fashion-mnist',
      root: o.root,
      trainSubset: quick ? 1024 : 12000,
      testSubset: quick ? 512 : 10000,
      augment: { cropPadding: 2, hflip: true },
    },
    student: { model: 'resnet8' },
    solver: { epochs: quick ? 1 : 5, batchSize: 64, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: { type: 'cosine' } },
    seed: 0,
    output: o.outDir ?? 'runs/quickstart',
    runtime: { threads: o.threads, workers: 1, maxStepsPerEpoch: quick ? 12 : undefined },
  };
  const teacher = validateConfig({ ...base, name: 'teacher', student: { model: 'resnet20' } }, 'quickstart teacher');
  // The comparison trains the teacher first and hands its weights to every run.
  const noCheckpoint = { checkTeacherCheckpoint: false };
  const stageEpochs = { paraphraser: { epochs: 1 }, 'ab-init': { epochs: 1, lr: 0.05 } };
  const methods = o.methods ?? [...QUICKSTART_METHODS];
  const runs = methods.map((m) =>
    validateConfig(
      {
        ...base,
        name: m === 'none' ? 'baseline' : m,
        teacher: { model: 'resnet20' },
        // Loss warm-ups are sized for 240 epochs (20); on this 5-epoch schedule they ramp over one.
        method: { name: m, options: 'warmupEpochs' in methodDefaults(m) ? { warmupEpochs: 1 } : {} },
        stages: stageEpochs,
      },
      `quickstart ${m}`,
      noCheckpoint,
    ),
  );
  return { teacher, runs };
}
