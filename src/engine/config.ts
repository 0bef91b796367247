// Experiment configuration: YAML files validated against a schema before any work starts.
// Names (models, methods, datasets) and each method's options are checked against the
// registries, so a plugin's entries validate like built-in ones. Errors name the key's path and
// the allowed values.
import { existsSync, readFileSync } from 'node:fs';
import { RAND_AUGMENT_DEFAULTS } from '../data/autoaugment.js';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { modelNames } from '../models/index.js';
import { methodEntry, methodNames } from '../distillers/index.js';
import { datasetNames } from '../data/registry.js';
import { InputError } from './errors.js';

const registered = (what: string, names: () => string[], normalise = (s: string) => s) =>
  z.string().refine(
    (m) => names().includes(normalise(m)),
    (m) => ({ message: `unknown ${what} '${m}'; allowed: ${names().join(', ')}` }),
  );

const modelName = registered('model', modelNames);

const schedule = z
  .object({
    type: z.enum(['multistep', 'cosine', 'constant']),
    milestones: z.array(z.number().int().nonnegative()).optional(),
    gamma: z.number().positive().optional(),
    warmupEpochs: z.number().int().nonnegative().optional(),
  })
  .strict();

const perChannel = z.array(z.number()).min(1);

/** Training augmentation: random crop with zero padding, flip, then torchvision's AutoAugment or RandAugment. */
const augmentSchema = z
  .object({
    cropPadding: z.number().int().nonnegative().optional(),
    hflip: z.boolean().optional(),
    randAugment: z
      .object({
        numOps: z.number().int().positive().max(10).default(RAND_AUGMENT_DEFAULTS.numOps),
        magnitude: z.number().int().nonnegative().default(RAND_AUGMENT_DEFAULTS.magnitude),
        numMagnitudeBins: z.number().int().min(2).default(RAND_AUGMENT_DEFAULTS.numMagnitudeBins),
      })
      .strict()
      .refine((r) => r.magnitude < r.numMagnitudeBins, { message: 'magnitude must be below numMagnitudeBins' })
      .optional(),
    autoAugment: z.enum(['cifar10', 'imagenet', 'svhn']).optional(),
    /** torchvision's ColorJitter (ranges around 1 for brightness, contrast, saturation; hue in [-0.5, 0.5]). */
    colorJitter: z
      .object({
        brightness: z.number().min(0).optional(),
        contrast: z.number().min(0).optional(),
        saturation: z.number().min(0).optional(),
        hue: z.number().min(0).max(0.5).optional(),
      })
      .strict()
      .optional(),
    /** torchvision's RandomResizedCrop to dataset.size (streaming datasets: imagefolder with stream, webdataset). */
    randomResizedCrop: z
      .object({
        scale: z
          .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
          .refine(([a, b]) => a <= b, { message: 'scale must be [min, max]' })
          .default([0.08, 1]),
        ratio: z
          .tuple([z.number().positive(), z.number().positive()])
          .refine(([a, b]) => a <= b, { message: 'ratio must be [min, max]' })
          .default([3 / 4, 4 / 3]),
      })
      .strict()
      .optional(),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().min(1),
    /** ES modules that register models, methods or datasets; paths relative to the config file. */
    plugins: z.array(z.string().min(1)).default([]),
    dataset: z
      .object({
        name: registered('dataset', datasetNames),
        root: z.string().optional(),
        /** Image side for datasets that resize (imagefolder). */
        size: z.number().int().positive().optional(),
        trainSubset: z.number().int().positive().optional(),
        testSubset: z.number().int().positive().optional(),
        /** imagefolder: decode in the loader's workers while training (ImageNet-sized folders) instead of once into memory. */
        stream: z.boolean().optional(),
        /** Streaming datasets: Resize's shorter side before the center crop (default size × 256 / 224). */
        resize: z.number().int().positive().optional(),
        interpolation: z.enum(['nearest', 'bilinear', 'bicubic', 'lanczos']).optional(),
        /** Streaming datasets: an epoch may skip this fraction of undecodable images (reported) before the run stops. */
        maxCorruptFraction: z.number().min(0).max(1).optional(),
        augment: augmentSchema.nullable().default(null),
        /**
         * The second view's augmentation for methods that train on a weak and a strong view (MLKD);
         * default for them: augment plus RandAugment (2 operations, magnitude 9).
         */
        strongAugment: augmentSchema.nullable().default(null),
        labelNoise: z.number().min(0).max(1).default(0),
        /** Normalisation; default: the dataset's own statistics. */
        mean: perChannel.optional(),
        std: z.array(z.number().positive()).min(1).optional(),
      })
      .strict(),
    teacher: z
      .object({
        model: modelName,
        checkpoint: z.string().optional(),
        /** Fold the frozen teacher's BatchNorms into its convolutions (same outputs up to rounding). */
        foldBatchNorm: z.boolean().default(true),
        /** The teacher's arithmetic: float32, or reduced precision under autocast (opt-in; see docs/methods.md). */
        precision: z.enum(['float32', 'bfloat16', 'float16']).default('float32'),
        /**
         * How its 3x3 convolutions run: auto (oneDNN's Winograd kernels where they pay, float32 on
         * the CPU, ~1e-6 relative on the logits), direct (libtorch's) or winograd (wherever they apply).
         */
        convAlgorithm: z.enum(['auto', 'direct', 'winograd']).default('auto'),
      })
      .strict()
      .optional(),
    student: z
      .object({
        model: modelName,
        /**
         * Weights to start from (fine-tuning): a checkpoint of the same architecture; a
         * torchvision network's classifier may have another number of classes (then replaced).
         */
        pretrained: z.string().optional(),
        /**
         * How its 3x3 convolutions run in training and evaluation: direct (libtorch's, the
         * default), auto (oneDNN's Winograd kernels where they pay) or winograd (wherever they
         * apply). Opt-in: Winograd rounds differently (~1e-6 relative per layer), as cuDNN's
         * algorithm choice does on a GPU; float32 on the CPU only.
         */
        convAlgorithm: z.enum(['direct', 'auto', 'winograd']).default('direct'),
      })
      .strict(),
    method: z
      .object({
        name: registered('method', methodNames, (m) => m.toLowerCase()),
        options: z.record(z.unknown()).default({}),
      })
      .strict()
      .default({ name: 'none', options: {} }),
    stages: z
      .record(z.object({ epochs: z.number().int().nonnegative().optional(), lr: z.number().positive().optional() }).strict())
      .default({}),
    solver: z
      .object({
        epochs: z.number().int().positive(),
        batchSize: z.number().int().positive(),
        lr: z.number().positive(),
        optimizer: z.enum(['sgd', 'adamw', 'dot']).default('sgd'),
        /** DOT (distillation-oriented trainer): task momentum = momentum − delta, distillation momentum = momentum + delta. */
        dot: z
          .object({ delta: z.number().min(0).default(0.075) })
          .strict()
          .default({}),
        momentum: z.number().min(0).max(1).default(0.9),
        weightDecay: z.number().min(0).max(1).default(5e-4),
        nesterov: z.boolean().default(false),
        /** AdamW's betas. */
        betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
        /** Clip the gradients' total L2 norm to this value (torch.nn.utils.clip_grad_norm_). */
        clipGradNorm: z.number().positive().optional(),
        /** Label smoothing of every method's cross-entropy term. */
        labelSmoothing: z.number().min(0).max(1).default(0),
        schedule: schedule.default({ type: 'constant' }),
        /**
         * How lr follows the global batch (batchSize, over all processes): 'linear' scales it by
         * batchSize / lrReferenceBatch (Goyal et al. 2017), 'none' uses lr as written.
         */
        lrScaling: z.enum(['none', 'linear']).default('none'),
        /** The batch size `lr` was tuned for (lrScaling: linear). */
        lrReferenceBatch: z.number().int().positive().optional(),
      })
      .strict(),
    logging: z
      .object({
        /** Each epoch's scalars as TensorBoard event files in the run folder. */
        tensorboard: z.boolean().default(false),
      })
      .strict()
      .default({}),
    seed: z.number().int().nonnegative().default(0),
    output: z.string().default('runs'),
    runtime: z
      .object({
        threads: z.number().int().positive().optional(),
        workers: z.number().int().nonnegative().default(1),
        device: z.string().default('cpu'),
        /** Networks and batches in the channels-last memory format (often faster on CPU; bench:steps says which). */
        channelsLast: z.boolean().default(false),
        maxStepsPerEpoch: z.number().int().positive().optional(),
        /** Data-parallel runs: normalise BatchNorm over the global batch (torch.nn.SyncBatchNorm); off as in PyTorch. */
        syncBatchNorm: z.boolean().default(false),
        /** Data-parallel runs: the c10d backend (default gloo on CPU, nccl on CUDA). */
        backend: z.enum(['gloo', 'nccl']).optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.teacher?.precision === 'float16' && !c.runtime.device.startsWith('cuda'))
      ctx.addIssue({
        code: 'custom',
        path: ['teacher', 'precision'],
        message: 'float16 autocast needs a CUDA device; on the CPU use teacher.precision: bfloat16 (or float32)',
      });
    const streaming = c.dataset.name === 'webdataset' || (c.dataset.name === 'imagefolder' && c.dataset.stream === true);
    for (const which of ['augment', 'strongAugment'] as const)
      if (c.dataset[which]?.randomResizedCrop && !streaming)
        ctx.addIssue({
          code: 'custom',
          path: ['dataset', which, 'randomResizedCrop'],
          message:
            'RandomResizedCrop is taken while decoding: use it with a streaming dataset (webdataset, or imagefolder with stream: true)',
        });
    let entry;
    try {
      entry = methodEntry(c.method.name);
    } catch {
      return; // reported by the name's own check
    }
    const r = entry.options.safeParse(c.method.options);
    if (!r.success) {
      const allowed = Object.keys(entry.options.shape).join(', ') || '(none)';
      for (const i of r.error.issues) {
        const where = ['method', 'options', ...i.path];
        if (i.code === 'unrecognized_keys')
          for (const k of i.keys)
            ctx.addIssue({
              code: 'custom',
              path: [...where, k],
              message: `unknown option for ${entry.name}; allowed: ${allowed}`,
            });
        else ctx.addIssue({ code: 'custom', path: where, message: i.message });
      }
    }
    if (entry.needsTeacher && !c.teacher)
      ctx.addIssue({
        code: 'custom',
        path: ['teacher'],
        message: `method '${entry.name}' needs a teacher: set teacher.model and teacher.checkpoint`,
      });
    if (c.solver.lrScaling === 'linear' && !c.solver.lrReferenceBatch)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['solver', 'lrReferenceBatch'],
        message:
          'lrScaling linear scales lr by batchSize / lrReferenceBatch: set lrReferenceBatch to the batch size lr was tuned for',
      });
    if (c.solver.optimizer === 'dot') {
      const { momentum, dot, clipGradNorm, nesterov } = c.solver;
      if (dot.delta > momentum || momentum + dot.delta > 1)
        ctx.addIssue({
          code: 'custom',
          path: ['solver', 'dot', 'delta'],
          message: `DOT's momenta momentum ± delta (${momentum} ± ${dot.delta}) must lie in [0, 1]; mdistiller uses momentum 0.9, delta 0.075`,
        });
      if (clipGradNorm !== undefined || nesterov)
        ctx.addIssue({
          code: 'custom',
          path: ['solver', 'optimizer'],
          message: 'DOT updates from two backward passes: it takes neither clipGradNorm nor nesterov; remove them or use sgd',
        });
      if (!entry.needsTeacher)
        ctx.addIssue({
          code: 'custom',
          path: ['solver', 'optimizer'],
          message: `DOT balances the task loss against the distillation loss of a teacher; '${entry.name}' has no teacher: use sgd`,
        });
    }
    const { mean, std } = c.dataset;
    if (mean && std && mean.length !== std.length)
      ctx.addIssue({ code: 'custom', path: ['dataset', 'std'], message: 'mean and std need the same number of channels' });
  });

