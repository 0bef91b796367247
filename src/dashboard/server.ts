// `distill dashboard`: a local page of the runs under a folder, their live curves (each run's
// log.jsonl streamed to the page as server-sent events while it grows) and a comparison table.
// node's http server on localhost; the charting library (uPlot) served from node_modules.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { PAGE } from './page.js';
import { validateConfig } from '../engine/config.js';
import { loadSplit } from '../engine/experiment.js';
import type { ImageDataset } from '../data/datasets.js';

export interface RunSummary {
  /** Folder relative to the runs folder, with '/' separators: the run's id in the page. */
  id: string;
  name: string;
  method: string;
  student: string;
  teacher: string | null;
  status: 'finished' | 'running' | 'stopped';
  epochs: number;
  totalEpochs: number | null;
  bestTop1: number | null;
  lastTop1: number | null;
  imgPerSec: number | null;
  /** Seconds left at the last epoch's pace (running runs). */
  etaSeconds: number | null;
  /** Lines of log.jsonl that are not JSON (a run killed mid-write leaves a torn last line). */
  skippedLines: number;
  /** The run folder holds an exported student.onnx (the page can run it). */
  hasOnnx: boolean;
}

interface EpochLine {
  event: 'epoch';
  stage: string;
  epoch: number;
  top1: number | null;
  imgPerSec: number;
  seconds: number;
}

/** The JSON lines of a log, and how many were not JSON. */
export function parseLog(text: string): { lines: Record<string, unknown>[]; skipped: number } {
  const lines: Record<string, unknown>[] = [];
  let skipped = 0;
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    try {
      const v = JSON.parse(raw) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) lines.push(v as Record<string, unknown>);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { lines, skipped };
}

/** Every run folder (one with a log.jsonl) under `root`, three levels deep at most. */
export function findRuns(root: string): RunSummary[] {
  const runs: RunSummary[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 3) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isFile() && e.name === 'log.jsonl')) runs.push(summarise(root, dir));
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return runs.sort((a, b) => a.id.localeCompare(b.id));
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Parsed logs by file, read again only when the file's size or time changes (the page asks every 2 s). */
const logCache = new Map<string, { key: string; parsed: ReturnType<typeof parseLog> }>();
function parsedLog(file: string): ReturnType<typeof parseLog> {
  const st = statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = logCache.get(file);
  if (hit?.key === key) return hit.parsed;
  const parsed = parseLog(readFileSync(file, 'utf8'));
  logCache.set(file, { key, parsed });
  return parsed;
}

function summarise(root: string, dir: string): RunSummary {
  const { lines, skipped } = parsedLog(path.join(dir, 'log.jsonl'));
  const config = readJson(path.join(dir, 'config.json')) as {
    name?: string;
    method?: { name?: string };
    student?: { model?: string };
    teacher?: { model?: string };
    solver?: { epochs?: number };
  } | null;
  const epochs = lines.filter((l) => l.event === 'epoch' && l.stage === 'main') as unknown as EpochLine[];
  const tops = epochs.map((e) => e.top1).filter((v): v is number => typeof v === 'number');
  const last = epochs.at(-1);
  // A log or config may be torn or hand-edited: only numbers count as numbers.
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const totalEpochs = num(config?.solver?.epochs);
  const status = existsSync(path.join(dir, 'result.json'))
    ? 'finished'
    : existsSync(path.join(dir, '.lock'))
      ? 'running'
      : 'stopped';
  const seconds = num(last?.seconds);
  const eta =
    status === 'running' && seconds !== null && totalEpochs !== null ? Math.max(0, totalEpochs - epochs.length) * seconds : null;
  return {
    id: path.relative(root, dir).split(path.sep).join('/') || '.',
    hasOnnx: existsSync(path.join(dir, 'student.onnx')),
    name: config?.name ?? path.basename(dir),
    method: String(config?.method?.name ?? 'none'),
    student: String(config?.student?.model ?? '?'),
    teacher: config?.teacher?.model === undefined ? null : String(config.teacher.model),
    status,
    epochs: epochs.length,
    totalEpochs,
    bestTop1: tops.length ? Math.max(...tops) : null,
    lastTop1: tops.at(-1) ?? null,
    imgPerSec: num(last?.imgPerSec),
    etaSeconds: eta,
    skippedLines: skipped,
  };
}

