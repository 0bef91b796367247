// Optimizers against torch.optim (10 steps, fixture), schedules, and optimizer state dicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as torch from '../src/index.js';
import { Tensor, optim, tidy, save, load } from '../src/index.js';
import { assertClose, decode, readFixture, type Encoded } from './helpers.js';

const fx = readFixture<{ p1: Encoded; p2: Encoded; x: Encoded; runs: Record<string, { p1: Encoded; p2: Encoded }> }>(
  'optim.json',
);
const x = decode(fx.x).keep();

const makers: Record<string, (a: Tensor, b: Tensor) => optim.Optimizer<{ lr: number }>> = {
  sgd_momentum_wd: (a, b) => new optim.SGD([a, b], { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 }),
  sgd_nesterov: (a, b) => new optim.SGD([a, b], { lr: 0.05, momentum: 0.9, nesterov: true }),
  sgd_dampening: (a, b) => new optim.SGD([a, b], { lr: 0.1, momentum: 0.9, dampening: 0.1 }),
  sgd_plain: (a, b) => new optim.SGD([a, b], { lr: 0.2 }),
  sgd_groups: (a, b) => new optim.SGD([{ params: [a] }, { params: [b], lr: 0.01, momentum: 0.5 }], { lr: 0.1, momentum: 0.9 }),
  adamw: (a, b) => new optim.AdamW([a, b], { lr: 0.01, weightDecay: 0.1 }),
  adamw_betas: (a, b) => new optim.AdamW([a, b], { lr: 0.02, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0 }),
};

function run(
  make: (a: Tensor, b: Tensor) => optim.Optimizer<{ lr: number }>,
  steps: number,
  a: Tensor,
  b: Tensor,
  opt = make(a, b),
) {
  for (let i = 0; i < steps; i++) {
    tidy(() => {
      const loss = x.matmul(a).add(b).tanh().pow(2).sum();
      opt.zeroGrad();
      loss.backward();
    });
    opt.step();
  }
  return opt;
}

for (const [name, make] of Object.entries(makers)) {
  // float32 matmuls round differently in another BLAS or on another CPU (1.7e-6 seen on an AMD
  // EPYC with OpenBLAS against the fixture's PyTorch): the update rule is checked to 1e-5 relative.
  test(`optim ${name}: 10 steps equal torch.optim to 1e-5`, () => {
    const a = decode(fx.p1).requiresGrad_();
    const b = decode(fx.p2).requiresGrad_();
    run(make, 10, a, b);
    assertClose(a, fx.runs[name]!.p1, 'p1', 1e-5, 1e-6);
    assertClose(b, fx.runs[name]!.p2, 'p2', 1e-5, 1e-6);
  });
}

test('optimizer state dict resumes exactly: 5 steps, save, new optimizer, 5 steps = 10 steps', () => {
  for (const name of ['sgd_momentum_wd', 'adamw']) {
    const a = decode(fx.p1).requiresGrad_();
    const b = decode(fx.p2).requiresGrad_();
    const first = run(makers[name]!, 5, a, b);
    const sd = first.stateDict();
    assert.deepEqual(sd.param_groups[0]!.params, [0, 1]);
    const second = makers[name]!(a, b);
    second.loadStateDict(sd as never);
    run(makers[name]!, 5, a, b, second);
    assertClose(a, fx.runs[name]!.p1, `${name} p1 after resume`, 0, 1e-6);
  }
  const a = decode(fx.p1).requiresGrad_();
  const opt = new optim.SGD([a], { lr: 0.1 });
  assert.throws(() => opt.loadStateDict({ state: {}, param_groups: [] }), /0 parameter groups in the checkpoint, 1 here/);
});

test('settings that would train on nonsense are refused, at construction and from a state dict', () => {
  const p = [torch.zeros(2).requiresGrad_()];
  assert.throws(() => new optim.SGD(p, { lr: NaN }), /SGD: invalid lr NaN: expected a finite number >= 0/);
  assert.throws(() => new optim.SGD(p, { lr: -0.1 }), /invalid lr -0\.1/);
  assert.throws(() => new optim.SGD(p, { lr: 0.1, momentum: -1 }), /invalid momentum -1/);
  assert.throws(() => new optim.SGD([{ params: p, weightDecay: Infinity }], { lr: 0.1 }), /invalid weightDecay Infinity/);
  assert.throws(() => new optim.SGD(p, { lr: 0.1, nesterov: true }), /Nesterov momentum requires a momentum/);
  assert.throws(
    () => new optim.AdamW(p, { betas: [0.9, 1] }),
    /AdamW: invalid betas\[1\] 1: expected a finite number in \[0, 1\)/,
  );
  assert.throws(() => new optim.AdamW(p, { eps: -1 }), /invalid eps -1/);
  const sgd = new optim.SGD(p, { lr: 0.1, momentum: 0.9 });
  const sd = sgd.stateDict();
  assert.throws(
    () => sgd.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0], lr: 'fast' }] }),
    /option 'lr' is "fast"/,
  );
  assert.throws(
    () => sgd.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0], momentum: -3 }] }),
    /invalid momentum -3/,
  );
  assert.equal(sgd.lr, 0.1, 'a refused state dict changes nothing');
  p[0]!.dispose();
});

