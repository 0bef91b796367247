// FT (Kim et al. 2018), two stages. 1: a paraphraser learns to reconstruct the teacher's last
// map (L1) through a bottleneck of rate k. 2: a translator maps the student's map to the
// factor space; loss w_ce · CE + β · mean |FT(Tr(f_s)) − FT(enc(f_t))|. `variant: repdistiller`
// is RepDistiller's FT: MSE reconstruction, a translator with BatchNorm, the factor taken as
// normalize(mean_c f²), β = 200, paraphraser 30 epochs at lr 0.01.
import { z } from 'zod';
import { noGrad } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, ConvTranspose2d, Conv2d, LeakyReLU, Sequential } from '../nn/layers.js';
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
    variant: z
      .enum(['authors', 'repdistiller'])
      .default('authors')
      .describe("authors: Jangho-Kim/Factor-Transfer-pytorch; repdistiller: RepDistiller's FT (its CIFAR-100 table)"),
    rate: z.number().positive().default(0.5).describe('paraphrase rate k'),
    features: featuresOption,
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().optional().describe('beta (default 500; 200 with variant repdistiller)'),
    paraphraserEpochs: z.number().int().nonnegative().optional().describe('default 5; 30 with variant repdistiller'),
    paraphraserLr: z.number().positive().optional().describe('default 0.1; 0.01 with variant repdistiller'),
  })
  .strict();

/** Each variant's recipe where the option is not set. */
const recipes = {
  authors: { kdWeight: 500, paraphraserEpochs: 5, paraphraserLr: 0.1 },
  repdistiller: { kdWeight: 200, paraphraserEpochs: 30, paraphraserLr: 0.01 },
};
export type FTOptions = z.infer<typeof options>;

const conv = (i: number, o: number, bn = false) =>
  bn
    ? [new Conv2d(i, o, 3, { padding: 1 }), new BatchNorm2d(o), new LeakyReLU(0.1)]
    : [new Conv2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];
const deconv = (i: number, o: number) => [new ConvTranspose2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];

export class FT extends Distiller {
  static readonly options = options;
  readonly options: FTOptions;
  /** kdWeight, paraphraserEpochs and paraphraserLr: as set, else the variant's recipe. */
  readonly recipe: { kdWeight: number; paraphraserEpochs: number; paraphraserLr: number };
  readonly encoder: Sequential;
  readonly decoder: Sequential;
  readonly translator: Sequential;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    const { variant } = this.options;
    const base = recipes[variant];
    this.recipe = {
      kdWeight: this.options.kdWeight ?? base.kdWeight,
      paraphraserEpochs: this.options.paraphraserEpochs ?? base.paraphraserEpochs,
      paraphraserLr: this.options.paraphraserLr ?? base.paraphraserLr,
    };
    this.feats = this.featureSources(this.options.features, lastFeatureMap, 1);
    const shapes = this.featureShapes(this.feats, context);
    const m = shapes.teacher[0]![1]!;
    const cs = shapes.student[0]![1]!;
    // RepDistiller takes int(C·k); the authors' code rounds.
    const factor = Math.max(
      1,
      variant === 'repdistiller' ? Math.trunc(m * this.options.rate) : Math.round(m * this.options.rate),
    );
    const bn = variant === 'repdistiller'; // RepDistiller's Translator has BatchNorm, its Paraphraser none
    this.encoder = this.registerModule('encoder', new Sequential(...conv(m, m), ...conv(m, factor), ...conv(factor, factor)));
    this.decoder = this.registerModule(
      'decoder',
      new Sequential(...deconv(factor, factor), ...deconv(factor, m), ...deconv(m, m)),
    );
    this.translator = this.registerModule(
      'translator',
      new Sequential(...conv(cs, cs, bn), ...conv(cs, factor, bn), ...conv(factor, factor, bn)),
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
        epochs: this.recipe.paraphraserEpochs,
        lr: this.recipe.paraphraserLr,
        parameters: () => [...this.encoder.parameters(), ...this.decoder.parameters()],
        enter: () => {
          this.eval();
          this.encoder.train();
          this.decoder.train();
        },
        step: (batch) => {
          this.prepareTeacher(batch.images);
          const fT = this.runTeacher(batch.images, () => this.feats.teacher.forward(batch.images).feats[0]!);
          const reconstructed = this.decoder.forward(this.encoder.forward(fT));
          const loss = this.options.variant === 'repdistiller' ? F.mseLoss(reconstructed, fT) : F.l1Loss(reconstructed, fT);
          return { reconstruction: loss };
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
        ft: L.ft(factorS, target, { factor: this.options.variant === 'repdistiller' ? 'attention' : 'flatten' }).mul(
          this.recipe.kdWeight,
        ),
      },
    };
  }
}
