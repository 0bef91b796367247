#!/usr/bin/env python3
"""PyTorch's own DistributedDataParallel (gloo, two processes) on a small CNN with BatchNorm:
the reference of test/distributed.test.ts. Rank 1 starts from other weights (DDP broadcasts rank
0's), each rank trains on its half (samples r, r + 2, ...) of every global batch, SGD with
momentum and weight decay; broadcast_buffers on (PyTorch's default). Writes
test/fixtures/ddp.json: rank 0's initial state, the batches, every rank's loss per step, and the
final state. Development time only (python3-torch 1.13); run: /usr/bin/python3 scripts/make_ddp_fixture.py
"""
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

STEPS, GLOBAL_BATCH, CLASSES = 10, 16, 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'ddp.json')


def enc(t):
    t = t.detach()
    dtype = {torch.float32: 'float32', torch.int64: 'int64'}[t.dtype]
    return {'shape': list(t.shape), 'dtype': dtype, 'data': t.to(torch.float64).flatten().tolist()}


def network():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, CLASSES))


def worker(rank, world, queue):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = '29561'
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(100 + rank)  # different weights on each rank: DDP starts from rank 0's
    model = network()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(7)
    xs = torch.randn(STEPS, GLOBAL_BATCH, 3, 8, 8, generator=gen)
    ys = torch.randint(0, CLASSES, (STEPS, GLOBAL_BATCH), generator=gen)
    losses = []
    for s in range(STEPS):
        x, y = xs[s, rank::world], ys[s, rank::world]
        loss = nn.functional.cross_entropy(ddp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    queue.put((rank, losses, {k: enc(v) for k, v in initial.items()},
               {k: enc(v) for k, v in model.state_dict().items()}, enc(xs), enc(ys)))
    dist.destroy_process_group()


def main():
    world = 2
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, world, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = sorted([queue.get() for _ in procs], key=lambda r: r[0])
    for p in procs:
        p.join()
    out = {
        'torch': torch.__version__, 'steps': STEPS, 'globalBatch': GLOBAL_BATCH, 'classes': CLASSES,
        'sgd': {'lr': 0.1, 'momentum': 0.9, 'weightDecay': 5e-4},
        'initial': results[0][2], 'inputs': results[0][4], 'labels': results[0][5],
        'losses': [r[1] for r in results], 'final': results[0][3], 'finalRank1': results[1][3],
    }
    with open(OUT, 'w') as f:
        json.dump(out, f)
    print('wrote', OUT, 'losses', out['losses'][0][:3], '...')


if __name__ == '__main__':
    sys.exit(main())
