"""Step-level references for methods with extra modules: the method's PyTorch step (transcribed
from its reference implementation) run for 10 SGD steps in float64 from fixed weights and
batches; test/trajectories.test.ts replays the same steps in distill-ts. Development time only:
    /usr/bin/python3 scripts/make_trajectories.py   (needs python3-torch)"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from make_fixtures import ref_compute_fsp as compute_fsp, ref_crd_contrast as contrast_loss
from make_fixtures import RefGradientReversalFunction, ref_ctkd_kd, ref_ctkd_dkd

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'trajectories.json')
torch.set_default_dtype(torch.float64)


def enc(t):
    t = t.detach()
    return {'shape': list(t.shape), 'dtype': 'float64' if t.is_floating_point() else 'int64', 'data': t.flatten().tolist()}


class Net(nn.Module):
    """conv1 -> ReLU -> conv2 (stride 2) -> ReLU -> mean -> fc; the features are the two conv outputs."""

    def __init__(self, c1, c2, classes=5, bn=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1)
        if bn:
            self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.fc = nn.Linear(c2, classes)

    def forward(self, x, pooled=False):
        f1 = self.conv1(x)
        h = self.bn1(f1) if hasattr(self, 'bn1') else f1
        f2 = self.conv2(F.relu(h))
        p = F.relu(f2).mean((2, 3))
        return self.fc(p), ([p] if pooled else [f1, f2])


# Transcribed from RepDistiller distiller_zoo/VID.py (from the authors' code).
class VIDLoss(nn.Module):
    def __init__(self, num_input_channels, num_mid_channel, num_target_channels, init_pred_var=5.0, eps=1e-5):
        super().__init__()

        def conv1x1(i, o):
            return nn.Conv2d(i, o, kernel_size=1, padding=0, bias=False, stride=1)

        self.regressor = nn.Sequential(conv1x1(num_input_channels, num_mid_channel), nn.ReLU(),
                                       conv1x1(num_mid_channel, num_mid_channel), nn.ReLU(),
                                       conv1x1(num_mid_channel, num_target_channels))
        self.log_scale = torch.nn.Parameter(np.log(np.exp(init_pred_var - eps) - 1.0) * torch.ones(num_target_channels))
        self.eps = eps

    def forward(self, input, target):
        s_H, t_H = input.shape[2], target.shape[2]
        if s_H > t_H:
            input = F.adaptive_avg_pool2d(input, (t_H, t_H))
        elif s_H < t_H:
            target = F.adaptive_avg_pool2d(target, (s_H, s_H))
        pred_mean = self.regressor(input)
        pred_var = torch.log(1.0 + torch.exp(self.log_scale)) + self.eps
        pred_var = pred_var.view(1, -1, 1, 1)
        neg_log_prob = 0.5 * ((pred_mean - target) ** 2 / pred_var + torch.log(pred_var))
        return torch.mean(neg_log_prob)


def vid_trajectory(steps=10, beta=2.0):
    torch.manual_seed(7)
    student, teacher = Net(4, 6), Net(5, 8)
    heads = nn.ModuleList([VIDLoss(4, 5, 5), VIDLoss(6, 8, 8)])
    gen = torch.Generator().manual_seed(8)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    initial = {'student': {k: enc(v) for k, v in student.state_dict().items()},
               'teacher': {k: enc(v) for k, v in teacher.state_dict().items()},
               'heads': [{k: enc(v) for k, v in h.state_dict().items()} for h in heads]}
    teacher.eval()
    # RepDistiller's train_student.py: the criterion modules train with the student.
    opt = torch.optim.SGD(list(student.parameters()) + list(heads.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for x, y in batches:
        logits, feat_s = student(x)
        with torch.no_grad():
            _, feat_t = teacher(x)
        loss_kd = sum(h(fs, ft) for h, fs, ft in zip(heads, feat_s, feat_t))
        loss = F.cross_entropy(logits, y) + beta * loss_kd
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'beta': beta, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {'student': {k: enc(v) for k, v in student.state_dict().items()},
                      'heads': [{k: enc(v) for k, v in h.state_dict().items()} for h in heads]}}


# Transcribed from RepDistiller models/util.py (LinearEmbed) and distiller_zoo/CC.py.
class LinearEmbed(nn.Module):
    def __init__(self, dim_in=1024, dim_out=128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        return self.linear(x)


def correlation(f_s, f_t):
    delta = torch.abs(f_s - f_t)
    return torch.mean((delta[:-1] * delta[1:]).sum(1))


def cc_trajectory(steps=10, beta=2.0, feat_dim=16):
    torch.manual_seed(11)
    student, teacher = Net(4, 6), Net(5, 8)
    embed_s, embed_t = LinearEmbed(6, feat_dim), LinearEmbed(8, feat_dim)
    gen = torch.Generator().manual_seed(12)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    state = lambda m: {k: enc(v) for k, v in m.state_dict().items()}
    initial = {'student': state(student), 'teacher': state(teacher), 'heads': [state(embed_s), state(embed_t)]}
    teacher.eval()
    params = list(student.parameters()) + list(embed_s.parameters()) + list(embed_t.parameters())
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for x, y in batches:
        logits, [f_s] = student(x, pooled=True)
        with torch.no_grad():
            _, [f_t] = teacher(x, pooled=True)
        loss = F.cross_entropy(logits, y) + beta * correlation(embed_s(f_s), embed_t(f_t))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'beta': beta, 'featDim': feat_dim, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches],
            'losses': losses, 'final': {'student': state(student), 'heads': [state(embed_s), state(embed_t)]}}


# RepDistiller helper/pretrain.py init() (the 'fsp' branch), with FSP.py's compute_fsp from the fixture script.
def fsp_trajectory(steps=10, lr=0.05):
    """The initialisation stage: the student's feature modules trained on Σ MSE of FSP matrices."""
    torch.manual_seed(13)
    student, teacher = Net(4, 6, bn=True), Net(4, 6, bn=True)
    gen = torch.Generator().manual_seed(14)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    state = lambda m: {k: enc(v) for k, v in m.state_dict().items()}
    with torch.no_grad():  # a teacher with non-trivial BatchNorm statistics
        teacher.bn1.running_mean.uniform_(-0.5, 0.5, generator=gen)
        teacher.bn1.running_var.uniform_(0.5, 1.5, generator=gen)
    initial = {'student': state(student), 'teacher': state(teacher), 'heads': []}
    teacher.eval()
    student.eval()
    init_modules = nn.ModuleList([student.conv1, student.bn1, student.conv2])  # get_feat_modules()
    init_modules.train()
    opt = torch.optim.SGD(init_modules.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    losses = []
    for x, y in batches:
        _, feat_s = student(x)
        with torch.no_grad():
            _, feat_t = teacher(x)
        g_s, g_t = [x] + feat_s, [x] + [f.detach() for f in feat_t]
        loss = sum((s - t).pow(2).mean() for s, t in zip(compute_fsp(g_s), compute_fsp(g_t)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'beta': 1.0, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {'student': state(student), 'heads': []}}


# Transcribed from DefangChen/SimKD models/util.py (SimKD) and helper/loops.py (the 'simkd' branch).
class SimKDModule(nn.Module):
    def __init__(self, *, s_n, t_n, factor=2):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))

        def conv1x1(in_channels, out_channels, stride=1):
            return nn.Conv2d(in_channels, out_channels, kernel_size=1, padding=0, stride=stride, bias=False)

        def conv3x3(in_channels, out_channels, stride=1, groups=1):
            return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride, bias=False, groups=groups)

        setattr(self, 'transfer', nn.Sequential(
            conv1x1(s_n, t_n // factor), nn.BatchNorm2d(t_n // factor), nn.ReLU(inplace=True),
            conv3x3(t_n // factor, t_n // factor), nn.BatchNorm2d(t_n // factor), nn.ReLU(inplace=True),
            conv1x1(t_n // factor, t_n), nn.BatchNorm2d(t_n), nn.ReLU(inplace=True)))

    def forward(self, feat_s, feat_t, cls_t):
        s_H, t_H = feat_s.shape[2], feat_t.shape[2]
        if s_H > t_H:
            source = F.adaptive_avg_pool2d(feat_s, (t_H, t_H))
            target = feat_t
        else:
            source = feat_s
            target = F.adaptive_avg_pool2d(feat_t, (s_H, s_H))
        trans_feat_t = target
        trans_feat_s = getattr(self, 'transfer')(source)
        temp_feat = self.avg_pool(trans_feat_s)
        temp_feat = temp_feat.view(temp_feat.size(0), -1)
        pred_feat_s = cls_t(temp_feat)
        return trans_feat_s, trans_feat_t, pred_feat_s


def simkd_trajectory(steps=10, beta=1.0):
    torch.manual_seed(15)
    student, teacher = Net(4, 6), Net(5, 8)
    proj = SimKDModule(s_n=6, t_n=8, factor=2)
    gen = torch.Generator().manual_seed(16)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    state = lambda m: {k: enc(v) for k, v in m.state_dict().items()}
    initial = {'student': state(student), 'teacher': state(teacher), 'heads': [state(proj)]}
    teacher.eval()
    opt = torch.optim.SGD(list(student.parameters()) + list(proj.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses, logits = [], []
    for x, y in batches:
        _, feat_s = student(x)
        with torch.no_grad():
            _, feat_t = teacher(x)
        trans_feat_s, trans_feat_t, pred_feat_s = proj(feat_s[-1], feat_t[-1].detach(), teacher.fc)
        loss = beta * F.mse_loss(trans_feat_s, trans_feat_t)  # -c 0 -d 0 -b 1
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # validate(): the deployed prediction, all modules in eval mode
    student.eval()
    proj.eval()
    with torch.no_grad():
        _, feat_s = student(batches[0][0])
        _, feat_t = teacher(batches[0][0])
        test_logits = proj(feat_s[-1], feat_t[-1], teacher.fc)[2]
    return {'beta': beta, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {'student': state(student), 'heads': [state(proj)]}, 'testLogits': enc(test_logits)}


# Transcribed from RepDistiller crd/criterion.py and crd/memory.py (ContrastMemory with the
# dataset's contrast indices, as CIFAR100InstanceSample mode 'exact' supplies them).
class CRDEmbed(nn.Module):
    def __init__(self, dim_in=1024, dim_out=128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.linear(x)
        norm = x.pow(2).sum(1, keepdim=True).pow(1. / 2)
        return x.div(norm)


class ContrastMemory(nn.Module):
    def __init__(self, inputSize, outputSize, K, T=0.07, momentum=0.5):
        super().__init__()
        self.nLem = outputSize
        self.K = K
        self.register_buffer('params', torch.tensor([K, T, -1, -1, momentum]))
        stdv = 1. / math.sqrt(inputSize / 3)
        self.register_buffer('memory_v1', torch.rand(outputSize, inputSize).mul_(2 * stdv).add_(-stdv))
        self.register_buffer('memory_v2', torch.rand(outputSize, inputSize).mul_(2 * stdv).add_(-stdv))

    def forward(self, v1, v2, y, idx):
        K = int(self.params[0].item())
        T = self.params[1].item()
        Z_v1 = self.params[2].item()
        Z_v2 = self.params[3].item()
        momentum = self.params[4].item()
        batchSize = v1.size(0)
        outputSize = self.memory_v1.size(0)
        inputSize = self.memory_v1.size(1)
        weight_v1 = torch.index_select(self.memory_v1, 0, idx.view(-1)).detach()
        weight_v1 = weight_v1.view(batchSize, K + 1, inputSize)
        out_v2 = torch.bmm(weight_v1, v2.view(batchSize, inputSize, 1))
        out_v2 = torch.exp(torch.div(out_v2, T))
        weight_v2 = torch.index_select(self.memory_v2, 0, idx.view(-1)).detach()
        weight_v2 = weight_v2.view(batchSize, K + 1, inputSize)
        out_v1 = torch.bmm(weight_v2, v1.view(batchSize, inputSize, 1))
        out_v1 = torch.exp(torch.div(out_v1, T))
        if Z_v1 < 0:
            self.params[2] = out_v1.mean() * outputSize
            Z_v1 = self.params[2].clone().detach().item()
        if Z_v2 < 0:
            self.params[3] = out_v2.mean() * outputSize
            Z_v2 = self.params[3].clone().detach().item()
        out_v1 = torch.div(out_v1, Z_v1).contiguous()
        out_v2 = torch.div(out_v2, Z_v2).contiguous()
        with torch.no_grad():
            l_pos = torch.index_select(self.memory_v1, 0, y.view(-1))
            l_pos.mul_(momentum)
            l_pos.add_(torch.mul(v1, 1 - momentum))
            l_norm = l_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            self.memory_v1.index_copy_(0, y, l_pos.div(l_norm))
            ab_pos = torch.index_select(self.memory_v2, 0, y.view(-1))
            ab_pos.mul_(momentum)
            ab_pos.add_(torch.mul(v2, 1 - momentum))
            ab_norm = ab_pos.pow(2).sum(1, keepdim=True).pow(0.5)
            self.memory_v2.index_copy_(0, y, ab_pos.div(ab_norm))
        return out_v1, out_v2


class CRDLoss(nn.Module):
    def __init__(self, s_dim, t_dim, feat_dim, n_data, nce_k, nce_t=0.07, nce_m=0.5):
        super().__init__()
        self.embed_s = CRDEmbed(s_dim, feat_dim)
        self.embed_t = CRDEmbed(t_dim, feat_dim)
        self.contrast = ContrastMemory(feat_dim, n_data, nce_k, nce_t, nce_m)
        self.n_data = n_data

    def forward(self, f_s, f_t, idx, contrast_idx):
        f_s = self.embed_s(f_s)
        f_t = self.embed_t(f_t)
        out_s, out_t = self.contrast(f_s, f_t, idx, contrast_idx)
        return contrast_loss(out_s, self.n_data) + contrast_loss(out_t, self.n_data)


def crd_trajectory(steps=10, beta=0.8, n_data=12, nce_k=5, feat_dim=8):
    torch.manual_seed(17)
    student, teacher = Net(4, 6), Net(5, 8)
    crd = CRDLoss(6, 8, feat_dim, n_data, nce_k)
    gen = torch.Generator().manual_seed(18)
    rng = np.random.RandomState(19)
    labels = torch.randint(0, 3, (n_data,), generator=gen)
    cls_negative = [np.where(labels.numpy() != c)[0] for c in range(3)]
    batches, contrast = [], []
    for _ in range(steps):
        index = torch.randperm(n_data, generator=gen)[:4]
        x = torch.randn(4, 3, 8, 8, generator=gen)
        batches.append((x, labels[index], index))
        # CIFAR100InstanceSample.__getitem__, mode 'exact': the sample, then K others of other classes.
        contrast.append(torch.from_numpy(np.stack([
            np.hstack((np.asarray([i]), rng.choice(cls_negative[labels[i]], nce_k, replace=True)))
            for i in index.tolist()])).long())
    state = lambda m: {k: enc(v) for k, v in m.state_dict().items()}
    initial = {'student': state(student), 'teacher': state(teacher), 'heads': [state(crd)]}
    teacher.eval()
    opt = torch.optim.SGD(list(student.parameters()) + list(crd.embed_s.parameters()) + list(crd.embed_t.parameters()),
                          lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for (x, y, index), contrast_idx in zip(batches, contrast):
        logits, [f_s] = student(x, pooled=True)
        with torch.no_grad():
            _, [f_t] = teacher(x, pooled=True)
        loss = F.cross_entropy(logits, y) + beta * crd(f_s, f_t, index, contrast_idx)
        loss = loss.squeeze()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'beta': beta, 'featDim': feat_dim, 'nceK': nce_k, 'labels': enc(labels), 'initial': initial,
            'batches': [{'x': enc(x), 'y': enc(y), 'index': enc(i)} for x, y, i in batches],
            'contrast': [enc(c) for c in contrast], 'losses': losses, 'final': {'student': state(student), 'heads': [state(crd)]}}


# Transcribed from mdistiller distillers/OFD.py (ConnectorConvBN, init_ofd_modules, ofd_loss, train):
# the teacher in train mode; the margins built in float64 (mdistiller rounds them to float32 first).
def ofd_trajectory(steps=10, feat_weight=0.01):
    from make_fixtures import ref_ofd
    torch.manual_seed(21)
    student, teacher = Net(4, 6, bn=True), Net(5, 8, bn=True)
    gen = torch.Generator().manual_seed(22)
    with torch.no_grad():  # a teacher BatchNorm with varied margins, both branches of the formula
        teacher.bn1.weight.uniform_(0.2, 1.5, generator=gen)
        teacher.bn1.bias.copy_(torch.randn(5, generator=gen) * 2)
        teacher.bn1.running_mean.uniform_(-0.5, 0.5, generator=gen)
        teacher.bn1.running_var.uniform_(0.5, 1.5, generator=gen)
    conv = nn.Conv2d(4, 5, kernel_size=1, stride=1, padding=0, bias=False)
    conv.weight.data.normal_(0, math.sqrt(2.0 / (1 * 1 * 5)))
    bn = nn.BatchNorm2d(5)
    bn.weight.data.fill_(1)
    bn.bias.data.zero_()
    connectors = nn.ModuleList([nn.Sequential(conv, bn)])
    margin = []
    for s, m in zip(teacher.bn1.weight.data, teacher.bn1.bias.data):
        s = abs(s.item())
        m = m.item()
        cdf = 0.5 * (1 + math.erf((-m / s) / math.sqrt(2)))  # norm.cdf(-m / s)
        margin.append(-s * math.exp(-((m / s) ** 2) / 2) / math.sqrt(2 * math.pi) / cdf + m if cdf > 0.001 else -3 * s)
    margins = [torch.tensor(margin, dtype=torch.float64).unsqueeze(1).unsqueeze(2).unsqueeze(0)]
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    state = lambda m: {k: enc(v) for k, v in m.state_dict().items()}
    initial = {'student': state(student), 'teacher': state(teacher), 'heads': [state(connectors)]}
    preact = {}
    student.bn1.register_forward_hook(lambda m, i, o: preact.__setitem__('s', o))
    teacher.bn1.register_forward_hook(lambda m, i, o: preact.__setitem__('t', o))
    for m in (student, teacher, connectors):
        m.train()  # OFD.train(): every child, the teacher included
    opt = torch.optim.SGD(list(student.parameters()) + list(connectors.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for x, y in batches:
        logits, _ = student(x)
        with torch.no_grad():
            teacher(x)
        feat_s = [connectors[0](preact['s'])]
        feat_t = [F.adaptive_avg_pool2d(preact['t'], feat_s[0].shape[-2:]).detach()]
        loss_distill = ref_ofd(feat_s[0], feat_t[0], margins[0]) / 2 ** (1 - 0 - 1)
        loss = F.cross_entropy(logits, y) + feat_weight * loss_distill
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'beta': feat_weight, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches],
            'losses': losses, 'final': {'student': state(student), 'teacher': state(teacher), 'heads': [state(connectors)]}}


# Transcribed from lgcnsai/PS-KD-Pytorch main.py train() (the --PSKD branch) and
# loss/pskd_loss.py: soft targets from the previous epoch's predictions kept per sample.
def pskd_trajectory(epochs=3, n_data=8, batch=4, alpha_T=0.8):
    torch.manual_seed(23)
    model = Net(4, 6, bn=True)
    gen = torch.Generator().manual_seed(24)
    images = torch.randn(n_data, 3, 8, 8, generator=gen)
    labels = torch.randint(0, 5, (n_data,), generator=gen)
    initial = {k: enc(v) for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    all_predictions = torch.zeros(n_data, 5)
    logsoftmax = nn.LogSoftmax(dim=1)
    steps, losses = [], []
    model.train()
    for epoch in range(epochs):
        alpha_t = max(0, alpha_T * ((epoch + 1) / epochs))
        order = torch.randperm(n_data, generator=gen)
        for b in range(n_data // batch):
            input_indices = order[b * batch:(b + 1) * batch]
            inputs, targets = images[input_indices], labels[input_indices]
            targets_one_hot = torch.eye(5)[targets.numpy()]
            if epoch == 0:
                all_predictions[input_indices] = targets_one_hot
            soft_targets = ((1 - alpha_t) * targets_one_hot) + (alpha_t * all_predictions[input_indices])
            outputs = model(inputs)[0]
            softmax_output = F.softmax(outputs, dim=1)
            loss = (- soft_targets * logsoftmax(outputs)).mean(0).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            all_predictions[input_indices] = softmax_output.detach()
            steps.append({'epoch': epoch, 'index': enc(input_indices), 'x': enc(inputs), 'y': enc(targets)})
            losses.append(loss.item())
    return {'epochs': epochs, 'alphaT': alpha_T, 'labels': enc(labels), 'initial': initial, 'steps': steps, 'losses': losses,
            'final': {k: enc(v) for k, v in model.state_dict().items()}, 'predictions': enc(all_predictions)}


def dlb_trajectory(steps=10, T=3.0, alpha=1.0):
    """Meta-knowledge-Lab/DLB dlb.py train_one_epoch, transcribed: two passes per step, Nesterov SGD."""
    torch.manual_seed(9)
    model = Net(4, 6, bn=True)
    gen = torch.Generator().manual_seed(10)
    batches = [(torch.randn(4, 2, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    initial = {k: enc(v) for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    pre_data, pre_out, losses = None, None, []
    for imgs, label in batches:
        out = model(imgs[:, 0, ...])[0]
        if pre_data is not None:
            pre_images, pre_label = pre_data
            out_pre = model(pre_images[:, 1, ...])[0]
            ce_loss = F.cross_entropy(torch.cat((out_pre, out), dim=0), torch.cat((pre_label, label), dim=0))
            dml_loss = F.kl_div(F.log_softmax(out_pre / T, dim=1), F.softmax(pre_out.detach() / T, dim=1),
                                reduction='batchmean') * T * T
            loss = ce_loss + alpha * dml_loss
        else:
            loss = F.cross_entropy(out, label)
        pre_data, pre_out = (imgs, label), out
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {'initial': initial, 'batches': [{'x0': enc(x[:, 0]), 'x1': enc(x[:, 1]), 'y': enc(y)} for x, y in batches],
            'losses': losses, 'final': {k: enc(v) for k, v in model.state_dict().items()}}


# Transcribed from zhengli97/CTKD: train_student.py (CosineDecay, the optimizer over student and
# Global_T), helper/loops.py train_distill (temp = t_start + t_end * sigmoid(mlp(...)), loss =
# gamma * cls + alpha * div + beta * kd), models/temp_global.py Global_T.
class RefGlobalT(nn.Module):
    def __init__(self):
        super().__init__()
        self.global_T = nn.Parameter(torch.ones(1), requires_grad=True)

    def forward(self, fake_input1, fake_input2, lambda_):
        return RefGradientReversalFunction.apply(self.global_T, lambda_)


def ref_cosine_decay(i, max_value=0.0, min_value=-1.0, num_loops=3):
    i = min(max(i, 0), num_loops)
    return (math.cos(i * math.pi / num_loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


def ctkd_trajectory(base='kd', epochs=5, per_epoch=2, loops=3):
    torch.manual_seed(31 if base == 'kd' else 32)
    student, teacher, mlp = Net(4, 6), Net(5, 8), RefGlobalT()
    with torch.no_grad():
        mlp.global_T.fill_(0.3)
    gen = torch.Generator().manual_seed(33)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(epochs * per_epoch)]
    initial = {'student': {k: enc(v) for k, v in student.state_dict().items()}, 'teacher': {k: enc(v) for k, v in teacher.state_dict().items()},
               'heads': [{k: enc(v) for k, v in mlp.state_dict().items()}]}
    opt = torch.optim.SGD(list(student.parameters()) + list(mlp.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    gamma, alpha, beta = (0.1, 0.9, 0.0) if base == 'kd' else (1.0, 0.0, 1.0)
    student.train(), mlp.train(), teacher.eval()
    losses, temps = [], []
    for epoch in range(1, epochs + 1):
        cos_value = ref_cosine_decay(epoch, num_loops=loops)
        for b in range(per_epoch):
            x, y = batches[(epoch - 1) * per_epoch + b]
            logit_s = student(x)[0]
            with torch.no_grad():
                logit_t = teacher(x)[0]
            temp = mlp(logit_t, logit_s, cos_value)
            temp = 1.0 + 20.0 * torch.sigmoid(temp)
            loss_cls = F.cross_entropy(logit_s, y)
            loss_div = ref_ctkd_kd(logit_s, logit_t, temp)
            loss_kd = ref_ctkd_dkd(logit_s, logit_t, y, 1.0, 2.0, temp) if base == 'dkd' else 0
            loss = gamma * loss_cls + alpha * loss_div + beta * loss_kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            temps.append(temp.item())
    return {'base': base, 'perEpoch': per_epoch, 'loops': loops, 'initial': initial,
            'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses, 'temperatures': temps,
            'final': {'student': {k: enc(v) for k, v in student.state_dict().items()}, 'heads': [{k: enc(v) for k, v in mlp.state_dict().items()}]}}



# Transcribed from mdistiller engine/dot.py (DistillationOrientedTrainer: step_kd keeps the
# distillation gradients, step applies the task update, then the distillation update) and
# engine/trainer.py DOT.train_iter (loss_kd.backward(retain_graph=True), step_kd, zero_grad,
# loss_ce.backward, step), momenta 0.9 -/+ delta.
class RefDOT(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum, momentum_kd, weight_decay):
        super().__init__(params, dict(lr=lr, momentum=momentum, momentum_kd=momentum_kd, dampening=0, weight_decay=weight_decay))
        self.kd = []

    @torch.no_grad()
    def step_kd(self):
        self.kd = [(p, p.grad, self.state[p].get('momentum_kd_buffer')) for p in self.param_groups[0]['params'] if p.grad is not None]

    @torch.no_grad()
    def step(self):
        g = self.param_groups[0]
        wd, m, m_kd, lr = g['weight_decay'], g['momentum'], g['momentum_kd'], g['lr']
        task = [p for p in g['params'] if p.grad is not None]
        kd_params = [p for p, _, _ in self.kd]
        in_list = lambda t, l: any(t is i for i in l)
        for p in task:
            d_p = p.grad.add(p, alpha=wd) if wd != 0 else p.grad
            buf = self.state[p].get('momentum_buffer')
            if buf is None:
                buf = torch.clone(d_p).detach()
            elif in_list(p, kd_params):
                buf.mul_(m).add_(d_p)
            else:
                buf.mul_((m_kd + m) / 2.).add_(d_p)
            self.state[p]['momentum_buffer'] = buf
            p.add_(buf, alpha=-lr)
        for p, d_p, buf in self.kd:
            if buf is None:
                buf = torch.clone(d_p).detach()
            elif in_list(p, task):
                buf.mul_(m_kd).add_(d_p)
            else:
                if wd != 0:
                    d_p = d_p.add(p, alpha=wd)
                buf.mul_((m_kd + m) / 2.).add_(d_p)
            self.state[p]['momentum_kd_buffer'] = buf
            p.add_(buf, alpha=-lr)
        self.kd = []


def dot_trajectory(method='kd', steps=10, delta=0.075):
    """KD (mdistiller's: 0.1 CE + 0.9 KD at T 4) or CTKD (a temperature only the distillation loss reaches) under DOT."""
    torch.manual_seed(41 if method == 'kd' else 42)
    student, teacher, temp = Net(4, 6), Net(5, 8), RefGlobalT()
    gen = torch.Generator().manual_seed(43)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    initial = {'student': {k: enc(v) for k, v in student.state_dict().items()}, 'teacher': {k: enc(v) for k, v in teacher.state_dict().items()},
               'heads': [{k: enc(v) for k, v in temp.state_dict().items()}] if method == 'ctkd' else []}
    params = list(student.parameters()) + (list(temp.parameters()) if method == 'ctkd' else [])
    opt = RefDOT(params, lr=0.05, momentum=0.9 - delta, momentum_kd=0.9 + delta, weight_decay=5e-4)
    student.train(), teacher.eval()
    losses = []
    for step, (x, y) in enumerate(batches):
        logit_s = student(x)[0]
        with torch.no_grad():
            logit_t = teacher(x)[0]
        if method == 'kd':
            T = 4.0
            loss_ce = 0.1 * F.cross_entropy(logit_s, y)
        else:
            T = 1.0 + 20.0 * torch.sigmoid(temp(logit_t, logit_s, ref_cosine_decay(step // 2 + 1)))
            loss_ce = 0.1 * F.cross_entropy(logit_s, y)
        loss_kd = 0.9 * ref_ctkd_kd(logit_s, logit_t, T)
        opt.zero_grad(set_to_none=True)
        loss_kd.backward(retain_graph=True)
        opt.step_kd()
        opt.zero_grad(set_to_none=True)
        loss_ce.backward()
        opt.step()
        losses.append((loss_ce + loss_kd).item())
    return {'beta': delta, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {'student': {k: enc(v) for k, v in student.state_dict().items()},
                      'heads': [{k: enc(v) for k, v in temp.state_dict().items()}] if method == 'ctkd' else []}}



# Transcribed from alinlab/cs-kd train.py (train(), the --cls branch, and its KDLoss): the first half
# of a pair batch with gradient, the partners' half in train mode without, CE + lamda * KD.
def cskd_trajectory(steps=10, temp=4.0, lamda=1.0):
    torch.manual_seed(51)
    net = Net(4, 6, bn=True)
    gen = torch.Generator().manual_seed(52)
    batches = [(torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 5, (8,), generator=gen)) for _ in range(steps)]
    initial = {k: enc(v) for k, v in net.state_dict().items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()

    def kdloss(input, target):
        log_p = torch.log_softmax(input / temp, dim=1)
        q = torch.softmax(target / temp, dim=1)
        return nn.KLDivLoss(reduction='sum')(log_p, q) * (temp ** 2) / input.size(0)
    net.train()
    losses = []
    for inputs, targets in batches:
        batch_size = inputs.size(0)
        targets_ = targets[:batch_size // 2]
        outputs = net(inputs[:batch_size // 2])[0]
        loss = torch.mean(criterion(outputs, targets_))
        with torch.no_grad():
            outputs_cls = net(inputs[batch_size // 2:])[0]
        cls_loss = kdloss(outputs, outputs_cls.detach())
        loss += lamda * cls_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {k: enc(v) for k, v in net.state_dict().items()}}



# Transcribed from luanyunteng/pytorch-be-your-own-teacher: models/resnet.py (branchBottleNeck, a
# middle head: bottleneck -> avgpool -> fc) and train.py (kd_loss_function, feature_loss_function,
# the total loss). The net is the fixture Net; its head sits on conv1's output.
def ref_branch_bottleneck(channel_in, channel_out, kernel_size):
    middle_channel = channel_out // 4
    return nn.Sequential(
        nn.Conv2d(channel_in, middle_channel, kernel_size=1, stride=1), nn.BatchNorm2d(middle_channel), nn.ReLU(),
        nn.Conv2d(middle_channel, middle_channel, kernel_size=kernel_size, stride=kernel_size), nn.BatchNorm2d(middle_channel), nn.ReLU(),
        nn.Conv2d(middle_channel, channel_out, kernel_size=1, stride=1), nn.BatchNorm2d(channel_out), nn.ReLU())


class RefHead(nn.Module):
    def __init__(self, cin, width, kernel, classes):
        super().__init__()
        self.bottleneck = ref_branch_bottleneck(cin, width, kernel)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        fea = F.adaptive_avg_pool2d(self.bottleneck(x), (1, 1))
        return self.fc(torch.flatten(fea, 1)), fea


def byot_trajectory(steps=10, temperature=3.0, alpha=0.1, beta=1e-2):
    torch.manual_seed(61)
    net, head = Net(4, 8, bn=True), RefHead(4, 8, 2, 5)
    gen = torch.Generator().manual_seed(62)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    initial = {'student': {k: enc(v) for k, v in net.state_dict().items()}, 'heads': [{k: enc(v) for k, v in head.state_dict().items()}]}
    optimizer = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()

    def kd_loss_function(output, target_output):
        output_log_softmax = torch.log_softmax(output / temperature, dim=1)
        return -torch.mean(torch.sum(output_log_softmax * target_output, dim=1))

    def feature_loss_function(fea, target_fea):
        loss = (fea - target_fea) ** 2 * ((fea > 0) | (target_fea > 0)).float()
        return torch.abs(loss).sum()
    net.train(), head.train()
    losses = []
    for x, target in batches:
        f1 = net.conv1(x)
        output, (final_fea,) = net(x, pooled=True)
        middle_output1, middle1_fea = head(f1)
        final_fea = final_fea.reshape(final_fea.shape[0], -1, 1, 1)
        loss = criterion(output, target)
        middle1_loss = criterion(middle_output1, target)
        temp4 = torch.softmax(output / temperature, dim=1)
        loss1by4 = kd_loss_function(middle_output1, temp4.detach()) * (temperature ** 2)
        feature_loss_1 = feature_loss_function(middle1_fea, final_fea.detach())
        total_loss = (1 - alpha) * (loss + middle1_loss) + alpha * loss1by4 + beta * feature_loss_1
        optimizer.zero_grad()
        total_loss.backward()
        optimizer.step()
        losses.append(total_loss.item())
    return {'beta': beta, 'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': {'student': {k: enc(v) for k, v in net.state_dict().items()}, 'heads': [{k: enc(v) for k, v in head.state_dict().items()}]}}



# Transcribed from YingZhangDUT/Deep-Mutual-Learning train_models.py (TensorFlow): kl_loss_compute,
# _tower_loss (network i: CE + the KL from every other network), and each network's gradients taken
# for its own variables only, all applied from the same forward. Here: three Nets, plain SGD each.
def dml_trajectory(steps=8):
    torch.manual_seed(71)
    nets = [Net(4, 6, bn=True), Net(5, 8, bn=True), Net(3, 4, bn=True)]
    gen = torch.Generator().manual_seed(72)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 5, (4,), generator=gen)) for _ in range(steps)]
    initial = [{k: enc(v) for k, v in n.state_dict().items()} for n in nets]
    opts = [torch.optim.SGD(n.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4) for n in nets]

    def kl_loss_compute(logits1, logits2):
        pred1 = F.softmax(logits1, dim=1)
        pred2 = F.softmax(logits2, dim=1)
        return torch.mean(torch.sum(pred2 * torch.log(1e-8 + pred2 / (pred1 + 1e-8)), 1))
    for n in nets:
        n.train()
    losses = []
    for x, y in batches:
        logits = [n(x)[0] for n in nets]
        net_loss = []
        for i in range(3):
            loss = F.cross_entropy(logits[i], y)
            for j in range(3):
                if i != j:
                    # compute_gradients(net_loss[i], var_list=net i): network j's output is a constant here.
                    loss = loss + kl_loss_compute(logits[i], logits[j].detach())
            net_loss.append(loss)
        for o in opts:
            o.zero_grad()
        sum(net_loss).backward()
        for o in opts:
            o.step()
        losses.append(sum(l.item() for l in net_loss))
    return {'initial': initial, 'batches': [{'x': enc(x), 'y': enc(y)} for x, y in batches], 'losses': losses,
            'final': [{k: enc(v) for k, v in n.state_dict().items()} for n in nets]}


if __name__ == '__main__':
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'vid': vid_trajectory(), 'dlb': dlb_trajectory(), 'cc': cc_trajectory(), 'fsp': fsp_trajectory(), 'simkd': simkd_trajectory(), 'crd': crd_trajectory(), 'ofd': ofd_trajectory(), 'pskd': pskd_trajectory(),
                   'ctkd': ctkd_trajectory('kd'), 'ctkd_dkd': ctkd_trajectory('dkd'),
                   'dot_kd': dot_trajectory('kd'), 'dot_ctkd': dot_trajectory('ctkd'),
                   'cskd': cskd_trajectory(), 'byot': byot_trajectory(),
                   'dml': dml_trajectory()}, f)
    print('wrote', OUT)
