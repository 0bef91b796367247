// distill-ts: knowledge distillation for TypeScript on libtorch.
export * from './tensor/index.js';
/** torch.nn: modules, layers, init, and `nn.functional`. */
export * as nn from './nn/index.js';
export { Module, type RemovableHandle, type StateDict } from './nn/module.js';
/** Short alias, as `import torch.nn.functional as F`. */
export * as F from './tensor/functional.js';
export * as models from './models/index.js';
export {
  createModel,
  createZooModel,
  registerModel,
  modelNames,
  type Model,
  type ModelOutput,
  type Network,
} from './models/index.js';
export * as optim from './optim/index.js';
/** ONNX export of a trained student (tracing one eval-mode forward). */
export { exportOnnx, toOnnx, type OnnxExportOptions } from './export/onnx.js';
export * as data from './data/index.js';
export { createDataset, registerDataset, imageDataset, datasetNames } from './data/registry.js';
export * as distillers from './distillers/index.js';
export {
  losses,
  createDistiller,
  registerMethod,
  methodNames,
  featuresOption,
  Distiller,
  type TrainBatch,
  type TrainContext,
  type TrainOutput,
} from './distillers/index.js';
/** Data-parallel training on c10d: process groups, DistributedDataParallel, SyncBatchNorm. */
export * as distributed from './distributed/index.js';
export * as engine from './engine/index.js';
export { loadPlugins, loadConfig, runExperiment, runComparison, trainStep } from './engine/index.js';
export { z } from 'zod';
