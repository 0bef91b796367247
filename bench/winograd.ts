// Winograd against direct convolutions (issue 16): each stride-1 3x3 layer shape of the CIFAR
// zoo's pairs (and torchvision ResNets' last stage at 224x224), frozen (forward without gradients: a teacher) and in training (forward + backward
// of input and weights: a student), then whole frozen teachers (resnet32x4, wrn_40_2, folded),
// batch 64, channels-last, 1 and 2 threads. Times include the reorders to and from oneDNN's
// blocked layout (what nn.Conv2d pays). This is what nn.winogradPays' rule comes from. Winograd's
// first call (creating its primitives) is its own column; a frozen layer's time with its weights
// packed once (WinogradConvolution, 4x their memory; nn.Conv2d transforms them at each call
// instead) is the next; the last is the largest difference of the outputs relative to their largest value.
// Usage: npm run bench:winograd [-- --threads 1,2 --reps 6]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { createZooModel, nn, noGrad, tidy, type Tensor } from '../src/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const reps = Number(arg('reps', '6'));
// [in, out, size]: the stride-1 3x3 layers of resnet32x4 / resnet8x4 and wrn_40_2 / wrn_16_2.
const LAYERS: [number, number, number][] = [
  [32, 64, 32],
  [64, 64, 32],
  [128, 128, 16],
  [256, 256, 8],
  [16, 32, 32],
  [32, 32, 32],
  [64, 64, 16],
  [128, 128, 8],
  [512, 512, 7], // torchvision ResNets' last stage at 224x224
];

/** [first call (ms: plans, oneDNN's JIT, packing), best of `reps` after a second untimed call]. */
function time(fn: () => Tensor): [number, number] {
  const t0 = performance.now();
  fn().dispose();
  const first = performance.now() - t0;
  fn().dispose();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn().dispose();
    best = Math.min(best, performance.now() - t0);
  }
  return [first, best];
}

function relative(a: Tensor, b: Tensor): number {
  return tidy(() => a.sub(b).abs().max().item() / b.abs().max().item());
}

function child(threads: number): void {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const rows: string[] = [];
  const compare = (
    name: string,
    module: nn.Module & { forward(x: Tensor): unknown },
    x: Tensor,
    out: (y: unknown) => Tensor,
    packed?: () => Tensor,
  ) => {
    const frozen = !x.requiresGrad;
    const run = () => (frozen ? noGrad : (f: () => Tensor) => f())(() => tidy(() => out(module.forward(x)).keep()));
    const ms: Record<string, number> = {};
    const outputs: Record<string, Tensor> = {};
    let first = 0;
    for (const alg of ['direct', 'winograd', 'auto'] as const) {
      nn.setConvAlgorithm(module, alg);
      const [firstCall, best] = time(run);
      ms[alg] = best;
      if (alg === 'winograd') first = firstCall;
      outputs[alg] = run();
    }
    const diff = relative(outputs.winograd!, outputs.direct!);
    // The same layer with its weights packed once (WinogradConvolution): what nn.Conv2d gives up for the memory.
    const pack = packed ? time(packed) : null;
    rows.push(
      `| ${threads} | ${name} | ${ms.direct!.toFixed(2)} | ${ms.winograd!.toFixed(2)} | ${(ms.direct! / ms.winograd!).toFixed(2)}x | ${ms.auto!.toFixed(2)} | ${first.toFixed(1)} | ${pack ? `${pack[1].toFixed(2)} (first ${pack[0].toFixed(1)})` : '-'} | ${diff.toExponential(1)} |`,
    );
    for (const t of Object.values(outputs)) t.dispose();
    nn.setConvAlgorithm(module, 'direct');
  };
  for (const [inC, outC, size] of LAYERS) {
    const conv = new nn.Conv2d(inC, outC, 3, { padding: 1 }).eval();
    for (const p of conv.parameters()) p.requiresGrad = false;
    conv.to({ memoryFormat: 'channelsLast' });
    const x = torch.randn(64, inC, size, size).contiguous({ memoryFormat: 'channelsLast' }).keep();
    const packing = new torch.WinogradConvolution(conv.weight, conv.bias, [1, 1], [1, 1]);
    compare(
      `frozen conv ${inC}->${outC} at ${size}x${size}`,
      conv,
      x,
      (y) => y as Tensor,
      () => noGrad(() => packing.forward(x)!),
    );
    packing.dispose();
    // Training: forward, then the gradients of the input and of the weights (returned: the weight's).
    for (const p of conv.parameters()) p.requiresGrad = true;
    x.requiresGrad = true;
    compare(`training conv ${inC}->${outC} at ${size}x${size} (forward + backward)`, conv, x, (y) => {
      for (const p of conv.parameters()) p.grad = null;
      x.grad = null;
      (y as Tensor).sum().backward();
      return conv.weight.grad!;
    });
    x.dispose();
    conv.dispose();
  }
  for (const name of ['resnet32x4', 'wrn_40_2']) {
    const net = createZooModel(name, { numClasses: 100 }).eval();
    for (const p of net.parameters()) p.requiresGrad = false;
    net.to({ memoryFormat: 'channelsLast' });
    const x = torch.randn(64, 3, 32, 32).contiguous({ memoryFormat: 'channelsLast' }).keep();
    nn.foldBatchNorm(net, x.narrow(0, 0, 2));
    compare(`${name} forward (folded), logits`, net, x, (y) => (y as { logits: Tensor }).logits);
    x.dispose();
    net.dispose();
  }
  console.log(JSON.stringify(rows));
}

function main(): void {
  console.log(`Frozen 3x3 convolutions, batch 64, channels-last, best of ${reps}, ms\n`);
  console.log(
    "| threads | layer | direct | Winograd | speed-up | auto | Winograd's first call (plans) | Winograd, weights packed once (WinogradConvolution) | max output difference (relative) |",
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const threads of arg('threads', '1,2').split(',').map(Number)) {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', String(threads), '--reps', String(reps)],
      {
        encoding: 'utf8',
      },
    );
    for (const row of JSON.parse(out.trim().split('\n').at(-1)!) as string[]) console.log(row);
  }
}

if (process.argv[2] === '--child') child(Number(process.argv[3]));
else main();
