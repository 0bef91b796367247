// The zip container of torch.save files, read defensively: every offset and length is checked
// against the bytes present before it is used, sizes are the ones the central directory declares,
// inflation stops at the declared size, and every entry's CRC-32 is verified. Checkpoints come
// from the internet; a crafted archive must end in a clear error, never in a huge allocation.
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc: number;
  offset: number;
}

export interface ZipLimits {
  /** Most bytes all entries may inflate to together. */
  maxInflatedBytes: number;
  /** Most entries in one archive (a torch.save file has one per storage, plus a few). */
  maxEntries: number;
}

// A deflated entry above this size must not claim a ratio that only a bomb has: real tensor
// bytes compress a few percent, and torch.save stores entries uncompressed anyway.
const BOMB_MIN_BYTES = 64 << 20;
const BOMB_RATIO = 100;

export const defaultZipLimits: ZipLimits = { maxInflatedBytes: 32 * 2 ** 30, maxEntries: 1_000_000 };

class Reader {
  constructor(readonly buf: Buffer) {}
  check(at: number, length: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < 0 || length < 0 || at + length > this.buf.length) {
      throw new Error(`corrupt zip archive: ${what} lies outside the file (truncated or crafted file)`);
    }
  }
  u16(at: number, what: string): number {
    this.check(at, 2, what);
    return this.buf.readUInt16LE(at);
  }
  u32(at: number, what: string): number {
    this.check(at, 4, what);
    return this.buf.readUInt32LE(at);
  }
  u64(at: number, what: string): number {
    this.check(at, 8, what);
    const v = this.buf.readBigUInt64LE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`corrupt zip archive: ${what} is ${v}, beyond any file`);
    return Number(v);
  }
}

function findEndOfCentralDirectory(r: Reader): number {
  const buf = r.buf;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) return i;
  }
  throw new Error('not a zip archive (truncated or corrupt file)');
}

export function readZip(buf: Buffer, limits: ZipLimits = defaultZipLimits): Map<string, ZipEntry> {
  const r = new Reader(buf);
  const eocd = findEndOfCentralDirectory(r);
  let count = r.u16(eocd + 10, 'entry count');
  let cdOffset = r.u32(eocd + 16, 'central directory offset');
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || r.u32(locator, 'zip64 locator') !== 0x07064b50) throw new Error('corrupt zip64 archive: no locator');
    const eocd64 = r.u64(locator + 8, 'zip64 end record offset');
    if (r.u32(eocd64, 'zip64 end record') !== 0x06064b50) throw new Error('corrupt zip64 archive: bad end record');
    count = r.u64(eocd64 + 32, 'zip64 entry count');
    cdOffset = r.u64(eocd64 + 48, 'zip64 central directory offset');
  }
  // Each central record takes at least 46 bytes: a count the file cannot hold is a lie.
  if (count > limits.maxEntries || cdOffset + 46 * count > buf.length) {
    throw new Error(`corrupt zip archive: its central directory (${count} entries at byte ${cdOffset}) does not fit in the file`);
  }
  const entries = new Map<string, ZipEntry>();
  let inflated = 0;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (r.u32(p, 'central directory') !== 0x02014b50) throw new Error('corrupt zip central directory');
    const flags = r.u16(p + 8, 'flags');
    const method = r.u16(p + 10, 'compression method');
    const crc = r.u32(p + 16, 'CRC');
    let compressedSize = r.u32(p + 20, 'compressed size');
    let uncompressedSize = r.u32(p + 24, 'size');
    const nameLen = r.u16(p + 28, 'name length');
    const extraLen = r.u16(p + 30, 'extra length');
    const commentLen = r.u16(p + 32, 'comment length');
    let offset = r.u32(p + 42, 'entry offset');
    r.check(p + 46, nameLen + extraLen + commentLen, 'entry name');
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (flags & 0x1) throw new Error(`zip entry ${name} is encrypted`);
    // Zip64: the fields that overflow 32 bits live in extra field 0x0001, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = r.u16(e, 'extra field');
      const size = r.u16(e + 2, 'extra field');
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressedSize === 0xffffffff) {
          uncompressedSize = r.u64(q, `size of ${name}`);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = r.u64(q, `compressed size of ${name}`);
          q += 8;
        }
        if (offset === 0xffffffff) offset = r.u64(q, `offset of ${name}`);
      }
      e += 4 + size;
    }
    if (entries.has(name)) throw new Error(`corrupt zip archive: entry ${name} appears twice`);
    if (method === 0 && compressedSize !== uncompressedSize) {
      throw new Error(`corrupt zip entry ${name}: stored with size ${compressedSize} but declares ${uncompressedSize}`);
    }
    if (method === 8) {
      inflated += uncompressedSize;
      if (uncompressedSize > BOMB_MIN_BYTES && uncompressedSize > BOMB_RATIO * compressedSize) {
        throw new Error(
          `zip entry ${name} would inflate ${compressedSize} bytes to ${uncompressedSize} (a decompression bomb); torch.save never compresses tensors`,
        );
      }
      if (inflated > limits.maxInflatedBytes) {
        throw new Error(`the archive would inflate to more than ${limits.maxInflatedBytes} bytes (a decompression bomb?)`);
      }
    }
    entries.set(name, { name, method, compressedSize, uncompressedSize, crc, offset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** The bytes of one entry: located, inflated up to its declared size, and CRC-checked. */
export function readEntry(buf: Buffer, entry: ZipEntry): Buffer {
  const r = new Reader(buf);
  const p = entry.offset;
  if (r.u32(p, `entry ${entry.name}`) !== 0x04034b50) throw new Error(`corrupt zip entry ${entry.name}`);
  const nameLen = r.u16(p + 26, 'name length');
  const start = p + 30 + nameLen + r.u16(p + 28, 'extra length');
  r.check(p + 30, nameLen, `name of ${entry.name}`);
  if (buf.toString('utf8', p + 30, p + 30 + nameLen) !== entry.name) {
    throw new Error(`corrupt zip entry ${entry.name}: its local header names another file`);
  }
  if (start + entry.compressedSize > buf.length) throw new Error(`truncated file: entry ${entry.name} runs past the end`);
  const raw = buf.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) {
    data = raw;
  } else if (entry.method === 8) {
    try {
      // maxOutputLength: inflation stops one byte past the declared size instead of following the stream.
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize + 1) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ERR_BUFFER_TOO_LARGE'
          ? `zip entry ${entry.name} inflates past its declared ${entry.uncompressedSize} bytes (a decompression bomb?)`
          : `zip entry ${entry.name} does not inflate: ${(err as Error).message}`,
      );
    }
    if (data.length !== entry.uncompressedSize) {
      throw new Error(`zip entry ${entry.name} inflates to ${data.length} bytes, not the declared ${entry.uncompressedSize}`);
    }
  } else {
    throw new Error(`zip entry ${entry.name} uses unsupported compression method ${entry.method}`);
  }
  if (crc32(data) !== entry.crc) {
    throw new Error(`zip entry ${entry.name} fails its CRC-32 check: the file is corrupt (re-download it)`);
  }
  return data;
}
