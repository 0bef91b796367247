#!/usr/bin/env python3
"""PyTorch side of bench/profile.ts: mdistiller's KD step split into phases, ms per step.

Usage: profile_torch.py THREADS CHANNELS_LAST(0|1) STEPS [PAIR] -> one JSON line of phase times."""
import json
import sys
import time

import torch
import torch.nn.functional as F

from steps_torch import PAIRS, kd_loss


def main(threads, channels_last, steps, pair="resnet32x4-resnet8x4"):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    make_teacher, make_student = PAIRS[pair]
    teacher, student = make_teacher().eval(), make_student()
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 100, (64,))
    if channels_last:
        teacher, student = teacher.to(memory_format=torch.channels_last), student.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    names = ["teacher", "studentForward", "losses", "backward", "optimizer"]
    total = dict.fromkeys(names + ["other", "total"], 0.0)

    def step(record):
        t = [time.perf_counter()]
        with torch.no_grad():
            zt, _ = teacher(x)
        t.append(time.perf_counter())
        zs, _ = student(x)
        t.append(time.perf_counter())
        loss = 0.1 * F.cross_entropy(zs, y) + 0.9 * kd_loss(zs, zt, 4)
        opt.zero_grad(set_to_none=True)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        loss.item()
        if record:
            for i, n in enumerate(names):
                total[n] += (t[i + 1] - t[i]) * 1000
            total["total"] += (time.perf_counter() - t[0]) * 1000

    for _ in range(3):
        step(False)
    for _ in range(steps):
        step(True)
    out = {k: v / steps for k, v in total.items()}
    out["other"] = out["total"] - sum(out[n] for n in names)
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]), *sys.argv[4:5])))
