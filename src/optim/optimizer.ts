// Optimizer base with torch.optim semantics: parameter groups with their own settings, and a
// state dict in PyTorch's layout ({ state: { index: {...} }, param_groups: [{ ..., params }] }).
import { Tensor, keep, noGrad, tidy } from '../tensor/index.js';

export type ParamGroupInput<O> = { params: Tensor[] } & Partial<O>;

export interface ParamGroup<O> {
  params: Tensor[];
  options: O;
}

export abstract class Optimizer<O extends { lr: number }> {
  readonly paramGroups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  constructor(params: Tensor[] | ParamGroupInput<O>[], defaults: O) {
    const groups =
      params.length > 0 && params[0] instanceof Tensor ? [{ params: params as Tensor[] }] : (params as ParamGroupInput<O>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g) => {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group`);
        seen.add(p);
      }
      const { params: ps, ...rest } = g;
      return { params: ps, options: { ...defaults, ...(rest as Partial<O>) } };
    });
    if (seen.size === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    for (const g of this.paramGroups) this.checkOptions(g.options);
  }

  /**
   * Rejects settings that would train on nonsense without a word (PyTorch's checks, plus
   * finiteness: a NaN lr turns every parameter into NaN at the first step).
   */
  protected checkOptions(o: O): void {
    this.checkNumber('lr', o.lr, 0);
  }

  protected checkNumber(name: string, v: unknown, min: number, max = Infinity, maxInclusive = true): void {
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= min && (maxInclusive ? v <= max : v < max);
    if (!ok) {
      const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}${maxInclusive ? ']' : ')'}`;
      throw new RangeError(`${this.constructor.name}: invalid ${name} ${String(v)}: expected a finite number ${range}`);
    }
  }

  /** Applies one update from the current gradients (parameters without gradient are skipped). */
  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            const grad = p.grad;
            if (grad) this.update(p, grad, group.options, this.stateOf(p));
          }
        }
      }),
    );
  }

  protected abstract update(p: Tensor, grad: Tensor, options: O, state: Record<string, Tensor | number>): void;

  protected stateOf(p: Tensor): Record<string, Tensor | number> {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = {}));
    return s;
  }

  /** Keeps a state tensor alive across scopes. */
  protected persist(t: Tensor): Tensor {
    return keep(t);
  }

  /** Clears gradients (set to None, PyTorch's default since 2.0). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  get lr(): number {
    return this.paramGroups[0]!.options.lr;
  }
  setLr(lr: number | ((group: number) => number)): void {
    this.paramGroups.forEach((g, i) => (g.options.lr = typeof lr === 'number' ? lr : lr(i)));
  }

  /**
   * PyTorch's optimizer.state_dict() layout: params by index, state tensors detached. `state` is a
   * Map with integer keys so that the saved file has int keys, as torch.optim expects.
   */
  stateDict(): { state: Map<number, Record<string, Tensor | number>>; param_groups: Record<string, unknown>[] } {
    let index = 0;
    const state = new Map<number, Record<string, Tensor | number>>();
    const groups = this.paramGroups.map((g) => {
      const ids: number[] = [];
      for (const p of g.params) {
        const s = this.state.get(p);
        if (s && Object.keys(s).length)
          state.set(index, Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? v.detach() : v])));
        ids.push(index++);
      }
      return { ...toSnake(g.options as object), params: ids };
    });
    return { state, param_groups: groups };
  }

  /** Accepts stateDict()'s output or the same loaded from a file (state keys then strings). */
  loadStateDict(sd: {
    state: Map<number, Record<string, unknown>> | Record<string, Record<string, unknown>>;
    param_groups: Record<string, unknown>[];
  }): void {
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.param_groups) || typeof sd.state !== 'object') {
      throw new Error(`${this.constructor.name}.loadStateDict: not an optimizer state dict (needs state and param_groups)`);
    }
    if (sd.param_groups.length !== this.paramGroups.length) {
      throw new Error(
        `${this.constructor.name}.loadStateDict: ${sd.param_groups.length} parameter groups in the checkpoint, ${this.paramGroups.length} here`,
      );
    }
    const byIndex = this.paramGroups.flatMap((g) => g.params);
    sd.param_groups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      const ids = saved.params as number[];
      if (!Array.isArray(ids) || ids.length !== group.params.length) {
        throw new Error(
          `${this.constructor.name}.loadStateDict: group ${gi} has ${ids?.length} parameters in the checkpoint, ${group.params.length} here`,
        );
      }
      const options = { ...group.options, ...checkedOptions(this.constructor.name, gi, group.options, saved) };
      this.checkOptions(options);
      group.options = options;
    });
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
    const entries = sd.state instanceof Map ? [...sd.state.entries()] : Object.entries(sd.state);
    for (const [key, entry] of entries) {
      const p = byIndex[Number(key)];
      if (!p) throw new Error(`${this.constructor.name}.loadStateDict: state for parameter ${key}, which does not exist`);
      const s: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(entry)) {
        if (v instanceof Tensor) {
          if (k !== 'step' && v.shape.join(',') !== p.shape.join(',')) {
            throw new Error(
              `${this.constructor.name}.loadStateDict: state '${k}' of parameter ${key} has shape [${v.shape}] but the parameter has [${p.shape}]`,
            );
          }
          s[k] = keep(noGrad(() => v.to({ device: p.device, dtype: p.dtype, copy: true })));
        } else s[k] = v as number;
      }
      this.state.set(p, s);
    }
  }
}

/**
 * The saved options of one group that this optimizer knows, each of the type it has here; options
 * of PyTorch's that have no meaning here (foreach, differentiable, ...) are left out.
 */
function checkedOptions(who: string, gi: number, current: object, saved: Record<string, unknown>): Record<string, never> {
  const { params: _ignored, ...opts } = saved;
  const known: Record<string, unknown> = { initialLr: 0, ...current };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fromSnake(opts))) {
    if (!Object.prototype.hasOwnProperty.call(known, k)) continue;
    const expected = Array.isArray(known[k]) ? 'array' : typeof known[k];
    const got = Array.isArray(v) ? 'array' : typeof v;
    if (got !== expected || (typeof v === 'number' && !Number.isFinite(v))) {
      throw new Error(`${who}.loadStateDict: group ${gi}: option '${k}' is ${JSON.stringify(v)}, expected a finite ${expected}`);
    }
    out[k] = v;
  }
  return out as Record<string, never>;
}

const toSnake = (o: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
const fromSnake = (o: object): Record<string, never> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v])) as Record<
    string,
    never
  >;
