// Experiment configuration: YAML files validated against a schema before any work starts.
// Errors name the key's path and the allowed values.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { modelNames } from '../models/index.js';
import { methodDefaults, methodNames } from '../distillers/index.js';

const modelName = z.string().refine(
  (m) => modelNames().includes(m),
  (m) => ({ message: `unknown model '${m}'; allowed: ${modelNames().join(', ')}` }),
);

const schedule = z
  .object({
    type: z.enum(['multistep', 'cosine', 'constant']),
    milestones: z.array(z.number().int().nonnegative()).optional(),
    gamma: z.number().positive().optional(),
    warmupEpochs: z.number().int().nonnegative().optional(),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().min(1),
    dataset: z
      .object({
        name: z.enum(['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'synthetic']),
        root: z.string().optional(),
        trainSubset: z.number().int().positive().optional(),
        testSubset: z.number().int().positive().optional(),
        augment: z
          .object({ cropPadding: z.number().int().nonnegative().optional(), hflip: z.boolean().optional() })
          .strict()
          .nullable()
          .default(null),
        labelNoise: z.number().min(0).max(1).default(0),
      })
      .strict(),
    teacher: z.object({ model: modelName, checkpoint: z.string().optional() }).strict().optional(),
    student: z.object({ model: modelName }).strict(),
    method: z
      .object({
        name: z.string().refine(
          (m) => methodNames().includes(m.toLowerCase()),
          (m) => ({ message: `unknown method '${m}'; allowed: ${methodNames().join(', ')}` }),
        ),
        options: z.record(z.union([z.number(), z.boolean(), z.string()])).default({}),
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
        momentum: z.number().min(0).max(1).default(0.9),
        weightDecay: z.number().min(0).default(5e-4),
        nesterov: z.boolean().default(false),
        schedule: schedule.default({ type: 'constant' }),
      })
      .strict(),
    seed: z.number().int().nonnegative().default(0),
    output: z.string().default('runs'),
    runtime: z
      .object({
        threads: z.number().int().positive().optional(),
        workers: z.number().int().nonnegative().default(1),
        device: z.string().default('cpu'),
        maxStepsPerEpoch: z.number().int().positive().optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const defaults = (() => {
      try {
        return methodDefaults(c.method.name);
      } catch {
        return null;
      }
    })();
    if (defaults) {
      for (const [k, v] of Object.entries(c.method.options)) {
        if (!(k in defaults)) {
          ctx.addIssue({
            code: 'custom',
            path: ['method', 'options', k],
            message: `unknown option for ${c.method.name}; allowed: ${Object.keys(defaults).join(', ') || '(none)'}`,
          });
        } else if (typeof v !== typeof defaults[k]) {
          ctx.addIssue({ code: 'custom', path: ['method', 'options', k], message: `must be a ${typeof defaults[k]}` });
        }
      }
    }
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

/** Validates a parsed config object; `source` names it in errors. */
export function validateConfig(raw: unknown, source = '(config)'): ExperimentConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new Error(formatIssues(result.error, source));
  const c = result.data;
  if (c.teacher?.checkpoint && !existsSync(c.teacher.checkpoint)) {
    throw new Error(
      `invalid config ${source}:\n  teacher.checkpoint: file ${c.teacher.checkpoint} not found; train the teacher first (distill train) or fix the path`,
    );
  }
  return c;
}

/** Applies `key.path=value` overrides (values parsed as YAML scalars). */
export function applyOverrides(raw: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq < 1) throw new Error(`--set ${o}: expected key.path=value`);
    const keys = o.slice(0, eq).split('.');
    const value = parseYaml(o.slice(eq + 1)) as unknown;
    let node = raw;
    for (const k of keys.slice(0, -1)) {
      if (node[k] === undefined) node[k] = {};
      if (typeof node[k] !== 'object' || node[k] === null) throw new Error(`--set ${o}: '${k}' is not a section`);
      node = node[k] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return raw;
}

/** Reads, parses and validates a YAML config file (relative paths in it are from the working directory). */
export function loadConfig(file: string, overrides: string[] = []): ExperimentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const e = err as YAMLParseError;
    const pos = e.linePos?.[0];
    throw new Error(
      `config ${file} is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${e.message.split('\n')[0]}`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`config ${file} must be a YAML mapping (key: value), got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  const withOverrides = applyOverrides(raw as Record<string, unknown>, overrides);
  return validateConfig(withOverrides, file);
}
