// Hostile and broken checkpoints: a corrupt or crafted teacher checkpoint or latest.pt is bad
// input (exit 2, the file named, nothing trained); the state dict's extra state is read without
// building tensors; a comparison gives each run the data of its own config; --grid is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as torch from '../src/index.js';
import { Tensor, engine } from '../src/index.js';
import { cliIn } from './helpers.js';
import { hostileCheckpoints } from '../scripts/hostile-checkpoints.js';

const dir = mkdtempSync(path.join(tmpdir(), 'distill-ckpt-'));

const distill = cliIn(dir);

function config(name: string, body = '', subset = 256): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
dataset: { name: synthetic, trainSubset: ${subset}, testSubset: 64 }
student: { model: resnet8 }
solver: { epochs: 1, batchSize: 32, lr: 0.05 }
runtime: { threads: 2, workers: 0 }
output: ${dir}/runs
${body}`,
  );
  return file;
}

test('a corrupt or crafted checkpoint is bad input: exit 2 with the file named, for a teacher and for --resume', () => {
  const base = config('base');
  assert.equal(distill(['run', base]).code, 0);
  const latest = path.join(dir, 'runs', 'base', 'latest.pt');
  const bytes = readFileSync(latest);

  const truncated = path.join(dir, 'truncated.pt');
  writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  const kd = distill(['run', config('kd', `teacher: { model: resnet8, checkpoint: ${truncated} }\nmethod: { name: kd }`)]);
  assert.equal(kd.code, 2, kd.err);
  assert.match(kd.err, /teacher checkpoint .*truncated\.pt cannot be read/);

  writeFileSync(latest, bytes.subarray(0, bytes.length - 100));
  const resumed = distill(['run', base, '--resume']);
  assert.equal(resumed.code, 2, resumed.err);
  assert.match(resumed.err, /latest\.pt is not a usable distill-ts run checkpoint .*; delete it to start the run afresh/);

  // Well-formed files with hostile contents.
  const crafted = (edit: (ck: Record<string, unknown>) => void) => {
    const ck = torch.load(path.join(dir, 'runs', 'base', 'best.pt')) as Record<string, unknown>;
    edit(ck);
    torch.save(ck as torch.Saveable, latest);
    const r = distill(['run', base, '--resume']);
    assert.equal(r.code, 2, r.err);
    return r.err;
  };
  assert.match(
    crafted((ck) => (ck.stageIndex = -1)),
    /bad 'stageIndex'/,
  );
  assert.match(
    crafted((ck) => (ck.stageIndex = 7)),
    /stage 7 does not exist in this run's plan/,
  );
  assert.match(
    crafted((ck) => (ck.history = '[{')),
    /bad history/,
  );
  assert.match(
    crafted((ck) => (ck.rng = torch.zeros(3))),
    /bad random generator state/,
  );
  assert.match(
    crafted((ck) => {
      const model = ck.model as Record<string, Tensor>;
      model['student.fc.weight'] = torch.zeros(3, 3);
    }),
    /mis-shaped: student\.fc\.weight/,
  );

  // A weight whose storage offset is near 2^63 (libtorch's own bounds check overflows): refused
  // by name through `distill eval` and as a teacher, never read out of bounds.
  const outOfBounds = hostileCheckpoints().find((f) => f.name === 'offset-near-2^63.pt')!.bytes;
  const best = path.join(dir, 'runs', 'base', 'best.pt');
  writeFileSync(best, outOfBounds);
  const evaluated = distill(['eval', best]);
  assert.equal(evaluated.code, 2, evaluated.err);
  assert.match(evaluated.err, /best\.pt.*storage offset is 9223372036854775806, not an index \(a crafted file\)/);
  const asTeacher = distill(['run', config('kd2', `teacher: { model: resnet8, checkpoint: ${best} }\nmethod: { name: kd }`)]);
  assert.equal(asTeacher.code, 2, asTeacher.err);
  assert.match(asTeacher.err, /teacher checkpoint .*best\.pt cannot be read: .*a crafted file/);
});

test("a comparison gives each run the data of its own config (not the first config's)", () => {
  const small = config('small', '', 128);
  const large = config('large', '', 256);
  const r = distill(['compare', small, large, '--out', path.join(dir, 'cmp')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /\[small\] stage main: 1 epoch\(s\) x 4 steps/);
  assert.match(r.err, /\[large\] stage main: 1 epoch\(s\) x 8 steps/);
  // Two configs of one method: the table tells their rows apart by config name.
  assert.match(r.out, /\| baseline \[small\] \|/);
  assert.match(r.out, /\| baseline \[large\] \|/);
});

test('--grid is bounded', () => {
  assert.throws(() => engine.gridPoints(['a=1,2,3', 'b=1,2,3'], 8), /--grid makes 9 runs per config; at most 8/);
  assert.equal(engine.gridPoints(['a=1,2', 'b=x,y']).length, 4);
});

test('loading a state dict finds extra state by the override, without calling getExtraState (no tensors built)', () => {
  class Carrier extends torch.nn.Linear {
    built = 0;
    loaded: Record<string, Tensor> | null = null;
    override getExtraState() {
      this.built++;
      return { memo: torch.ones(1) };
    }
    override setExtraState(state: Record<string, Tensor>) {
      this.loaded = state;
    }
  }
  const m = new Carrier(2, 2);
  const sd = m.stateDict();
  assert.equal(m.built, 1);
  assert.deepEqual(Object.keys(sd).sort(), ['_extra_state.memo', 'bias', 'weight']);
  const live = torch.memory.liveTensors();
  m.loadStateDict(sd);
  assert.equal(m.built, 1, 'loadStateDict did not build the extra state to find it');
  assert.equal(torch.memory.liveTensors(), live, 'no tensor left behind');
  assert.deepEqual(Object.keys(m.loaded!), ['memo']);
  assert.equal(new torch.nn.Linear(2, 2).stateDict()['_extra_state.memo'], undefined);
  torch.dispose(sd);
});
