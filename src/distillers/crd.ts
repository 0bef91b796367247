// CRD (Tian et al. ICLR 2020, contrastive representation distillation, as RepDistiller runs it):
// the pooled features of each network embedded to 128-d and l2-normalised; a memory bank of N×128
// per network (momentum 0.5) supplies K = 16384 negatives per sample, drawn from other classes;
// NCE in both directions (teacher as anchor over the student's memory, and the reverse), each
// score exp(v·m / τ) / Z with Z fixed from the first batch. w_ce · CE + w_kd · CRD (+ optional KD).
// `memory: queue` keeps the last K embeddings instead of N rows (RepDistiller #40: banks that do
// not fit), MoCo-style.
import { z } from 'zod';
import { cat, noGrad, rand, tensor, type Tensor } from '../tensor/index.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { mixSeeds, mulberry32 } from '../data/index.js';
import {
  Distiller,
  type DistillerContext,
  type FeaturePair,
  type TrainBatch,
  type TrainContext,
  type TrainOutput,
} from './distiller.js';
import { pooledFeatureOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    featDim: z.number().int().positive().default(128).describe('embedding size'),
    nceK: z.number().int().positive().default(16384).describe('negatives per sample (the queue length with memory: queue)'),
    nceT: z.number().positive().default(0.07).describe('temperature τ'),
    nceMomentum: z.number().min(0).max(1).default(0.5).describe('momentum of the memory rows'),
    mode: z
      .enum(['exact', 'uniform'])
      .default('exact')
      .describe('exact: negatives drawn from the other classes (RepDistiller); uniform: from every sample'),
    memory: z
      .enum(['bank', 'queue'])
      .default('bank')
      .describe('bank: a row per training sample (RepDistiller); queue: the last nceK embeddings (MoCo-style, for large sets)'),
    features: pooledFeatureOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(0.8).describe("RepDistiller's beta"),
    klWeight: z.number().nonnegative().default(0).describe("optional KD term (RepDistiller's alpha)"),
    T: z.number().positive().default(4),
  })
  .strict();
export type CRDOptions = z.infer<typeof options>;

/** Linear to the embedding size, then x / ‖x‖ (RepDistiller's Embed; no epsilon, as there). */
export class Embed extends Module {
  readonly linear: Linear;
  constructor(dimIn: number, dimOut: number) {
    super();
    this.linear = this.registerModule('linear', new Linear(dimIn, dimOut));
  }
  forward(x: Tensor): Tensor {
    const y = this.linear.forward(x.reshape(x.shape[0]!, -1));
    return y.div(y.pow(2).sum(1, { keepdim: true }).sqrt());
  }
}

/**
 * The two memories (RepDistiller's ContrastMemory, its buffer names): `memory_v1` of student
 * embeddings, `memory_v2` of teacher embeddings, and `params` = [K, τ, Z_v1, Z_v2, momentum]
 * with the normalisation constants set on the first batch; a queue adds its write position.
 */
export class ContrastMemory extends Module {
  constructor(
    featDim: number,
    rows: number,
    readonly K: number,
    T: number,
    momentum: number,
    readonly queue: boolean,
  ) {
    super();
    this.registerBuffer('params', tensor([K, T, -1, -1, momentum]));
    const stdv = 1 / Math.sqrt(featDim / 3);
    this.registerBuffer(
      'memory_v1',
      rand([rows, featDim])
        .mul(2 * stdv)
        .sub(stdv),
    );
    this.registerBuffer(
      'memory_v2',
      rand([rows, featDim])
        .mul(2 * stdv)
        .sub(stdv),
    );
    if (queue) this.registerBuffer('queue_ptr', tensor([0], { dtype: 'int64' }));
  }
  /** A buffer by name (always registered above). */
  memory(name: 'params' | 'memory_v1' | 'memory_v2' | 'queue_ptr'): Tensor {
    return this.buffer(name)!;
  }
}

