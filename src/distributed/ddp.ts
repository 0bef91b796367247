// DistributedDataParallel: replicas start from rank 0's parameters and buffers, and the
// gradients of every backward pass are averaged across the group in buckets while backward
// runs (native/distributed.cc has the reducer). SyncBatchNorm: BatchNorm over the global batch.
import { noGrad, type Tensor } from '../tensor/index.js';
import { Module } from '../nn/module.js';
import { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from '../nn/layers.js';
import { addon, getDefaultGroup, type ProcessGroup, type ReducerStats } from './process-group.js';

export interface DDPOptions {
  /** The group to average over (default: the process's group). */
  group?: ProcessGroup;
  /** Bucket size in MiB (PyTorch's default 25); the first bucket closes at 1 MiB to start communication early. */
  bucketCapMb?: number;
  /**
   * Accepted for PyTorch's API. Unused parameters are always found at the end of backward (each
   * bucket carries which ranks produced each gradient), so a parameter no rank used keeps its
   * gradient, and one some ranks used is averaged over all, as PyTorch's DDP with the flag on.
   */
  findUnusedParameters?: boolean;
  /** Broadcast rank 0's buffers (BatchNorm statistics) before every forward, as PyTorch (default true). */
  broadcastBuffers?: boolean;
}

const MiB = 1024 * 1024;
/** PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES. */
const FIRST_BUCKET_BYTES = 1 * MiB;

function requireGroup(group: ProcessGroup | undefined): ProcessGroup {
  const g = group ?? getDefaultGroup();
  if (!g)
    throw new Error('DistributedDataParallel: no process group; call distributed.initProcessGroup() or initFromEnv() first');
  return g;
}

/**
 * Averages the gradients of `params` across the group on every backward pass: the building block
 * of DistributedDataParallel, usable on any parameter list (a distiller's student and connectors).
 */
export class GradientReducer {
  private id: number;
  constructor(
    params: Tensor[],
    readonly group: ProcessGroup,
    options: { bucketCapMb?: number } = {},
  ) {
    const cap = (options.bucketCapMb ?? 25) * MiB;
    if (!(cap > 0)) throw new Error(`DistributedDataParallel: bucketCapMb must be positive, got ${options.bucketCapMb}`);
    this.id = addon().reducerCreate(group.handle, params, cap, Math.min(cap, FIRST_BUCKET_BYTES));
  }
  get stats(): ReducerStats {
    return addon().reducerStats(this.id);
  }
  /** Removes the hooks; later backward passes leave the gradients local. */
  dispose(): void {
    if (this.id < 0) return;
    addon().reducerDispose(this.id);
    this.id = -1;
  }
}

/** Copies rank 0's parameters and buffers into every replica (in place). */
export function broadcastState(module: Module | Tensor[], group: ProcessGroup, root = 0): void {
  const tensors = Array.isArray(module) ? module : [...module.parameters(), ...module.buffers()];
  noGrad(() => group.broadcast(tensors, root));
}

/** torch.nn.parallel.DistributedDataParallel: wraps a module; its state dict keys start with `module.`. */
export class DistributedDataParallel<M extends Module = Module> extends Module {
  readonly module: M;
  readonly group: ProcessGroup;
  readonly broadcastBuffers: boolean;
  private readonly reducer: GradientReducer;

  constructor(module: M, options: DDPOptions = {}) {
    super();
    this.group = requireGroup(options.group);
    this.module = this.registerModule('module', module);
    this.broadcastBuffers = options.broadcastBuffers ?? true;
    this.training = module.training;
    broadcastState(module, this.group);
    this.reducer = new GradientReducer(module.parameters(), this.group, options);
  }

  forward(...inputs: unknown[]): unknown {
    if (this.broadcastBuffers) {
      const buffers = this.module.buffers();
      if (buffers.length) noGrad(() => this.group.broadcast(buffers, 0));
    }
    return (this.module as unknown as { forward: (...a: unknown[]) => unknown }).forward(...inputs);
  }

  /** Buckets, and the communication time of the last backward pass and in total. */
  get stats(): ReducerStats {
    return this.reducer.stats;
  }

  /** Stops reducing (the wrapped module and its tensors stay; dispose them with the module). */
  detach(): M {
    this.reducer.dispose();
    return this.module;
  }

  override dispose(): void {
    this.reducer.dispose();
    super.dispose();
  }
}

/**
 * torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm of `module` normalises training
 * batches with the statistics of the global batch across the group. The layers are switched in
 * place (a network's forward keeps its references), and `module` is returned.
 */
export function convertSyncBatchNorm<M extends Module>(module: M, group?: ProcessGroup): M {
  const g = group ?? getDefaultGroup();
  const sync = g ? { worldSize: g.worldSize, allReduceDifferentiable: (t: Tensor) => g.allReduceDifferentiable(t) } : null;
  for (const m of module.modules()) if (m instanceof BatchNorm2d || m instanceof BatchNorm1d) m.syncGroup = sync;
  return module;
}

/** A BatchNorm2d that normalises over the global batch of the process's group (new networks written for it). */
export class SyncBatchNorm extends BatchNorm2d {
  constructor(numFeatures: number, options: BatchNormOptions & { group?: ProcessGroup } = {}) {
    super(numFeatures, options);
    convertSyncBatchNorm(this, options.group);
  }
  static convertSyncBatchNorm = convertSyncBatchNorm;
}
