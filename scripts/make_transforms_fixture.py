#!/usr/bin/python3
"""Reference outputs of torchvision's ImageNet transforms for test/streaming.test.ts.

Run with Debian's python3-torchvision (0.14) and python3-pil: /usr/bin/python3 scripts/make_transforms_fixture.py
Writes test/fixtures/imagenet_sample.jpg (a 500x375 photo-like image, ImageNet's median size) and
test/fixtures/transforms.json: PIL + torchvision's Resize(73) + CenterCrop(64) and
resized_crop(box, 64) of it (bilinear, antialiased as PIL resizes), and adjust_hue on the
tensor path for a few factors.
"""
import base64
import io
import json
import math
import os

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as F

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "test", "fixtures")

rng = np.random.default_rng(7)
h, w = 375, 500
y, x = np.mgrid[0:h, 0:w].astype(np.float64)
img = np.stack(
    [
        128 + 90 * np.sin(x / 37.0) * np.cos(y / 53.0),
        128 + 80 * np.cos((x + y) / 61.0),
        128 + 70 * np.sin(np.hypot(x - 250, y - 180) / 29.0),
    ],
    axis=-1,
)
img += rng.normal(0, 12, img.shape)
img = np.clip(np.round(img), 0, 255).astype(np.uint8)
buf = io.BytesIO()
Image.fromarray(img).save(buf, format="JPEG", quality=90)
jpeg = buf.getvalue()
with open(os.path.join(fixtures, "imagenet_sample.jpg"), "wb") as f:
    f.write(jpeg)

pil = Image.open(io.BytesIO(jpeg)).convert("RGB")
b64 = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()
chw = lambda p: np.asarray(p).transpose(2, 0, 1)

resized = F.center_crop(F.resize(pil, 73), 64)
box = dict(top=40, left=120, height=210, width=260)
crop = F.resized_crop(pil, box["top"], box["left"], box["height"], box["width"], [64, 64])

torch.manual_seed(0)
small = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
hues = {str(f): b64(F.adjust_hue(small, f).numpy()) for f in [-0.5, -0.3, 0.1, 0.45]}

out = {
    "decoded": {"width": w, "height": h, "sum": int(np.asarray(pil, dtype=np.int64).sum())},
    "resizeCenterCrop": {"resize": 73, "size": 64, "chw": b64(chw(resized))},
    "resizedCrop": {"box": box, "size": 64, "chw": b64(chw(crop))},
    "hue": {"image": b64(small.numpy()), "shape": [3, 8, 8], "out": hues},
}
with open(os.path.join(fixtures, "transforms.json"), "w") as f:
    json.dump(out, f)
print("ok", len(jpeg))