export type ExperimentConfig = z.infer<typeof configSchema>;
export type ExperimentInput = z.input<typeof configSchema>;

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : '(top level)';
    let msg = i.message;
    if (i.code === 'unrecognized_keys') msg = `unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
    if (i.code === 'invalid_enum_value') msg = `'${String(i.received)}' is not allowed; allowed: ${i.options.join(', ')}`;
    return `  ${where}: ${msg}`;
  });
  return `invalid config ${source}:\n${lines.join('\n')}`;
}

export interface ValidateOptions {
  /** Check that teacher.checkpoint exists (off when the comparison trains the teacher first). */
  checkTeacherCheckpoint?: boolean;
}

/** Validates a parsed config object; `source` names it in errors. */
export function validateConfig(raw: unknown, source = '(config)', options: ValidateOptions = {}): ExperimentConfig {
  const numberProblems = checkNumbers(raw);
  if (numberProblems.length) throw new InputError(`invalid config ${source}:\n  ${numberProblems.join('\n  ')}`);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new InputError(formatIssues(result.error, source));
  const c = result.data;
  if ((options.checkTeacherCheckpoint ?? true) && methodEntry(c.method.name).needsTeacher) {
    if (!c.teacher?.checkpoint)
      throw new InputError(
        `invalid config ${source}:\n  teacher.checkpoint: method '${c.method.name}' needs the teacher's trained weights`,
      );
    if (!existsSync(c.teacher.checkpoint))
      throw new InputError(
        `invalid config ${source}:\n  teacher.checkpoint: file ${c.teacher.checkpoint} not found; train the teacher first (distill train) or fix the path`,
      );
  }
  return c;
}

