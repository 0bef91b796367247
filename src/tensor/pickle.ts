// A restricted unpickler for the data.pkl of torch.save files. It knows the opcodes that
// torch.save and libtorch's pickler emit for plain data, imports nothing (globals are checked
// against an allow-list by the caller before anything is built), shares memoised objects instead
// of copying them, and stops at a fixed number of objects, so a small file cannot grow into a
// large one (a "billion laughs" of memo references).

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}
export class PyDict {
  readonly map = new Map<unknown, unknown>();
}
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

export interface UnpickleHooks {
  global(module: string, name: string): PyGlobal;
  persistentLoad(pid: unknown): unknown;
  call(fn: unknown, args: unknown): unknown;
}

/** Most containers one data.pkl may build: far above any state dict (a ResNet-152 has ~1,000 keys). */
export const MAX_PICKLE_OBJECTS = 10_000_000;

export function unpickle(data: Buffer, hooks: UnpickleHooks): unknown {
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let objects = 0;
  let p = 0;
  const fail = (what: string): never => {
    throw new Error(`corrupt pickle at byte ${p}: ${what}`);
  };
  const built = <T>(v: T, size = 1): T => {
    objects += size;
    if (objects > MAX_PICKLE_OBJECTS) fail(`more than ${MAX_PICKLE_OBJECTS} objects`);
    return v;
  };
  const pop = (): unknown => (stack.length ? stack.pop() : fail('stack underflow'));
  const popN = (n: number): unknown[] => (stack.length >= n ? stack.splice(-n) : fail('stack underflow'));
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : fail('stack underflow'));
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined || m > stack.length) fail('missing MARK');
    return stack.splice(m!);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof PyDict)) fail('SETITEM on a non-dict');
    if (items.length % 2) fail('odd number of dict items');
    for (let i = 0; i < items.length; i += 2) (dict as PyDict).map.set(items[i], items[i + 1]);
    built(null, items.length / 2);
  };
  const need = (n: number): void => {
    if (p + n > data.length) throw new Error('truncated pickle');
  };
  const memoGet = (key: number): unknown => (memo.has(key) ? memo.get(key) : fail(`memo entry ${key} is missing`));
  const bytes = (n: number): Buffer => {
    need(n);
    const out = Buffer.from(data.subarray(p, p + n));
    p += n;
    return out;
  };
  const utf8 = (n: number): string => {
    need(n);
    const out = data.toString('utf8', p, p + n);
    p += n;
    return out;
  };
  for (;;) {
    need(1);
    const code = data[p++]!;
    switch (code) {
      case 0x80: // PROTO
        need(1);
        p += 1;
        break;
      case 0x95: // FRAME
        need(8);
        p += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x7d: // EMPTY_DICT
        stack.push(built(new PyDict()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push(built([]));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(built(new PyTuple([])));
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x58: // BINUNICODE
        need(4);
        stack.push(utf8(data.readUInt32LE((p += 4) - 4)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        need(1);
        stack.push(utf8(data[p++]!));
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(data.readInt32LE(p));
        p += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(data[p++]!);
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(data.readUInt16LE(p));
        p += 2;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement; kept exact as a BigInt beyond 2^53
        need(1);
        const n = data[p]!;
        need(1 + n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + 1 + i]!);
        if (n > 0 && data[p + n]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        p += 1 + n;
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(data.readDoubleBE(p));
        p += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x74: // TUPLE
        stack.push(built(new PyTuple(popMark())));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: // TUPLE3
        stack.push(built(new PyTuple(popN(code - 0x84))));
        break;
      case 0x6c: // LIST
        stack.push(built(popMark()));
        break;
      case 0x64: {
        // DICT
        const d = built(new PyDict());
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const keyValue = popN(2);
        setItems(top(), keyValue);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND on a non-list');
        (list as unknown[]).push(built(v));
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS on a non-list');
        for (const item of items) (list as unknown[]).push(built(item));
        break;
      }
      case 0x71: // BINPUT
        need(1);
        memo.set(data[p++]!, top());
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(data.readUInt32LE(p), top());
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET: the same object again, shared (never copied)
        need(1);
        stack.push(memoGet(data[p++]!));
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        stack.push(memoGet(data.readUInt32LE(p)));
        p += 4;
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const nl1 = data.indexOf(0x0a, p);
        const nl2 = nl1 < 0 ? -1 : data.indexOf(0x0a, nl1 + 1);
        if (nl1 < 0 || nl2 < 0) throw new Error('truncated pickle');
        stack.push(hooks.global(data.toString('utf8', p, nl1), data.toString('utf8', nl1 + 1, nl2)));
        p = nl2 + 1;
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const [module, name] = popN(2);
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const [fn, args] = popN(2);
        stack.push(built(hooks.call(fn, args)));
        break;
      }
      case 0x62: // BUILD: state on an OrderedDict is its `_metadata` attribute, which we drop
        pop();
        top();
        break;
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x43: // SHORT_BINBYTES
        need(1);
        stack.push(bytes(data[p++]!));
        break;
      case 0x42: // BINBYTES
        need(4);
        stack.push(bytes(data.readUInt32LE((p += 4) - 4)));
        break;
      default:
        throw new Error(`unsupported pickle opcode 0x${code.toString(16)} at byte ${p - 1}`);
    }
  }
}

/** Deepest nesting a data.pkl may have (a state dict is 3 levels deep, an optimizer's 5). */
export const MAX_PICKLE_DEPTH = 1000;

/**
 * The unpickled value as plain JS: dicts become ordinary objects whose keys are defined as own
 * properties (a key named `__proto__` is just a key and never replaces the prototype), tuples and
 * lists arrays. An object reached twice is converted once and shared; but a file whose shared
 * references would expand, once walked, past MAX_PICKLE_OBJECTS (a reference bomb: 60 lists each
 * holding the previous one twice) is refused, as is a cycle, which no state dict has.
 */
export function toPlain(root: unknown): unknown {
  const done = new Map<object, { out: unknown; expanded: number }>();
  const active = new Set<object>();
  const convert = (v: unknown, path: string, depth: number): { out: unknown; expanded: number } => {
    if (v === null || typeof v !== 'object') return { out: v, expanded: 1 }; // numbers past 2^53 stay exact BigInts
    if (!(v instanceof PyDict || v instanceof PyTuple || Array.isArray(v))) {
      return { out: v instanceof PyGlobal ? `${v.module}.${v.name}` : v, expanded: 1 }; // a dtype is named; tensors pass
    }
    const seen = done.get(v);
    if (seen) return seen;
    const where = !path ? '<root>' : path.length > 80 ? `…${path.slice(-80)}` : path;
    if (active.has(v)) throw new Error(`corrupt pickle: '${where}' contains itself`);
    if (depth > MAX_PICKLE_DEPTH) throw new Error(`corrupt pickle: nested more than ${MAX_PICKLE_DEPTH} levels at '${where}'`);
    active.add(v);
    let expanded = 1;
    const child = (item: unknown, at: string): unknown => {
      const c = convert(item, at, depth + 1);
      expanded += c.expanded;
      if (expanded > MAX_PICKLE_OBJECTS) {
        throw new Error(
          `refused: shared references in the pickle expand to more than ${MAX_PICKLE_OBJECTS} objects at '${where}' (a reference bomb)`,
        );
      }
      return c.out;
    };
    let out: unknown;
    if (v instanceof PyDict) {
      const obj: Record<string, unknown> = {};
      for (const [k, val] of v.map) {
        if (typeof k !== 'string' && typeof k !== 'number') {
          throw new Error(`unsupported dict key of type ${typeof k} at '${where}' (string and integer keys only)`);
        }
        const key = String(k);
        const value = child(val, path ? `${path}.${key}` : key);
        Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      }
      out = obj;
    } else {
      const items = v instanceof PyTuple ? v.items : v;
      out = items.map((item, i) => child(item, `${path}[${i}]`));
    }
    active.delete(v);
    const result = { out, expanded };
    done.set(v, result);
    return result;
  };
  return convert(root, '', 0).out;
}
