// BatchNorm folding for a frozen network (torch.nn.utils.fusion.fuse_conv_bn_eval, found by a
// trace instead of torch.fx): an eval-mode BatchNorm that reads a convolution's output directly is
// an affine map per channel, so it folds into that convolution's weight and bias and the network
// skips one pass over every feature map. The parameters and state dict stay as they are; the folded
// weights live beside them and are recomputed when a parameter or running statistic changes.
import { Tensor, keep, noGrad, tensorsIn, tidy } from '../tensor/index.js';
import { BatchNorm2d, Conv2d, type ConvAlgorithm } from './layers.js';
import type { Module } from './module.js';

type Forwardable = Module & { forward(x: Tensor): unknown };

export interface FoldResult {
  /** Convolution / BatchNorm pairs folded (module paths). */
  folded: [string, string][];
  /** Why BatchNorms were left as they are (a BatchNorm not fed by a convolution is not listed). */
  skipped: string[];
}

/**
 * Folds every eval-mode BatchNorm2d that reads a Conv2d's output into that convolution. The pairs
 * are found by running `probe` through `module` once; the module's outputs with and without
 * folding are then compared (every tensor in the output, relative to its largest value: 1e-4 in
 * float32, 1e-9 in float64) and folding is undone if they differ, so a network that uses a
 * convolution's output elsewhere as well is left unfolded. Folding applies while both modules are
 * in eval mode and their parameters are frozen (requiresGrad false); train mode uses the
 * BatchNorm as written. A pair with a hook on either module (a feature tap) is left alone.
 */
export function foldBatchNorm(module: Forwardable, probe: Tensor): FoldResult {
  const names = new Map<Module, string>();
  for (const [name, m] of module.namedModules()) names.set(m, name || '(root)');
  const result: FoldResult = { folded: [], skipped: [] };
  const pairs = tracePairs(module, probe, result.skipped, names);
  if (!pairs.length) return result;
  const reference = noGrad(() => tidy(() => flatTensors(module.forward(probe)).map((t) => keep(t))));
  try {
    for (const [conv, bn] of pairs) conv.foldBatchNorm(bn);
    let kept = pairs;
    if (differs(module, probe, reference)) {
      // Some output (not seen by the hooks) reads a convolution's output directly: try each pair alone.
      for (const [conv] of pairs) conv.foldBatchNorm(null);
      kept = pairs.filter(([conv, bn]) => {
        conv.foldBatchNorm(bn);
        const why = differs(module, probe, reference);
        if (why) {
          conv.foldBatchNorm(null);
          result.skipped.push(
            `${names.get(bn)}: folding it changes the network's output (${why}); its convolution's output is used elsewhere`,
          );
        }
        return !why;
      });
    }
    result.folded = kept.map(([c, b]) => [names.get(c)!, names.get(b)!]);
  } finally {
    for (const t of reference) t.dispose();
  }
  return result;
}

/** Why the module's outputs on `probe` are not `reference` (relative to each output's largest value), or null. */
function differs(module: Forwardable, probe: Tensor, reference: Tensor[]): string | null {
  return noGrad(() =>
    tidy(() => {
      const after = flatTensors(module.forward(probe));
      const tolerance = probe.dtype === 'float64' ? 1e-9 : 1e-4;
      if (after.length !== reference.length) return 'the outputs changed in number';
      for (let i = 0; i < after.length; i++) {
        const [a, b] = [reference[i]!, after[i]!];
        if (a.shape.join() !== b.shape.join() || !a.dtype.startsWith('float')) continue;
        const scale = Math.max(a.abs().max().item() as number, 1e-12);
        const error = (a.sub(b).abs().max().item() as number) / scale;
        if (!(error <= tolerance)) return `output ${i} differs by ${error.toExponential(1)} relative`;
      }
      return null;
    }),
  );
}

/** Undoes foldBatchNorm on every convolution of `module`. */
export function unfoldBatchNorm(module: Module): void {
  for (const [, m] of module.namedModules()) if (m instanceof Conv2d) m.foldBatchNorm(null);
}

