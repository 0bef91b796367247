// The distill CLI: bad configs get one clear message and exit code 2; the quick quickstart
// prints its table. (Kill and resume: resume.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliIn, cliPath } from './helpers.js';

const cli = cliPath;
const dir = mkdtempSync(path.join(tmpdir(), 'distill-cli-'));

const distill = cliIn(dir);

function writeConfig(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, body);
  return file;
}

const synthetic = (name: string, extra = '') => `
name: ${name}
dataset: { name: synthetic, trainSubset: 512, testSubset: 128 }
student: { model: resnet8 }
solver: { epochs: 3, batchSize: 32, lr: 0.05, schedule: { type: cosine } }
runtime: { threads: 1, workers: 0 }
output: ${dir}/runs
${extra}`;

test('bad input: broken YAML, unknown key, method, model, option, missing checkpoint, wrong architecture', () => {
  const cases: [string, RegExp][] = [
    ['name: x\ndataset: [unclosed\n', /is not valid YAML \(line \d+, column \d+\)/],
    [synthetic('a', 'colour: blue'), /\(top level\): unknown key\(s\) 'colour'/],
    [synthetic('a', 'method: { name: kdd }'), /method\.name: unknown method 'kdd'; allowed: none, kd, dist, sp, ft, ab, dlb/],
    [synthetic('a').replace('model: resnet8', 'model: resnet9'), /student\.model: unknown model 'resnet9'; allowed: resnet8/],
    [
      synthetic('a', 'method: { name: kd, options: { temp: 4 } }\nteacher: { model: resnet8, checkpoint: nowhere.pt }'),
      /method\.options\.temp: unknown option for kd; allowed: T, ceWeight, kdWeight/,
    ],
    [
      synthetic('a', 'teacher: { model: resnet8, checkpoint: nowhere.pt }\nmethod: { name: kd }'),
      /teacher\.checkpoint: file nowhere\.pt not found/,
    ],
    [synthetic('a').replace('lr: 0.05', 'lr: fast'), /solver\.lr: Expected number, received string/],
    [
      synthetic('a').replace('name: synthetic', 'name: imagenet'),
      /dataset\.name: unknown dataset 'imagenet'; allowed: fashion-mnist, mnist, cifar10, cifar100, imagefolder, webdataset, synthetic/,
    ],
    [synthetic('a').replace('lr: 0.05', 'lr: .inf'), /solver\.lr: Infinity is not a finite number/],
    [synthetic('a').replace('lr: 0.05', 'lr: 1e30'), /solver\.lr: learning rate 1e\+30 is beyond 10/],
    [
      synthetic('a', 'teacher: { model: resnet8, checkpoint: x.pt }\nmethod: { name: kd, options: { kdWeight: .nan } }'),
      /method\.options\.kdWeight: NaN is not a finite number/,
    ],
    [synthetic('a', 'stages: { main: { lr: 50 } }'), /stages\.main\.lr: learning rate 50 is beyond 10/],
  ];
  cases.forEach(([body, pattern], i) => {
    const r = distill(['run', writeConfig(`bad${i}.yaml`, body)]);
    assert.equal(r.code, 2, `case ${i}: exit code (stderr: ${r.err})`);
    assert.match(r.err, pattern, `case ${i}`);
    assert.ok(!r.err.includes('    at '), `case ${i}: no stack trace`);
  });
  assert.equal(existsSync(path.join(dir, 'runs', 'a')), false, 'no run folder for an invalid config');
  assert.equal(distill(['run', path.join(dir, 'missing.yaml')]).code, 2);
  assert.equal(distill(['frobnicate']).code, 2);
  const badMethod = distill(['quickstart', '--methods', 'none,kdd']);
  assert.equal(badMethod.code, 2);
  assert.match(badMethod.err, /unknown method 'kdd'; available: none, kd/);
  // Run through a link, as node_modules/.bin/distill (npx distill) does.
  const link = path.join(dir, 'distill-bin');
  symlinkSync(cli, link);
  const linked = spawnSync(process.execPath, [link, '--help'], { encoding: 'utf8' });
  assert.equal(linked.status, 0);
  assert.match(linked.stdout, /Usage: distill/);
  const help = distill(['run', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /--resume/);
});

test('every shipped config in configs/ validates (teacher checkpoints aside, which need a trained teacher)', async () => {
  const { loadConfigSync } = await import('../src/engine/config.js');
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs');
  const files = readdirSync(root, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 20, `${files.length} configs`);
  for (const f of files) {
    try {
      loadConfigSync(path.join(root, f));
    } catch (err) {
      assert.match(
        (err as Error).message,
        /^invalid config .*:\n {2}teacher\.checkpoint: file .* not found; train the teacher first/,
        f,
      );
    }
  }
});

test('a teacher checkpoint of the wrong architecture is refused before training (exit 2) with a summary naming both architectures', () => {
  const teacherCfg = writeConfig('t.yaml', synthetic('t8').replace('epochs: 3', 'epochs: 1'));
  const t = distill(['train', teacherCfg]);
  assert.equal(t.code, 0, t.err);
  const ckpt = path.join(dir, 'runs', 't8', 'student.pt');
  assert.ok(existsSync(ckpt));
  const kd = writeConfig('kd.yaml', synthetic('kd', `teacher: { model: resnet14, checkpoint: ${ckpt} }\nmethod: { name: kd }`));
  const r = distill(['run', kd]);
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    /teacher checkpoint .*student\.pt: these weights are a resnet8, the config asks for resnet14: \d+ keys missing, e\.g\. layer1\.1\.conv1\.weight/,
  );
  const [first, ...details] = r.err.trimEnd().split('\n');
  assert.ok(first!.length < 600, `one short message first, got ${first!.length} characters`);
  assert.equal(details[0], '  missing: layer1.1.conv1.weight', 'then the keys, one per line');
  assert.ok(details.length <= 21, 'at most a screenful of keys');
  assert.equal(existsSync(path.join(dir, 'runs', 'kd')), false, 'nothing written for a run that cannot start');
  const e = distill(['eval', teacherCfg]);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /top-1 \d+\.\d+, top-5 \d+\.\d+/);
  const byFile = distill(['eval', path.join(dir, 'runs', 't8', 'latest.pt')]);
  assert.equal(byFile.code, 0, byFile.err);
  assert.match(byFile.out, /latest\.pt: top-1 \d+\.\d+/);
  assert.equal(distill(['eval', path.join(dir, 'elsewhere.pt')]).code, 2);
});

