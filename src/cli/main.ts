#!/usr/bin/env node
// `distill`: train, run, evaluate and compare distillation experiments from YAML configs.
// Exit codes: 0 success, 1 a run failed, 2 bad usage or an invalid config.
import { Command, CommanderError } from 'commander';
import path from 'node:path';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setNumThreads, noGrad } from '../tensor/index.js';
import { createModel } from '../models/index.js';
import { applyOverrides, loadConfig, validateConfig, type ExperimentConfig } from '../engine/config.js';
import { runExperiment, loadDatasets, loadModelCheckpoint } from '../engine/experiment.js';
import { runComparison } from '../engine/compare.js';
import { evaluate } from '../engine/evaluate.js';
import { QUICKSTART_METHODS, quickstartConfigs } from '../engine/quickstart.js';
import { progressPrinter } from './progress.js';

class UsageError extends Error {}

const collect = (v: string, prev: string[]) => [...prev, v];

async function trainOrRun(file: string, opts: { set: string[]; resume?: boolean }, forceBaseline: boolean): Promise<void> {
  let c: ExperimentConfig;
  try {
    c = loadConfig(file, opts.set);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (forceBaseline && c.method.name !== 'none')
    throw new UsageError(`distill train trains a network alone, but ${file} sets method '${c.method.name}': use distill run`);
  const progress = progressPrinter();
  const r = await runExperiment(c, { resume: opts.resume, onEvent: (e) => progress(c.name, e) });
  progress.done();
  console.log(
    `\n${c.name}: best top-1 ${r.bestTop1.toFixed(2)} (epoch ${r.bestEpoch}), last top-1 ${r.lastTop1.toFixed(2)}, top-5 ${r.lastTop5.toFixed(2)}, ${r.seconds.toFixed(0)} s, ${r.imgPerSec.toFixed(0)} img/s`,
  );
  console.log(`run folder: ${r.outDir}`);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('distill')
    .description('Knowledge distillation for TypeScript: train teachers, distill students, compare methods.')
    .option('--threads <n>', 'intra-op threads (default: libtorch default)', (v) => Number(v))
    .hook('preAction', (cmd) => {
      const t = cmd.opts().threads as number | undefined;
      if (t !== undefined) {
        if (!Number.isInteger(t) || t < 1) throw new UsageError(`--threads must be a positive integer`);
        setNumThreads(t);
      }
    })
    .exitOverride();

  program
    .command('train')
    .description('train a network alone (a teacher, or the baseline student)')
    .argument('<config>', 'YAML experiment file')
    .option('--set <key=value>', 'override a config key (repeatable), e.g. --set solver.lr=0.01', collect, [])
    .option('--resume', "continue from the run folder's latest checkpoint")
    .action((file: string, o: { set: string[]; resume?: boolean }) => trainOrRun(file, o, true));

  program
    .command('run')
    .description('run an experiment: every stage of its method, then evaluation')
    .argument('<config>', 'YAML experiment file')
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .option('--resume', "continue from the run folder's latest checkpoint")
    .action((file: string, o: { set: string[]; resume?: boolean }) => trainOrRun(file, o, false));

  program
    .command('eval')
    .description("top-1/top-5 on the test set: of a config's best checkpoint, or of a checkpoint in a run folder")
    .argument(
      '<config|checkpoint>',
      'a YAML experiment file, or a .pt file inside a run folder (its config.json says the model and data)',
    )
    .option('--checkpoint <file>', 'with a config: the checkpoint to evaluate (default: <output>/<name>/best.pt)')
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .action((target: string, o: { checkpoint?: string; set: string[] }) => {
      let c: ExperimentConfig;
      let ckpt: string;
      try {
        if (target.endsWith('.pt')) {
          const runConfig = path.join(path.dirname(target), 'config.json');
          if (!existsSync(runConfig))
            throw new Error(
              `${target}: no config.json beside it to say the model and data; pass the experiment's YAML config instead`,
            );
          c = validateConfig(
            applyOverrides(JSON.parse(readFileSync(runConfig, 'utf8')) as Record<string, unknown>, o.set),
            runConfig,
          );
          ckpt = target;
        } else {
          c = loadConfig(target, o.set);
          ckpt = o.checkpoint ?? path.join(c.output, c.name, 'best.pt');
        }
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (!existsSync(ckpt)) throw new UsageError(`checkpoint ${ckpt} not found; train first (distill run) or pass --checkpoint`);
      const { test } = loadDatasets(c.dataset, c.seed);
      const model = createModel(c.student.model, { numClasses: test.numClasses, inChannels: test.channels });
      loadModelCheckpoint(model, ckpt, 'student');
      model.eval();
      const acc = noGrad(() => evaluate((x) => model.forward(x).logits, test));
      console.log(
        `${ckpt}: top-1 ${acc.top1.toFixed(2)}, top-5 ${acc.top5.toFixed(2)}, loss ${acc.loss.toFixed(4)} on ${test.length} test images`,
      );
    });

  program
    .command('compare')
    .description('several configs (methods) over seeds, then one report; a teacher config may train first')
    .argument('<configs...>', 'YAML experiment files; the one with method none is the baseline')
    .option('--seeds <list>', 'comma-separated seeds', '0')
    .option('--teacher <config>', "train this config first and use its student as every run's teacher")
    .option('--out <dir>', 'report folder', 'runs/compare')
    .option('--resume', 'resume runs from their checkpoints')
    .action(async (files: string[], o: { seeds: string; teacher?: string; out: string; resume?: boolean }) => {
      const seeds = o.seeds.split(',').map((s) => Number(s.trim()));
      if (seeds.some((s) => !Number.isInteger(s) || s < 0))
        throw new UsageError(`--seeds: expected integers like 0,1,2, got '${o.seeds}'`);
      let runs: ExperimentConfig[];
      let teacher: ExperimentConfig | undefined;
      try {
        runs = files.map((f) => loadConfig(f));
        teacher = o.teacher ? loadConfig(o.teacher) : undefined;
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const progress = progressPrinter();
      const cmp = await runComparison({ teacher, runs, seeds, outDir: o.out, resume: o.resume, onEvent: progress });
      progress.done();
      console.log(`\n${cmp.markdown}\n\nreport: ${path.join(o.out, 'report.md')}`);
    });

  program
    .command('quickstart')
    .description("the README's main job: teacher, baseline and the six seed methods on Fashion-MNIST, then the comparison table")
    .option('--quick', 'a few hundred steps in all (a smoke test)')
    .option('--out <dir>', 'output folder', 'runs/quickstart')
    .option(
      '--methods <list>',
      'comma-separated methods, baseline none included (e.g. none,fitnet,at,rkd,ickd,dkd,reviewkd)',
      QUICKSTART_METHODS.join(','),
    )
    .option('--resume', 'resume runs from their checkpoints')
    .action(async (o: { quick?: boolean; out: string; resume?: boolean; methods: string }) => {
      const started = performance.now();
      let configs: ReturnType<typeof quickstartConfigs>;
      try {
        const methods = o.methods.split(',').map((m) => m.trim().toLowerCase());
        configs = quickstartConfigs({
          quick: o.quick,
          outDir: o.out,
          threads: program.opts().threads as number | undefined,
          methods,
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const { teacher, runs } = configs;
      const progress = progressPrinter();
      const cmp = await runComparison({ teacher, runs, seeds: [0], outDir: o.out, resume: o.resume, onEvent: progress });
      progress.done();
      const minutes = (performance.now() - started) / 60000;
      const distilled = cmp.rows.filter((r) => r.delta !== null);
      const avgDelta = distilled.length ? distilled.reduce((a, r) => a + r.delta!, 0) / distilled.length : NaN;
      console.log(`\nFashion-MNIST, teacher resnet20 -> student resnet8 (top-1 %, test set)\n\n${cmp.markdown}\n`);
      if (Number.isFinite(avgDelta))
        console.log(`distilled students vs baseline: ${avgDelta >= 0 ? '+' : ''}${avgDelta.toFixed(2)} points on average`);
      console.log(`wall time ${minutes.toFixed(1)} min`);
      console.log(`report: ${path.join(o.out, 'report.md')}`);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      console.error(`distill: ${err.message}`);
      return 2;
    }
    console.error(`distill: ${(err as Error).message}`);
    return 1;
  }
}

// npm links bins (node_modules/.bin/distill -> .../main.js): compare real paths, not the link.
const invokedDirectly = process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) main(process.argv).then((code) => process.exit(code));
