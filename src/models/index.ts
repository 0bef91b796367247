// The model zoo and its registry by name.
import type { Model, ModelOptions } from './model.js';
import * as resnet from './resnet.js';
import { resNet18, resNet34, resNet50 } from './resnetv2.js';
import { wrn } from './wrn.js';
import { vgg } from './vgg.js';
import { mobileHalf } from './mobilenetv2.js';
import { shuffleV1, shuffleV2 } from './shufflenet.js';

export * from './model.js';
export { CifarResNet } from './resnet.js';
export { ResNetV2 } from './resnetv2.js';
export { WideResNet } from './wrn.js';
export { VGG } from './vgg.js';
export { MobileNetV2 } from './mobilenetv2.js';
export { ShuffleNetV1, ShuffleNetV2 } from './shufflenet.js';

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
  ResNet18: resNet18,
  ResNet34: resNet34,
  ResNet50: resNet50,
  wrn_16_1: wrn(16, 1),
  wrn_16_2: wrn(16, 2),
  wrn_40_1: wrn(40, 1),
  wrn_40_2: wrn(40, 2),
  vgg8: vgg('vgg8'),
  vgg11: vgg('vgg11'),
  vgg13: vgg('vgg13'),
  vgg16: vgg('vgg16'),
  vgg19: vgg('vgg19'),
  MobileNetV2: mobileHalf,
  mobile_half: mobileHalf,
  ShuffleV1: shuffleV1,
  ShuffleV2: shuffleV2,
};

export const modelNames = (): string[] => Object.keys(registry);

/** Builds a model of the zoo by name (`resnet8x4`, `wrn_40_2`, ...). */
export function createModel(name: string, options: ModelOptions = {}): Model {
  const make = registry[name];
  if (!make) throw new Error(`unknown model '${name}'; available: ${modelNames().join(', ')}`);
  return make(options);
}
