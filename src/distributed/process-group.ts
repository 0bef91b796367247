// Process groups on libtorch's c10d: a TCPStore rendezvous served by rank 0, then Gloo (CPU) or
// NCCL (CUDA libtorch) collectives. Environment variables as torchrun sets them (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so that torchrun, srun
// or a training operator starts workers that join without further flags.
import { native } from '../tensor/native.js';
import type { Tensor } from '../tensor/index.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'max' | 'min' | 'product';

interface DistributedAddon {
  backends(): string[];
  initProcessGroup(backend: string, host: string, port: number, rank: number, worldSize: number, timeoutMs: number): number;
  destroyProcessGroup(id: number): void;
  allReduce(id: number, t: Tensor, op: string): void;
  allReduceCoalesced(id: number, ts: Tensor[]): void;
  broadcast(id: number, ts: Tensor[], root: number): void;
  allGather(id: number, t: Tensor): Tensor[];
  barrier(id: number): void;
  storeSet(id: number, key: string, value: string): void;
  storeGet(id: number, key: string): string;
  storeAdd(id: number, key: string, by: number): number;
  allReduceDifferentiable(id: number, t: Tensor): Tensor;
  reducerCreate(id: number, params: Tensor[], bucketCapBytes: number, firstBucketCapBytes: number): number;
  reducerStats(id: number): ReducerStats;
  reducerDispose(id: number): void;
}

/** What the gradient reducer measured (DistributedDataParallel.stats). */
export interface ReducerStats {
  /** Gradient elements per bucket, in launch order. */
  bucketElements: number[];
  parameters: number;
  /** Backward passes reduced so far. */
  reductions: number;
  /** The last backward pass: the buckets' allreduce times (launch to result) summed, in seconds. */
  lastCommSeconds: number;
  /** The part of it that backward waited for once its own computation had ended. */
  lastWaitSeconds: number;
  totalCommSeconds: number;
  totalWaitSeconds: number;
}

/** The addon's c10d functions; a clear error when this build has none. */
export function addon(): DistributedAddon {
  const d = (native as unknown as { distributed?: DistributedAddon }).distributed;
  if (!d || typeof d.initProcessGroup !== 'function')
    throw new Error(
      "distributed training is not built into this addon: it needs Gloo's headers at build time (apt-get install libgloo-dev, then npm run build:native)",
    );
  return d;
}

