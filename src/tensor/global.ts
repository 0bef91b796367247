// Process-wide engine settings: grad mode, seeds, threads, determinism, devices, memory.
import { native, type AllocatorStats } from './native.js';
import { dtypeCode } from './dtype.js';
import type { Tensor } from './tensor.js';

function withGradMode<T>(on: boolean, fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(on);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}
/** Runs `fn` with gradient recording off (torch.no_grad). */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);
/** Runs `fn` with gradient recording on (torch.enable_grad). */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();

/**
 * Runs `fn` under automatic mixed precision (torch.autocast): on `deviceType` ('cpu' or 'cuda'),
 * convolutions and matrix products run in `dtype` (bfloat16 or float16) and the ops PyTorch keeps
 * in float32 stay there; outputs may be in `dtype`. Regions nest.
 */
export function autocast<T>(deviceType: 'cpu' | 'cuda', dtype: 'bfloat16' | 'float16', fn: () => T): T {
  if (dtype !== 'bfloat16' && dtype !== 'float16')
    throw new Error(`autocast: dtype must be bfloat16 or float16, got ${String(dtype)}`);
  const [enabled, previous] = native.autocastEnter(deviceType, dtypeCode(dtype));
  try {
    return fn();
  } finally {
    native.autocastExit(deviceType, enabled, previous);
  }
}
/** Whether autocast is on for this device type (torch.is_autocast_enabled / is_autocast_cpu_enabled). */
export const isAutocastEnabled = (deviceType: 'cpu' | 'cuda'): boolean => native.autocastEnabled(deviceType);
export const setGradEnabled = (on: boolean): void => native.setGradEnabled(on);

export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}
/** The CPU random generator's state (uint8 tensor), as torch.get_rng_state. */
export const getRngState = (): Tensor => native.getRngState() as Tensor;
/** Restores a state from getRngState (torch.set_rng_state). */
export const setRngState = (state: Tensor): void => native.setRngState(state);

/**
 * Intra-op threads, and OpenBLAS's threads where libtorch's BLAS is OpenBLAS (at::set_num_threads
 * leaves those at every core). Use no more than the free cores: OpenMP collapses when oversubscribed.
 */
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();
/** Deterministic algorithms only (torch.use_deterministic_algorithms). */
export const useDeterministicAlgorithms = (on: boolean): void => native.setDeterministic(on);

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
};

export const memory = {
  /** Native tensors alive (not disposed nor collected). */
  liveTensors: (): number => native.liveTensors(),
  /** Statistics of the caching CPU allocator. */
  stats: (): AllocatorStats => native.allocatorStats(),
  resetPeak: (): void => native.resetPeakMemory(),
  /** Gives every cached CPU block back to the system. */
  emptyCache: (): void => native.emptyCache(),
};

export const version = (): string => native.torchVersion();
