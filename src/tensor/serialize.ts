// PyTorch's file format: torch.save writes a zip archive holding `data.pkl` (a pickle of the
// object) and one raw file per tensor storage under `data/`.
//
// Writing goes through libtorch's own pickler. Reading is done here: the zip is read
// defensively (zip.ts), data.pkl by a restricted unpickler (pickle.ts) that knows a fixed list of
// PyTorch globals and refuses every other one before anything could be constructed, so a
// checkpoint can never run code; every tensor view is checked against its storage before it is
// built (checkRebuildArgs).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { native } from './native.js';
import { op } from './ops.js';
import { Tensor } from './tensor.js';
import { tensor } from './creation.js';
import type { DType } from './dtype.js';
import { PyDict, PyGlobal, PyTuple, toPlain, unpickle } from './pickle.js';
import { defaultZipLimits, readEntry, readZip, type ZipLimits } from './zip.js';

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
  /** Bounds on the archive (entries, bytes inflated); the defaults fit any real checkpoint. */
  limits?: Partial<ZipLimits>;
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

// ---------------------------------------------------------------- reading

class StorageRef {
  constructor(
    readonly storage: Tensor,
    readonly key: string,
  ) {}
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
  // Typed views need an offset aligned to the element size. torch.save aligns each storage to 64
  // bytes in the file, so the file's own bytes usually serve (tensor() copies them once anyway).
  let aligned = bytes;
  if (bytes.byteOffset % elementBytes[dtype] !== 0) {
    aligned = Buffer.alloc(bytes.length);
    bytes.copy(aligned);
  }
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
  const entries = readZip(bytes, { ...defaultZipLimits, ...options.limits });
  const pickles = [...entries.keys()].filter((k) => /^[^/]*\/?data\.pkl$/.test(k));
  if (pickles.length !== 1) {
    throw new Error(
      pickles.length ? 'more than one data.pkl in the archive' : 'no data.pkl in the archive: not a torch.save file',
    );
  }
  const pkl = pickles[0]!;
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const storages = new Map<string, Tensor>();
  const device = options.mapLocation ?? 'cpu';
  const results: Tensor[] = [];

  const persistentLoad = (pid: unknown): StorageRef => {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (!items || items[0] !== 'storage' || !(items[1] instanceof PyGlobal) || typeof items[2] !== 'string') {
      throw new Error('unsupported persistent id in data.pkl');
    }
    const dtype = storageDTypes[items[1].name];
    const key = items[2];
    if (!dtype) throw new Error(`unsupported storage type ${items[1].name}`);
    let storage = storages.get(key);
    if (!storage) {
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) throw new Error(`storage ${key} missing from the archive (truncated file?)`);
      const declared = items[4];
      if (typeof declared === 'number' && declared * elementBytes[dtype] !== entry.uncompressedSize) {
        throw new Error(
          `storage ${key} declares ${declared} ${dtype} elements but holds ${entry.uncompressedSize} bytes (truncated or crafted file)`,
        );
      }
      if (entry.uncompressedSize % elementBytes[dtype]) {
        throw new Error(`storage ${key}: ${entry.uncompressedSize} bytes is not a whole number of ${dtype} elements`);
      }
      storage = rawTensor(readEntry(bytes, entry), dtype);
      storages.set(key, storage);
    }
    return new StorageRef(storage, key);
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
        const { storage, offset, size, stride, requiresGrad } = checkRebuildArgs(a);
        let t = asStrided.call([storage.storage, size, stride, offset]) as Tensor;
        if (device !== 'cpu') {
          const moved = toDevice.call([t, null, null, device, null, false, false, null]) as Tensor;
          t.dispose();
          t = moved;
        }
        if (requiresGrad) t.requiresGrad = true;
        results.push(t);
        return t;
      }
      case 'torch._utils._rebuild_parameter': {
        const t = a[0];
        if (!(t instanceof Tensor)) throw new Error('corrupt data.pkl: _rebuild_parameter of something that is not a tensor');
        if (a[1] === true) t.requiresGrad = true;
        return t;
      }
      default:
        throw new Error(`refused to call ${fn.module}.${fn.name}`);
    }
  };

  try {
    const result = unpickle(readEntry(bytes, entries.get(pkl)!), { global: checkGlobal, persistentLoad, call });
    return toPlain(result);
  } catch (err) {
    for (const t of results) t.dispose(); // nothing half-built is left behind
    throw err;
  } finally {
    for (const s of storages.values()) s.dispose(); // views keep the storage alive
  }
}

interface RebuildArgs {
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
  requiresGrad: boolean;
}

/**
 * The arguments of _rebuild_tensor_v2, checked before the view is made: libtorch's own bounds
 * check overflows for offsets near 2^63, so the last element reached is computed here exactly
 * (BigInt) and must lie inside the storage.
 */
function checkRebuildArgs(a: unknown[]): RebuildArgs {
  const [storage, offset, size, stride, requiresGrad] = a;
  const where = storage instanceof StorageRef ? `tensor on storage ${storage.key}` : 'tensor';
  if (!(storage instanceof StorageRef)) throw new Error('corrupt data.pkl: a tensor without a storage');
  const ints = (v: unknown, what: string): number[] => {
    if (!(v instanceof PyTuple)) throw new Error(`corrupt data.pkl: ${where}: ${what} is not a tuple`);
    if (v.items.length > 64) throw new Error(`corrupt data.pkl: ${where}: ${v.items.length} dimensions`);
    return v.items.map((x) => checkIndex(x, `${where}: ${what}`));
  };
  const sizes = ints(size, 'size');
  const strides = ints(stride, 'stride');
  const start = checkIndex(offset, `${where}: storage offset`);
  if (sizes.length !== strides.length) {
    throw new Error(`corrupt data.pkl: ${where}: ${sizes.length} sizes but ${strides.length} strides`);
  }
  const numel = storage.storage.numel();
  if (!sizes.includes(0)) {
    let last = BigInt(start);
    sizes.forEach((n, i) => (last += BigInt(n - 1) * BigInt(strides[i]!)));
    if (last >= BigInt(numel)) {
      throw new Error(
        `corrupt data.pkl: ${where}: size [${sizes.join(', ')}], stride [${strides.join(', ')}] and offset ${start} reach element ${last}, past the storage's ${numel} elements (a crafted file)`,
      );
    }
  } else if (start > numel) {
    throw new Error(`corrupt data.pkl: ${where}: offset ${start} is past the storage's ${numel} elements`);
  }
  if (typeof requiresGrad !== 'boolean') throw new Error(`corrupt data.pkl: ${where}: requires_grad is not a boolean`);
  return { storage, offset: start, size: sizes, stride: strides, requiresGrad };
}

function checkIndex(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new Error(
      `corrupt data.pkl: ${what} is ${typeof v === 'bigint' ? `${v}` : JSON.stringify(v)}, not an index (a crafted file)`,
    );
  }
  return v;
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
