// FT (Kim et al. 2018), two stages. 1: a paraphraser learns to reconstruct the teacher's last
// map (L1) through a bottleneck of rate k. 2: a translator maps the student's map to the
// factor space; loss w_ce · CE + β · mean |FT(Tr(f_s)) − FT(enc(f_t))|.
import { noGrad } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { ConvTranspose2d, Conv2d, LeakyReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { Model } from '../models/model.js';
import { Distiller, type PrepStage, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';
import { matchSpatial } from './util.js';

export interface FTOptions {
  rate: number;
  ceWeight: number;
  kdWeight: number;
  paraphraserEpochs: number;
  paraphraserLr: number;
}

const conv = (i: number, o: number) => [new Conv2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];
const deconv = (i: number, o: number) => [new ConvTranspose2d(i, o, 3, { padding: 1 }), new LeakyReLU(0.1)];

export class FT extends Distiller {
  static readonly defaults: FTOptions = { rate: 0.5, ceWeight: 1, kdWeight: 500, paraphraserEpochs: 5, paraphraserLr: 0.1 };
  readonly info = { needsTeacher: true, views: 1 as const };
  readonly encoder: Sequential;
  readonly decoder: Sequential;
  readonly translator: Sequential;

  constructor(
    student: Model,
    teacher: Model,
    readonly options: FTOptions = FT.defaults,
  ) {
    super(student, teacher);
    const m = teacher.featChannels.at(-1)!;
    const factor = Math.max(1, Math.round(m * options.rate));
    const cs = student.featChannels.at(-1)!;
    this.encoder = this.registerModule('encoder', new Sequential(...conv(m, m), ...conv(m, factor), ...conv(factor, factor)));
    this.decoder = this.registerModule(
      'decoder',
      new Sequential(...deconv(factor, factor), ...deconv(factor, m), ...deconv(m, m)),
    );
    this.translator = this.registerModule(
      'translator',
      new Sequential(...conv(cs, cs), ...conv(cs, factor), ...conv(factor, factor)),
    );
  }

  /** Only the translator trains with the student; the paraphraser is frozen after stage 1. */
  override extraModules(): Module[] {
    return [this.translator];
  }
  override extraParameterCount(): number {
    return this.translator.numParameters() + this.encoder.numParameters() + this.decoder.numParameters();
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
          const fT = this.teacherForward(batch.images).feats.at(-1)!;
          return { reconstruction: F.l1Loss(this.decoder.forward(this.encoder.forward(fT)), fT) };
        },
      },
    ];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const s = this.student.forward(batch.images);
    const fT = this.teacherForward(batch.images).feats.at(-1)!;
    const factorT = noGrad(() => this.encoder.forward(fT));
    const [factorS, target] = matchSpatial(this.translator.forward(s.feats.at(-1)!), factorT);
    return {
      logits: s.logits,
      losses: {
        ce: F.crossEntropy(s.logits, batch.labels).mul(this.options.ceWeight),
        ft: L.ft(factorS, target).mul(this.options.kdWeight),
      },
    };
  }

  override train(mode = true): this {
    super.train(mode);
    // The paraphraser is fixed once trained: keep it in eval mode outside its own stage.
    this.encoder?.eval();
    this.decoder?.eval();
    return this;
  }
}
