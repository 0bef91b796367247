export * from './optimizer.js';
export * from './sgd.js';
export * from './adamw.js';
export * from './dot.js';
export * from './schedulers.js';
