#!/usr/bin/env node
// `distill`: train, run, evaluate and compare distillation experiments from YAML configs; list
// what is registered. Exit codes: 0 success, 1 a run failed during training, 2 bad input found
// before training started.
import { Command, CommanderError } from 'commander';
import path from 'node:path';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setNumThreads, zeros } from '../tensor/index.js';
import { sizeThreadPool } from '../data/encoded.js';
import { exportOnnx } from '../export/onnx.js';
import { startDashboard } from '../dashboard/server.js';
import {
  InputError,
  configFromObject,
  asInputError,
  checkDevice,
  evaluate,
  gridPoints,
  loadConfig,
  loadSplit,
  loadDeployed,
  loadPlugins,
  overrideApplies,
  pluginPaths,
  readConfigFile,
  runComparison,
  runExperiment,
  type ExperimentConfig,
} from '../engine/index.js';
import { QUICKSTART_METHODS, quickstartConfigs } from '../engine/quickstart.js';
import { progressPrinter } from './progress.js';
import { launch, type LaunchOptions } from './launch.js';
import { initFromEnv, launchEnv, type ProcessGroup } from '../distributed/index.js';
import { availableParallelism } from 'node:os';
import { listing, type ListKind } from './list.js';

sizeThreadPool();

const collect = (v: string, prev: string[]) => [...prev, v];

const EXIT_CODES = `
Exit codes:
  0  success
  1  a run failed during training (diverged, out of memory, interrupted by an error)
  2  bad input found before training started: usage, config, plugin, dataset, missing or
     wrong-architecture checkpoint, unavailable device`;

/** Options every command takes. */
function common(cmd: Command): Command {
  return cmd.option('--plugin <file>', 'an ES module that registers models, methods or datasets (repeatable)', collect, []);
}

type RunOptions = { set: string[]; resume?: boolean; plugin: string[]; timeout?: string } & Partial<
  Record<keyof LaunchOptions, string>
>;

/** The launcher's flags: with --nproc-per-node this process starts the workers instead of training. */
const LAUNCH_FLAGS = [
  '--nproc-per-node',
  '--nnodes',
  '--node-rank',
  '--master-addr',
  '--master-port',
  '--max-restarts',
  '--timeout',
];

function launchOptions(cmd: Command): Command {
  return cmd
    .option('--nproc-per-node <n>', 'data-parallel: start N worker processes on this machine (as torchrun)')
    .option('--nnodes <n>', 'data-parallel: machines taking part (default 1)')
    .option('--node-rank <r>', "data-parallel: this machine's index (default 0)")
    .option('--master-addr <host>', 'data-parallel: the machine of rank 0 (default 127.0.0.1)')
    .option('--master-port <port>', 'data-parallel: the rendezvous port on it (default 29500)')
    .option('--max-restarts <k>', 'data-parallel: restart the whole group from the last checkpoint up to K times')
    .option('--timeout <seconds>', 'data-parallel: rendezvous and collective timeout (default 1800)');
}

/** This CLI's arguments without the launcher's flags: what each worker runs. */
function workerArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = LAUNCH_FLAGS.find((f) => argv[i] === f || argv[i]!.startsWith(`${f}=`));
    if (!flag) out.push(argv[i]!);
    else if (argv[i] === flag) i++;
  }
  return out;
}

/** Set by a launching command: the exit code of its workers. */
let launcherExitCode: number | null = null;

/** The process group of a worker started by a launcher (ours, torchrun, srun): null for a single process. */
function joinGroup(c: ExperimentConfig, threadsGiven: boolean): ProcessGroup | null {
  const env = asInputError(() => launchEnv());
  if (!env || env.worldSize === 1) return null;
  // Threads default to this machine's cores shared among its workers.
  if (!threadsGiven && !c.runtime.threads) setNumThreads(Math.max(1, Math.floor(availableParallelism() / env.localWorldSize)));
  // One GPU per worker: cuda means cuda:LOCAL_RANK.
  if (c.runtime.device === 'cuda') c.runtime.device = `cuda:${env.localRank}`;
  const backend = c.runtime.backend ?? (c.runtime.device.startsWith('cuda') ? 'nccl' : 'gloo');
  const timeout = Number(process.env.DISTILL_DIST_TIMEOUT_S);
  return asInputError(() => initFromEnv({ backend, timeoutMs: timeout > 0 ? timeout * 1000 : undefined }));
}

