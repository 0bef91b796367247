#!/usr/bin/env node
// Prints compiler/linker flags for the libtorch install the addon builds against.
// Default: Debian's libtorch-dev (system paths). LIBTORCH=/path selects another install
// (for instance a CUDA build from pytorch.org) with no code change.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function fail() {
  const where = process.env.LIBTORCH ? `LIBTORCH=${process.env.LIBTORCH}` : 'the system paths';
  process.stderr.write(
    `distill-ts: libtorch not found in ${where}: install it with 'apt-get install libtorch-dev' or set LIBTORCH=/path/to/libtorch\n`,
  );
  process.exit(1);
}

function locate() {
  const root = process.env.LIBTORCH;
  if (root) {
    const inc = path.join(root, 'include');
    const lib = path.join(root, 'lib');
    if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h')) || !fs.existsSync(path.join(lib, 'libtorch_cpu.so'))) fail();
    return { includes: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], libdir: lib };
  }
  const libdir = '/usr/lib/x86_64-linux-gnu';
  if (!fs.existsSync('/usr/include/ATen/ATen.h') || !fs.existsSync(path.join(libdir, 'libtorch_cpu.so'))) fail();
  return { includes: ['/usr/include/torch/csrc/api/include'], libdir };
}

const what = process.argv[2];
const found = locate();
if (what === 'check') process.exit(0);
if (what === 'includes') console.log(found.includes.join(' '));
else if (what === 'libs') {
  const libs = ['torch', 'torch_cpu', 'c10'];
  for (const extra of ['torch_cuda', 'c10_cuda']) {
    if (fs.existsSync(path.join(found.libdir, `lib${extra}.so`))) libs.push(extra);
  }
  const flags = [`-L${found.libdir}`, `-Wl,-rpath,${found.libdir}`, '-Wl,--no-as-needed'];
  flags.push(...libs.map((l) => `-l${l}`), '-Wl,--as-needed');
  console.log(flags.join(' '));
}
