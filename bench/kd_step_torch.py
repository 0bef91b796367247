#!/usr/bin/env python3
"""PyTorch side of bench/kd-step.ts: mdistiller's KD step, timed.

Teacher resnet32x4 (eval, no_grad), student resnet8x4, CE x 0.1 + KD (T 4) x 0.9 as mdistiller's
distillers/KD.py, SGD momentum 0.9, weight decay 5e-4, batch 64 at 32x32 (CIFAR-100 shapes).
Usage: kd_step_torch.py THREADS STEPS CHANNELS_LAST(0|1) -> one JSON line {img_s, peak_rss_mb}.
The allocator is chosen by the caller's environment (LD_PRELOAD, MALLOC_CONF, GLIBC_TUNABLES).
"""
import json
import resource
import sys

import torch
import torch.nn.functional as F

from engine_torch import ResNet, timed


def kd_loss(logits_student, logits_teacher, temperature):
    log_pred_student = F.log_softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    loss_kd = F.kl_div(log_pred_student, pred_teacher, reduction="none").sum(1).mean()
    return loss_kd * temperature**2


def main(threads, steps, channels_last):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    teacher = ResNet(32, [32, 64, 128, 256]).eval()
    student = ResNet(8, [32, 64, 128, 256])
    x = torch.randn(64, 3, 32, 32)
    y = torch.randint(0, 100, (64,))
    if channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)
        student = student.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def step():
        logits_s, _ = student(x)
        with torch.no_grad():
            logits_t, _ = teacher(x)
        loss = 0.1 * F.cross_entropy(logits_s, y) + 0.9 * kd_loss(logits_s, logits_t, 4)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    img_s = timed(step, steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"img_s": img_s, "peak_rss_mb": peak}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1")))
