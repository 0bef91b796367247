// ONNX export by tracing, the way torch.onnx.export works: one evaluation-mode forward of the
// network runs with an observer on the single operator dispatch point (src/tensor/ops.ts); each
// ATen call is mapped to ONNX operators, parameters and buffers become initializers named by their
// state-dict keys, and what does not depend on the input is folded into constants. Only what the
// logits depend on is kept. An operator without a mapping is an error naming it and the module
// path where it ran.
import type onnxProto from 'onnx-proto';
import { Tensor, noGrad, observeOps, ones, tidy, writeFileAtomic, zeros, type Op } from '../tensor/index.js';
import type { Network } from '../models/model.js';
import { lazyRequire } from '../util/lazy.js';

/** ONNX's protobuf classes (protobufjs: ~10 MB resident), loaded by the first export. */
const onnxClasses = lazyRequire<typeof onnxProto>('onnx-proto');

export interface OnnxExportOptions {
  /** ONNX opset (default 17; 13 at least). */
  opset?: number;
  /** Leave the batch dimension symbolic ('batch'), so that any batch size runs. */
  dynamicBatch?: boolean;
  /** Append a Softmax: the output is class probabilities instead of logits. */
  softmax?: boolean;
  /**
   * Fold each BatchNorm into the convolution before it (W·γ/√(σ²+ε), (b − μ)·γ/√(σ²+ε) + β), as
   * inference runtimes do: fewer nodes, the same function up to float32 rounding.
   */
  foldBatchNorm?: boolean;
  /** Key-value metadata stored in the model (class names, normalisation, input size). */
  metadata?: Record<string, string>;
  inputName?: string;
  outputName?: string;
}

/** A network's logits from its forward output: a tensor, or a zoo model's { logits }. */
function logitsOf(out: unknown): Tensor {
  if (out instanceof Tensor) return out;
  const logits = (out as { logits?: unknown } | null)?.logits;
  if (logits instanceof Tensor) return logits;
  throw new Error('exportOnnx: the forward returns neither a tensor nor { logits }');
}

interface Node {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, number | number[] | string>;
}

const FLOAT = 1;
const INT64 = 7;
/** Attributes that ONNX types as float; every other numeric attribute here is an int. */
const FLOAT_ATTRIBUTES = new Set(['epsilon', 'alpha', 'beta', 'momentum']);

/** The graph being built: value names, initializers, nodes, in trace order. */
class GraphBuilder {
  /** The traced batch size when the batch dimension is symbolic. */
  batch: number | null = null;
  outputShape: number[] = [];
  opset = 17;
  readonly names = new Map<Tensor, string>();
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, { dims: number[]; dataType: number; data: Float32Array | BigInt64Array }>();
  private counter = 0;

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  constantInt64(values: number[], name = this.fresh('const')): string {
    this.initializers.set(name, { dims: [values.length], dataType: INT64, data: BigInt64Array.from(values, BigInt) });
    return name;
  }

  constantInt64Scalar(value: number, name = this.fresh('const')): string {
    this.initializers.set(name, { dims: [], dataType: INT64, data: BigInt64Array.of(BigInt(value)) });
    return name;
  }

  constantFloat(value: number, name = this.fresh('const')): string {
    this.initializers.set(name, { dims: [], dataType: FLOAT, data: Float32Array.of(value) });
    return name;
  }

  constantFrom(t: Tensor, name: string): string {
    if (t.dtype === 'int64') this.initializers.set(name, { dims: t.shape, dataType: INT64, data: t.dataSync() as BigInt64Array });
    else
      this.initializers.set(name, {
        dims: t.shape,
        dataType: FLOAT,
        data: Float32Array.from(t.to('float32').dataSync() as Float32Array),
      });
    return name;
  }

  node(opType: string, inputs: string[], attributes: Node['attributes'] = {}, output = this.fresh(opType.toLowerCase())): string {
    this.nodes.push({ opType, inputs, outputs: [output], attributes });
    return output;
  }
}

type Mapper = (g: GraphBuilder, args: unknown[], name: (t: unknown) => string, out: Tensor) => string;

const ints = (v: unknown, n = 2): number[] => (Array.isArray(v) ? v.map(Number) : Array<number>(n).fill(Number(v ?? 0)));
const pads2d = (p: number[]) => [p[0]!, p[1]!, p[0]!, p[1]!];

