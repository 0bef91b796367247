// Seeded random calls across the public API (tensor methods, creation, F, layers, losses, optimizers, global
// state), each with arguments drawn from valid and hostile values. Run in a child process by
// fuzz.test.ts: a JS exception is the expected answer to a bad call, a dead process is a defect.
// Each call is written to stdout before it runs, so a crash names the call that caused it.
import { writeSync } from 'node:fs';
import * as torch from '../src/index.js';
import { Tensor, nn, F, tidy, data, optim } from '../src/index.js';
import * as losses from '../src/distillers/losses.js';

type Fn = (...args: unknown[]) => unknown;

export function runFuzz(seed: number, calls: number): { ok: number; errors: number; nonErrors: string[] } {
  const random = data.mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

  const numbers = [0, 1, -1, 2, 3, 0.5, -0.5, 4, 7, NaN, Infinity, -Infinity, 1e10, -1e10, 2 ** 53, 1e300, -0, 0.1];
  const bigints = [2n ** 64n + 5n, -1n, 3n, 2n ** 63n];
  const strings = ['', 'cpu', 'cuda', 'cuda:7', 'meta', 'mean', 'sum', 'none', 'float32', 'int64', 'bool', 'trunc', 'tanh', 'x'];
  const dtypes = ['float32', 'float64', 'int64', 'int32', 'uint8', 'bool'] as const;

  const randTensor = (): Tensor => {
    const rank = int(0, 4);
    const shape = Array.from({ length: rank }, () => int(0, 4));
    const dtype = pick(dtypes);
    const t = torch.randn(shape).mul(3);
    const out = dtype === 'float32' ? t : t.to(dtype);
    if (out !== t) t.dispose();
    if (dtype.startsWith('float') && random() < 0.2) out.requiresGrad = true;
    return out;
  };
  const value = (depth = 0): unknown => {
    const r = random();
    if (r < 0.3) return randTensor();
    if (r < 0.5) return pick(numbers);
    if (r < 0.55) return pick(bigints);
    if (r < 0.62) return pick(strings);
    if (r < 0.67) return random() < 0.5;
    if (r < 0.72) return random() < 0.5 ? null : undefined;
    if (r < 0.84)
      return Array.from({ length: int(0, 4) }, () =>
        depth < 2 && random() < 0.3 ? value(depth + 1) : pick(numbers.slice(0, 9)),
      );
    if (depth < 2) {
      const keys = [
        'alpha',
        'dim',
        'keepdim',
        'min',
        'max',
        'dtype',
        'device',
        'bias',
        'stride',
        'padding',
        'p',
        'T',
        'reduction',
        'eps',
        'weight',
      ];
      const o: Record<string, unknown> = {};
      for (let i = int(0, 3); i > 0; i--) o[pick(keys)] = value(depth + 1);
      return o;
    }
    return randTensor();
  };

  const methodNames = Object.getOwnPropertyNames(Tensor.prototype).filter(
    (n) =>
      n !== 'constructor' && n !== 'dispose' && typeof Object.getOwnPropertyDescriptor(Tensor.prototype, n)!.value === 'function',
  );
  const functionsOf = (ns: object, exclude: string[] = []): [string, Fn][] =>
    Object.entries(ns).filter(([n, f]) => typeof f === 'function' && !exclude.includes(n) && !/^[A-Z]/.test(n)) as [string, Fn][];
  const free = [
    ...functionsOf(torch, [
      'tidy',
      'keep',
      'dispose',
      'noGrad',
      'enableGrad',
      'save',
      'load',
      'writeFileAtomic',
      'op',
      'loadPlugins',
      'loadConfig',
      'runExperiment',
      'runComparison',
      'trainStep',
      'registerDataset',
      'registerMethod',
      'registerModel',
      'createDataset',
      'imageDataset',
      'createDistiller',
      'createModel',
    ]).map(([n, f]) => [`torch.${n}`, f] as [string, Fn]),
    ...functionsOf(F).map(([n, f]) => [`F.${n}`, f] as [string, Fn]),
    ...functionsOf(losses).map(([n, f]) => [`losses.${n}`, f] as [string, Fn]),
  ];
  const layers = Object.entries(nn).filter(
    ([n, c]) => typeof c === 'function' && /^[A-Z]/.test(n) && c.prototype instanceof nn.Module,
  ) as [string, new (...a: unknown[]) => nn.Module][];

  let ok = 0;
  let errors = 0;
  const nonErrors: string[] = [];
  const describe = (v: unknown): string => {
    if (v instanceof Tensor) return v.isDisposed ? 'Tensor(disposed)' : `Tensor(${v.dtype}[${v.shape.join(',')}])`;
    if (typeof v === 'bigint') return `${v}n`;
    if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
    if (v && typeof v === 'object')
      return `{${Object.entries(v)
        .map(([k, x]) => `${k}: ${describe(x)}`)
        .join(', ')}}`;
    return typeof v === 'string' ? JSON.stringify(v) : String(v);
  };
  const attempt = (label: string, args: unknown[], fn: () => unknown): void => {
    writeSync(1, `${label}(${args.map(describe).join(', ')})\n`);
    try {
      tidy(() => {
        const out = fn();
        if (out instanceof nn.Module) out.dispose();
      });
      ok++;
    } catch (err) {
      if (err instanceof Error) errors++;
      else nonErrors.push(`${label}: threw ${String(err)}`);
    }
  };

  for (let i = 0; i < calls; i++) {
    tidy(() => {
      const kind = random();
      const args = Array.from({ length: int(0, 4) }, () => value());
      if (kind < 0.45) {
        const name = pick(methodNames);
        const self = randTensor();
        attempt(`Tensor.${name}`, [self, ...args], () =>
          (Tensor.prototype as unknown as Record<string, Fn>)[name]!.apply(self, args),
        );
      } else if (kind < 0.85) {
        const [name, fn] = pick(free);
        if (name === 'torch.setNumThreads' && typeof args[0] === 'number' && args[0] > 4 && args[0] <= 1024) args[0] = 2;
        attempt(name, args, () => fn(...args));
      } else if (kind < 0.9) {
        // An optimizer over a random parameter with random settings, then one step.
        const Cls = pick([optim.SGD, optim.AdamW] as (new (...a: unknown[]) => optim.Optimizer<{ lr: number }>)[]);
        const param = randTensor();
        attempt(`new optim.${Cls.name}`, [param, ...args], () => {
          if (param.dtype.startsWith('float')) param.requiresGrad = true;
          const opt = new Cls([param], ...args);
          if (param.requiresGrad) param.sum().backward();
          opt.step();
        });
      } else {
        const [name, Cls] = pick(layers);
        const input = random() < 0.7 ? randTensor() : value();
        attempt(`new nn.${name}`, [...args, input], () => {
          const layer = new Cls(...args);
          try {
            return (layer as unknown as { forward: Fn }).forward(input);
          } finally {
            layer.dispose();
          }
        });
      }
    });
  }
  torch.setNumThreads(1);
  return { ok, errors, nonErrors };
}

if (process.env.DISTILL_FUZZ_SEED !== undefined) {
  torch.setNumThreads(1);
  const result = runFuzz(Number(process.env.DISTILL_FUZZ_SEED), Number(process.env.DISTILL_FUZZ_CALLS ?? 500));
  writeSync(1, `RESULT ${JSON.stringify(result)}\n`);
}