test('an LR scheduler made after loading a checkpoint mid-schedule continues from the initial lr (initial_lr)', () => {
  const p = [torch.zeros(2).requiresGrad_()];
  const first = new optim.SGD(p, { lr: 0.1, momentum: 0.9 });
  const schedule = optim.cosine(4);
  const s1 = new optim.LRScheduler(first, schedule);
  s1.setEpoch(2);
  assert.ok(Math.abs(first.lr - 0.05) < 1e-12);
  const saved = first.stateDict();
  assert.equal(saved.param_groups[0]!.initial_lr, 0.1, 'saved as PyTorch names it');
  const second = new optim.SGD(p, { lr: 0.1, momentum: 0.9 });
  second.loadStateDict(saved);
  const s2 = new optim.LRScheduler(second, schedule);
  s2.setEpoch(3);
  assert.ok(
    Math.abs(second.lr - 0.1 * schedule.factor(3)) < 1e-12,
    `lr ${second.lr}: based on the initial lr, not the decayed one`,
  );
  p[0]!.dispose();
});

test('schedules: multi-step 150/180/210, cosine, warm-up, bound to an optimizer', () => {
  const ms = optim.multiStep([150, 180, 210], 0.1);
  assert.deepEqual(
    [0, 149, 150, 179, 180, 210, 239].map((e) => +ms.factor(e).toPrecision(6)),
    [1, 1, 0.1, 0.1, 0.01, 0.001, 0.001],
  );
  const cos = optim.cosine(10);
  assert.equal(cos.factor(0), 1);
  assert.ok(Math.abs(cos.factor(5) - 0.5) < 1e-12);
  assert.ok(Math.abs(cos.factor(10)) < 1e-12);
  const warm = optim.linearWarmup(5, optim.constant(), 0);
  assert.deepEqual(
    [0, 1, 4, 5, 6].map((e) => warm.factor(e)),
    [0, 0.2, 0.8, 1, 1],
  );
  const p = decode(fx.p1).requiresGrad_();
  const q = decode(fx.p2).requiresGrad_();
  const opt = new optim.SGD([{ params: [p] }, { params: [q], lr: 0.01 }], { lr: 0.05 });
  const sched = new optim.LRScheduler(opt, ms);
  sched.setEpoch(150);
  assert.ok(Math.abs(opt.paramGroups[0]!.options.lr - 0.005) < 1e-12);
  assert.ok(Math.abs(opt.paramGroups[1]!.options.lr - 0.001) < 1e-12);
  assert.throws(() => new optim.SGD([p], { lr: 0.1, nesterov: true }), /Nesterov/);
  assert.throws(() => new optim.SGD([], { lr: 0.1 }), /empty parameter list/);
});

test('optimizer state dicts saved here load into torch.optim (int parameter keys, tensor step) when python3-torch is installed', (t) => {
  const a = decode(fx.p1).requiresGrad_();
  const b = decode(fx.p2).requiresGrad_();
  const opt = run(makers.adamw!, 3, a, b);
  const sd = opt.stateDict();
  assert.deepEqual([...sd.state.keys()], [0, 1]);
  assert.equal((sd.state.get(0)!.step as Tensor).item(), 3);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'distill-optim-')), 'adamw.pt');
  save(sd as never, file);
  const back = load(file) as { state: Record<string, Record<string, Tensor>> };
  const again = makers.adamw!(decode(fx.p1).requiresGrad_(), decode(fx.p2).requiresGrad_());
  again.loadStateDict(back as never);
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    t.skip('python3-torch not installed (development-time only)');
    return;
  }
  const py = `import torch
sd = torch.load('${file}')
ps = [torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(4))]
o = torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)
o.load_state_dict(sd)
print(int(o.state[ps[0]]['step'].item()), list(o.state[ps[1]]['exp_avg'].shape))`;
  assert.equal(execFileSync('/usr/bin/python3', ['-c', py]).toString().trim(), '3 [4]');
});