test('quickstart --quick: teacher, baseline and the six methods, then the comparison table', () => {
  const r = distill(['quickstart', '--quick', '--threads', '2', '--out', path.join(dir, 'qs')]);
  assert.equal(r.code, 0, r.err);
  for (const row of ['teacher (resnet20)', 'baseline', 'KD', 'DIST', 'SP', 'FT', 'AB', 'DLB'])
    assert.match(r.out, new RegExp(`\\| ${row.replace(/[()]/g, '\\$&')} \\|`));
  assert.match(r.out, /distilled students vs baseline: [+-]\d+\.\d+ points on average/);
  const report = readFileSync(path.join(dir, 'qs', 'report.md'), 'utf8');
  assert.match(report, /\| baseline \| resnet8 \|/);
  const png = (f: string) =>
    readFileSync(path.join(dir, 'qs', f))
      .subarray(1, 4)
      .toString();
  assert.equal(png('comparison.png'), 'PNG', 'comparison bar chart');
  for (const f of ['kd/accuracy.png', 'kd/loss.png']) assert.equal(png(f), 'PNG', f);
  assert.match(readFileSync(path.join(dir, 'qs', 'kd', 'report.md'), 'utf8'), /\| best top-1 \| \*\*\d+\.\d+\*\* \(epoch 1\) \|/);
  // It ends by shipping the KD student and saying how to watch the runs.
  assert.match(r.out, /KD student exported for deployment: .*qs\/kd\/student\.onnx/);
  assert.match(r.out, /watch and compare the runs: npm run distill -- dashboard .*qs/);
  assert.equal(readFileSync(path.join(dir, 'qs', 'kd', 'student.onnx')).subarray(0, 1).length, 1);
});

test("SimKD deploys student + projector + the teacher's classifier: eval of its best.pt and student.pt gives the run's own top-1", () => {
  const teacherCfg = writeConfig('simkd-t.yaml', synthetic('simkd-t').replace('epochs: 3', 'epochs: 1'));
  assert.equal(distill(['train', teacherCfg]).code, 0);
  const teacherCkpt = path.join(dir, 'runs', 'simkd-t', 'student.pt');
  // A resnet8 teacher (its classifier takes 64 features) and a resnet8 student: the projector maps 64 -> 64.
  const cfg = writeConfig(
    'simkd.yaml',
    synthetic('simkd', `teacher: { model: resnet8, checkpoint: ${teacherCkpt} }\nmethod: { name: simkd }`),
  );
  const r = distill(['run', cfg]);
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(readFileSync(path.join(dir, 'runs', 'simkd', 'result.json'), 'utf8')) as {
    bestTop1: number;
    lastTop1: number;
  };
  const top1 = (out: string) => Number(/top-1 (\d+\.\d+)/.exec(out)![1]);
  const best = distill(['eval', cfg]);
  assert.equal(best.code, 0, best.err);
  assert.equal(top1(best.out), Number(result.bestTop1.toFixed(2)), 'best.pt through the projector and teacher classifier');
  const deployed = distill(['eval', path.join(dir, 'runs', 'simkd', 'student.pt')]);
  assert.equal(deployed.code, 0, deployed.err);
  assert.equal(top1(deployed.out), Number(result.lastTop1.toFixed(2)), 'student.pt holds the deployed network');
});
