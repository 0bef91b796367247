// SimKD (Chen et al. CVPR 2022, knowledge distillation with the reused teacher classifier, as the
// authors' DefangChen/SimKD runs it): a projector maps the student's last feature map to the
// teacher's width; the loss is the MSE to the teacher's last map (the larger map pooled to the
// smaller), and the student predicts through the teacher's own, frozen classifier. What is
// deployed is student + projector + teacher classifier (`deployable()`), not the student alone.
import { z } from 'zod';
import { type Tensor } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import {
  Distiller,
  lastFeatureMap,
  type DistillerContext,
  type FeaturePair,
  type TrainBatch,
  type TrainOutput,
} from './distiller.js';
import { FeatureSource, featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { classifierOf, matchSpatial } from './util.js';

const options = z
  .object({
    factor: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe("the projector's bottleneck: teacher width / factor (the authors' -f)"),
    features: featuresOption.describe("one map per network (default: each network's last feature map, the authors' feat[-2])"),
    teacherClassifier: z
      .string()
      .min(1)
      .optional()
      .describe("module path of the teacher's classifier (default: its last Linear module)"),
    kdWeight: z.number().nonnegative().default(1).describe("weight of the feature MSE (the authors' -b)"),
    ceWeight: z.number().nonnegative().default(0).describe("CE of the reused-classifier prediction (the authors' -c 0)"),
    klWeight: z.number().nonnegative().default(0).describe("KD between that prediction and the teacher's (the authors' -d 0)"),
    T: z.number().positive().default(4),
  })
  .strict();
export type SimKDOptions = z.infer<typeof options>;

/** conv1×1 → BN → ReLU → conv3×3 → BN → ReLU → conv1×1 → BN → ReLU, no conv biases (the authors' `transfer`). */
export class SimKDProjector extends Sequential {
  constructor(studentChannels: number, teacherChannels: number, factor: number) {
    const mid = Math.floor(teacherChannels / factor);
    super(
      new Conv2d(studentChannels, mid, 1, { bias: false }),
      new BatchNorm2d(mid),
      new ReLU(),
      new Conv2d(mid, mid, 3, { padding: 1, bias: false }),
      new BatchNorm2d(mid),
      new ReLU(),
      new Conv2d(mid, teacherChannels, 1, { bias: false }),
      new BatchNorm2d(teacherChannels),
      new ReLU(),
    );
  }
}

/** The network SimKD deploys: the student's last map, projected, pooled, through the teacher's classifier. */
export class SimKDStudent extends Module {
  constructor(
    readonly student: Network,
    readonly projector: SimKDProjector,
    readonly classifier: Linear,
    private readonly source: FeatureSource,
  ) {
    super();
    this.registerModule('student', student);
    this.registerModule('projector', projector);
    this.registerModule('classifier', classifier);
  }
  forward(x: Tensor): Tensor {
    const feature = this.source.forward(x).feats[0]!;
    return this.classifier.forward(F.adaptiveAvgPool2d(this.projector.forward(feature), 1).flatten(1));
  }
}

export class SimKD extends Distiller {
  static readonly options = options;
  static override readonly deploysStudentAlone = false;
  readonly options: SimKDOptions;
  readonly projector: SimKDProjector;
  readonly classifier: Linear;
  private readonly feats: FeaturePair;
  private readonly deployed: SimKDStudent;

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.feats = this.featureSources(this.options.features, lastFeatureMap, 1);
    const shapes = this.featureShapes(this.feats, context);
    const [sC, tC] = [shapes.student[0]![1]!, shapes.teacher[0]![1]!];
    this.classifier = classifierOf(teacher, this.options.teacherClassifier, 'SimKD: teacherClassifier');
    if (this.classifier.inFeatures !== tC)
      throw new Error(
        `SimKD: the teacher's classifier takes ${this.classifier.inFeatures} features but its feature map has ${tC} channels; name the map that feeds the classifier (features.teacher) or the classifier (teacherClassifier)`,
      );
    this.projector = this.registerModule('projector', new SimKDProjector(sC, tC, this.options.factor));
    this.deployed = new SimKDStudent(student, this.projector, this.classifier, this.feats.student);
  }

  override extraModules(): Module[] {
    return [this.projector];
  }

  override deployable(): Module & { forward(x: Tensor): Tensor } {
    return this.deployed;
  }

  override forwardTest(x: Tensor): Tensor {
    return this.deployed.forward(x);
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    // The larger map pooled to the smaller's size, as the authors' spatial alignment.
    const [source, target] = matchSpatial(s.feats[0]!, t.feats[0]!);
    const projected = this.projector.forward(source);
    const logits = this.classifier.forward(F.adaptiveAvgPool2d(projected, 1).flatten(1));
    const losses: Record<string, Tensor> = { mse: F.mseLoss(projected, target.detach()).mul(this.options.kdWeight) };
    if (this.options.ceWeight > 0) losses.ce = this.ce(logits, batch.labels).mul(this.options.ceWeight);
    if (this.options.klWeight > 0) losses.kd = L.kd(logits, t.logits, { T: this.options.T }).mul(this.options.klWeight);
    return { logits, losses };
  }
}
