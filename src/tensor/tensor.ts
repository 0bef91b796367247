// The Tensor class: a libtorch tensor with PyTorch's method names in camelCase.
import { native } from './native.js';
import { op } from './ops.js';
import { keep, track } from './scope.js';
import { type DType, type MemoryFormat, dtypeCode, dtypeName, memoryFormatCode } from './dtype.js';

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A slice for Tensor.index(): `slice(1, 3)` is Python's `1:3`; omitted ends mean the whole axis. */
export interface Slice {
  readonly kind: 'slice';
  readonly start: number | null;
  readonly end: number | null;
  readonly step: number;
}
export function slice(start: number | null = null, end: number | null = null, step = 1): Slice {
  return { kind: 'slice', start, end, step };
}
export type IndexSpec = number | Slice | Tensor | null;

export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

const O = {
  add: op('aten::add', 'Tensor'),
  add_: op('aten::add_', 'Tensor'),
  sub: op('aten::sub', 'Tensor'),
  sub_: op('aten::sub_', 'Tensor'),
  mul: op('aten::mul', 'Tensor'),
  mul_: op('aten::mul_', 'Tensor'),
  div: op('aten::div', 'Tensor'),
  divMode: op('aten::div', 'Tensor_mode'),
  div_: op('aten::div_', 'Tensor'),
  neg: op('aten::neg'),
  powScalar: op('aten::pow', 'Tensor_Scalar'),
  powTensor: op('aten::pow', 'Tensor_Tensor'),
  sqrt: op('aten::sqrt'),
  rsqrt: op('aten::rsqrt'),
  exp: op('aten::exp'),
  log: op('aten::log'),
  abs: op('aten::abs'),
  sign: op('aten::sign'),
  erfc: op('aten::erfc'),
  isfinite: op('aten::isfinite'),
  svd: op('aten::svd'),
  floor: op('aten::floor'),
  ceil: op('aten::ceil'),
  round: op('aten::round'),
  reciprocal: op('aten::reciprocal'),
  square: op('aten::square'),
  clamp: op('aten::clamp'),
  clamp_: op('aten::clamp_'),
  sigmoid: op('aten::sigmoid'),
  tanh: op('aten::tanh'),
  relu: op('aten::relu'),
  maximum: op('aten::maximum'),
  minimum: op('aten::minimum'),
  eq: op('aten::eq', 'Tensor'),
  ne: op('aten::ne', 'Tensor'),
  lt: op('aten::lt', 'Tensor'),
  le: op('aten::le', 'Tensor'),
  gt: op('aten::gt', 'Tensor'),
  ge: op('aten::ge', 'Tensor'),
  logicalNot: op('aten::logical_not'),
  logicalAnd: op('aten::logical_and'),
  logicalOr: op('aten::logical_or'),
  sumAll: op('aten::sum'),
  sum: op('aten::sum', 'dim_IntList'),
  meanAll: op('aten::mean'),
  mean: op('aten::mean', 'dim'),
  var: op('aten::var', 'dim'),
  std: op('aten::std', 'dim'),
  prod: op('aten::prod'),
  maxAll: op('aten::max'),
  maxDim: op('aten::max', 'dim'),
  minAll: op('aten::min'),
  minDim: op('aten::min', 'dim'),
  argmax: op('aten::argmax'),
  argmin: op('aten::argmin'),
  norm: op('aten::linalg_vector_norm'),
  logsumexp: op('aten::logsumexp'),
  all: op('aten::all'),
  any: op('aten::any'),
  matmul: op('aten::matmul'),
  mm: op('aten::mm'),
  bmm: op('aten::bmm'),
  t: op('aten::t'),
  topk: op('aten::topk'),
  sort: op('aten::sort'),
  cumsum: op('aten::cumsum'),
  reshape: op('aten::reshape'),
  view: op('aten::view'),
  permute: op('aten::permute'),
  transpose: op('aten::transpose', 'int'),
  flatten: op('aten::flatten', 'using_ints'),
  squeeze: op('aten::squeeze'),
  squeezeDim: op('aten::squeeze', 'dim'),
  unsqueeze: op('aten::unsqueeze'),
  expand: op('aten::expand'),
  expandAs: op('aten::expand_as'),
  contiguous: op('aten::contiguous'),
  split: op('aten::split', 'Tensor'),
  splitWithSizes: op('aten::split_with_sizes'),
  chunk: op('aten::chunk'),
  narrow: op('aten::narrow'),
  select: op('aten::select', 'int'),
  slice: op('aten::slice', 'Tensor'),
  index: op('aten::index', 'Tensor'),
  indexSelect: op('aten::index_select'),
  gather: op('aten::gather'),
  scatterSrc: op('aten::scatter', 'src'),
  scatterValue: op('aten::scatter', 'value'),
  maskedFill: op('aten::masked_fill', 'Scalar'),
  maskedFillTensor: op('aten::masked_fill', 'Tensor'),
  where: op('aten::where', 'self'),
  repeat: op('aten::repeat'),
  flip: op('aten::flip'),
  clone: op('aten::clone'),
  detach: op('aten::detach'),
  detach_: op('aten::detach_'),
  to: op('aten::to', 'dtype_layout'),
  copy_: op('aten::copy_'),
  zero_: op('aten::zero_'),
  indexCopy_: op('aten::index_copy_'),
  fill_: op('aten::fill_', 'Scalar'),
  addcmul_: op('aten::addcmul_'),
  addcdiv_: op('aten::addcdiv_'),
  lerp_: op('aten::lerp_', 'Scalar'),
  sqrt_: op('aten::sqrt_'),
  uniform_: op('aten::uniform_'),
  normal_: op('aten::normal_'),
};

