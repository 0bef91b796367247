// OFD (Heo et al. 2019, a comprehensive overhaul of feature distillation, as mdistiller runs it):
// the student's pre-ReLU stage maps through 1×1 conv+BN connectors, compared with the teacher's
// pre-ReLU maps by a partial L2 that ignores what the teacher's ReLU would erase, below a margin
// taken from the teacher's BatchNorm; w_ce · CE + w_kd · Σ_l OFD_l / 2^(n−l−1). As the authors
// (clovaai/overhaul-distillation) and mdistiller run it, the teacher stays in train mode.
import { z } from 'zod';
import { noGrad, type Tensor } from '../tensor/index.js';
import { BatchNorm2d, ModuleList, type Sequential } from '../nn/layers.js';
import { Model, type ModelOutput } from '../models/model.js';
import { Distiller, type DistillerContext, type FeaturePair, type TrainBatch, type TrainOutput } from './distiller.js';
import { featuresOption, type Network } from './features.js';
import * as L from './losses.js';
import { connector, poolTo } from './util.js';

const options = z
  .object({
    features: featuresOption.describe(
      "pre-ReLU maps, shallow to deep (default: each zoo stage's pre-activation after the stem, the deepest the shallower network has)",
    ),
    teacherBatchNorms: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe("the teacher's BatchNorm before each feature's ReLU, whose γ and β give the margins (default: the zoo model's)"),
    teacherTrainMode: z
      .boolean()
      .default(true)
      .describe("the teacher's BatchNorm on batch statistics while distilling, as the authors and mdistiller run it"),
    ceWeight: z.number().nonnegative().default(1),
    kdWeight: z.number().nonnegative().default(0.001).describe("mdistiller's FEAT_WEIGHT (the authors' 1/1000 for 32×32 inputs)"),
  })
  .strict();
export type OFDOptions = z.infer<typeof options>;

export class OFD extends Distiller {
  static readonly options = options;
  readonly options: OFDOptions;
  readonly connectors: ModuleList<Sequential>;
  private readonly feats: FeaturePair;
  /** The teacher's BatchNorms the margins come from, one per feature. */
  private readonly norms: BatchNorm2d[];

  constructor(student: Network, teacher: Network, opts: z.input<typeof options> = {}, context: DistillerContext = {}) {
    super(student, teacher);
    this.options = options.parse(opts);
    this.teacherInTrainMode = this.options.teacherTrainMode;
    this.train();
    // mdistiller's _align_list: the deepest stages both networks have.
    const n = Math.min(stageCount(student), stageCount(teacher));
    const deepest = (o: ModelOutput) => o.preactFeats.slice(1).slice(-n);
    this.feats = this.featureSources(this.options.features, deepest);
    const shapes = this.featureShapes(this.feats, context);
    this.connectors = this.registerModule(
      'connectors',
      new ModuleList(shapes.student.map((s, i) => connector(s[1]!, shapes.teacher[i]![1]!))),
    );
    const norms = (this.norms = this.teacherBatchNorms(teacher, shapes.teacher.length));
    norms.forEach((bn, i) => {
      const channels = shapes.teacher[i]![1]!;
      if (bn.weight!.shape[0] !== channels)
        throw new Error(
          `OFD: teacherBatchNorms[${i}] has ${bn.weight!.shape[0]} channels but teacher feature ${i} has ${channels}; name the BatchNorm that feeds that feature's ReLU`,
        );
      // Buffers, so they follow the distiller's device; constant (the teacher's γ and β are frozen).
      this.registerBuffer(
        `margin${i}`,
        noGrad(() => L.ofdMargins(bn.weight!, bn.bias!)),
      );
    });
  }

  /** The BatchNorms that give the margins: named, or the zoo model's, aligned with the features. */
  private teacherBatchNorms(teacher: Network, count: number): BatchNorm2d[] {
    let paths = this.options.teacherBatchNorms;
    if (!paths) {
      const all = teacher instanceof Model ? teacher.batchNormsBeforeRelu() : null;
      if (!all)
        throw new Error(
          `OFD: the teacher (${teacher.constructor.name}) has no known BatchNorm before its ReLUs; set method.options.teacherBatchNorms to their module paths`,
        );
      paths = all.slice(-count);
    }
    if (paths.length !== count)
      throw new Error(`OFD: ${paths.length} teacherBatchNorms for ${count} teacher features; give one per feature`);
    return paths.map((p) => {
      const m = teacher.getSubmodule(p);
      if (!(m instanceof BatchNorm2d) || !m.weight || !m.bias)
        throw new Error(`OFD: teacherBatchNorms '${p}' is a ${m.constructor.name}, not an affine BatchNorm2d`);
      return m;
    });
  }

  /** Recomputes the margins from the teacher's BatchNorms: after loading other teacher weights into this distiller. */
  resetMargins(): void {
    noGrad(() => this.norms.forEach((bn, i) => this.buffer(`margin${i}`)!.copy_(L.ofdMargins(bn.weight!, bn.bias!))));
  }

  /** One margin per teacher channel of each feature. */
  get margins(): Tensor[] {
    return this.connectors.items.map((_, i) => this.buffer(`margin${i}`)!);
  }

  override extraModules(): ModuleList<Sequential>[] {
    return [this.connectors];
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const { s, t } = this.forwardFeatures(this.feats, batch.images);
    const n = s.feats.length;
    let loss: Tensor | null = null;
    s.feats.forEach((f, i) => {
      const connected = this.connectors.at(i).forward(f);
      const target = poolTo(t.feats[i]!, connected.shape[2]!, connected.shape[3]!);
      const term = L.ofd(connected, target, this.buffer(`margin${i}`)!).div(2 ** (n - i - 1));
      loss = loss ? loss.add(term) : term;
    });
    return {
      logits: s.logits,
      losses: { ce: this.ce(s.logits, batch.labels).mul(this.options.ceWeight), ofd: loss!.mul(this.options.kdWeight) },
    };
  }
}

/** Stages after the stem of a zoo model; other networks name their features. */
const stageCount = (net: Network): number => (net instanceof Model ? net.featChannels.length - 1 : 0);
