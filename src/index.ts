// distill-ts: knowledge distillation for TypeScript on libtorch.
export * from './tensor/index.js';
import * as functional from './tensor/functional.js';

/** torch.nn namespace: `nn.functional` (modules arrive with src/nn). */
export const nn = { functional };
/** Short alias, as `import torch.nn.functional as F`. */
export const F = functional;
