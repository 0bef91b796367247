#!/usr/bin/env python3
"""Reference values for the engine tests, computed by PyTorch (Debian's python3-torch).

Run from the repository root with `npm run fixtures` (= /usr/bin/python3 scripts/make_fixtures.py).
Writes test/fixtures/ops.json (op values and gradients), cnn.json (a small CNN and its weights after
5 SGD steps) and the serialization fixtures. Never a runtime dependency: the outputs are committed.
"""
import collections
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
DTYPES = {torch.float32: 'float32', torch.float64: 'float64', torch.int64: 'int64', torch.bool: 'bool',
          torch.int32: 'int32', torch.uint8: 'uint8'}


def enc(t):
    t = t.detach()
    data = t.to(torch.float64).flatten().tolist() if t.dtype != torch.bool else t.to(torch.int64).flatten().tolist()
    return {'shape': list(t.shape), 'dtype': DTYPES[t.dtype], 'data': data}


def make_input(spec, gen):
    """A trailing '!' marks an input without gradient. 'n:2,3' normal, 'p:2,3' positive, 'u:2,3' uniform(-1,1), 'i:4:10' ints in [0,10), 'b:2,3' bool."""
    kind, rest = spec.rstrip('!').split(':', 1)
    if kind == 'i':
        shape, high = rest.rsplit(':', 1)
        return torch.randint(0, int(high), [int(s) for s in shape.split(',')], generator=gen)
    shape = [int(s) for s in rest.split(',')] if rest else []
    if kind == 'n':
        return torch.randn(shape, generator=gen)
    if kind == 'p':
        return torch.rand(shape, generator=gen) + 0.5
    if kind == 'u':
        return torch.rand(shape, generator=gen) * 2 - 1
    if kind == 'b':
        return torch.rand(shape, generator=gen) > 0.5
    raise ValueError(spec)


def cotangent(out):
    return torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)


CASES = []


def case(name, specs, fn, grad=True):
    CASES.append((name, specs, fn, grad))


# arithmetic and math
case('add', ['n:3,4', 'n:3,4'], lambda a, b: a + b)
case('add_alpha', ['n:3,4', 'n:3,4'], lambda a, b: torch.add(a, b, alpha=0.5))
case('add_scalar', ['n:3,4'], lambda a: a + 2.5)
case('add_broadcast', ['n:3,1', 'n:1,4'], lambda a, b: a + b)
case('add_promote_int', ['i:3,4:10', 'n:3,4'], lambda a, b: a + b, grad=False)
case('mul_int_by_float', ['i:5:10'], lambda a: a * 2.5, grad=False)
case('sub', ['n:3,4', 'n:4'], lambda a, b: a - b)
case('mul', ['n:3,4', 'n:3,4'], lambda a, b: a * b)
case('mul_scalar', ['n:3,4'], lambda a: a * -1.5)
case('div', ['n:3,4', 'p:3,4'], lambda a, b: a / b)
case('div_scalar', ['n:3,4'], lambda a: a / 3.0)
case('div_floor', ['n:3,4', 'p:3,4'], lambda a, b: torch.div(a, b, rounding_mode='floor'), grad=False)
case('neg', ['n:3,4'], lambda a: -a)
case('pow_scalar', ['n:3,4'], lambda a: a ** 3)
case('pow_tensor', ['p:3,4', 'n:3,4'], lambda a, b: a ** b)
case('sqrt', ['p:3,4'], torch.sqrt)
case('rsqrt', ['p:3,4'], torch.rsqrt)
case('exp', ['n:3,4'], torch.exp)
case('log', ['p:3,4'], torch.log)
case('abs', ['n:3,4'], torch.abs)
case('sign', ['n:3,4'], torch.sign)
case('clamp', ['n:3,4'], lambda a: torch.clamp(a, min=-0.5, max=0.7))
case('clamp_min', ['n:3,4'], lambda a: torch.clamp(a, min=0.1))
case('sigmoid', ['n:3,4'], torch.sigmoid)
case('tanh', ['n:3,4'], torch.tanh)
case('relu', ['n:3,4'], torch.relu)
case('maximum', ['n:3,4', 'n:3,4'], torch.maximum)
case('minimum', ['n:3,4', 'n:3,4'], torch.minimum)
case('reciprocal', ['p:3,4'], torch.reciprocal)
case('square', ['n:3,4'], torch.square)
case('floor', ['n:3,4'], torch.floor, grad=False)
case('round', ['n:3,4'], torch.round, grad=False)
# comparisons
case('eq', ['i:3,4:3', 'i:3,4:3'], torch.eq, grad=False)
case('gt_scalar', ['n:3,4'], lambda a: a > 0.1, grad=False)
case('le', ['n:3,4', 'n:3,4'], torch.le, grad=False)
case('where', ['b:3,4', 'n:3,4', 'n:3,4'], torch.where)
case('masked_fill', ['n:3,4', 'b:3,4'], lambda a, m: a.masked_fill(m, -1.0))
# reductions
case('sum_all', ['n:3,4'], torch.sum)
case('sum_dim_keepdim', ['n:3,4,5'], lambda a: a.sum(dim=(0, 2), keepdim=True))
case('mean_dim', ['n:3,4,5'], lambda a: a.mean(dim=1))
case('var_dim', ['n:3,4,5'], lambda a: a.var(dim=2))
case('var_biased', ['n:3,4'], lambda a: a.var(dim=1, unbiased=False, keepdim=True))
case('std_all', ['n:3,4'], torch.std)
case('max_all', ['n:3,4'], torch.max)
case('max_dim', ['n:3,4'], lambda a: tuple(torch.max(a, dim=1)))
case('min_dim_keepdim', ['n:3,4'], lambda a: tuple(torch.min(a, dim=0, keepdim=True)))
case('argmax_dim', ['n:3,4'], lambda a: torch.argmax(a, dim=1), grad=False)
case('argmax_all', ['n:3,4'], torch.argmax, grad=False)
case('norm_dim', ['n:3,4'], lambda a: torch.linalg.vector_norm(a, 2, dim=1))
case('norm_p1_all', ['n:3,4'], lambda a: torch.linalg.vector_norm(a, 1))
case('logsumexp', ['n:3,4'], lambda a: torch.logsumexp(a, dim=1))
case('cumsum', ['n:3,4'], lambda a: torch.cumsum(a, dim=1))
case('prod', ['p:2,3'], torch.prod)
# linear algebra and sorting
case('matmul', ['n:3,4', 'n:4,2'], torch.matmul)
case('matmul_broadcast', ['n:2,3,4', 'n:4,5'], torch.matmul)
case('mm', ['n:3,4', 'n:4,2'], torch.mm)
case('bmm', ['n:2,3,4', 'n:2,4,2'], torch.bmm)
case('t', ['n:3,4'], torch.t)
case('topk', ['n:3,6'], lambda a: tuple(torch.topk(a, 2, dim=1)))
case('topk_smallest', ['n:3,6'], lambda a: tuple(torch.topk(a, 3, dim=0, largest=False)))
case('sort', ['n:3,5'], lambda a: tuple(torch.sort(a, dim=1)))
case('sort_desc', ['n:3,5'], lambda a: tuple(torch.sort(a, dim=0, descending=True)))
# shapes and views
case('reshape', ['n:3,4'], lambda a: a.reshape(2, 6))
case('view_infer', ['n:3,4'], lambda a: a.view(-1, 2))
case('permute', ['n:2,3,4'], lambda a: a.permute(2, 0, 1))
case('transpose', ['n:2,3,4'], lambda a: a.transpose(0, 2))
case('flatten', ['n:2,3,4'], lambda a: a.flatten(1))
case('squeeze', ['n:3,1,4,1'], lambda a: a.squeeze())
case('squeeze_dim', ['n:3,1,4,1'], lambda a: a.squeeze(1))
case('unsqueeze', ['n:3,4'], lambda a: a.unsqueeze(1))
case('expand', ['n:3,1'], lambda a: a.expand(3, 4))
case('cat', ['n:2,3', 'n:4,3'], lambda a, b: torch.cat([a, b], dim=0))
case('stack', ['n:2,3', 'n:2,3'], lambda a, b: torch.stack([a, b], dim=1))
case('split', ['n:5,3'], lambda a: tuple(torch.split(a, 2, dim=0)))
case('split_sizes', ['n:5,3'], lambda a: tuple(torch.split(a, [1, 4], dim=0)))
case('chunk', ['n:6,3'], lambda a: tuple(torch.chunk(a, 3, dim=0)))
case('narrow', ['n:5,4'], lambda a: a.narrow(1, 1, 2))
case('index_mixed', ['n:3,4,5', 'i:2:5'], lambda a, i: a[0, 1:3, i])
case('index_step', ['n:6,4'], lambda a: a[1:6:2])
case('index_bool', ['n:3,4', 'b:3'], lambda a, m: a[m])
case('index_select', ['n:5,3', 'i:4:5'], lambda a, i: torch.index_select(a, 0, i))
case('gather', ['n:3,4', 'i:3,2:4'], lambda a, i: torch.gather(a, 1, i))
case('scatter', ['n:3,4', 'i:3,1:4', 'n:3,1'], lambda a, i, s: a.scatter(1, i, s))
case('scatter_value', ['n:3,4', 'i:3,1:4'], lambda a, i: a.scatter(1, i, 5.0))
case('flip', ['n:3,4'], lambda a: torch.flip(a, [0, 1]))
case('repeat', ['n:2,3'], lambda a: a.repeat(2, 1, 2))
case('channels_last', ['n:2,3,4,5'], lambda a: a.contiguous(memory_format=torch.channels_last) * 2)
# nn.functional
case('conv2d', ['n:2,3,6,6', 'n:4,3,3,3', 'n:4'], lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1))
case('conv2d_dilation', ['n:1,2,7,7', 'n:3,2,3,3'], lambda x, w: F.conv2d(x, w, dilation=2, padding=2))
case('conv2d_groups', ['n:1,4,5,5', 'n:4,1,3,3'], lambda x, w: F.conv2d(x, w, padding=1, groups=4))
case('conv2d_same', ['n:1,2,5,5', 'n:3,2,3,3'], lambda x, w: F.conv2d(x, w, padding='same'))
case('conv_transpose2d', ['n:1,3,4,4', 'n:3,2,3,3', 'n:2'],
     lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1))
