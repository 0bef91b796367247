// What a newcomer tripped over (issue on user models, section 6), each fixed and kept fixed:
// compare with --teacher, --set and --grid, eval after compare, duplicate configs, exit codes,
// CUDA without CUDA, reports, warnings, a Fashion-MNIST config for every method.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as torch from '../src/index.js';
import { cuda, distillers, engine } from '../src/index.js';
import { lineChart } from '../src/engine/plots.js';
import { cliIn, repoRoot } from './helpers.js';

const root = repoRoot;
const dir = mkdtempSync(path.join(tmpdir(), 'distill-newcomer-'));

const distill = cliIn(dir);

function config(name: string, body: string): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
dataset: { name: synthetic, trainSubset: 256, testSubset: 128 }
student: { model: resnet8 }
solver: { epochs: 2, batchSize: 32, lr: 0.05, schedule: { type: cosine } }
runtime: { threads: 2, workers: 0 }
output: ${dir}/runs
${body}`,
  );
  return file;
}

test('compare: --teacher needs no existing teacher checkpoint; --grid and --set make the sweep; a config given twice runs once; a weak teacher is flagged; eval finds the runs', () => {
  // The teacher gets one step: near chance, worse than the baseline student.
  const teacher = config('teacher', '');
  writeFileSync(teacher, readFileSync(teacher, 'utf8').replace('workers: 0 }', 'workers: 0, maxStepsPerEpoch: 1 }'));
  const base = config('base', '');
  const kd = config('kd', 'teacher: { model: resnet8, checkpoint: not/trained/yet.pt }\nmethod: { name: kd }');
  const out = path.join(dir, 'runs', 'cmp');
  const r = distill([
    'compare',
    base,
    kd,
    base,
    '--teacher',
    teacher,
    '--grid',
    'method.options.T=2,8',
    '--set',
    'solver.lr=0.02',
    '--seeds',
    '0,1',
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /a config given twice is run once/);
  const rows = r.out.split('\n').filter((l) => l.startsWith('| '));
  assert.deepEqual(
    rows.map((l) => l.split('|')[1]!.trim()),
    ['run', 'teacher (resnet8)', 'baseline', 'KD (T=2)', 'KD (T=8)'],
    'one baseline row, one row per grid value',
  );
  assert.match(r.out, /\| baseline \| resnet8 \| 2 \| \d+\.\d+ ± \d+\.\d+ \|/, 'two seeds: mean ± std');
  assert.match(r.err, /warning: the teacher \(\d+\.\d+\) is no better than the baseline student/);
  const report = readFileSync(path.join(out, 'report.md'), 'utf8');
  assert.match(report, /2 seeds; a ± b is the mean and the sample standard deviation \(n − 1\)/);
  assert.match(report, /> \*\*Warning:\*\* the teacher/);
  const configJson = JSON.parse(readFileSync(path.join(out, 'kd-T=8-seed1', 'config.json'), 'utf8')) as {
    method: { options: { T: number } };
    solver: { lr: number };
  };
  assert.equal(configJson.method.options.T, 8);
  assert.equal(configJson.solver.lr, 0.02, '--set applies to every run');

  const several = distill(['eval', base]);
  assert.equal(several.code, 2);
  assert.match(several.err, /several runs of 'base' under .*: .*base-seed0.*base-seed1.*; pick one with --checkpoint/);
  const other = path.join(dir, 'other');
  assert.equal(distill(['compare', base, '--set', `output=${other}`, '--out', path.join(other, 'cmp')]).code, 0);
  const found = distill(['eval', base, '--set', `output=${other}`]);
  assert.equal(found.code, 0, found.err);
  assert.match(found.out, /cmp\/base\/best\.pt: top-1 \d+\.\d+/, 'eval CONFIG finds the run a comparison wrote');

  const clash = config('kd2', 'teacher: { model: resnet8, checkpoint: x.pt }\nmethod: { name: kd }').replace(
    'kd2.yaml',
    'kd2.yaml',
  );
  writeFileSync(clash, readFileSync(clash, 'utf8').replace('name: kd2', 'name: base'));
  const dup = distill(['compare', base, clash, '--teacher', teacher, '--out', path.join(dir, 'dup')]);
  assert.equal(dup.code, 2);
  assert.match(dup.err, /two configs are named 'base'; give each run its own name/);
});

test('exit codes: 2 for bad input found before training (missing teacher, dataset root, device), 1 for a failure during training; --help says so', () => {
  const noTeacher = distill(['run', config('noteacher', 'method: { name: kd }')]);
  assert.equal(noTeacher.code, 2);
  assert.match(noTeacher.err, /teacher: method 'kd' needs a teacher: set teacher\.model and teacher\.checkpoint/);
  const cifar = config('cifar', '');
  writeFileSync(
    cifar,
    readFileSync(cifar, 'utf8').replace('name: synthetic, trainSubset: 256, testSubset: 128', 'name: cifar10'),
  );
  const c = distill(['run', cifar]);
  assert.equal(c.code, 2, c.err);
  assert.match(c.err, /dataset cifar10: set dataset\.root to the cifar-10-batches-bin folder/);
  const diverge = distill([
    'run',
    config('diverge', ''),
    '--set',
    'solver.lr=10',
    '--set',
    'solver.weightDecay=1',
    '--set',
    'solver.momentum=0.99',
  ]);
  assert.equal(diverge.code, 1, diverge.err);
  assert.match(diverge.err, /diverged/);
  const help = distill(['--help']);
  assert.match(help.out, /Exit codes:\n {2}0 +success\n {2}1 +a run failed during training/);
  assert.match(distill(['run', '--help']).out, /2 +bad input found before training started/);
  if (!cuda.isAvailable()) {
    const gpu = distill(['run', config('gpu', ''), '--set', 'runtime.device=cuda']);
    assert.equal(gpu.code, 2);
    assert.match(gpu.err, /this libtorch has no CUDA .*LIBTORCH=\/path\/to\/libtorch npm ci/);
  }
});

test('run reports: no "(augmented)" without augmentation, "1 epoch", the options and the seed; full legend labels', () => {
  const r = distill([
    'run',
    config('report', 'method: { name: none }'),
    '--set',
    'solver.epochs=1',
    '--set',
    'seed=3',
    '--set',
    'solver.labelSmoothing=0.1',
  ]);
  assert.equal(r.code, 0, r.err);
  const md = readFileSync(path.join(dir, 'runs', 'report', 'report.md'), 'utf8');
  assert.match(md, /\| solver \| sgd, 1 epoch, batch 32/);
  assert.match(md, /label smoothing 0\.1/);
  assert.match(md, /\| seed \| 3 \|/);
  assert.match(md, /no augmentation/);
  assert.doesNotMatch(md, /1 epochs|\(augmented\)/);
  const spec = lineChart('t', [{ x: 1, y: 1, series: 'train top-1 (augmented)' }], 'x', 'y') as unknown as {
    encoding: { color: { legend: { labelLimit: number } } };
  };
  assert.equal(spec.encoding.color.legend.labelLimit, 0, 'legend labels are not cut');
  const kdMd = path.join(dir, 'runs', 'cmp', 'kd-T=2-seed0', 'report.md');
  if (existsSync(kdMd)) assert.match(readFileSync(kdMd, 'utf8'), /\| method \| kd \(T=2\)/);
});

test('warnings: a collapsed student or a teacher near chance is named; a healthy run is not', () => {
  assert.match(engine.runWarnings(10.5, 90, 10).join(), /the student collapsed: best top-1 10\.50% is near chance \(10\.0%\)/);
  assert.match(engine.runWarnings(80, 12, 10).join(), /the teacher is near chance \(12\.00% top-1\)/);
  assert.deepEqual(engine.runWarnings(80, 90, 10), []);
  assert.deepEqual(engine.runWarnings(5, null, 100), [], '5% on 100 classes is above chance');
});

test('every method has a Fashion-MNIST config, and each validates', () => {
  const folder = path.join(root, 'configs', 'fashion-mnist');
  const files = readdirSync(folder);
  for (const m of distillers.methodNames())
    assert.ok(files.includes(`${m}_resnet20_resnet8.yaml`), `configs/fashion-mnist/${m}_resnet20_resnet8.yaml`);
  for (const f of files) {
    const c = engine.loadConfigSync(path.join(folder, f), [], { checkTeacherCheckpoint: false });
    assert.equal(c.dataset.name, 'fashion-mnist', f);
  }
});

test("a comparison measures the teacher's accuracy once per weights and data, not once per run", async () => {
  const ckpt = path.join(dir, 'runs', 'cmp', 'teacher', 'student.pt');
  assert.ok(existsSync(ckpt), 'the first test trained this teacher');
  const c = engine.validateConfig(
    {
      name: 'cached',
      dataset: { name: 'synthetic', trainSubset: 64, testSubset: 32 },
      teacher: { model: 'resnet8', checkpoint: ckpt },
      student: { model: 'resnet8' },
      method: { name: 'kd' },
      solver: { epochs: 1, batchSize: 32, lr: 0.05 },
      runtime: { threads: 2, workers: 0 },
      output: path.join(dir, 'runs'),
    },
    'cached',
  );
  const teacherTop1s = new Map<string, number>();
  const first = await engine.runExperiment(c, { teacherTop1s });
  assert.equal(teacherTop1s.size, 1);
  const [key] = teacherTop1s.keys();
  teacherTop1s.set(key!, 42.5);
  const second = await engine.runExperiment({ ...c, name: 'cached2' }, { teacherTop1s });
  assert.equal(second.teacherTop1, 42.5, 'the measured value is reused');
  assert.notEqual(first.teacherTop1, null);
});

test("the method's other classifiers are evaluated each epoch and reported: DML's peers, BYOT's heads; student.pt holds the student alone", async () => {
  for (const [method, options, names] of [
    ['dml', { peers: ['resnet8', 'resnet14'] }, ['peer1', 'peer2']],
    ['byot', {}, ['head1', 'head2']],
  ] as const) {
    const c = engine.validateConfig(
      {
        name: `others-${method}`,
        dataset: { name: 'synthetic', trainSubset: 64, testSubset: 32 },
        student: { model: 'resnet8' },
        method: { name: method, options },
        solver: { epochs: 2, batchSize: 32, lr: 0.05 },
        runtime: { threads: 2, workers: 0 },
        output: path.join(dir, 'runs'),
      },
      method,
    );
    const r = await engine.runExperiment(c);
    for (const h of r.history) {
      assert.deepEqual(Object.keys(h.otherTop1 ?? {}), names, `epoch ${h.epoch}`);
      for (const v of Object.values(h.otherTop1!)) assert.ok(v >= 0 && v <= 100);
    }
    const report = readFileSync(path.join(r.outDir, 'report.md'), 'utf8');
    assert.match(report, new RegExp(`other classifiers, last top-1 \\| ${names[0]} \\d+\\.\\d\\d, ${names[1]} \\d+\\.\\d\\d`));
    const student = torch.load(path.join(r.outDir, 'student.pt')) as Record<string, unknown>;
    assert.ok(
      Object.keys(student).length > 0 && Object.keys(student).every((k) => !/^(peer|head)\d/.test(k)),
      'student.pt: the student only',
    );
    torch.dispose(Object.values(student));
  }
});
