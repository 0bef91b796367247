// DOT, the distillation-oriented trainer (Zhao et al. ICCV 2023; mdistiller engine/dot.py):
// SGD with two momentum buffers per parameter, one for the task loss (momentum − δ) and one for the
// distillation loss (momentum + δ). A step is two backward passes: the distillation loss first
// (stepKd() takes its gradients), then the task loss (step() applies both updates).
import { Tensor, keep, noGrad, tidy } from '../tensor/index.js';
import { Optimizer, type ParamGroupInput } from './optimizer.js';

export interface DOTOptions {
  lr: number;
  /** Momentum of the task loss's buffer (mdistiller: SOLVER.MOMENTUM − DOT.DELTA). */
  momentum: number;
  /** Momentum of the distillation loss's buffer (SOLVER.MOMENTUM + DOT.DELTA). */
  momentumKd: number;
  dampening: number;
  weightDecay: number;
}

export class DistillationOrientedTrainer extends Optimizer<DOTOptions> {
  /** The distillation gradients taken by stepKd(), by parameter, until step() applies them. */
  private kdGrads = new Map<Tensor, Tensor>();

  constructor(params: Tensor[] | ParamGroupInput<DOTOptions>[], options: Partial<DOTOptions> & { lr: number }) {
    super(params, { momentum: 0, momentumKd: 0, dampening: 0, weightDecay: 0, ...options });
    // As the reference (its buffers are lists over one group's parameters).
    if (this.paramGroups.length !== 1) throw new Error('DistillationOrientedTrainer: takes one parameter group');
  }

  protected override checkOptions(o: DOTOptions): void {
    super.checkOptions(o);
    this.checkNumber('momentum', o.momentum, 0);
    this.checkNumber('momentumKd', o.momentumKd, 0);
    this.checkNumber('dampening', o.dampening, -Infinity);
    this.checkNumber('weightDecay', o.weightDecay, 0);
  }

  /** Takes the current gradients as the distillation loss's (call after its backward, before zeroGrad). */
  stepKd(): void {
    this.releaseKdGrads();
    for (const p of this.paramGroups[0]!.params) if (p.grad) this.kdGrads.set(p, keep(p.grad.detach().clone()));
  }

  /**
   * Applies the task gradients (the current ones) with the task momentum, then the distillation
   * gradients of stepKd() with theirs. A parameter with only one of the two takes the mean of both
   * momenta for its one buffer; weight decay enters once, on the task side where there is one.
   */
  override step(): void {
    const o = this.paramGroups[0]!.options;
    const mean = (o.momentum + o.momentumKd) / 2;
    const params = this.paramGroups[0]!.params;
    noGrad(() =>
      tidy(() => {
        for (const p of params) {
          if (!p.grad) continue;
          const state = this.stateOf(p);
          let d = o.weightDecay !== 0 ? p.grad.add(p, { alpha: o.weightDecay }) : p.grad;
          if (o.momentum !== 0) {
            let buf = state.momentum_buffer as Tensor | undefined;
            if (!buf) state.momentum_buffer = buf = this.persist(d.clone());
            else buf.mul_(this.kdGrads.has(p) ? o.momentum : mean).add_(d, { alpha: 1 - o.dampening });
            d = buf;
          }
          p.add_(d, { alpha: -o.lr });
        }
        for (const [p, grad] of this.kdGrads) {
          const state = this.stateOf(p);
          let buf = state.momentum_kd_buffer as Tensor | undefined;
          if (!buf) state.momentum_kd_buffer = buf = this.persist(grad.clone());
          else if (p.grad) buf.mul_(o.momentumKd).add_(grad, { alpha: 1 - o.dampening });
          else {
            const d = o.weightDecay !== 0 ? grad.add(p, { alpha: o.weightDecay }) : grad;
            buf.mul_(mean).add_(d, { alpha: 1 - o.dampening });
          }
          p.add_(buf, { alpha: -o.lr });
        }
      }),
    );
    this.releaseKdGrads();
  }

  protected update(): void {
    throw new Error('DistillationOrientedTrainer: step() applies both losses');
  }

  private releaseKdGrads(): void {
    for (const g of this.kdGrads.values()) g.dispose();
    this.kdGrads.clear();
  }
}