case('conv_transpose2d_s1', ['n:2,3,4,4', 'n:3,2,3,3', 'n:2'], lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1))
case('conv_transpose2d_s1_nopad', ['n:1,3,4,5', 'n:3,2,3,2'], lambda x, w: F.conv_transpose2d(x, w))
case('linear', ['n:4,5', 'n:3,5', 'n:3'], F.linear)
case('batch_norm_eval', ['n:4,3,2,2', 'n:3!', 'p:3!', 'n:3', 'n:3'],
     lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5))
case('batch_norm_train', ['n:4,3,2,2', 'n:3!', 'p:3!', 'n:3', 'n:3'],
     lambda x, rm, rv, w, b: (F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, eps=1e-3), rm, rv))
case('leaky_relu', ['n:3,4'], lambda a: F.leaky_relu(a, negative_slope=0.2))
case('gelu', ['n:3,4'], F.gelu)
case('gelu_tanh', ['n:3,4'], lambda a: F.gelu(a, approximate='tanh'))
case('max_pool2d', ['n:2,2,6,6'], lambda a: F.max_pool2d(a, 2))
case('max_pool2d_pad', ['n:1,2,7,7'], lambda a: F.max_pool2d(a, 3, stride=2, padding=1))
case('avg_pool2d', ['n:2,2,6,6'], lambda a: F.avg_pool2d(a, 3, stride=2))
case('avg_pool2d_pad', ['n:1,2,5,5'], lambda a: F.avg_pool2d(a, 3, stride=2, padding=1, count_include_pad=False))
case('adaptive_avg_pool2d', ['n:2,3,5,5'], lambda a: F.adaptive_avg_pool2d(a, 3))
case('adaptive_avg_pool2d_1', ['n:2,3,4,4'], lambda a: F.adaptive_avg_pool2d(a, 1))
case('interpolate_nearest', ['n:1,2,3,3'], lambda a: F.interpolate(a, size=(6, 5), mode='nearest'))
case('interpolate_bilinear', ['n:1,2,3,3'], lambda a: F.interpolate(a, scale_factor=2, mode='bilinear', align_corners=False))
case('interpolate_bilinear_ac', ['n:1,2,3,3'], lambda a: F.interpolate(a, size=5, mode='bilinear', align_corners=True))
case('softmax', ['n:3,5'], lambda a: F.softmax(a, dim=1))
case('log_softmax', ['n:3,5'], lambda a: F.log_softmax(a, dim=0))
case('cross_entropy', ['n:4,5', 'i:4:5'], F.cross_entropy)
case('cross_entropy_sum_ignore', ['n:4,5', 'i:4:5'], lambda a, y: F.cross_entropy(a, y, ignore_index=2, reduction='sum'))
case('cross_entropy_smoothing', ['n:4,5', 'i:4:5'], lambda a, y: F.cross_entropy(a, y, label_smoothing=0.1))
case('cross_entropy_soft', ['n:4,5', 'p:4,5'], lambda a, p: F.cross_entropy(a, p / p.sum(1, keepdim=True)))
case('nll_loss', ['n:4,5', 'i:4:5'], lambda a, y: F.nll_loss(F.log_softmax(a, 1), y))
case('kl_div_batchmean', ['n:4,5', 'n:4,5'],
     lambda a, b: F.kl_div(F.log_softmax(a, 1), F.softmax(b, 1), reduction='batchmean'))
case('kl_div_log_target', ['n:4,5', 'n:4,5'],
     lambda a, b: F.kl_div(F.log_softmax(a, 1), F.log_softmax(b, 1), reduction='sum', log_target=True))
case('kl_div_none', ['n:4,5', 'n:4,5'], lambda a, b: F.kl_div(F.log_softmax(a, 1), F.softmax(b, 1), reduction='none'))
case('mse_loss', ['n:3,4', 'n:3,4'], F.mse_loss)
case('l1_loss', ['n:3,4', 'n:3,4'], F.l1_loss)
case('smooth_l1_loss', ['n:3,4', 'n:3,4'], lambda a, b: F.smooth_l1_loss(a, b, beta=0.5))
case('normalize', ['n:3,4'], lambda a: F.normalize(a, dim=1))
case('normalize_p1', ['n:3,4'], lambda a: F.normalize(a, p=1, dim=0))
case('cosine_similarity', ['n:3,4', 'n:3,4'], lambda a, b: F.cosine_similarity(a, b, dim=1))
case('one_hot', ['i:5:4'], lambda y: F.one_hot(y, 4), grad=False)
case('pad_constant', ['n:1,2,3,3'], lambda a: F.pad(a, (1, 2, 0, 1), value=0.5))
case('pad_reflect', ['n:1,2,3,3'], lambda a: F.pad(a, (1, 1, 1, 1), mode='reflect'))


def build_ops():
    out = {}
    for i, (name, specs, fn, grad) in enumerate(CASES):
        gen = torch.Generator().manual_seed(1000 + i)
        inputs = [make_input(s, gen) for s in specs]
        leaves = [x.clone().requires_grad_(grad and x.is_floating_point() and not s.endswith('!'))
                  for x, s in zip(inputs, specs)]
        res = fn(*leaves)
        outs = list(res) if isinstance(res, tuple) else [res]
        entry = {'inputs': [enc(x) for x in inputs], 'outputs': [enc(o) for o in outs]}
        if grad and outs[0].requires_grad:
            (outs[0] * cotangent(outs[0])).sum().backward()
            entry['grads'] = [enc(x.grad) if x.grad is not None else None for x in leaves]
        out[name] = entry
    # Random generators: the same seed gives the same numbers as PyTorch.
    torch.manual_seed(7)
    out['random_seeded'] = {'inputs': [], 'outputs': [enc(torch.randn(2, 3)), enc(torch.rand(4)),
                                                        enc(torch.randint(0, 10, (5,))), enc(torch.randperm(6))]}
    out['creation'] = {'inputs': [], 'outputs': [enc(torch.arange(5)), enc(torch.arange(1, 2, 0.25)),
                                                  enc(torch.linspace(-1, 1, 5)), enc(torch.eye(2, 3)),
                                                  enc(torch.full((2, 2), 1.5))]}
    return out


