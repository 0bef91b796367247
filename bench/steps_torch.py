#!/usr/bin/env python3
"""PyTorch side of bench/steps.ts: one distillation method's whole training step, timed.

Each method's step is its reference implementation's (mdistiller's KD, DKD, SP, ReviewKD;
hunto's DIST; Jangho-Kim's Factor Transfer; bhheo's AB initialisation stage; RepDistiller's CRD
with its ContrastMemory; Meta-knowledge-Lab's DLB), written again here with the CIFAR-100
settings distill-ts defaults to, on mdistiller's CIFAR networks. Batch 64 at 32x32, SGD with
momentum 0.9 and weight decay 5e-4 (DLB: Nesterov), the teacher in eval mode under no_grad.

Usage: steps_torch.py METHOD PAIR THREADS STEPS CHANNELS_LAST(0|1)
  PAIR: resnet32x4-resnet8x4 | wrn_40_2-wrn_16_2   -> one JSON line {img_s, peak_rss_mb}
The allocator is chosen by the caller's environment (LD_PRELOAD, MALLOC_CONF, GLIBC_TUNABLES).
"""
import json
import math
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine_torch import Block, timed  # Block: mdistiller's BasicBlock, returning (out, preact)

# --- mdistiller's CIFAR networks (models/cifar/resnet.py, wrn.py), with their feature dicts ---


