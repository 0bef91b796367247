// Module: the shape of torch.nn.Module. Parameters, buffers and submodules are registered by
// name in order, so state-dict keys are PyTorch's (`layer1.0.conv1.weight`, `bn1.running_mean`).
import { Tensor, expose, keep, noGrad, tidy, isFloatingPoint, type MemoryFormat } from '../tensor/index.js';
import { closestNames } from '../util/names.js';

const floatNames = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const isDTypeName = (s: string): boolean => floatNames.has(s) || ['int64', 'int32', 'uint8', 'bool'].includes(s);

/**
 * Non-parameter state a module carries in its state dict (PyTorch's get_extra_state), as named
 * tensors; stored under `<path>._extra_state.<name>` so that a state dict stays tensors only.
 */
export type ExtraState = { [name: string]: Tensor };
export type StateDict = Record<string, Tensor>;

/** The key PyTorch gives a module's extra state. */
export const EXTRA_STATE_KEY = '_extra_state';

/** A forward hook: sees the inputs and the output; a returned value replaces the output. */
export type ForwardHook<M extends Module = Module> = (module: M, inputs: unknown[], output: unknown) => unknown;
/** A forward pre-hook: sees the inputs; a returned array (or single value) replaces them. */
export type ForwardPreHook<M extends Module = Module> = (module: M, inputs: unknown[]) => unknown;

/** What registerForwardHook returns: `remove()` detaches the hook (torch.utils.hooks.RemovableHandle). */
export interface RemovableHandle {
  readonly id: number;
  remove(): void;
}

let nextHookId = 0;

/** loadStateDict's error: the message summarises, the fields list every key. */
export interface StateDictMismatch extends Error {
  missing: string[];
  unexpected: string[];
  misshaped: string[];
}

