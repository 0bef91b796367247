#!/usr/bin/env bash
# Installs everything distill-ts needs on a Debian machine: libtorch (and an optimised BLAS),
# the embedded Fashion-MNIST data set, the npm dependencies and the native addon.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
[ -e /usr/include/ATen/ATen.h ] || [ -n "${LIBTORCH:-}" ] || need+=(libtorch-dev)
[ -e /usr/include/jpeglib.h ] || need+=(libjpeg62-turbo-dev) # the loader decodes JPEGs with libjpeg-turbo, as Pillow
[ -e /usr/include/gloo/algorithm.h ] || need+=(libgloo-dev) # distributed training (c10d with Gloo) builds against its headers
[ -e /usr/include/dnnl.hpp ] || need+=(libdnnl-dev) # the frozen teacher's Winograd convolutions (native/onednn.cc)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core) # text in the PNG plots
command -v chromium >/dev/null 2>&1 || need+=(chromium) # the dashboard's tests drive a real browser
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (libtorch-dev is about 1 GB; this takes a few minutes)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
# onnxruntime-node (a development dependency: the ONNX export tests run the exported files) would
# download CUDA providers from outside the npm registry; its CPU build ships inside the package.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