/** ATen operator (schema name and overload) → ONNX nodes. */
const MAPPERS: Record<string, Mapper> = {
  'aten::conv2d': (g, [x, w, b, stride, padding, dilation, groups], name) => {
    if (typeof padding === 'string') throw new Error(`padding '${padding}' is not exported; give the padding as numbers`);
    const inputs = [name(x), name(w), ...(b instanceof Tensor ? [name(b)] : [])];
    const kernel = (w as Tensor).shape.slice(2);
    return g.node('Conv', inputs, {
      kernel_shape: kernel,
      strides: ints(stride ?? 1),
      pads: pads2d(ints(padding ?? 0)),
      dilations: ints(dilation ?? 1),
      group: Number(groups ?? 1),
    });
  },
  'aten::batch_norm': (g, [x, w, b, mean, variance, training, , eps], name) => {
    if (training) throw new Error('a BatchNorm in train mode: export traces the network in eval mode');
    const c = (mean as Tensor).shape[0]!;
    const scale = w instanceof Tensor ? name(w) : g.constantFrom(ones([c]), g.fresh('bn_scale'));
    const shift = b instanceof Tensor ? name(b) : g.constantFrom(zeros([c]), g.fresh('bn_bias'));
    return g.node('BatchNormalization', [name(x), scale, shift, name(mean), name(variance)], { epsilon: Number(eps ?? 1e-5) });
  },
  'aten::relu': (g, [x], name) => g.node('Relu', [name(x)]),
  'aten::add.Tensor': (g, [a, b, alpha], name) => {
    if (alpha !== undefined && Number(alpha) !== 1) throw new Error('add with alpha ≠ 1 is not exported');
    return g.node('Add', [name(a), name(b)]);
  },
  'aten::adaptive_avg_pool2d': (g, [x, size], name) => {
    const [oh, ow] = ints(size);
    const [h, w] = (x as Tensor).shape.slice(2) as [number, number];
    if (oh === 1 && ow === 1) return g.node('GlobalAveragePool', [name(x)]);
    if (h % oh! || w % ow!)
      throw new Error(`adaptive_avg_pool2d from ${h}×${w} to ${oh}×${ow} (not a whole multiple) is not exported`);
    const kernel = [h / oh!, w / ow!];
    return g.node('AveragePool', [name(x)], { kernel_shape: kernel, strides: kernel });
  },
  'aten::avg_pool2d': (g, [x, kernel, stride, padding, ceil, countIncludePad, divisor], name) => {
    if (divisor !== undefined && divisor !== null) throw new Error('avg_pool2d with divisor_override is not exported');
    const k = ints(kernel);
    const s = stride === undefined || (Array.isArray(stride) && stride.length === 0) ? k : ints(stride);
    return g.node('AveragePool', [name(x)], {
      kernel_shape: k,
      strides: s,
      pads: pads2d(ints(padding ?? 0)),
      ceil_mode: ceil ? 1 : 0,
      count_include_pad: countIncludePad === false ? 0 : 1,
    });
  },
  'aten::max_pool2d': (g, [x, kernel, stride, padding, dilation, ceil], name) => {
    const k = ints(kernel);
    const s = stride === undefined || (Array.isArray(stride) && stride.length === 0) ? k : ints(stride);
    return g.node('MaxPool', [name(x)], {
      kernel_shape: k,
      strides: s,
      pads: pads2d(ints(padding ?? 0)),
      dilations: ints(dilation ?? 1),
      ceil_mode: ceil ? 1 : 0,
    });
  },
  'aten::flatten.using_ints': (g, [x, start, end], name, out) => {
    const rank = (x as Tensor).shape.length;
    const [s, e] = [Number(start ?? 0), Number(end ?? -1)];
    if ((e === -1 || e === rank - 1) && s >= 0) return g.node('Flatten', [name(x)], { axis: s });
    return reshape(g, name(x), out.shape);
  },
  'aten::reshape': (g, [x], name, out) => reshape(g, name(x), out.shape),
  'aten::view': (g, [x], name, out) => reshape(g, name(x), out.shape),
  'aten::linear': (g, [x, w, b], name) => {
    if ((x as Tensor).shape.length === 2)
      return g.node('Gemm', [name(x), name(w), ...(b instanceof Tensor ? [name(b)] : [])], { transB: 1 });
    const t = g.node('Transpose', [name(w)], { perm: [1, 0] });
    const m = g.node('MatMul', [name(x), t]);
    return b instanceof Tensor ? g.node('Add', [m, name(b)]) : m;
  },
  'aten::cat': (g, [tensors, dim], name) => {
    const list = tensors as Tensor[];
    const rank = list[0]!.shape.length;
    return g.node('Concat', list.map(name), { axis: normaliseDim(Number(dim ?? 0), rank) });
  },
  'aten::narrow': (g, [x, dim, start, length], name) => {
    const rank = (x as Tensor).shape.length;
    const s = Number(start);
    return g.node('Slice', [
      name(x),
      g.constantInt64([s]),
      g.constantInt64([s + Number(length)]),
      g.constantInt64([normaliseDim(Number(dim), rank)]),
    ]);
  },
  'aten::permute': (g, [x, dims], name) => {
    const rank = (x as Tensor).shape.length;
    return g.node('Transpose', [name(x)], { perm: ints(dims, rank).map((d) => normaliseDim(d, rank)) });
  },
  'aten::mean.dim': (g, [x, dims, keepdim], name) => reduce(g, 'ReduceMean', name(x), x as Tensor, dims, keepdim),
  'aten::sum.dim_IntList': (g, [x, dims, keepdim], name) => reduce(g, 'ReduceSum', name(x), x as Tensor, dims, keepdim),
  'aten::sub.Tensor': (g, [a, b, alpha], name) => {
    if (alpha !== undefined && Number(alpha) !== 1) throw new Error('sub with alpha ≠ 1 is not exported');
    return g.node('Sub', [name(a), name(b)]);
  },
  'aten::div.Tensor': (g, [a, b], name) => g.node('Div', [name(a), name(b)]),
  'aten::neg': (g, [x], name) => g.node('Neg', [name(x)]),
  'aten::sqrt': (g, [x], name) => g.node('Sqrt', [name(x)]),
  'aten::exp': (g, [x], name) => g.node('Exp', [name(x)]),
  'aten::log': (g, [x], name) => g.node('Log', [name(x)]),
  'aten::abs': (g, [x], name) => g.node('Abs', [name(x)]),
  'aten::tanh': (g, [x], name) => g.node('Tanh', [name(x)]),
  'aten::reciprocal': (g, [x], name) => g.node('Reciprocal', [name(x)]),
  'aten::pow.Tensor_Scalar': (g, [x, e], name) => g.node('Pow', [name(x), g.constantFloat(Number(e))]),
  'aten::clamp': (g, [x, lo, hi], name) =>
    g.node('Clip', [
      name(x),
      lo === null || lo === undefined ? '' : g.constantFloat(Number(lo)),
      hi === null || hi === undefined ? '' : g.constantFloat(Number(hi)),
    ]),
  'aten::clamp_min': (g, [x, lo], name) => g.node('Clip', [name(x), g.constantFloat(Number(lo))]),
  'aten::leaky_relu': (g, [x, slope], name) => g.node('LeakyRelu', [name(x)], { alpha: Number(slope ?? 0.01) }),
  'aten::gelu': (g, [x, approximate], name) => {
    if (approximate === 'tanh') throw new Error("gelu with approximate 'tanh' is not exported");
    // 0.5 · x · (1 + erf(x / √2)), which every opset from 13 has.
    const v = name(x);
    const erf = g.node('Erf', [g.node('Div', [v, g.constantFloat(Math.SQRT2)])]);
    return g.node('Mul', [g.node('Mul', [v, g.node('Add', [erf, g.constantFloat(1)])]), g.constantFloat(0.5)]);
  },
  'aten::softmax.int': (g, [x, dim], name) => g.node('Softmax', [name(x)], { axis: Number(dim) }),
  'aten::log_softmax.int': (g, [x, dim], name) => g.node('LogSoftmax', [name(x)], { axis: Number(dim) }),
  'aten::matmul': (g, [a, b], name) => g.node('MatMul', [name(a), name(b)]),
  'aten::mm': (g, [a, b], name) => g.node('MatMul', [name(a), name(b)]),
  'aten::t': (g, [x], name) => g.node('Transpose', [name(x)], { perm: [1, 0] }),
  'aten::transpose.int': (g, [x, d0, d1], name) => {
    const rank = (x as Tensor).shape.length;
    const perm = Array.from({ length: rank }, (_, i) => i);
    const [i, j] = [normaliseDim(Number(d0), rank), normaliseDim(Number(d1), rank)];
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    return g.node('Transpose', [name(x)], { perm });
  },
  'aten::unsqueeze': (g, [x, dim], name) =>
    g.node('Unsqueeze', [name(x), g.constantInt64([normaliseDim(Number(dim), (x as Tensor).shape.length + 1)])]),
  'aten::squeeze.dim': (g, [x, dim], name) =>
    g.node('Squeeze', [name(x), g.constantInt64([normaliseDim(Number(dim), (x as Tensor).shape.length)])]),
  'aten::upsample_nearest2d.vec': (g, [x], name, out) =>
    g.node('Resize', [name(x), '', '', g.constantInt64(batchFree(g, out.shape))], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    }),
  'aten::sigmoid': (g, [x], name) => g.node('Sigmoid', [name(x)]),
  // x.select(dim, i): Gather with a scalar index drops the dimension, as select does.
  'aten::select.int': (g, [x, dim, index], name) => {
    const rank = (x as Tensor).shape.length;
    const d = normaliseDim(Number(dim), rank);
    const size = (x as Tensor).shape[d]!;
    const i = Number(index) < 0 ? Number(index) + size : Number(index);
    return g.node('Gather', [name(x), g.constantInt64Scalar(i)], { axis: d });
  },
  'aten::silu': (g, [x], name) => g.node('Mul', [name(x), g.node('Sigmoid', [name(x)])]),
  'aten::hardswish': (g, [x], name) => g.node('HardSwish', [name(x)]),
  'aten::hardsigmoid': (g, [x], name) => g.node('HardSigmoid', [name(x)], { alpha: 1 / 6, beta: 0.5 }),
  'aten::layer_norm': (g, [x, shape, w, b, eps], name) => {
    const rank = (x as Tensor).shape.length;
    const axis = rank - (shape as number[]).length;
    const inputs = [name(x), w instanceof Tensor ? name(w) : g.constantFrom(ones(shape as number[]), g.fresh('ln_scale'))];
    if (b instanceof Tensor) inputs.push(name(b));
    if (g.opset >= 17) return g.node('LayerNormalization', inputs, { axis, epsilon: Number(eps ?? 1e-5) });
    throw new Error('layer_norm is exported from opset 17 (LayerNormalization); use opset 17 or later');
  },
  'aten::mul.Tensor': (g, [a, b], name) => g.node('Mul', [name(a), name(b)]),
  'aten::hardtanh': (g, [x, lo, hi], name) =>
    g.node('Clip', [name(x), g.constantFloat(Number(lo ?? -1)), g.constantFloat(Number(hi ?? 1))]),
  'aten::dropout': (g, [x, , training], name) => {
    if (training) throw new Error('a Dropout in train mode: export traces the network in eval mode');
    return g.node('Identity', [name(x)]);
  },
  'aten::contiguous': (g, [x], name) => g.node('Identity', [name(x)]),
};

