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

// Distributed training needs c10d's headers (in libtorch) and Gloo's (Debian's libgloo-dev, or a
// libtorch that ships them); NCCL comes with a CUDA libtorch. Without them the addon builds
// without distributed training and says so when it is asked for.
function distributedDefines(found) {
  const torchInc = found.includes[0].replace(/torch[/]csrc[/]api[/]include$/, '');
  const roots = [...new Set([torchInc, '/usr/include', '/usr/local/include'])];
  const has = (rel) => roots.some((r) => fs.existsSync(path.join(r, rel)));
  if (!has('torch/csrc/distributed/c10d/ProcessGroupGloo.hpp') || !has('gloo/algorithm.h')) return [];
  const defines = ['DISTILL_DISTRIBUTED', 'USE_DISTRIBUTED', 'USE_C10D_GLOO'];
  const cuda = fs.existsSync(path.join(found.libdir, 'libtorch_cuda.so'));
  if (
    cuda &&
    has('torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp') &&
    (has('nccl.h') || fs.existsSync('/usr/local/cuda/include/nccl.h'))
  )
    defines.push('DISTILL_NCCL', 'USE_C10D_NCCL');
  return defines;
}

// Winograd convolutions for frozen networks (native/onednn.cc) build against oneDNN's headers
// (Debian's libdnnl-dev) and the libdnnl that libtorch itself loads: Debian's libtorch links the
// shared library, so both use one oneDNN. Another libtorch (LIBTORCH=/path: pytorch.org's builds
// carry their own oneDNN, often another major version) builds without it, as does a machine
// without the headers: then every convolution runs through libtorch.
function oneDnn(found) {
  if (process.env.LIBTORCH) return false;
  const header = ['/usr/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp'].some((f) => fs.existsSync(f));
  const lib = ['/usr/lib/x86_64-linux-gnu', found.libdir].some((d) => fs.existsSync(path.join(d, 'libdnnl.so')));
  return header && lib;
}

const what = process.argv[2];
const found = locate();
if (what === 'check') process.exit(0);
if (what === 'includes') console.log(found.includes.join(' '));
else if (what === 'defines') console.log([...distributedDefines(found), ...(oneDnn(found) ? ['DISTILL_ONEDNN'] : [])].join(' '));
else if (what === 'libs') {
  const libs = ['torch', 'torch_cpu', 'c10'];
  if (oneDnn(found)) libs.push('dnnl');
  for (const extra of ['torch_cuda', 'c10_cuda']) {
    if (fs.existsSync(path.join(found.libdir, `lib${extra}.so`))) libs.push(extra);
  }
  const flags = [`-L${found.libdir}`, `-Wl,-rpath,${found.libdir}`, '-Wl,--no-as-needed'];
  flags.push(...libs.map((l) => `-l${l}`), '-Wl,--as-needed');
  console.log(flags.join(' '));
}
