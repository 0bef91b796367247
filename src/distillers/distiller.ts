// The Distiller base, in the spirit of mdistiller's: a student, a frozen teacher, the method's
// extra modules, and forwardTrain() returning the student's logits and named, weighted losses.
// Student and teacher are any networks whose forward(x) gives logits; feature methods read
// named modules through hooks (features.ts).
import { Tensor, autocast, noGrad, tidy, zeros, type DType } from '../tensor/index.js';
import * as F from '../tensor/functional.js';
import { Module } from '../nn/module.js';
import { foldBatchNorm, setConvAlgorithm, type FoldResult } from '../nn/fold.js';
import type { ConvAlgorithm } from '../nn/layers.js';
import { Model, inputChannels, type ModelOutput } from '../models/model.js';
import { FeatureSource, logitsAlone, logitsOf, type FeaturePaths, type Network } from './features.js';

export interface TrainBatch {
  /** First augmented view [B, C, H, W]. */
  images: Tensor;
  /** All views (DLB uses two). */
  views: Tensor[];
  labels: Tensor;
  /** Dataset indices of the samples. */
  indices: Int32Array;
}

export interface TrainContext {
  /** 0-based epoch of the current stage. */
  epoch: number;
  /** Total epochs of the current stage. */
  epochs: number;
  /** Global optimisation step of the current stage. */
  step: number;
  /**
   * Data-parallel training: every rank's rows of `t` (equal shapes), concatenated in rank order,
   * without gradient. Methods that keep per-sample memories (PS-KD, CRD) update them with the whole
   * global batch, so that every rank holds the same memory. Absent in a single process.
   */
  gather?: (t: Tensor) => Tensor;
}

export interface TrainOutput {
  logits: Tensor;
  /** The labels `logits` answer (training accuracy), when not the batch's: CS-KD predicts its first half. */
  labels?: Tensor;
  losses: Record<string, Tensor>;
  /** Scalars to watch but not optimise (CTKD's learned temperature): averaged per epoch into the record's metrics. */
  monitor?: Record<string, Tensor>;
}

/** What a method may need to know of the data when it builds its modules. */
export interface DistillerContext {
  /** [C, H, W] of one input image (feature shapes are probed with it); default [C of the stem, 32, 32]. */
  inputShape?: [number, number, number];
  /**
   * Labels of the training set in dataset-index order (`TrainBatch.indices` index it): CRD keeps a
   * memory row per sample and draws its negatives from the other classes.
   */
  trainLabels?: Int32Array;
  /** The run's seed: methods that sample (CRD's negatives) derive their streams from it, epoch and step. */
  seed?: number;
  /** The registered model name of the student (DML's peers default to its architecture). */
  studentModel?: string;
}

/** A preparation stage that runs before ordinary training (FT's paraphraser, AB's initialisation). */
export interface PrepStage {
  name: string;
  /** Default epochs and learning rate (configurable). */
  epochs: number;
  lr: number;
  /** What this stage trains. */
  parameters(): Tensor[];
  /** Puts the modules of this stage in train mode and the rest in eval mode. */
  enter(): void;
  /** The stage's losses on one batch. */
  step(batch: TrainBatch, ctx: TrainContext): Record<string, Tensor>;
  /** Numbers to report after the stage (e.g. AB's activation similarity), computed on a batch. */
  report?(batch: TrainBatch): Record<string, number>;
}

/** Student and teacher feature sources of a feature method. */
export interface FeaturePair {
  student: FeatureSource;
  teacher: FeatureSource;
}

/** The zoo contract's last feature map (SP, ICKD and FT's default). */
export const lastFeatureMap = (o: ModelOutput): Tensor[] => [o.feats.at(-1)!];

/** The zoo contract's default features of a method, for student and teacher. */
export interface FeatureDefaults {
  student: (o: ModelOutput) => Tensor[];
  teacher: (o: ModelOutput) => Tensor[];
}

