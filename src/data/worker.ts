// Loader worker: renders batches (augmentation and normalisation) off the main thread, reading
// the dataset's pixels from shared memory, or decoding a streaming dataset's images with sharp,
// and sending float32 buffers back by transfer.
import { parentPort, workerData } from 'node:worker_threads';
import { recycler, renderBatch, renderEncodedBatch, type BatchRequest, type WorkerSetup } from './render.js';
import { EncodedReader, configureSharp } from './encoded.js';

const setup = workerData as WorkerSetup;
const reader = setup.encoded ? new EncodedReader(setup.encoded.source) : null;
if (reader) configureSharp();
const buffers = recycler();
parentPort!.on('message', (req: BatchRequest) => {
  buffers.give(req.recycle);
  if (!reader) {
    const views = renderBatch(setup, req, buffers.allocate);
    parentPort!.postMessage(
      { id: req.id, views, failed: [] },
      views.map((v) => v.buffer as ArrayBuffer),
    );
    return;
  }
  renderEncodedBatch(setup, req, reader, buffers.allocate).then(
    ({ views, failed }) =>
      parentPort!.postMessage(
        { id: req.id, views, failed },
        views.map((v) => v.buffer as ArrayBuffer),
      ),
    (err: Error) => parentPort!.postMessage({ id: req.id, error: err.message }),
  );
});
