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

export * from './distiller.js';
export * as losses from './losses.js';
export { Vanilla, KD, DIST, SP, FT, AB, DLB };

interface MethodEntry {
  defaults: object;
  make: (student: Model, teacher: Model | null, options: never) => Distiller;
  needsTeacher: boolean;
  description: string;
}

const methods: Record<string, MethodEntry> = {
  none: {
    defaults: Vanilla.defaults,
    make: (s, t, o) => new Vanilla(s, t, o),
    needsTeacher: false,
    description: 'the student trained alone (baseline)',
  },
  kd: {
    defaults: KD.defaults,
    make: (s, t, o) => new KD(s, t!, o),
    needsTeacher: true,
    description: 'logit distillation (Hinton et al. 2015)',
  },
  dist: {
    defaults: DIST.defaults,
    make: (s, t, o) => new DIST(s, t!, o),
    needsTeacher: true,
    description: 'relation of predictions (Huang et al. 2022)',
  },
  sp: {
    defaults: SP.defaults,
    make: (s, t, o) => new SP(s, t!, o),
    needsTeacher: true,
    description: 'similarity-preserving (Tung & Mori 2019)',
  },
  ft: {
    defaults: FT.defaults,
    make: (s, t, o) => new FT(s, t!, o),
    needsTeacher: true,
    description: 'factor transfer (Kim et al. 2018)',
  },
  ab: {
    defaults: AB.defaults,
    make: (s, t, o) => new AB(s, t!, o),
    needsTeacher: true,
    description: 'activation boundaries (Heo et al. 2019)',
  },
  dlb: {
    defaults: DLB.defaults,
    make: (s, t, o) => new DLB(s, t, o),
    needsTeacher: false,
    description: 'self-distillation from the last mini-batch (Shen et al. 2022)',
  },
};

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
): Distiller {
  const m = entry(name);
  const defaults = m.defaults as Record<string, unknown>;
  for (const [k, v] of Object.entries(options)) {
    if (!(k in defaults))
      throw new Error(`method '${name}': unknown option '${k}'; valid options: ${Object.keys(defaults).join(', ') || '(none)'}`);
    if (typeof v !== typeof defaults[k])
      throw new Error(`method '${name}': option '${k}' must be a ${typeof defaults[k]}, got ${JSON.stringify(v)}`);
  }
  if (m.needsTeacher && !teacher) throw new Error(`method '${name}' needs a teacher model`);
  return m.make(student, teacher, { ...defaults, ...options } as never);
}
