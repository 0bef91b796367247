// The tensor engine: a torch-like namespace over libtorch.
export { Tensor, slice, type Slice, type IndexSpec, type ValuesIndices, type TypedArray, type TensorOrScalar } from './tensor.js';
export * from './creation.js';
export * as functional from './functional.js';
export { tidy, keep, release, dispose, scopeDepth, sequence, expose, tensorsIn } from './scope.js';
export * from './global.js';
export { save, load, saveToBuffer, loadFromBuffer, writeFileAtomic, type LoadOptions, type Saveable } from './serialize.js';
export { type DType, type MemoryFormat, isFloatingPoint } from './dtype.js';
export { Op, op, observeOps, opsObserved, type OpObserver } from './ops.js';
export { WinogradConvolution, winogradAvailable, winogradTrain } from './winograd.js';
