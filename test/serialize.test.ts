// PyTorch's file format both ways: files written by torch.save load here with the values
// PyTorch recorded; files written here are the ones PyTorch was shown to read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as torch from '../src/index.js';
import { Tensor, load, save, saveToBuffer, loadFromBuffer } from '../src/index.js';
import { assertClose, fixtureDir, readFixture, type Encoded } from './helpers.js';
import { jsSavedContent } from './serialize-content.js';
import { zip } from '../scripts/hostile-checkpoints.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'distill-ser-'));

function lookup(obj: unknown, dotted: string): unknown {
  return dotted.split('/').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], obj);
}

test('a checkpoint written by torch.save (mdistiller shape, OrderedDict state dict, views) loads with PyTorch values', () => {
  const ckpt = load(path.join(fixtureDir, 'py_checkpoint.pt')) as Record<string, unknown>;
  const expected = readFixture<Record<string, Encoded>>('py_checkpoint.json');
  for (const [key, enc] of Object.entries(expected)) {
    const t = lookup(ckpt, key) as Tensor;
    assert.ok(t instanceof Tensor, `${key} is a tensor`);
    assertClose(t, enc, key, 0, 0);
  }
  assert.equal(ckpt.epoch, 240);
  assert.equal(ckpt.best_acc, 73.5);
  assert.equal(ckpt.name, 'resnet8x4');
  const model = ckpt.model as Record<string, Tensor>;
  assert.deepEqual(Object.keys(model), [
    '0.weight',
    '0.bias',
    '1.weight',
    '1.bias',
    '1.running_mean',
    '1.running_var',
    '1.num_batches_tracked',
  ]);
  const groups = (ckpt.optimizer as { param_groups: { lr: number; params: number[] }[] }).param_groups;
  assert.deepEqual(groups, [{ lr: 0.05, params: [0] }]);
});

test('a file written here is byte for byte the one PyTorch loaded (js_saved.pt), with the values it saw', () => {
  const bytes = saveToBuffer(jsSavedContent());
  assert.ok(bytes.equals(readFileSync(path.join(fixtureDir, 'js_saved.pt'))), 'save() output changed: regenerate fixtures');
  const seen = readFixture<{ epoch: number; lr: number; tag: string; weight: Encoded; labels: Encoded; list: Encoded[] }>(
    'js_saved.seen-by-pytorch.json',
  );
  const mine = jsSavedContent() as { weights: { weight: Tensor; labels: Tensor }; list: Tensor[] };
  assert.deepEqual([seen.epoch, seen.lr, seen.tag], [12, 0.05, 'resnet8x4']);
  assertClose(mine.weights.weight, seen.weight, 'weight', 0, 0);
  assertClose(mine.weights.labels, seen.labels, 'labels', 0, 0);
  mine.list.forEach((t, i) => assertClose(t, seen.list[i]!, `list.${i}`, 0, 0));
});

test('save/load round trip here, atomically, for every dtype and for views', () => {
  const base = torch.arange(0, 12, 1, { dtype: 'float32' });
  const value = {
    f32: torch.randn(3, 4),
    f64: torch.randn([2], { dtype: 'float64' }),
    i64: torch.tensor([1, -2, 3], { dtype: 'int64' }),
    i32: torch.tensor([7], { dtype: 'int32' }),
    u8: torch.tensor([0, 255], { dtype: 'uint8' }),
    b: torch.tensor([true, false]),
    view: base.view(3, 4).t(),
    nested: { list: [1, 2.5, 'x', null, true] },
  };
  const file = path.join(tmp, 'round.pt');
  save(value, file);
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
  const back = load(file) as typeof value;
  for (const key of ['f32', 'f64', 'i64', 'i32', 'u8', 'b', 'view'] as const) {
    assert.equal(back[key].dtype, value[key].dtype, key);
    assert.deepEqual(back[key].tolist(), value[key].tolist(), key);
  }
  assert.deepEqual(back.nested, { list: [1, 2.5, 'x', null, true] });
  const direct = loadFromBuffer(saveToBuffer(torch.ones(2))) as Tensor;
  assert.deepEqual(direct.tolist(), [1, 1]);
});

test('loading never runs code: Python objects are refused by name; corrupt and missing files get clear errors', () => {
  // A pickle whose only content is a call to os.system: the zip of a torch.save file with data.pkl replaced.
  const good = saveToBuffer({ a: 1 });
  const evilPickle = Buffer.from('\x80\x02cos\nsystem\nq\x00X\x05\x00\x00\x00touchq\x01\x85q\x02Rq\x03.', 'latin1');
  const evil = replaceEntry(good, 'data.pkl', evilPickle);
  assert.throws(() => loadFromBuffer(evil), /refused to load 'os.system'/);
  const truncated = path.join(tmp, 'truncated.pt');
  writeFileSync(truncated, readFileSync(path.join(fixtureDir, 'py_checkpoint.pt')).subarray(0, 900));
  assert.throws(() => load(truncated), /truncated\.pt: .*(zip|truncated|corrupt)/);
  assert.throws(() => load(path.join(tmp, 'missing.pt')), /cannot read .*missing\.pt: ENOENT/);
  const junk = path.join(tmp, 'junk.pt');
  writeFileSync(junk, 'hello');
  assert.throws(() => load(junk), /not a PyTorch file/);
  assert.throws(() => save({ f: (() => 1) as never }, path.join(tmp, 'bad.pt')), /cannot be saved/);
  // A write that fails (here: no such folder; a full disk takes the same path) names the file and leaves nothing.
  assert.throws(
    () => save({ a: 1 }, path.join(tmp, 'no-such-dir', 'ckpt.pt')),
    /save: could not write .*no-such-dir\/ckpt\.pt: ENOENT/,
  );
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes('.tmp')),
    [],
  );
});

test('PyTorch itself reads our file (when python3-torch is installed)', (t) => {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    t.skip('python3-torch not installed (development-time only); the byte-identical fixture test covers this');
    return;
  }
  const file = path.join(tmp, 'for-python.pt');
  save({ w: torch.arange(0, 4, 1, { dtype: 'float32' }).reshape(2, 2), epoch: 3 }, file);
  const out = execFileSync('/usr/bin/python3', [
    '-c',
    `import torch; d = torch.load('${file}'); print(d['w'].tolist(), d['epoch'])`,
  ]);
  assert.equal(out.toString().trim(), '[[0.0, 1.0], [2.0, 3.0]] 3');
});

/** Rebuilds a stored (uncompressed) zip with one entry's content replaced. */
function replaceEntry(archive: Buffer, suffix: string, content: Buffer): Buffer {
  const entries: { name: string; data: Buffer }[] = [];
  let p = 0;
  while (archive.readUInt32LE(p) === 0x04034b50) {
    const size = archive.readUInt32LE(p + 18);
    const name = archive.toString('utf8', p + 30, p + 30 + archive.readUInt16LE(p + 26));
    const start = p + 30 + archive.readUInt16LE(p + 26) + archive.readUInt16LE(p + 28);
    entries.push({ name, data: name.endsWith(suffix) ? content : archive.subarray(start, start + size) });
    p = start + size;
  }
  return zip(entries);
}
