// Comparisons: a teacher, the baseline student and each method over seeds, in one table; sweeps
// over option values (--grid) expand one config into several runs.
import { writeText } from './results.js';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { methodEntry } from '../distillers/index.js';
import type { ExperimentConfig } from './config.js';
import { InputError } from './errors.js';
import { loadDatasets, runExperiment, type Datasets } from './experiment.js';
import { comparisonMarkdown, writeComparisonReport } from './report.js';
import type { Comparison, ComparisonRow, ExperimentResult, TrainEvent } from './results.js';

export type { Comparison, ComparisonRow } from './results.js';
export { comparisonMarkdown } from './report.js';

const meanStd = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
};

function summarise(label: string, results: ExperimentResult[]): ComparisonRow {
  const r0 = results[0]!;
  return {
    label,
    method: r0.method,
    model: r0.student,
    seeds: results.length,
    best: meanStd(results.map((r) => r.bestTop1)),
    last: meanStd(results.map((r) => r.lastTop1)),
    delta: null,
    extraParameters: r0.extraParameters,
    parameters: r0.studentParameters,
    seconds: results.reduce((a, r) => a + r.seconds, 0) / results.length,
    imgPerSec: results.reduce((a, r) => a + r.imgPerSec, 0) / results.length,
  };
}

/** The most runs one config's --grid may expand to (a typo like 1,2,...,1e6 fails at once). */
export const MAX_GRID_POINTS = 1000;

/** One sweep point: the overrides that make it and the suffix that names it. */
export interface GridPoint {
  overrides: string[];
  label: string;
}

/**
 * `--grid key=v1,v2` (repeatable) as the cartesian product of its values. Values are YAML
 * scalars; `[]` or `{}` values are not split.
 */
export function gridPoints(grids: string[], limit = MAX_GRID_POINTS): GridPoint[] {
  const count = grids.reduce((n, g) => n * g.slice(g.indexOf('=') + 1).split(',').length, 1);
  if (count > limit) throw new InputError(`--grid makes ${count} runs per config; at most ${limit}: sweep fewer values`);
  let points: GridPoint[] = [{ overrides: [], label: '' }];
  for (const g of grids) {
    const eq = g.indexOf('=');
    if (eq < 1 || eq === g.length - 1) throw new InputError(`--grid ${g}: expected key.path=v1,v2,...`);
    const key = g.slice(0, eq);
    const values = g
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim());
    if (values.some((v) => v === '')) throw new InputError(`--grid ${g}: an empty value`);
    const short = key.split('.').at(-1)!;
    points = points.flatMap((p) =>
      values.map((v) => ({
        overrides: [...p.overrides, `${key}=${v}`],
        label: `${p.label}${p.label ? ',' : ''}${short}=${String(parseYaml(v))}`,
      })),
    );
  }
  return points;
}

/** Whether a grid override applies to a config: method options only to methods that have them. */
export function overrideApplies(raw: Record<string, unknown>, override: string): boolean {
  const key = override.slice(0, override.indexOf('='));
  if (!key.startsWith('method.options.')) return true;
  const method = (raw.method as { name?: unknown } | undefined)?.name ?? 'none';
  try {
    return key.split('.')[2]! in methodEntry(String(method)).options.shape;
  } catch {
    return true; // the config's own validation reports the unknown method
  }
}

export interface ComparisonSpec {
  /** Trains the teacher first (method none); its best checkpoint then feeds every method. */
  teacher?: ExperimentConfig;
  /** One config per run (the baseline is the one whose method is 'none'); names must be distinct. */
  runs: ExperimentConfig[];
  /** Row labels (default: the method in capitals, 'baseline' for none). */
  labels?: string[];
  seeds: number[];
  outDir: string;
  resume?: boolean;
  onEvent?: (label: string, e: TrainEvent) => void;
}

