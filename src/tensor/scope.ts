// Deterministic release of native memory: scopes that free every tensor created inside them.
//
// Garbage-collection callbacks (the tensors' FinalizationRegistry) only run when the event loop
// turns, so a synchronous training loop that relied on them would never free a tensor. tidy()
// frees intermediates at the end of the scope; what the function returns moves to the enclosing
// scope.

export interface Disposable {
  dispose(): void;
  _isDisposed(): boolean;
}

const scopes: Disposable[][] = [];
const kept = new WeakSet<Disposable>();
/** Tensors a forward hook has seen (the hook may hold them): a scope hands them on instead of freeing them. */
const exposed = new WeakSet<Disposable>();

/** Called by the Tensor constructor: registers a new tensor with the innermost scope. */
export function track(t: Disposable): void {
  const scope = scopes[scopes.length - 1];
  if (scope) scope.push(t);
}

/** Marks a tensor to survive every scope (parameters, buffers, optimizer state). */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  return t;
}

/** Undoes keep(): the tensor belongs to the innermost open scope again (freed when it ends). */
export function release<T extends Disposable>(t: T): T {
  kept.delete(t);
  track(t);
  return t;
}

export function isKept(t: Disposable): boolean {
  return kept.has(t);
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (typeof (value as Disposable).dispose === 'function' && typeof (value as Disposable)._isDisposed === 'function') {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, depth + 1);
}

/** The tensors in a value (a tensor, or arrays/plain objects/Maps of them), in the order met. */
export function tensorsIn<T extends Disposable = Disposable>(value: unknown): T[] {
  const found = new Set<Disposable>();
  collect(value, found);
  return [...found] as T[];
}

/**
 * Runs `fn` and disposes every tensor created during it, except those it returns (found in
 * arrays, plain objects and Maps of the result) and those marked with keep().
 */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    for (const t of scopes.pop()!) if (!kept.has(t)) t.dispose();
    throw err;
  }
  const created = scopes.pop()!;
  if (result instanceof Promise) {
    for (const t of created) if (!kept.has(t)) t.dispose();
    throw new Error('tidy: the function returned a Promise; tidy() scopes are synchronous (await outside the scope)');
  }
  const returned = new Set<Disposable>();
  collect(result, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of created) {
    if (kept.has(t)) continue;
    // What a hook saw lives to the end of the outermost scope, and no longer.
    if (returned.has(t) || (parent && exposed.has(t))) parent?.push(t);
    else t.dispose();
  }
  return result;
}

/**
 * Marks the tensors in `value` as seen by a forward hook: tidy() moves them to the enclosing scope
 * instead of freeing them and sequence() does not free them early, so a hook that stores a map
 * (PyTorch's feature-extraction idiom) can use it until the outermost scope ends.
 */
export function expose(value: unknown): void {
  const found = new Set<Disposable>();
  collect(value, found);
  for (const t of found) exposed.add(t);
}

/** Disposes every tensor found in a value (a tensor, or arrays/objects/Maps of tensors). */
export function dispose(value: unknown): void {
  const found = new Set<Disposable>();
  collect(value, found);
  for (const t of found) t.dispose();
}

/** Number of open tidy() scopes (for tests and diagnostics). */
export function scopeDepth(): number {
  return scopes.length;
}

/**
 * Runs `steps` one after another, each on the previous one's result, as PyTorch frees a network's
 * maps: what a step creates and does not return is freed when it returns, and a step's result is
 * freed once the next step has returned (unless kept, or handed on inside the next result). The
 * first input and the last result are the caller's. Autograd keeps what backward needs by its own
 * references, so this holds with gradients on as well.
 */
export function sequence<T>(input: T, steps: Iterable<(value: T) => T>): T {
  let current = input;
  let first = true;
  for (const step of steps) {
    const next = tidy(() => step(current));
    if (!first) {
      const mine = new Set<Disposable>();
      collect(current, mine);
      const onward = new Set<Disposable>();
      collect(next, onward);
      for (const t of mine) if (!onward.has(t) && !kept.has(t) && !exposed.has(t)) t.dispose();
    }
    current = next;
    first = false;
  }
  return current;
}