def build_cnn():
    """A small CNN (conv, BN, ReLU, pool, linear) trained 5 SGD steps on fixed data."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    bn = torch.nn.BatchNorm2d(4)
    fc = torch.nn.Linear(4 * 4 * 4, 3)
    params = collections.OrderedDict([('conv.weight', conv.weight), ('conv.bias', conv.bias), ('bn.weight', bn.weight),
                                      ('bn.bias', bn.bias), ('fc.weight', fc.weight), ('fc.bias', fc.bias)])
    initial = {k: enc(v) for k, v in params.items()}
    x = torch.randn(8, 1, 8, 8)
    y = torch.randint(0, 3, (8,))
    opt = torch.optim.SGD(params.values(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(5):
        h = F.max_pool2d(F.relu(bn(conv(x))), 2)
        loss = F.cross_entropy(fc(h.flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'initial': initial, 'x': enc(x), 'y': enc(y), 'losses': losses,
            'final': {k: enc(v) for k, v in params.items()},
            'running_mean': enc(bn.running_mean), 'running_var': enc(bn.running_var)}


def build_serialization():
    """A PyTorch-written checkpoint of mdistiller's shape, and the values it must load to (keys: paths joined by /)."""
    torch.manual_seed(3)
    sd = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3)).state_dict()
    shared = torch.arange(12, dtype=torch.float32)
    ckpt = {'model': sd, 'epoch': 240, 'best_acc': 73.5, 'name': 'resnet8x4',
            'optimizer': {'state': {0: {'momentum_buffer': torch.ones(3)}}, 'param_groups': [{'lr': 0.05, 'params': [0]}]},
            'views': [shared[2:6], shared.view(3, 4).t()], 'dtypes': [torch.tensor([1, 2], dtype=torch.int64),
                                                                    torch.tensor([True, False]), torch.tensor([1.5], dtype=torch.float64)]}
    torch.save(ckpt, os.path.join(OUT, 'py_checkpoint.pt'))
    flat = {'model/' + k: enc(v) for k, v in sd.items()}
    flat['views/0'] = enc(shared[2:6])
    flat['views/1'] = enc(shared.view(3, 4).t())
    flat['dtypes/0'] = enc(ckpt['dtypes'][0])
    flat['dtypes/1'] = enc(ckpt['dtypes'][1])
    flat['dtypes/2'] = enc(ckpt['dtypes'][2])
    flat['optimizer/state/0/momentum_buffer'] = enc(torch.ones(3))
    return flat


def check_js_saved():
    """Loads the file our engine wrote (test/fixtures/js_saved.pt) and records what PyTorch sees."""
    path = os.path.join(OUT, 'js_saved.pt')
    if not os.path.exists(path):
        print('note: test/fixtures/js_saved.pt missing; run `node dist/scripts/write_js_fixture.js` then this again')
        return None
    obj = torch.load(path)
    return {'epoch': obj['epoch'], 'lr': obj['lr'], 'tag': obj['tag'], 'weight': enc(obj['weights']['weight']),
            'labels': enc(obj['weights']['labels']), 'list': [enc(t) for t in obj['list']]}