class CifarResNet(nn.Module):
    def __init__(self, depth, filters, num_classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, filters[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        stages, inplanes = [], filters[0]
        for planes, stride in zip(filters[1:], [1, 2, 2]):
            stages.append(nn.ModuleList([Block(inplanes, planes, stride)] + [Block(planes, planes) for _ in range(n - 1)]))
            inplanes = planes
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(filters[3], num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        feats, preacts = [x], [x]
        for stage in self.stages:
            for block in stage:
                x, pre = block(x)
            feats.append(x)
            preacts.append(pre)
        pooled = F.avg_pool2d(x, x.shape[-1]).flatten(1)
        return self.fc(pooled), {"feats": feats, "preact_feats": preacts, "pooled_feat": pooled}


class WideBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(i)
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.equal = i == o
        self.shortcut = None if self.equal else nn.Conv2d(i, o, 1, stride, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        h = F.relu(self.bn2(self.conv1(a)))
        return self.conv2(h) + (x if self.equal else self.shortcut(a))


class WRN(nn.Module):
    def __init__(self, depth, widen, num_classes=100):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, ch[0], 3, 1, 1, bias=False)
        self.blocks = nn.ModuleList(
            nn.Sequential(*[WideBlock(ch[k] if j == 0 else ch[k + 1], ch[k + 1], s if j == 0 else 1) for j in range(n)])
            for k, s in enumerate([1, 2, 2])
        )
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.fc = nn.Linear(ch[3], num_classes)

    def forward(self, x):
        f = [self.conv1(x)]
        for b in self.blocks:
            f.append(b(f[-1]))
        last = F.relu(self.bn1(f[-1]))
        pooled = F.avg_pool2d(last, last.shape[-1]).flatten(1)
        preact = [f[0], self.blocks[1][0].bn1(f[1]), self.blocks[2][0].bn1(f[2]), self.bn1(f[3])]
        return self.fc(pooled), {"feats": f[:3] + [last], "preact_feats": preact, "pooled_feat": pooled}


PAIRS = {
    "resnet32x4-resnet8x4": (lambda: CifarResNet(32, [32, 64, 128, 256]), lambda: CifarResNet(8, [32, 64, 128, 256])),
    "wrn_40_2-wrn_16_2": (lambda: WRN(40, 2), lambda: WRN(16, 2)),
}

# --- the methods' losses and modules, as their reference code writes them ---


def kd_loss(logits_student, logits_teacher, temperature):  # mdistiller distillers/KD.py
    log_pred_student = F.log_softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    return F.kl_div(log_pred_student, pred_teacher, reduction="none").sum(1).mean() * temperature**2


def dkd_loss(logits_student, logits_teacher, target, alpha, beta, temperature):  # mdistiller DKD.py
    gt_mask = torch.zeros_like(logits_student).scatter_(1, target.unsqueeze(1), 1).bool()
    other_mask = torch.ones_like(logits_student).scatter_(1, target.unsqueeze(1), 0).bool()
    pred_student = F.softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    cat = lambda t: torch.cat([(t * gt_mask).sum(1, keepdims=True), (t * other_mask).sum(1, keepdims=True)], dim=1)
    pred_student, pred_teacher = cat(pred_student), cat(pred_teacher)
    tckd = F.kl_div(torch.log(pred_student), pred_teacher, size_average=False) * temperature**2 / target.shape[0]
    pred_teacher_part2 = F.softmax(logits_teacher / temperature - 1000.0 * gt_mask, dim=1)
    log_pred_student_part2 = F.log_softmax(logits_student / temperature - 1000.0 * gt_mask, dim=1)
    nckd = F.kl_div(log_pred_student_part2, pred_teacher_part2, size_average=False) * temperature**2 / target.shape[0]
    return alpha * tckd + beta * nckd


def pearson(a, b, eps=1e-8):  # hunto/image_classification_sota dist_kd.py
    return F.cosine_similarity(a - a.mean(1).unsqueeze(1), b - b.mean(1).unsqueeze(1), eps=eps)


def dist_loss(z_s, z_t, beta=1.0, gamma=1.0, tau=4.0):
    y_s, y_t = (z_s / tau).softmax(dim=1), (z_t / tau).softmax(dim=1)
    inter = tau**2 * (1 - pearson(y_s, y_t).mean())
    intra = tau**2 * (1 - pearson(y_s.transpose(0, 1), y_t.transpose(0, 1)).mean())
    return beta * inter + gamma * intra


def sp_loss(g_s, g_t):  # mdistiller SP.py
    bsz = g_s.shape[0]
    g_s, g_t = g_s.reshape(bsz, -1), g_t.reshape(bsz, -1)
    G_s = F.normalize(torch.mm(g_s, g_s.t()))
    G_t = F.normalize(torch.mm(g_t, g_t.t()))
    return (G_t - G_s).pow(2).view(-1, 1).sum(0) / (bsz * bsz)


def hcl_loss(fstudent, fteacher):  # mdistiller ReviewKD.py
    loss_all = 0.0
    for fs, ft in zip(fstudent, fteacher):
        _, _, h, _ = fs.shape
        loss = F.mse_loss(fs, ft, reduction="mean")
        cnt, tot = 1.0, 1.0
        for l in [4, 2, 1]:
            if l >= h:
                continue
            cnt /= 2.0
            loss += F.mse_loss(F.adaptive_avg_pool2d(fs, (l, l)), F.adaptive_avg_pool2d(ft, (l, l)), reduction="mean") * cnt
            tot += cnt
        loss_all = loss_all + loss / tot
    return loss_all


class ABF(nn.Module):  # mdistiller ReviewKD.py
    def __init__(self, in_channel, mid_channel, out_channel, fuse):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channel, mid_channel, 1, bias=False), nn.BatchNorm2d(mid_channel))
        self.conv2 = nn.Sequential(nn.Conv2d(mid_channel, out_channel, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channel))
        self.att_conv = nn.Sequential(nn.Conv2d(mid_channel * 2, 2, 1), nn.Sigmoid()) if fuse else None

    def forward(self, x, y=None, shape=None, out_shape=None):
        n, _, h, w = x.shape
        x = self.conv1(x)
        if self.att_conv is not None:
            y = F.interpolate(y, (shape, shape), mode="nearest")
            z = self.att_conv(torch.cat([x, y], dim=1))
            x = x * z[:, 0].reshape(n, 1, h, w) + y * z[:, 1].reshape(n, 1, h, w)
        if x.shape[-1] != out_shape:
            x = F.interpolate(x, (out_shape, out_shape), mode="nearest")
        return self.conv2(x), x


def conv_lrelu(i, o):  # Factor-Transfer-pytorch Models/FeatureProjection.py (no BatchNorm)
    return [nn.Conv2d(i, o, 3, 1, 1), nn.LeakyReLU(0.1)]


def ab_term(source, target, margin):  # bhheo/AB_distillation criterion_alternative_L2
    loss = ((source + margin) ** 2 * ((source > -margin) & (target <= 0)).float()
            + (source - margin) ** 2 * ((source <= margin) & (target > 0)).float())
    return torch.abs(loss).sum()


class Embed(nn.Module):  # RepDistiller crd/criterion.py
    def __init__(self, dim_in, dim_out=128):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        x = self.linear(x.reshape(x.shape[0], -1))
        return x.div(x.pow(2).sum(1, keepdim=True).pow(0.5))


class ContrastMemory(nn.Module):  # RepDistiller crd/memory.py
    def __init__(self, input_size, output_size, K, T=0.07, momentum=0.5):
        super().__init__()
        self.K, self.T, self.momentum = K, T, momentum
        self.Z_v1 = self.Z_v2 = -1.0
        stdv = 1.0 / math.sqrt(input_size / 3)
        self.register_buffer("memory_v1", torch.rand(output_size, input_size).mul_(2 * stdv).add_(-stdv))
        self.register_buffer("memory_v2", torch.rand(output_size, input_size).mul_(2 * stdv).add_(-stdv))

    def forward(self, v1, v2, y, idx):
        b, d, n = v1.size(0), self.memory_v1.size(1), self.memory_v1.size(0)
        w1 = torch.index_select(self.memory_v1, 0, idx.view(-1)).detach().view(b, self.K + 1, d)
        out_v2 = torch.exp(torch.div(torch.bmm(w1, v2.view(b, d, 1)), self.T))
        w2 = torch.index_select(self.memory_v2, 0, idx.view(-1)).detach().view(b, self.K + 1, d)
        out_v1 = torch.exp(torch.div(torch.bmm(w2, v1.view(b, d, 1)), self.T))
        if self.Z_v1 < 0:
            self.Z_v1 = (out_v1.mean() * n).item()
        if self.Z_v2 < 0:
            self.Z_v2 = (out_v2.mean() * n).item()
        out_v1, out_v2 = torch.div(out_v1, self.Z_v1).contiguous(), torch.div(out_v2, self.Z_v2).contiguous()
        with torch.no_grad():
            for memory, v in ((self.memory_v1, v1), (self.memory_v2, v2)):
                pos = torch.index_select(memory, 0, y.view(-1)).mul_(self.momentum).add_(torch.mul(v, 1 - self.momentum))
                memory.index_copy_(0, y, pos.div(pos.pow(2).sum(1, keepdim=True).pow(0.5)))
        return out_v1, out_v2


def contrast_loss(x, n_data, eps=1e-7):  # RepDistiller crd/criterion.py ContrastLoss
    bsz, m = x.shape[0], x.size(1) - 1
    pn = 1.0 / float(n_data)
    p_pos = x.select(1, 0)
    log_d1 = torch.div(p_pos, p_pos.add(m * pn + eps)).log_()
    p_neg = x.narrow(1, 1, m)
    log_d0 = torch.div(p_neg.clone().fill_(m * pn), p_neg.add(m * pn + eps)).log_()
    return -(log_d1.sum(0) + log_d0.view(-1, 1).sum(0)) / bsz


# --- the steps ---


def build(method, pair, x):
    """(step(), trained parameters) for one method on one pair."""
    make_teacher, make_student = PAIRS[pair]
    teacher, student = make_teacher().eval(), make_student()
    y = torch.randint(0, 100, (64,))
    extra = nn.ModuleList()
    with torch.no_grad():
        _, ft = teacher(x[:2])
        _, fs = student(x[:2])

    def teacher_out():
        with torch.no_grad():
            return teacher(x)

    if method == "kd":
        def loss():
            zs, _ = student(x)
            zt, _ = teacher_out()
            return 0.1 * F.cross_entropy(zs, y) + 0.9 * kd_loss(zs, zt, 4.0)
    elif method == "dkd":
        def loss():
            zs, _ = student(x)
            zt, _ = teacher_out()
            return F.cross_entropy(zs, y) + min(1 / 20, 1.0) * dkd_loss(zs, zt, y, 1.0, 8.0, 4.0)
    elif method == "dist":
        def loss():
            zs, _ = student(x)
            zt, _ = teacher_out()
            return F.cross_entropy(zs, y) + 2.0 * dist_loss(zs, zt)
    elif method == "sp":
        def loss():
            zs, f_s = student(x)
            _, f_t = teacher_out()
            return F.cross_entropy(zs, y) + 3000.0 * sp_loss(f_s["feats"][-1], f_t["feats"][-1]).sum()
    elif method == "ft":
        m, cs = ft["feats"][-1].shape[1], fs["feats"][-1].shape[1]
        k = max(1, round(m * 0.5))
        paraphraser = nn.Sequential(*conv_lrelu(m, m), *conv_lrelu(m, k), *conv_lrelu(k, k)).eval()
        translator = nn.Sequential(*conv_lrelu(cs, cs), *conv_lrelu(cs, k), *conv_lrelu(k, k))
        extra.append(translator)
        factor = lambda f: F.normalize(f.reshape(f.size(0), -1))

        def loss():
            zs, f_s = student(x)
            _, f_t = teacher_out()
            with torch.no_grad():
                factor_t = paraphraser(f_t["feats"][-1])
            return F.cross_entropy(zs, y) + 500.0 * (factor(translator(f_s["feats"][-1])) - factor(factor_t)).abs().mean()
    elif method == "ab":  # the initialisation stage (the method's own step; its main stage is plain CE)
        n = 3
        connectors = nn.ModuleList(
            nn.Sequential(nn.Conv2d(fs["preact_feats"][i].shape[1], ft["preact_feats"][i].shape[1], 1, bias=False),
                          nn.BatchNorm2d(ft["preact_feats"][i].shape[1]))
            for i in range(1, n + 1))
        extra.append(connectors)

        def loss():
            _, f_s = student(x)
            _, f_t = teacher_out()
            terms = [ab_term(connectors[i](f_s["preact_feats"][i + 1]), f_t["preact_feats"][i + 1], 1.0) / 64 * 2 ** (i - n + 1)
                     for i in range(n)]
            return sum(terms) * 3 / 1000
    elif method == "reviewkd":
        s_feats = fs["feats"][1:] + [fs["pooled_feat"][:, :, None, None]]
        t_feats = ft["preact_feats"][1:] + [ft["pooled_feat"][:, :, None, None]]
        in_ch = [f.shape[1] for f in s_feats]
        out_ch = [f.shape[1] for f in t_feats]
        shapes = [1] + [f.shape[-1] for f in s_feats[:-1]][::-1]
        mid = min(512, in_ch[-1])
        abfs = nn.ModuleList(ABF(c, mid, out_ch[i], i < len(in_ch) - 1) for i, c in enumerate(in_ch))[::-1]
        extra.append(abfs)

        def loss():
            zs, f_s = student(x)
            _, f_t = teacher_out()
            feats = (f_s["feats"][1:] + [f_s["pooled_feat"][:, :, None, None]])[::-1]
            out, res = abfs[0](feats[0], out_shape=shapes[0])
            results = [out]
            for f, abf, shape in zip(feats[1:], abfs[1:], shapes[1:]):
                out, res = abf(f, res, shape, shape)
                results.insert(0, out)
            target = f_t["preact_feats"][1:] + [f_t["pooled_feat"][:, :, None, None]]
            return F.cross_entropy(zs, y) + 5.0 * min(1 / 20, 1.0) * hcl_loss(results, target)
    elif method == "crd":
        n_data, nce_k = 50000, 16384
        embed_s, embed_t = Embed(fs["pooled_feat"].shape[1]), Embed(ft["pooled_feat"].shape[1])
        memory = ContrastMemory(128, n_data, nce_k)
        extra.extend([embed_s, embed_t])
        index = torch.randint(0, n_data, (64,))

        def loss():
            zs, f_s = student(x)
            _, f_t = teacher_out()
            # RepDistiller's CIFAR100InstanceSample draws these in the data loader; here, per step.
            contrast_idx = torch.cat([index[:, None], torch.randint(0, n_data, (64, nce_k))], 1)
            out_s, out_t = memory(embed_s(f_s["pooled_feat"]), embed_t(f_t["pooled_feat"]), index, contrast_idx)
            return F.cross_entropy(zs, y) + 0.8 * (contrast_loss(out_s, n_data) + contrast_loss(out_t, n_data))
    elif method == "dlb":  # Meta-knowledge-Lab/DLB dlb.py: this batch's view 0, the last batch's view 1
        state = {"pre_logits": None}
        x_pre = x.flip(0)

        def loss():
            out = student(x)[0]
            out_pre = student(x_pre)[0]
            ce = F.cross_entropy(torch.cat([out_pre, out]), torch.cat([y, y]))
            kl = 0.0
            if state["pre_logits"] is not None:
                kl = F.kl_div(F.log_softmax(out_pre / 3, 1), F.softmax(state["pre_logits"] / 3, 1), reduction="batchmean") * 9
            state["pre_logits"] = out.detach()
            return ce + kl
    else:
        raise SystemExit(f"unknown method {method}")
    params = list(student.parameters()) + list(extra.parameters())
    return loss, params, (teacher, student, extra)


def main(method, pair, threads, steps, channels_last):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    loss, params, nets = build(method, pair, x)
    if channels_last:
        for net in nets:
            net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=method == "dlb")

    def step():
        total = loss()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        total.item()

    img_s = timed(step, steps)
    return {"img_s": img_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")))
