// SGD as torch.optim.SGD: weight decay added to the gradient, momentum with dampening, Nesterov.
import type { Tensor } from '../tensor/index.js';
import { Optimizer, type ParamGroupInput } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Tensor[] | ParamGroupInput<SGDOptions>[], options: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected override checkOptions(o: SGDOptions): void {
    super.checkOptions(o);
    this.checkNumber('momentum', o.momentum, 0);
    this.checkNumber('dampening', o.dampening, -Infinity);
    this.checkNumber('weightDecay', o.weightDecay, 0);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected update(p: Tensor, grad: Tensor, o: SGDOptions, state: Record<string, Tensor | number>): void {
    let d = o.weightDecay !== 0 ? grad.add(p, { alpha: o.weightDecay }) : grad;
    if (o.momentum !== 0) {
      let buf = state.momentum_buffer as Tensor | undefined;
      if (!buf) state.momentum_buffer = buf = this.persist(d.clone());
      else buf.mul_(o.momentum).add_(d, { alpha: 1 - o.dampening });
      d = o.nesterov ? d.add(buf, { alpha: o.momentum }) : buf;
    }
    p.add_(d, { alpha: -o.lr });
  }
}
