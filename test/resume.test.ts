// Runs last days, so a kill must cost nothing: a run killed with SIGKILL at several points and
// resumed each time ends exactly where the uninterrupted run ends (every epoch's losses, learning
// rate and accuracy), with augmentation, label noise, a worker thread, KD and DLB (two views and
// its carried batch). A run folder holds one run at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { cliIn, cliPath } from './helpers.js';
import { acquireRunFolder } from '../src/engine/runfolder.js';

const dir = mkdtempSync(path.join(tmpdir(), 'distill-resume-'));
const distill = cliIn(dir);

/** `method` may name an optimizer after a '+' (ctkd+dot: CTKD under DOT). */
function config(name: string, methodAndOptimizer: string, epochs = 4): string {
  const [method, optimizer = 'sgd'] = methodAndOptimizer.split('+');
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
dataset: { name: synthetic, trainSubset: 256, testSubset: 64, augment: { cropPadding: 2, hflip: true }, labelNoise: 0.1 }
student: { model: resnet8 }
${method === 'none' ? '' : `teacher: { model: resnet8, checkpoint: ${dir}/runs/teacher/student.pt }\n`}method: { name: ${method} }
solver: { epochs: ${epochs}, batchSize: 32, lr: 0.05, optimizer: ${optimizer}, schedule: { type: cosine } }
runtime: { threads: 1, workers: 1 }
output: ${dir}/runs
`,
  );
  return file;
}

const epochsLogged = (name: string): number => {
  const log = path.join(dir, 'runs', name, 'log.jsonl');
  return existsSync(log) ? (readFileSync(log, 'utf8').match(/"event":"epoch"/g) ?? []).length : 0;
};

async function waitFor(what: string, condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** The run's epoch records without their timings and memory, which differ between any two runs. */
function outcome(name: string): unknown {
  const r = JSON.parse(readFileSync(path.join(dir, 'runs', name, 'result.json'), 'utf8')) as {
    history: Record<string, unknown>[];
    bestTop1: number;
    lastTop1: number;
  };
  const history = r.history.map(({ seconds: _s, imgPerSec: _i, rssMb: _m, ...rest }) => rest);
  return { history, bestTop1: r.bestTop1, lastTop1: r.lastTop1 };
}

test('teacher for the resumed runs', () => {
  const r = distill(['train', config('teacher', 'none', 1)]);
  assert.equal(r.code, 0, r.err);
});

// CRD: its memories and Z are in the checkpoint, its negatives a function of seed, epoch and step;
// PS-KD: its per-sample past predictions are in the checkpoint; CTKD under DOT: its learned
// temperature and both momenta of every parameter.
for (const method of ['kd', 'dlb', 'crd', 'pskd', 'ctkd+dot']) {
  test(`${method}: SIGKILL after epoch 1, after epoch 3 and mid-epoch, each resumed: the result equals the uninterrupted run exactly`, async () => {
    const whole = `${method.replace('+', '-')}-whole`;
    const killed = `${method.replace('+', '-')}-killed`;
    const r = distill(['run', config(whole, method)]);
    assert.equal(r.code, 0, r.err);
    const file = config(killed, method);
    const points: [number, number][] = [
      [1, 0], // as soon as epoch 1 is logged: while its checkpoint is written or epoch 2 starts
      [3, 150], // inside epoch 4
    ];
    for (const [i, [epochs, delayMs]] of points.entries()) {
      const child = spawn(process.execPath, [cliPath, 'run', file, ...(i ? ['--resume'] : [])], { cwd: dir, stdio: 'ignore' });
      await waitFor(`epoch ${epochs} of ${killed}`, () => epochsLogged(killed) >= epochs);
      await new Promise((res) => setTimeout(res, delayMs));
      await kill(child);
      // A save killed between its temporary file and the rename leaves such a file behind.
      writeFileSync(path.join(dir, 'runs', killed, `.latest.pt.${424242 + i}.tmp`), '');
    }
    const resumed = distill(['run', file, '--resume']);
    assert.equal(resumed.code, 0, resumed.err);
    assert.match(resumed.err, /resuming at stage main, epoch \d/);
    assert.deepEqual(outcome(killed), outcome(whole));
    const again = distill(['run', file, '--resume']);
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /already complete: its checkpoint is read, nothing trains/);
    assert.deepEqual(outcome(killed), outcome(whole), 'resuming a finished run changes nothing');
    assert.deepEqual(
      readdirSync(path.join(dir, 'runs', killed)).filter((f) => f.endsWith('.tmp') || f === '.lock'),
      [],
      'no temporary file or lock left',
    );
  });
}

test('two runs into one folder: the second is refused naming the first; a lock left by a killed run is taken over', async () => {
  const file = config('busy', 'none', 10); // long enough to still hold its folder when the second run starts
  const lock = path.join(dir, 'runs', 'busy', '.lock');
  const first = spawn(process.execPath, [cliPath, 'run', file], { cwd: dir, stdio: 'ignore' });
  await waitFor('the first run to take its folder', () => existsSync(lock));
  const second = distill(['run', file]);
  assert.equal(second.code, 2, second.err);
  assert.match(second.err, new RegExp(`run folder .*busy is in use by process ${first.pid} \\(since .*run .*busy\\.yaml\\)`));
  await kill(first);
  assert.ok(existsSync(lock), 'SIGKILL leaves the lock behind');
  const again = distill(['run', file, '--resume']);
  assert.equal(again.code, 0, again.err);
  assert.equal(existsSync(lock), false, 'released at the end');
});

test('a lock file that is empty, torn or names no process is taken over; one from another host is refused', () => {
  const folder = path.join(dir, 'locks');
  mkdirSync(folder, { recursive: true });
  const lock = path.join(folder, '.lock');
  for (const content of [
    '',
    '{"pid":',
    '{"pid":-1,"host":"x"}',
    '{"pid":0,"host":"x"}',
    JSON.stringify({ pid: 2 ** 31, host: hostname() }),
  ]) {
    writeFileSync(lock, content);
    const release = acquireRunFolder(folder);
    assert.equal(JSON.parse(readFileSync(lock, 'utf8')).pid, process.pid, `took over a lock holding ${JSON.stringify(content)}`);
    release();
    assert.equal(existsSync(lock), false);
  }
  writeFileSync(lock, JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then', command: 'distill run x' }));
  assert.throws(() => acquireRunFolder(folder), /in use by process 1 on elsewhere .*delete .*\.lock if that run is over/);
  assert.deepEqual(readdirSync(folder).sort(), ['.lock'], 'no draft left behind');
});
