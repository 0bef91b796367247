export * from './module.js';
export * from './layers.js';
export * as init from './init.js';
export * as functional from '../tensor/functional.js';
export * from './utils.js';
export * from './fold.js';
