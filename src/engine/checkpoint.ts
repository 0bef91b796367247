// The run checkpoint: what it holds, writing it atomically, restoring it, and loading a network's
// weights from any of the checkpoint shapes people publish (a raw state dict, mdistiller's
// {model}, ours).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Tensor, load, saveToBuffer, tidy, writeFileAtomic, type Saveable } from '../tensor/index.js';
import type { Module, StateDict, StateDictMismatch } from '../nn/module.js';
import { InputError } from './errors.js';
import type { EpochRecord } from './results.js';

export const CHECKPOINT_VERSION = 2;

/** latest.pt / best.pt: everything a run needs to continue exactly where it stopped. */
export interface Checkpoint {
  version: number;
  stageIndex: number;
  /** Epochs completed in that stage. */
  epoch: number;
  /** The distiller's state dict: student, teacher, extra modules, and extra state (DLB's carried batch). */
  model: StateDict;
  optimizer: unknown;
  /** The epoch records so far, as JSON. */
  history: string;
  best: { top1: number; epoch: number };
  /** libtorch's CPU generator (dropout and other random ops), so a resumed run draws the same numbers. */
  rng: Tensor;
  /** Optimisation steps done in the stage. */
  step: number;
  seconds: number;
  /**
   * Data-parallel runs whose method keeps state of each rank's own (DLB's carried batch): the
   * extra state of ranks 1, 2, ... (rank 0's is in `model`), each a state dict serialised as uint8.
   */
  ranks?: Tensor[];
}

/**
 * Serialises a checkpoint once and writes it to each file in order, each atomically (temporary
 * file, fsync, rename): a kill leaves every file either old or new, never torn.
 */
export function saveCheckpoint(ck: Checkpoint, ...files: string[]): void {
  const bytes = saveToBuffer(ck as unknown as Saveable);
  for (const f of files) writeFileAtomic(f, bytes);
}

/** A checkpoint as read back: its history parsed. */
export type RestoredCheckpoint = Omit<Checkpoint, 'history'> & { history: EpochRecord[] };

/** Reads a run checkpoint and checks its shape before anything uses it; a bad one is bad input. */
export function readCheckpoint(file: string): RestoredCheckpoint {
  const fail = (what: string): never => {
    throw new InputError(`${file} is not a usable distill-ts run checkpoint (${what}); delete it to start the run afresh`);
  };
  let ck: Partial<Checkpoint> | null = null;
  try {
    ck = load(file) as Partial<Checkpoint> | null;
  } catch (err) {
    fail((err as Error).message);
  }
  if (!ck || typeof ck !== 'object') return fail('not a dict');
  if (ck.version !== CHECKPOINT_VERSION) fail(`version ${String(ck.version)}, expected ${CHECKPOINT_VERSION}`);
  if (!ck.model || typeof ck.model !== 'object') fail('no model state');
  for (const k of ['stageIndex', 'epoch', 'step'] as const) if (!Number.isInteger(ck[k]) || ck[k]! < 0) fail(`bad '${k}'`);
  if (!Number.isFinite(ck.seconds) || ck.seconds! < 0) fail(`bad 'seconds'`);
  if (!(ck.rng instanceof Tensor) || ck.rng.dtype !== 'uint8' || ck.rng.ndim !== 1) fail('bad random generator state');
  if (!ck.best || typeof ck.best.top1 !== 'number' || !Number.isInteger(ck.best.epoch)) fail('bad best record');
  if (
    ck.ranks !== undefined &&
    (!Array.isArray(ck.ranks) || !ck.ranks.every((t) => t instanceof Tensor && t.dtype === 'uint8' && t.ndim === 1))
  )
    fail("bad per-rank state ('ranks')");
  let history: unknown = null;
  try {
    history = JSON.parse(typeof ck.history === 'string' ? ck.history : '');
  } catch {
    fail('bad history');
  }
  if (!Array.isArray(history)) fail('bad history');
  return { ...(ck as Checkpoint), history: history as EpochRecord[] };
}

