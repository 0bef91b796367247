export * from './trainer.js';
export * from './evaluate.js';
