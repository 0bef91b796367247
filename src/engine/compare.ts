// Comparisons: a teacher, the baseline student and each method over seeds, in one table.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExperimentConfig } from './config.js';
import { loadDatasets, runExperiment, type ExperimentResult } from './experiment.js';
import type { TrainEvent } from './trainer.js';
import { writeComparisonReport } from './report.js';

export interface ComparisonRow {
  label: string;
  method: string;
  model: string;
  seeds: number;
  best: { mean: number; std: number };
  last: { mean: number; std: number };
  /** Mean best top-1 minus the baseline's (null for the teacher and the baseline itself). */
  delta: number | null;
  extraParameters: number;
  parameters: number;
  seconds: number;
  imgPerSec: number;
}

export interface Comparison {
  teacher: ComparisonRow | null;
  rows: ComparisonRow[];
  markdown: string;
}

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

export function comparisonMarkdown(teacher: ComparisonRow | null, rows: ComparisonRow[]): string {
  const fmt = (m: { mean: number; std: number }, n: number) =>
    n > 1 ? `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)}` : m.mean.toFixed(2);
  const lines = [
    '| run | model | best top-1 | last top-1 | Δ best vs baseline | extra params | train time (s) | img/s |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of teacher ? [teacher, ...rows] : rows) {
    const delta = r.delta === null ? '' : `${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(2)}`;
    lines.push(
      `| ${r.label} | ${r.model} | ${fmt(r.best, r.seeds)} | ${fmt(r.last, r.seeds)} | ${delta} | ${r.extraParameters} | ${r.seconds.toFixed(0)} | ${r.imgPerSec.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

export interface ComparisonSpec {
  /** Trains the teacher first (method none); its best checkpoint then feeds every method. */
  teacher?: ExperimentConfig;
  /** One config per method (the baseline is the one whose method is 'none'). */
  runs: ExperimentConfig[];
  seeds: number[];
  outDir: string;
  resume?: boolean;
  onEvent?: (label: string, e: TrainEvent) => void;
}

export async function runComparison(spec: ComparisonSpec): Promise<Comparison> {
  mkdirSync(spec.outDir, { recursive: true });
  const base = spec.runs[0]!;
  const datasets = loadDatasets(base.dataset, base.seed);
  let teacherRow: ComparisonRow | null = null;
  let teacherCheckpoint: string | undefined;
  if (spec.teacher) {
    const t = await runExperiment(spec.teacher, {
      datasets,
      resume: spec.resume,
      outDir: path.join(spec.outDir, 'teacher'),
      onEvent: (e) => spec.onEvent?.('teacher', e),
    });
    teacherRow = { ...summarise(`teacher (${spec.teacher.student.model})`, [t]), method: 'teacher' };
    teacherCheckpoint = path.join(t.outDir, 'student.pt');
  }
  const rows: ComparisonRow[] = [];
  for (const run of spec.runs) {
    const results: ExperimentResult[] = [];
    for (const seed of spec.seeds) {
      const c: ExperimentConfig = {
        ...run,
        seed,
        teacher: run.teacher && teacherCheckpoint ? { ...run.teacher, checkpoint: teacherCheckpoint } : run.teacher,
      };
      const label = `${run.name}${spec.seeds.length > 1 ? ` seed ${seed}` : ''}`;
      const dir = path.join(spec.outDir, spec.seeds.length > 1 ? `${run.name}-seed${seed}` : run.name);
      results.push(
        await runExperiment(c, { datasets, resume: spec.resume, outDir: dir, onEvent: (e) => spec.onEvent?.(label, e) }),
      );
    }
    rows.push(summarise(run.method.name.toLowerCase() === 'none' ? 'baseline' : run.method.name.toUpperCase(), results));
  }
  const baseline = rows.find((r) => r.method === 'none');
  if (baseline) for (const r of rows) if (r !== baseline) r.delta = r.best.mean - baseline.best.mean;
  const markdown = comparisonMarkdown(teacherRow, rows);
  writeFileSync(path.join(spec.outDir, 'comparison.json'), JSON.stringify({ teacher: teacherRow, rows }, null, 2));
  await writeComparisonReport(spec.outDir, teacherRow, rows, markdown);
  return { teacher: teacherRow, rows, markdown };
}
