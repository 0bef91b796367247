// Typed access to ATen operators by schema name, resolved once and cached.
import { native, type OpInfo } from './native.js';

/** One ATen operator overload, e.g. `new Op('aten::conv2d')` or `new Op('aten::max', 'dim')`. */
export class Op {
  private info: OpInfo | undefined;

  constructor(
    readonly name: string,
    readonly overload = '',
  ) {}

  private resolve(): OpInfo {
    if (!this.info) this.info = native.resolveOp(this.name, this.overload);
    return this.info;
  }

  /** Calls with positional arguments in schema order (undefined = the schema's default). */
  call(args: unknown[]): unknown {
    const result = native.callOp(this.resolve().id, args);
    observer?.(this, args, result);
    return result;
  }

  /** Calls an in-place operator; its result is its first argument. */
  inplace(args: unknown[]): void {
    native.callOpInplace(this.resolve().id, args);
    observer?.(this, args, args[0], true);
  }
}

/** Sees every operator call (the ONNX exporter traces a forward with it). */
export type OpObserver = (op: Op, args: unknown[], result: unknown, inplace?: boolean) => void;
let observer: OpObserver | null = null;

/**
 * Whether an observer is installed: code that can bypass the ATen operators (nn.Conv2d's Winograd
 * path) takes the operators then, so a trace (the ONNX exporter's) sees every computation.
 */
export const opsObserved = (): boolean => observer !== null;

/** Installs `fn` as the operator observer until the returned function restores the previous one. */
export function observeOps(fn: OpObserver): () => void {
  if (typeof fn !== 'function')
    throw new TypeError(`observeOps: expects a function (op, args, result) => void, got ${typeof fn}`);
  const previous = observer;
  observer = fn;
  return () => {
    observer = previous;
  };
}

/** Every op handle, by name and overload, so each is resolved once. */
const opRegistry = new Map<string, Op>();
export function op(name: string, overload = ''): Op {
  const key = `${name}.${overload}`;
  let found = opRegistry.get(key);
  if (!found) {
    found = new Op(name, overload);
    opRegistry.set(key, found);
  }
  return found;
}
