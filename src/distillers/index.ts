// The distillation methods by name, each with the defaults of shared/docs/methods.md.
import type { Model } from '../models/model.js';
import type { Distiller } from './distiller.js';
import { Vanilla } from './none.js';
import { KD } from './kd.js';
import { DIST } from './dist.js';
import { SP } from './sp.js';
import { FT } from './ft.js';
import { AB } from './ab.js';
import { DLB } from './dlb.js';
import { FitNet } from './fitnet.js';
import { AT } from './at.js';
import { RKD } from './rkd.js';
import { ICKD } from './ickd.js';
import { DKD } from './dkd.js';
import { ReviewKD } from './reviewkd.js';

export * from './distiller.js';
export * as losses from './losses.js';
export { Vanilla, KD, DIST, SP, FT, AB, DLB, FitNet, AT, RKD, ICKD, DKD, ReviewKD };

interface MethodEntry {
  defaults: object;
  make: (student: Model, teacher: Model | null, options: never) => Distiller;
  needsTeacher: boolean;
  description: string;
}

type DistillerClass = { defaults: object } & (new (student: Model, teacher: Model, options: never) => Distiller);
const entryOf = (cls: DistillerClass, needsTeacher: boolean, description: string): MethodEntry => ({
  defaults: cls.defaults,
  make: (s, t, o) => new cls(s, t as Model, o),
  needsTeacher,
  description,
});

const methods: Record<string, MethodEntry> = {
  none: entryOf(Vanilla, false, 'the student trained alone (baseline)'),
  kd: entryOf(KD, true, 'logit distillation (Hinton et al. 2015)'),
  dist: entryOf(DIST, true, 'relation of predictions (Huang et al. 2022)'),
  sp: entryOf(SP, true, 'similarity-preserving (Tung & Mori 2019)'),
  ft: entryOf(FT, true, 'factor transfer (Kim et al. 2018)'),
  ab: entryOf(AB, true, 'activation boundaries (Heo et al. 2019)'),
  dlb: entryOf(DLB, false, 'self-distillation from the last mini-batch (Shen et al. 2022)'),
  fitnet: entryOf(FitNet, true, 'hints through a regressor (Romero et al. 2015)'),
  at: entryOf(AT, true, 'attention transfer (Zagoruyko & Komodakis 2017)'),
  rkd: entryOf(RKD, true, 'relational distances and angles (Park et al. 2019)'),
  ickd: entryOf(ICKD, true, 'inter-channel correlation (Liu et al. 2021)'),
  dkd: entryOf(DKD, true, 'decoupled target / non-target KD (Zhao et al. 2022)'),
  reviewkd: entryOf(ReviewKD, true, 'knowledge review (Chen et al. 2021)'),
};

/** One line per method: name and what it is. */
export const methodDescriptions = (): [string, string][] => Object.entries(methods).map(([k, m]) => [k, m.description]);

export const methodNames = (): string[] => Object.keys(methods);

export function methodDefaults(name: string): Record<string, unknown> {
  return { ...entry(name).defaults };
}

export function methodNeedsTeacher(name: string): boolean {
  return entry(name).needsTeacher;
}

function entry(name: string): MethodEntry {
  const m = methods[name.toLowerCase()];
  if (!m) throw new Error(`unknown method '${name}'; available: ${methodNames().join(', ')}`);
  return m;
}

/**
 * Builds a distiller by name. Options override the method's defaults; an unknown option is an
 * error that lists the valid ones.
 */
export function createDistiller(
  name: string,
  student: Model,
  teacher: Model | null,
  options: Record<string, unknown> = {},
  context: { inputSize?: number } = {},
): Distiller {
  const m = entry(name);
  const defaults = m.defaults as Record<string, unknown>;
  // Methods that size their modules from feature shapes get the data's image size.
  if ('inputSize' in defaults && options.inputSize === undefined && context.inputSize)
    options = { ...options, inputSize: context.inputSize };
  for (const [k, v] of Object.entries(options)) {
    if (!(k in defaults))
      throw new Error(`method '${name}': unknown option '${k}'; valid options: ${Object.keys(defaults).join(', ') || '(none)'}`);
    if (typeof v !== typeof defaults[k])
      throw new Error(`method '${name}': option '${k}' must be a ${typeof defaults[k]}, got ${JSON.stringify(v)}`);
  }
  if (m.needsTeacher && !teacher) throw new Error(`method '${name}' needs a teacher model`);
  return m.make(student, teacher, { ...defaults, ...options } as never);
}
