// The pure distillation losses, each reading like its formula in docs/methods.md.
// Every function returns a scalar tensor with gradients to its student inputs; teacher inputs
// are constants (detached), as in the reference implementations. The losses over feature maps
// run in a scope of their own, so their full-size intermediates are freed when they return, as
// PyTorch frees them (autograd holds what backward needs).
import { arange, cat, eye, tidy, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { matchSpatial } from './util.js';

/**
 * Logit standardisation (LSKD, Sun et al. CVPR 2024; sunshangquan/logit-standardization-KD):
 * each row z-scored, (z − mean) / (1e-7 + std) with the unbiased std, before the temperature.
 */
export function standardizeLogits(z: Tensor): Tensor {
  return z.sub(z.mean(-1, { keepdim: true })).div(z.std(-1, { unbiased: true, keepdim: true }).add(1e-7));
}

/** Both networks' logits, standardised when `on` (the logit methods' logitStandardization option). */
export function standardizedPair(zS: Tensor, zT: Tensor, on: boolean): [Tensor, Tensor] {
  return on ? [standardizeLogits(zS), standardizeLogits(zT)] : [zS, zT];
}

/**
 * A distillation temperature: a number, or a tensor (CTKD's learnable temperature: [1] global, or
 * [B, 1] one per sample) through which gradients reach the temperature module.
 */
export type Temperature = number | Tensor;

/** T² as a factor of per-sample terms [B]: a number, or a tensor [1] or [B]. */
const squared = (t: Temperature): number | Tensor => (typeof t === 'number' ? t * t : t.pow(2).reshape(-1));

/** KD: T² · mean_batch Σ_k p_t,k (log p_t,k − log p_s,k), p = softmax(z / T). */
export function kd(zS: Tensor, zT: Tensor, options: { T?: Temperature } = {}): Tensor {
  const t = options.T ?? 4;
  const logPs = F.logSoftmax(zS.div(t), 1);
  const pT = F.softmax(zT.detach().div(t), 1);
  return F.klDiv(logPs, pT, { reduction: 'none' }).sum(1).mul(squared(t)).mean();
}

/**
 * CTKD's instance-wise KD (zhengli97/CTKD README, KL_Loss): per sample T_i² Σ_k q_k (log q_k −
 * log softmax(z_s/T_i)_k) with q = softmax(z_t/T_i) + 1e-7, averaged over the batch; T is [B, 1].
 */
export function kdInstanceTemperature(zS: Tensor, zT: Tensor, t: Tensor): Tensor {
  const logPs = F.logSoftmax(zS.div(t), 1);
  const q = F.softmax(zT.detach().div(t), 1).add(1e-7);
  return q.mul(q.log().sub(logPs)).sum(1).mul(squared(t)).mean();
}

/**
 * The gradient-reversal layer of CTKD (Ganin & Lempitsky 2015, as in zhengli97/CTKD
 * temp_global.py): identity forward, gradient × λ backward (CTKD's curriculum passes λ ≤ 0).
 * x + (λx − λx) is exactly x, and only the λx term carries a gradient.
 */
export function gradientReversal(x: Tensor, lambda: number): Tensor {
  const scaled = x.mul(lambda);
  return x.detach().add(scaled.sub(scaled.detach()));
}

/** Pearson correlation of the rows of two matrices: cos(a − mean a, b − mean b), eps 1e-8. */
function pearsonRows(a: Tensor, b: Tensor, eps = 1e-8): Tensor {
  const ac = a.sub(a.mean(1, { keepdim: true }));
  const bc = b.sub(b.mean(1, { keepdim: true }));
  return ac
    .mul(bc)
    .sum(1)
    .div(ac.norm(2, 1).mul(bc.norm(2, 1)).add(eps));
}

/** DIST: τ² (β (1 − mean_i pearson(y_s[i,:], y_t[i,:])) + γ (1 − mean_k pearson(y_s[:,k], y_t[:,k]))), y = softmax(z/τ). */
export function dist(zS: Tensor, zT: Tensor, options: { beta?: number; gamma?: number; tau?: number } = {}): Tensor {
  const { beta = 1, gamma = 1, tau = 4 } = options;
  const yS = F.softmax(zS.div(tau), 1);
  const yT = F.softmax(zT.detach().div(tau), 1);
  const inter = pearsonRows(yS, yT).mean().neg().add(1);
  const intra = pearsonRows(yS.t(), yT.t()).mean().neg().add(1);
  return inter
    .mul(beta)
    .add(intra.mul(gamma))
    .mul(tau * tau);
}

/**
 * DKD per sample: α · TCKD_i + β · NCKD_i, both · T². TCKD is the KL of the binary (target,
 * non-target) probabilities; NCKD the KL among the non-target classes only.
 */
export function dkdRows(
  zS: Tensor,
  zT: Tensor,
  y: Tensor,
  options: { alpha?: number; beta?: number; T?: Temperature } = {},
): Tensor {
  const { alpha = 1, beta = 8, T: t = 4 } = options;
  const rows = (logP: Tensor, q: Tensor) => F.klDiv(logP, q, { reduction: 'none' }).sum(1).mul(squared(t));
  const gt = F.oneHot(y, zS.shape[1]!).to(zS.dtype); // 1 at the label
  const binary = (p: Tensor) => cat([p.mul(gt).sum(1, { keepdim: true }), p.mul(gt.neg().add(1)).sum(1, { keepdim: true })], 1);
  const bS = binary(F.softmax(zS.div(t), 1));
  const bT = binary(F.softmax(zT.detach().div(t), 1));
  const tckd = rows(bS.log(), bT);
  // The reference hides the target by subtracting 1000 (its probability becomes exactly 0); dropping
  // the column gives the same value, and a finite gradient when the temperature is learned (CTKD).
  const others = nonTargetIndex(y, zS.shape[1]!);
  const nonTarget = (z: Tensor) => z.gather(1, others).div(t);
  const nckd = rows(F.logSoftmax(nonTarget(zS), 1), F.softmax(nonTarget(zT.detach()), 1));
  return tckd.mul(alpha).add(nckd.mul(beta));
}

/** DKD: the batch mean of dkdRows (mdistiller's sum over the batch divided by its size). */
export function dkd(zS: Tensor, zT: Tensor, y: Tensor, options: { alpha?: number; beta?: number; T?: Temperature } = {}): Tensor {
  return dkdRows(zS, zT, y, options).sum().div(zS.shape[0]!);
}

/**
 * SDD (Wei et al. CVPR 2024, scale-decoupled KD; shicaiwei123/SDD-CVPR2024 sdd_kd_loss, multi_dkd):
 * `zS`, `zT` are the logits of N regions of each of B samples, region-major ([N·B, K], region 0 the
 * global 1×1 one). Each row's KD (or DKD) term is weighted 2 where the teacher's local prediction
 * is right and its global one wrong or the reverse (complementary), else 1 (consistent); the
 * weighted sum is divided by N·B.
 */
export function sdd(
  zS: Tensor,
  zT: Tensor,
  y: Tensor,
  options: { base?: 'kd' | 'dkd'; T?: number; alpha?: number; beta?: number } = {},
): Tensor {
  const { base = 'kd', T: t = 4 } = options;
  const [rows, b] = [zS.shape[0]!, y.shape[0]!];
  const regions = rows / b;
  const labels = y.repeat([regions]);
  const teacher = zT.detach();
  const correct = teacher.argmax(1).eq(labels);
  const weight = correct
    .ne(correct.narrow(0, 0, b).repeat([regions]))
    .to(zS.dtype)
    .add(1);
  const terms =
    base === 'dkd'
      ? dkdRows(zS, teacher, labels, { alpha: options.alpha, beta: options.beta, T: t })
      : F.klDiv(F.logSoftmax(zS.div(t), 1), F.softmax(teacher.div(t), 1), { reduction: 'none' })
          .sum(1)
          .mul(t * t);
  return terms.mul(weight).sum().div(rows);
}

/** SP: G = row-normalised Q Qᵀ of the flattened maps (B × B); ‖G_t − G_s‖²_F / B². */
export function sp(fS: Tensor, fT: Tensor): Tensor {
  return tidy(() => {
    const b = fS.shape[0]!;
    const gram = (f: Tensor) => {
      const q = f.reshape(b, -1);
      return F.normalize(q.mm(q.t()), { dim: 1 });
    };
    return gram(fT.detach())
      .sub(gram(fS))
      .pow(2)
      .sum()
      .div(b * b);
  });
}

/**
 * FT: mean |FT(F_s) − FT(F_t)| with FT(x) the l2-normalised flattened factor per sample (the
 * authors), or with `factor: 'attention'` the l2-normalised mean over channels of x² (RepDistiller's
 * FactorTransfer, p1 = 2, p2 = 1).
 */
export function ft(factorS: Tensor, factorT: Tensor, options: { factor?: 'flatten' | 'attention' } = {}): Tensor {
  return tidy(() => {
    const factor = (x: Tensor) =>
      F.normalize((options.factor === 'attention' ? x.pow(2).mean(1) : x).reshape(x.shape[0]!, -1), { dim: 1 });
    return factor(factorS).sub(factor(factorT.detach())).abs().mean();
  });
}

/**
 * AB for one layer: (s + μ)² [s > −μ and t ≤ 0] + (s − μ)² [s ≤ μ and t > 0], summed, divided
 * by the batch. `s` is the student's pre-ReLU map through its connector, `t` the teacher's.
 */
export function ab(s: Tensor, t: Tensor, options: { margin?: number } = {}): Tensor {
  return tidy(() => {
    const mu = options.margin ?? 1;
    const tt = t.detach();
    const teacherOff = tt.le(0);
    const teacherOn = tt.gt(0);
    const pushDown = s.add(mu).pow(2).mul(s.gt(-mu).logicalAnd(teacherOff).to(s.dtype));
    const pushUp = s.sub(mu).pow(2).mul(s.le(mu).logicalAnd(teacherOn).to(s.dtype));
    return pushDown.add(pushUp).sum().div(s.shape[0]!);
  });
}

/** AT for one layer pair: mean((a_s − a_t)²), a(f) = l2_normalize(flatten(mean_c(f^p))); pooled to the smaller size. */
export function at(fS: Tensor, fT: Tensor, options: { p?: number } = {}): Tensor {
  return tidy(() => {
    const p = options.p ?? 2;
    const [s, t] = matchSpatial(fS, fT.detach());
    const attention = (f: Tensor) => F.normalize(f.pow(p).mean(1).reshape(f.shape[0]!, -1), { dim: 1 });
    return attention(s).sub(attention(t)).pow(2).mean();
  });
}

/** Pairwise Euclidean distances (not squared), clamped at eps, zero diagonal. */
function pairwiseDistances(e: Tensor, eps = 1e-12): Tensor {
  const sq = e.pow(2).sum(1);
  const d = sq.unsqueeze(1).add(sq.unsqueeze(0)).sub(e.mm(e.t()).mul(2)).clampMin(eps).sqrt();
  const offDiagonal = eye(e.shape[0]!, e.shape[0]!, { dtype: e.dtype, device: e.device }).neg().add(1);
  return d.mul(offDiagonal);
}

/** RKD distance: smooth-L1 between the pairwise-distance matrices, each divided by its mean positive entry. */
export function rkdDistance(eS: Tensor, eT: Tensor): Tensor {
  return tidy(() => {
    const normalised = (e: Tensor) => {
      const d = pairwiseDistances(e.reshape(e.shape[0]!, -1));
      const positive = d.gt(0);
      return d.div(d.sum().div(positive.sum()));
    };
    return F.smoothL1Loss(normalised(eS), normalised(eT.detach()));
  });
}

/** RKD angle: smooth-L1 between the cosines of the angles formed by every triplet of embeddings. */
export function rkdAngle(eS: Tensor, eT: Tensor): Tensor {
  return tidy(() => {
    const angles = (e: Tensor) => {
      const flat = e.reshape(e.shape[0]!, -1);
      const diff = F.normalize(flat.unsqueeze(0).sub(flat.unsqueeze(1)), { p: 2, dim: 2 });
      return diff.bmm(diff.transpose(1, 2)).reshape(-1);
    };
    return F.smoothL1Loss(angles(eS), angles(eT.detach()));
  });
}

/** FitNet: MSE between the (regressed) student hint and the teacher's guided layer. */
export function fitnet(fS: Tensor, fT: Tensor): Tensor {
  return F.mseLoss(fS, fT.detach());
}

/**
 * ICKD: per-sample C×C channel Gram matrices (rows l2-normalised) of the embedded student map
 * and the teacher map; Σ (G_s − G_t)² / (C · B). Maps are pooled to the smaller spatial size.
 */
export function ickd(fS: Tensor, fT: Tensor): Tensor {
  return tidy(() => {
    const [s, t] = matchSpatial(fS, fT.detach());
    const [b, c] = [s.shape[0]!, s.shape[1]!];
    const gram = (f: Tensor) => {
      const q = f.reshape(b, c, -1);
      return F.normalize(q.bmm(q.transpose(1, 2)), { dim: 2 });
    };
    return gram(s)
      .sub(gram(t))
      .pow(2)
      .sum()
      .div(c * b);
  });
}

/**
 * ReviewKD's hierarchical context loss for one pair: MSE at full resolution plus MSE after
 * pooling to 4×4, 2×2 and 1×1 (levels smaller than the map), with halving weights, normalised.
 */
export function hcl(fS: Tensor, fT: Tensor): Tensor {
  return tidy(() => {
    const t = fT.detach();
    const h = fS.shape[2]!;
    let loss = F.mseLoss(fS, t);
    let weight = 1;
    let total = 1;
    for (const level of [4, 2, 1]) {
      if (level >= h) continue;
      weight /= 2;
      loss = loss.add(F.mseLoss(F.adaptiveAvgPool2d(fS, level), F.adaptiveAvgPool2d(t, level)).mul(weight));
      total += weight;
    }
    return loss.div(total);
  });
}

/**
 * PKT: KL between the teacher's and the student's distributions of cosine similarities within the
 * batch, each row of (cos + 1) / 2 normalised to sum to 1 (RepDistiller's PKT.py, eps 1e-7).
 */
export function pkt(fS: Tensor, fT: Tensor, options: { eps?: number } = {}): Tensor {
  return tidy(() => {
    const eps = options.eps ?? 1e-7;
    const probabilities = (f: Tensor): Tensor => {
      let unit = f.div(f.pow(2).sum(1, { keepdim: true }).sqrt().add(eps));
      unit = unit.maskedFill(unit.ne(unit), 0); // NaN -> 0, as the reference does
      const similarity = unit.mm(unit.t()).add(1).div(2);
      return similarity.div(similarity.sum(1, { keepdim: true }));
    };
    const [pS, pT] = [probabilities(fS), probabilities(fT)];
    return pT.mul(pT.add(eps).div(pS.add(eps)).log()).mean();
  });
}

/**
 * NST: squared maximum mean discrepancy with the polynomial kernel k(a, b) = (a·b)² between the
 * channels' l2-normalised activation maps (RepDistiller's NST.py, full loss); the larger map is
 * average-pooled to the smaller. The kernel matrices are batched matrix products, the same sums
 * as the reference's broadcast without its [B, C, C, HW] intermediate.
 */
export function nst(fS: Tensor, fT: Tensor): Tensor {
  return tidy(() => {
    const [hS, hT] = [fS.shape[2]!, fT.shape[2]!];
    if (hS > hT) fS = F.adaptiveAvgPool2d(fS, [hT, hT]);
    else if (hS < hT) fT = F.adaptiveAvgPool2d(fT, [hS, hS]);
    const unit = (f: Tensor) => F.normalize(f.reshape(f.shape[0]!, f.shape[1]!, -1), { dim: 2 });
    const [s, t] = [unit(fS), unit(fT)];
    const kernel = (a: Tensor, b: Tensor) => b.bmm(a.transpose(1, 2)).pow(2).mean();
    return kernel(t, t).detach().add(kernel(s, s)).sub(kernel(s, t).mul(2));
  });
}

/** CC: correlation congruence as RepDistiller's CC.py: mean over consecutive samples of Σ |Δ_i| |Δ_i+1|, Δ = e_s − e_t. */
export function cc(eS: Tensor, eT: Tensor): Tensor {
  const delta = eS.sub(eT).abs();
  const n = delta.shape[0]!;
  return delta
    .narrow(0, 0, n - 1)
    .mul(delta.narrow(0, 1, n - 1))
    .sum(1)
    .mean();
}

/**
 * VID: the negative log-likelihood of the teacher's map under a Gaussian whose mean the student
 * predicts and whose variance per channel is softplus(logScale) + eps (RepDistiller's VID.py, from
 * the authors' code): mean(0.5 · ((μ − t)² / σ² + log σ²)).
 */
export function vid(predMean: Tensor, target: Tensor, logScale: Tensor, options: { eps?: number } = {}): Tensor {
  return tidy(() => {
    const variance = logScale
      .exp()
      .add(1)
      .log()
      .add(options.eps ?? 1e-5)
      .view(1, -1, 1, 1);
    return predMean.sub(target).pow(2).div(variance).add(variance.log()).mul(0.5).mean();
  });
}

/** Where a value is NaN or ±∞, zero (the reference's `removenan`). */
const finiteOrZero = (x: Tensor): Tensor => x.where(x.isfinite(), 0);

/** How KDSVD lays a map out as a matrix before its SVD. */
export type KDSVDLayout = 'repdistiller' | 'mdistiller';

/**
 * KDSVD's right singular vectors of one map, the first n, each l2-normalised, and the first n
 * singular values, normalised together. RepDistiller (as the authors' TensorFlow code) takes
 * the [HW, C] matrix of each sample, so `v` spans channels; mdistiller views [C·H, W].
 */
function kdsvdBasis(feat: Tensor, n: number, layout: KDSVDLayout): { s: Tensor; v: Tensor } {
  const [b, c, h, w] = feat.shape as [number, number, number, number];
  const x = layout === 'repdistiller' ? feat.reshape(b, c, h * w).transpose(1, 2) : feat.reshape(b, c * h, w);
  const [rows, cols] = [x.shape[1]!, x.shape[2]!];
  if (Math.min(rows, cols) < n)
    throw new Error(
      `KDSVD: a ${rows}×${cols} feature matrix has fewer than ${n} singular vectors; lower k or pick larger features`,
    );
  const svd = x.svd();
  return {
    s: F.normalize(finiteOrZero(svd.s).narrow(1, 0, n), { dim: 1 }),
    v: F.normalize(finiteOrZero(svd.v).narrow(2, 0, n), { dim: 1 }),
  };
}

/**
 * KDSVD (Lee et al. 2018, RepDistiller's KDSVD.py): the teacher's first k right singular vectors
 * of each map and the student's first k+3, the student's aligned to the teacher's by the sign of
 * their best-matching cosine, both scaled by the teacher's singular values; between consecutive
 * maps an RBF kernel exp(−(v_l − v_(l−1))² / 8) of every channel pair; the squared difference of
 * the student's and teacher's kernels (non-finite terms dropped), summed, divided by the batch.
 */
export function kdsvd(gS: Tensor[], gT: Tensor[], options: { k?: number; layout?: KDSVDLayout } = {}): Tensor {
  return tidy(() => {
    const k = options.k ?? 1;
    const layout = options.layout ?? 'repdistiller';
    const n = Math.min(gS.length, gT.length);
    if (n < 2) throw new Error(`KDSVD compares consecutive feature maps: it needs at least 2 per network, got ${n}`);
    let previous: { s: Tensor; t: Tensor } | null = null;
    let total: Tensor | null = null;
    for (let i = 0; i < n; i++) {
      const t = kdsvdBasis(gT[i]!, k, layout);
      const s = kdsvdBasis(gS[i]!, k + 3, layout);
      if (s.v.shape[1] !== t.v.shape[1])
        throw new Error(
          `KDSVD matches singular vectors entry by entry: map ${i} gives ${s.v.shape[1]} (student) and ${t.v.shape[1]} (teacher) ${layout === 'repdistiller' ? 'channels' : 'columns'}; pick features of equal width`,
        );
      const cosine = s.v.transpose(1, 2).matmul(t.v);
      const best = cosine.abs().max(1, { keepdim: true }).values;
      const alignment = cosine.sign().where(best.eq(cosine.abs()), 0);
      const scale = t.s.unsqueeze(1);
      const current = { s: s.v.matmul(alignment).mul(scale), t: t.v.mul(scale) };
      if (previous) {
        const rbf = (v: Tensor, before: Tensor) => v.unsqueeze(2).sub(before.unsqueeze(1)).pow(2).div(-8).exp();
        const term = finiteOrZero(rbf(current.s, previous.s).sub(rbf(current.t, previous.t).detach()).pow(2)).sum();
        total = total ? total.add(term) : term;
      }
      previous = current;
    }
    return total!.div(gS[0]!.shape[0]!);
  });
}

/**
 * OFD's partial L2 (Heo et al. 2019, mdistiller's OFD.py): with margin m per channel, a student
 * value s is pulled to t where the teacher is positive, and only where it exceeds t (or m) where
 * the teacher is below them, since a ReLU erases the difference there; Σ over positions of the
 * batch mean. `margin` is [C], from the teacher's BatchNorm (ofdMargins).
 */
export function ofd(source: Tensor, target: Tensor, margin: Tensor): Tensor {
  return tidy(() => {
    const m = margin.view(1, -1, 1, 1);
    const t = target.detach();
    const aboveMargin = source.gt(m).logicalAnd(t.le(m));
    const aboveTeacher = source.gt(t).logicalAnd(t.gt(m)).logicalAnd(t.le(0));
    const toMargin = source.sub(m).pow(2).mul(aboveMargin);
    const toTeacher = source
      .sub(t)
      .pow(2)
      .mul(aboveTeacher.logicalOr(t.gt(0)));
    return toMargin.add(toTeacher).abs().mean(0).sum();
  });
}

/**
 * OFD's margin of each channel from the BatchNorm before the ReLU: the expected value of the
 * pre-activation given that it is negative, E[x | x < 0] for x ~ N(β, γ²), where that has a
 * probability over 0.001, else −3|γ| (mdistiller's SciPy norm.cdf, here 0.5·erfc(β / (|γ|√2))).
 */
export function ofdMargins(weight: Tensor, bias: Tensor): Tensor {
  const std = weight.detach().to('float64').abs();
  const mean = bias.detach().to('float64');
  const z = mean.div(std);
  const cdf = z.div(Math.SQRT2).erfc().mul(0.5); // Φ(−β/|γ|)
  const density = z
    .pow(2)
    .div(-2)
    .exp()
    .div(Math.sqrt(2 * Math.PI));
  const expected = std.neg().mul(density).div(cdf).add(mean);
  return expected.where(cdf.gt(0.001), std.mul(-3)).to(weight.dtype);
}

/** The FSP matrices of consecutive maps: [B, C_top, C_bot] = top · botᵀ / (H·W), the larger map pooled to the smaller. */
export function fspMatrices(g: Tensor[]): Tensor[] {
  return g.slice(0, -1).map((bottom, i) => {
    const [bot, top] = matchSpatial(bottom, g[i + 1]!);
    const flat = (f: Tensor) => f.reshape(f.shape[0]!, f.shape[1]!, -1);
    const positions = bot.shape[2]! * bot.shape[3]!;
    return flat(top).bmm(flat(bot).transpose(1, 2)).div(positions);
  });
}

/** FSP (RepDistiller's FSP.py): Σ over consecutive pairs of mean((G_s − G_t)²), the teacher's detached. */
export function fsp(gS: Tensor[], gT: Tensor[]): Tensor {
  return tidy(() => {
    const [s, t] = [fspMatrices(gS), fspMatrices(gT)];
    return s.map((m, i) => m.sub(t[i]!.detach()).pow(2).mean()).reduce((a, b) => a.add(b));
  });
}

/**
 * CAT-KD's loss (the authors' CAT_loss): both class activation maps average-pooled to
 * resolution × resolution, optionally each l2-normalised over its positions, then MSE.
 */
export function catkd(camS: Tensor, camT: Tensor, options: { resolution?: number; normalize?: boolean } = {}): Tensor {
  return tidy(() => {
    const r = options.resolution ?? 2;
    const prepare = (cam: Tensor) => {
      const pooled = F.adaptiveAvgPool2d(cam, [r, r]);
      if (!options.normalize) return pooled;
      const [b, k] = [pooled.shape[0]!, pooled.shape[1]!];
      return F.normalize(pooled.reshape(b, k, r * r), { dim: 2 }).reshape(b, k, r, r);
    };
    return F.mseLoss(prepare(camS), prepare(camT.detach()));
  });
}

/**
 * CRD's NCE loss of one direction (RepDistiller's ContrastLoss, Eq. 18): x [B, K+1] holds the
 * normalised scores of the positive (column 0) and K negatives; with P_n = 1/N,
 * −(Σ log(x₀ / (x₀ + K·P_n + ε)) + Σ log(K·P_n / (x_k + K·P_n + ε))) / B, ε = 1e-7.
 */
export function crdContrast(x: Tensor, numSamples: number): Tensor {
  const eps = 1e-7;
  const [b, columns] = [x.shape[0]!, x.shape[1]!];
  const m = columns - 1;
  const mPn = m / numSamples;
  const positive = x.select(1, 0);
  const logD1 = positive.div(positive.add(mPn + eps)).log();
  const logD0 = x
    .narrow(1, 1, m)
    .add(mPn + eps)
    .reciprocal()
    .mul(mPn)
    .log();
  return logD1.sum().add(logD0.sum()).neg().div(b);
}

/**
 * TTM / WTTM (Zheng & Yang, ICLR 2024; zkxufo/TTM distiller_zoo/ttm.py, wttm.py): the teacher's
 * probabilities raised to the power γ and renormalised (a transformed teacher, γ = 1/T), matched
 * by KL(p̃_t ‖ p_s) with the student at temperature 1; WTTM weights each sample by the
 * normaliser Σ_k p_t,k^γ (`weighted`), TTM does not. Mean over the batch.
 */
export function ttm(zS: Tensor, zT: Tensor, options: { gamma?: number; weighted?: boolean } = {}): Tensor {
  const gamma = options.gamma ?? 0.1;
  const logPs = F.logSoftmax(zS, 1);
  const powered = F.softmax(zT.detach(), 1).pow(gamma);
  const norm = powered.sum(1);
  const kl = F.klDiv(logPs, powered.div(norm.unsqueeze(1)), { reduction: 'none' }).sum(1);
  return ((options.weighted ?? true) ? norm.mul(kl) : kl).mean();
}

/**
 * Tf-KD's virtual teacher (Yuan et al. CVPR 2020, loss_kd_regularization): 0.99 on the label and
 * 0.01/(K−1) elsewhere, softened by softmax(p / T); KL to the student's log_softmax(z), averaged
 * over every element (nn.KLDivLoss's default 'mean', as the reference).
 */
export function tfkdRegularization(z: Tensor, y: Tensor, options: { T?: number; correctProb?: number } = {}): Tensor {
  const { T: t = 20, correctProb = 0.99 } = options;
  const k = z.shape[1]!;
  const rest = (1 - correctProb) / (k - 1);
  const virtual = F.oneHot(y, k)
    .to(z.dtype)
    .mul(correctProb - rest)
    .add(rest);
  return F.klDiv(F.logSoftmax(z, 1), F.softmax(virtual.div(t), 1), { reduction: 'mean' });
}

/** Tf-KD's self-teacher term (loss_kd_self): T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)) averaged over every element. */
export function tfkdSelf(zS: Tensor, zT: Tensor, options: { T?: number } = {}): Tensor {
  const t = options.T ?? 6;
  return F.klDiv(F.logSoftmax(zS.div(t), 1), F.softmax(zT.detach().div(t), 1), { reduction: 'mean' }).mul(t * t);
}

/** Per row, the indices of every class but the label: [N, C − 1] (int64), j + [j ≥ y], built on the device. */
function nonTargetIndex(y: Tensor, classes: number): Tensor {
  const j = arange(0, classes - 1, 1, { dtype: 'int64', device: y.device }).unsqueeze(0);
  const label = y.view(-1, 1);
  return j.add(j.ge(label).to('int64'));
}

/**
 * NKD (Yang et al. ICCV 2023, normalized KD; yzd-v/cls_KD NKDLoss): −mean(t_y · log s_y) on the
 * target class, plus −γ T² mean_i Σ_k T_k log S_k over the non-target classes renormalised at
 * temperature T (the target column removed before the softmax).
 */
export function nkd(zS: Tensor, zT: Tensor, y: Tensor, options: { T?: number; gamma?: number } = {}): Tensor {
  const { T: t = 1, gamma = 1.5 } = options;
  const [n, c] = [zS.shape[0]!, zS.shape[1]!];
  const label = y.view(n, 1);
  const teacher = zT.detach();
  const sTarget = F.logSoftmax(zS, 1).gather(1, label);
  const tTarget = F.softmax(teacher, 1).gather(1, label);
  const lossTarget = tTarget.mul(sTarget).mean().neg();
  const others = nonTargetIndex(y, c);
  const sNon = F.logSoftmax(zS.gather(1, others).div(t), 1);
  const tNon = F.softmax(teacher.gather(1, others).div(t), 1);
  const lossNon = tNon
    .mul(sNon)
    .sum(1)
    .mean()
    .mul(-gamma * t * t);
  return lossTarget.add(lossNon);
}

/** Cross entropy with soft targets, Σ_k −q_k log softmax(z)_k averaged over the batch (PS-KD's Custom_CrossEntropy_PSKD). */
export function softTargetCrossEntropy(z: Tensor, targets: Tensor): Tensor {
  return targets.detach().neg().mul(F.logSoftmax(z, 1)).mean(0).sum();
}

/** BYOT's feature hint: Σ ((f − t)² · [f > 0 or t > 0]) over every element, t the deepest feature (constant). */
export function byotFeature(f: Tensor, t: Tensor): Tensor {
  return tidy(() => {
    const target = t.detach();
    return f
      .sub(target)
      .pow(2)
      .mul(f.gt(0).logicalOr(target.gt(0)).to(f.dtype))
      .sum();
  });
}

/**
 * DML's KL (the authors' kl_loss_compute): mean_b Σ_k p_j log(1e-8 + p_j / (p_i + 1e-8)) with
 * p = softmax(z); the other network's prediction p_j is a constant.
 */
export function dmlKL(zI: Tensor, zJ: Tensor): Tensor {
  const pI = F.softmax(zI, 1);
  const pJ = F.softmax(zJ.detach(), 1);
  return pJ
    .mul(pJ.div(pI.add(1e-8)).add(1e-8).log())
    .sum(1)
    .mean();
}

/**
 * numpy.percentile(x, 50) of a vector ('linear': the middle value, or b − (b − a)/2 of the two
 * middle ones), on the device; MLKD's confidence thresholds.
 */
export function median(x: Tensor): Tensor {
  const n = x.shape[0]!;
  const sorted = x.detach().sort(0).values;
  const b = sorted.narrow(0, Math.floor(n / 2), 1);
  if (n % 2) return b;
  return b.sub(b.sub(sorted.narrow(0, n / 2 - 1, 1)).mul(0.5));
}

/** MLKD's class-level alignment (cc_loss): ‖P_tᵀP_t − P_sᵀP_s‖² / K, P = softmax(z/T) over the batch. */
export function mlkdClassConsistency(zS: Tensor, zT: Tensor, t: number): Tensor {
  const gram = (z: Tensor) => {
    const p = F.softmax(z.div(t), 1);
    return p.t().mm(p);
  };
  return gram(zT.detach()).sub(gram(zS)).pow(2).sum().div(zS.shape[1]!);
}

/** MLKD's batch-level alignment (bc_loss): ‖P_tP_tᵀ − P_sP_sᵀ‖² / B, P = softmax(z/T). */
export function mlkdBatchConsistency(zS: Tensor, zT: Tensor, t: number): Tensor {
  const gram = (z: Tensor) => {
    const p = F.softmax(z.div(t), 1);
    return p.mm(p.t());
  };
  return gram(zT.detach()).sub(gram(zS)).pow(2).sum().div(zS.shape[0]!);
}

/**
 * MLKD's distillation terms (KD_ours.forward_train) from the weak and strong views' logits, before
 * the KD weight: KD, class-level and batch-level alignment at the temperatures [T, 3, 5, 2, 6].
 * The teacher's confidence on the weak view gates the weak-view terms: the reference's
 * (term · mask).mean() is the term times the share of samples (classes, for cc) at or below the
 * median confidence. The strong-view KD runs [T, 3, 5] on the strong view and, as the reference
 * has it, 2 and 6 on the weak view again.
 */
export function mlkd(
  sW: Tensor,
  sS: Tensor,
  tW: Tensor,
  tS: Tensor,
  options: { T?: number; logitStandardization?: boolean } = {},
): { kd: Tensor; cc: Tensor; bc: Tensor } {
  const temps = [options.T ?? 4, 3, 5, 2, 6];
  const pW = F.softmax(tW.detach(), 1);
  const confidence = pW.max(1).values;
  const sampleShare = confidence.le(median(confidence)).to(sW.dtype).mean();
  const classConfidence = pW.sum(0);
  const classShare = classConfidence.le(median(classConfidence)).to(sW.dtype).mean();
  const kdAt = (s: Tensor, t: Tensor, temp: number) =>
    kd(...standardizedPair(s, t, options.logitStandardization ?? false), { T: temp });
  const sum = (xs: Tensor[]) => xs.reduce((a, b) => a.add(b));
  // The weak-view KD at each temperature, computed once: the strong-view term reuses its last two.
  const weak = temps.map((t) => kdAt(sW, tW, t));
  const kdWeak = sum(weak).mul(sampleShare);
  const kdStrong = sum([...temps.slice(0, 3).map((t) => kdAt(sS, tS, t)), ...weak.slice(3)]);
  return {
    kd: kdWeak.add(kdStrong),
    cc: sum(temps.map((t) => mlkdClassConsistency(sW, tW, t))).mul(classShare),
    bc: sum(temps.map((t) => mlkdBatchConsistency(sW, tW, t))).mul(sampleShare),
  };
}

/**
 * DIST+'s feature relations (torchdistill DISTPlusLoss) on maps [B, C, H, W] of equal shape:
 * `channel`, the mean over samples and positions of the Pearson correlation across channels
 * (torchdistill adds the correlation itself to the loss; `channelDistance` gives 1 − it), and
 * `spatial`, 1 − the mean over positions of the Pearson correlation across the batch of the
 * channel-summed maps.
 */
export function distPlusRelations(fS: Tensor, fT: Tensor, options: { eps?: number } = {}): { channel: Tensor; spatial: Tensor } {
  return tidy(() => {
    const eps = options.eps ?? 1e-8;
    const t = fT.detach();
    const centre = (f: Tensor) => f.sub(f.mean(1, { keepdim: true }));
    const [cs, ct] = [centre(fS), centre(t)];
    const numerator = cs.mul(ct).sum(1);
    const denominator = cs.pow(2).sum(1).mul(ct.pow(2).sum(1)).sqrt();
    const channel = numerator.div(denominator.add(eps)).mean();
    const aggregate = (f: Tensor) => f.sum(1).flatten(1).t(); // [HW, B]
    const spatial = pearsonRows(aggregate(fS), aggregate(t), eps).mean().neg().add(1);
    return { channel, spatial };
  });
}