/** The run folder an id names, refusing anything outside the runs folder. */
function runDir(root: string, id: string): string | null {
  const dir = path.resolve(root, id);
  const rel = path.relative(path.resolve(root), dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return existsSync(path.join(dir, 'log.jsonl')) ? dir : null;
}

/** Streams a run's log: every line so far, then each new line as it is appended (server-sent events). */
function streamLog(file: string, req: IncomingMessage, res: ServerResponse, pollMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let offset = 0;
  let pending = '';
  let skipped = 0;
  const send = () => {
    let size;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0; // the log was replaced (a new run in the folder)
    if (size === offset) return;
    const buf = Buffer.alloc(size - offset);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    offset = size;
    pending += buf.toString('utf8');
    const complete = pending.slice(0, pending.lastIndexOf('\n') + 1);
    pending = pending.slice(complete.length);
    const parsed = parseLog(complete);
    skipped += parsed.skipped;
    for (const line of parsed.lines) res.write(`data: ${JSON.stringify(line)}\n\n`);
    if (parsed.skipped) res.write(`event: skipped\ndata: ${skipped}\n\n`);
  };
  send();
  const timer = setInterval(send, pollMs);
  req.on('close', () => clearInterval(timer));
}

const require = createRequire(import.meta.url);

/** Test images of a run's data set for the page's inference view: normalised inputs, bytes to draw, labels. */
function samples(dir: string, n: number, cache: Map<string, ImageDataset>): object {
  const raw = readJson(path.join(dir, 'config.json'));
  if (!raw) throw new Error('the run has no config.json');
  if (Array.isArray(raw.plugins) && raw.plugins.length) throw new Error('the run names plugins; its data set is not loaded here');
  const c = validateConfig(raw, path.join(dir, 'config.json'), { checkTeacherCheckpoint: false });
  const key = JSON.stringify(c.dataset);
  let test = cache.get(key);
  if (!test) cache.set(key, (test = loadSplit(c.dataset, c.seed, 'test')));
  const per = test.channels * test.height * test.width;
  const count = Math.min(n, test.length);
  return {
    shape: [test.channels, test.height, test.width],
    mean: test.mean,
    std: test.std,
    classes: test.classes ?? null,
    samples: Array.from({ length: count }, (_, i) => ({
      index: i,
      label: test.labels[i],
      pixels: Array.from(test.images.subarray(i * per, (i + 1) * per)),
    })),
  };
}

/** Starts the dashboard on `port` (0: any free port) of localhost; resolves once it listens. */
export function startDashboard(root: string, options: { port?: number; pollMs?: number } = {}): Promise<Server> {
  if (!existsSync(root) || !statSync(root).isDirectory())
    return Promise.reject(new Error(`runs folder ${root} not found; train a run first or name another folder`));
  const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const statics: Record<string, [string, string]> = {
    '/uplot.js': [path.join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript'],
    '/uplot.css': [path.join(uplotDir, 'uPlot.min.css'), 'text/css'],
  };
  // The package's main entry lies in its dist folder, beside the browser script and WebAssembly.
  const ortDir = path.dirname(require.resolve('onnxruntime-web'));
  const datasets = new Map<string, ImageDataset>();
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else if (statics[url.pathname]) {
        const [file, type] = statics[url.pathname]!;
        res.writeHead(200, { 'content-type': type });
        res.end(readFileSync(file));
      } else if (url.pathname.startsWith('/ort/')) {
        // ONNX Runtime Web's script and WebAssembly, from its package.
        const file = url.pathname.slice(5);
        if (!/^[\w.-]+$/.test(file) || !existsSync(path.join(ortDir, file))) return send(res, 404, 'text/plain', 'not found');
        const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
        send(res, 200, type, readFileSync(path.join(ortDir, file)));
      } else if (url.pathname === '/api/model' || url.pathname === '/api/samples') {
        const dir = runDir(root, url.searchParams.get('run') ?? '');
        if (!dir) return send(res, 404, 'text/plain', 'no such run');
        if (url.pathname === '/api/samples') {
          const n = Math.min(64, Math.max(1, Number(url.searchParams.get('n') ?? 8) || 8));
          return send(res, 200, 'application/json', JSON.stringify(samples(dir, n, datasets)));
        }
        const model = path.join(dir, 'student.onnx');
        if (!existsSync(model))
          return send(res, 404, 'text/plain', `no student.onnx in this run: export it first (distill export ${dir})`);
        send(res, 200, 'application/octet-stream', readFileSync(model));
      } else if (url.pathname === '/api/runs') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(findRuns(root)));
      } else if (url.pathname === '/api/log') {
        const dir = runDir(root, url.searchParams.get('run') ?? '');
        if (!dir) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('no such run');
          return;
        }
        streamLog(path.join(dir, 'log.jsonl'), req, res, options.pollMs ?? 500);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end((err as Error).message);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`port ${options.port} is in use: pick another with --port, or stop what listens there`)
          : err,
      ),
    );
    server.listen(options.port ?? 6006, '127.0.0.1', () => resolve(server));
  });
}
