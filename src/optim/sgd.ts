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
    const defaults: SGDOptions = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options };
    if (defaults.nesterov && (defaults.momentum <= 0 || defaults.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    }
    super(params, defaults);
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
