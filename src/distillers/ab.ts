// AB (Heo et al. 2019): activation-boundary transfer. Stage 1 trains the student body and
// 1×1 conv+BN connectors with the AB loss alone on the pre-ReLU maps of each stage; the main
// stage is ordinary training (CE, optionally plus KD). `variant: repdistiller` uses RepDistiller's
// connectors instead: identity where the shapes agree, else its ConvReg without ReLU.
import { z } from 'zod';
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import { Identity, ModuleList, type Sequential } from '../nn/layers.js';
import { Model, type ModelOutput } from '../models/model.js';
import {
  Distiller,
  type DistillerContext,
  type FeaturePair,
  type PrepStage,
  type TrainBatch,
  type TrainOutput,
} from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { connector, convRegressor, poolTo } from './util.js';

const options = z
  .object({
    variant: z
      .enum(['authors', 'repdistiller'])
      .default('authors')
      .describe(
        "authors: 1×1 conv+BN connectors on maps pooled to the teacher's size (bhheo/AB_distillation); repdistiller: identity where shapes agree, else conv+BN (RepDistiller's Connector)",
      ),
    margin: z.number().nonnegative().default(1),
    abWeight: z
      .number()
      .nonnegative()
      .default(3 / 1000)
      .describe('overall scale of the AB loss (3/1000 on CIFAR)'),
    features: featuresOption.describe(
      "pre-ReLU maps, shallow to deep (default: each zoo stage's pre-activation); e.g. ['layer1:preact', 'layer2.1.bn2']",
    ),
    initEpochs: z.number().int().nonnegative().default(30),
    initLr: z.number().positive().default(0.05),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(0).describe("optional KD in the main stage (RepDistiller's alpha)"),
    T: z.number().positive().default(4),
  })
  .strict();
export type ABOptions = z.infer<typeof options>;

export class AB extends Distiller {
  static readonly options = options;
  readonly options: ABOptions;
  readonly connectors: ModuleList<Sequential | Identity>;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    // The zoo contract: every stage after the stem, up to the shallower network's count.
    const n = Math.min(stageCount(student), stageCount(teacher));
    const stages = (o: ModelOutput) => o.preactFeats.slice(1, n);
    this.feats = this.featureSources(this.options.features, stages);
    const shapes = this.featureShapes(this.feats, context);
    const make = (s: number[], t: number[]): Sequential | Identity => {
      if (this.options.variant === 'authors') return connector(s[1]!, t[1]!);
      return s[1] === t[1] && s[2] === t[2] ? new Identity() : convRegressor(s, t, { relu: false, method: 'AB' });
    };
    this.connectors = this.registerModule(
      'connectors',
      new ModuleList(shapes.student.map((s, i) => make(s, shapes.teacher[i]!))),
    );
  }

  /** Connectors only serve stage 1, but are counted as the method's extra parameters. */
  override extraParameterCount(): number {
    return this.connectors.numParameters();
  }

  /** Connector outputs and teacher maps of each layer, at the teacher's resolution. */
  private pairs(batch: TrainBatch): { s: Tensor; t: Tensor }[] {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    // The authors pool the student's map to the teacher's size; RepDistiller's regressors resize.
    const resize = (f: Tensor, target: Tensor) =>
      this.options.variant === 'authors' ? poolTo(f, target.shape[2]!, target.shape[3]!) : f;
    return t.feats.map((target, i) => ({ s: this.connectors.at(i).forward(resize(s.feats[i]!, target)), t: target }));
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
    const zS = this.studentLogits(batch.images);
    const losses: Record<string, Tensor> = { ce: this.ce(zS, batch.labels).mul(this.options.ceWeight) };
    if (this.options.kdWeight > 0) {
      losses.kd = L.kd(zS, this.teacherLogits(batch.images), { T: this.options.T }).mul(this.options.kdWeight);
    }
    return { logits: zS, losses };
  }
}

/** Entries of a zoo model's feats (stem + stages); other networks name their features. */
const stageCount = (net: Network): number => (net instanceof Model ? net.featChannels.length : 0);