export class CRD extends Distiller {
  static readonly options = options;
  readonly options: CRDOptions;
  readonly embedStudent: Embed;
  readonly embedTeacher: Embed;
  readonly contrast: ContrastMemory;
  /** Training-set size N (the noise distribution is uniform, P_n = 1/N). */
  readonly numSamples: number;
  /**
   * The contrast indices of a batch, [B·(K+1)]: each sample's own index, then its K negatives.
   * Replaceable (tests feed the reference's draws).
   */
  sampleContrast: (indices: Int32Array, ctx: TrainContext) => Int32Array;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    const labels = context.trainLabels;
    if (!labels?.length)
      throw new Error('CRD: needs the training set (a memory row per sample, negatives from other classes): context.trainLabels');
    this.numSamples = labels.length;
    this.feats = this.pooledSources(this.options.features);
    const shapes = this.featureShapes(this.feats, context);
    const dim = (s: number[]) => s.slice(1).reduce((a, b) => a * b, 1);
    const { featDim, nceK, nceT, nceMomentum, memory, mode } = this.options;
    this.embedStudent = this.registerModule('embed_s', new Embed(dim(shapes.student[0]!), featDim));
    this.embedTeacher = this.registerModule('embed_t', new Embed(dim(shapes.teacher[0]!), featDim));
    const rows = memory === 'bank' ? this.numSamples : nceK;
    this.contrast = this.registerModule(
      'contrast',
      new ContrastMemory(featDim, rows, nceK, nceT, nceMomentum, memory === 'queue'),
    );
    this.sampleContrast = contrastSampler(labels, nceK, mode, context.seed ?? 0);
  }

  override extraModules(): Module[] {
    return [this.embedStudent, this.embedTeacher];
  }

  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const v1 = this.embedStudent.forward(s.feats[0]!);
    const v2 = this.embedTeacher.forward(t.feats[0]!);
    const [outV1, outV2] =
      this.options.memory === 'bank' ? this.scoresFromBank(v1, v2, batch, ctx) : this.scoresFromQueue(v1, v2, ctx);
    const crd = L.crdContrast(outV1, this.numSamples).add(L.crdContrast(outV2, this.numSamples));
    const losses: Record<string, Tensor> = {
      ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
      crd: crd.mul(this.options.kdWeight),
    };
    if (this.options.klWeight > 0) losses.kd = L.kd(s.logits, t.logits, { T: this.options.T }).mul(this.options.klWeight);
    return { logits: s.logits, losses };
  }

  /** exp(v · m / τ) against the memory rows of the contrast indices, then each side's momentum update. */
  private scoresFromBank(v1: Tensor, v2: Tensor, batch: TrainBatch, ctx: TrainContext): [Tensor, Tensor] {
    const b = v1.shape[0]!;
    const idx = tensor(this.sampleContrast(batch.indices, ctx), { dtype: 'int64', device: v1.device }).view(b, -1);
    // v · memoryᵀ over all rows then a gather: the reference's index_select of B·(K+1) rows, without
    // materialising them. The memories are cloned: they are updated in place before backward.
    const [m1, m2] = noGrad(() => [this.contrast.memory('memory_v1').clone(), this.contrast.memory('memory_v2').clone()]);
    const outV2 = v2.mm(m1!.t()).gather(1, idx);
    const outV1 = v1.mm(m2!.t()).gather(1, idx);
    // Data-parallel: every rank updates the rows of the whole global batch (the same memory everywhere).
    const g = ctx.gather ?? ((t: Tensor) => t);
    const y = g(tensor(batch.indices, { dtype: 'int64', device: v1.device }));
    this.momentumUpdate('memory_v1', y, g(v1.detach()));
    this.momentumUpdate('memory_v2', y, g(v2.detach()));
    return this.normalise(outV1, outV2, g);
  }

  /** Queue: the positive is the other network's current embedding; the negatives, the queue. */
  private scoresFromQueue(v1: Tensor, v2: Tensor, ctx: TrainContext): [Tensor, Tensor] {
    const [q1, q2] = noGrad(() => [this.contrast.memory('memory_v1').clone(), this.contrast.memory('memory_v2').clone()]);
    const outV2 = cat([v2.mul(v1.detach()).sum(1, { keepdim: true }), v2.mm(q1!.t())], 1);
    const outV1 = cat([v1.mul(v2.detach()).sum(1, { keepdim: true }), v1.mm(q2!.t())], 1);
    const g = ctx.gather ?? ((t: Tensor) => t);
    this.enqueue(g(v1.detach()), g(v2.detach()));
    return this.normalise(outV1, outV2, g);
  }

  /** exp(score / τ) / Z, Z = mean · N fixed on the first batch (params[2], params[3]). */
  private normalise(scoreV1: Tensor, scoreV2: Tensor, gather: (t: Tensor) => Tensor): [Tensor, Tensor] {
    const params = this.contrast.memory('params');
    const T = this.options.nceT;
    const [outV1, outV2] = [scoreV1.div(T).exp(), scoreV2.div(T).exp()];
    const z = (out: Tensor, slot: number): number => {
      const current = params.select(0, slot);
      // Fixed on the first batch: the global batch's mean in data-parallel training.
      if (current.item() < 0) noGrad(() => current.copy_(gather(out.detach()).mean().mul(this.numSamples)));
      return current.item();
    };
    return [outV1.div(z(outV1, 2)), outV2.div(z(outV2, 3))];
  }

  private momentumUpdate(name: 'memory_v1' | 'memory_v2', y: Tensor, v: Tensor): void {
    const momentum = this.options.nceMomentum;
    noGrad(() => {
      const memory = this.contrast.memory(name);
      const rows = memory
        .indexSelect(0, y)
        .mul(momentum)
        .add(v.detach().mul(1 - momentum));
      memory.indexCopy_(0, y, rows.div(rows.pow(2).sum(1, { keepdim: true }).sqrt()));
    });
  }

  private enqueue(v1: Tensor, v2: Tensor): void {
    noGrad(() => {
      const ptr = this.contrast.memory('queue_ptr');
      const start = ptr.item();
      const b = v1.shape[0]!;
      const slots = tensor(
        Array.from({ length: b }, (_, i) => (start + i) % this.options.nceK),
        { dtype: 'int64', device: v1.device },
      );
      this.contrast.memory('memory_v1').indexCopy_(0, slots, v1.detach());
      this.contrast.memory('memory_v2').indexCopy_(0, slots, v2.detach());
      ptr.fill_((start + b) % this.options.nceK);
    });
  }
}