const normaliseDim = (d: number, rank: number) => (d < 0 ? d + rank : d);

/** A reduction over `dims` (axes an attribute up to opset 17 for ReduceMean, an input from 18; always an input for ReduceSum). */
function reduce(
  g: GraphBuilder,
  opType: 'ReduceMean' | 'ReduceSum',
  input: string,
  x: Tensor,
  dims: unknown,
  keepdim: unknown,
): string {
  const rank = x.shape.length;
  const axes = ints(dims, 1).map((d) => normaliseDim(d, rank));
  const keepdims = keepdim ? 1 : 0;
  if (opType === 'ReduceMean' && g.opset < 18) return g.node(opType, [input], { axes, keepdims });
  return g.node(opType, [input, g.constantInt64(axes)], { keepdims });
}

/** A traced output shape as a Resize target; with a symbolic batch the batch comes from the input. */
function batchFree(g: GraphBuilder, shape: number[]): number[] {
  if (g.batch) throw new Error('Resize to a traced size with a symbolic batch is not exported; export with a fixed batch');
  return shape;
}

/** Reshape to a traced shape; a symbolic batch keeps dimension 0 from the input (ONNX's 0). */
function reshape(g: GraphBuilder, input: string, shape: number[]): string {
  const target = g.batch ? shape.map((d, i) => (i === 0 && d === g.batch ? 0 : d)) : shape;
  return g.node('Reshape', [input, g.constantInt64(target)]);
}

