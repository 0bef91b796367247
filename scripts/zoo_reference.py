"""PyTorch transcriptions of the mdistiller CIFAR zoo, written here from its architecture
(module names and order included), used only to produce reference parameter counts, state-dict
keys and outputs for the tests. Never a runtime dependency."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Basic(nn.Module):
    expansion = 1

    def __init__(self, i, p, s=1, down=None, name='downsample'):
        super().__init__()
        self.conv1 = nn.Conv2d(i, p, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(p)
        if name == 'downsample':
            self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(p, p, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(p)
        setattr(self, name, down if down is not None else (nn.Sequential() if name == 'shortcut' else None))
        self.sc = name

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        d = getattr(self, self.sc)
        pre = self.bn2(self.conv2(h)) + (d(x) if d is not None else x)
        return F.relu(pre), pre


class Neck(nn.Module):
    expansion = 4

    def __init__(self, i, p, s=1, down=None, name='downsample'):
        super().__init__()
        self.conv1 = nn.Conv2d(i, p, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(p)
        self.conv2 = nn.Conv2d(p, p, 3, s, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(p)
        self.conv3 = nn.Conv2d(p, p * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(p * 4)
        if name == 'downsample':
            self.relu = nn.ReLU()
        setattr(self, name, down if down is not None else (nn.Sequential() if name == 'shortcut' else None))
        self.sc = name

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        d = getattr(self, self.sc)
        pre = self.bn3(self.conv3(h)) + (d(x) if d is not None else x)
        return F.relu(pre), pre


def run_stage(stage, x):
    pre = x
    for b in stage:
        x, pre = b(x)
    return x, pre


class ResNetV2(nn.Module):
    def __init__(self, block, nb, num_classes=100):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        i = 64
        for s, (p, n) in enumerate(zip([64, 128, 256, 512], nb)):
            blocks = []
            for j in range(n):
                st = 2 if j == 0 and s > 0 else 1
                down = None
                if st != 1 or i != p * block.expansion:
                    down = nn.Sequential(nn.Conv2d(i, p * block.expansion, 1, st, bias=False), nn.BatchNorm2d(p * block.expansion))
                blocks.append(block(i, p, st, down, 'shortcut'))
                i = p * block.expansion
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512 * block.expansion, num_classes)


class WBlock(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(i)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(i, o, 3, s, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.equal = i == o
        self.convShortcut = None if self.equal else nn.Conv2d(i, o, 1, s, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        h = F.relu(self.bn2(self.conv1(a)))
        return self.conv2(h) + (x if self.equal else self.convShortcut(a))


class NetBlock(nn.Module):
    def __init__(self, n, i, o, s):
        super().__init__()
        self.layer = nn.Sequential(*[WBlock(i if k == 0 else o, o, s if k == 0 else 1) for k in range(n)])

    def forward(self, x):
        return self.layer(x)


class WRN(nn.Module):
    def __init__(self, depth, widen, num_classes=100, in_channels=3):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, 1, 1, bias=False)
        self.block1 = NetBlock(n, ch[0], ch[1], 1)
        self.block2 = NetBlock(n, ch[1], ch[2], 2)
        self.block3 = NetBlock(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(ch[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, x):
        f0 = self.conv1(x)
        f1 = self.block1(f0)
        f2 = self.block2(f1)
        f3 = self.block3(f2)
        pooled = F.adaptive_avg_pool2d(F.relu(self.bn1(f3)), 1).flatten(1)
        return self.fc(pooled), [f0, f1, f2, f3], pooled


class VGG(nn.Module):
    def __init__(self, cfg, num_classes=100):
        super().__init__()
        c = 3
        for b, chans in enumerate(cfg):
            layers = []
            for v in chans:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
            setattr(self, f'block{b}', nn.Sequential(*layers[:-1]))
        for p in range(4):
            setattr(self, f'pool{p}', nn.MaxPool2d(2, 2))
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)


def conv_bn(i, o, k, s):
    return nn.Sequential(nn.Conv2d(i, o, k, s, (k - 1) // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU())


class InvRes(nn.Module):
    def __init__(self, i, o, s, t):
        super().__init__()
        h = i * t
        self.conv = nn.Sequential(nn.Conv2d(i, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
                                  nn.Conv2d(h, h, 3, s, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
                                  nn.Conv2d(h, o, 1, bias=False), nn.BatchNorm2d(o))


class MobileNetV2(nn.Module):
    def __init__(self, t=6, w=0.5, num_classes=100):
        super().__init__()
        setting = [[1, 16, 1, 1], [t, 24, 2, 1], [t, 32, 3, 2], [t, 64, 4, 2], [t, 96, 3, 1], [t, 160, 3, 2], [t, 320, 1, 1]]
        c = int(32 * w)
        self.conv1 = conv_bn(3, c, 3, 2)
        self.blocks = nn.ModuleList()
        for tt, ch, n, s in setting:
            o = int(ch * w)
            layers = []
            for k in range(n):
                layers.append(InvRes(c, o, s if k == 0 else 1, tt))
                c = o
            self.blocks.append(nn.Sequential(*layers))
        self.conv2 = conv_bn(c, 1280, 1, 1)
        self.classifier = nn.Sequential(nn.Linear(1280, num_classes))


class V1Neck(nn.Module):
    def __init__(self, i, o, s, g):
        super().__init__()
        mid = int(o / 4)
        g1 = 1 if i == 24 else g
        self.conv1 = nn.Conv2d(i, mid, 1, groups=g1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, s, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, o, 1, groups=g, bias=False)
        self.bn3 = nn.BatchNorm2d(o)
        self.shortcut = nn.Sequential(nn.AvgPool2d(3, 2, 1)) if s == 2 else nn.Sequential()


class ShuffleV1(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        i = 24
        for s, (o, n) in enumerate(zip([240, 480, 960], [4, 8, 4])):
            blocks = []
            for k in range(n):
                blocks.append(V1Neck(i, o - (i if k == 0 else 0), 2 if k == 0 else 1, 3))
                i = o
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
        self.linear = nn.Linear(960, num_classes)


class V2Basic(nn.Module):
    def __init__(self, c):
        super().__init__()
        c = int(c * 0.5)
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)


class V2Down(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        m = o // 2
        self.conv1 = nn.Conv2d(i, i, 3, 2, 1, groups=i, bias=False)
        self.bn1 = nn.BatchNorm2d(i)
        self.conv2 = nn.Conv2d(i, m, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(m)
        self.conv3 = nn.Conv2d(i, m, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(m)
        self.conv4 = nn.Conv2d(m, m, 3, 2, 1, groups=m, bias=False)
        self.bn4 = nn.BatchNorm2d(m)
        self.conv5 = nn.Conv2d(m, m, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(m)


class ShuffleV2(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        out, nb = (116, 232, 464, 1024), (3, 7, 3)
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        i = 24
        for s in range(3):
            setattr(self, f'layer{s + 1}', nn.Sequential(V2Down(i, out[s]), *[V2Basic(out[s]) for _ in range(nb[s])]))
            i = out[s]
        self.conv2 = nn.Conv2d(out[2], out[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out[3])
        self.linear = nn.Linear(out[3], num_classes)


class CifarResNet(nn.Module):
    def __init__(self, depth, f, num_classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, f[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f[0])
        self.relu = nn.ReLU()
        i = f[0]
        for s, (p, st) in enumerate(zip(f[1:], [1, 2, 2])):
            down = None
            if st != 1 or i != p:
                down = nn.Sequential(nn.Conv2d(i, p, 1, st, bias=False), nn.BatchNorm2d(p))
            blocks = [Basic(i, p, st, down)] + [Basic(p, p) for _ in range(n - 1)]
            i = p
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(f[3], num_classes)


VGG_CFG = {
    'vgg8': [[64], [128], [256], [512], [512]],
    'vgg11': [[64], [128], [256, 256], [512, 512], [512, 512]],
    'vgg13': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    'vgg16': [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    'vgg19': [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}
NARROW, WIDE = [16, 16, 32, 64], [32, 64, 128, 256]
ZOO = {
    **{f'resnet{d}': (lambda d=d: CifarResNet(d, NARROW)) for d in [8, 14, 20, 32, 44, 56, 110]},
    'resnet8x4': lambda: CifarResNet(8, WIDE),
    'resnet32x4': lambda: CifarResNet(32, WIDE),
    'ResNet18': lambda: ResNetV2(Basic, [2, 2, 2, 2]),
    'ResNet34': lambda: ResNetV2(Basic, [3, 4, 6, 3]),
    'ResNet50': lambda: ResNetV2(Neck, [3, 4, 6, 3]),
    **{f'wrn_{d}_{w}': (lambda d=d, w=w: WRN(d, w)) for d in [16, 40] for w in [1, 2]},
    **{name: (lambda c=c: VGG(c)) for name, c in VGG_CFG.items()},
    'MobileNetV2': lambda: MobileNetV2(),
    'ShuffleV1': lambda: ShuffleV1(),
    'ShuffleV2': lambda: ShuffleV2(),
}
