// FT (Kim et al. 2018), two stages. 1: a paraphraser learns to reconstruct the teacher's last
// map (L1) through a bottleneck of rate k. 2: a translator maps the student's map to the
// factor space; loss w_ce · CE + β · mean |FT(Tr(f_s)) − FT(enc(f_t))|.
import { z } from 'zod';
import { noGrad } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { ConvTranspose2d, Conv2d, LeakyReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import {
  Distiller,
  lastFeatureMap,
  type DistillerContext,
  type FeaturePair,
  type PrepStage,
  type TrainBatch,
  type TrainOutput,
} from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { matchSpatial } from './util.js';

const options = z
  .object({
    rate: z.number().positive().default(0.5).describe('paraphrase rate k'),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(500).describe('beta'),
    paraphraserEpochs: z.number().int().nonnegative().default(5),
    paraphraserLr: z.number().positive().default(0.1),
  })
  .strict();
export type FTOptions = z.infer<typeof options>;

const conv = (i: number, o: number) => [new Conv2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];
const deconv = (i: number, o: number) => [new ConvTranspose2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];

export class FT extends Distiller {
  static readonly options = options;
  readonly options: FTOptions;
  readonly encoder: Sequential;
  readonly decoder: Sequential;
  readonly translator: Sequential;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, lastFeatureMap, 1);
    const shapes = this.featureShapes(this.feats, context);
    const m = shapes.teacher[0]![1]!;
    const cs = shapes.student[0]![1]!;
    const factor = Math.max(1, Math.round(m * this.options.rate));
    this.encoder = this.registerModule('encoder', new Sequential(...conv(m, m), ...conv(m, factor), ...conv(factor, factor)));
    this.decoder = this.registerModule(
      'decoder',
      new Sequential(...deconv(factor, factor), ...deconv(factor, m), ...deconv(m, m)),
    );
    this.translator = this.registerModule(
      'translator',
      new Sequential(...conv(cs, cs), ...conv(cs, factor), ...conv(factor, factor)),
    );
    this.train();
  }

  /** Only the translator trains with the student; the paraphraser is frozen after stage 1. */
  override extraModules(): Module[] {
    return [this.translator];
  }
  override extraParameterCount(): number {
    return this.translator.numParameters() + this.encoder.numParameters() + this.decoder.numParameters();
  }

  /** The paraphraser is fixed once trained: eval mode outside its own stage (whose enter() trains it). */
  override train(mode = true): this {
    super.train(mode);
    this.encoder.eval();
    this.decoder.eval();
    return this;
  }

  override prepStages(): PrepStage[] {
    return [
      {
        name: 'paraphraser',
        epochs: this.options.paraphraserEpochs,
        lr: this.options.paraphraserLr,
        parameters: () => [...this.encoder.parameters(), ...this.decoder.parameters()],
        enter: () => {
          this.eval();
          this.encoder.train();
          this.decoder.train();
        },
        step: (batch) => {
          const fT = noGrad(() => this.feats.teacher.forward(batch.images).feats[0]!);
          return { reconstruction: F.l1Loss(this.decoder.forward(this.encoder.forward(fT)), fT) };
        },
      },
    ];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const factorT = noGrad(() => this.encoder.forward(t.feats[0]!));
    const [factorS, target] = matchSpatial(this.translator.forward(s.feats[0]!), factorT);
    return {
      logits: s.logits,
      losses: {
        ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
        ft: L.ft(factorS, target).mul(this.options.kdWeight),
      },
    };
  }
}
