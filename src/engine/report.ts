// Human-readable reports: report.md and PNG plots for each run and for comparisons. A leaf: it
// formats result types owned by results.ts.
import { writeText } from './results.js';
import path from 'node:path';
import type { ExperimentConfig } from './config.js';
import type { ComparisonRow, ExperimentResult } from './results.js';
import { barChart, lineChart, renderPng } from './plots.js';

const fmtLosses = (l: Record<string, number>) =>
  Object.entries(l)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(', ');

/** "head1 61.20, head2 70.05": other classifiers' test top-1. */
const fmtOthers = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');

/** "1 epoch", "5 epochs". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const fmtValue = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** The solver in one line: optimizer (DOT with its two momenta), epochs, batch, lr, the rest. */
export function solverSummary(s: ExperimentConfig['solver']): string {
  const optimizer = s.optimizer ?? 'sgd';
  const momentum = optimizer === 'sgd' ? `momentum ${s.momentum}, ` : '';
  const named =
    optimizer === 'dot'
      ? `dot (task momentum ${+(s.momentum - s.dot.delta).toFixed(6)}, distillation momentum ${+(s.momentum + s.dot.delta).toFixed(6)})`
      : optimizer;
  return `${named}, ${plural(s.epochs, 'epoch')}, batch ${s.batchSize}, lr ${s.lr} (${s.schedule.type}), ${momentum}weight decay ${s.weightDecay}${s.labelSmoothing ? `, label smoothing ${s.labelSmoothing}` : ''}${s.clipGradNorm ? `, gradient norm clipped at ${s.clipGradNorm}` : ''}`;
}

export async function writeRunReport(c: ExperimentConfig, r: ExperimentResult): Promise<void> {
  const main = r.history.filter((h) => h.stage === 'main');
  const augmented = !!c.dataset.augment && (!!c.dataset.augment.cropPadding || !!c.dataset.augment.hflip);
  const accuracy = main.flatMap((h) => [
    { x: h.epoch, y: h.top1 ?? NaN, series: 'test top-1' },
    { x: h.epoch, y: h.trainTop1, series: augmented ? 'train top-1 (augmented)' : 'train top-1' },
  ]);
  const losses = r.history.flatMap((h, i) =>
    Object.entries(h.losses).map(([k, v]) => ({ x: i + 1, y: v, series: `${h.stage}: ${k}` })),
  );
  await renderPng(lineChart(`${c.name}: accuracy`, accuracy, 'epoch', 'top-1 (%)'), path.join(r.outDir, 'accuracy.png'));
  await renderPng(
    lineChart(`${c.name}: losses (epoch means)`, losses, 'epoch (all stages)', 'loss'),
    path.join(r.outDir, 'loss.png'),
  );
  const options = Object.entries(c.method.options);
  const s = c.solver;
  const lastOthers = main.at(-1)?.otherTop1;
  const lines = [
    `# ${c.name}`,
    '',
    ...r.warnings.map((w) => `> **Warning:** ${w}`),
    ...(r.warnings.length ? [''] : []),
    '| | |',
    '|---|---|',
    `| dataset | ${c.dataset.name}${c.dataset.trainSubset ? ` (${c.dataset.trainSubset} training images)` : ''}${c.dataset.labelNoise ? `, label noise ${c.dataset.labelNoise}` : ''}${augmented ? ', augmented' : ', no augmentation'} |`,
    `| teacher | ${r.teacher ? `${r.teacher} (test top-1 ${r.teacherTop1?.toFixed(2)})` : '—'} |`,
    `| student | ${r.student} (${r.studentParameters.toLocaleString('en')} parameters) |`,
    `| method | ${r.method}${options.length ? ` (${options.map(([k, v]) => `${k}=${fmtValue(v)}`).join(', ')})` : ' (defaults)'}; extra parameters ${r.extraParameters} |`,
    `| solver | ${solverSummary(s)} |`,
    `| seed | ${r.seed} |`,
    `| best top-1 | **${r.bestTop1.toFixed(2)}** (epoch ${r.bestEpoch}) |`,
    `| last top-1 / top-5 | ${r.lastTop1.toFixed(2)} / ${r.lastTop5.toFixed(2)} |`,
    ...(lastOthers
      ? [`| other classifiers, last top-1 | ${fmtOthers(lastOthers)} (trained with the student, not in student.pt) |`]
      : []),
    `| time | ${r.seconds.toFixed(0)} s, ${r.imgPerSec.toFixed(0)} img/s in training |`,
    `| processes | ${r.worldSize ?? 1}${(r.worldSize ?? 1) > 1 ? ' (data parallel)' : ''}, global batch ${r.globalBatch ?? '?'} |`,
    '',
    '![accuracy](accuracy.png)',
    '',
    '![losses](loss.png)',
    '',
    '| stage | epoch | lr | losses | test top-1 | img/s |',
    '|---|---|---|---|---|---|',
    ...r.history.map(
      (h) =>
        `| ${h.stage} | ${h.epoch} | ${h.lr.toPrecision(3)} | ${fmtLosses(h.losses)}${h.metrics ? `; ${fmtLosses(h.metrics)}` : ''} | ${h.top1 === null ? '' : h.top1.toFixed(2)}${h.otherTop1 ? ` (${fmtOthers(h.otherTop1)})` : ''} | ${h.imgPerSec.toFixed(0)} |`,
    ),
    '',
  ];
  writeText(path.join(r.outDir, 'report.md'), lines.join('\n'));
}

/** The comparison table: mean ± sample standard deviation over seeds. */
export function comparisonMarkdown(teacher: ComparisonRow | null, rows: ComparisonRow[]): string {
  const fmt = (m: { mean: number; std: number }, n: number) =>
    n > 1 ? `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)}` : m.mean.toFixed(2);
  const lines = [
    '| run | model | seeds | best top-1 | last top-1 | Δ best vs baseline | extra params | train time (s) | img/s |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of teacher ? [teacher, ...rows] : rows) {
    const delta = r.delta === null ? '' : `${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(2)}`;
    lines.push(
      `| ${r.label} | ${r.model} | ${r.seeds} | ${fmt(r.best, r.seeds)} | ${fmt(r.last, r.seeds)} | ${delta} | ${r.extraParameters} | ${r.seconds.toFixed(0)} | ${r.imgPerSec.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

export async function writeComparisonReport(
  outDir: string,
  teacher: ComparisonRow | null,
  rows: ComparisonRow[],
  markdown: string,
  warnings: string[],
): Promise<void> {
  const seeds = Math.max(...rows.map((r) => r.seeds));
  const bars = (teacher ? [teacher, ...rows] : rows).map((r) => ({ label: r.label, value: r.best.mean, std: r.best.std }));
  const title = seeds > 1 ? `best test top-1 (mean ± sample std over ${seeds} seeds)` : 'best test top-1 (one seed)';
  await renderPng(barChart(title, bars, 'top-1 (%)'), path.join(outDir, 'comparison.png'));
  const note =
    seeds > 1
      ? `Each row: ${seeds} seeds; a ± b is the mean and the sample standard deviation (n − 1) over seeds. Δ compares mean best top-1 with the baseline's.`
      : 'One seed per row (no spread: run with --seeds 0,1,2 for mean ± sample standard deviation). Δ compares best top-1 with the baseline.';
  const warn = warnings.map((w) => `> **Warning:** ${w}\n`).join('\n');
  writeText(
    path.join(outDir, 'report.md'),
    `# Comparison\n\n${warn ? `${warn}\n` : ''}${markdown}\n\n${note}\n\n![best top-1 by method](comparison.png)\n`,
  );
}