function tracePairs(module: Forwardable, probe: Tensor, skipped: string[], names: Map<Module, string>): [Conv2d, BatchNorm2d][] {
  const producer = new Map<Tensor, Conv2d>();
  const found = new Map<BatchNorm2d, Conv2d | null>();
  const convUses = new Map<Conv2d, number>();
  const hooked = new Set([...module.modules()].filter((m) => m.hasForwardHooks()));
  // Every module that reads a tensor (by identity): a convolution output read by more than its BatchNorm stays.
  const readers = new Map<Tensor, Set<Module>>();
  const handles = [];
  for (const [, m] of module.namedModules()) {
    // Leaves only: a container passing the map on to its BatchNorm is not a second reader.
    if ([...m.modules()].length === 1)
      handles.push(
        m.registerForwardPreHook((reader, inputs) => {
          for (const t of flatTensors(inputs)) {
            if (!producer.has(t)) continue;
            if (!readers.has(t)) readers.set(t, new Set());
            readers.get(t)!.add(reader);
          }
        }),
      );
    if (m instanceof Conv2d)
      handles.push(
        m.registerForwardHook((conv, _inputs, output) => {
          convUses.set(conv, (convUses.get(conv) ?? 0) + 1);
          if (output instanceof Tensor) producer.set(output, conv);
        }),
      );
    else if (m instanceof BatchNorm2d)
      handles.push(
        m.registerForwardPreHook((bn, inputs) => {
          const conv = inputs[0] instanceof Tensor ? producer.get(inputs[0]) : undefined;
          const seen = found.get(bn);
          found.set(bn, seen === undefined || seen === conv ? (conv ?? null) : null);
        }),
      );
  }
  const returned = new Set<Tensor>();
  try {
    noGrad(() => tidy(() => flatTensors(module.forward(probe)).forEach((t) => returned.add(t))));
  } finally {
    for (const h of handles) h.remove();
  }
  const pairs: [Conv2d, BatchNorm2d][] = [];
  const taken = new Set<Conv2d>();
  for (const [bn, conv] of found) {
    const why = !conv
      ? null
      : conv.training || bn.training
        ? 'in train mode'
        : [conv.weight, conv.bias, bn.weight, bn.bias].some((p) => p?.requiresGrad)
          ? 'trainable'
          : !bn.runningMean || !bn.runningVar
            ? 'no running statistics'
            : convUses.get(conv)! > 1 || taken.has(conv)
              ? 'its convolution is called more than once'
              : hooked.has(conv) || hooked.has(bn)
                ? 'a hook reads it or its convolution (a feature tap)'
                : [...producer].some(([t, c]) => c === conv && (returned.has(t) || (readers.get(t)?.size ?? 0) > 1))
                  ? "its convolution's output is also read elsewhere"
                  : '';
    if (why === null) continue;
    if (why) skipped.push(`${names.get(bn)}: ${why}`);
    else {
      pairs.push([conv!, bn]);
      taken.add(conv!);
    }
  }
  return pairs;
}

const flatTensors = (value: unknown): Tensor[] => tensorsIn<Tensor>(value);

/**
 * Sets the algorithm of every Conv2d of `module` (Conv2d.algorithm): 'auto' gives oneDNN's
 * Winograd kernels to the 3x3 layers where they pay (winogradPays): 64 or more output channels from
 * 32 or more in training, 32 or more from 32 or more in a frozen network.
 * Returns the number of convolutions set.
 */
export function setConvAlgorithm(module: Module, algorithm: ConvAlgorithm): number {
  if (!['direct', 'winograd', 'auto'].includes(algorithm))
    throw new Error(`setConvAlgorithm: algorithm must be direct, winograd or auto, got ${String(algorithm)}`);
  let count = 0;
  for (const m of module.modules()) {
    if (!(m instanceof Conv2d)) continue;
    m.algorithm = algorithm;
    count++;
  }
  return count;
}