async function trainOrRun(file: string, opts: RunOptions, forceBaseline: boolean, threadsGiven: boolean): Promise<void> {
  if (opts.nprocPerNode !== undefined) {
    const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
    launcherExitCode = await launch(workerArgs(process.argv.slice(2)), {
      nprocPerNode: num(opts.nprocPerNode, 1),
      nnodes: num(opts.nnodes, 1),
      nodeRank: num(opts.nodeRank, 0),
      masterAddr: opts.masterAddr ?? '127.0.0.1',
      masterPort: num(opts.masterPort, 29500),
      maxRestarts: num(opts.maxRestarts, 0),
      timeoutSeconds: opts.timeout === undefined ? undefined : Number(opts.timeout),
    });
    return;
  }
  await loadPlugins(opts.plugin);
  const c = await loadConfig(file, opts.set);
  if (forceBaseline && c.method.name !== 'none')
    throw new InputError(`distill train trains a network alone, but ${file} sets method '${c.method.name}': use distill run`);
  const group = joinGroup(c, threadsGiven);
  const progress = progressPrinter();
  let r;
  try {
    r = await runExperiment(c, { resume: opts.resume, onEvent: (e) => progress(c.name, e), group });
  } finally {
    group?.destroy();
  }
  progress.done();
  if (group && group.rank !== 0) return;
  console.log(
    `\n${c.name}: best top-1 ${r.bestTop1.toFixed(2)} (epoch ${r.bestEpoch}), last top-1 ${r.lastTop1.toFixed(2)}, top-5 ${r.lastTop5.toFixed(2)}, ${r.seconds.toFixed(0)} s, ${r.imgPerSec.toFixed(0)} img/s`,
  );
  console.log(`run folder: ${r.outDir}`);
}

/** The checkpoint `eval CONFIG` means: the run's own folder, else the one run folder of that name a comparison wrote. */
export function findRunCheckpoint(c: ExperimentConfig): string {
  const own = path.join(c.output, c.name, 'best.pt');
  if (existsSync(own)) return own;
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 3 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      if ((e.name === c.name || e.name.startsWith(`${c.name}-seed`)) && existsSync(path.join(sub, 'best.pt')))
        found.push(path.join(sub, 'best.pt'));
      else walk(sub, depth + 1);
    }
  };
  walk(c.output, 0);
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw new InputError(`several runs of '${c.name}' under ${c.output}: ${found.join(', ')}; pick one with --checkpoint`);
  throw new InputError(
    `no checkpoint for '${c.name}' under ${c.output} (looked for ${own} and comparison run folders); train first (distill run) or pass --checkpoint`,
  );
}

/**
 * The config and checkpoint a command means: a .pt file or a run folder (its config.json says the
 * model and data; a folder means its best.pt), or a YAML config (its run's best checkpoint).
 */