/** Learning rates beyond this diverge on any network here (large-batch LARS recipes peak near 10). */
export const MAX_LR = 10;
/** Loss weights beyond this are a typo (the largest in the literature: AT's 1000, FT's 500). */
export const MAX_LOSS_WEIGHT = 1e5;

/**
 * Every number of a config is finite (YAML's .inf and .nan parse as numbers), every learning rate
 * (`lr`, `*Lr`) at most MAX_LR and every loss weight (`*Weight`) at most MAX_LOSS_WEIGHT, in the
 * solver, the stages and the method options of any method, a plugin's included.
 */
function checkNumbers(raw: unknown, at = ''): string[] {
  if (Array.isArray(raw)) return raw.flatMap((v, i) => checkNumbers(v, `${at}[${i}]`));
  if (raw === null || typeof raw !== 'object') return [];
  const problems: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    const key = at ? `${at}.${k}` : k;
    if (typeof v !== 'number') {
      problems.push(...checkNumbers(v, key));
    } else if (!Number.isFinite(v)) {
      problems.push(`${key}: ${v} is not a finite number`);
    } else if ((k === 'lr' || k.endsWith('Lr')) && v > MAX_LR) {
      problems.push(`${key}: learning rate ${v} is beyond ${MAX_LR} and would diverge; typical values are 0.01 to 0.1 for SGD`);
    } else if (k.endsWith('Weight') && v > MAX_LOSS_WEIGHT) {
      problems.push(`${key}: loss weight ${v} is beyond ${MAX_LOSS_WEIGHT}; the method's default is a good start`);
    }
  }
  return problems;
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Applies `key.path=value` overrides (values parsed as YAML scalars). */
export function applyOverrides(raw: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq < 1) throw new InputError(`--set ${o}: expected key.path=value`);
    const keys = o.slice(0, eq).split('.');
    if (keys.some((k) => UNSAFE_KEYS.has(k) || !k)) throw new InputError(`--set ${o}: '${o.slice(0, eq)}' is not a config key`);
    const value = parseYaml(o.slice(eq + 1)) as unknown;
    let node = raw;
    for (const k of keys.slice(0, -1)) {
      if (!Object.prototype.hasOwnProperty.call(node, k)) node[k] = {};
      if (typeof node[k] !== 'object' || node[k] === null || Array.isArray(node[k]))
        throw new InputError(`--set ${o}: '${k}' is not a section`);
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return raw;
}

