// The methods by name: one entry each, the single source of their options (a zod schema with
// defaults and ranges), whether they need a teacher, the views they train on, whether student and
// teacher widths must agree, and their paper.
// Config validation, createDistiller, the CLI's listings and the tests all read it.
import { z } from 'zod';
import type { Distiller, DistillerContext } from './distiller.js';
import type { Network } from './features.js';
import { Registry } from '../util/registry.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptionsSchema = z.ZodObject<any>;

export interface MethodEntry {
  name: string;
  create: (student: Network, teacher: Network | null, options: Record<string, unknown>, context: DistillerContext) => Distiller;
  options: OptionsSchema;
  needsTeacher: boolean;
  views: 1 | 2;
  /** Batches carry a same-class partner per sample (CS-KD). */
  classPairs: boolean;
  /** The second view is strongly augmented (MLKD). */
  strongView: boolean;
  /** Student and teacher features are compared channel by channel, so their widths must agree (KDSVD, FSP). */
  equalWidths: boolean;
  /** The trained student alone is the deployed network (false: SimKD's student + projector + teacher classifier). */
  deploysStudentAlone: boolean;
  description: string;
  /** Link to the paper. */
  paper?: string;
  /** An example config snippet (method: section) for the listings. */
  example?: string;
}

/** What registerMethod takes: `options` may be a zod object or, for a quick method, a plain object of defaults. */
export interface MethodDefinition {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  create: (student: Network, teacher: Network | null, options: any, context: DistillerContext) => Distiller;
  options?: OptionsSchema | Record<string, unknown>;
  needsTeacher?: boolean;
  views?: 1 | 2;
  classPairs?: boolean;
  strongView?: boolean;
  equalWidths?: boolean;
  deploysStudentAlone?: boolean;
  description?: string;
  paper?: string;
  example?: string;
}

const methods = new Registry<MethodEntry>('method', 'registerMethod', (n) => n.toLowerCase());

/** A strict zod object inferred from plain defaults (numbers, booleans, strings, string lists). */
export function schemaFromDefaults(defaults: Record<string, unknown>): OptionsSchema {
  if (!defaults || typeof defaults !== 'object' || Array.isArray(defaults))
    throw new Error(`options must be a zod object or a plain object of defaults, got ${JSON.stringify(defaults)}`);
  const shape: Record<string, z.ZodTypeAny> = {};
  for (const [k, v] of Object.entries(defaults)) {
    if (typeof v === 'number') shape[k] = z.number().default(v);
    else if (typeof v === 'boolean') shape[k] = z.boolean().default(v);
    else if (typeof v === 'string') shape[k] = z.string().default(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) shape[k] = z.array(z.string()).default(v);
    else
      throw new Error(`option '${k}': a default must be a number, boolean, string or list of strings (got ${JSON.stringify(v)})`);
  }
  return z.object(shape).strict();
}

const isZodObject = (o: unknown): o is OptionsSchema => o instanceof z.ZodObject;

/** Registers a method under `name` (case-insensitive); an existing name needs `{ override: true }`. */
export function registerMethod(name: string, def: MethodDefinition, opts: { override?: boolean } = {}): MethodEntry {
  if (typeof def?.create !== 'function')
    throw new Error(`registerMethod('${String(name)}'): create(student, teacher, options) is required`);
  if (def.views !== undefined && def.views !== 1 && def.views !== 2)
    throw new Error(`registerMethod('${String(name)}'): views must be 1 or 2`);
  const options = isZodObject(def.options) ? def.options : schemaFromDefaults(def.options ?? {});
  return methods.add(
    name,
    (key) => ({
      name: key,
      create: def.create,
      options,
      needsTeacher: def.needsTeacher ?? true,
      views: def.views ?? 1,
      classPairs: def.classPairs ?? false,
      strongView: def.strongView ?? false,
      equalWidths: def.equalWidths ?? false,
      deploysStudentAlone: def.deploysStudentAlone ?? true,
      description: def.description ?? '',
      paper: def.paper,
      example: def.example,
    }),
    opts,
  );
}

/** A built-in method class: its statics (options, needsTeacher, views, equalWidths) are the entry. */
export interface MethodClass<O> {
  readonly options: z.ZodType<O>;
  readonly needsTeacher: boolean;
  readonly views: 1 | 2;
  readonly classPairs: boolean;
  readonly strongView: boolean;
  readonly equalWidths: boolean;
  readonly deploysStudentAlone: boolean;
  new (student: Network, teacher: Network, options: O, context: DistillerContext): Distiller;
}

export function registerMethodClass<O>(
  name: string,
  cls: MethodClass<O>,
  info: { description: string; paper?: string; example?: string },
): void {
  if (!(cls.options instanceof z.ZodObject)) throw new Error(`registerMethodClass('${name}'): options must be a zod object`);
  registerMethod(name, {
    // The teacher is there whenever the entry says it is needed (createDistiller checks); the
    // no-teacher methods ignore it.
    create: (s, t, o, ctx) => new cls(s, t!, cls.options.parse(o), ctx),
    options: cls.options,
    needsTeacher: cls.needsTeacher,
    views: cls.views,
    classPairs: cls.classPairs,
    strongView: cls.strongView,
    equalWidths: cls.equalWidths,
    deploysStudentAlone: cls.deploysStudentAlone,
    ...info,
  });
}

export const methodNames = (): string[] => methods.names();
export const methodEntry = (name: string): MethodEntry => methods.get(name);
export const methodEntries = (): MethodEntry[] => methods.values();

/** Default value of each option of a method. */
export function methodDefaults(name: string): Record<string, unknown> {
  return methodEntry(name).options.parse({}) as Record<string, unknown>;
}

export function methodNeedsTeacher(name: string): boolean {
  return methodEntry(name).needsTeacher;
}

/** One line per problem: `option 'T': Expected number, received string`. */
export function formatOptionIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const where = i.path.length ? `option '${i.path.join('.')}'` : 'options';
    if (i.code === 'unrecognized_keys') return `unknown option(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
    return `${where}: ${i.message}`;
  });
}

/** Validates options against a method's schema; the result has every default filled in. */
export function parseMethodOptions(name: string, options: unknown): Record<string, unknown> {
  const m = methodEntry(name);
  const r = m.options.safeParse(options ?? {});
  if (!r.success) {
    const valid = Object.keys(m.options.shape).join(', ') || '(none)';
    throw new Error(`method '${m.name}': ${formatOptionIssues(r.error).join('; ')}; valid options: ${valid}`);
  }
  return r.data as Record<string, unknown>;
}

/**
 * Builds a distiller by name. Options override the method's defaults; an unknown option is an
 * error that lists the valid ones.
 */
export function createDistiller(
  name: string,
  student: Network,
  teacher: Network | null,
  options: Record<string, unknown> = {},
  context: DistillerContext = {},
): Distiller {
  const m = methodEntry(name);
  const parsed = parseMethodOptions(name, options);
  if (m.needsTeacher && !teacher) throw new Error(`method '${m.name}' needs a teacher model`);
  const d = m.create(student, m.needsTeacher ? teacher : null, parsed, context);
  // The entry is the source of truth for what the trainer asks of a method.
  d.needsTeacher = m.needsTeacher;
  d.views = m.views;
  return d;
}
