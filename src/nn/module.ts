// Module: the shape of torch.nn.Module. Parameters, buffers and submodules are registered by
// name in order, so state-dict keys are PyTorch's (`layer1.0.conv1.weight`, `bn1.running_mean`).
import { Tensor, keep, noGrad, tidy, isFloatingPoint, type MemoryFormat } from '../tensor/index.js';

const floatNames = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const isDTypeName = (s: string): boolean => floatNames.has(s) || ['int64', 'int32', 'uint8', 'bool'].includes(s);

export type StateDict = Record<string, Tensor>;

export abstract class Module {
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _modules = new Map<string, Module | null>();

  /** Registers a trainable tensor (it is kept out of every tidy() scope). */
  protected registerParameter(name: string, value: Tensor | null): Tensor {
    if (value) {
      if (!value.requiresGrad) value.requiresGrad = true;
      keep(value);
    }
    this._parameters.set(name, value);
    return value as Tensor;
  }

  /** Registers persistent state that is not trained (BN statistics). */
  protected registerBuffer(name: string, value: Tensor | null): Tensor {
    if (value) keep(value);
    this._buffers.set(name, value);
    return value as Tensor;
  }

  protected registerModule<M extends Module | null>(name: string, module: M): M {
    this._modules.set(name, module);
    return module;
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [name, m] of this._modules) if (m) yield [name, m];
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m._parameters) {
        if (p && !seen.has(p)) {
          seen.add(p);
          yield [path ? `${path}.${name}` : name, p];
        }
      }
    }
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m._buffers) if (b) yield [path ? `${path}.${name}` : name, b];
    }
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Calls fn on every module (children first, then this one), like torch's Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Parameters and buffers by PyTorch's key names, as detached tensors sharing storage with
   * the module (as state_dict() does); dispose them when done.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [path, m] of this.namedModules()) {
      const join = (n: string) => (path ? `${path}.${n}` : n);
      for (const [name, p] of m._parameters) if (p) out[join(name)] = p.detach();
      for (const [name, b] of m._buffers) if (b) out[join(name)] = b.detach();
    }
    return out;
  }

  /**
   * Copies values from a state dict. Strict mode (the default) requires exactly the module's
   * keys; any mismatch is reported with every missing, unexpected and mis-shaped key by name.
   */
  loadStateDict(state: Record<string, unknown>, options: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = options.strict ?? true;
    const targets = new Map<string, Tensor>();
    for (const [path, m] of this.namedModules()) {
      const join = (n: string) => (path ? `${path}.${n}` : n);
      for (const [name, p] of m._parameters) if (p) targets.set(join(name), p);
      for (const [name, b] of m._buffers) if (b) targets.set(join(name), b);
    }
    const missing = [...targets.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !targets.has(k));
    const misshaped: string[] = [];
    for (const [key, target] of targets) {
      const value = state[key];
      if (value === undefined) continue;
      if (!(value instanceof Tensor)) misshaped.push(`${key}: not a tensor`);
      else if (value.shape.join(',') !== target.shape.join(',')) {
        misshaped.push(`${key}: checkpoint [${value.shape.join(', ')}] vs model [${target.shape.join(', ')}]`);
      }
    }
    const problems: string[] = [];
    if (misshaped.length) problems.push(`mis-shaped: ${misshaped.join('; ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length) {
      throw new Error(
        `loadStateDict(${this.constructor.name}): the state dict does not fit the model (${problems.join(' | ')}); check that the checkpoint was saved from the same architecture`,
      );
    }
    noGrad(() =>
      tidy(() => {
        for (const [key, target] of targets) {
          const value = state[key] as Tensor | undefined;
          if (value) target.copy_(value);
        }
      }),
    );
    return { missing, unexpected };
  }

  /**
   * Moves parameters and buffers to a device, casts floating ones to a dtype, or gives 4-D ones
   * the channels-last memory format, like Module.to(device | dtype | memory_format).
   */
  to(target: string | { memoryFormat: MemoryFormat }): this {
    const castOnlyFloats = typeof target === 'string' && isDTypeName(target);
    const move = (t: Tensor, isParam: boolean): Tensor | null => {
      if (castOnlyFloats && !isFloatingPoint(t.dtype)) return null;
      if (typeof target !== 'string' && t.ndim !== 4) return null;
      const moved = noGrad(() => (typeof target === 'string' ? t.to(target) : t.contiguous(target)));
      if (moved._storageId() === t._storageId() && moved.dtype === t.dtype) {
        moved.dispose();
        return null;
      }
      t.dispose();
      return keep(isParam ? moved.requiresGrad_() : moved);
    };
    for (const m of this.modules()) {
      for (const [name, p] of m._parameters) if (p) m._parameters.set(name, move(p, true) ?? p);
      for (const [name, b] of m._buffers) if (b) m._buffers.set(name, move(b, false) ?? b);
    }
    return this;
  }

  protected param(name: string): Tensor | null {
    return this._parameters.get(name) ?? null;
  }
  protected buffer(name: string): Tensor | null {
    return this._buffers.get(name) ?? null;
  }

  /** Releases every parameter and buffer of this module tree. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
    for (const b of this.buffers()) b.dispose();
  }
}
