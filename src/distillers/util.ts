// Helpers shared by feature-based methods.
import type { Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Linear, ReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
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

/**
 * RepDistiller's and mdistiller's ConvReg: a conv (stride 2 to halve, transposed to double, or a
 * kernel that shrinks) + BN, + ReLU unless `relu: false` (RepDistiller's AB connector).
 */
export function convRegressor(s: number[], t: number[], options: { relu?: boolean; method?: string } = {}): Sequential {
  const [, sc, sh, sw] = s as [number, number, number, number];
  const [, tc, th, tw] = t as [number, number, number, number];
  if (s.length !== 4 || t.length !== 4)
    throw new Error(
      `${options.method ?? 'FitNet'}: the hint and guided features must be maps [B, C, H, W], got [${s}] and [${t}]`,
    );
  let conv: Conv2d | ConvTranspose2d;
  if (sh === 2 * th) conv = new Conv2d(sc, tc, 3, { stride: 2, padding: 1 });
  else if (sh * 2 === th) conv = new ConvTranspose2d(sc, tc, 4, { stride: 2, padding: 1 });
  else if (sh >= th) conv = new Conv2d(sc, tc, [1 + sh - th, 1 + sw - tw]);
  else throw new Error(`${options.method ?? 'FitNet'}: no regressor from a ${sh}x${sw} student map to a ${th}x${tw} teacher map`);
  return options.relu === false
    ? new Sequential(conv, new BatchNorm2d(tc))
    : new Sequential(conv, new BatchNorm2d(tc), new ReLU());
}

/** A network's classifier: the Linear module at `path`, or its last Linear module (SimKD, CAT-KD). */
export function classifierOf(net: Module, path: string | undefined, what: string): Linear {
  if (path) {
    const m = net.getSubmodule(path);
    if (!(m instanceof Linear)) throw new Error(`${what} '${path}' is a ${m.constructor.name}, not a Linear`);
    return m;
  }
  let last: Linear | null = null;
  for (const m of net.modules()) if (m instanceof Linear) last = m;
  if (!last) throw new Error(`${what}: the network has no Linear classifier; name it by module path`);
  return last;
}