class MdBasicBlock(torch.nn.Module):
    """mdistiller's CIFAR BasicBlock (same submodule order, so the same RNG draws)."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        pre = self.bn2(self.conv2(h)) + (x if self.downsample is None else self.downsample(x))
        return F.relu(pre), pre


class MdResNet(torch.nn.Module):
    def __init__(self, depth, filters, num_classes=10, in_channels=3):
        super().__init__()
        n = (depth - 2) // 6
        self.inplanes = filters[0]
        self.conv1 = torch.nn.Conv2d(in_channels, filters[0], 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(filters[0])
        self.relu = torch.nn.ReLU()
        self.layer1 = self._make_layer(filters[1], n, 1)
        self.layer2 = self._make_layer(filters[2], n, 2)
        self.layer3 = self._make_layer(filters[3], n, 2)
        self.fc = torch.nn.Linear(filters[3], num_classes)
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def _make_layer(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = torch.nn.Sequential(torch.nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), torch.nn.BatchNorm2d(planes))
        layers = [MdBasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [MdBasicBlock(planes, planes) for _ in range(1, blocks)]
        return torch.nn.Sequential(*layers)

    def forward(self, x):
        f0 = F.relu(self.bn1(self.conv1(x)))
        feats, pre, h = [f0], [f0], f0
        for layer in (self.layer1, self.layer2, self.layer3):
            for b in layer:
                h, p = b(h)
            feats.append(h)
            pre.append(p)
        pooled = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(pooled), feats, pre, pooled


def build_nn():
    """Default initialisations with a fixed seed, BN statistics, and resnet8x4 weights and outputs."""
    out = {}
    torch.manual_seed(5)
    conv = torch.nn.Conv2d(3, 4, 3)
    lin = torch.nn.Linear(5, 2)
    convt = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    out['init'] = {'conv.weight': enc(conv.weight), 'conv.bias': enc(conv.bias), 'linear.weight': enc(lin.weight),
                   'linear.bias': enc(lin.bias), 'convt.weight': enc(convt.weight), 'convt.bias': enc(convt.bias)}
    gen = torch.Generator().manual_seed(9)
    xs = [torch.randn(6, 3, 4, 4, generator=gen) for _ in range(3)]
    bn = torch.nn.BatchNorm2d(3)
    bn_cum = torch.nn.BatchNorm2d(3, momentum=None)
    for x in xs:
        bn(x)
        bn_cum(x)
    bn.eval()
    out['bn'] = {'xs': [enc(x) for x in xs], 'running_mean': enc(bn.running_mean), 'running_var': enc(bn.running_var),
                 'cum_running_mean': enc(bn_cum.running_mean), 'cum_running_var': enc(bn_cum.running_var),
                 'num_batches_tracked': int(bn.num_batches_tracked), 'eval_out': enc(bn(xs[0]))}
    torch.manual_seed(0)
    model = MdResNet(8, [32, 64, 128, 256], num_classes=10)
    torch.save(model.state_dict(), os.path.join(OUT, 'resnet8x4_seed0.pt'))
    x = torch.randn(2, 3, 32, 32, generator=gen)
    model.eval()
    logits, feats, pre, pooled = model(x)
    out['resnet8x4'] = {'x': enc(x), 'logits': enc(logits), 'feat3': enc(feats[3]), 'pre3': enc(pre[3]), 'pooled': enc(pooled),
                        'keys': list(model.state_dict().keys()),
                        'first_weights': {k: enc(v.flatten()[:8]) for k, v in model.state_dict().items() if k.endswith('weight')}}
    return out


def build_zoo():
    """Parameter counts and state-dict keys of every model (CIFAR-100 heads), and a wrn_40_2
    state dict (Fashion-MNIST shape) with its outputs for a load test."""
    sys.path.insert(0, os.path.dirname(__file__))
    import zoo_reference as zr
    out = {'models': {}}
    for name, make in zr.ZOO.items():
        m = make()
        out['models'][name] = {'parameters': sum(p.numel() for p in m.parameters()), 'keys': list(m.state_dict().keys())}
    torch.manual_seed(2)
    wrn = zr.WRN(40, 2, num_classes=10, in_channels=1)
    gen = torch.Generator().manual_seed(21)
    for _ in range(2):  # non-trivial BN statistics
        wrn(torch.randn(8, 1, 28, 28, generator=gen))
    wrn.eval()
    torch.save({'model': wrn.state_dict(), 'epoch': 240}, os.path.join(OUT, 'wrn_40_2_fmnist.pt'))
    x = torch.randn(2, 1, 28, 28, generator=gen)
    logits, feats, pooled = wrn(x)
    out['wrn_40_2'] = {'x': enc(x), 'logits': enc(logits), 'pooled': enc(pooled), 'feat_sums': [f.sum().item() for f in feats]}
    return out


def build_optim():
    """Ten steps of torch.optim on a small problem, for several optimizer settings."""
    gen = torch.Generator().manual_seed(11)
    p1_0 = torch.randn(3, 4, generator=gen)
    p2_0 = torch.randn(4, generator=gen)
    x = torch.randn(5, 3, generator=gen)
    configs = {
        'sgd_momentum_wd': lambda a, b: torch.optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=5e-4),
        'sgd_nesterov': lambda a, b: torch.optim.SGD([a, b], lr=0.05, momentum=0.9, nesterov=True),
        'sgd_dampening': lambda a, b: torch.optim.SGD([a, b], lr=0.1, momentum=0.9, dampening=0.1),
        'sgd_plain': lambda a, b: torch.optim.SGD([a, b], lr=0.2),
        'sgd_groups': lambda a, b: torch.optim.SGD([{'params': [a]}, {'params': [b], 'lr': 0.01, 'momentum': 0.5}], lr=0.1, momentum=0.9),
        'adamw': lambda a, b: torch.optim.AdamW([a, b], lr=0.01, weight_decay=0.1),
        'adamw_betas': lambda a, b: torch.optim.AdamW([a, b], lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0),
    }
    out = {'p1': enc(p1_0), 'p2': enc(p2_0), 'x': enc(x), 'runs': {}}
    for name, make in configs.items():
        a = p1_0.clone().requires_grad_()
        b = p2_0.clone().requires_grad_()
        opt = make(a, b)
        for _ in range(10):
            loss = torch.tanh(x @ a + b).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out['runs'][name] = {'p1': enc(a), 'p2': enc(b)}
    return out


# ---- distillation losses, written here from the formulas of docs/methods.md ----

def ref_kd(zs, zt, T=4.0):
    return F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction='none').sum(1).mean() * T ** 2


def ref_pearson_rows(a, b, eps=1e-8):
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def ref_dist(zs, zt, beta=1.0, gamma=1.0, tau=4.0):
    ys, yt = (zs / tau).softmax(1), (zt / tau).softmax(1)
    inter = 1 - ref_pearson_rows(ys, yt).mean()
    intra = 1 - ref_pearson_rows(ys.t(), yt.t()).mean()
    return tau ** 2 * (beta * inter + gamma * intra)


def ref_dkd(zs, zt, y, alpha=1.0, beta=8.0, T=4.0):
    gt = torch.zeros_like(zs).scatter_(1, y.unsqueeze(1), 1).bool()
    ps, pt = F.softmax(zs / T, 1), F.softmax(zt / T, 1)
    cat = lambda p: torch.stack([(p * gt).sum(1), (p * ~gt).sum(1)], 1)
    tckd = F.kl_div(torch.log(cat(ps)), cat(pt), reduction='sum') * T ** 2 / zs.shape[0]
    nckd = F.kl_div(F.log_softmax(zs / T - 1000.0 * gt, 1), F.softmax(zt / T - 1000.0 * gt, 1), reduction='sum') * T ** 2 / zs.shape[0]
    return alpha * tckd + beta * nckd


def ref_sp(fs, ft):
    b = fs.shape[0]
    g = lambda f: F.normalize(f.view(b, -1) @ f.view(b, -1).t())
    return ((g(ft) - g(fs)) ** 2).sum() / (b * b)


def ref_ft(fs, ft):
    fac = lambda x: F.normalize(x.view(x.size(0), -1))
    return (fac(fs) - fac(ft)).abs().mean()


def ref_ab(s, t, margin=1.0):
    loss = (s + margin) ** 2 * ((s > -margin) & (t <= 0)).float() + (s - margin) ** 2 * ((s <= margin) & (t > 0)).float()
    return loss.sum() / s.shape[0]


def ref_at(fs, ft, p=2):
    hs, ht = fs.shape[2], ft.shape[2]
    if hs > ht:
        fs = F.adaptive_avg_pool2d(fs, (ht, ht))
    elif hs < ht:
        ft = F.adaptive_avg_pool2d(ft, (hs, hs))
    a = lambda f: F.normalize(f.pow(p).mean(1).reshape(f.size(0), -1))
    return (a(fs) - a(ft)).pow(2).mean()


def ref_pdist(e, eps=1e-12):
    sq = e.pow(2).sum(1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * e @ e.t()).clamp(min=eps).sqrt().clone()
    d[range(len(e)), range(len(e))] = 0
    return d


def ref_rkd_distance(es, et):
    es, et = es.view(es.shape[0], -1), et.view(et.shape[0], -1)
    dt = ref_pdist(et)
    dt = dt / dt[dt > 0].mean()
    ds = ref_pdist(es)
    ds = ds / ds[ds > 0].mean()
    return F.smooth_l1_loss(ds, dt)


def ref_rkd_angle(es, et):
    es, et = es.view(es.shape[0], -1), et.view(et.shape[0], -1)
    ang = lambda e: (lambda n: torch.bmm(n, n.transpose(1, 2)).view(-1))(F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2))
    return F.smooth_l1_loss(ang(es), ang(et))


def ref_fitnet(fs, ft):
    return F.mse_loss(fs, ft)


def ref_ickd(fs, ft):
    b, c = fs.shape[0], fs.shape[1]
    g = lambda f: F.normalize(torch.bmm(f.view(b, c, -1), f.view(b, c, -1).permute(0, 2, 1)), dim=2)
    return ((g(fs) - g(ft)) ** 2).view(b, -1).sum() / (c * b)


def ref_hcl(fs, ft):
    h = fs.shape[2]
    loss = F.mse_loss(fs, ft)
    cnt, tot = 1.0, 1.0
    for lvl in [4, 2, 1]:
        if lvl >= h:
            continue
        cnt /= 2.0
        loss = loss + F.mse_loss(F.adaptive_avg_pool2d(fs, (lvl, lvl)), F.adaptive_avg_pool2d(ft, (lvl, lvl))) * cnt
        tot += cnt
    return loss / tot


# Transcribed from RepDistiller (HobbitLong/RepDistiller) distiller_zoo/PKT.py, NST.py and CC.py.

def ref_pkt(output_net, target_net, eps=0.0000001):
    output_net_norm = torch.sqrt(torch.sum(output_net ** 2, dim=1, keepdim=True))
    output_net = output_net / (output_net_norm + eps)
    output_net[output_net != output_net] = 0
    target_net_norm = torch.sqrt(torch.sum(target_net ** 2, dim=1, keepdim=True))
    target_net = target_net / (target_net_norm + eps)
    target_net[target_net != target_net] = 0
    model_similarity = torch.mm(output_net, output_net.transpose(0, 1))
    target_similarity = torch.mm(target_net, target_net.transpose(0, 1))
    model_similarity = (model_similarity + 1.0) / 2.0
    target_similarity = (target_similarity + 1.0) / 2.0
    model_similarity = model_similarity / torch.sum(model_similarity, dim=1, keepdim=True)
    target_similarity = target_similarity / torch.sum(target_similarity, dim=1, keepdim=True)
    return torch.mean(target_similarity * torch.log((target_similarity + eps) / (model_similarity + eps)))


def ref_nst_poly_kernel(a, b):
    a = a.unsqueeze(1)
    b = b.unsqueeze(2)
    return (a * b).sum(-1).pow(2)


def ref_nst(f_s, f_t):
    s_H, t_H = f_s.shape[2], f_t.shape[2]
    if s_H > t_H:
        f_s = F.adaptive_avg_pool2d(f_s, (t_H, t_H))
    elif s_H < t_H:
        f_t = F.adaptive_avg_pool2d(f_t, (s_H, s_H))
    f_s = f_s.view(f_s.shape[0], f_s.shape[1], -1)
    f_s = F.normalize(f_s, dim=2)
    f_t = f_t.view(f_t.shape[0], f_t.shape[1], -1)
    f_t = F.normalize(f_t, dim=2)
    return (ref_nst_poly_kernel(f_t, f_t).mean().detach() + ref_nst_poly_kernel(f_s, f_s).mean()
            - 2 * ref_nst_poly_kernel(f_s, f_t).mean())


def ref_cc(f_s, f_t):
    delta = torch.abs(f_s - f_t)
    return torch.mean((delta[:-1] * delta[1:]).sum(1))


# Transcribed from RepDistiller distiller_zoo/VID.py (VIDLoss.forward after the regressor).
def ref_vid(pred_mean, target, log_scale, eps=1e-5):
    pred_var = torch.log(1.0 + torch.exp(log_scale)) + eps
    pred_var = pred_var.view(1, -1, 1, 1)
    neg_log_prob = 0.5 * ((pred_mean - target) ** 2 / pred_var + torch.log(pred_var))
    return torch.mean(neg_log_prob)


# Transcribed from RepDistiller distiller_zoo/KDSVD.py (and mdistiller's view for the variant).
def ref_kdsvd_svd(feat, n, layout):
    size = feat.shape
    if layout == 'repdistiller':
        x = feat.view(-1, size[1], size[2] * size[2]).transpose(-2, -1)
    else:
        x = feat.view(size[0], size[1] * size[2], size[3])
    u, s, v = torch.svd(x)
    removenan = lambda x: torch.where(torch.isfinite(x), x, torch.zeros_like(x))
    u, s, v = removenan(u), removenan(s), removenan(v)
    if n > 0:
        u = F.normalize(u[:, :, :n], dim=1)
        s = F.normalize(s[:, :n], dim=1)
        v = F.normalize(v[:, :, :n], dim=1)
    return u, s, v


def ref_kdsvd_align(a, b):
    cosine = torch.matmul(a.transpose(-2, -1), b)
    max_abs_cosine, _ = torch.max(torch.abs(cosine), 1, keepdim=True)
    mask = torch.where(torch.eq(max_abs_cosine, torch.abs(cosine)), torch.sign(cosine), torch.zeros_like(cosine))
    return torch.matmul(a, mask), b


def ref_kdsvd(g_s, g_t, k=1, layout='repdistiller'):
    v_sb = v_tb = None
    losses = []
    for i, f_s, f_t in zip(range(len(g_s)), g_s, g_t):
        u_t, s_t, v_t = ref_kdsvd_svd(f_t, k, layout)
        u_s, s_s, v_s = ref_kdsvd_svd(f_s, k + 3, layout)
        v_s, v_t = ref_kdsvd_align(v_s, v_t)
        s_t = s_t.unsqueeze(1)
        v_t = v_t * s_t
        v_s = v_s * s_t
        if i > 0:
            s_rbf = torch.exp(-(v_s.unsqueeze(2) - v_sb.unsqueeze(1)).pow(2) / 8)
            t_rbf = torch.exp(-(v_t.unsqueeze(2) - v_tb.unsqueeze(1)).pow(2) / 8)
            l2loss = (s_rbf - t_rbf.detach()).pow(2)
            l2loss = torch.where(torch.isfinite(l2loss), l2loss, torch.zeros_like(l2loss))
            losses.append(l2loss.sum())
        v_tb = v_t
        v_sb = v_s
    bsz = g_s[0].shape[0]
    return sum(l / bsz for l in losses)


# Transcribed from mdistiller distillers/OFD.py: feat_loss and the margins of init_ofd_modules.
# SciPy's norm.cdf is written as 0.5 * (1 + erf(x / sqrt(2))) (SciPy is not needed here).
def ref_ofd_margin(weight, bias):
    norm_cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))
    margin = []
    for (s, m) in zip(weight, bias):
        s = abs(s.item())
        m = m.item()
        if norm_cdf(-m / s) > 0.001:
            margin.append(-s * math.exp(-((m / s) ** 2) / 2) / math.sqrt(2 * math.pi) / norm_cdf(-m / s) + m)
        else:
            margin.append(-3 * s)
    return torch.FloatTensor(margin).unsqueeze(1).unsqueeze(2).unsqueeze(0)


def ref_ofd(source, target, margin):
    margin = margin.to(source)
    loss = (
        (source - margin) ** 2 * ((source > margin) & (target <= margin)).float()
        + (source - target) ** 2 * ((source > target) & (target > margin) & (target <= 0)).float()
        + (source - target) ** 2 * (target > 0).float()
    )
    return torch.abs(loss).mean(dim=0).sum()


# Transcribed from RepDistiller distiller_zoo/FSP.py (compute_fsp, compute_loss; the losses summed).
def ref_compute_fsp(g):
    fsp_list = []
    for i in range(len(g) - 1):
        bot, top = g[i], g[i + 1]
        b_H, t_H = bot.shape[2], top.shape[2]
        if b_H > t_H:
            bot = F.adaptive_avg_pool2d(bot, (t_H, t_H))
        elif b_H < t_H:
            top = F.adaptive_avg_pool2d(top, (b_H, b_H))
        bot = bot.unsqueeze(1)
        top = top.unsqueeze(2)
        bot = bot.view(bot.shape[0], bot.shape[1], bot.shape[2], -1)
        top = top.view(top.shape[0], top.shape[1], top.shape[2], -1)
        fsp_list.append((bot * top).mean(-1))
    return fsp_list


def ref_fsp(g_s, g_t):
    return sum((s - t).pow(2).mean() for s, t in zip(ref_compute_fsp(g_s), ref_compute_fsp(g_t)))


# Transcribed from GzyAftermath/CAT-KD mdistiller/distillers/CAT_KD.py (CAT_loss, _Normalize).
def ref_cat_loss(CAM_Student, CAM_Teacher, CAM_RESOLUTION=2, IF_NORMALIZE=True):
    def _Normalize(feat, IF_NORMALIZE):
        if IF_NORMALIZE:
            feat = F.normalize(feat, dim=(2, 3))
        return feat
    CAM_Student = F.adaptive_avg_pool2d(CAM_Student, (CAM_RESOLUTION, CAM_RESOLUTION))
    CAM_Teacher = F.adaptive_avg_pool2d(CAM_Teacher, (CAM_RESOLUTION, CAM_RESOLUTION))
    return F.mse_loss(_Normalize(CAM_Student, IF_NORMALIZE), _Normalize(CAM_Teacher, IF_NORMALIZE))


# Transcribed from RepDistiller crd/criterion.py (ContrastLoss, Eq. 18).
def ref_crd_contrast(x, n_data=50, eps=1e-7):
    bsz = x.shape[0]
    m = x.size(1) - 1
    Pn = 1 / float(n_data)
    P_pos = x.select(1, 0)
    log_D1 = torch.div(P_pos, P_pos.add(m * Pn + eps)).log_()
    P_neg = x.narrow(1, 1, m)
    log_D0 = torch.div(P_neg.clone().fill_(m * Pn), P_neg.add(m * Pn + eps)).log_()
    return (- (log_D1.sum(0) + log_D0.view(-1, 1).sum(0)) / bsz).squeeze()


# Transcribed from RepDistiller distiller_zoo/FT.py (FactorTransfer, p1=2, p2=1).
def ref_ft_repdistiller(f_s, f_t, p1=2, p2=1):
    s_H, t_H = f_s.shape[2], f_t.shape[2]
    if s_H > t_H:
        f_s = F.adaptive_avg_pool2d(f_s, (t_H, t_H))
    elif s_H < t_H:
        f_t = F.adaptive_avg_pool2d(f_t, (s_H, s_H))
    factor = lambda f: F.normalize(f.pow(p1).mean(1).view(f.size(0), -1))
    if p2 == 1:
        return (factor(f_s) - factor(f_t)).abs().mean()
    return (factor(f_s) - factor(f_t)).pow(p2).mean()


# Transcribed from sunshangquan/logit-standardization-KD mdistiller/distillers/KD.py (normalize,
# kd_loss with logit_stand): z-score, then the method's own loss (KD, DKD there; DIST here the same way).
def ref_ls_normalize(logit):
    mean = logit.mean(dim=-1, keepdims=True)
    stdv = logit.std(dim=-1, keepdims=True)
    return (logit - mean) / (1e-7 + stdv)


def ref_lskd(logits_student_in, logits_teacher_in, temperature=2.0):
    logits_student = ref_ls_normalize(logits_student_in)
    logits_teacher = ref_ls_normalize(logits_teacher_in)
    log_pred_student = F.log_softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    loss_kd = F.kl_div(log_pred_student, pred_teacher, reduction="none").sum(1).mean()
    loss_kd *= temperature**2
    return loss_kd


# Transcribed from zkxufo/TTM distiller_zoo/wttm.py and ttm.py.
def ref_wttm(y_s, y_t, l=0.1, weighted=True):
    p_s = F.log_softmax(y_s, dim=1)
    p_t = torch.pow(torch.softmax(y_t, dim=1), l)
    norm = torch.sum(p_t, dim=1)
    p_t = p_t / norm.unsqueeze(1)
    KL = torch.sum(F.kl_div(p_s, p_t, reduction='none'), dim=1)
    return torch.mean(norm * KL) if weighted else torch.mean(KL)


# Transcribed from yuanli2333/Teacher-free-Knowledge-Distillation my_loss_function.py:
# loss_kd_regularization's and loss_kd_self's distillation terms (nn.KLDivLoss() default mean).
def ref_tfkd_reg_term(outputs, labels, T=20.0, correct_prob=0.99):
    K = outputs.size(1)
    teacher_soft = torch.ones_like(outputs)
    teacher_soft = teacher_soft * (1 - correct_prob) / (K - 1)
    for i in range(outputs.shape[0]):
        teacher_soft[i, labels[i]] = correct_prob
    return nn.KLDivLoss()(F.log_softmax(outputs, dim=1), F.softmax(teacher_soft / T, dim=1))


def ref_tfkd_self_term(outputs, teacher_outputs, T=6.0):
    return nn.KLDivLoss()(F.log_softmax(outputs / T, dim=1), F.softmax(teacher_outputs / T, dim=1)) * (T * T)


# Transcribed from yzd-v/cls_KD mmcls/models/dis_losses/nkd.py (NKDLoss.forward).
def ref_nkd(logit_s, logit_t, gt_label, temp=1.0, gamma=1.5):
    label = gt_label.view(len(gt_label), 1)
    N, c = logit_s.shape
    s_i = F.log_softmax(logit_s, dim=1)
    t_i = F.softmax(logit_t, dim=1)
    s_t = torch.gather(s_i, 1, label)
    t_t = torch.gather(t_i, 1, label).detach()
    loss_t = - (t_t * s_t).mean()
    mask = torch.ones_like(logit_s).scatter_(1, label, 0).bool()
    logit_s = logit_s[mask].reshape(N, -1)
    logit_t = logit_t[mask].reshape(N, -1)
    S_i = F.log_softmax(logit_s / temp, dim=1)
    T_i = F.softmax(logit_t / temp, dim=1)
    loss_non = (T_i * S_i).sum(dim=1).mean()
    loss_non = - gamma * (temp ** 2) * loss_non
    return loss_t + loss_non


# Transcribed from lgcnsai/PS-KD-Pytorch loss/pskd_loss.py (Custom_CrossEntropy_PSKD).
def ref_pskd_ce(output, targets):
    log_probs = nn.LogSoftmax(dim=1)(output)
    return (- targets * log_probs).mean(0).sum()


# Transcribed from zhengli97/CTKD: models/temp_global.py (Global_T, GradientReversalFunction),
# distiller_zoo/KD.py (DistillKL), distiller_zoo/DKD.py (DKDloss), the loop's temperature
# (t_start + t_end * sigmoid) and the README's instance-wise KL_Loss.
class RefGradientReversalFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambda_):
        ctx.lambda_ = lambda_
        return x.clone()

    @staticmethod
    def backward(ctx, grads):
        lambda_ = grads.new_tensor(ctx.lambda_)
        return lambda_ * grads, None


def ref_ctkd_temp(global_T, lambda_, t_start=1.0, t_end=20.0):
    return t_start + t_end * torch.sigmoid(RefGradientReversalFunction.apply(global_T, lambda_))


def ref_ctkd_kd(y_s, y_t, temp):
    return nn.KLDivLoss(reduction='batchmean')(F.log_softmax(y_s / temp, dim=1), F.softmax(y_t / temp, dim=1)) * temp * temp


def ref_ctkd_dkd(logits_student, logits_teacher, target, alpha, beta, temperature):
    gt_mask = torch.zeros_like(logits_student).scatter_(1, target.reshape(-1).unsqueeze(1), 1).bool()
    other_mask = torch.ones_like(logits_student).scatter_(1, target.reshape(-1).unsqueeze(1), 0).bool()

    def cat_mask(t, mask1, mask2):
        return torch.cat([(t * mask1).sum(dim=1, keepdims=True), (t * mask2).sum(1, keepdims=True)], dim=1)
    pred_student = cat_mask(F.softmax(logits_student / temperature, dim=1), gt_mask, other_mask)
    pred_teacher = cat_mask(F.softmax(logits_teacher / temperature, dim=1), gt_mask, other_mask)
    tckd_loss = F.kl_div(torch.log(pred_student), pred_teacher, reduction='sum') * (temperature**2) / target.shape[0]
    # The authors' NCKD subtracts 1000 at the target: its teacher probability is exactly 0 and
    # kl_div's target derivative (log 0) makes the temperature's gradient NaN in PyTorch <= 1.13.
    # Dropping the target column instead gives the same value and the finite limit.
    others = other_mask.nonzero()[:, 1].reshape(target.shape[0], -1)
    pred_teacher_part2 = F.softmax(logits_teacher.gather(1, others) / temperature, dim=1)
    log_pred_student_part2 = F.log_softmax(logits_student.gather(1, others) / temperature, dim=1)
    nckd_loss = F.kl_div(log_pred_student_part2, pred_teacher_part2, reduction='sum') * (temperature**2) / target.shape[0]
    return alpha * tckd_loss + beta * nckd_loss


def ref_ctkd_instance_kd(y_s, y_t, T):
    def KL_Loss(output_batch, teacher_outputs, T):
        output_batch = output_batch.unsqueeze(0)
        teacher_outputs = teacher_outputs.unsqueeze(0)
        output_batch = F.log_softmax(output_batch / T, dim=1)
        teacher_outputs = F.softmax(teacher_outputs / T, dim=1) + 10 ** (-7)
        return T * T * torch.sum(torch.mul(teacher_outputs, torch.log(teacher_outputs) - output_batch))
    KD_loss = 0
    for i in range(T.shape[0]):
        KD_loss += KL_Loss(y_s[i], y_t[i], T[i])
    KD_loss /= T.shape[0]
    return KD_loss


# Transcribed from shicaiwei123/SDD-CVPR2024: mdistiller/models/cifar/utils.py SPP and
# ResNet_SDD.forward (patch_score), distillers/KD.py sdd_kd_loss, distillers/SDD_DKD.py multi_dkd
# (its per-sample dkd_loss); `.cuda()` dropped, torch.tensor(mask) written as mask.clone().
def ref_sdd_patch_score(x, weight, bias, M='[1,2,4]'):
    x_4x4 = F.adaptive_avg_pool2d(x, (4, 4))
    x_2x2 = F.adaptive_avg_pool2d(x_4x4, (2, 2))
    x_1x1 = F.adaptive_avg_pool2d(x_4x4, (1, 1))
    flat = lambda t: torch.flatten(t, start_dim=2, end_dim=3)
    x_spp = {'[1,2,4]': torch.cat((flat(x_1x1), flat(x_2x2), flat(x_4x4)), dim=2),
             '[1,2]': torch.cat((flat(x_1x1), flat(x_2x2)), dim=2)}[M]
    x_spp = x_spp.permute((2, 0, 1))
    m, b, c = x_spp.shape
    patch_score = F.linear(torch.reshape(x_spp, (m * b, c)), weight, bias)
    return torch.reshape(patch_score, (m, b, weight.shape[0])).permute((1, 2, 0))


def ref_sdd_weights(out_t, target, n):
    out_t_predict = torch.argmax(out_t, dim=1)
    target_r = target.repeat(n)
    global_prediction = out_t_predict[0:len(target)]
    g_true = (global_prediction == target).clone().repeat(n)
    g_false = (global_prediction != target).clone().repeat(n)
    mask_false = out_t_predict != target_r
    mask_false[g_false] = False
    mask_false[0:len(target)] = False
    gt_lw = mask_false
    mask_true = out_t_predict == target_r
    mask_true[g_true] = False
    mask_true[0:len(target)] = False
    gw_lt = mask_true
    mask_false = out_t_predict != target_r
    mask_true = out_t_predict == target_r
    mask_false[g_true] = False
    gw_lw = mask_false
    mask_true[g_false] = False
    gt_lt = mask_true
    index = torch.zeros(target_r.shape[0])
    index[gw_lw] = 1.0
    index[gt_lt] = 1.0
    index[gw_lt] = 2.0
    index[gt_lw] = 2.0
    return index


def ref_sdd_flatten(multi):
    multi = multi.permute(2, 0, 1)
    return torch.reshape(multi, (multi.shape[0] * multi.shape[1], multi.shape[2]))


def ref_sdd_kd_loss(out_s_multi, out_t_multi, T, target):
    out_s, out_t = ref_sdd_flatten(out_s_multi), ref_sdd_flatten(out_t_multi)
    loss_kd = F.kl_div(F.log_softmax(out_s / T, dim=1), F.softmax(out_t / T, dim=1), reduction='none') * (T ** 2)
    loss_kd = torch.sum(loss_kd, dim=1)
    index = ref_sdd_weights(out_t, target, out_t_multi.shape[2])
    return torch.sum(loss_kd * index) / out_t.shape[0]


def ref_sdd_multi_dkd(out_s_multi, out_t_multi, target, alpha, beta, temperature):
    out_s, out_t = ref_sdd_flatten(out_s_multi), ref_sdd_flatten(out_t_multi)
    target_r = target.repeat(out_t_multi.shape[2])
    gt_mask = torch.zeros_like(out_s).scatter_(1, target_r.unsqueeze(1), 1).bool()
    other_mask = torch.ones_like(out_s).scatter_(1, target_r.unsqueeze(1), 0).bool()

    def cat_mask(t):
        return torch.cat([(t * gt_mask).sum(dim=1, keepdims=True), (t * other_mask).sum(1, keepdims=True)], dim=1)
    pred_student = cat_mask(F.softmax(out_s / temperature, dim=1))
    pred_teacher = cat_mask(F.softmax(out_t / temperature, dim=1))
    tckd = F.kl_div(torch.log(pred_student), pred_teacher, reduction='none') * (temperature ** 2) / target_r.shape[0]
    pt2 = F.softmax(out_t / temperature - 1000.0 * gt_mask, dim=1)
    ls2 = F.log_softmax(out_s / temperature - 1000.0 * gt_mask, dim=1)
    nckd = F.kl_div(ls2, pt2, reduction='none') * (temperature ** 2) / target_r.shape[0]
    loss = alpha * torch.sum(tckd, dim=1) + beta * torch.sum(nckd, dim=1)
    return torch.sum(loss * ref_sdd_weights(out_t, target, out_t_multi.shape[2]))


# Transcribed from sunshangquan/logit-standardization-KD mdistiller/distillers/MLKD.py (the authors'
# KD_ours.py of Jin-Ying/Multi-Level-Logit-Distillation with logit_stand added): forward_train's
# losses from the four logit tensors, np.percentile thresholds included; the strong-view cc/bc terms
# it computes but does not return are left out.
def ref_mlkd(s_w, s_s, t_w, t_s, target, temperature=4.0, ce_w=0.1, kd_w=0.9, logit_stand=False):
    def normalize(logit):
        return (logit - logit.mean(dim=-1, keepdims=True)) / (1e-7 + logit.std(dim=-1, keepdims=True))

    def kd_loss(ls, lt, t):
        ls, lt = (normalize(ls), normalize(lt)) if logit_stand else (ls, lt)
        return F.kl_div(F.log_softmax(ls / t, dim=1), F.softmax(lt / t, dim=1), reduction="none").sum(1).mean() * t ** 2

    def cc_loss(ls, lt, t):
        ps, pt = F.softmax(ls / t, dim=1), F.softmax(lt / t, dim=1)
        return ((torch.mm(pt.transpose(1, 0), pt) - torch.mm(ps.transpose(1, 0), ps)) ** 2).sum() / lt.shape[1]

    def bc_loss(ls, lt, t):
        ps, pt = F.softmax(ls / t, dim=1), F.softmax(lt / t, dim=1)
        return ((torch.mm(pt, pt.transpose(1, 0)) - torch.mm(ps, ps.transpose(1, 0))) ** 2).sum() / lt.shape[0]
    t_w, t_s = t_w.detach(), t_s.detach()
    pred_teacher_weak = F.softmax(t_w, dim=1)
    confidence = pred_teacher_weak.max(dim=1)[0]
    mask = confidence.le(np.percentile(confidence.numpy().flatten(), 50)).bool()
    class_confidence = torch.sum(pred_teacher_weak, dim=0)
    class_conf_mask = class_confidence.le(np.percentile(class_confidence.numpy().flatten(), 50)).bool()
    temps = [temperature, 3.0, 5.0, 2.0, 6.0]
    loss_ce = ce_w * (F.cross_entropy(s_w, target) + F.cross_entropy(s_s, target))
    loss_kd_weak = sum(kd_w * ((kd_loss(s_w, t_w, t) * mask).mean()) for t in temps)
    loss_kd_strong = sum(kd_w * kd_loss(s_s, t_s, t) for t in temps[:3]) + sum(kd_w * kd_loss(s_w, t_w, t) for t in temps[3:])
    loss_cc_weak = sum(kd_w * ((cc_loss(s_w, t_w, t) * class_conf_mask).mean()) for t in temps)
    loss_bc_weak = sum(kd_w * ((bc_loss(s_w, t_w, t) * mask).mean()) for t in temps)
    return loss_ce + loss_kd_weak + loss_kd_strong + loss_cc_weak + loss_bc_weak


# Transcribed from torchdistill losses/mid_level.py DISTLoss and DISTPlusLoss (forward,
# channel_relation, spatial_relation), with the tensors in place of its io dicts.
def ref_distplus(y_s_logits, y_t_logits, f_s, f_t, beta=2.0, gamma=2.0, iota=1.0, kappa=1.0, tau=1.0, eps=1e-8):
    def pearson_correlation(y_s, y_t):
        return F.cosine_similarity(y_s - y_s.mean(1).unsqueeze(1), y_t - y_t.mean(1).unsqueeze(1), eps=eps)

    def inter_class_relation(y_s, y_t):
        return 1 - pearson_correlation(y_s, y_t).mean()
    y_s = (y_s_logits / tau).softmax(dim=1)
    y_t = (y_t_logits / tau).softmax(dim=1)
    dist_loss = beta * tau ** 2 * inter_class_relation(y_s, y_t) + gamma * tau ** 2 * inter_class_relation(y_s.transpose(0, 1), y_t.transpose(0, 1))
    c_s, c_t = f_s - torch.mean(f_s, dim=1, keepdim=True), f_t - torch.mean(f_t, dim=1, keepdim=True)
    numerator = torch.sum(c_s * c_t, dim=1)
    denominator = torch.sqrt(torch.sum(c_s ** 2, dim=1) * torch.sum(c_t ** 2, dim=1))
    channel = (numerator / (denominator + eps)).mean()
    spatial = inter_class_relation(torch.sum(f_s, dim=1).flatten(1).transpose(0, 1), torch.sum(f_t, dim=1).flatten(1).transpose(0, 1))
    return dist_loss + iota * channel + kappa * spatial


LOSSES = [
    ('kd', ['n:6,5', 'n:6,5!'], lambda a, b: ref_kd(a, b)),
    ('kd_T1', ['n:6,5', 'n:6,5!'], lambda a, b: ref_kd(a, b, T=1.0)),
    ('dist', ['n:6,5', 'n:6,5!'], lambda a, b: ref_dist(a, b)),
    ('dist_weighted', ['n:6,5', 'n:6,5!'], lambda a, b: ref_dist(a, b, beta=2.0, gamma=0.5, tau=1.0)),
    ('dkd', ['n:6,5', 'n:6,5!', 'i:6:5'], lambda a, b, y: ref_dkd(a, b, y)),
    ('dkd_params', ['n:6,5', 'n:6,5!', 'i:6:5'], lambda a, b, y: ref_dkd(a, b, y, alpha=0.5, beta=2.0, T=2.0)),
    ('sp', ['n:4,3,4,4', 'n:4,5,2,2!'], ref_sp),
    ('ft', ['n:4,3,4,4', 'n:4,3,4,4!'], ref_ft),
    ('ab', ['n:4,3,4,4', 'n:4,3,4,4!'], ref_ab),
    ('ab_margin', ['n:4,3,4,4', 'n:4,3,4,4!'], lambda s, t: ref_ab(s, t, margin=0.5)),
    ('at', ['n:4,3,4,4', 'n:4,5,4,4!'], ref_at),
    ('at_pool', ['n:4,3,8,8', 'n:4,5,4,4!'], ref_at),
    ('rkd_distance', ['n:6,8', 'n:6,10!'], ref_rkd_distance),
    ('rkd_angle', ['n:5,8', 'n:5,10!'], ref_rkd_angle),
    ('fitnet', ['n:4,3,4,4', 'n:4,3,4,4!'], ref_fitnet),
    ('ickd', ['n:3,4,3,3', 'n:3,4,3,3!'], ref_ickd),
    ('hcl', ['n:2,3,8,8', 'n:2,3,8,8!'], ref_hcl),
    ('hcl_small', ['n:2,3,2,2', 'n:2,3,2,2!'], ref_hcl),
    ('pkt', ['n:6,8', 'n:6,10!'], ref_pkt),
    ('nst', ['n:3,4,4,4', 'n:3,5,4,4!'], ref_nst),
    ('nst_pool', ['n:3,4,8,8', 'n:3,5,4,4!'], ref_nst),
    ('cc', ['n:5,8', 'n:5,8!'], ref_cc),
    ('vid', ['n:3,4,2,2', 'n:3,4,2,2!', 'n:4'], ref_vid),
    ('kdsvd', ['n:3,5,3,3', 'n:3,6,2,2', 'n:3,5,4,4!', 'n:3,6,3,3!'],
     lambda s1, s2, t1, t2: ref_kdsvd([s1, s2], [t1, t2])),
    ('kdsvd_k2', ['n:2,6,3,3', 'n:2,7,3,3', 'n:2,6,3,3', 'n:2,6,4,4!', 'n:2,7,3,3!', 'n:2,6,2,2!'],
     lambda s1, s2, s3, t1, t2, t3: ref_kdsvd([s1, s2, s3], [t1, t2, t3], k=2)),
    ('kdsvd_mdistiller', ['n:2,3,4,5', 'n:2,4,2,6', 'n:2,2,3,5!', 'n:2,5,3,6!'],
     lambda s1, s2, t1, t2: ref_kdsvd([s1, s2], [t1, t2], layout='mdistiller')),
    ('ofd', ['n:4,6,3,3', 'n:4,6,3,3!', 'n:6!', 'n:6!'],
     lambda s, t, w, b: ref_ofd(s, t, ref_ofd_margin(w, b * 3))),
    ('fsp', ['n:2,3,6,6', 'n:2,4,3,3', 'n:2,5,3,3', 'n:2,3,6,6!', 'n:2,4,3,3!', 'n:2,5,3,3!'],
     lambda s1, s2, s3, t1, t2, t3: ref_fsp([s1, s2, s3], [t1, t2, t3])),
    ('catkd', ['n:3,5,4,4', 'n:3,5,4,4!'], ref_cat_loss),
    ('catkd_raw', ['n:3,5,3,3', 'n:3,5,5,5!'], lambda s, t: ref_cat_loss(s, t, IF_NORMALIZE=False)),
    ('catkd_r4', ['n:2,4,8,8', 'n:2,4,8,8!'], lambda s, t: ref_cat_loss(s, t, CAM_RESOLUTION=4)),
    ('crd_contrast', ['p:4,7'], ref_crd_contrast),
    ('ft_repdistiller', ['n:3,4,4,4', 'n:3,4,4,4!'], ref_ft_repdistiller),
    ('kd_ls', ['n:6,5', 'n:6,5!'], ref_lskd),
    ('dkd_ls', ['n:6,5', 'n:6,5!', 'i:6:5'],
     lambda a, b, y: ref_dkd(ref_ls_normalize(a), ref_ls_normalize(b), y, alpha=9.0, beta=72.0, T=2.0)),
    ('dist_ls', ['n:6,5', 'n:6,5!'], lambda a, b: ref_dist(ref_ls_normalize(a), ref_ls_normalize(b), tau=2.0)),
    ('wttm', ['n:6,5', 'n:6,5!'], ref_wttm),
    ('ttm_g03', ['n:6,5', 'n:6,5!'], lambda a, b: ref_wttm(a, b, l=0.3, weighted=False)),
    ('tfkd_reg', ['n:6,5', 'i:6:5'], ref_tfkd_reg_term),
    ('tfkd_reg_t2', ['n:6,5', 'i:6:5'], lambda z, y: ref_tfkd_reg_term(z, y, T=2.0, correct_prob=0.9)),
    ('tfkd_self', ['n:6,5', 'n:6,5!'], ref_tfkd_self_term),
    ('nkd', ['n:6,5', 'n:6,5!', 'i:6:5'], ref_nkd),
    ('nkd_cifar', ['n:6,7', 'n:6,7!', 'i:6:7'], lambda a, b, y: ref_nkd(a, b, y, temp=3.0, gamma=3.5)),
    ('pskd_ce', ['n:6,5', 'p:6,5!'], ref_pskd_ce),
    ('ctkd_global', ['n:6,5', 'n:6,5!', 'n:1'], lambda a, b, g: ref_ctkd_kd(a, b, ref_ctkd_temp(g, -0.7))),
    ('ctkd_dkd', ['n:6,5', 'n:6,5!', 'i:6:5', 'n:1'],
     lambda a, b, y, g: ref_ctkd_dkd(a, b, y, 1.0, 2.0, ref_ctkd_temp(g, -0.4, t_start=2.0, t_end=5.0))),
    ('ctkd_instance', ['n:6,5', 'n:6,5!', 'p:6,1'], lambda a, b, t: ref_ctkd_instance_kd(a, b, t * 3)),
    ('sdd_kd_maps', ['n:3,4,8,8', 'n:5,4', 'n:5', 'n:3,5,21!', 'i:3:5'],
     lambda x, w, b, pt, y: ref_sdd_kd_loss(ref_sdd_patch_score(x, w, b), pt * 3, 4.0, y)),
    ('sdd_kd_m12', ['n:4,3,6,6', 'n:5,3', 'n:5', 'n:4,5,5!', 'i:4:5'],
     lambda x, w, b, pt, y: ref_sdd_kd_loss(ref_sdd_patch_score(x, w, b, M='[1,2]'), pt * 3, 2.0, y)),
    ('sdd_dkd', ['n:6,5,5', 'n:6,5,5!', 'i:6:5'], lambda s, t, y: ref_sdd_multi_dkd(s, t * 3, y, 1.0, 8.0, 4.0)),
    ('mlkd', ['n:6,7', 'n:6,7', 'n:6,7!', 'n:6,7!', 'i:6:7'], lambda a, b, c, d, y: ref_mlkd(a, b, c * 2, d * 2, y)),
    ('mlkd_odd_ls', ['n:5,8', 'n:5,8', 'n:5,8!', 'n:5,8!', 'i:5:8'],
     lambda a, b, c, d, y: ref_mlkd(a, b, c * 2, d * 2, y, temperature=2.0, kd_w=9.0, logit_stand=True)),
    ('distplus', ['n:5,6', 'n:5,6!', 'n:5,4,3,3', 'n:5,4,3,3!'], lambda a, b, f, g: ref_distplus(a, b * 2, f, g)),
    ('distplus_tau4', ['n:4,7', 'n:4,7!', 'n:4,3,2,2', 'n:4,3,2,2!'],
     lambda a, b, f, g: ref_distplus(a, b * 2, f, g, beta=1.0, gamma=0.5, iota=2.0, kappa=3.0, tau=4.0)),
]


def build_losses():
    out = {}
    for i, (name, specs, fn) in enumerate(LOSSES):
        gen = torch.Generator().manual_seed(5000 + i)
        inputs = [make_input(s, gen) for s in specs]
        leaves = [x.clone().requires_grad_(x.is_floating_point() and not s.endswith('!')) for x, s in zip(inputs, specs)]
        value = fn(*leaves)
        value.backward()
        out[name] = {'inputs': [enc(x) for x in inputs], 'value': value.item(),
                     'grads': [enc(x.grad) if x.grad is not None else None for x in leaves]}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'ops.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': build_ops()}, f)
    with open(os.path.join(OUT, 'cnn.json'), 'w') as f:
        json.dump(build_cnn(), f)
    with open(os.path.join(OUT, 'py_checkpoint.json'), 'w') as f:
        json.dump(build_serialization(), f)
    with open(os.path.join(OUT, 'nn.json'), 'w') as f:
        json.dump(build_nn(), f)
    with open(os.path.join(OUT, 'zoo.json'), 'w') as f:
        json.dump(build_zoo(), f)
    with open(os.path.join(OUT, 'optim.json'), 'w') as f:
        json.dump(build_optim(), f)
    with open(os.path.join(OUT, 'losses.json'), 'w') as f:
        json.dump(build_losses(), f)
    seen = check_js_saved()
    if seen is not None:
        with open(os.path.join(OUT, 'js_saved.seen-by-pytorch.json'), 'w') as f:
            json.dump(seen, f)
    print(f'fixtures written: {len(CASES)} op cases')


if __name__ == '__main__':
    sys.exit(main())