/** The ONNX ModelProto bytes of `model` traced on `exampleInput` (its first dimension the batch). */
export function toOnnx(model: Network, exampleInput: Tensor, options: OnnxExportOptions = {}): Uint8Array {
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new Error(`exportOnnx: opset ${opset}: use 13 to 21`);
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? (options.softmax ? 'probabilities' : 'logits');
  const g = new GraphBuilder();
  g.batch = options.dynamicBatch ? exampleInput.shape[0]! : null;
  g.opset = opset;
  const named = new Map<Tensor, string>();
  for (const [k, p] of model.namedParameters()) named.set(p, k);
  for (const [k, b] of model.namedBuffers()) named.set(b, k);
  const used = new Set<string>();
  const wasTraining = model.training;
  // Which module is running, for messages.
  const stack: string[] = [];
  const handles = [...model.namedModules()]
    .filter(([, m]) => typeof (m as { forward?: unknown }).forward === 'function')
    .flatMap(([path, m]) => [
      m.registerForwardPreHook(() => {
        stack.push(path || '(top)');
      }),
      m.registerForwardHook(() => {
        stack.pop();
      }),
    ]);
  const dependsOnInput = new Set<Tensor>();
  let outputValue = '';
  model.eval();
  try {
    tidy(() =>
      noGrad(() => {
        const x = exampleInput.to('float32');
        g.names.set(x, inputName);
        dependsOnInput.add(x);
        const name = (t: unknown): string => {
          if (typeof t === 'number' || typeof t === 'boolean') return g.constantFloat(Number(t));
          if (!(t instanceof Tensor)) throw new Error(`expected a tensor argument, got ${String(t)}`);
          const known = g.names.get(t);
          if (known) return known;
          const key = named.get(t);
          if (key !== undefined) {
            if (!used.has(key)) g.constantFrom(t, key);
            used.add(key);
            g.names.set(t, key);
            return key;
          }
          // A tensor made outside the traced ops (a constant captured by the forward).
          const c = g.constantFrom(t, g.fresh('const'));
          g.names.set(t, c);
          return c;
        };
        const stop = observeOps((op: Op, args: unknown[], result: unknown, inplace?: boolean) => {
          const tensors = args.flatMap((a) =>
            a instanceof Tensor ? [a] : Array.isArray(a) ? a.filter((v) => v instanceof Tensor) : [],
          );
          const live = tensors.some((t) => dependsOnInput.has(t));
          if (!live) return; // depends on parameters and constants only: folded when used
          const key = op.overload ? `${op.name}.${op.overload}` : op.name;
          const where = stack.at(-1) ?? '(top)';
          if (inplace)
            throw new Error(`exportOnnx: in-place operator ${key} in module ${where} is not exported; use its out-of-place form`);
          const mapper = MAPPERS[key];
          if (!mapper) throw new Error(`exportOnnx: ATen operator ${key} (in module ${where}) has no ONNX mapping`);
          const outs = Array.isArray(result) ? result : [result];
          const out = outs[0];
          if (!(out instanceof Tensor) || outs.length !== 1)
            throw new Error(`exportOnnx: ATen operator ${key} (in module ${where}) returns several tensors`);
          try {
            g.names.set(out, mapper(g, args, name, out));
          } catch (err) {
            throw new Error(`exportOnnx: ${key} in module ${where}: ${(err as Error).message}`);
          }
          dependsOnInput.add(out);
        });
        let logits: Tensor;
        try {
          logits = logitsOf(model.forward(x));
        } finally {
          stop();
        }
        if (!dependsOnInput.has(logits)) throw new Error('exportOnnx: the logits do not depend on the input');
        outputValue = g.names.get(logits)!;
        if (options.softmax) outputValue = g.node('Softmax', [outputValue], { axis: -1 });
        g.node('Identity', [outputValue], {}, outputName);
        g.outputShape = logits.shape;
      }),
    );
  } finally {
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  if (options.foldBatchNorm) foldBatchNorms(g);
  return encode(g, { opset, inputName, outputName, inputShape: exampleInput.shape, options });
}

/** Folds BatchNormalization nodes into the Conv that alone feeds them (new initializers; shared weights untouched). */
function foldBatchNorms(g: GraphBuilder): void {
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const producer = new Map(g.nodes.map((n) => [n.outputs[0]!, n]));
  const floats = (name: string | undefined) => {
    const t = name === undefined ? undefined : g.initializers.get(name);
    return t && t.dataType === FLOAT ? (t.data as Float32Array) : undefined;
  };
  const drop = new Set<Node>();
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization') continue;
    const conv = producer.get(bn.inputs[0]!);
    if (!conv || conv.opType !== 'Conv' || consumers.get(conv.outputs[0]!) !== 1) continue;
    const [w, b] = [floats(conv.inputs[1]), conv.inputs[2] === undefined ? new Float32Array(0) : floats(conv.inputs[2])];
    const [gamma, beta, mean, variance] = bn.inputs.slice(1).map(floats);
    if (!w || !b || !gamma || !beta || !mean || !variance) continue;
    const eps = Number(bn.attributes.epsilon ?? 1e-5);
    const out = gamma.length;
    const per = w.length / out;
    const folded = new Float32Array(w.length);
    const bias = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      const scale = gamma[o]! / Math.sqrt(variance[o]! + eps);
      for (let k = 0; k < per; k++) folded[o * per + k] = w[o * per + k]! * scale;
      bias[o] = ((b.length ? b[o]! : 0) - mean[o]!) * scale + beta[o]!;
    }
    const dims = g.initializers.get(conv.inputs[1]!)!.dims;
    const wName = g.fresh(`${conv.inputs[1]}.bn_folded`);
    const bName = g.fresh(`${conv.inputs[1]}.bn_folded_bias`);
    g.initializers.set(wName, { dims, dataType: FLOAT, data: folded });
    g.initializers.set(bName, { dims: [out], dataType: FLOAT, data: bias });
    conv.inputs = [conv.inputs[0]!, wName, bName];
    conv.outputs = bn.outputs;
    drop.add(bn);
  }
  const kept = g.nodes.filter((n) => !drop.has(n));
  g.nodes.length = 0;
  g.nodes.push(...kept);
}

