export * from './trainer.js';
export * from './evaluate.js';
export * from './config.js';
export * from './experiment.js';
export * from './compare.js';