/** Rejects two different runs of one name: they would share a run folder and a row. */
export function checkDistinctNames(runs: ExperimentConfig[]): void {
  const seen = new Map<string, string>();
  for (const r of runs) {
    const json = JSON.stringify(r);
    const before = seen.get(r.name);
    if (before !== undefined)
      throw new InputError(
        before === json
          ? `the config '${r.name}' is given twice; give it once`
          : `two configs are named '${r.name}'; give each run its own name (they would share a run folder)`,
      );
    seen.set(r.name, json);
  }
}

/**
 * The data of a run, loaded once per distinct dataset section (and seed, when label noise makes
 * it depend on one): runs that share data share the arrays, and each run gets the data a run of
 * its own config alone would load.
 */
export function datasetCache(): (c: ExperimentConfig) => Datasets {
  const cache = new Map<string, Datasets>();
  return (c) => {
    const key = JSON.stringify([c.dataset, c.dataset.labelNoise > 0 ? c.seed : null]);
    let d = cache.get(key);
    if (!d) cache.set(key, (d = loadDatasets(c.dataset, c.seed)));
    return d;
  };
}

export async function runComparison(spec: ComparisonSpec): Promise<Comparison> {
  checkDistinctNames(spec.runs);
  mkdirSync(spec.outDir, { recursive: true });
  const datasets = datasetCache();
  const teacherTop1s = new Map<string, number>();
  const warnings: string[] = [];
  let teacherRow: ComparisonRow | null = null;
  let teacherCheckpoint: string | undefined;
  if (spec.teacher) {
    const t = await runExperiment(spec.teacher, {
      datasets: datasets(spec.teacher),
      resume: spec.resume,
      outDir: path.join(spec.outDir, 'teacher'),
      onEvent: (e) => spec.onEvent?.('teacher', e),
    });
    teacherRow = { ...summarise(`teacher (${spec.teacher.student.model})`, [t]), method: 'teacher' };
    teacherCheckpoint = path.join(t.outDir, 'student.pt');
    warnings.push(...t.warnings.map((w) => `teacher: ${w}`));
  }
  const rows: ComparisonRow[] = [];
  for (const [i, run] of spec.runs.entries()) {
    const results: ExperimentResult[] = [];
    for (const seed of spec.seeds) {
      const c: ExperimentConfig = {
        ...run,
        seed,
        teacher: run.teacher && teacherCheckpoint ? { ...run.teacher, checkpoint: teacherCheckpoint } : run.teacher,
      };
      const label = `${run.name}${spec.seeds.length > 1 ? ` seed ${seed}` : ''}`;
      const dir = path.join(spec.outDir, spec.seeds.length > 1 ? `${run.name}-seed${seed}` : run.name);
      const r = await runExperiment(c, {
        datasets: datasets(c),
        teacherTop1s,
        resume: spec.resume,
        outDir: dir,
        onEvent: (e) => spec.onEvent?.(label, e),
      });
      warnings.push(...r.warnings.map((w) => `${label}: ${w}`));
      results.push(r);
    }
    const method = run.method.name.toLowerCase();
    rows.push(summarise(spec.labels?.[i] ?? (method === 'none' ? 'baseline' : method.toUpperCase()), results));
  }
  const baseline = rows.find((r) => r.method === 'none');
  if (baseline) for (const r of rows) if (r !== baseline) r.delta = r.best.mean - baseline.best.mean;
  if (baseline && teacherRow && teacherRow.best.mean <= baseline.best.mean)
    warnings.push(
      `the teacher (${teacherRow.best.mean.toFixed(2)}) is no better than the baseline student (${baseline.best.mean.toFixed(2)}): distilling from it cannot be expected to help; train the teacher longer`,
    );
  const markdown = comparisonMarkdown(teacherRow, rows);
  writeText(path.join(spec.outDir, 'comparison.json'), JSON.stringify({ teacher: teacherRow, rows, warnings }, null, 2));
  await writeComparisonReport(spec.outDir, teacherRow, rows, markdown, warnings);
  return { teacher: teacherRow, rows, markdown, warnings };
}
