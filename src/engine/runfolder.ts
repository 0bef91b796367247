// A run folder is used by one run at a time: a lock file (`.lock`, holding the owner's pid, host
// and command) is taken before anything is written there. A second run into a folder in use is
// refused, naming the process that holds it; a lock left by a process that no longer exists (a
// kill, a crash, a power cut) is taken over. Temporary files that a killed save left behind
// (`.latest.pt.<pid>.tmp`) are removed once the lock is held.
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { InputError } from './errors.js';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
  command: string;
}

/** Folders this process holds, with how many callers hold each (runExperiment, then runTraining). */
const held = new Map<string, number>();

/** Whether a process with this pid exists on this machine. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, owned by another user
  }
}

function readOwner(lock: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(lock, 'utf8')) as Partial<LockOwner>;
    // A pid of 0 or below names a process group, not a process: such a file is not a lock of ours.
    return Number.isSafeInteger(o.pid) && o.pid! > 0 && typeof o.host === 'string' ? (o as LockOwner) : null;
  } catch {
    return null; // gone meanwhile, or torn by a kill between create and write
  }
}

/**
 * Takes the run folder `dir` (creating it) for this process and returns the function that gives
 * it back. Throws an InputError when another live process holds it.
 */
export function acquireRunFolder(dir: string): () => void {
  const key = path.resolve(dir);
  const count = held.get(key);
  if (count) {
    held.set(key, count + 1);
    return () => release(key);
  }
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, '.lock');
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(1).join(' '),
  };
  // The lock appears with its content at once (a hard link of a written file): no other process
  // ever reads it empty and mistakes a live run for a crashed one.
  const draft = path.join(dir, `.lock.${process.pid}.tmp`);
  writeFileSync(draft, JSON.stringify(me));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
      }
      checkOwner(dir, lock, readOwner(lock), me.host);
      rmSync(lock, { force: true }); // stale: its process is gone, or the file is not a lock
    }
  } finally {
    rmSync(draft, { force: true });
  }
  held.set(key, 1);
  for (const f of readdirSync(dir)) if (/^\..+\.\d+\.tmp$/.test(f)) rmSync(path.join(dir, f), { force: true });
  return () => release(key);
}

/** Throws when the lock's owner may still be running; returns when the lock is stale. */
function checkOwner(dir: string, lock: string, owner: LockOwner | null, host: string): void {
  if (!owner) return;
  if (owner.host !== host) {
    throw new InputError(
      `run folder ${dir} is in use by process ${owner.pid} on ${owner.host} (since ${owner.started}: ${owner.command}); give this run another name or output, or delete ${lock} if that run is over`,
    );
  }
  if (alive(owner.pid)) {
    throw new InputError(
      `run folder ${dir} is in use by process ${owner.pid} (since ${owner.started}: ${owner.command}); wait for it to finish, or give this run another name or output`,
    );
  }
}

function release(key: string): void {
  const count = held.get(key) ?? 0;
  if (count > 1) {
    held.set(key, count - 1);
    return;
  }
  held.delete(key);
  const lock = path.join(key, '.lock');
  if (readOwner(lock)?.pid === process.pid) rmSync(lock, { force: true });
}