async function resolveRun(
  target: string,
  o: { checkpoint?: string; set: string[]; plugin: string[] },
): Promise<{ c: ExperimentConfig; ckpt: string }> {
  await loadPlugins(o.plugin);
  const isFolder = existsSync(target) && statSync(target).isDirectory();
  if (isFolder || target.endsWith('.pt')) {
    const folder = isFolder ? target : path.dirname(target);
    const runConfig = path.join(folder, 'config.json');
    if (!existsSync(runConfig))
      throw new InputError(
        `${target}: no config.json ${isFolder ? 'in it' : 'beside it'} to say the model and data; pass the experiment's YAML config instead`,
      );
    const raw = readConfigFile(runConfig); // JSON is YAML
    // A run folder may come from anywhere: its plugins run code only when named on the command line.
    const given = new Set(o.plugin.map((p) => path.resolve(p)));
    const unnamed = pluginPaths(raw, runConfig).filter((p) => !given.has(p));
    if (unnamed.length)
      throw new InputError(
        `${runConfig} names plugins, whose code would run: ${unnamed.join(', ')}; if you trust them, pass each with --plugin`,
      );
    const c = await configFromObject(raw, runConfig, o.set, { checkTeacherCheckpoint: false });
    const ckpt = isFolder ? (o.checkpoint ?? path.join(folder, 'best.pt')) : target;
    if (!existsSync(ckpt))
      throw new InputError(
        `${ckpt} not found: the run has no finished epoch yet (wait for one, or resume it with distill run --resume)`,
      );
    return { c, ckpt };
  }
  const c = await loadConfig(target, o.set, { checkTeacherCheckpoint: false });
  const ckpt = o.checkpoint ?? findRunCheckpoint(c);
  if (!existsSync(ckpt)) throw new InputError(`checkpoint ${ckpt} not found; train first (distill run) or pass --checkpoint`);
  return { c, ckpt };
}

/** A run's test split and its deployed network (eval and export read both); `release()` frees the network. */
function openDeployed(c: ExperimentConfig, ckpt: string) {
  checkDevice(c.runtime.device);
  const test = loadSplit(c.dataset, c.seed, 'test');
  const deployed = loadDeployed(c, ckpt, {
    numClasses: test.numClasses,
    inChannels: test.channels,
    inputShape: [test.channels, test.height, test.width],
  });
  return { test, deployed };
}

async function evalCommand(target: string, o: { checkpoint?: string; set: string[]; plugin: string[] }): Promise<void> {
  const { c, ckpt } = await resolveRun(target, o);
  const { test, deployed } = openDeployed(c, ckpt);
  let acc: Awaited<ReturnType<typeof evaluate>>;
  try {
    acc = await evaluate(deployed.logits, test, { device: c.runtime.device, numWorkers: c.runtime.workers });
  } finally {
    deployed.release();
  }
  console.log(
    `${ckpt}: top-1 ${acc.top1.toFixed(2)}, top-5 ${acc.top5.toFixed(2)}, loss ${acc.loss.toFixed(4)} on ${test.length} test images`,
  );
}

/** The deployed network of a run checkpoint as an ONNX file, with the data's metadata. */
function exportDeployed(
  c: ExperimentConfig,
  ckpt: string,
  out: string,
  o: { opset: number; dynamicBatch?: boolean; softmax?: boolean; foldBatchNorm?: boolean },
): void {
  if (!existsSync(path.dirname(path.resolve(out))))
    throw new InputError(
      `--out ${out}: folder ${path.dirname(path.resolve(out))} does not exist; create it or pick another path`,
    );
  const { test, deployed } = openDeployed(c, ckpt);
  const inputShape: [number, number, number] = [test.channels, test.height, test.width];
  try {
    const example = zeros([1, ...inputShape], { device: c.runtime.device });
    try {
      exportOnnx(deployed.network, example, out, {
        ...o,
        metadata: {
          model: c.student.model,
          method: c.method.name,
          dataset: c.dataset.name,
          classes: String(test.numClasses),
          input_shape: JSON.stringify(inputShape),
          mean: JSON.stringify(test.mean),
          std: JSON.stringify(test.std),
          ...(test.classes ? { class_names: JSON.stringify(test.classes) } : {}),
          source: ckpt,
        },
      });
    } finally {
      example.dispose();
    }
  } finally {
    deployed.release();
  }
}