export abstract class Distiller extends Module {
  /** Whether the method distils from a teacher (false: the baseline, self-distillation). */
  static readonly needsTeacher: boolean = true;
  /** Augmented views per sample the loader renders (DLB uses two). */
  static readonly views: 1 | 2 = 1;
  /**
   * Whether the second view is a strong augmentation of the first (MLKD: dataset.strongAugment,
   * default the first view's plus RandAugment).
   */
  static readonly strongView: boolean = false;
  /** Whether each batch is followed by a same-class partner per sample (CS-KD's pair sampler). */
  static readonly classPairs: boolean = false;
  /**
   * Whether the trained student alone is what is deployed and evaluated (false: SimKD, whose
   * prediction goes through its projector and the teacher's classifier; see deployable()).
   */
  static readonly deploysStudentAlone: boolean = true;
  /** Whether student and teacher features are compared channel by channel (their widths must agree). */
  static readonly equalWidths: boolean = false;

  readonly student: Network;
  readonly teacher: Network | null;
  needsTeacher: boolean;
  views: 1 | 2;
  classPairs: boolean;
  /** Label smoothing of the cross-entropy term (solver.labelSmoothing). */
  labelSmoothing = 0;
  /**
   * Whether the teacher runs in train mode while the method trains (BatchNorm on batch
   * statistics, as OFD's authors run it); its weights stay frozen either way.
   */
  teacherInTrainMode = false;
  /**
   * Whether the frozen teacher's BatchNorms are folded into its convolutions on its first forward
   * (nn.foldBatchNorm: the same outputs up to rounding, one pass less over every map). Config:
   * `teacher.foldBatchNorm`.
   */
  foldTeacherBatchNorm = true;
  /**
   * The frozen teacher's arithmetic: 'float32' (as the input: the default) or reduced precision
   * under autocast ('bfloat16', 'float16' on CUDA), its logits and features handed back in the
   * input's dtype. Opt-in; its effect on the loss is measured in bench/steps.ts. Config:
   * `teacher.precision`.
   */
  teacherPrecision: 'float32' | 'bfloat16' | 'float16' = 'float32';
  /**
   * How the frozen teacher's 3x3 convolutions run (nn.Conv2d's algorithm): 'auto' (the
   * default) gives those with 32+ input and output channels oneDNN's Winograd kernels in float32 on the CPU,
   * ~1e-5 relative from the direct ones (what cudnn.benchmark's algorithm choice does on a GPU);
   * 'direct' keeps libtorch's; 'winograd' uses Winograd wherever oneDNN has a kernel. Config:
   * `teacher.convAlgorithm`.
   */
  teacherConvAlgorithm: ConvAlgorithm = 'auto';
  private appliedConvAlgorithm: ConvAlgorithm | null = null;
  /** What folding did (null until the teacher's first forward). */
  teacherFold: FoldResult | null = null;
  private readonly sources: FeatureSource[] = [];

  constructor(student: Network, teacher: Network | null) {
    super();
    const cls = new.target as unknown as typeof Distiller;
    this.needsTeacher = cls.needsTeacher;
    this.views = cls.views;
    this.classPairs = cls.classPairs;
    if (this.needsTeacher && !teacher) throw new Error(`${cls.name} needs a teacher model`);
    this.student = this.registerModule('student', student);
    this.teacher = this.registerModule('teacher', teacher);
    if (teacher) {
      for (const p of teacher.parameters()) p.requiresGrad = false;
      teacher.eval();
    }
    student.train();
  }

  /** Train mode for everything but the teacher, which stays in eval mode unless the method says otherwise. */
  override train(mode = true): this {
    super.train(mode);
    this.teacher?.train(mode && this.teacherInTrainMode);
    return this;
  }

  abstract forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput;

  forwardTest(x: Tensor): Tensor {
    return this.studentLogits(x);
  }

  /**
   * What evaluation measures in one pass: the deployed network's logits, and those of the other
   * classifiers the method trains (BYOT's heads, DML's peers) by name, reported beside it.
   */
  forwardEvaluation(x: Tensor): { logits: Tensor; others: Record<string, Tensor> } {
    return { logits: this.forwardTest(x), others: {} };
  }

