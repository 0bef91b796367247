// TensorBoard event files: TFRecord framing (length, masked CRC32C of the length, an Event
// protobuf, its masked CRC32C) in `events.out.tfevents.<time>.<host>`, readable by TensorBoard and
// by anything that reads the format. Scalars only (losses, accuracy, learning rate, img/s).
// A resumed run starts a new file with a SessionLog START at its step, which tells TensorBoard to
// drop the later steps of earlier files (those the killed run wrote after its last checkpoint).
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type protobuf from 'protobufjs';
import CRC32C from 'crc-32/crc32c.js';
import { lazyRequire } from '../util/lazy.js';

// tensorflow/core/util/event.proto and framework/summary.proto, the fields written here.
const schema = {
  nested: {
    Event: {
      fields: {
        wallTime: { type: 'double', id: 1 },
        step: { type: 'int64', id: 2 },
        fileVersion: { type: 'string', id: 3 },
        summary: { type: 'Summary', id: 5 },
        sessionLog: { type: 'SessionLog', id: 7 },
      },
    },
    Summary: {
      fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
      nested: { Value: { fields: { tag: { type: 'string', id: 1 }, simpleValue: { type: 'float', id: 2 } } } },
    },
    SessionLog: {
      fields: {
        status: { type: 'SessionStatus', id: 1 },
        checkpointPath: { type: 'string', id: 2 },
        msg: { type: 'string', id: 3 },
      },
      nested: { SessionStatus: { values: { STATUS_UNSPECIFIED: 0, START: 1, STOP: 2, CHECKPOINT: 3 } } },
    },
  },
};
const protobufjs = lazyRequire<typeof protobuf>('protobufjs');
let eventType: protobuf.Type | undefined;
/** The Event message (protobufjs, ~10 MB resident, loaded by the first event written). */
const Event = (): protobuf.Type => (eventType ??= protobufjs().Root.fromJSON(schema).lookupType('Event'));

/** The TFRecord checksum: CRC32C rotated right by 15 bits plus a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = CRC32C.buf(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: u64 length, masked CRC of those 8 bytes, the data, masked CRC of the data (little-endian). */
export function tfRecord(data: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([header, data, footer]);
}

/** The Event protobuf of scalars at a step. */
export function scalarEvent(step: number, scalars: Record<string, number>, wallTime: number): Uint8Array {
  const value = Object.entries(scalars).map(([tag, simpleValue]) => ({ tag, simpleValue }));
  const type = Event();
  return type.encode(type.create({ wallTime, step, summary: { value } })).finish();
}

/** Event files opened by this process, so that each name is new. */
let writers = 0;

export class TensorBoardWriter {
  readonly file: string;
  private fd: number;

  /** Opens a new event file in `dir`; `resumeStep` (a resumed run) writes a SessionLog START there. */
  constructor(dir: string, options: { resumeStep?: number; now?: () => number } = {}) {
    this.now = options.now ?? (() => Date.now() / 1000);
    const time = this.now();
    // A new file each time (two writers of one process within a second get different counters).
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(time)}.${hostname()}.${process.pid}.${writers++}`);
    this.fd = openSync(this.file, 'wx');
    const event = Event();
    this.write(event.encode(event.create({ wallTime: time, fileVersion: 'brain.Event:2' })).finish());
    if (options.resumeStep !== undefined)
      this.write(event.encode(event.create({ wallTime: time, step: options.resumeStep, sessionLog: { status: 1 } })).finish());
    fsyncSync(this.fd);
  }

  private readonly now: () => number;

  private write(event: Uint8Array): void {
    writeSync(this.fd, tfRecord(event));
  }

  /** Scalars at a step (non-finite values are left out), flushed to disk. */
  scalars(step: number, values: Record<string, number>): void {
    const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)));
    this.write(scalarEvent(step, finite, this.now()));
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
