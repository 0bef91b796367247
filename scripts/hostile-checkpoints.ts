// A corpus of hostile torch.save files: each one crafted the way an attacker (or a broken
// download) would make it. test/hostile.test.ts loads every one and requires a clear error (or,
// for `__proto__` keys, a harmless load) within 2 s and 200 MB, with no code run.
//
//   node dist/scripts/hostile-checkpoints.js OUT_DIR   writes the corpus as files, to try by hand
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

export interface HostileFile {
  name: string;
  bytes: Buffer;
  /** The error it must be refused with; null where it must load harmlessly. */
  refusedWith: RegExp | null;
}

// ------------------------------------------------------------------ a tiny pickle writer

const op = (code: number, ...rest: Buffer[]): Buffer => Buffer.concat([Buffer.from([code]), ...rest]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const P = {
  proto: op(0x80, Buffer.from([2])),
  stop: op(0x2e),
  mark: op(0x28),
  emptyDict: op(0x7d),
  emptyList: op(0x5d),
  emptyTuple: op(0x29),
  tuple: op(0x74),
  tuple1: op(0x85),
  tuple2: op(0x86),
  setitem: op(0x73),
  setitems: op(0x75),
  append: op(0x61),
  reduce: op(0x52),
  persid: op(0x51),
  newFalse: op(0x89),
  str: (s: string): Buffer => op(0x58, u32(Buffer.byteLength(s)), Buffer.from(s)),
  global: (module: string, name: string): Buffer => op(0x63, Buffer.from(`${module}\n${name}\n`)),
  int: (n: number | bigint): Buffer => {
    if (typeof n === 'number' && n >= 0 && n < 256) return op(0x4b, Buffer.from([n]));
    // LONG1: little-endian two's complement, as many bytes as needed
    let v = BigInt(n);
    const bytes: number[] = [];
    do {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
    } while (v !== 0n && v !== -1n);
    if ((bytes[bytes.length - 1]! & 0x80) !== (v === -1n ? 0x80 : 0)) bytes.push(v === -1n ? 0xff : 0);
    return op(0x8a, Buffer.from([bytes.length]), Buffer.from(bytes));
  },
  binput: (i: number): Buffer => op(0x71, Buffer.from([i])),
  binget: (i: number): Buffer => op(0x68, Buffer.from([i])),
};
const tupleOf = (...items: Buffer[]): Buffer => Buffer.concat([P.mark, ...items, P.tuple]);

interface TensorSpec {
  storage?: string;
  storageType?: string;
  numel?: number | bigint;
  offset?: number | bigint;
  size?: (number | bigint)[];
  stride?: (number | bigint)[];
}

/** _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), as torch.save writes it. */
function tensorPickle(t: TensorSpec = {}): Buffer {
  const pid = tupleOf(
    P.str('storage'),
    P.global('torch', t.storageType ?? 'FloatStorage'),
    P.str(t.storage ?? '0'),
    P.str('cpu'),
    P.int(t.numel ?? 4),
  );
  return Buffer.concat([
    P.global('torch._utils', '_rebuild_tensor_v2'),
    P.mark,
    pid,
    P.persid,
    P.int(t.offset ?? 0),
    tupleOf(...(t.size ?? [4]).map(P.int)),
    tupleOf(...(t.stride ?? [1]).map(P.int)),
    P.newFalse,
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.tuple,
    P.reduce,
  ]);
}

/** A pickle of {key: value}. */
const dictPickle = (key: string, value: Buffer): Buffer =>
  Buffer.concat([P.proto, P.emptyDict, P.str(key), value, P.setitem, P.stop]);

// ------------------------------------------------------------------ a tiny zip writer

export interface Entry {
  name: string;
  data: Buffer;
  deflate?: boolean;
  /** Overrides of what the central directory declares. */
  crc?: number;
  declaredSize?: number;
  method?: number;
  flags?: number;
}

/** A zip archive of the entries (stored unless deflated), with CRCs, as torch.save's reader expects. */
export function zip(entries: Entry[], options: { count?: number; cdOffset?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    const method = e.method ?? (e.deflate ? 8 : 0);
    const crc = e.crc ?? crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.flags ?? 0, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(e.flags ?? 0, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.count ?? entries.length, 8);
  end.writeUInt16LE(options.count ?? entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(options.cdOffset ?? offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const floats = (n: number): Buffer => Buffer.from(new Float32Array(Array.from({ length: n }, (_, i) => i)).buffer);
/** A torch.save archive: data.pkl and the storages. */
const archive = (pkl: Buffer, storages: Record<string, Buffer> = { '0': floats(4) }, extra: Entry[] = []): Buffer =>
  zip([
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    ...extra,
  ]);
const tensorFile = (t: TensorSpec, storages?: Record<string, Buffer>): Buffer =>
  archive(dictPickle('weight', tensorPickle(t)), storages);

// ------------------------------------------------------------------ the corpus

export function hostileCheckpoints(): HostileFile[] {
  const files: HostileFile[] = [];
  const add = (name: string, bytes: Buffer, refusedWith: RegExp | null): void => {
    files.push({ name, bytes, refusedWith });
  };
  const crafted = /crafted file|not an index/;

  // Views that reach outside their storage: libtorch's own check overflows for these.
  add('offset-near-2^63.pt', tensorFile({ offset: 2n ** 63n - 2n }), crafted);
  add('offset-2^61-times-element-size-overflows.pt', tensorFile({ offset: 2n ** 62n }), crafted);
  add('offset-2^64.pt', tensorFile({ offset: 2n ** 64n }), crafted);
  add('offset-past-end.pt', tensorFile({ offset: 1 }), crafted);
  add('size-2^70.pt', tensorFile({ size: [2n ** 70n] }), crafted);
  add('size-too-large.pt', tensorFile({ size: [5] }), crafted);
  add('negative-size.pt', tensorFile({ size: [-4] }), crafted);
  add('negative-stride.pt', tensorFile({ size: [2], stride: [-1] }), crafted);
  add('stride-overflow.pt', tensorFile({ size: [2, 2], stride: [2n ** 62n, 1] }), crafted);
  add('size-stride-mismatch.pt', tensorFile({ size: [2, 2], stride: [1] }), /2 sizes but 1 strides/);
  add(
    'storage-declares-more-than-present.pt',
    tensorFile({ numel: 1 << 30 }),
    /declares 1073741824 float32 elements but holds 16 bytes/,
  );
  add(
    'storage-odd-bytes.pt',
    tensorFile({ numel: 2, size: [1] }, { '0': Buffer.alloc(7) }),
    /declares 2 float32 elements but holds 7 bytes/,
  );
  add('storage-missing.pt', tensorFile({ storage: '9' }), /storage 9 missing/);
  add(
    'storage-unknown-type.pt',
    tensorFile({ storageType: 'ComplexFloatStorage' }),
    /refused to load 'torch.ComplexFloatStorage'/,
  );

  // Decompression bombs: 256 MiB of zeros in 256 KB, with a lying and with an honest declared size.
  const zeros = Buffer.alloc(256 << 20);
  const bomb = (declaredSize: number): Buffer =>
    zip([
      {
        name: 'archive/data.pkl',
        data: dictPickle('weight', tensorPickle({ numel: declaredSize / 4, size: [declaredSize / 4] })),
      },
      { name: 'archive/data/0', data: zeros, deflate: true, declaredSize },
    ]);
  add('zip-bomb-lying-size.pt', bomb(1024), /inflates past its declared 1024 bytes/);
  add('zip-bomb-honest-size.pt', bomb(zeros.length), /decompression bomb/);
  add(
    'zip-bomb-pickle.pt',
    zip([
      {
        name: 'archive/data.pkl',
        data: Buffer.concat([P.proto, P.str('x'.repeat(1 << 20)), P.stop]),
        deflate: true,
        declaredSize: 100,
      },
    ]),
    /inflates past/,
  );

  // Reference bombs and malformed pickles.
  const laughs: Buffer[] = [P.proto, P.emptyList, P.binput(0)];
  for (let i = 1; i <= 60; i++) laughs.push(P.mark, P.binget(i - 1), P.binget(i - 1), op(0x6c), P.binput(i % 256));
  laughs.push(P.stop);
  add('memo-bomb-60-deep.pt', archive(Buffer.concat(laughs), {}), /reference bomb/);
  add(
    'cyclic-list.pt',
    archive(Buffer.concat([P.proto, P.emptyList, P.binput(0), P.binget(0), P.append, P.stop]), {}),
    /contains itself/,
  );
  add(
    'nested-100k.pt',
    archive(Buffer.concat([P.proto, ...Array(100_000).fill(P.emptyList), ...Array(99_999).fill(P.append), P.stop]), {}),
    /nested more than/,
  );
  add('memo-missing.pt', archive(Buffer.concat([P.proto, P.binget(7), P.stop]), {}), /memo entry 7 is missing/);
  add('stack-underflow.pt', archive(Buffer.concat([P.proto, P.setitem, P.stop]), {}), /stack underflow/);
  add('string-past-end.pt', archive(Buffer.concat([P.proto, op(0x58, u32(0xfffffff0)), P.stop]), {}), /truncated pickle/);
  add('no-stop.pt', archive(Buffer.concat([P.proto, P.emptyDict]), {}), /truncated pickle/);
  add(
    'tuple-key.pt',
    archive(Buffer.concat([P.proto, P.emptyDict, tupleOf(P.int(1)), P.int(2), P.setitem, P.stop]), {}),
    /unsupported dict key/,
  );
  add('unknown-opcode.pt', archive(Buffer.concat([P.proto, op(0x69), P.stop]), {}), /unsupported pickle opcode 0x69/);

  // Code payloads.
  const system = Buffer.concat([P.global('os', 'system'), P.str('touch /tmp/distill-pwned'), P.tuple1, P.reduce]);
  add('os-system.pt', archive(dictPickle('x', system), {}), /refused to load 'os.system'/);
  add(
    'builtins-eval-stack-global.pt',
    archive(Buffer.concat([P.proto, P.str('builtins'), P.str('eval'), op(0x93), P.str('1'), P.tuple1, P.reduce, P.stop]), {}),
    /refused to load 'builtins.eval'/,
  );
  add(
    'pickled-module.pt',
    archive(dictPickle('model', Buffer.concat([P.global('torch.nn.modules.conv', 'Conv2d'), P.emptyTuple, P.reduce])), {}),
    /refused to load 'torch.nn.modules.conv.Conv2d'/,
  );
  add(
    'allowed-global-called-with-code.pt',
    archive(
      dictPickle('x', Buffer.concat([P.global('torch._utils', '_rebuild_parameter'), P.str('os'), P.tuple1, P.reduce])),
      {},
    ),
    /not a tensor/,
  );
  add('legacy-format-os-system.pt', Buffer.concat([P.proto, system, P.stop]), /legacy .* not supported/);
  add(
    'torchscript-code.pt',
    archive(dictPickle('m', Buffer.concat([P.global('__torch__.Model', 'Model'), P.emptyTuple, P.reduce])), {}, [
      { name: 'archive/code/__torch__.py', data: Buffer.from('import os\nos.system("x")') },
    ]),
    /refused to load '__torch__.Model.Model'/,
  );

  for (const [module, name] of [
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['__builtin__', 'getattr'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['torch', 'load'],
  ]) {
    add(
      `global-${module}.${name}.pt`,
      archive(dictPickle('x', Buffer.concat([P.global(module, name), P.emptyTuple, P.reduce])), {}),
      new RegExp(`refused to load '${module}.${name}'`),
    );
  }
  add(
    'rebuild-without-args.pt',
    archive(dictPickle('w', Buffer.concat([P.global('torch._utils', '_rebuild_tensor_v2'), P.emptyTuple, P.reduce])), {}),
    /a tensor without a storage/,
  );

  // A `__proto__` key loads as a plain key and replaces no prototype.
  add(
    'proto-key.pt',
    archive(
      Buffer.concat([
        P.proto,
        P.emptyDict,
        P.str('__proto__'),
        P.emptyDict,
        P.str('polluted'),
        P.str('yes'),
        P.setitem,
        P.setitem,
        P.stop,
      ]),
      {},
    ),
    null,
  );

  // Zip structure.
  const good = tensorFile({});
  add(
    'crc-mismatch.pt',
    zip([
      { name: 'archive/data.pkl', data: dictPickle('weight', tensorPickle()) },
      { name: 'archive/data/0', data: floats(4), crc: 1234 },
    ]),
    /CRC-32/,
  );
  add(
    'entry-count-65534.pt',
    zip([{ name: 'archive/data.pkl', data: dictPickle('a', P.int(1)) }], { count: 65534 }),
    /does not fit in the file/,
  );
  add(
    'central-directory-past-end.pt',
    zip([{ name: 'archive/data.pkl', data: dictPickle('a', P.int(1)) }], { cdOffset: 0x7fffffff }),
    /does not fit in the file|outside the file/,
  );
  add(
    'duplicate-entry.pt',
    zip([
      { name: 'archive/data.pkl', data: dictPickle('a', P.int(1)) },
      { name: 'archive/data.pkl', data: dictPickle('a', P.int(2)) },
    ]),
    /appears twice/,
  );
  add('encrypted-entry.pt', zip([{ name: 'archive/data.pkl', data: dictPickle('a', P.int(1)), flags: 1 }]), /encrypted/);
  add(
    'bzip2-entry.pt',
    zip([{ name: 'archive/data.pkl', data: dictPickle('a', P.int(1)), method: 12 }]),
    /unsupported compression method 12/,
  );
  add('stored-size-lie.pt', zip([{ name: 'archive/data.pkl', data: dictPickle('a', P.int(1)), declaredSize: 5 }]), /declares 5/);
  add(
    'two-data-pkl.pt',
    zip([
      { name: 'a/data.pkl', data: dictPickle('a', P.int(1)) },
      { name: 'b/data.pkl', data: dictPickle('a', P.int(1)) },
    ]),
    /more than one data.pkl/,
  );
  add('empty.pt', Buffer.alloc(0), /not a PyTorch file/);
  const renamed = Buffer.from(good);
  renamed.write('z', renamed.indexOf('archive/data.pkl') + 8); // the local header's name, not the central one
  add('local-name-differs.pt', renamed, /corrupt zip entry/);
  for (const cut of [4, 40, Math.floor(good.length / 2), good.length - 30, good.length - 1]) {
    add(`truncated-at-${cut}.pt`, good.subarray(0, cut), /zip|truncated|corrupt|outside the file/);
  }
  return files;
}

if (process.argv[1]?.endsWith('hostile-checkpoints.js') && process.argv[2]) {
  const out = process.argv[2];
  mkdirSync(out, { recursive: true });
  for (const f of hostileCheckpoints()) writeFileSync(path.join(out, f.name), f.bytes);
  console.log(`wrote ${hostileCheckpoints().length} files to ${out}`);
}
