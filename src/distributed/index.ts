// Data-parallel training across processes and machines on libtorch's c10d.
export * from './process-group.js';
export * from './ddp.js';
