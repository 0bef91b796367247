// TensorBoard event files against an independent writer of the format (Google's protobuf runtime
// and crcmod's CRC32C, scripts/make_tfevents_fixture.py): the same events give the same bytes.
// Then a run with logging.tensorboard writes its scalars, and a resumed run marks where it resumed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { engine } from '../src/index.js';
import { TensorBoardWriter, maskedCrc32c } from '../src/engine/tensorboard.js';
import { readFixture } from './helpers.js';

const fx = readFixture<{ scalars: [number, Record<string, number>][]; bytes: string; crc32c_123456789: number }>('tfevents.json');
const dir = mkdtempSync(path.join(tmpdir(), 'distill-tb-'));

/** Reads TFRecords back, checking both checksums of each. */
function records(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = Number(bytes.readBigUInt64LE(at));
    assert.equal(bytes.readUInt32LE(at + 8), maskedCrc32c(bytes.subarray(at, at + 8)), 'length checksum');
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(bytes.readUInt32LE(at + 12 + length), maskedCrc32c(data), 'data checksum');
    out.push(data);
    at += 16 + length;
  }
  return out;
}

test('the event file equals the independent writer byte for byte (framing, checksums, Event protobufs)', () => {
  const times = [1700000000.5, ...fx.scalars.map(([step]) => 1700000001.25 + step)];
  const w = new TensorBoardWriter(dir, { resumeStep: 3, now: () => times.shift()! });
  for (const [step, values] of fx.scalars) w.scalars(step, values);
  w.close();
  assert.match(path.basename(w.file), /^events\.out\.tfevents\.1700000000\./);
  const bytes = readFileSync(w.file);
  assert.equal(bytes.toString('base64'), fx.bytes);
  assert.equal(records(bytes).length, 4);
});

test('logging.tensorboard: a run writes every loss, accuracy, lr and img/s per epoch; a resumed run marks its step', async () => {
  const config = engine.validateConfig(
    {
      name: 'tb',
      dataset: { name: 'synthetic', trainSubset: 64, testSubset: 32 },
      student: { model: 'resnet8' },
      solver: { epochs: 2, batchSize: 32, lr: 0.05 },
      runtime: { threads: 1, workers: 0 },
      logging: { tensorboard: true },
      output: path.join(dir, 'runs'),
    },
    'tb',
  );
  const r = await engine.runExperiment(config);
  const files = readdirSync(r.outDir).filter((f) => f.startsWith('events.out.tfevents.'));
  assert.equal(files.length, 1);
  const text = records(readFileSync(path.join(r.outDir, files[0]!))).map((b) => b.toString('latin1'));
  assert.equal(text.length, 1 + 2, 'the file version, then one event per epoch');
  for (const tag of ['train/loss/ce', 'train/loss/total', 'train/top1', 'test/top1', 'test/top5', 'lr', 'img_per_s'])
    assert.ok(text[1]!.includes(tag) && text[2]!.includes(tag), tag);
  await engine.runExperiment({ ...config, solver: { ...config.solver, epochs: 3 } }, { resume: true });
  const after = readdirSync(r.outDir).filter((f) => f.startsWith('events.out.tfevents.'));
  assert.equal(after.length, 2, 'a resumed run opens a second file');
  // Its second record: step 2 (the epochs done before), SessionLog { status: START } (field 7, status 1).
  const resumed = after.find((f) => f !== files[0])!;
  const second = records(readFileSync(path.join(r.outDir, resumed)))[1]!;
  assert.ok(second.includes(Buffer.from([0x10, 0x02, 0x3a, 0x02, 0x08, 0x01])), 'SessionLog START at step 2');
});
