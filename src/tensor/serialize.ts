// PyTorch's file format: torch.save writes a zip archive holding `data.pkl` (a pickle of the
// object) and one raw file per tensor storage under `data/`.
//
// Writing goes through libtorch's own pickler. Reading is done here, by a restricted
// unpickler: it rebuilds tensors, dicts, lists, tuples, numbers, strings, booleans and None,
// knows a fixed list of PyTorch globals, and refuses every other global before anything could
// be constructed, so a checkpoint can never run code.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { native } from './native.js';
import { op } from './ops.js';
import { Tensor } from './tensor.js';
import { tensor } from './creation.js';
import type { DType } from './dtype.js';

export type Saveable = Tensor | number | string | boolean | null | Saveable[] | { [key: string]: Saveable };

/** Serialises to bytes in torch.save's format. */
export function saveToBuffer(value: Saveable): Buffer {
  return native.save(value);
}

/**
 * Saves a tensor, or objects/arrays of tensors and plain values, to `file` in PyTorch's
 * format (torch.load reads it). The write is atomic: a temporary file, fsync, then rename.
 */
export function save(value: Saveable, file: string): void {
  writeFileAtomic(file, saveToBuffer(value));
}

export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new Error(`save: could not write ${file}: ${(err as Error).message}`);
  }
  try {
    const dirFd = openSync(path.dirname(file), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  } catch {
    // Directory fsync is best effort (not supported on every file system).
  }
}

export interface LoadOptions {
  /** Device for every tensor (PyTorch's map_location); default 'cpu'. */
  mapLocation?: string;
}