  /** The network to evaluate, save as student.pt and export: the student, unless the method says otherwise. */
  deployable(): Network {
    return this.student;
  }

  /** Cross entropy with the run's label smoothing: the CE term of every method. */
  protected ce(logits: Tensor, labels: Tensor): Tensor {
    return F.crossEntropy(logits, labels, this.labelSmoothing ? { labelSmoothing: this.labelSmoothing } : {});
  }

  /** Modules the method adds (connectors, regressors, paraphraser, translator). */
  extraModules(): Module[] {
    return [];
  }

  /** What the main stage optimises: the student and the extras. */
  learnableParameters(): Tensor[] {
    return [...this.student.parameters(), ...this.extraModules().flatMap((m) => m.parameters())];
  }

  /** Parameters the method adds beyond the student (the number mdistiller logs). */
  extraParameterCount(): number {
    return this.extraModules().reduce((n, m) => n + m.numParameters(), 0);
  }

  prepStages(): PrepStage[] {
    return [];
  }

  /** The student's logits, its other outputs freed at once (logitsAlone). */
  protected studentLogits(x: Tensor): Tensor {
    return logitsAlone(this.student, x);
  }

  /**
   * The frozen teacher's logits. Its intermediate maps are released as soon as the logits exist
   * (a scope of their own), not at the end of the step: they are most of a step's memory.
   */
  protected teacherLogits(x: Tensor): Tensor {
    const teacher = this.prepareTeacher(x);
    return this.runTeacher(x, () => logitsAlone(teacher, x));
  }

  /** Runs `forward` (the teacher on x) without gradient, in teacherPrecision; its tensors come back in x's dtype. */
  protected runTeacher<T>(x: Tensor, forward: () => T): T {
    if (this.teacherPrecision === 'float32') return noGrad(forward);
    const device = x.device.startsWith('cuda') ? 'cuda' : 'cpu';
    if (device === 'cpu' && this.teacherPrecision === 'float16')
      throw new Error('teacherPrecision float16 needs a CUDA device; on the CPU use bfloat16');
    return noGrad(() => castTensors(autocast(device, this.teacherPrecision as 'bfloat16', forward), x.dtype));
  }

  /** The teacher, its BatchNorms folded before its first forward in eval mode (foldTeacherBatchNorm). */
  protected prepareTeacher(x: Tensor): Network {
    const teacher = this.requireTeacher();
    if (!this.teacherFold && this.foldTeacherBatchNorm && !teacher.training) {
      this.teacherFold = foldBatchNorm(teacher, x.narrow(0, 0, Math.min(2, x.shape[0]!)));
    }
    if (this.appliedConvAlgorithm !== this.teacherConvAlgorithm) {
      setConvAlgorithm(teacher, this.teacherConvAlgorithm);
      this.appliedConvAlgorithm = this.teacherConvAlgorithm;
    }
    return teacher;
  }

  /**
   * The method's feature sources: named modules when `paths` are given (as many on each side,
   * `count` of them when the method takes a fixed number), else the zoo contract's `defaults`
   * (a model outside the zoo must then name its modules).
   */
  protected featureSources(
    paths: FeaturePaths | undefined,
    defaults: FeatureDefaults | ((o: ModelOutput) => Tensor[]),
    count?: number,
  ): FeaturePair {
    const contract = typeof defaults === 'function' ? { student: defaults, teacher: defaults } : defaults;
    const teacher = this.requireTeacher();
    const name = this.constructor.name;
    if (paths) {
      const [s, t] = [paths.student.length, paths.teacher.length];
      if (count !== undefined && (s !== count || t !== count))
        throw new Error(`${name}: takes ${count} feature per network, got ${s} (student) and ${t} (teacher)`);
      if (s !== t) throw new Error(`${name}: the student gives ${s} features and the teacher ${t}; they are compared pairwise`);
    }
    const source = (net: Network, role: 'student' | 'teacher') =>
      new FeatureSource(net, paths?.[role], net instanceof Model ? contract[role] : null, role, name);
    const pair = { student: source(this.student, 'student'), teacher: source(teacher, 'teacher') };
    this.sources.push(pair.student, pair.teacher);
    return pair;
  }

