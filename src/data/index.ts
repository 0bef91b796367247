export * from './datasets.js';
export * from './transforms.js';
export * from './loader.js';
export * from './imagefolder.js';
export * from './registry.js';
