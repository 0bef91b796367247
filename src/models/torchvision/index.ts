// torchvision's ImageNet classification networks, registered as torchvision.<name> beside the CIFAR zoo.
import type { TorchvisionOptions, TorchvisionModel } from './common.js';
import { resnet18, resnet34, resnet50, resnet101, wideResnet50_2 } from './resnet.js';
import { mobilenetV2, mobilenetV3Large, mobilenetV3Small } from './mobilenet.js';
import { efficientnet } from './efficientnet.js';
import { shufflenetV2 } from './shufflenet.js';
import { regnetY400mf } from './regnet.js';
import { convnextTiny } from './convnext.js';
import { deitTiny, deitTinyDistilled, vitB16 } from './vit.js';

export * from './common.js';
export { TorchvisionResNet } from './resnet.js';
export { TorchvisionMobileNetV2, TorchvisionMobileNetV3 } from './mobilenet.js';
export { TorchvisionEfficientNet } from './efficientnet.js';
export { TorchvisionShuffleNetV2 } from './shufflenet.js';
export { TorchvisionRegNet } from './regnet.js';
export { TorchvisionConvNeXt, LayerNorm2d } from './convnext.js';
export { TorchvisionVisionTransformer } from './vit.js';

/** torchvision's builder name, the constructor, a one-line description (parameters at 1000 classes). */
export const torchvisionArchitectures: [string, (o?: TorchvisionOptions) => TorchvisionModel, string][] = [
  ['resnet18', resnet18, 'ResNet-18 (torchvision), 11.7M parameters'],
  ['resnet34', resnet34, 'ResNet-34 (torchvision), 21.8M parameters'],
  ['resnet50', resnet50, 'ResNet-50 (torchvision, v1.5), 25.6M parameters'],
  ['resnet101', resnet101, 'ResNet-101 (torchvision, v1.5), 44.5M parameters'],
  ['wide_resnet50_2', wideResnet50_2, 'Wide ResNet-50-2 (torchvision), 68.9M parameters'],
  ['mobilenet_v2', mobilenetV2, 'MobileNetV2 (torchvision), 3.5M parameters'],
  ['mobilenet_v3_small', mobilenetV3Small, 'MobileNetV3-Small (torchvision), 2.5M parameters'],
  ['mobilenet_v3_large', mobilenetV3Large, 'MobileNetV3-Large (torchvision), 5.5M parameters'],
  ['efficientnet_b0', efficientnet('b0'), 'EfficientNet-B0 (torchvision), 5.3M parameters'],
  ['efficientnet_b1', efficientnet('b1'), 'EfficientNet-B1 (torchvision), 7.8M parameters'],
  ['efficientnet_b2', efficientnet('b2'), 'EfficientNet-B2 (torchvision), 9.1M parameters'],
  ['efficientnet_b3', efficientnet('b3'), 'EfficientNet-B3 (torchvision), 12.2M parameters'],
  ['shufflenet_v2_x0_5', shufflenetV2('x0_5'), 'ShuffleNetV2 x0.5 (torchvision), 1.4M parameters'],
  ['shufflenet_v2_x1_0', shufflenetV2('x1_0'), 'ShuffleNetV2 x1.0 (torchvision), 2.3M parameters'],
  ['regnet_y_400mf', regnetY400mf, 'RegNetY-400MF (torchvision), 4.3M parameters'],
  ['convnext_tiny', convnextTiny, 'ConvNeXt-T (torchvision), 28.6M parameters'],
  ['vit_b_16', vitB16, 'ViT-B/16 (torchvision), 224x224 input, 86.6M parameters'],
  ['deit_tiny', deitTiny, 'DeiT-Tiny: ViT 192-wide, 12 layers, 3 heads, on torchvision’s ViT, 5.7M parameters'],
  [
    'deit_tiny_distilled',
    deitTinyDistilled,
    'DeiT-Tiny with the distillation token and head (Touvron et al. 2021), 5.9M parameters',
  ],
];

/** Builds torchvision.<name> (the bare name also works here). */
export function createTorchvisionModel(name: string, options: TorchvisionOptions = {}): TorchvisionModel {
  const bare = name.replace(/^torchvision\./, '');
  const entry = torchvisionArchitectures.find(([n]) => n === bare);
  if (!entry)
    throw new Error(`no torchvision architecture '${bare}'; available: ${torchvisionArchitectures.map(([n]) => n).join(', ')}`);
  return entry[1](options);
}
