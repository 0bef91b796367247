// AdamW as torch.optim.AdamW: decoupled weight decay, bias-corrected moments.
import { tensor, zerosLike, type Tensor } from '../tensor/index.js';
import { Optimizer, type ParamGroupInput } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: Tensor[] | ParamGroupInput<AdamWOptions>[], options: Partial<AdamWOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...options });
  }

  protected override checkOptions(o: AdamWOptions): void {
    super.checkOptions(o);
    if (!Array.isArray(o.betas) || o.betas.length !== 2)
      throw new RangeError(`AdamW: betas must be two numbers, got ${String(o.betas)}`);
    this.checkNumber('betas[0]', o.betas[0], 0, 1, false);
    this.checkNumber('betas[1]', o.betas[1], 0, 1, false);
    this.checkNumber('eps', o.eps, 0);
    this.checkNumber('weightDecay', o.weightDecay, 0);
  }

  protected update(p: Tensor, grad: Tensor, o: AdamWOptions, state: Record<string, Tensor | number>): void {
    const [beta1, beta2] = o.betas;
    if (state.step === undefined) {
      // PyTorch (>= 1.12) keeps `step` as a scalar float tensor; so do we, so state dicts interchange.
      state.step = this.persist(tensor(0));
      state.exp_avg = this.persist(zerosLike(p));
      state.exp_avg_sq = this.persist(zerosLike(p));
    } else if (typeof state.step === 'number') {
      state.step = this.persist(tensor(state.step));
    }
    const stepTensor = (state.step as Tensor).add_(1);
    const step = stepTensor.item();
    const expAvg = state.exp_avg as Tensor;
    const expAvgSq = state.exp_avg_sq as Tensor;
    p.mul_(1 - o.lr * o.weightDecay);
    expAvg.lerp_(grad, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(grad, grad, { value: 1 - beta2 });
    const bias1 = 1 - beta1 ** step;
    const bias2 = 1 - beta2 ** step;
    const denom = expAvgSq.sqrt().div(Math.sqrt(bias2)).add(o.eps);
    p.addcdiv_(expAvg, denom, { value: -o.lr / bias1 });
  }
}
