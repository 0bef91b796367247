// Human-readable reports: report.md and PNG plots for each run and for comparisons.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExperimentConfig } from './config.js';
import type { ExperimentResult } from './experiment.js';
import type { ComparisonRow } from './compare.js';
import { barChart, lineChart, renderPng } from './plots.js';

const fmtLosses = (l: Record<string, number>) =>
  Object.entries(l)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(', ');

export async function writeRunReport(c: ExperimentConfig, r: ExperimentResult): Promise<void> {
  const main = r.history.filter((h) => h.stage === 'main');
  const accuracy = main.flatMap((h) => [
    { x: h.epoch, y: h.top1 ?? NaN, series: 'test top-1' },
    { x: h.epoch, y: h.trainTop1, series: 'train top-1 (augmented)' },
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
  const lines = [
    `# ${c.name}`,
    '',
    '| | |',
    '|---|---|',
    `| dataset | ${c.dataset.name}${c.dataset.trainSubset ? ` (${c.dataset.trainSubset} training images)` : ''}${c.dataset.labelNoise ? `, label noise ${c.dataset.labelNoise}` : ''} |`,
    `| teacher | ${r.teacher ? `${r.teacher} (test top-1 ${r.teacherTop1?.toFixed(2)})` : '—'} |`,
    `| student | ${r.student} (${r.studentParameters.toLocaleString('en')} parameters) |`,
    `| method | ${r.method}${options.length ? ` (${options.map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}; extra parameters ${r.extraParameters} |`,
    `| solver | ${c.solver.epochs} epochs, batch ${c.solver.batchSize}, lr ${c.solver.lr} (${c.solver.schedule.type}), momentum ${c.solver.momentum}, weight decay ${c.solver.weightDecay} |`,
    `| best top-1 | **${r.bestTop1.toFixed(2)}** (epoch ${r.bestEpoch}) |`,
    `| last top-1 / top-5 | ${r.lastTop1.toFixed(2)} / ${r.lastTop5.toFixed(2)} |`,
    `| time | ${r.seconds.toFixed(0)} s, ${r.imgPerSec.toFixed(0)} img/s in training |`,
    '',
    '![accuracy](accuracy.png)',
    '',
    '![losses](loss.png)',
    '',
    '| stage | epoch | lr | losses | test top-1 | img/s |',
    '|---|---|---|---|---|---|',
    ...r.history.map(
      (h) =>
        `| ${h.stage} | ${h.epoch} | ${h.lr.toPrecision(3)} | ${fmtLosses(h.losses)}${h.metrics ? `; ${fmtLosses(h.metrics)}` : ''} | ${h.top1 === null ? '' : h.top1.toFixed(2)} | ${h.imgPerSec.toFixed(0)} |`,
    ),
    '',
  ];
  writeFileSync(path.join(r.outDir, 'report.md'), lines.join('\n'));
}

export async function writeComparisonReport(
  outDir: string,
  teacher: ComparisonRow | null,
  rows: ComparisonRow[],
  markdown: string,
): Promise<void> {
  const bars = (teacher ? [teacher, ...rows] : rows).map((r) => ({ label: r.label, value: r.best.mean, std: r.best.std }));
  await renderPng(barChart('best test top-1 (mean ± std over seeds)', bars, 'top-1 (%)'), path.join(outDir, 'comparison.png'));
  writeFileSync(path.join(outDir, 'report.md'), `# Comparison\n\n${markdown}\n\n![best top-1 by method](comparison.png)\n`);
}