export interface InitOptions {
  backend?: Backend;
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** Rendezvous and collective timeout (ms); PyTorch's default is 30 minutes. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

/** A group of processes that run collectives together (one per process is the usual case). */
export class ProcessGroup {
  private id: number;
  constructor(
    id: number,
    readonly rank: number,
    readonly worldSize: number,
    readonly backend: Backend,
  ) {
    this.id = id;
  }
  /** The addon's handle of this group (reducers and SyncBatchNorm refer to it). */
  get handle(): number {
    if (this.id < 0) throw new Error('distributed: the process group was destroyed');
    return this.id;
  }
  /** Reduces `t` across ranks in place (sum by default); every rank then holds the result. */
  allReduce(t: Tensor, op: ReduceOp = 'sum'): Tensor {
    addon().allReduce(this.handle, t, op);
    return t;
  }
  /** Sums every tensor across ranks in place, one collective per dtype. */
  allReduceCoalesced(ts: Tensor[]): void {
    if (ts.length) addon().allReduceCoalesced(this.handle, ts);
  }
  /** Every tensor takes the values of rank `root` (coalesced: one collective per dtype). */
  broadcast(ts: Tensor | Tensor[], root = 0): void {
    const list = Array.isArray(ts) ? ts : [ts];
    if (list.length) addon().broadcast(this.handle, list, root);
  }
  /** Every rank's `t`, in rank order (new tensors). */
  allGather(t: Tensor): Tensor[] {
    return addon().allGather(this.handle, t);
  }
  barrier(): void {
    addon().barrier(this.handle);
  }
  /** Sum across ranks that autograd differentiates: the gradient is the sum of every rank's gradient. */
  allReduceDifferentiable(t: Tensor): Tensor {
    return addon().allReduceDifferentiable(this.handle, t);
  }
  /** The rendezvous store: small strings every rank can read (get waits for the key). */
  storeSet(key: string, value: string): void {
    addon().storeSet(this.handle, key, value);
  }
  storeGet(key: string): string {
    return addon().storeGet(this.handle, key);
  }
  storeAdd(key: string, by = 1): number {
    return addon().storeAdd(this.handle, key, by);
  }
  private agreements = new Map<string, number>();
  /** A JSON value decided by rank 0, the same on every rank (every rank calls it, in the same order). */
  agree<T>(key: string, value: () => T): T {
    const n = (this.agreements.get(key) ?? 0) + 1;
    this.agreements.set(key, n);
    const storeKey = `distill/agree/${key}/${n}`;
    if (this.rank === 0) {
      const v = value();
      this.storeSet(storeKey, JSON.stringify(v));
      return v;
    }
    return JSON.parse(this.storeGet(storeKey)) as T;
  }
  destroy(): void {
    if (this.id < 0) return;
    addon().destroyProcessGroup(this.id);
    this.id = -1;
    if (defaultGroup === this) defaultGroup = null;
  }
}

let defaultGroup: ProcessGroup | null = null;

/** The backends this addon has: gloo, and nccl with a CUDA libtorch. */
export function availableBackends(): Backend[] {
  const d = (native as unknown as { distributed?: DistributedAddon }).distributed;
  return d && typeof d.backends === 'function' ? (d.backends() as Backend[]) : [];
}

/**
 * Joins (rank 0: serves) the rendezvous at masterAddr:masterPort and creates the process group;
 * blocks until every rank has joined, and fails with a message that names the cause (a port in
 * use, an unreachable master, a world size that does not match) within the timeout.
 */
export function initProcessGroup(options: InitOptions): ProcessGroup {
  const { masterAddr, masterPort, rank, worldSize } = options;
  const backend = options.backend ?? 'gloo';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new Error(`distributed: WORLD_SIZE must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new Error(`distributed: RANK ${rank} is outside the world of ${worldSize} processes (0 to ${worldSize - 1})`);
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535)
    throw new Error(`distributed: MASTER_PORT must be a port number from 1 to 65535, got ${masterPort}`);
  if (!availableBackends().includes(backend))
    throw new Error(
      `distributed: backend '${backend}' is not available in this build (available: ${availableBackends().join(', ') || 'none'})`,
    );
  let id: number;
  try {
    id = addon().initProcessGroup(backend, masterAddr, masterPort, rank, worldSize, timeoutMs);
  } catch (err) {
    throw new Error(explainInitFailure(err as Error, options, timeoutMs), { cause: err });
  }
  const group = new ProcessGroup(id, rank, worldSize, backend);
  defaultGroup ??= group;
  return group;
}

function explainInitFailure(err: Error, o: InitOptions, timeoutMs: number): string {
  const m = err.message;
  const world = /world check: (.*)/.exec(m);
  if (world) return `distributed: ${world[1]!.trim()}`;
  const where = `${o.masterAddr}:${o.masterPort}`;
  if (/address already in use|failed to listen|bind/i.test(m) && o.rank === 0)
    return `distributed: rank 0 cannot serve the rendezvous on ${where}: the port is in use; choose another --master-port (MASTER_PORT)`;
  if (/timed out|timeout|connect/i.test(m) && o.rank !== 0)
    return `distributed: rank ${o.rank} could not reach the master at ${where} within ${timeoutMs / 1000} s; check MASTER_ADDR and MASTER_PORT and that rank 0 is running (${firstLine(m)})`;
  if (/broken pipe|connection reset|end of file/i.test(m) && o.rank !== 0)
    return `distributed: rank 0 (the master at ${where}) went away during the rendezvous; see its output for the reason (${firstLine(m)})`;
  if (/timed out|timeout/i.test(m))
    return `distributed: not all ${o.worldSize} ranks joined at ${where} within ${timeoutMs / 1000} s; check that WORLD_SIZE matches the number of workers started (${firstLine(m)})`;
  return `distributed: could not start the process group at ${where} (rank ${o.rank} of ${o.worldSize}): ${firstLine(m)}`;
}

const firstLine = (s: string): string =>
  s
    .split('\n')
    .find((l) => l.trim())
    ?.trim() ?? s;

/** `group` when it spans more than one process; null otherwise (nothing to synchronise). */
export function parallelGroup(group: ProcessGroup | null | undefined): ProcessGroup | null {
  return group && group.worldSize > 1 ? group : null;
}

/** The process group of this process (null when not distributed). */
export function getDefaultGroup(): ProcessGroup | null {
  return defaultGroup;
}
export function isInitialized(): boolean {
  return defaultGroup !== null;
}
export function getRank(): number {
  return defaultGroup?.rank ?? 0;
}
export function getWorldSize(): number {
  return defaultGroup?.worldSize ?? 1;
}

/** The launch environment as torchrun sets it; null when this process was not started as a worker. */
export interface LaunchEnv {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  if (env.WORLD_SIZE === undefined && env.RANK === undefined) {
    // srun starting the workers itself: Slurm's task variables stand for torchrun's.
    if (env.SLURM_PROCID === undefined || env.SLURM_NTASKS === undefined) return null;
    if (!env.MASTER_ADDR)
      throw new Error(
        'distributed: started by srun without MASTER_ADDR; export MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1) in the job script',
      );
    const perNode = /^\d+/.exec(env.SLURM_NTASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE ?? '')?.[0];
    return launchEnv({
      ...env,
      RANK: env.SLURM_PROCID,
      WORLD_SIZE: env.SLURM_NTASKS,
      LOCAL_RANK: env.SLURM_LOCALID,
      LOCAL_WORLD_SIZE: perNode,
    });
  }
  const num = (name: string, fallback?: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (fallback !== undefined) return fallback;
      throw new Error(
        `distributed: ${name} is not set; a worker needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (as torchrun sets them)`,
      );
    }
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 0) throw new Error(`distributed: ${name}=${raw} is not a non-negative integer`);
    return v;
  };
  const worldSize = num('WORLD_SIZE');
  const rank = num('RANK');
  const localWorldSize = num('LOCAL_WORLD_SIZE', worldSize);
  return {
    rank,
    worldSize,
    localRank: num('LOCAL_RANK', rank % Math.max(1, localWorldSize)),
    localWorldSize,
    masterAddr: env.MASTER_ADDR || '127.0.0.1',
    masterPort: num('MASTER_PORT', 29500),
  };
}

/** Joins the group the launch environment describes (a world of one needs no group: null). */
export function initFromEnv(options: { backend?: Backend; timeoutMs?: number } = {}): ProcessGroup | null {
  const e = launchEnv();
  if (!e || e.worldSize === 1) return null;
  return initProcessGroup({ ...e, ...options });
}
