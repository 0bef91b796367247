// Shared test helpers: fixture decoding, tolerant comparison, finite-difference gradient checks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, tensor, tidy, type DType } from '../src/index.js';

/** The repository (tests run compiled, from dist/test). */
export const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtureDir = path.join(repoRoot, 'test', 'fixtures');
/** The compiled `distill` CLI. */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Runs the CLI in `cwd`: exit code, stdout and stderr. */
export function cliIn(cwd: string): (args: string[]) => { code: number | null; out: string; err: string } {
  return (args) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { cwd, encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}

export interface Encoded {
  shape: number[];
  dtype: DType;
  data: number[];
}

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(fixtureDir, name), 'utf8')) as T;
}

export function decode(e: Encoded, dtype: DType = e.dtype): Tensor {
  return tensor(e.data, e.shape, { dtype });
}

/** Asserts that a tensor matches a reference: same shape and dtype, values within tolerance. */
export function assertClose(actual: Tensor, expected: Encoded, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  const got = Array.from(actual.dataSync() as ArrayLike<number | bigint>, Number);
  assert.equal(got.length, expected.data.length, `${what}: element count`);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - expected.data[i]!) - rtol * Math.abs(expected.data[i]!);
    if (Number.isNaN(err) || err > worst) {
      worst = err;
      worstAt = i;
    }
  }
  assert.ok(worstAt < 0 || worst <= atol, `${what}: element ${worstAt} is ${got[worstAt]}, expected ${expected.data[worstAt]}`);
}

/** Largest absolute difference between two tensors' values. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = Array.from(a.dataSync() as ArrayLike<number | bigint>, Number);
  const y = Array.from(b.dataSync() as ArrayLike<number | bigint>, Number);
  assert.equal(x.length, y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

/** The fixed cotangent the fixture script uses: linspace(-1, 1, numel) in the output's shape. */
export function cotangent(out: Tensor): Tensor {
  const n = out.numel();
  const values = Array.from({ length: n }, (_, i) => (n === 1 ? -1 : -1 + (2 * i) / (n - 1)));
  return tensor(values, out.shape, { dtype: out.dtype });
}

/**
 * Checks autograd against central finite differences in float64 for the scalar
 * `sum(f(inputs)[0] * cotangent)`, for every floating input whose index is in `wrt`.
 */
export function gradcheck(
  f: (xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  wrt: number[],
  what: string,
  eps = 1e-6,
  tol = 1e-4,
): void {
  tidy(() => {
    const leaves = inputs.map((x, i) => (wrt.includes(i) ? x.detach().clone().requiresGrad_() : x));
    const out = f(leaves);
    const cot = cotangent(out).detach();
    out.mul(cot).sum().backward();
    const scalar = (xs: Tensor[]): number => tidy(() => f(xs).mul(cot).sum().item());
    for (const i of wrt) {
      const analytic = Array.from(leaves[i]!.grad!.dataSync() as Float64Array);
      const base = inputs[i]!.detach().clone();
      const flat = base.dataSync() as Float64Array;
      for (let k = 0; k < flat.length; k++) {
        const plus = Float64Array.from(flat);
        plus[k]! += eps;
        const minus = Float64Array.from(flat);
        minus[k]! -= eps;
        const xsPlus = inputs.slice();
        xsPlus[i] = tensor(plus, base.shape);
        const xsMinus = inputs.slice();
        xsMinus[i] = tensor(minus, base.shape);
        const numeric = (scalar(xsPlus) - scalar(xsMinus)) / (2 * eps);
        const diff = Math.abs(numeric - analytic[k]!);
        assert.ok(
          diff <= tol * Math.max(1, Math.abs(numeric)),
          `${what}: d/dinput${i}[${k}] autograd ${analytic[k]} vs numeric ${numeric}`,
        );
      }
    }
  });
}
