// torch.nn.utils: gradient clipping.
import { Tensor, noGrad, stack, tidy } from '../tensor/index.js';

/**
 * Scales the gradients of `parameters` in place so that their total L2 norm is at most
 * `maxNorm` (torch.nn.utils.clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), capped at 1).
 * Returns the total norm before clipping.
 */
export function clipGradNorm_(parameters: Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm_: maxNorm must be positive, got ${maxNorm}`);
  const grads = parameters.map((p) => p.grad).filter((g): g is Tensor => g !== null && g !== undefined);
  if (!grads.length) return 0;
  return tidy(() =>
    noGrad(() => {
      const total = stack(grads.map((g) => g.norm())).norm();
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp({ max: 1 });
      for (const g of grads) g.mul_(coef);
      return total.item();
    }),
  );
}
