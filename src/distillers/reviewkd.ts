// ReviewKD (Chen et al. 2021): attention-based fusion (ABF) of the student's stages, from the
// deepest to the shallowest, each output matched to the teacher's pre-activation map of the
// same level with the hierarchical context loss; w_ce · CE + w · min(epoch / warmup, 1) · Σ HCL.
import { z } from 'zod';
import { cat, tidy, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, Conv2d, ModuleList, Sequential } from '../nn/layers.js';
import { kaimingUniform_ } from '../nn/init.js';
import type { ModelOutput } from '../models/model.js';
import {
  Distiller,
  type DistillerContext,
  type FeaturePair,
  type TrainBatch,
  type TrainContext,
  type TrainOutput,
} from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    features: featuresOption.describe(
      'levels, shallow to deep; the deepest may be a vector (the pooled features, e.g. fc:input). Default: each zoo stage and the pooled vector (teacher: pre-activation)',
    ),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(5),
    warmupEpochs: z.number().int().nonnegative().default(20),
    maxMidChannel: z.number().int().positive().default(512),
    studentPreact: z.boolean().default(false).describe("the student's pre-activation maps (zoo contract only)"),
  })
  .strict();
export type ReviewKDOptions = z.infer<typeof options>;

/** A vector level [B, D] as a 1×1 map. */
const asMap = (v: Tensor) => (v.ndim === 2 ? v.unsqueeze(-1).unsqueeze(-1) : v);

class ABF extends Module {
  readonly conv1: Sequential;
  readonly conv2: Sequential;
  readonly attConv: Sequential | null;
  constructor(inChannel: number, midChannel: number, outChannel: number, fuse: boolean) {
    super();
    const c1 = new Conv2d(inChannel, midChannel, 1, { bias: false });
    const c2 = new Conv2d(midChannel, outChannel, 3, { padding: 1, bias: false });
    this.conv1 = this.registerModule('conv1', new Sequential(c1, new BatchNorm2d(midChannel)));
    this.conv2 = this.registerModule('conv2', new Sequential(c2, new BatchNorm2d(outChannel)));
    this.attConv = this.registerModule('att_conv', fuse ? new Sequential(new Conv2d(midChannel * 2, 2, 1)) : null);
    kaimingUniform_(c1.weight, { a: 1 });
    kaimingUniform_(c2.weight, { a: 1 });
  }
  /** Fuses x with the residual y of the deeper level, resizes to `outSize`; returns (output, residual). */
  forward(x: Tensor, y: Tensor | null, outSize: number): { out: Tensor; residual: Tensor } {
    // A scope of its own: the full-size maps of the fusion are freed on return (autograd keeps
    // what backward needs), as PyTorch frees them.
    return tidy(() => {
      const [n, , h, w] = x.shape as [number, number, number, number];
      let z = this.conv1.forward(x);
      if (this.attConv && y) {
        const up = F.interpolate(y, { size: [h, w], mode: 'nearest' });
        const att = this.attConv.forward(cat([z, up], 1)).sigmoid();
        z = z.mul(att.narrow(1, 0, 1).reshape(n, 1, h, w)).add(up.mul(att.narrow(1, 1, 1).reshape(n, 1, h, w)));
      }
      if (z.shape[3] !== outSize) z = F.interpolate(z, { size: [outSize, outSize], mode: 'nearest' });
      return { out: this.conv2.forward(z), residual: z };
    });
  }
}

export class ReviewKD extends Distiller {
  static readonly options = options;
  readonly options: ReviewKDOptions;
  /** From the deepest level (the pooled vector) to the shallowest stage. */
  readonly abfs: ModuleList<ABF>;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    const preact = this.options.studentPreact;
    this.feats = this.featureSources(this.options.features, {
      student: (o: ModelOutput) => [...(preact ? o.preactFeats : o.feats).slice(1), o.pooled],
      teacher: (o: ModelOutput) => [...o.preactFeats.slice(1), o.pooled],
    });
    const shapes = this.featureShapes(this.feats, context);
    if (!this.options.features && shapes.student.length !== shapes.teacher.length) {
      throw new Error(
        `ReviewKD: the student has ${shapes.student.length - 1} stages and the teacher ${shapes.teacher.length - 1}; ReviewKD pairs stages one to one`,
      );
    }
    const inChannels = shapes.student.map((s) => s[1]!);
    const outChannels = shapes.teacher.map((t) => t[1]!);
    const mid = Math.min(this.options.maxMidChannel, inChannels.at(-1)!);
    const abfs = inChannels.map((c, i) => new ABF(c, mid, outChannels[i]!, i < inChannels.length - 1));
    this.abfs = this.registerModule('abfs', new ModuleList(abfs.reverse()));
  }

  override extraModules(): Module[] {
    return [this.abfs];
  }

  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const xs = s.feats.map(asMap).reverse();
    const targets = t.feats.map(asMap);
    const reversedTargets = targets.slice().reverse();
    const results: Tensor[] = [];
    let residual: Tensor | null = null;
    xs.forEach((x, i) => {
      const r = this.abfs.at(i).forward(x, residual, reversedTargets[i]!.shape[3]!);
      results.unshift(r.out);
      residual = r.residual;
    });
    let hcl = L.hcl(results[0]!, targets[0]!);
    for (let i = 1; i < results.length; i++) hcl = hcl.add(L.hcl(results[i]!, targets[i]!));
    const ramp = this.options.warmupEpochs > 0 ? Math.min((ctx.epoch + 1) / this.options.warmupEpochs, 1) : 1;
    return {
      logits: s.logits,
      losses: {
        ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
        reviewkd: hcl.mul(this.options.kdWeight * ramp),
      },
    };
  }
}