  /** The student's features alone (self-distillation): named modules, else the zoo contract's. */
  protected studentFeatureSource(paths: string[] | undefined, contract: (o: ModelOutput) => Tensor[]): FeatureSource {
    const source = new FeatureSource(
      this.student,
      paths,
      this.student instanceof Model ? contract : null,
      'student',
      this.constructor.name,
    );
    this.sources.push(source);
    return source;
  }

  /** One vector per network: the pooled vector of a zoo model, or the named module's output. */
  protected pooledSources(paths: FeaturePaths | undefined): FeaturePair {
    return this.featureSources(paths, (o) => [o.pooled], 1);
  }

  /** Student features (with gradients) and teacher features (without), one forward each. */
  protected forwardFeatures(
    pair: FeaturePair,
    x: Tensor,
  ): { s: { logits: Tensor; feats: Tensor[] }; t: { logits: Tensor; feats: Tensor[] } } {
    // A frozen teacher runs first, so that its transient maps are freed before the student's
    // activations exist (the step's peak memory); one in train mode (OFD) keeps the reference's
    // order, since its dropout would draw from the random stream.
    const teacherFirst = !this.teacherInTrainMode;
    this.prepareTeacher(x);
    // In a scope of its own: the teacher's maps that are not the chosen features go at once.
    const teacher = () => this.runTeacher(x, () => tidy(() => pair.teacher.forward(x)));
    const t0 = teacherFirst ? teacher() : null;
    const s = pair.student.forward(x);
    const t = t0 ?? teacher();
    return { s, t };
  }

  /** Shapes of the student's and teacher's features for one input (extra modules size themselves from these). */
  protected featureShapes(pair: FeaturePair, context: DistillerContext): { student: number[][]; teacher: number[][] } {
    const shape = (net: Network) => context.inputShape ?? ([inputChannels(net), 32, 32] as [number, number, number]);
    return { student: pair.student.probe(shape(this.student)), teacher: pair.teacher.probe(shape(this.requireTeacher())) };
  }

  /** For methods that compare features channel by channel: the widths of each pair must agree. */
  protected checkEqualWidths(shapes: { student: number[][]; teacher: number[][] }, dim = 1, what = 'channels'): void {
    const n = Math.min(shapes.student.length, shapes.teacher.length);
    for (let i = 0; i < n; i++) {
      const [s, t] = [shapes.student[i]![dim], shapes.teacher[i]![dim]];
      if (s !== t)
        throw new Error(
          `${this.constructor.name} compares student and teacher features ${what === 'channels' ? 'channel by channel' : `by ${what}`}: feature ${i} has ${s} (student) and ${t} (teacher) ${what}; name features of equal width (method.options.features) or pick another method`,
        );
    }
  }

  /** The number of classes the student predicts, from one eval-mode forward of zeros. */
  protected studentClasses(context: DistillerContext): number {
    const shape = context.inputShape ?? ([inputChannels(this.student), 32, 32] as [number, number, number]);
    const wasTraining = this.student.training;
    this.student.eval();
    try {
      return tidy(() => noGrad(() => logitsOf(this.student.forward(zeros([1, ...shape]))).shape[1]!));
    } finally {
      this.student.train(wasTraining);
    }
  }

  protected requireTeacher(): Network {
    if (!this.teacher) throw new Error(`${this.constructor.name}: this method needs a teacher`);
    return this.teacher;
  }

  /** Removes the feature hooks, then releases every parameter and buffer. */
  override dispose(): void {
    for (const s of this.sources) s.remove();
    super.dispose();
  }
}

/** `value` with every floating tensor in it (arrays and plain objects walked) cast to `dtype`. */
function castTensors<T>(value: T, dtype: DType): T {
  if (value instanceof Tensor) {
    if (value.dtype === dtype || (!value.dtype.startsWith('float') && value.dtype !== 'bfloat16')) return value;
    const cast = value.to(dtype);
    value.dispose();
    return cast as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => castTensors(v, dtype)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, castTensors(v, dtype)])) as T;
  return value;
}
