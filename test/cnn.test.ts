// A small CNN (conv, BN, ReLU, pool, linear) trained from JS: the same parameters as
// torch.optim.SGD after 5 steps from the same weights and data. (Memory over long runs: memory.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { F, Tensor, noGrad, tidy } from '../src/index.js';
import { assertClose, decode, readFixture, type Encoded } from './helpers.js';

interface CnnFixture {
  initial: Record<string, Encoded>;
  final: Record<string, Encoded>;
  x: Encoded;
  y: Encoded;
  losses: number[];
  running_mean: Encoded;
  running_var: Encoded;
}
const fx = readFixture<CnnFixture>('cnn.json');

class SmallCnn {
  params: Record<string, Tensor>;
  runningMean = torch.zeros(4).keep();
  runningVar = torch.ones(4).keep();
  momentumBuffers = new Map<string, Tensor>();

  constructor(init: Record<string, Tensor>) {
    this.params = Object.fromEntries(Object.entries(init).map(([k, v]) => [k, v.detach().clone().requiresGrad_().keep()]));
  }

  forward(x: Tensor): Tensor {
    const p = this.params;
    const h = F.conv2d(x, p['conv.weight']!, { bias: p['conv.bias']!, padding: 1 });
    const n = F.batchNorm(h, this.runningMean, this.runningVar, { weight: p['bn.weight']!, bias: p['bn.bias']!, training: true });
    const pooled = F.maxPool2d(F.relu(n), 2);
    return F.linear(pooled.flatten(1), p['fc.weight']!, { bias: p['fc.bias']! });
  }

  /** One step of torch.optim.SGD(lr, momentum, weight_decay) semantics. */
  sgdStep(lr: number, momentum: number, weightDecay: number): void {
    noGrad(() => {
      for (const [name, p] of Object.entries(this.params)) {
        const grad = p.grad!;
        const d = grad.add(p, { alpha: weightDecay });
        let buf = this.momentumBuffers.get(name);
        if (!buf) this.momentumBuffers.set(name, (buf = d.clone().keep()));
        else buf.mul_(momentum).add_(d);
        p.sub_(buf, { alpha: lr });
        grad.zero_();
      }
    });
  }

  step(x: Tensor, y: Tensor): number {
    return tidy(() => {
      const loss = F.crossEntropy(this.forward(x), y);
      loss.backward();
      this.sgdStep(0.1, 0.9, 5e-4);
      return loss.item();
    });
  }
}

test('small CNN: 5 SGD steps from JS equal PyTorch to 1e-5, and the loss decreases', () => {
  const init = Object.fromEntries(Object.entries(fx.initial).map(([k, v]) => [k, decode(v)]));
  const model = new SmallCnn(init);
  const x = decode(fx.x);
  const y = decode(fx.y);
  const losses = Array.from({ length: 5 }, () => model.step(x, y));
  losses.forEach((l, i) => assert.ok(Math.abs(l - fx.losses[i]!) < 1e-5, `loss ${i}: ${l} vs ${fx.losses[i]}`));
  assert.ok(losses[4]! < losses[0]!, `loss did not decrease: ${losses}`);
  for (const [name, expected] of Object.entries(fx.final)) assertClose(model.params[name]!, expected, name, 0, 1e-5);
  assertClose(model.runningMean, fx.running_mean, 'running_mean', 0, 1e-5);
  assertClose(model.runningVar, fx.running_var, 'running_var', 0, 1e-5);
});
