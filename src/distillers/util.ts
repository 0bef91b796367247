// Helpers shared by feature-based methods.
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Sequential } from '../nn/layers.js';
import { normal_ } from '../nn/init.js';

/**
 * Σ_i loss(s[i], t[i], i) over the pairs both lists have: the zoo contract pairs stages up to the
 * shallower network's count, as RepDistiller's zip does.
 */
export function sumPairs(s: Tensor[], t: Tensor[], loss: (s: Tensor, t: Tensor, i: number) => Tensor): Tensor {
  const n = Math.min(s.length, t.length);
  let total = loss(s[0]!, t[0]!, 0);
  for (let i = 1; i < n; i++) total = total.add(loss(s[i]!, t[i]!, i));
  return total;
}

/** Average-pools a map to a target spatial size when it is larger (feature pairs of different resolution). */
export function poolTo(x: Tensor, height: number, width: number): Tensor {
  return x.shape[2] === height && x.shape[3] === width ? x : F.adaptiveAvgPool2d(x, [height, width]);
}

/** Pools the larger of two maps to the smaller's size; returns both. */
export function matchSpatial(s: Tensor, t: Tensor): [Tensor, Tensor] {
  const [hs, ws, ht, wt] = [s.shape[2]!, s.shape[3]!, t.shape[2]!, t.shape[3]!];
  if (hs * ws > ht * wt) return [poolTo(s, ht, wt), t];
  if (hs * ws < ht * wt) return [s, poolTo(t, hs, ws)];
  return [s, t];
}

/** A 1×1 conv + BN connector with He initialisation (RepDistiller's AB/OFD connector). */
export function connector(inChannels: number, outChannels: number): Sequential {
  const conv = new Conv2d(inChannels, outChannels, 1, { bias: false });
  normal_(conv.weight, 0, Math.sqrt(2 / outChannels));
  return new Sequential(conv, new BatchNorm2d(outChannels));
}