/** Reads and parses a YAML config file into a plain object (not yet validated). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const e = err as YAMLParseError;
    const pos = e.linePos?.[0];
    throw new InputError(
      `config ${file} is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${e.message.split('\n')[0]}`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InputError(`config ${file} must be a YAML mapping (key: value), got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  return raw as Record<string, unknown>;
}

/** The plugin paths a raw config names, resolved against the config file's folder. */
export function pluginPaths(raw: Record<string, unknown>, file: string): string[] {
  const plugins = raw.plugins;
  if (plugins === undefined) return [];
  if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== 'string'))
    throw new InputError(`invalid config ${file}:\n  plugins: expected a list of module paths`);
  const dir = path.dirname(path.resolve(file));
  return (plugins as string[]).map((p) => (path.isAbsolute(p) ? p : path.resolve(dir, p)));
}

/** Validates a raw config (overrides applied, plugins loaded); its plugin paths kept resolved against `file`'s folder. */
export function configFrom(raw: Record<string, unknown>, file: string, options: ValidateOptions = {}): ExperimentConfig {
  const c = validateConfig(raw, file, options);
  // Kept resolved so a run folder's config.json finds them from anywhere.
  c.plugins = pluginPaths(raw, file);
  return c;
}

/**
 * Reads, parses and validates a YAML config file (paths inside it, but plugins, are relative to
 * the working directory). Plugins it names must be loaded first (loadConfig in plugins.ts does both).
 */
export function loadConfigSync(file: string, overrides: string[] = [], options: ValidateOptions = {}): ExperimentConfig {
  return configFrom(applyOverrides(readConfigFile(file), overrides), file, options);
}
