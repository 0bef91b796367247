"""torchvision's AutoAugment/RandAugment operations on uint8 tensors, the reference for
src/data/autoaugment.ts: every operation at several magnitudes on RGB and grayscale images, and the
magnitude tables of both policies. Development time only:
    /usr/bin/python3 scripts/make_augment_fixtures.py   (needs python3-torchvision)"""
import json
import os

import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import AutoAugment, RandAugment, _apply_op

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'augment.json')

OPS = {
    'Identity': [0.0],
    'ShearX': [0.09, -0.3, 0.21],
    'ShearY': [0.09, -0.17],
    'TranslateX': [4.9, -3.2, 11.0],
    'TranslateY': [4.9, -7.7],
    'Rotate': [9.0, -30.0, 17.5],
    'Brightness': [0.27, -0.6, 0.9],
    'Color': [0.27, -0.9, 0.5],
    'Contrast': [0.27, -0.45, 0.9],
    'Sharpness': [0.27, -0.9, 0.6],
    'Posterize': [6, 4, 8],
    'Solarize': [178.5, 0.0, 255.0, 30.0],
    'AutoContrast': [0.0],
    'Equalize': [0.0],
    'Invert': [0.0],
}
GEOMETRIC = {'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Sharpness'}


def main():
    gen = torch.Generator().manual_seed(3)
    images = {
        'rgb': torch.randint(0, 256, (3, 12, 10), generator=gen, dtype=torch.uint8),
        # A narrow range, so that AutoContrast and Equalize do something.
        'gray': torch.randint(40, 120, (1, 9, 8), generator=gen, dtype=torch.uint8),
        'cifar': torch.randint(0, 256, (3, 32, 32), generator=gen, dtype=torch.uint8),
    }
    cases = []
    for name, img in images.items():
        for op, mags in OPS.items():
            if name == 'cifar' and op not in GEOMETRIC:
                continue  # at CIFAR's size only the resampling operations, whose rounding depends on it
            for m in mags:
                out = _apply_op(img, op, float(m), interpolation=InterpolationMode.NEAREST, fill=None)
                cases.append({'image': name, 'op': op, 'magnitude': float(m), 'out': out.flatten().tolist()})
    ra = RandAugment()._augmentation_space(31, (32, 28))
    aa = AutoAugment()._augmentation_space(10, (32, 28))
    table = lambda space: {k: {'values': v.flatten().tolist(), 'signed': s} for k, (v, s) in space.items()}
    with open(OUT, 'w') as f:
        json.dump({'torchvision': torchvision.__version__,
                   'images': {k: {'shape': list(v.shape), 'data': v.flatten().tolist()} for k, v in images.items()},
                   'cases': cases, 'randAugment31': table(ra), 'autoAugment10': table(aa)}, f)
    print('wrote', OUT, len(cases), 'cases')


if __name__ == '__main__':
    main()
