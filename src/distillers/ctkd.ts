// CTKD (Li et al. AAAI 2023, curriculum temperature for knowledge distillation; the authors'
// zhengli97/CTKD): the distillation temperature is learned, adversarially: its gradient passes a
// gradient-reversal layer of strength λ, so the temperature module maximises the distillation loss
// the student minimises. λ follows a curriculum over the first epochs (cosine from λmax = 0 to
// λmin = −1 in 10 epochs), τ = τ_start + τ_span · sigmoid(raw). The base loss is KD or DKD at τ.
import { z } from 'zod';
import { cat, ones, type Tensor } from '../tensor/index.js';
import { Linear, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Distiller, type DistillerContext, type TrainBatch, type TrainContext, type TrainOutput } from './distiller.js';
import { logitStandardizationOption, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    base: z.enum(['kd', 'dkd']).default('kd').describe('the loss the temperature enters: KD or DKD'),
    temperature: z
      .enum(['global', 'instance'])
      .default('global')
      .describe("one learnable temperature (the authors' Global_T) or one per sample from an MLP on both networks' logits"),
    tStart: z.number().nonnegative().default(1).describe("τ = tStart + tEnd · sigmoid(raw) (the authors' --t_start)"),
    tEnd: z.number().positive().default(20).describe("span of the temperature (the authors' --t_end)"),
    curriculum: z.enum(['cosine', 'linear']).default('cosine').describe('how λ moves over the curriculum epochs'),
    lambdaMax: z.number().default(0).describe("λ at the start (the authors' --decay_max)"),
    lambdaMin: z.number().default(-1).describe('λ at the end, negative to reverse the gradient (--decay_min)'),
    lambdaEpochs: z.number().int().positive().default(10).describe('epochs of the curriculum (--decay_loops)'),
    hidden: z.number().int().positive().default(256).describe('hidden width of the instance-wise temperature MLP'),
    ceWeight: z.number().nonnegative().optional().describe("γ of the authors' loop (-r): 0.1 with base kd, 1 with base dkd"),
    kdWeight: z
      .number()
      .nonnegative()
      .optional()
      .describe('α (-a), the weight of KD at the learned temperature: 0.9 with base kd, 0 with base dkd'),
    dkdWeight: z.number().nonnegative().default(1).describe('β (-b): weight of DKD when base is dkd'),
    alpha: z.number().nonnegative().default(1).describe("DKD's TCKD weight (--dkd_alpha)"),
    beta: z.number().nonnegative().default(2).describe("DKD's NCKD weight (--dkd_beta)"),
    logitStandardization: logitStandardizationOption,
  })
  .strict();
/** The options with the weights resolved for the base (the authors' scripts: -r 0.1 -a 0.9 for KD, -r 1 -a 0 -b 1 for DKD). */
export type CTKDOptions = z.infer<typeof options> & { ceWeight: number; kdWeight: number };

/** λ of the gradient reversal at a 0-based epoch (the authors' CosineDecay / LinearDecay of 1-based epochs). */
export function ctkdLambda(
  epoch: number,
  o: Pick<CTKDOptions, 'curriculum' | 'lambdaMax' | 'lambdaMin' | 'lambdaEpochs'>,
): number {
  const loops = o.lambdaEpochs;
  if (o.curriculum === 'linear') {
    // LinearDecay.get_value, as written: the step from 0 towards −(max − min), capped at loops − 1.
    const i = Math.min(Math.max(epoch + 1, 0), loops - 1);
    return i * -((o.lambdaMax - o.lambdaMin) / loops);
  }
  const i = Math.min(Math.max(epoch + 1, 0), loops);
  return ((Math.cos((i * Math.PI) / loops) + 1) / 2) * (o.lambdaMax - o.lambdaMin) + o.lambdaMin;
}

/**
 * The learnable temperature: one parameter `global_T` (initialised to 1, as Global_T), or an MLP
 * on the concatenated teacher and student logits giving one raw temperature per sample. Returns
 * the raw value with its gradient reversed by λ; the logits enter the MLP detached, so the
 * temperature module never pushes gradients into the student.
 */
export class LearnableTemperature extends Module {
  readonly mlp: Sequential | null;
  constructor(kind: 'global' | 'instance', classes: number, hidden: number) {
    super();
    if (kind === 'global') {
      this.registerParameter('global_T', ones([1]));
      this.mlp = null;
    } else {
      this.mlp = this.registerModule('mlp', new Sequential(new Linear(2 * classes, hidden), new ReLU(), new Linear(hidden, 1)));
    }
  }
  forward(zS: Tensor, zT: Tensor, lambda: number): Tensor {
    const raw = this.mlp ? this.mlp.forward(cat([zT.detach(), zS.detach()], 1)) : this.param('global_T')!;
    return L.gradientReversal(raw, lambda);
  }
}

export class CTKD extends Distiller {
  static readonly options = options;
  readonly options: CTKDOptions;
  readonly temperatureModule: LearnableTemperature;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    const parsed = options.parse(opts);
    const isKD = parsed.base === 'kd';
    this.options = { ...parsed, ceWeight: parsed.ceWeight ?? (isKD ? 0.1 : 1), kdWeight: parsed.kdWeight ?? (isKD ? 0.9 : 0) };
    const classes = this.options.temperature === 'instance' ? this.studentClasses(context) : 0;
    this.temperatureModule = this.registerModule(
      'temperature',
      new LearnableTemperature(this.options.temperature, classes, this.options.hidden),
    );
  }

  override extraModules(): Module[] {
    return [this.temperatureModule];
  }

  /** τ for a batch: [1] (global) or [B, 1] (instance), differentiable in the temperature module. */
  temperatureOf(zS: Tensor, zT: Tensor, epoch: number): Tensor {
    const { tStart, tEnd } = this.options;
    return this.temperatureModule.forward(zS, zT, ctkdLambda(epoch, this.options)).sigmoid().mul(tEnd).add(tStart);
  }

  forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput {
    const o = this.options;
    // The teacher first: its maps are freed before the student's activations exist (lower peak).
    const zT = this.teacherLogits(batch.images);
    const zS = this.studentLogits(batch.images);
    const t = this.temperatureOf(zS, zT, ctx.epoch);
    const [kS, kT] = L.standardizedPair(zS, zT, o.logitStandardization);
    const losses: Record<string, Tensor> = { ce: this.ce(zS, batch.labels).mul(o.ceWeight) };
    if (o.kdWeight > 0) {
      const kd = o.temperature === 'instance' ? L.kdInstanceTemperature(kS, kT, t) : L.kd(kS, kT, { T: t });
      losses.kd = kd.mul(o.kdWeight);
    }
    if (o.base === 'dkd') losses.dkd = L.dkd(kS, kT, batch.labels, { alpha: o.alpha, beta: o.beta, T: t }).mul(o.dkdWeight);
    return { logits: zS, losses, monitor: { temperature: t.detach().mean() } };
  }
}
