// Loads the native addon (native/*.cc) and describes what it exports.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeTensorBase {
  dispose(): void;
  _isDisposed(): boolean;
  _shape(): number[];
  _strides(): number[];
  _dtype(): number;
  _device(): string;
  _numel(): number;
  _dim(): number;
  _isContiguous(memoryFormat?: number): boolean;
  _requiresGrad(): boolean;
  _setRequiresGrad(on: boolean): void;
  _grad(): NativeTensorBase | null;
  _setGrad(g: NativeTensorBase | null): void;
  _isLeaf(): boolean;
  _retainGrad(): void;
  _gradFnName(): string | null;
  _backward(grad: NativeTensorBase | null, retainGraph: boolean): void;
  _item(): number | boolean;
  _data(): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  _storageId(): number;
}

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
  hits: number;
  misses: number;
}

export interface NativeAddon {
  NativeTensor: new () => NativeTensorBase;
  setTensorClass(cls: new () => NativeTensorBase): void;
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number, device: string, requiresGrad: boolean): NativeTensorBase;
  resolveOp(name: string, overload: string): OpInfo;
  callOp(id: number, args: unknown[]): unknown;
  callOpInplace(id: number, args: unknown[]): void;
  setGradEnabled(on: boolean): void;
  isGradEnabled(): boolean;
  manualSeed(seed: number): void;
  getRngState(): NativeTensorBase;
  setRngState(state: NativeTensorBase): void;
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
}

function findAddon(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'build', 'Release', 'distill_native.node');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(
    "distill-ts: the native addon is not built (build/Release/distill_native.node missing): run 'npm ci' or 'npm run build:native' (needs libtorch: 'apt-get install libtorch-dev' or LIBTORCH=/path)",
  );
}

export const native: NativeAddon = createRequire(import.meta.url)(findAddon()) as NativeAddon;