async function exportCommand(
  target: string,
  o: {
    checkpoint?: string;
    set: string[];
    plugin: string[];
    format: string;
    out?: string;
    opset: string;
    dynamicBatch?: boolean;
    softmax?: boolean;
    foldBatchNorm?: boolean;
  },
): Promise<void> {
  if (o.format !== 'onnx') throw new InputError(`unknown export format '${o.format}'; the formats: onnx`);
  const opset = Number(o.opset);
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new InputError(`--opset ${o.opset}: use 13 to 21`);
  const { c, ckpt } = await resolveRun(target, o);
  const out = o.out ?? path.join(path.dirname(ckpt), 'student.onnx');
  exportDeployed(c, ckpt, out, { opset, dynamicBatch: o.dynamicBatch, softmax: o.softmax, foldBatchNorm: o.foldBatchNorm });
  console.log(
    `${ckpt} -> ${out} (ONNX opset ${opset}${o.dynamicBatch ? ', any batch size' : ', batch 1'}${o.softmax ? ', probabilities' : ', logits'})`,
  );
}

interface CompareOptions {
  seeds: string;
  teacher?: string;
  out: string;
  resume?: boolean;
  set: string[];
  grid: string[];
  plugin: string[];
}

async function compareCommand(files: string[], o: CompareOptions): Promise<void> {
  const seeds = o.seeds.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0))
    throw new InputError(`--seeds: expected integers like 0,1,2, got '${o.seeds}'`);
  await loadPlugins(o.plugin);
  const unique = [...new Map(files.map((f) => [path.resolve(f), f])).values()];
  if (unique.length < files.length) console.error(`distill: a config given twice is run once`);
  const points = gridPoints(o.grid);
  // --teacher trains the teacher first: the configs' own teacher checkpoints are not needed.
  const validate = { checkTeacherCheckpoint: !o.teacher };
  const runs: ExperimentConfig[] = [];
  const labels: string[] = [];
  for (const file of unique) {
    const raw = readConfigFile(file);
    await loadPlugins(pluginPaths(raw, file));
    const applicable = points.map((p) => ({ ...p, overrides: p.overrides.filter((ov) => overrideApplies(raw, ov)) }));
    const variants = new Map(applicable.map((p) => [p.overrides.join('\n'), p]));
    for (const p of variants.values()) {
      const c = await configFromObject(raw, file, [...o.set.filter((ov) => overrideApplies(raw, ov)), ...p.overrides], validate);
      const method = c.method.name.toLowerCase();
      const suffix = p.overrides.length ? p.label : '';
      if (suffix) c.name = `${c.name}-${suffix.replace(/[^A-Za-z0-9_.=,-]/g, '_')}`;
      runs.push(c);
      labels.push(`${method === 'none' ? 'baseline' : method.toUpperCase()}${suffix ? ` (${suffix})` : ''}`);
    }
  }
  // Two configs of one method (kd and kd-ls): their rows are told apart by the config's name.
  const plain = [...labels];
  plain.forEach((label, i) => {
    if (plain.indexOf(label) !== plain.lastIndexOf(label)) labels[i] = `${label} [${runs[i]!.name}]`;
  });
  const teacher = o.teacher
    ? await loadConfig(
        o.teacher,
        o.set.filter((s) => !s.startsWith('method.')),
        validate,
      )
    : undefined;
  const progress = progressPrinter();
  const cmp = await runComparison({ teacher, runs, labels, seeds, outDir: o.out, resume: o.resume, onEvent: progress });
  progress.done();
  for (const w of cmp.warnings) console.error(`warning: ${w}`);
  console.log(`\n${cmp.markdown}\n\nreport: ${path.join(o.out, 'report.md')}`);
}

