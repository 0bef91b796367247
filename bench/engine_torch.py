#!/usr/bin/env python3
"""PyTorch side of bench/engine.ts: the same CIFAR ResNet training step, timed.

Usage: engine_torch.py MODEL THREADS STEPS CHANNELS_LAST(0|1)  -> prints one JSON line.
Also: engine_torch.py overhead THREADS -> per-call time of torch.add on 1-element tensors.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        pre = self.bn2(self.conv2(h)) + (self.downsample(x) if self.downsample is not None else x)
        return F.relu(pre), pre


class ResNet(nn.Module):
    def __init__(self, depth, filters, num_classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, filters[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        layers, inplanes = [], filters[0]
        for i, (planes, stride) in enumerate(zip(filters[1:], [1, 2, 2])):
            blocks = [Block(inplanes, planes, stride)] + [Block(planes, planes) for _ in range(n - 1)]
            inplanes = planes
            layers.append(nn.ModuleList(blocks))
        self.layers = nn.ModuleList(layers)
        self.fc = nn.Linear(filters[3], num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        feats = [x]
        for layer in self.layers:
            for b in layer:
                x, pre = b(x)
            feats.append(x)
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(pooled), feats


MODELS = {'resnet20': (20, [16, 16, 32, 64]), 'resnet8x4': (8, [32, 64, 128, 256])}


def timed(step, steps, batch=64):
    """Images per second of `steps` calls of `step` after 3 warm-up calls."""
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def train(name, threads, steps, channels_last):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ResNet(*MODELS[name])
    x = torch.randn(64, 3, 32, 32)
    y = torch.randint(0, 100, (64,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def step():
        logits, _ = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {'img_s': timed(step, steps)}


def overhead(threads):
    torch.set_num_threads(threads)
    a, b = torch.ones(1), torch.ones(1)
    for _ in range(1000):
        torch.add(a, b)
    n = 100000
    start = time.perf_counter()
    for _ in range(n):
        torch.add(a, b)
    return {'us_per_call': (time.perf_counter() - start) / n * 1e6}


if __name__ == '__main__':
    if sys.argv[1] == 'overhead':
        print(json.dumps(overhead(int(sys.argv[2]))))
    else:
        print(json.dumps(train(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1')))
