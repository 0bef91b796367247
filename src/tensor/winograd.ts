// Winograd convolutions (native/onednn.cc): oneDNN's F(4x4, 3x3) kernels, which libtorch's own
// convolution never asks for. nn.Conv2d runs them through winogradTrain when its `algorithm` says
// so; WinogradConvolution packs a fixed layer's weights once (faster per call, 4x the memory).
import { native } from './native.js';
import { Tensor } from './tensor.js';

const unreleased = new FinalizationRegistry<number>((id) => native.winograd?.dispose(id));

/** Whether the addon was built with oneDNN (Debian's libdnnl-dev); without it convolutions run through libtorch only. */
export const winogradAvailable = (): boolean => native.winograd !== undefined;

/**
 * A 3x3 convolution with fixed weights, its weights packed once in Winograd's layout (one packing
 * per input shape oneDNN blocks differently: 4x the weight's memory each). Float32 on the CPU;
 * the output comes back in the input's memory format. Dispose it when done. 0-14% faster per call
 * than winogradTrain's transform-per-call on the CIFAR shapes, which nn.Conv2d takes for the memory.
 */
export class WinogradConvolution {
  private id: number | null;

  constructor(weight: Tensor, bias: Tensor | null, stride: [number, number], padding: [number, number]) {
    if (!native.winograd)
      throw new Error('winograd: the addon was built without oneDNN (apt-get install libdnnl-dev, then npm run build:native)');
    this.id = native.winograd.create(weight, bias, stride, padding);
    unreleased.register(this, this.id, this);
  }

  /** The convolution of x, or null where oneDNN has no Winograd kernel for its shape (run the direct one). */
  forward(x: Tensor): Tensor | null {
    if (this.id === null) throw new Error('winograd: the convolution was disposed');
    return native.winograd!.forward(this.id, x) as Tensor | null;
  }

  dispose(): void {
    if (this.id === null) return;
    native.winograd?.dispose(this.id);
    unreleased.unregister(this);
    this.id = null;
  }
}

/**
 * The convolution of x, with gradients or without: forward, backward-data and backward-weights
 * through oneDNN's Winograd kernels (float32, CPU, 3x3), the weights transformed by each call
 * (nn.Conv2d's path, frozen or training). Null where oneDNN has no Winograd kernel for the shape
 * (run the direct one). Its backward is not differentiable: a double backward throws.
 */
export function winogradTrain(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  stride: [number, number],
  padding: [number, number],
): Tensor | null {
  if (!native.winograd)
    throw new Error('winograd: the addon was built without oneDNN (apt-get install libdnnl-dev, then npm run build:native)');
  return native.winograd.train(x, weight, bias, stride, padding) as Tensor | null;
}
