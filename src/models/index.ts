// The model zoo and its registry by name.
import { Module } from '../nn/module.js';
import { Registry } from '../util/registry.js';
import { Model, type ModelOptions, type Network } from './model.js';
import * as resnet from './resnet.js';
import { resNet18, resNet34, resNet50 } from './resnetv2.js';
import { wrn } from './wrn.js';
import { vgg } from './vgg.js';
import { mobileHalf } from './mobilenetv2.js';
import { shuffleV1, shuffleV2 } from './shufflenet.js';
import { torchvisionArchitectures } from './torchvision/index.js';

export * from './model.js';
export { CifarResNet } from './resnet.js';
export { ResNetV2 } from './resnetv2.js';
export { WideResNet } from './wrn.js';
export { VGG } from './vgg.js';
export { MobileNetV2 } from './mobilenetv2.js';
export { ShuffleNetV1, ShuffleNetV2 } from './shufflenet.js';
export * as torchvision from './torchvision/index.js';

/** What builds a network: any Module whose forward(x) returns the logits (or a zoo ModelOutput). */
export type ModelFactory = (options: Required<ModelOptions>) => Module;

export interface ModelEntry {
  name: string;
  factory: ModelFactory;
  description: string;
}

const models = new Registry<ModelEntry>('model', 'registerModel');

/**
 * Registers a network under `name`, so configs, the CLI and createModel build it; an existing
 * name needs `{ override: true }`.
 */
export function registerModel(
  name: string,
  factory: ModelFactory,
  options: { description?: string; override?: boolean } = {},
): ModelEntry {
  if (typeof factory !== 'function')
    throw new Error(`registerModel('${String(name)}'): the factory must be a function (options) => Module`);
  return models.add(name, (key) => ({ name: key, factory, description: options?.description ?? '' }), options);
}

export const modelNames = (): string[] => models.names();
export const modelEntries = (): ModelEntry[] => models.values();

/** Builds a registered network by name (`resnet8x4`, `wrn_40_2`, or a plugin's). */
export function createModel(name: string, options: ModelOptions = {}): Network {
  const entry = models.get(name);
  const net = entry.factory({ numClasses: options.numClasses ?? 10, inChannels: options.inChannels ?? 3 });
  if (!(net instanceof Module) || typeof (net as { forward?: unknown }).forward !== 'function')
    throw new Error(`model '${name}': its factory must return a Module with a forward(x) method`);
  return net as Network;
}

/** Builds a model of the zoo (with the feature contract) by name. */
export function createZooModel(name: string, options: ModelOptions = {}): Model {
  const net = createModel(name, options);
  if (!(net instanceof Model)) throw new Error(`model '${name}' is not a zoo model (it has no feature contract)`);
  return net;
}

const zoo: [string, (o?: ModelOptions) => Model, string][] = [
  ['resnet8', resnet.resnet8, 'CIFAR ResNet-8 (16-32-64), 78k parameters'],
  ['resnet14', resnet.resnet14, 'CIFAR ResNet-14'],
  ['resnet20', resnet.resnet20, 'CIFAR ResNet-20, 0.27M parameters'],
  ['resnet32', resnet.resnet32, 'CIFAR ResNet-32'],
  ['resnet44', resnet.resnet44, 'CIFAR ResNet-44'],
  ['resnet56', resnet.resnet56, 'CIFAR ResNet-56, 0.86M parameters'],
  ['resnet110', resnet.resnet110, 'CIFAR ResNet-110, 1.7M parameters'],
  ['resnet8x4', resnet.resnet8x4, 'CIFAR ResNet-8 four times wider (32-64-128-256), 1.2M parameters'],
  ['resnet32x4', resnet.resnet32x4, 'CIFAR ResNet-32 four times wider, 7.4M parameters'],
  ['ResNet18', resNet18, 'ResNet-18 for 32x32 inputs (resnetv2)'],
  ['ResNet34', resNet34, 'ResNet-34 for 32x32 inputs'],
  ['ResNet50', resNet50, 'ResNet-50 for 32x32 inputs (bottlenecks)'],
  ['wrn_16_1', wrn(16, 1), 'wide ResNet 16-1'],
  ['wrn_16_2', wrn(16, 2), 'wide ResNet 16-2, 0.7M parameters'],
  ['wrn_40_1', wrn(40, 1), 'wide ResNet 40-1'],
  ['wrn_40_2', wrn(40, 2), 'wide ResNet 40-2, 2.2M parameters'],
  ['vgg8', vgg('vgg8'), 'VGG-8 with batch norm'],
  ['vgg11', vgg('vgg11'), 'VGG-11 with batch norm'],
  ['vgg13', vgg('vgg13'), 'VGG-13 with batch norm'],
  ['vgg16', vgg('vgg16'), 'VGG-16 with batch norm'],
  ['vgg19', vgg('vgg19'), 'VGG-19 with batch norm'],
  ['MobileNetV2', mobileHalf, 'MobileNetV2 at width 0.5 (mdistiller mobile_half)'],
  ['mobile_half', mobileHalf, 'alias of MobileNetV2'],
  ['ShuffleV1', shuffleV1, 'ShuffleNet V1'],
  ['ShuffleV2', shuffleV2, 'ShuffleNet V2'],
];
for (const [name, make, description] of zoo) registerModel(name, (o) => make(o), { description });
for (const [name, make, description] of torchvisionArchitectures)
  registerModel(`torchvision.${name}`, (o) => make(o), { description });
