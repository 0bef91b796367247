// Features by module path, torchdistill's convention: forward hooks on named modules collect
// what a method compares. Without paths, a zoo model's feature contract (feats, preactFeats,
// pooled) is the default, so every recipe keeps its numbers.
import { z } from 'zod';
import { Tensor, keep, noGrad, release, tidy, zeros } from '../tensor/index.js';
import type { Module, RemovableHandle } from '../nn/module.js';
import type { ModelOutput, Network } from '../models/model.js';

export type { Network } from '../models/model.js';

/** `method.options.features`: module paths of the student and of the teacher, paired in order. */
export const featuresOption = z
  .object({
    student: z.array(z.string().min(1)).min(1),
    teacher: z.array(z.string().min(1)).min(1),
  })
  .strict()
  .optional()
  .describe(
    "module paths, e.g. {student: [layer2, layer3], teacher: [layer2, layer3]}; 'path:input' takes the module's input, 'path:preact' a zoo stage's pre-activation",
  );
/** Module paths of both networks' classifiers (CAT-KD, SDD): default each network's last Linear module. */
export const classifiersOption = z
  .object({ student: z.string().min(1), teacher: z.string().min(1) })
  .strict()
  .optional()
  .describe('module paths of the two classifiers (default: each network’s last Linear module)');

/** The option of methods that compare one vector per network (RKD, PKT, CC). */
export const pooledFeatureOption = featuresOption.describe(
  'one module per network (default: the pooled vector); its output is flattened',
);
export type FeaturePaths = NonNullable<z.infer<typeof featuresOption>>;

/** `logitStandardization` of the logit methods (LSKD): z-score both networks' logits before the loss. */
export const logitStandardizationOption = z
  .boolean()
  .default(false)
  .describe(
    'z-score student and teacher logits before the temperature (LSKD, Sun et al. 2024); its recipe: T 2 and the distillation weight × 9',
  );

const isModelOutput = (o: unknown): o is ModelOutput =>
  !!o && typeof o === 'object' && (o as ModelOutput).logits instanceof Tensor;

/** The logits of a network's output: the tensor itself, or a zoo model's `logits`. */
export function logitsOf(out: Tensor | ModelOutput): Tensor {
  if (out instanceof Tensor) return out;
  if (isModelOutput(out)) return out.logits;
  throw new Error('a model must return its logits from forward(x) (a tensor), or a zoo ModelOutput');
}

/**
 * `net`'s logits on `x`, its other outputs (feature maps, pre-activations) freed as soon as the
 * logits exist, as PyTorch frees the rest of `net(x)[0]`, not at the end of the step.
 */
export function logitsAlone(net: Network, x: Tensor): Tensor {
  return tidy(() => logitsOf(net.forward(x)));
}

type Io = 'output' | 'input' | 'preact';

/** Parses `layer2.0.bn2`, `fc:input`, `layer3:preact`. */
export function parseFeaturePath(spec: string): { path: string; io: Io } {
  const colon = spec.lastIndexOf(':');
  if (colon < 0) return { path: spec, io: 'output' };
  const io = spec.slice(colon + 1);
  if (io !== 'output' && io !== 'input' && io !== 'preact')
    throw new Error(`feature '${spec}': the part after ':' must be output, input or preact`);
  return { path: spec.slice(0, colon), io };
}

/** Records the chosen output (or input) of named modules while armed. */
class Taps {
  private readonly handles: RemovableHandle[] = [];
  private captured: (Tensor | undefined)[] = [];
  private armed = false;

  constructor(
    model: Module,
    readonly specs: string[],
    role: string,
  ) {
    specs.forEach((spec, i) => {
      const { path, io } = parseFeaturePath(spec);
      let module: Module;
      try {
        module = model.getSubmodule(path);
      } catch (err) {
        throw new Error(`features.${role}: ${(err as Error).message}`);
      }
      this.handles.push(
        module.registerForwardHook((_m, inputs, output) => {
          if (!this.armed) return;
          // Kept: a no-grad forward frees each block's maps when the block returns (models/resnet.ts).
          const previous = this.captured[i];
          if (previous) release(previous);
          this.captured[i] = keep(pick(io === 'input' ? inputs[0] : output, io, `${role} '${spec}'`));
        }),
      );
    });
  }

  run(forward: () => Tensor | ModelOutput): { logits: Tensor; feats: Tensor[] } {
    this.captured = [];
    this.armed = true;
    let out: Tensor | ModelOutput;
    try {
      out = forward();
    } finally {
      this.armed = false;
      // Back to the caller's scope (freed with it, as before).
      for (const f of this.captured) if (f) release(f);
    }
    const feats = this.specs.map((spec, i) => {
      const f = this.captured[i];
      if (!f) throw new Error(`feature '${spec}': the module did not run in forward(); pick a module that forward() calls`);
      return f;
    });
    this.captured = [];
    return { logits: logitsOf(out), feats };
  }

  remove(): void {
    for (const h of this.handles) h.remove();
  }
}

function pick(value: unknown, io: Io, what: string): Tensor {
  if (value instanceof Tensor) {
    if (io === 'preact')
      throw new Error(`feature ${what}: this module's output has no pre-activation; name the module whose output you want`);
    return value;
  }
  // A zoo stage returns { out, preact }.
  const v = value as { out?: unknown; preact?: unknown } | null;
  const t = io === 'preact' ? v?.preact : v?.out;
  if (t instanceof Tensor) return t;
  throw new Error(`feature ${what}: the module's ${io === 'input' ? 'input' : 'output'} is not a tensor`);
}

/** A method's features for one network: from hooks when paths are given, else from the zoo contract. */
export class FeatureSource {
  private readonly taps: Taps | null;

  constructor(
    readonly net: Network,
    paths: string[] | undefined,
    private readonly contract: ((o: ModelOutput) => Tensor[]) | null,
    role: string,
    method: string,
  ) {
    this.taps = paths ? new Taps(net, paths, role) : null;
    if (!paths && !contract)
      throw new Error(`${method}: set method.options.features.${role} to module paths of this model (e.g. ${suggestPaths(net)})`);
  }

  /** Logits and features of one forward. */
  forward(x: Tensor): { logits: Tensor; feats: Tensor[] } {
    if (this.taps) return this.taps.run(() => this.net.forward(x));
    const out = this.net.forward(x);
    if (!isModelOutput(out))
      throw new Error('this model returns only logits; name the feature modules (features.student/teacher)');
    return { logits: out.logits, feats: this.contract!(out) };
  }

  /** Feature shapes for an input of [C, H, W], from one eval-mode forward of zeros. */
  probe(inputShape: [number, number, number]): number[][] {
    return tidy(() =>
      noGrad(() => {
        // Each module's own mode comes back afterwards (a user may keep some in eval mode).
        const modes = [...this.net.modules()].map((m) => [m, m.training] as const);
        this.net.eval();
        try {
          return this.forward(zeros(1, ...inputShape)).feats.map((f) => f.shape);
        } finally {
          for (const [m, training] of modes) m.training = training;
        }
      }),
    );
  }

  remove(): void {
    this.taps?.remove();
  }
}

/** A few module paths of a network, for messages. */
export function suggestPaths(net: Module, count = 6): string {
  const names = [...net.namedChildren()].map(([n]) => n);
  return `[${names.slice(0, count).join(', ')}]`;
}