/** Keeps the nodes the output depends on, then writes the protobuf. */
function encode(
  g: GraphBuilder,
  e: { opset: number; inputName: string; outputName: string; inputShape: number[]; options: OnnxExportOptions },
): Uint8Array {
  const needed = new Set([e.outputName]);
  const kept: Node[] = [];
  for (const n of [...g.nodes].reverse())
    if (n.outputs.some((o) => needed.has(o))) {
      kept.push(n);
      for (const i of n.inputs) needed.add(i);
    }
  kept.reverse();
  const { onnx } = onnxClasses();
  const dims = (shape: number[]) => shape.map((d, i) => (i === 0 && g.batch ? { dimParam: 'batch' } : { dimValue: d }));
  const valueInfo = (name: string, shape: number[]) => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims(shape) } } },
  });
  const initializers = [...g.initializers.entries()]
    .filter(([name]) => needed.has(name))
    .map(([name, t]) =>
      t.dataType === FLOAT
        ? { name, dims: t.dims, dataType: FLOAT, rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }
        : { name, dims: t.dims, dataType: INT64, rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) },
    );
  const attribute = (key: string, v: number | number[] | string) =>
    typeof v === 'string'
      ? { name: key, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) }
      : Array.isArray(v)
        ? { name: key, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : !FLOAT_ATTRIBUTES.has(key)
          ? { name: key, type: onnx.AttributeProto.AttributeType.INT, i: v }
          : { name: key, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: e.opset }],
    producerName: 'distill-ts',
    producerVersion: '0.1',
    graph: {
      name: 'student',
      node: kept.map((n, k) => ({
        name: `${n.opType}_${k}`,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([key, v]) => attribute(key, v)),
      })),
      initializer: initializers,
      input: [valueInfo(e.inputName, e.inputShape)],
      output: [valueInfo(e.outputName, g.outputShape)],
    },
    metadataProps: Object.entries(e.options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Exports `model` traced on `exampleInput` to `file` (written atomically). */
export function exportOnnx(model: Network, exampleInput: Tensor, file: string, options: OnnxExportOptions = {}): void {
  writeFileAtomic(file, Buffer.from(toOnnx(model, exampleInput, options)));
}
