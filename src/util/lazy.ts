// Packages loaded at their first use instead of with the library: sharp (libvips) and protobufjs
// hold resident memory in every process that imports distill-ts, and most never decode an image,
// write an event file or export ONNX.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter that requires the CommonJS package `name` on its first call and returns it after. */
export function lazyRequire<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(name) as T);
}
