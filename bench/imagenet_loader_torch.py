# PyTorch's side of bench/imagenet-loader.ts: torchvision's ImageFolder + PIL with
# RandomResizedCrop(224), RandomHorizontalFlip, ToTensor, Normalize, through torch's DataLoader.
# Prints one JSON line: {"workers": w, "img_s": ...}. Usage: python3 imagenet_loader_torch.py ROOT WORKERS EPOCHS
import json
import sys
import time

import torch
from torchvision import datasets, transforms

root, workers, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
tf = transforms.Compose(
    [
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
)
ds = datasets.ImageFolder(root, tf)
loader = torch.utils.data.DataLoader(
    ds, batch_size=64, shuffle=True, num_workers=workers, persistent_workers=workers > 0, drop_last=False
)
for _ in loader:  # warm-up: workers start, files enter the page cache
    pass
start = time.perf_counter()
n = 0
for _ in range(epochs):
    for x, _ in loader:
        n += x.shape[0]
print(json.dumps({"workers": workers, "img_s": n / (time.perf_counter() - start)}))