/** The state dict inside a checkpoint: a raw state dict, mdistiller's {model}, or ours (student.*). */
export function extractStateDict(ckpt: unknown, file: string, o: { keepPrefixes?: boolean } = {}): StateDict {
  const isStateDict = (o: unknown): o is StateDict =>
    !!o && typeof o === 'object' && Object.values(o).length > 0 && Object.values(o).every((v) => v instanceof Tensor);
  const obj = ckpt as Record<string, unknown>;
  let sd: StateDict | null = null;
  if (isStateDict(obj)) sd = obj;
  else for (const key of ['model', 'state_dict', 'net', 'student']) if (isStateDict(obj?.[key])) sd = obj[key] as StateDict;
  if (!sd) throw new InputError(`${file} holds no state dict (expected a state dict, or one under 'model' / 'state_dict')`);
  if (!o.keepPrefixes && Object.keys(sd).some((k) => k.startsWith('student.'))) {
    sd = Object.fromEntries(
      Object.entries(sd)
        .filter(([k]) => k.startsWith('student.'))
        .map(([k, v]) => [k.slice('student.'.length), v]),
    );
  }
  return sd;
}

/** The architecture a run folder's config.json says a checkpoint in it belongs to, if any. */
export function checkpointArchitecture(file: string): string | null {
  const config = path.join(path.dirname(file), 'config.json');
  if (!existsSync(config)) return null;
  try {
    const c = JSON.parse(readFileSync(config, 'utf8')) as { student?: { model?: unknown } };
    return typeof c.student?.model === 'string' ? c.student.model : null;
  } catch {
    return null;
  }
}

/**
 * Loads a network's weights from a checkpoint file. A mismatch is an InputError that says which
 * architecture the weights are (when the run folder tells) and summarises the keys; `details`
 * lists every one.
 */
export function loadWeights(
  model: Module,
  file: string,
  o: { role: string; modelName: string; replaceClassifier?: boolean },
): { replaced: string[] } {
  if (!existsSync(file)) throw new InputError(`${o.role} checkpoint ${file} not found`);
  // tidy: every tensor the file held is released once copied into the model, on failure too.
  return tidy(() => loadInto(model, file, o));
}

function loadInto(
  model: Module,
  file: string,
  o: { role: string; modelName: string; replaceClassifier?: boolean },
): { replaced: string[] } {
  let ckpt: unknown;
  try {
    ckpt = load(file);
  } catch (err) {
    throw new InputError(`${o.role} checkpoint ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const sd = extractStateDict(ckpt, file);
  try {
    // torchvision networks may replace a classifier of another number of classes (fine-tuning).
    const r = (model.loadStateDict as (s: StateDict, opts: object) => { replaced?: string[] })(sd, {
      replaceClassifier: o.replaceClassifier ?? false,
    });
    return { replaced: r.replaced ?? [] };
  } catch (err) {
    const e = err as StateDictMismatch;
    const arch = checkpointArchitecture(file);
    const what =
      arch && arch !== o.modelName
        ? `these weights are a ${arch}, the config asks for ${o.modelName}`
        : `these weights do not fit ${o.modelName}`;
    const details = [
      ...(e.missing ?? []).map((k) => `missing: ${k}`),
      ...(e.unexpected ?? []).map((k) => `unexpected: ${k}`),
      ...(e.misshaped ?? []).map((k) => `mis-shaped: ${k}`),
    ];
    const counts = [
      e.missing?.length ? `${e.missing.length} keys missing, e.g. ${e.missing.slice(0, 3).join(', ')}` : '',
      e.unexpected?.length ? `${e.unexpected.length} unexpected, e.g. ${e.unexpected.slice(0, 3).join(', ')}` : '',
      e.misshaped?.length ? `${e.misshaped.length} mis-shaped, e.g. ${e.misshaped[0]}` : '',
    ].filter(Boolean);
    throw new InputError(
      `${o.role} checkpoint ${file}: ${what}: ${counts.join('; ') || e.message}. Point ${o.role === 'teacher' ? 'teacher.checkpoint' : 'the checkpoint'} at weights of ${o.modelName}, or set the model that was trained`,
      { cause: err, details },
    );
  }
}
