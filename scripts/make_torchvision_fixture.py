#!/usr/bin/python3
"""Reference outputs of torchvision's classification networks for test/models-torchvision.test.ts.

Run with Debian's python3-torchvision (0.14): /usr/bin/python3 scripts/make_torchvision_fixture.py
Each network is built by torchvision itself; every state-dict entry is then filled from its own
seeded stream (the rule below, repeated in test/torchvision-init.ts), so the weights need not be
committed: libtorch draws the same numbers in both languages. The fixture keeps, per network, its
state-dict keys with their shapes (the one-to-one key check) and the logits of a seeded input in
eval mode and in train mode (dropout and stochastic depth set to 0 so that train mode is
deterministic; BatchNorm then uses batch statistics and updates its running statistics).

It also saves one whole state dict from torchvision (shufflenet_v2_x0_5 with 10 classes, 1.4 MB)
to prove that a file written by torch.save(model.state_dict()) loads one to one.
"""
import json
import math
import os
from collections import OrderedDict

import torch
import torchvision
from torchvision import models as M
from torchvision.models.vision_transformer import VisionTransformer

torch.set_num_threads(2)
torch.backends.mkldnn.enabled = True


class DeiTDistilled(VisionTransformer):
    """DeiT's distilled ViT (Touvron et al. 2021, facebookresearch/deit models.py
    DistilledVisionTransformer) on torchvision's ViT: a distillation token after the class token,
    its own position embedding slot and head; eval returns the mean of both heads."""

    def __init__(self, **kw):
        super().__init__(**kw)
        hidden = kw["hidden_dim"]
        self.dist_token = torch.nn.Parameter(torch.zeros(1, 1, hidden))
        self.encoder.pos_embedding = torch.nn.Parameter(torch.zeros(1, self.seq_length + 1, hidden))
        self.seq_length += 1
        self.head_dist = torch.nn.Linear(hidden, kw.get("num_classes", 1000))

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        x = torch.cat([self.class_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        cls, dist = self.heads(x[:, 0]), self.head_dist(x[:, 1])
        if self.training:
            return cls, dist
        return (cls + dist) / 2


def deit_tiny(**kw):
    return VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768, **kw)


def deit_tiny_distilled(**kw):
    return DeiTDistilled(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768, **kw)


NETWORKS = OrderedDict(
    (name, getattr(M, name))
    for name in [
        "resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2",
        "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
        "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "regnet_y_400mf", "convnext_tiny", "vit_b_16",
    ]
)
NETWORKS["deit_tiny"] = deit_tiny
NETWORKS["deit_tiny_distilled"] = deit_tiny_distilled


def fill(state):
    """The deterministic weights: entry i of the state dict from torch.manual_seed(1000 + i)."""
    with torch.no_grad():
        for i, (key, t) in enumerate(state.items()):
            if not t.is_floating_point():
                continue
            torch.manual_seed(1000 + i)
            leaf = key.rsplit(".", 1)[-1]
            if leaf == "running_var":
                t.copy_(torch.rand(t.shape) * 0.5 + 0.75)
            elif leaf == "running_mean":
                t.copy_(torch.randn(t.shape) * 0.1)
            elif leaf in ("class_token", "dist_token", "pos_embedding"):
                t.copy_(torch.randn(t.shape) * 0.02)
            elif leaf == "layer_scale":
                t.copy_(torch.rand(t.shape) * 0.5 + 0.1)
            elif t.dim() == 1 and leaf == "weight":
                t.copy_(torch.randn(t.shape) * 0.1 + 1)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape) * 0.1)
            else:
                fan_in = t.numel() // t.shape[0]
                t.copy_(torch.randn(t.shape) * math.sqrt(1.0 / fan_in))


def deterministic_train(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(m, torchvision.ops.StochasticDepth):
            m.p = 0.0


def head(t, k=64):
    """The first k logits of each row and each row's sum of squares (the whole row checked in bulk)."""
    t = t.double()
    return {"first": t[:, :k].tolist(), "sumsq": (t * t).sum(1).tolist(), "max": t.abs().max().item()}


def main():
    torch.manual_seed(12345)
    x = torch.randn(2, 3, 224, 224)
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "input": {"seed": 12345, "shape": [2, 3, 224, 224], "first": x.flatten()[:8].tolist(), "sum": x.double().sum().item()}, "networks": {}}
    for name, build in NETWORKS.items():
        model = build()
        state = model.state_dict()
        fill(state)
        model.eval()
        with torch.no_grad():
            y_eval = model(x)
        deterministic_train(model)
        model.train()
        with torch.no_grad():
            y_train = model(x)
        last_var = [k for k in state if k.endswith("running_var")]
        entry = {
            "keys": [[k, list(v.shape)] for k, v in model.state_dict().items()],
            "parameters": sum(p.numel() for p in model.parameters()),
            "eval": head(y_eval),
        }
        if isinstance(y_train, tuple):
            entry["train"] = head(y_train[0])
            entry["trainDist"] = head(y_train[1])
        else:
            entry["train"] = head(y_train)
        if last_var:
            entry["runningVarAfterTrain"] = {"key": last_var[-1], "first": model.state_dict()[last_var[-1]][:16].tolist()}
        out["networks"][name] = entry
        print(name, entry["parameters"], y_eval.abs().max().item())
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.join(here, "..", "test", "fixtures")
    with open(os.path.join(fixtures, "torchvision.json"), "w") as f:
        json.dump(out, f)

    # One state dict exactly as torchvision saves it, with torchvision's own initialisation.
    torch.manual_seed(3)
    small = M.shufflenet_v2_x0_5(num_classes=10).eval()
    torch.manual_seed(4)
    xs = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ys = small(xs)
    torch.save(small.state_dict(), os.path.join(fixtures, "torchvision_shufflenet_v2_x0_5.pt"))
    with open(os.path.join(fixtures, "torchvision_shufflenet_v2_x0_5.json"), "w") as f:
        json.dump({"input": {"seed": 4, "shape": [2, 3, 96, 96]}, "logits": ys.tolist()}, f)


if __name__ == "__main__":
    main()