/** Loads a file written by torch.save (or by save()). */
export function load(file: string, options: LoadOptions = {}): unknown {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`load: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return loadFromBuffer(bytes, options);
  } catch (err) {
    throw new Error(`load: ${file}: ${(err as Error).message.replace(/^load: /, '')}`);
  }
}

// ---------------------------------------------------------------- zip archive

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  offset: number;
}

function readZip(buf: Buffer): Map<string, ZipEntry> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (truncated or corrupt file)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || buf.readUInt32LE(locator) !== 0x07064b50) throw new Error('corrupt zip64 archive');
    const eocd64 = Number(buf.readBigUInt64LE(locator + 8));
    count = Number(buf.readBigUInt64LE(eocd64 + 32));
    cdOffset = Number(buf.readBigUInt64LE(eocd64 + 48));
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    const uncompressedSize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let offset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // Zip64: sizes and offset that overflow 32 bits live in extra field 0x0001, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const size = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressedSize === 0xffffffff) q += 8;
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (offset === 0xffffffff) offset = Number(buf.readBigUInt64LE(q));
      }
      e += 4 + size;
    }
    entries.set(name, { name, method, compressedSize, offset });
    p = extraEnd + commentLen;
  }
  return entries;
}

function readEntry(buf: Buffer, entry: ZipEntry): Buffer {
  const p = entry.offset;
  if (buf.readUInt32LE(p) !== 0x04034b50) throw new Error(`corrupt zip entry ${entry.name}`);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) throw new Error(`truncated file: entry ${entry.name} runs past the end`);
  const raw = buf.subarray(start, end);
  if (entry.method === 0) return raw;
  if (entry.method === 8) return inflateRawSync(raw);
  throw new Error(`zip entry ${entry.name} uses unsupported compression method ${entry.method}`);
}

// ---------------------------------------------------------------- restricted unpickler

class PyTuple {
  constructor(readonly items: unknown[]) {}
}
class PyDict {
  readonly map = new Map<unknown, unknown>();
}
class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}
class StorageRef {
  constructor(readonly storage: Tensor) {}
}

const storageDTypes: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};
const elementBytes: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
const allowedGlobals = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch.Size',
  // Written by libtorch's own pickler (C++ torch::pickle_save): identity functions on plain data.
  'torch.jit._pickle.restore_type_tag',
  'torch.jit._pickle.build_intlist',
  'torch.jit._pickle.build_doublelist',
  'torch.jit._pickle.build_boollist',
  'torch.jit._pickle.build_tensorlist',
  ...Object.keys(storageDTypes).map((s) => `torch.${s}`),
  ...['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'].map((d) => `torch.${d}`),
]);

const asStrided = op('aten::as_strided');
const toDevice = op('aten::to', 'dtype_layout');

function rawTensor(bytes: Buffer, dtype: DType): Tensor {
  const aligned = Buffer.alloc(bytes.length); // typed views need aligned, owned memory
  bytes.copy(aligned);
  const n = bytes.length / elementBytes[dtype];
  const view = new Uint8Array(aligned.buffer, aligned.byteOffset, aligned.length);
  switch (dtype) {
    case 'float32':
      return tensor(new Float32Array(view.buffer, view.byteOffset, n));
    case 'float64':
      return tensor(new Float64Array(view.buffer, view.byteOffset, n));
    case 'int64':
      return tensor(new BigInt64Array(view.buffer, view.byteOffset, n));
    case 'int32':
      return tensor(new Int32Array(view.buffer, view.byteOffset, n));
    case 'int16':
      return tensor(new Int16Array(view.buffer, view.byteOffset, n));
    case 'int8':
      return tensor(new Int8Array(view.buffer, view.byteOffset, n));
    case 'uint8':
      return tensor(view);
    case 'bool':
      return tensor(view, { dtype: 'bool' });
    case 'float16':
    case 'bfloat16': {
      // Reinterpret the 16-bit words: build int16 then view as the half type.
      const words = tensor(new Int16Array(view.buffer, view.byteOffset, n));
      const out = op('aten::view', 'dtype').call([words, dtype === 'float16' ? 5 : 15]) as Tensor;
      words.dispose();
      return out;
    }
  }
}

export function loadFromBuffer(bytes: Buffer, options: LoadOptions = {}): unknown {
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== 0x04034b50) {
    if (bytes.length > 2 && bytes[0] === 0x80) {
      throw new Error(
        'legacy (pre-1.6) torch.save format is not supported: re-save it in Python with torch.save(obj, path) from PyTorch >= 1.6',
      );
    }
    throw new Error('not a PyTorch file (no zip header): the file is corrupt or of another format');
  }
  const entries = readZip(bytes);
  const pkl = [...entries.keys()].find((k) => k.endsWith('data.pkl'));
  if (!pkl) throw new Error('no data.pkl in the archive: not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const storages = new Map<string, Tensor>();
  const created: Tensor[] = [];
  const device = options.mapLocation ?? 'cpu';

  const persistentLoad = (pid: unknown): StorageRef => {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (!items || items[0] !== 'storage' || !(items[1] instanceof PyGlobal))
      throw new Error('unsupported persistent id in data.pkl');
    const dtype = storageDTypes[items[1].name];
    const key = String(items[2]);
    if (!dtype) throw new Error(`unsupported storage type ${items[1].name}`);
    let storage = storages.get(key);
    if (!storage) {
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) throw new Error(`storage ${key} missing from the archive (truncated file?)`);
      storage = rawTensor(readEntry(bytes, entry), dtype);
      storages.set(key, storage);
      created.push(storage);
    }
    return new StorageRef(storage);
  };

  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyGlobal) || !(args instanceof PyTuple)) throw new Error('unsupported REDUCE in data.pkl');
    const a = args.items;
    switch (`${fn.module}.${fn.name}`) {
      case 'collections.OrderedDict':
        return new PyDict();
      case 'torch.jit._pickle.restore_type_tag':
      case 'torch.jit._pickle.build_intlist':
      case 'torch.jit._pickle.build_doublelist':
      case 'torch.jit._pickle.build_boollist':
      case 'torch.jit._pickle.build_tensorlist':
        return a[0];
      case 'torch.Size':
        return a[0] instanceof PyTuple ? a[0] : new PyTuple([]);
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride, requiresGrad] = a as [StorageRef, number, PyTuple, PyTuple, boolean];
        let t = asStrided.call([storage.storage, size.items, stride.items, offset]) as Tensor;
        if (device !== 'cpu') {
          const moved = toDevice.call([t, null, null, device, null, false, false, null]) as Tensor;
          t.dispose();
          t = moved;
        }
        if (requiresGrad) t.requiresGrad = true;
        return t;
      }
      case 'torch._utils._rebuild_parameter': {
        const t = a[0] as Tensor;
        if (a[1]) t.requiresGrad = true;
        return t;
      }
      default:
        throw new Error(`refused to call ${fn.module}.${fn.name}`);
    }
  };

  try {
    const result = unpickle(readEntry(bytes, entries.get(pkl)!), persistentLoad, call);
    return toJs(result);
  } finally {
    for (const s of created) s.dispose(); // views keep the storage alive
  }
}

function toJs(v: unknown): unknown {
  if (v instanceof PyDict) {
    const out: Record<string, unknown> = {};
    for (const [k, val] of v.map) out[String(k)] = toJs(val);
    return out;
  }
  if (v instanceof PyTuple) return v.items.map(toJs);
  if (Array.isArray(v)) return v.map(toJs);
  if (v instanceof PyGlobal) return `${v.module}.${v.name}`; // e.g. a dtype
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function unpickle(
  data: Buffer,
  persistentLoad: (pid: unknown) => unknown,
  call: (fn: unknown, args: unknown) => unknown,
): unknown {
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw new Error('corrupt pickle: missing MARK');
    return stack.splice(m);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof PyDict)) throw new Error('corrupt pickle: SETITEM on a non-dict');
    for (let i = 0; i + 1 < items.length; i += 2) dict.map.set(items[i], items[i + 1]);
  };
  const need = (n: number): void => {
    if (p + n > data.length) throw new Error('truncated pickle');
  };
  for (;;) {
    need(1);
    const code = data[p++]!;
    switch (code) {
      case 0x80: // PROTO
        p += 1;
        break;
      case 0x95: // FRAME
        p += 8;
        break;
      case 0x2e: // STOP
        return stack.pop();
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = data.readUInt32LE(p);
        need(4 + n);
        stack.push(data.toString('utf8', p + 4, p + 4 + n));
        p += 4 + n;
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const n = data[p]!;
        need(1 + n);
        stack.push(data.toString('utf8', p + 1, p + 1 + n));
        p += 1 + n;
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(data.readInt32LE(p));
        p += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(data[p]!);
        p += 1;
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(data.readUInt16LE(p));
        p += 2;
        break;
      case 0x8a: {
        // LONG1
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
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple(stack.splice(-1)));
        break;
      case 0x86: // TUPLE2
        stack.push(new PyTuple(stack.splice(-2)));
        break;
      case 0x87: // TUPLE3
        stack.push(new PyTuple(stack.splice(-3)));
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const [k, v] = stack.splice(-2);
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(stack[stack.length - 1], items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = stack.pop();
        (stack[stack.length - 1] as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = stack[stack.length - 1];
        if (!Array.isArray(list)) throw new Error('corrupt pickle: APPENDS on a non-list');
        list.push(...items);
        break;
      }
      case 0x71: // BINPUT
        need(1);
        memo.set(data[p]!, stack[stack.length - 1]);
        p += 1;
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(data.readUInt32LE(p), stack[stack.length - 1]);
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
        need(1);
        stack.push(memo.get(data[p]!));
        p += 1;
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        stack.push(memo.get(data.readUInt32LE(p)));
        p += 4;
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const nl1 = data.indexOf(0x0a, p);
        const nl2 = data.indexOf(0x0a, nl1 + 1);
        if (nl1 < 0 || nl2 < 0) throw new Error('truncated pickle');
        stack.push(checkGlobal(data.toString('utf8', p, nl1), data.toString('utf8', nl1 + 1, nl2)));
        p = nl2 + 1;
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const [module, name] = stack.splice(-2) as [string, string];
        stack.push(checkGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const [fn, args] = stack.splice(-2);
        stack.push(call(fn, args));
        break;
      }
      case 0x62: // BUILD: state on an OrderedDict is its `_metadata` attribute, which we drop
        stack.pop();
        break;
      case 0x51: // BINPERSID
        stack.push(persistentLoad(stack.pop()));
        break;
      case 0x43: {
        // SHORT_BINBYTES
        need(1);
        const n = data[p]!;
        stack.push(Buffer.from(data.subarray(p + 1, p + 1 + n)));
        p += 1 + n;
        break;
      }
      case 0x42: {
        // BINBYTES
        need(4);
        const n = data.readUInt32LE(p);
        stack.push(Buffer.from(data.subarray(p + 4, p + 4 + n)));
        p += 4 + n;
        break;
      }
      default:
        throw new Error(`unsupported pickle opcode 0x${code.toString(16)} at byte ${p - 1}`);
    }
  }
}

function checkGlobal(module: string, name: string): PyGlobal {
  const full = `${module}.${name}`;
  if (!allowedGlobals.has(full)) {
    throw new Error(
      `refused to load '${full}': the file holds Python objects beyond tensors, dicts, lists, numbers and strings, and loading them could run code; in Python, save only state_dicts and plain values`,
    );
  }
  return new PyGlobal(module, name);
}
