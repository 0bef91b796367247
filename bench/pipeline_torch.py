#!/usr/bin/env python3
"""PyTorch side of bench/pipeline.ts: mdistiller's KD loop over CIFAR-100 records through
torchvision's transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize on
PIL images, as mdistiller's get_cifar100_dataloaders) and a DataLoader with `workers` processes,
against the same step on one batch made beforehand. The second epoch is measured.

Usage: pipeline_torch.py TRAIN_BIN THREADS WORKERS CHANNELS_LAST(0|1) -> {pipeline, bare} img/s
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from steps_torch import PAIRS, kd_loss


class Cifar100Records(Dataset):
    def __init__(self, file, transform):
        raw = np.fromfile(file, dtype=np.uint8).reshape(-1, 3074)
        self.labels = raw[:, 1].astype(np.int64)
        self.images = raw[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def main(file, threads, workers, channels_last):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    ])
    data = Cifar100Records(file, transform)
    loader = DataLoader(data, batch_size=64, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0)
    make_teacher, make_student = PAIRS["resnet32x4-resnet8x4"]
    teacher, student = make_teacher().eval(), make_student()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    teacher, student = teacher.to(memory_format=fmt), student.to(memory_format=fmt)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def step(x, y):
        x = x.contiguous(memory_format=fmt)
        logits_s, _ = student(x)
        with torch.no_grad():
            logits_t, _ = teacher(x)
        loss = 0.1 * F.cross_entropy(logits_s, y) + 0.9 * kd_loss(logits_s, logits_t, 4)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    rates = []
    for _ in range(2):
        start, seen = time.perf_counter(), 0
        for x, y in loader:
            step(x, y)
            seen += x.shape[0]
        rates.append(seen / (time.perf_counter() - start))
    x, y = next(iter(loader))
    for _ in range(3):
        step(x, y)
    start = time.perf_counter()
    n = len(loader)
    for _ in range(n):
        step(x, y)
    bare = 64 * n / (time.perf_counter() - start)
    return {"pipeline": rates[-1], "bare": bare}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")))