async function quickstartCommand(
  o: { quick?: boolean; out: string; resume?: boolean; methods: string; plugin: string[] },
  threads?: number,
): Promise<void> {
  await loadPlugins(o.plugin);
  const started = performance.now();
  const methods = o.methods.split(',').map((m) => m.trim().toLowerCase());
  const { teacher, runs } = asInputError(() => quickstartConfigs({ quick: o.quick, outDir: o.out, threads, methods }));
  const progress = progressPrinter();
  const cmp = await runComparison({ teacher, runs, seeds: [0], outDir: o.out, resume: o.resume, onEvent: progress });
  progress.done();
  const minutes = (performance.now() - started) / 60000;
  const distilled = cmp.rows.filter((r) => r.delta !== null);
  const avgDelta = distilled.length ? distilled.reduce((a, r) => a + r.delta!, 0) / distilled.length : NaN;
  console.log(`\nFashion-MNIST, teacher resnet20 -> student resnet8 (top-1 %, test set)\n\n${cmp.markdown}\n`);
  for (const w of cmp.warnings) console.log(`warning: ${w}`);
  if (Number.isFinite(avgDelta))
    console.log(`distilled students vs baseline: ${avgDelta >= 0 ? '+' : ''}${avgDelta.toFixed(2)} points on average`);
  console.log(`wall time ${minutes.toFixed(1)} min`);
  console.log(`report: ${path.join(o.out, 'report.md')}`);
  // The KD student, ready to deploy: an ONNX file beside its checkpoint.
  const kd = runs.find((r) => r.method.name === 'kd');
  if (kd) {
    try {
      const checkpoint = findRunCheckpoint(kd);
      const file = path.join(path.dirname(checkpoint), 'student.onnx');
      exportDeployed(kd, checkpoint, file, { opset: 17, dynamicBatch: true });
      console.log(`KD student exported for deployment: ${file}`);
    } catch (err) {
      console.log(`the KD student was not exported: ${(err as Error).message}`);
    }
  }
  console.log(`watch and compare the runs: npm run distill -- dashboard ${o.out}`);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('distill')
    .description('Knowledge distillation for TypeScript: train teachers, distill students, compare methods.')
    .option('--threads <n>', 'intra-op threads (default: libtorch default)', (v) => Number(v))
    .addHelpText('after', EXIT_CODES)
    .hook('preAction', (cmd) => {
      const t = cmd.opts().threads as number | undefined;
      if (t !== undefined) {
        if (!Number.isInteger(t) || t < 1) throw new InputError(`--threads must be a positive integer`);
        setNumThreads(t);
      }
    })
    .exitOverride();

  launchOptions(common(program.command('train')))
    .description('train a network alone (a teacher, or the baseline student)')
    .argument('<config>', 'YAML experiment file')
    .option('--set <key=value>', 'override a config key (repeatable), e.g. --set solver.lr=0.01', collect, [])
    .option('--resume', "continue from the run folder's latest checkpoint")
    .addHelpText('after', EXIT_CODES)
    .action((file: string, o: RunOptions) => trainOrRun(file, o, true, program.opts().threads !== undefined));

  launchOptions(common(program.command('run')))
    .description('run an experiment: every stage of its method, then evaluation')
    .argument('<config>', 'YAML experiment file')
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .option('--resume', "continue from the run folder's latest checkpoint")
    .addHelpText('after', EXIT_CODES)
    .action((file: string, o: RunOptions) => trainOrRun(file, o, false, program.opts().threads !== undefined));

  common(program.command('eval'))
    .description(
      "top-1/top-5 on the test set: of a config's best checkpoint (its own run or a comparison's), or of a checkpoint in a run folder",
    )
    .argument(
      '<config|checkpoint>',
      'a YAML experiment file, or a .pt file inside a run folder (its config.json says the model and data)',
    )
    .option(
      '--checkpoint <file>',
      'with a config: the checkpoint to evaluate (default: <output>/<name>/best.pt, or a comparison run of that name)',
    )
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .addHelpText('after', EXIT_CODES)
    .action(evalCommand);

  common(program.command('export'))
    .description("the deployed student as a file for other runtimes: ONNX, traced from the run's checkpoint")
    .argument(
      '<config|checkpoint|run-folder>',
      'a YAML experiment file, a .pt file in a run folder, or a run folder (its best.pt)',
    )
    .option('--format <format>', 'onnx', 'onnx')
    .option('--out <file>', 'the file to write (default: student.onnx beside the checkpoint)')
    .option('--opset <n>', 'ONNX opset, 13 to 21', '17')
    .option('--dynamic-batch', 'a symbolic batch dimension (default: batch 1)')
    .option('--softmax', 'output class probabilities instead of logits')
    .option('--fold-batch-norm', 'fold each BatchNorm into the convolution before it')
    .option('--checkpoint <file>', "with a config or run folder: the checkpoint (default: the run's best.pt)")
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .addHelpText('after', EXIT_CODES)
    .action(exportCommand);

  program
    .command('dashboard')
    .description('a local page of the runs under a folder: their status, live curves and a comparison')
    .argument('[runs]', 'the runs folder', 'runs')
    .option('--port <port>', 'port on localhost', '8765')
    .addHelpText('after', EXIT_CODES)
    .action(async (runs: string, o: { port: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InputError(`--port ${o.port}: a port is 1 to 65535`);
      const server = await startDashboard(runs, { port }).catch((err: Error) => {
        throw new InputError(err.message);
      });
      const address = server.address();
      console.log(
        `dashboard of ${path.resolve(runs)} at http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/ (Ctrl-C stops it)`,
      );
      await new Promise(() => {}); // serves until interrupted
    });

  common(program.command('compare'))
    .description('several configs (methods) over seeds, then one report; a teacher config may train first')
    .argument('<configs...>', 'YAML experiment files; the one with method none is the baseline')
    .option('--seeds <list>', 'comma-separated seeds', '0')
    .option('--teacher <config>', "train this config first and use its student as every run's teacher")
    .option('--out <dir>', 'report folder', 'runs/compare')
    .option('--set <key=value>', 'override a key in every config (repeatable)', collect, [])
    .option(
      '--grid <key=v1,v2>',
      'one run per value, e.g. --grid method.options.T=2,4,8 (repeatable: all combinations)',
      collect,
      [],
    )
    .option('--resume', 'resume runs from their checkpoints')
    .addHelpText('after', EXIT_CODES)
    .action(compareCommand);

  common(program.command('quickstart'))
    .description("the README's main job: teacher, baseline and the six seed methods on Fashion-MNIST, then the comparison table")
    .option('--quick', 'a few hundred steps in all (a smoke test)')
    .option('--out <dir>', 'output folder', 'runs/quickstart')
    .option(
      '--methods <list>',
      'comma-separated methods, baseline none included (e.g. none,fitnet,at,rkd,ickd,dkd,reviewkd)',
      QUICKSTART_METHODS.join(','),
    )
    .option('--resume', 'resume runs from their checkpoints')
    .addHelpText('after', EXIT_CODES)
    .action((o) => quickstartCommand(o, program.opts().threads as number | undefined));

  common(program.command('list'))
    .description('what can be named in a config: models, methods (with options, defaults and papers) or datasets')
    .argument('<kind>', 'models, methods or datasets')
    .argument('[name]', 'one entry, in full')
    .action(async (kind: string, name: string | undefined, o: { plugin: string[] }) => {
      await loadPlugins(o.plugin);
      if (!['models', 'methods', 'datasets'].includes(kind))
        throw new InputError(`list: expected models, methods or datasets, got '${kind}'`);
      console.log(listing(kind as ListKind, name));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    launcherExitCode = null;
    await program.parseAsync(argv);
    return launcherExitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    console.error(`distill: ${(err as Error).message}`);
    const details = err instanceof InputError ? (err.details ?? []) : [];
    // The full list (every missing key of a checkpoint), shortened past a screenful.
    for (const line of details.slice(0, 20)) console.error(`  ${line}`);
    if (details.length > 20) console.error(`  ... and ${details.length - 20} more`);
    return err instanceof InputError ? 2 : 1;
  }
}

// npm links bins (node_modules/.bin/distill -> .../main.js): compare real paths, not the link.
const invokedDirectly = process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) main(process.argv).then((code) => process.exit(code));