/**
 * A tensor never disposed is released when it is garbage collected (a safety net only: tidy()
 * and dispose() release deterministically, and a disposed tensor leaves the registry at once).
 */
const unreleased = new FinalizationRegistry<number>((handle) => native.tensorRelease(handle));

/**
 * The handle of one native tensor: `_h` is its slot in the addon's table (native/common.h), -1
 * once disposed. The addon constructs a Tensor for every tensor it returns.
 */
class TensorHandle {
  /** @internal */
  _h: number;
  constructor(handle = -1) {
    this._h = handle;
    if (handle >= 0) unreleased.register(this, handle, this);
  }
  /** Frees the native tensor now; later uses throw "Tensor is disposed". Idempotent. */
  dispose(): void {
    if (this._h < 0) return;
    native.tensorRelease(this._h);
    unreleased.unregister(this);
    this._h = -1;
  }
  _isDisposed(): boolean {
    return this._h < 0;
  }
  _shape(): number[] {
    return native.tensorShape(this._h);
  }
  _strides(): number[] {
    return native.tensorStrides(this._h);
  }
  _dtype(): number {
    return native.tensorDType(this._h);
  }
  _device(): string {
    return native.tensorDevice(this._h);
  }
  _numel(): number {
    return native.tensorNumel(this._h);
  }
  _dim(): number {
    return native.tensorDim(this._h);
  }
  _isContiguous(memoryFormat?: number): boolean {
    return native.tensorIsContiguous(this._h, memoryFormat);
  }
  _requiresGrad(): boolean {
    return native.tensorRequiresGrad(this._h);
  }
  _setRequiresGrad(on: boolean): void {
    native.tensorSetRequiresGrad(this._h, on);
  }
  _grad(): unknown {
    return native.tensorGrad(this._h);
  }
  _setGrad(g: unknown): void {
    native.tensorSetGrad(this._h, g);
  }
  _isLeaf(): boolean {
    return native.tensorIsLeaf(this._h);
  }
  _retainGrad(): void {
    native.tensorRetainGrad(this._h);
  }
  _gradFnName(): string | null {
    return native.tensorGradFnName(this._h);
  }
  _backward(grad: unknown, retainGraph: boolean): void {
    native.tensorBackward(this._h, grad, retainGraph);
  }
  _item(): number | boolean {
    return native.tensorItem(this._h);
  }
  _data(): TypedArray {
    return native.tensorData(this._h);
  }
  _storageId(): number {
    return native.tensorStorageId(this._h);
  }
  /** The in-place modification counter (torch's `_version`): it grows with every in-place op. */
  _version(): number {
    return native.tensorVersion(this._h);
  }
}

