// The model zoo and its registry by name.
import type { Model, ModelOptions } from './model.js';
import * as resnet from './resnet.js';

export * from './model.js';
export { CifarResNet } from './resnet.js';

const registry: Record<string, (o?: ModelOptions) => Model> = {
  resnet8: resnet.resnet8,
  resnet14: resnet.resnet14,
  resnet20: resnet.resnet20,
  resnet32: resnet.resnet32,
  resnet44: resnet.resnet44,
  resnet56: resnet.resnet56,
  resnet110: resnet.resnet110,
  resnet8x4: resnet.resnet8x4,
  resnet32x4: resnet.resnet32x4,
};

export const modelNames = (): string[] => Object.keys(registry);

/** Builds a model of the zoo by name (`resnet8x4`, `wrn_40_2`, ...). */
export function createModel(name: string, options: ModelOptions = {}): Model {
  const make = registry[name];
  if (!make) throw new Error(`unknown model '${name}'; available: ${modelNames().join(', ')}`);
  return make(options);
}
