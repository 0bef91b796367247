// Initialisations of torch.nn.init, drawing from the same generator in the same order as
// PyTorch, so that manualSeed(s) gives PyTorch's initial weights.
import { Tensor, noGrad, op } from '../tensor/index.js';

export function fanInOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`init: fan in and fan out need at least 2 dimensions, got [${s.join(', ')}]`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1]! * receptive, s[0]! * receptive];
}

export type Nonlinearity = 'relu' | 'leaky_relu' | 'linear' | 'sigmoid' | 'tanh';
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.sqrt(2);
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
  }
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}
function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const [fanIn, fanOut] = fanInOut(t);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o);
  return noGrad(() => t.uniform_(-bound, bound));
}
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  return noGrad(() => t.normal_(0, kaimingStd(t, o)));
}
export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return noGrad(() => t.uniform_(a, b));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
export function zeros_(t: Tensor): Tensor {
  return noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return noGrad(() => t.fill_(1));
}
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fanInOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return noGrad(() => t.uniform_(-bound, bound));
}
/** A normal(mean, std) truncated to [a, b] by inverse-CDF sampling, as torch.nn.init.trunc_normal_. */
export function truncNormal_(t: Tensor, options: { mean?: number; std?: number; a?: number; b?: number } = {}): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2 } = options;
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const lo = cdf((a - mean) / std);
  const hi = cdf((b - mean) / std);
  return noGrad(() => {
    t.uniform_(2 * lo - 1, 2 * hi - 1);
    erfinvOp.inplace([t]);
    t.mul_(std * Math.SQRT2).add_(mean);
    return t.clamp_({ min: a, max: b });
  });
}
const erfinvOp = op('aten::erfinv_');
/** Abramowitz-Stegun 7.1.26 is too coarse for the bounds; this series is exact to double rounding for |x| < 6. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  if (ax > 6) return sign;
  // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), summed until the terms vanish.
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (-ax * ax) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (sign * 2 * sum) / Math.sqrt(Math.PI);
}