export class Tensor extends TensorHandle {
  /** @internal Tensors are made by the library (creation functions, ops), never with `new`. */
  constructor(handle = -1) {
    super(handle);
    if (handle >= 0) track(this);
  }

  // ---- metadata ----
  get shape(): number[] {
    return this._shape();
  }
  size(dim?: number): number | number[] {
    const s = this._shape();
    if (dim === undefined) return s;
    return s[dim < 0 ? dim + s.length : dim]!;
  }
  get ndim(): number {
    return this._dim();
  }
  dim(): number {
    return this._dim();
  }
  numel(): number {
    return this._numel();
  }
  stride(): number[] {
    return this._strides();
  }
  get dtype(): DType {
    return dtypeName(this._dtype());
  }
  get device(): string {
    return this._device();
  }
  get isDisposed(): boolean {
    return this._isDisposed();
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return this._isContiguous(memoryFormatCode(memoryFormat));
  }
  /** Marks this tensor to survive every tidy() scope. */
  keep(): this {
    return keep(this);
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return this._requiresGrad();
  }
  set requiresGrad(on: boolean) {
    this._setRequiresGrad(on);
  }
  requiresGrad_(on = true): this {
    this._setRequiresGrad(on);
    return this;
  }
  /** The accumulated gradient (a new handle to it; disposing the handle keeps the gradient). */
  get grad(): Tensor | null {
    return this._grad() as Tensor | null;
  }
  set grad(g: Tensor | null) {
    this._setGrad(g);
  }
  get isLeaf(): boolean {
    return this._isLeaf();
  }
  get gradFn(): string | null {
    return this._gradFnName();
  }
  retainGrad(): this {
    this._retainGrad();
    return this;
  }
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    this._backward(gradient ?? null, options.retainGraph ?? false);
  }

  // ---- data ----
  item(): number {
    const v = this._item();
    return typeof v === 'boolean' ? Number(v) : v;
  }
  /** The elements in row-major order, as a typed array of the tensor's element type. */
  dataSync(): TypedArray {
    return this._data();
  }
  toArray(): TypedArray {
    return this._data();
  }
  /** The elements as nested JS arrays of numbers (PyTorch's tolist). */
  tolist(): unknown {
    const data = Array.from(this._data() as ArrayLike<number | bigint>, Number);
    const shape = this.shape;
    if (shape.length === 0) return data[0];
    const build = (d: number, offset: number): unknown[] => {
      const n = shape[d]!;
      const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(d === shape.length - 1 ? data[offset + i] : build(d + 1, offset + i * inner));
      return out;
    };
    return build(0, 0);
  }
  override toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    const n = this.numel();
    const values = n <= 20 ? JSON.stringify(this.tolist()) : '[...]';
    return `tensor(${values}, shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- arithmetic ----
  add(other: TensorOrScalar, options?: { alpha?: number }): Tensor {
    return O.add.call([this, other, options?.alpha]) as Tensor;
  }
  sub(other: TensorOrScalar, options?: { alpha?: number }): Tensor {
    return O.sub.call([this, other, options?.alpha]) as Tensor;
  }
  mul(other: TensorOrScalar): Tensor {
    return O.mul.call([this, other]) as Tensor;
  }
  div(other: TensorOrScalar, options?: { roundingMode?: 'trunc' | 'floor' }): Tensor {
    if (options?.roundingMode) return O.divMode.call([this, other, options.roundingMode]) as Tensor;
    return O.div.call([this, other]) as Tensor;
  }
  neg(): Tensor {
    return O.neg.call([this]) as Tensor;
  }
  pow(exponent: TensorOrScalar): Tensor {
    return (exponent instanceof Tensor ? O.powTensor : O.powScalar).call([this, exponent]) as Tensor;
  }
  sqrt(): Tensor {
    return O.sqrt.call([this]) as Tensor;
  }
  rsqrt(): Tensor {
    return O.rsqrt.call([this]) as Tensor;
  }
  exp(): Tensor {
    return O.exp.call([this]) as Tensor;
  }
  log(): Tensor {
    return O.log.call([this]) as Tensor;
  }
  abs(): Tensor {
    return O.abs.call([this]) as Tensor;
  }
  sign(): Tensor {
    return O.sign.call([this]) as Tensor;
  }
  /** The complementary error function 1 − erf(x), accurate in the tails (normal CDFs). */
  erfc(): Tensor {
    return O.erfc.call([this]) as Tensor;
  }
  /** True where the element is neither NaN nor ±∞. */
  isfinite(): Tensor {
    return O.isfinite.call([this]) as Tensor;
  }
  floor(): Tensor {
    return O.floor.call([this]) as Tensor;
  }
  ceil(): Tensor {
    return O.ceil.call([this]) as Tensor;
  }
  round(): Tensor {
    return O.round.call([this]) as Tensor;
  }
  reciprocal(): Tensor {
    return O.reciprocal.call([this]) as Tensor;
  }
  square(): Tensor {
    return O.square.call([this]) as Tensor;
  }
  clamp(options: { min?: number; max?: number }): Tensor {
    return O.clamp.call([this, options.min ?? null, options.max ?? null]) as Tensor;
  }
  clampMin(min: number): Tensor {
    return O.clamp.call([this, min, null]) as Tensor;
  }
  clampMax(max: number): Tensor {
    return O.clamp.call([this, null, max]) as Tensor;
  }
  sigmoid(): Tensor {
    return O.sigmoid.call([this]) as Tensor;
  }
  tanh(): Tensor {
    return O.tanh.call([this]) as Tensor;
  }
  relu(): Tensor {
    return O.relu.call([this]) as Tensor;
  }
  maximum(other: Tensor): Tensor {
    return O.maximum.call([this, other]) as Tensor;
  }
  minimum(other: Tensor): Tensor {
    return O.minimum.call([this, other]) as Tensor;
  }

  // ---- comparisons and logic ----
  eq(other: TensorOrScalar): Tensor {
    return O.eq.call([this, other]) as Tensor;
  }
  ne(other: TensorOrScalar): Tensor {
    return O.ne.call([this, other]) as Tensor;
  }
  lt(other: TensorOrScalar): Tensor {
    return O.lt.call([this, other]) as Tensor;
  }
  le(other: TensorOrScalar): Tensor {
    return O.le.call([this, other]) as Tensor;
  }
  gt(other: TensorOrScalar): Tensor {
    return O.gt.call([this, other]) as Tensor;
  }
  ge(other: TensorOrScalar): Tensor {
    return O.ge.call([this, other]) as Tensor;
  }
  logicalNot(): Tensor {
    return O.logicalNot.call([this]) as Tensor;
  }
  logicalAnd(other: Tensor): Tensor {
    return O.logicalAnd.call([this, other]) as Tensor;
  }
  logicalOr(other: Tensor): Tensor {
    return O.logicalOr.call([this, other]) as Tensor;
  }

  // ---- reductions ----
  sum(dim?: number | number[] | null, options?: { keepdim?: boolean; dtype?: DType }): Tensor {
    if (dim === undefined || dim === null) return O.sumAll.call([this, optDtype(options?.dtype)]) as Tensor;
    return O.sum.call([this, dimList(dim), options?.keepdim ?? false, optDtype(options?.dtype)]) as Tensor;
  }
  mean(dim?: number | number[] | null, options?: { keepdim?: boolean; dtype?: DType }): Tensor {
    if (dim === undefined || dim === null) return O.meanAll.call([this, optDtype(options?.dtype)]) as Tensor;
    return O.mean.call([this, dimList(dim), options?.keepdim ?? false, optDtype(options?.dtype)]) as Tensor;
  }
  var(dim?: number | number[] | null, options?: { unbiased?: boolean; keepdim?: boolean }): Tensor {
    return O.var.call([this, dimList(dim), options?.unbiased ?? true, options?.keepdim ?? false]) as Tensor;
  }
  std(dim?: number | number[] | null, options?: { unbiased?: boolean; keepdim?: boolean }): Tensor {
    return O.std.call([this, dimList(dim), options?.unbiased ?? true, options?.keepdim ?? false]) as Tensor;
  }
  prod(): Tensor {
    return O.prod.call([this]) as Tensor;
  }
  /** max() reduces everything; max(dim) returns values and indices along dim. */
  max(): Tensor;
  max(dim: number, options?: { keepdim?: boolean }): ValuesIndices;
  max(dim?: number, options?: { keepdim?: boolean }): Tensor | ValuesIndices {
    if (dim === undefined) return O.maxAll.call([this]) as Tensor;
    const [values, indices] = O.maxDim.call([this, dim, options?.keepdim ?? false]) as [Tensor, Tensor];
    return { values, indices };
  }
  min(): Tensor;
  min(dim: number, options?: { keepdim?: boolean }): ValuesIndices;
  min(dim?: number, options?: { keepdim?: boolean }): Tensor | ValuesIndices {
    if (dim === undefined) return O.minAll.call([this]) as Tensor;
    const [values, indices] = O.minDim.call([this, dim, options?.keepdim ?? false]) as [Tensor, Tensor];
    return { values, indices };
  }
  argmax(dim?: number, options?: { keepdim?: boolean }): Tensor {
    return O.argmax.call([this, dim ?? null, options?.keepdim ?? false]) as Tensor;
  }
  argmin(dim?: number, options?: { keepdim?: boolean }): Tensor {
    return O.argmin.call([this, dim ?? null, options?.keepdim ?? false]) as Tensor;
  }
  /** Vector p-norm over `dim` (all elements when omitted), as torch.linalg.vector_norm. */
  norm(p = 2, dim?: number | number[] | null, options?: { keepdim?: boolean }): Tensor {
    return O.norm.call([this, p, dimList(dim), options?.keepdim ?? false]) as Tensor;
  }
  logsumexp(dim: number | number[], options?: { keepdim?: boolean }): Tensor {
    return O.logsumexp.call([this, dimList(dim), options?.keepdim ?? false]) as Tensor;
  }
  all(): Tensor {
    return O.all.call([this]) as Tensor;
  }
  any(): Tensor {
    return O.any.call([this]) as Tensor;
  }

  // ---- linear algebra, sorting ----
  matmul(other: Tensor): Tensor {
    return O.matmul.call([this, other]) as Tensor;
  }
  mm(other: Tensor): Tensor {
    return O.mm.call([this, other]) as Tensor;
  }
  bmm(other: Tensor): Tensor {
    return O.bmm.call([this, other]) as Tensor;
  }
  /**
   * Singular value decomposition of each matrix of a batch, as torch.svd: `this = u · diag(s) · vᵀ`
   * (`v`, not `vᵀ`), reduced (`some`) by default; differentiable.
   */
  svd(options?: { some?: boolean }): { u: Tensor; s: Tensor; v: Tensor } {
    const [u, s, v] = O.svd.call([this, options?.some ?? true, true]) as [Tensor, Tensor, Tensor];
    return { u, s, v };
  }
  t(): Tensor {
    return O.t.call([this]) as Tensor;
  }
  topk(k: number, options?: { dim?: number; largest?: boolean; sorted?: boolean }): ValuesIndices {
    const [values, indices] = O.topk.call([this, k, options?.dim ?? -1, options?.largest ?? true, options?.sorted ?? true]) as [
      Tensor,
      Tensor,
    ];
    return { values, indices };
  }
  sort(dim = -1, options?: { descending?: boolean }): ValuesIndices {
    const [values, indices] = O.sort.call([this, dim, options?.descending ?? false]) as [Tensor, Tensor];
    return { values, indices };
  }
  cumsum(dim: number, options?: { dtype?: DType }): Tensor {
    return O.cumsum.call([this, dim, optDtype(options?.dtype)]) as Tensor;
  }

  // ---- shape and views ----
  reshape(...shape: number[] | [number[]]): Tensor {
    return O.reshape.call([this, shapeArg(shape)]) as Tensor;
  }
  view(...shape: number[] | [number[]]): Tensor {
    return O.view.call([this, shapeArg(shape)]) as Tensor;
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return O.permute.call([this, shapeArg(dims)]) as Tensor;
  }
  transpose(dim0: number, dim1: number): Tensor {
    return O.transpose.call([this, dim0, dim1]) as Tensor;
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return O.flatten.call([this, startDim, endDim]) as Tensor;
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? (O.squeeze.call([this]) as Tensor) : (O.squeezeDim.call([this, dim]) as Tensor);
  }
  unsqueeze(dim: number): Tensor {
    return O.unsqueeze.call([this, dim]) as Tensor;
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return O.expand.call([this, shapeArg(shape)]) as Tensor;
  }
  expandAs(other: Tensor): Tensor {
    return O.expandAs.call([this, other]) as Tensor;
  }
  contiguous(options?: { memoryFormat?: MemoryFormat }): Tensor {
    return O.contiguous.call([this, memoryFormatCode(options?.memoryFormat ?? 'contiguous')]) as Tensor;
  }
  /** split(size) into chunks of `size`, or split([sizes]) into pieces of the given sizes. */
  split(sizeOrSizes: number | number[], dim = 0): Tensor[] {
    if (Array.isArray(sizeOrSizes)) return O.splitWithSizes.call([this, sizeOrSizes, dim]) as Tensor[];
    return O.split.call([this, sizeOrSizes, dim]) as Tensor[];
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return O.chunk.call([this, chunks, dim]) as Tensor[];
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return O.narrow.call([this, dim, start, length]) as Tensor;
  }
  select(dim: number, index: number): Tensor {
    return O.select.call([this, dim, index]) as Tensor;
  }
  slice(dim: number, start: number | null = null, end: number | null = null, step = 1): Tensor {
    return O.slice.call([this, dim, start, end, step]) as Tensor;
  }
  /**
   * Python-style indexing, one spec per leading dimension: an integer selects, `slice(a, b)`
   * is `a:b`, `null` is `:`, and an integer or boolean tensor indexes (advanced indexing).
   * `x.index(0, slice(1, 3), idx)` is `x[0, 1:3, idx]`.
   */
  index(...specs: IndexSpec[]): Tensor {
    let current: Tensor | null = null; // the running view; null while it is still `this`
    const intermediates: Tensor[] = [];
    const advanced: (Tensor | null)[] = [];
    let dim = 0;
    for (const spec of specs) {
      if (typeof spec === 'number') {
        current = (current ?? this).select(dim, spec);
        intermediates.push(current);
      } else if (spec === null) {
        advanced.push(null);
        dim++;
      } else if (spec instanceof Tensor) {
        advanced.push(spec);
        dim++;
      } else {
        current = (current ?? this).slice(dim, spec.start, spec.end, spec.step);
        intermediates.push(current);
        advanced.push(null);
        dim++;
      }
    }
    let result: Tensor;
    if (advanced.some((a) => a !== null)) result = O.index.call([current ?? this, advanced]) as Tensor;
    else result = current ?? (O.slice.call([this, 0, null, null, 1]) as Tensor); // a view, as x[:] is
    for (const t of intermediates) if (t !== result) t.dispose();
    return result;
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return O.indexSelect.call([this, dim, index]) as Tensor;
  }
  gather(dim: number, index: Tensor): Tensor {
    return O.gather.call([this, dim, index]) as Tensor;
  }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return (src instanceof Tensor ? O.scatterSrc : O.scatterValue).call([this, dim, index, src]) as Tensor;
  }
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor {
    return (value instanceof Tensor ? O.maskedFillTensor : O.maskedFill).call([this, mask, value]) as Tensor;
  }
  /** Elementwise `condition ? this : other`. */
  where(condition: Tensor, other: TensorOrScalar): Tensor {
    return O.where.call([condition, this, other]) as Tensor;
  }
  repeat(...sizes: number[] | [number[]]): Tensor {
    return O.repeat.call([this, shapeArg(sizes)]) as Tensor;
  }
  flip(dims: number[]): Tensor {
    return O.flip.call([this, dims]) as Tensor;
  }
  clone(options?: { memoryFormat?: MemoryFormat }): Tensor {
    return O.clone.call([this, options?.memoryFormat ? memoryFormatCode(options.memoryFormat) : null]) as Tensor;
  }
  detach(): Tensor {
    return O.detach.call([this]) as Tensor;
  }
  detach_(): this {
    O.detach_.inplace([this]);
    return this;
  }

  // ---- conversion ----
  /** to('cuda'), to('float64'), or to({ device, dtype, memoryFormat, copy }). */
  to(target: DType | string | { device?: string; dtype?: DType; memoryFormat?: MemoryFormat; copy?: boolean }): Tensor {
    let options: { device?: string; dtype?: DType; memoryFormat?: MemoryFormat; copy?: boolean };
    if (typeof target === 'string') options = isDTypeName(target) ? { dtype: target } : { device: target };
    else options = target;
    return O.to.call([
      this,
      optDtype(options.dtype),
      null,
      options.device ?? null,
      null,
      false,
      options.copy ?? false,
      options.memoryFormat ? memoryFormatCode(options.memoryFormat) : null,
    ]) as Tensor;
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  cpu(): Tensor {
    return this.to({ device: 'cpu' });
  }
  cuda(index = 0): Tensor {
    return this.to({ device: `cuda:${index}` });
  }

  // ---- in place (optimizers, initialisation) ----
  add_(other: TensorOrScalar, options?: { alpha?: number }): this {
    O.add_.inplace([this, other, options?.alpha]);
    return this;
  }
  sub_(other: TensorOrScalar, options?: { alpha?: number }): this {
    O.sub_.inplace([this, other, options?.alpha]);
    return this;
  }
  mul_(other: TensorOrScalar): this {
    O.mul_.inplace([this, other]);
    return this;
  }
  div_(other: TensorOrScalar): this {
    O.div_.inplace([this, other]);
    return this;
  }
  copy_(src: Tensor): this {
    O.copy_.inplace([this, src]);
    return this;
  }
  zero_(): this {
    O.zero_.inplace([this]);
    return this;
  }
  /** Copies the rows (slices along dim) of `source` to the positions `index` (int64) names. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    O.indexCopy_.inplace([this, dim, index, source]);
    return this;
  }
  fill_(value: number): this {
    O.fill_.inplace([this, value]);
    return this;
  }
  clamp_(options: { min?: number; max?: number }): this {
    O.clamp_.inplace([this, options.min ?? null, options.max ?? null]);
    return this;
  }
  addcmul_(tensor1: Tensor, tensor2: Tensor, options?: { value?: number }): this {
    O.addcmul_.inplace([this, tensor1, tensor2, options?.value]);
    return this;
  }
  addcdiv_(tensor1: Tensor, tensor2: Tensor, options?: { value?: number }): this {
    O.addcdiv_.inplace([this, tensor1, tensor2, options?.value]);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    O.lerp_.inplace([this, end, weight]);
    return this;
  }
  sqrt_(): this {
    O.sqrt_.inplace([this]);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    O.uniform_.inplace([this, from, to]);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    O.normal_.inplace([this, mean, std]);
    return this;
  }
}

native.setTensorClass(Tensor);

const dtypeNames = new Set(['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);
function isDTypeName(s: string): s is DType {
  return dtypeNames.has(s);
}

export function optDtype(d: DType | undefined): number | null {
  return d === undefined ? null : dtypeCode(d);
}

function dimList(dim: number | number[] | null | undefined): number[] | null {
  if (dim === undefined || dim === null) return null;
  return typeof dim === 'number' ? [dim] : dim;
}

/** Accepts f(2, 3) and f([2, 3]) alike. */
export function shapeArg(args: number[] | [number[]]): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}
