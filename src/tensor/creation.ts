// Creation functions: tensor(), zeros, ones, full, arange, linspace, eye, rand, randn, ...
import { native } from './native.js';
import { op } from './ops.js';
import { Tensor, optDtype, shapeArg, type TypedArray } from './tensor.js';
import { type DType, type MemoryFormat, dtypeCode, memoryFormatCode } from './dtype.js';

export interface CreationOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

type Nested = number | boolean | Nested[];

const typedArrayDType = (data: TypedArray | Uint8ClampedArray | Uint16Array | Uint32Array): DType => {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  throw new Error(`tensor: unsupported typed array ${data.constructor.name}`);
};

/** The typed arrays whose values every wider dtype holds exactly: converted by libtorch. */
const WIDENS: Partial<Record<DType, DType[]>> = {
  int8: ['int16', 'int32', 'int64', 'float32', 'float64'],
  uint8: ['int16', 'int32', 'int64', 'float32', 'float64'],
  int16: ['int32', 'int64', 'float32', 'float64'],
  int32: ['int64', 'float64'],
  float32: ['float64'],
};

function checkFills(shape: number[], length: number): void {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel !== length) throw new Error(`tensor: ${length} values do not fill shape [${shape.join(', ')}] (${numel} elements)`);
}

function inferShape(data: Nested, path = 'data'): number[] {
  if (!Array.isArray(data)) return [];
  if (data.length === 0) return [0];
  const inner = inferShape(data[0]!, `${path}[0]`);
  for (let i = 1; i < data.length; i++) {
    const s = inferShape(data[i]!, `${path}[${i}]`);
    if (s.length !== inner.length || s.some((d, j) => d !== inner[j])) {
      throw new Error(`tensor: ragged nested array: ${path}[${i}] has shape [${s}] but ${path}[0] has [${inner}]`);
    }
  }
  return [data.length, ...inner];
}

function fillTyped(dtype: DType, flat: (number | boolean)[]): ArrayBufferView {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(flat, Number);
    case 'float64':
      return Float64Array.from(flat, Number);
    case 'int64':
      return BigInt64Array.from(flat, (v) => BigInt(Math.trunc(Number(v))));
    case 'int32':
      return Int32Array.from(flat, Number);
    case 'int16':
      return Int16Array.from(flat, Number);
    case 'int8':
      return Int8Array.from(flat, Number);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(flat, (v) => Number(v));
    default:
      throw new Error(`tensor: cannot build a ${dtype} tensor from JS values; build float32 and convert with .to('${dtype}')`);
  }
}

/**
 * A new tensor from a typed array (its element type gives the dtype) or nested arrays
 * (float32 by default, bool for booleans). `shape` reshapes flat data.
 */
export function tensor(
  data: Nested | TypedArray | Uint8ClampedArray,
  shapeOrOptions?: number[] | CreationOptions,
  maybeOptions: CreationOptions = {},
): Tensor {
  const shapeGiven = Array.isArray(shapeOrOptions) ? shapeOrOptions : undefined;
  const options = (Array.isArray(shapeOrOptions) ? maybeOptions : shapeOrOptions) ?? {};
  let buffer: ArrayBufferView;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    const natural = typedArrayDType(data);
    dtype = options.dtype ?? natural;
    shape = shapeGiven ?? [data.length];
    if (WIDENS[natural]?.includes(dtype)) {
      // Exact either way; libtorch converts in one pass, where element by element through JS
      // numbers (BigInt for int64) took ~100 ns each (CRD's 1M contrast indices: 99 ms a step).
      checkFills(shape, data.length);
      const raw = native.fromBuffer(data, shape, dtypeCode(natural), options.device ?? 'cpu', false) as Tensor;
      const out = raw.to(dtype);
      raw.dispose();
      return options.requiresGrad ? out.requiresGrad_() : out;
    }
    buffer =
      dtype === natural || (dtype === 'bool' && natural === 'uint8')
        ? data
        : fillTyped(dtype, Array.from(data as ArrayLike<number>, Number));
  } else {
    const inferred = inferShape(data);
    const flat: (number | boolean)[] = [];
    const flatten = (d: Nested): void => {
      if (Array.isArray(d)) for (const x of d) flatten(x);
      else flat.push(d);
    };
    flatten(data);
    for (const v of flat) {
      if (typeof v !== 'number' && typeof v !== 'boolean')
        throw new Error(`tensor: expected numbers or booleans, got ${typeof v}`);
    }
    dtype = options.dtype ?? (flat.length > 0 && typeof flat[0] === 'boolean' ? 'bool' : 'float32');
    shape = shapeGiven ?? inferred;
    buffer = fillTyped(dtype, flat);
  }
  checkFills(shape, (buffer as unknown as ArrayLike<unknown>).length);
  return native.fromBuffer(buffer, shape, dtypeCode(dtype), options.device ?? 'cpu', options.requiresGrad ?? false) as Tensor;
}