export abstract class Module {
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _modules = new Map<string, Module | null>();
  private readonly _forwardHooks = new Map<number, ForwardHook>();
  private readonly _forwardPreHooks = new Map<number, ForwardPreHook>();
  /** While hooks are on: the instance's own forward property it replaced (null: the class's method). */
  private _ownForward: PropertyDescriptor | null | undefined = undefined;

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
  /** Every module of the tree with its dotted path ('' for this one), each once, as PyTorch's named_modules. */
  *namedModules(prefix = '', memo = new Set<Module>()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [name, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${name}` : name, memo);
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

  /** Sets this module and, through their own train(), every child to training mode (or eval). */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
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

  /** The submodule at a dotted path (`layer2.0.bn2`); an unknown path lists the closest names. */
  getSubmodule(target: string): Module {
    if (target === '') return this;
    const parts = target.split('.');
    let m: Module | null | undefined = this._modules.get(parts[0]!);
    for (const part of parts.slice(1)) m = m?._modules.get(part);
    if (!m) {
      const names = [...this.namedModules()].map(([n]) => n).filter((n) => n);
      throw new Error(
        `${this.constructor.name} has no module '${target}'; closest: ${closestNames(target, names).join(', ') || '(it has no submodules)'}`,
      );
    }
    return m;
  }

  /**
   * Calls `hook(module, inputs, output)` after every forward, in registration order; a value it
   * returns replaces the output (torch.nn.Module.register_forward_hook).
   */
  registerForwardHook(hook: ForwardHook<this>): RemovableHandle {
    return this.addHook(this._forwardHooks, hook as ForwardHook);
  }

  /**
   * Calls `hook(module, inputs)` before every forward, in registration order; an array it returns
   * replaces the inputs, any other value the single input (register_forward_pre_hook).
   */
  registerForwardPreHook(hook: ForwardPreHook<this>): RemovableHandle {
    return this.addHook(this._forwardPreHooks, hook as ForwardPreHook);
  }

  /** Whether forward hooks or pre-hooks are registered on this module. */
  hasForwardHooks(): boolean {
    return this._forwardHooks.size + this._forwardPreHooks.size > 0;
  }

  private addHook<H>(hooks: Map<number, H>, hook: H): RemovableHandle {
    if (typeof hook !== 'function') throw new Error(`${this.constructor.name}: a hook must be a function`);
    this.wrapForward();
    const id = nextHookId++;
    hooks.set(id, hook);
    return {
      id,
      remove: () => {
        hooks.delete(id);
        if (!this._forwardHooks.size && !this._forwardPreHooks.size) this.unwrapForward();
      },
    };
  }

  /**
   * Puts hook dispatch in front of forward: an own property shadowing the class's method (or
   * replacing a forward the instance owns, e.g. an arrow-function field, which comes back later).
   */
  private wrapForward(): void {
    if (this._ownForward !== undefined) return;
    const self = this as unknown as { forward?: (...args: unknown[]) => unknown };
    const forward = self.forward;
    if (typeof forward !== 'function') throw new Error(`${this.constructor.name} has no forward() to hook`);
    this._ownForward = Object.getOwnPropertyDescriptor(this, 'forward') ?? null;
    const hooked = (...args: unknown[]): unknown => {
      let inputs = args;
      for (const pre of [...this._forwardPreHooks.values()]) {
        const r = pre(this, inputs);
        if (r !== undefined) inputs = Array.isArray(r) ? r : [r];
      }
      if (this._forwardPreHooks.size) expose(inputs);
      let output = forward.apply(this, inputs);
      for (const hook of [...this._forwardHooks.values()]) {
        const r = hook(this, inputs, output);
        if (r !== undefined) output = r;
      }
      // What a hook saw may be kept by it: such maps live to the end of the outer scope, as
      // before blocks freed their maps early (scope.ts expose).
      if (this._forwardHooks.size) expose([inputs, output]);
      return output;
    };
    Object.defineProperty(this, 'forward', { value: hooked, configurable: true, writable: true, enumerable: false });
  }

  /** Without hooks the module calls its own forward again, at no cost. */
  private unwrapForward(): void {
    if (this._ownForward === undefined) return;
    if (this._ownForward) Object.defineProperty(this, 'forward', this._ownForward);
    else delete (this as { forward?: unknown }).forward;
    this._ownForward = undefined;
  }

  /** Whether this module's class defines extra state (overrides getExtraState), as PyTorch checks. */
  private hasExtraState(): boolean {
    return this.getExtraState !== Module.prototype.getExtraState;
  }

  /**
   * State that is not a parameter or buffer (a carried batch), saved under `_extra_state`;
   * `undefined` (the default) means none. Override with setExtraState.
   */
  getExtraState(): ExtraState | undefined {
    return undefined;
  }
  setExtraState(_state: ExtraState): void {
    throw new Error(`${this.constructor.name} has no extra state to load`);
  }

  /**
   * Parameters and buffers by PyTorch's key names, as detached tensors sharing storage with
   * the module (as state_dict() does), and each module's extra state; dispose them when done
   * (`dispose(sd)`).
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [path, m] of this.namedModules()) {
      const join = (n: string) => (path ? `${path}.${n}` : n);
      for (const [name, p] of m._parameters) if (p) out[join(name)] = p.detach();
      for (const [name, b] of m._buffers) if (b) out[join(name)] = b.detach();
      const extra = m.hasExtraState() ? m.getExtraState() : undefined;
      if (extra) for (const [name, t] of Object.entries(extra)) out[join(`${EXTRA_STATE_KEY}.${name}`)] = t;
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
    const extras = new Map<string, Module>();
    for (const [path, m] of this.namedModules()) {
      const join = (n: string) => (path ? `${path}.${n}` : n);
      for (const [name, p] of m._parameters) if (p) targets.set(join(name), p);
      for (const [name, b] of m._buffers) if (b) targets.set(join(name), b);
      if (m.hasExtraState()) extras.set(join(`${EXTRA_STATE_KEY}.`), m);
    }
    const has = (k: string) => Object.prototype.hasOwnProperty.call(state, k);
    const extraPrefix = (k: string) => [...extras.keys()].find((p) => k.startsWith(p));
    const missing = [...targets.keys()].filter((k) => !has(k));
    const unexpected = Object.keys(state).filter((k) => !targets.has(k) && !extraPrefix(k));
    const misshaped: string[] = [];
    for (const [key, target] of targets) {
      if (!has(key)) continue;
      const value = state[key];
      if (!(value instanceof Tensor)) misshaped.push(`${key}: not a tensor`);
      else if (value.shape.join(',') !== target.shape.join(',')) {
        misshaped.push(`${key}: checkpoint [${value.shape.join(', ')}] vs model [${target.shape.join(', ')}]`);
      }
    }
    const problems: string[] = [];
    const listed = (what: string, keys: string[]) =>
      `${keys.length} ${what}${keys.length > 4 ? `, e.g. ${keys.slice(0, 4).join(', ')}` : `: ${keys.join(', ')}`}`;
    if (misshaped.length) problems.push(listed('mis-shaped', misshaped));
    if (strict && missing.length) problems.push(listed('keys missing', missing));
    if (strict && unexpected.length) problems.push(listed('unexpected keys', unexpected));
    if (problems.length) {
      const err = new Error(
        `loadStateDict(${this.constructor.name}): the state dict does not fit the model (${problems.join('; ')}); check that the checkpoint was saved from the same architecture`,
      ) as StateDictMismatch;
      err.missing = missing;
      err.unexpected = unexpected;
      err.misshaped = misshaped;
      throw err;
    }
    noGrad(() =>
      tidy(() => {
        for (const [key, target] of targets) {
          const value = has(key) ? (state[key] as Tensor) : undefined;
          if (value) target.copy_(value);
        }
      }),
    );
    for (const [prefix, m] of extras) {
      const extra: ExtraState = {};
      for (const [k, v] of Object.entries(state)) {
        if (!k.startsWith(prefix)) continue;
        if (!(v instanceof Tensor)) throw new Error(`loadStateDict(${this.constructor.name}): ${k} is not a tensor`);
        extra[k.slice(prefix.length)] = v;
      }
      m.setExtraState(extra);
    }
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

  /** Releases every parameter and buffer of this module tree, and what was derived from them. */
  dispose(): void {
    for (const m of this.modules()) m.releaseDerived();
    for (const p of this.parameters()) p.dispose();
    for (const b of this.buffers()) b.dispose();
  }

  /**
   * Releases what this module computed from its parameters to run faster (folded BatchNorm
   * weights); it is computed again when next needed.
   */
  releaseDerived(): void {}
}
