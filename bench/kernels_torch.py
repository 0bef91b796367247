#!/usr/bin/env python3
"""PyTorch side of bench/kernels.ts: resnet8x4's convolutions and BatchNorm + ReLU alone, channels-last.

Usage: kernels_torch.py THREADS REPS -> one JSON line {name: [forward ms, backward ms]}.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels_shapes.json")) as f:
    SHAPES = json.load(f)
BATCH, CONVS, NORMS = SHAPES["batch"], SHAPES["convs"], SHAPES["norms"]


def timed(fn, reps):
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1000


def main(threads, reps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cl = torch.channels_last
    out = {}
    for ci, co, size, k, stride in CONVS:
        x = torch.randn(BATCH, ci, size, size).contiguous(memory_format=cl).requires_grad_()
        w = torch.randn(co, ci, k, k).contiguous(memory_format=cl).requires_grad_()
        conv = lambda: F.conv2d(x, w, None, stride, k // 2)  # noqa: E731
        g = torch.randn_like(conv())

        def both():
            x.grad = w.grad = None
            conv().backward(g)

        fwd = timed(conv, reps)
        out[f"conv {ci}->{co} {k}x{k} s{stride} at {size}x{size}"] = [fwd, timed(both, reps) - fwd]
    for c, size in NORMS:
        x = torch.randn(BATCH, c, size, size).contiguous(memory_format=cl).requires_grad_()
        weight, bias = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
        mean, var = torch.zeros(c), torch.ones(c)
        norm = lambda: F.relu(F.batch_norm(x, mean, var, weight, bias, True, 0.1, 1e-5))  # noqa: E731
        g = torch.randn_like(norm())

        def both():
            x.grad = weight.grad = bias.grad = None
            norm().backward(g)

        fwd = timed(norm, reps)
        out[f"batch_norm + relu {c} at {size}x{size}"] = [fwd, timed(both, reps) - fwd]
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
