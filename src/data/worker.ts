// Loader worker: renders batches (augmentation and normalisation) off the main thread, reading
// the dataset's pixels from shared memory and sending float32 buffers back by transfer.
import { parentPort, workerData } from 'node:worker_threads';
import { renderBatch, type BatchRequest, type WorkerSetup } from './render.js';

const setup = workerData as WorkerSetup;
parentPort!.on('message', (req: BatchRequest) => {
  const views = renderBatch(setup, req);
  parentPort!.postMessage(
    { id: req.id, views },
    views.map((v) => v.buffer as ArrayBuffer),
  );
});
