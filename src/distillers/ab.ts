// AB (Heo et al. 2019): activation-boundary transfer. Stage 1 trains the student body and
// 1×1 conv+BN connectors with the AB loss alone on the pre-ReLU maps of each stage; the main
// stage is ordinary training (CE, optionally plus KD).
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { ModuleList, type Sequential } from '../nn/layers.js';
import type { Model } from '../models/model.js';
import { Distiller, type PrepStage, type TrainBatch, type TrainOutput } from './distiller.js';
import * as L from './losses.js';
import { connector, poolTo } from './util.js';

export interface ABOptions {
  margin: number;
  /** Overall scale of the AB loss: 3/1000 on CIFAR. */
  abWeight: number;
  initEpochs: number;
  initLr: number;
  ceWeight: number;
  /** Optional KD in the main stage (RepDistiller's alpha). */
  kdWeight: number;
  T: number;
}

export class AB extends Distiller {
  static readonly defaults: ABOptions = {
    margin: 1,
    abWeight: 3 / 1000,
    initEpochs: 30,
    initLr: 0.05,
    ceWeight: 1,
    kdWeight: 0,
    T: 4,
  };
  readonly info = { needsTeacher: true, views: 1 as const };
  readonly connectors: ModuleList<Sequential>;
  /** Layers used: every stage output after the stem. */
  readonly layers: number[];

  constructor(
    student: Model,
    teacher: Model,
    readonly options: ABOptions = AB.defaults,
  ) {
    super(student, teacher);
    const n = Math.min(student.featChannels.length, teacher.featChannels.length);
    this.layers = Array.from({ length: n - 1 }, (_, i) => i + 1);
    this.connectors = this.registerModule(
      'connectors',
      new ModuleList(this.layers.map((i) => connector(student.featChannels[i]!, teacher.featChannels[i]!))),
    );
  }

  /** Connectors only serve stage 1, but are counted as the method's extra parameters. */
  override extraParameterCount(): number {
    return this.connectors.numParameters();
  }

  /** Connector outputs and teacher maps of each layer, at the teacher's resolution. */
  private pairs(batch: TrainBatch): { s: Tensor; t: Tensor }[] {
    const s = this.student.forward(batch.images).preactFeats;
    const t = this.teacherForward(batch.images).preactFeats;
    return this.layers.map((layer, i) => {
      const target = t[layer]!;
      return { s: this.connectors.at(i).forward(poolTo(s[layer]!, target.shape[2]!, target.shape[3]!)), t: target };
    });
  }

  /** Σ_l 2^(l−n+1) · AB_l, scaled by abWeight. */
  abLoss(batch: TrainBatch): Tensor {
    const pairs = this.pairs(batch);
    const n = pairs.length;
    return pairs
      .map(({ s, t }, i) => L.ab(s, t, { margin: this.options.margin }).mul(2 ** (i - n + 1)))
      .reduce((a, b) => a.add(b))
      .mul(this.options.abWeight);
  }

  /** Fraction of neurons whose sign agrees between the connector output and the teacher. */
  activationSimilarity(batch: TrainBatch): number {
    return tidy(() =>
      noGrad(() => {
        let agree = 0;
        let total = 0;
        for (const { s, t } of this.pairs(batch)) {
          agree += s.gt(0).eq(t.gt(0)).sum().item();
          total += s.numel();
        }
        return agree / total;
      }),
    );
  }

  override prepStages(): PrepStage[] {
    return [
      {
        name: 'ab-init',
        epochs: this.options.initEpochs,
        lr: this.options.initLr,
        parameters: () => [...this.student.parameters(), ...this.connectors.parameters()],
        enter: () => this.train(),
        step: (batch) => ({ ab: this.abLoss(batch) }),
        report: (batch) => ({ activationSimilarity: this.activationSimilarity(batch) }),
      },
    ];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const zS = this.student.forward(batch.images).logits;
    const losses: Record<string, Tensor> = { ce: F.crossEntropy(zS, batch.labels).mul(this.options.ceWeight) };
    if (this.options.kdWeight > 0) {
      losses.kd = L.kd(zS, this.teacherForward(batch.images).logits, { T: this.options.T }).mul(this.options.kdWeight);
    }
    return { logits: zS, losses };
  }
}
