// A user's own models, method and data through the CLI: examples/custom's plugin registers a
// CNN, a distillation loss and a dataset; built-in feature methods run on its named layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliIn, repoRoot } from './helpers.js';

const root = repoRoot;
const example = path.join(root, 'examples', 'custom');
const dir = mkdtempSync(path.join(tmpdir(), 'distill-custom-'));

const distill = cliIn(dir);

const bestTop1 = (out: string) => Number(/best top-1 (\d+\.\d+)/.exec(out)?.[1]);

test("examples/custom: the plugin's teacher trains, its own method distils, and FitNet, AT and SP run on named layers", () => {
  const teacher = distill(['train', path.join(example, 'teacher.yaml')]);
  assert.equal(teacher.code, 0, teacher.err);
  assert.ok(existsSync(path.join(dir, 'runs', 'custom', 'stripenet_teacher', 'student.pt')));
  assert.ok(bestTop1(teacher.out) > 40, `the teacher learned (${bestTop1(teacher.out)}% on 6 classes)`);

  const own = distill(['run', path.join(example, 'logit_mse.yaml')]);
  assert.equal(own.code, 0, own.err);
  assert.match(own.err, /\bmse \d/, "the plugin method's loss is reported");

  const at = distill(['run', path.join(example, 'at_features.yaml')]);
  assert.equal(at.code, 0, at.err);
  assert.match(at.err, /\bat \d/);

  const layers: Record<string, string> = {
    fitnet: '{student: [block1], teacher: [block1]}',
    at: '{student: [stem, block1, block2], teacher: [stem, block1, block2]}',
    sp: '{student: [block2], teacher: [block2]}',
    rkd: "{student: ['fc:input'], teacher: ['fc:input']}",
  };
  for (const [method, features] of Object.entries(layers)) {
    const r = distill([
      'run',
      path.join(example, 'logit_mse.yaml'),
      '--set',
      `name=${method}_named`,
      '--set',
      `method={name: ${method}, options: {features: ${features}}}`,
    ]);
    assert.equal(r.code, 0, `${method}: ${r.err}`);
    assert.match(r.err, new RegExp(`\\b${method} \\d`), `${method}'s loss is reported`);
    assert.ok(Number.isFinite(bestTop1(r.out)), method);
  }

  // A run folder may come from anywhere: the plugins its config.json names run only when named.
  const best = path.join(dir, 'runs', 'custom', 'fitnet_named', 'best.pt');
  const refused = distill(['eval', best]);
  assert.equal(refused.code, 2);
  assert.match(
    refused.err,
    /config\.json names plugins, whose code would run: .*plugin\.js; if you trust them, pass each with --plugin/,
  );
  const e = distill(['eval', best, '--plugin', path.join(example, 'plugin.js')]);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /top-1 \d+\.\d+/);
});

test("distill list shows a plugin's entries with their options; bad plugins and bad feature paths exit 2 with the cause", () => {
  const plugin = path.join(example, 'plugin.js');
  const methods = distill(['list', 'methods', '--plugin', plugin]);
  assert.equal(methods.code, 0, methods.err);
  assert.match(methods.out, /logit_mse: example plugin: logit regression/);
  assert.match(methods.out, /kdWeight: number, default 0\.5/);
  assert.match(methods.out, /kd: logit distillation \(Hinton et al\. 2015\)\n {2}paper: https:\/\/arxiv\.org\/abs\/1503\.02531/);
  assert.match(methods.out, /T: number \(> 0\), default 4 — temperature/);
  const models = distill(['list', 'models', '--plugin', plugin]);
  assert.match(models.out, /stripenet_wide +example plugin/);
  assert.match(models.out, /resnet8x4 +CIFAR ResNet-8 four times wider/);
  const sets = distill(['list', 'datasets', '--plugin', plugin]);
  assert.match(sets.out, /stripes +example plugin/);
  assert.match(sets.out, /imagefolder/);

  const missing = distill(['list', 'models', '--plugin', path.join(dir, 'nope.js')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /plugin .*nope\.js not found/);
  const broken = path.join(dir, 'broken.js');
  writeFileSync(broken, 'export default () => { throw new Error("boom"); };');
  const b = distill(['list', 'models', '--plugin', broken]);
  assert.equal(b.code, 2);
  assert.match(b.err, /plugin .*broken\.js failed while registering: boom/);
  const syntax = path.join(dir, 'syntax.js');
  writeFileSync(syntax, 'export default (distill => {');
  assert.match(distill(['list', 'models', '--plugin', syntax]).err, /plugin .*syntax\.js failed to load/);
  const twice = path.join(dir, 'twice.js');
  writeFileSync(twice, "export default (d) => { d.registerModel('resnet8', () => null); };");
  assert.match(distill(['list', 'models', '--plugin', twice]).err, /a model 'resnet8' already exists; pass \{ override: true \}/);

  const badPath = distill([
    'run',
    path.join(example, 'logit_mse.yaml'),
    '--set',
    'method={name: sp, options: {features: {student: [block3], teacher: [block2]}}}',
  ]);
  assert.equal(badPath.code, 2, badPath.err);
  assert.match(badPath.err, /features\.student: StripeNet has no module 'block3'; closest: block1, block2/);
});

test('an image folder from a config (train/ and val/, size, mean/std) trains with AdamW, gradient clipping and label smoothing', async () => {
  const { PNG } = await import('pngjs');
  const folder = path.join(dir, 'images');
  for (const split of ['train', 'val'])
    for (const [ci, cls] of ['dark', 'light'].entries()) {
      const d = path.join(folder, split, cls);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < (split === 'train' ? 24 : 8); i++) {
        const png = new PNG({ width: 20, height: 12 });
        for (let p = 0; p < 20 * 12; p++) {
          const v = ci ? 200 + ((i * 7 + p) % 50) : (i * 5 + p) % 50;
          png.data.set([v, v, v, 255], p * 4);
        }
        writeFileSync(path.join(d, `${i}.png`), PNG.sync.write(png));
      }
    }
  const cfg = path.join(dir, 'folder.yaml');
  writeFileSync(
    cfg,
    `name: folder
dataset: { name: imagefolder, root: ${folder}, size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }
student: { model: resnet8 }
solver: { epochs: 2, batchSize: 8, lr: 0.01, optimizer: adamw, weightDecay: 0.01, clipGradNorm: 1, labelSmoothing: 0.1 }
runtime: { threads: 2, workers: 0 }
output: runs`,
  );
  const r = distill(['run', cfg]);
  assert.equal(r.code, 0, r.err);
  assert.ok(bestTop1(r.out) >= 75, `dark vs light learned: ${bestTop1(r.out)}`);
  const report = readFileSync(path.join(dir, 'runs', 'folder', 'report.md'), 'utf8');
  assert.match(
    report,
    /\| solver \| adamw, 2 epochs, batch 8, lr 0\.01 \(constant\), weight decay 0\.01, label smoothing 0\.1, gradient norm clipped at 1 \|/,
  );
  const bad = distill(['run', cfg, '--set', 'dataset.mean=[0.5]']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /mean and std need the same number of channels/);
  const noVal = distill(['run', cfg, '--set', `dataset.root=${path.join(folder, 'train')}`]);
  assert.equal(noVal.code, 2);
  assert.match(noVal.err, /must hold train\/ and val\/ \(or test\/\)/);
});