/**
 * RepDistiller's CIFAR100InstanceSample (mode 'exact'): each sample's own index, then K indices drawn
 * with replacement from the samples of other classes ('uniform': from all samples, the AliasMethod
 * over uniform unigrams). The stream is a function of seed, epoch and step, so a resumed run draws
 * the same negatives.
 */
export function contrastSampler(
  labels: Int32Array,
  K: number,
  mode: 'exact' | 'uniform',
  seed: number,
): (indices: Int32Array, ctx: TrainContext) => Int32Array {
  const n = labels.length;
  // Indices grouped by class: the other classes of y are the positions outside y's block.
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => labels[a]! - labels[b]! || a - b);
  const start = new Map<number, number>();
  const count = new Map<number, number>();
  order.forEach((i, p) => {
    const c = labels[i]!;
    if (!start.has(c)) start.set(c, p);
    count.set(c, (count.get(c) ?? 0) + 1);
  });
  return (indices, ctx) => {
    const rand = mulberry32(mixSeeds(seed, ctx.epoch, ctx.step));
    const out = new Int32Array(indices.length * (K + 1));
    indices.forEach((index, b) => {
      if (!(index >= 0 && index < n))
        throw new Error(`CRD: sample index ${index} is not a row of the training set (${n} samples) the memory was built for`);
      const row = b * (K + 1);
      out[row] = index;
      const c = labels[index]!;
      const [s0, nc] = [start.get(c)!, count.get(c)!];
      const others = n - nc;
      if (mode === 'exact' && others === 0) throw new Error('CRD: mode exact needs samples of at least two classes');
      for (let k = 1; k <= K; k++) {
        if (mode === 'uniform') out[row + k] = Math.floor(rand() * n);
        else {
          const r = Math.floor(rand() * others);
          out[row + k] = order[r < s0 ? r : r + nc]!;
        }
      }
    });
    return out;
  };
}
