// The Distiller base, in the spirit of mdistiller's: a student, a frozen teacher, the method's
// extra modules, and forwardTrain() returning the student's logits and named, weighted losses.
import { Tensor, noGrad, tidy, zeros } from '../tensor/index.js';
import { Module } from '../nn/module.js';
import type { Model, ModelOutput } from '../models/model.js';

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
}

export interface TrainOutput {
  logits: Tensor;
  losses: Record<string, Tensor>;
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

export interface DistillerInfo {
  /** False for self-distillation (DLB) and the baseline. */
  needsTeacher: boolean;
  /** Number of augmented views per sample the loader must render. */
  views: 1 | 2;
}

export abstract class Distiller extends Module {
  readonly student: Model;
  readonly teacher: Model | null;
  abstract readonly info: DistillerInfo;

  constructor(student: Model, teacher: Model | null) {
    super();
    this.student = this.registerModule('student', student);
    this.teacher = this.registerModule('teacher', teacher);
    if (teacher) for (const p of teacher.parameters()) p.requiresGrad = false;
    this.train();
  }

  /** Train mode for everything but the teacher, which stays in eval mode. */
  override train(mode = true): this {
    super.train(mode);
    this.teacher?.eval();
    return this;
  }

  abstract forwardTrain(batch: TrainBatch, ctx: TrainContext): TrainOutput;

  forwardTest(x: Tensor): Tensor {
    return this.student.forward(x).logits;
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

  /** State carried from step to step that a checkpoint must hold (DLB's previous batch). */
  carriedState(): Record<string, Tensor> | null {
    return null;
  }
  loadCarriedState(_state: Record<string, unknown> | null): void {}

  /**
   * Shapes of the student's and teacher's feature maps for an input of `size` (methods whose
   * extra modules depend on spatial sizes, like FitNet's regressor, build them from these).
   */
  protected featureShapes(size: [number, number]): { student: number[][]; teacher: number[][] } {
    const probe = (m: Model) =>
      tidy(() =>
        noGrad(() => {
          const wasTraining = m.training;
          m.eval();
          const out = m.forward(zeros(1, m.inChannels, size[0], size[1])).feats.map((f) => f.shape);
          m.train(wasTraining);
          return out;
        }),
      );
    return { student: probe(this.student), teacher: this.teacher ? probe(this.teacher) : [] };
  }

  protected teacherForward(x: Tensor): ModelOutput {
    if (!this.teacher) throw new Error(`${this.constructor.name}: this method needs a teacher`);
    const teacher = this.teacher;
    return noGrad(() => teacher.forward(x));
  }
}
