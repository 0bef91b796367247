// The launcher of data-parallel runs, as torchrun: `--nproc-per-node N` starts N workers of the
// same command with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR and
// MASTER_PORT set; `--nnodes M --node-rank R` starts this machine's share of M machines. A worker
// that fails ends the group (the others are stopped) and the launcher exits non-zero naming the
// rank and its exit reason; with `--max-restarts K` the whole group restarts from the run's last
// checkpoint (the workers get --resume), as torchrun's elastic agent restarts a failed group.
import { spawn, type ChildProcess } from 'node:child_process';
import { InputError } from '../engine/errors.js';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  maxRestarts: number;
  /** Rendezvous and collective timeout in seconds, passed to the workers. */
  timeoutSeconds?: number;
}

/** Checks the launcher's flags; the errors name the flag. */
export function checkLaunchOptions(o: LaunchOptions): void {
  const int = (v: number, name: string, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new InputError(`${name} must be an integer of at least ${min}, got ${v}`);
  };
  int(o.nprocPerNode, '--nproc-per-node', 1);
  int(o.nnodes, '--nnodes', 1);
  int(o.nodeRank, '--node-rank', 0);
  int(o.maxRestarts, '--max-restarts', 0);
  if (o.nodeRank >= o.nnodes) throw new InputError(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  if (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535)
    throw new InputError(`--master-port must be a port number from 1 to 65535, got ${o.masterPort}`);
  if (!o.masterAddr) throw new InputError('--master-addr must name the machine of rank 0');
  if (o.timeoutSeconds !== undefined && !(o.timeoutSeconds > 0))
    throw new InputError(`--timeout must be a positive number of seconds`);
}

/** Why a worker ended, in words. */
function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal === 'SIGKILL') return 'was killed by SIGKILL (out of memory, or killed from outside)';
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code}${code === 2 ? ' (bad input)' : ''}`;
}

/**
 * Runs `args` (this CLI's arguments without the launcher's flags) as this node's workers until
 * they all succeed, or a failure uses up the restarts; returns the exit code for the launcher.
 */
export async function launch(
  args: string[],
  o: LaunchOptions,
  log: (line: string) => void = (l) => console.error(l),
): Promise<number> {
  checkLaunchOptions(o);
  const worldSize = o.nprocPerNode * o.nnodes;
  for (let attempt = 0; ; attempt++) {
    const workerArgs = attempt > 0 && !args.includes('--resume') ? [...args, '--resume'] : args;
    const failure = await runGroup(workerArgs, o, worldSize, attempt);
    if (!failure) return 0;
    log(`distill: rank ${failure.rank} (pid ${failure.pid}) ${failure.reason}; the other workers were stopped`);
    // Bad input fails the same way every time: a restart would not help.
    if (failure.code === 2) return 2;
    if (attempt >= o.maxRestarts) return failure.code && failure.code > 0 ? failure.code : 1;
    log(`distill: restarting the group from the last checkpoint (restart ${attempt + 1} of ${o.maxRestarts})`);
  }
}

/** How long the group waits, after a worker's own non-zero exit, for the others to end by themselves. */
const PEER_EXIT_GRACE_MS = 2000;

interface Failure {
  rank: number;
  pid: number;
  reason: string;
  code: number | null;
}

function runGroup(args: string[], o: LaunchOptions, worldSize: number, attempt: number): Promise<Failure | null> {
  const script = process.argv[1]!;
  const children: ChildProcess[] = [];
  return new Promise((resolve) => {
    // Every failure in order: the first stops the group; bad input (exit code 2) is the cause to
    // report when any worker found it (a peer that lost it exits 1 a moment before or after).
    const failures: Failure[] = [];
    let running = o.nprocPerNode;
    const stopAll = () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      const force = setTimeout(() => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, 5000);
      force.unref();
    };
    const forward = (signal: NodeJS.Signals) => () => {
      failures.unshift({ rank: -1, pid: process.pid, reason: `the launcher received ${signal}`, code: 130 });
      stopAll();
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    for (let local = 0; local < o.nprocPerNode; local++) {
      const rank = o.nodeRank * o.nprocPerNode + local;
      const env = {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: String(local),
        WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode),
        GROUP_RANK: String(o.nodeRank),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(o.masterPort),
        TORCHELASTIC_RESTART_COUNT: String(attempt),
        ...(o.timeoutSeconds ? { DISTILL_DIST_TIMEOUT_S: String(o.timeoutSeconds) } : {}),
      };
      const child = spawn(process.execPath, [...process.execArgv, script, ...args], { env, stdio: 'inherit' });
      children.push(child);
      child.on('exit', (code, signal) => {
        running--;
        if (code !== 0 || signal) {
          failures.push({ rank, pid: child.pid ?? -1, reason: exitReason(code, signal), code });
          // A worker that exited on its own may have lost a peer that is still on its way out with
          // the cause (exit 2, bad input): that peer gets a moment before the group is stopped.
          // (unref: once every worker has exited, the launcher does not wait for the timer.)
          if (failures.length === 1) setTimeout(stopAll, signal ? 0 : PEER_EXIT_GRACE_MS).unref();
        }
        if (running === 0) {
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          resolve(failures[0]?.rank === -1 ? failures[0] : (failures.find((f) => f.code === 2) ?? failures[0] ?? null));
        }
      });
    }
  });
}
