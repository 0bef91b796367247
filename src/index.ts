// distill-ts: knowledge distillation for TypeScript on libtorch.
export * from './tensor/index.js';
/** torch.nn: modules, layers, init, and `nn.functional`. */
export * as nn from './nn/index.js';
/** Short alias, as `import torch.nn.functional as F`. */
export * as F from './tensor/functional.js';
export * as models from './models/index.js';
export { createModel, type Model, type ModelOutput } from './models/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as distillers from './distillers/index.js';
export { losses, createDistiller, methodNames, type Distiller } from './distillers/index.js';
export * as engine from './engine/index.js';
