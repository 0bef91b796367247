// Typed access to ATen operators by schema name, resolved once and cached.
import { native, type OpInfo } from './native.js';

const camelToSnake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

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
    return native.callOp(this.resolve().id, args);
  }

  /** Calls an in-place operator; its result is its first argument. */
  inplace(args: unknown[]): void {
    native.callOpInplace(this.resolve().id, args);
  }

  /**
   * Calls with leading positional arguments and an options object keyed by PyTorch's keyword
   * names in camelCase (`{ negativeSlope }` for `negative_slope`).
   */
  callWith(positional: unknown[], options: object | undefined, publicName: string): unknown {
    return this.call(this.withOptions(positional, options, publicName));
  }

  withOptions(positional: unknown[], options: object | undefined, publicName: string): unknown[] {
    if (!options) return positional;
    const { args } = this.resolve();
    const out = positional.slice();
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      const index = args.indexOf(camelToSnake(key));
      if (index < positional.length) {
        const allowed = args.slice(positional.length).map((a) => a.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
        throw new Error(`${publicName}: unknown option '${key}'; expected one of ${allowed.join(', ')}`);
      }
      out[index] = value;
    }
    return out;
  }

  get schema(): string {
    return this.resolve().schema;
  }
}

/** Resolves every distinct op once; used by tests to prove each schema name exists. */
export const opRegistry = new Map<string, Op>();
export function op(name: string, overload = ''): Op {
  const key = `${name}.${overload}`;
  let found = opRegistry.get(key);
  if (!found) {
    found = new Op(name, overload);
    opRegistry.set(key, found);
  }
  return found;
}
