// DML (Zhang et al. CVPR 2018, deep mutual learning; the authors' YingZhangDUT/Deep-Mutual-Learning,
// train_models.py): a cohort of networks trained together from scratch, no pretrained teacher. Each
// network learns CE + Σ_{j≠i} KL(p_j ‖ p_i) from one forward of all of them on the same batch, its
// gradient reaching only itself (the authors' per-network compute_gradients): the peers' predictions
// are constants in its loss. The student is network 0; its peers are extra modules, evaluated and
// reported beside it each epoch.
import { z } from 'zod';
import type { Tensor } from '../tensor/index.js';
import type { Module } from '../nn/module.js';
import { createModel } from '../models/index.js';
import { inputChannels } from '../models/model.js';
import { Distiller, type DistillerContext, type TrainBatch, type TrainOutput } from './distiller.js';
import { logitsAlone, type Network } from './features.js';
import * as L from './losses.js';

const options = z
  .object({
    peers: z
      .array(z.string().min(1))
      .optional()
      .describe("registered model names of the student's peers (default: one peer of the student's own architecture)"),
    reduction: z
      .enum(['sum', 'mean'])
      .default('sum')
      .describe("Σ over the peers' KL terms (the authors' code) or their mean (the paper's 1/(K−1), for K > 2)"),
  })
  .strict();
export type DMLOptions = z.infer<typeof options>;

export class DML extends Distiller {
  static override readonly needsTeacher = false;
  static readonly options = options;
  readonly options: DMLOptions;
  readonly peers: Network[];

  /** `peers` (the library's way to give networks of your own) replaces options.peers. */
  constructor(
    student: Network,
    _teacher: Network | null,
    opts: z.input<typeof options> = {},
    context: DistillerContext = {},
    peers?: Network[],
  ) {
    super(student, null);
    this.options = options.parse(opts);
    const names = this.options.peers ?? (context.studentModel ? [context.studentModel] : null);
    if (!peers?.length && !names?.length)
      throw new Error("DML: name the student's peers (method.options.peers: a list of model names, e.g. [resnet8])");
    const build = () => {
      const shape = { numClasses: this.studentClasses(context), inChannels: inputChannels(student) };
      return names!.map((name) => createModel(name, shape));
    };
    this.peers = (peers?.length ? peers : build()).map((p, i) => this.registerModule(`peer${i + 1}`, p));
    for (const p of this.peers) p.train();
  }

  override extraModules(): Module[] {
    return this.peers;
  }

  override forwardEvaluation(x: Tensor): { logits: Tensor; others: Record<string, Tensor> } {
    return {
      logits: this.forwardTest(x),
      others: Object.fromEntries(this.peers.map((p, i) => [`peer${i + 1}`, logitsAlone(p, x)])),
    };
  }

  forwardTrain(batch: TrainBatch): TrainOutput {
    const cohort = [this.student, ...this.peers].map((net) => logitsAlone(net, batch.images));
    const scale = this.options.reduction === 'mean' ? 1 / this.peers.length : 1;
    // Network i's loss: its CE and the KL from every other network's (constant) prediction.
    const mutual = (i: number) =>
      cohort
        .filter((_, j) => j !== i)
        .map((other) => L.dmlKL(cohort[i]!, other))
        .reduce((a, b) => a.add(b))
        .mul(scale);
    const sum = (xs: Tensor[]) => xs.reduce((a, b) => a.add(b));
    const peers = cohort.slice(1).map((_, k) => k + 1);
    return {
      logits: cohort[0]!,
      losses: {
        ce: this.ce(cohort[0]!, batch.labels),
        mutual: mutual(0),
        cePeers: sum(peers.map((i) => this.ce(cohort[i]!, batch.labels))),
        mutualPeers: sum(peers.map(mutual)),
      },
    };
  }
}
