// CAT-KD (Guo et al. CVPR 2023, class attention transfer, as the authors' GzyAftermath/CAT-KD runs
// it): class activation maps, each network's classifier applied to the map it pools (the authors'
// 1×1 `conv_test`), average-pooled to a small resolution, optionally l2-normalised over space;
// w_ce · CE + w_cat · MSE(CAM_s, CAM_t). The authors' converted student has no classifier bias.
import { z } from 'zod';
import { noGrad, type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Linear } from '../nn/layers.js';
import type { ModelOutput } from '../models/model.js';
import { Distiller, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { classifiersOption, featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { classifierOf } from './util.js';

const options = z
  .object({
    camResolution: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe("CAMs are average-pooled to this size (the authors' CAM_RESOLUTION)"),
    normalize: z.boolean().default(true).describe("l2-normalise each CAM over its positions (the authors' IF_NORMALIZE)"),
    features: featuresOption.describe("the map each network's classifier pools (default: the zoo model's pooledMap)"),
    classifiers: classifiersOption,
    studentClassifierBias: z
      .boolean()
      .default(false)
      .describe("train the student's classifier bias (the authors' converted student has none: zeroed and frozen)"),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(400).describe("the authors' CAT_loss_weight (β; 15 for resnet32x4 → resnet8x4)"),
  })
  .strict();
export type CATKDOptions = z.infer<typeof options>;

export class CATKD extends Distiller {
  static readonly options = options;
  readonly options: CATKDOptions;
  readonly studentClassifier: Linear;
  readonly teacherClassifier: Linear;
  private readonly feats: FeaturePair;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, (o: ModelOutput) => [o.pooledMap], 1);
    this.studentClassifier = classifierOf(student, this.options.classifiers?.student, 'CAT-KD: classifiers.student');
    this.teacherClassifier = classifierOf(teacher, this.options.classifiers?.teacher, 'CAT-KD: classifiers.teacher');
    const bias = this.studentClassifier.bias;
    if (!this.options.studentClassifierBias && bias) {
      noGrad(() => bias.zero_());
      bias.requiresGrad = false;
    }
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const camS = classActivationMaps(s.feats[0]!, this.studentClassifier);
    const camT = noGrad(() => classActivationMaps(t.feats[0]!, this.teacherClassifier));
    const { camResolution, normalize } = this.options;
    return {
      logits: s.logits,
      losses: {
        ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight),
        cat: L.catkd(camS, camT, { resolution: camResolution, normalize }).mul(this.options.kdWeight),
      },
    };
  }
}

/** CAM_k = Σ_c W_kc · map_c: the classifier as a 1×1 convolution without bias (the authors' conv_test). */
export function classActivationMaps(map: Tensor, classifier: Linear): Tensor {
  if (map.shape[1] !== classifier.inFeatures)
    throw new Error(
      `CAT-KD: the classifier takes ${classifier.inFeatures} features but the map has ${map.shape[1]} channels; name the map it pools (features)`,
    );
  const weight = classifier.weight.view(classifier.outFeatures, classifier.inFeatures, 1, 1);
  return F.conv2d(map, weight);
}
