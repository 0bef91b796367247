// Loads the native addon (native/*.cc) and describes what it exports.
import { createRequire } from 'node:module';
import { findBuilt } from '../util/built.js';

export interface OpInfo {
  id: number;
  args: string[];
  schema: string;
}

export interface AllocatorStats {
  enabled: boolean;
  liveBytes: number;
  peakLiveBytes: number;
  cachedBytes: number;
  /** Bytes held in segments for large blocks (64 KiB and up), in use or free. */
  segmentBytes: number;
  /** Whether large blocks come from one reserved arena (false until the first, or where the reservation was refused). */
  arena: boolean;
  hits: number;
  misses: number;
}

export interface NativeAddon {
  /** The JS class the addon constructs, with a slot number, for every tensor it returns. */
  setTensorClass(cls: new (handle: number) => object): void;
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number, device: string, requiresGrad: boolean): unknown;
  // The tensor in slot `h` (a Tensor's `_h`): metadata, autograd, data, release.
  tensorRelease(h: number): void;
  tensorShape(h: number): number[];
  tensorStrides(h: number): number[];
  tensorDType(h: number): number;
  tensorDevice(h: number): string;
  tensorNumel(h: number): number;
  tensorDim(h: number): number;
  tensorIsContiguous(h: number, memoryFormat?: number): boolean;
  tensorRequiresGrad(h: number): boolean;
  tensorSetRequiresGrad(h: number, on: boolean): void;
  tensorGrad(h: number): unknown;
  tensorSetGrad(h: number, g: unknown): void;
  tensorIsLeaf(h: number): boolean;
  tensorRetainGrad(h: number): void;
  tensorGradFnName(h: number): string | null;
  tensorBackward(h: number, grad: unknown, retainGraph: boolean): void;
  tensorItem(h: number): number | boolean;
  tensorData(h: number): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  tensorStorageId(h: number): number;
  tensorVersion(h: number): number;
  resolveOp(name: string, overload: string): OpInfo;
  callOp(id: number, args: unknown[]): unknown;
  callOpInplace(id: number, args: unknown[]): void;
  setGradEnabled(on: boolean): void;
  autocastEnter(deviceType: string, dtype: number): [boolean, number];
  autocastExit(deviceType: string, enabled: boolean, dtype: number): void;
  autocastEnabled(deviceType: string): boolean;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  getRngState(): unknown;
  setRngState(state: unknown): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setDeterministic(on: boolean): void;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  liveTensors(): number;
  torchVersion(): string;
  allocatorStats(): AllocatorStats;
  resetPeakMemory(): void;
  emptyCache(): void;
  save(value: unknown): Buffer;
  /** Present when the addon was built with oneDNN's headers (native/onednn.cc). */
  winograd?: {
    create(weight: unknown, bias: unknown, stride: number[], padding: number[]): number;
    forward(id: number, input: unknown): unknown;
    dispose(id: number): void;
    train(input: unknown, weight: unknown, bias: unknown, stride: number[], padding: number[]): unknown;
  };
}

function findAddon(): string {
  const found = findBuilt('distill_native.node');
  if (found) return found;
  throw new Error(
    "distill-ts: the native addon is not built (build/Release/distill_native.node missing): run 'npm ci' or 'npm run build:native' (needs libtorch: 'apt-get install libtorch-dev' or LIBTORCH=/path)",
  );
}

// A libtorch on OpenBLAS (Debian's) runs matrix products on OpenBLAS's own worker threads, which
// spin for ~2^28 cycles after each product and so take a core from libtorch's threads for most of
// a step (measured: 15-20% of a 2-thread step). OpenBLAS reads this when it loads, with the addon;
// a user's own setting wins.
if (process.env.OPENBLAS_THREAD_TIMEOUT === undefined && process.env.GOTO_THREAD_TIMEOUT === undefined)
  process.env.OPENBLAS_THREAD_TIMEOUT = '4';
export const native: NativeAddon = createRequire(import.meta.url)(findAddon()) as NativeAddon;