const O = {
  zeros: op('aten::zeros'),
  ones: op('aten::ones'),
  full: op('aten::full'),
  empty: op('aten::empty', 'memory_format'),
  arange: op('aten::arange', 'start_step'),
  linspace: op('aten::linspace'),
  eye: op('aten::eye', 'm'),
  rand: op('aten::rand'),
  randn: op('aten::randn'),
  randint: op('aten::randint', 'low'),
  randperm: op('aten::randperm'),
  zerosLike: op('aten::zeros_like'),
  onesLike: op('aten::ones_like'),
  fullLike: op('aten::full_like'),
  randLike: op('aten::rand_like'),
  randnLike: op('aten::randn_like'),
  cat: op('aten::cat'),
  stack: op('aten::stack'),
  where: op('aten::where', 'self'),
};

function finish(t: Tensor, options: CreationOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}
const factoryTail = (o: CreationOptions) => [optDtype(o.dtype), null, o.device ?? null, null];

type ShapeThenOptions = (number | number[] | CreationOptions)[];
function splitShape(args: ShapeThenOptions): [number[], CreationOptions] {
  const last = args[args.length - 1];
  const options = last !== undefined && typeof last === 'object' && !Array.isArray(last) ? (args.pop() as CreationOptions) : {};
  return [shapeArg(args as number[] | [number[]]), options];
}

/** zeros(2, 3) or zeros([2, 3], { dtype }) */
export function zeros(...args: ShapeThenOptions): Tensor {
  const [shape, o] = splitShape(args);
  return finish(O.zeros.call([shape, ...factoryTail(o)]) as Tensor, o);
}
export function ones(...args: ShapeThenOptions): Tensor {
  const [shape, o] = splitShape(args);
  return finish(O.ones.call([shape, ...factoryTail(o)]) as Tensor, o);
}
export function empty(shape: number[], o: CreationOptions & { memoryFormat?: MemoryFormat } = {}): Tensor {
  const mf = o.memoryFormat ? memoryFormatCode(o.memoryFormat) : null;
  return finish(O.empty.call([shape, ...factoryTail(o), mf]) as Tensor, o);
}
export function full(shape: number[], fillValue: number | boolean, o: CreationOptions = {}): Tensor {
  return finish(
    O.full.call([
      shape,
      fillValue,
      ...factoryTail({ dtype: o.dtype ?? (typeof fillValue === 'boolean' ? 'bool' : 'float32'), device: o.device }),
    ]) as Tensor,
    o,
  );
}
/** arange(end), arange(start, end), arange(start, end, step); int64 for integer arguments, as PyTorch. */
export function arange(startOrEnd: number, end?: number, step = 1, o: CreationOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  return finish(O.arange.call([s, e, step, ...factoryTail(o)]) as Tensor, o);
}
export function linspace(start: number, end: number, steps: number, o: CreationOptions = {}): Tensor {
  return finish(O.linspace.call([start, end, steps, ...factoryTail(o)]) as Tensor, o);
}
export function eye(n: number, m: number = n, o: CreationOptions = {}): Tensor {
  return finish(O.eye.call([n, m, ...factoryTail(o)]) as Tensor, o);
}
/** Uniform on [0, 1). */
export function rand(...args: ShapeThenOptions): Tensor {
  const [shape, o] = splitShape(args);
  return finish(O.rand.call([shape, ...factoryTail(o)]) as Tensor, o);
}
/** Standard normal. */
export function randn(...args: ShapeThenOptions): Tensor {
  const [shape, o] = splitShape(args);
  return finish(O.randn.call([shape, ...factoryTail(o)]) as Tensor, o);
}
/** Integers uniform on [low, high); int64 unless dtype says otherwise. */
export function randint(low: number, high: number, shape: number[], o: CreationOptions = {}): Tensor {
  return finish(O.randint.call([low, high, shape, ...factoryTail({ dtype: o.dtype ?? 'int64', device: o.device })]) as Tensor, o);
}
export function randperm(n: number, o: CreationOptions = {}): Tensor {
  return finish(O.randperm.call([n, ...factoryTail({ dtype: o.dtype ?? 'int64', device: o.device })]) as Tensor, o);
}
const likeTail = (o: CreationOptions) => [optDtype(o.dtype), null, o.device ?? null, null, null];
export function zerosLike(t: Tensor, o: CreationOptions = {}): Tensor {
  return finish(O.zerosLike.call([t, ...likeTail(o)]) as Tensor, o);
}
export function onesLike(t: Tensor, o: CreationOptions = {}): Tensor {
  return finish(O.onesLike.call([t, ...likeTail(o)]) as Tensor, o);
}
export function fullLike(t: Tensor, fillValue: number, o: CreationOptions = {}): Tensor {
  return finish(O.fullLike.call([t, fillValue, ...likeTail(o)]) as Tensor, o);
}
export function randLike(t: Tensor, o: CreationOptions = {}): Tensor {
  return finish(O.randLike.call([t, ...likeTail(o)]) as Tensor, o);
}
export function randnLike(t: Tensor, o: CreationOptions = {}): Tensor {
  return finish(O.randnLike.call([t, ...likeTail(o)]) as Tensor, o);
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return O.cat.call([tensors, dim]) as Tensor;
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return O.stack.call([tensors, dim]) as Tensor;
}
/** Elementwise `condition ? x : y`. */
export function where(condition: Tensor, x: Tensor | number, y: Tensor | number): Tensor {
  return O.where.call([condition, x, y]) as Tensor;
}
