// AutoAugment and RandAugment against torchvision 0.14's own operations on uint8 tensors
// (scripts/make_augment_fixtures.py made the fixture): every operation at several magnitudes, on an
// RGB image, a grayscale one and a CIFAR-sized one, and both policies' magnitude tables; then the
// policies inside the loader (seeded, the same from workers, the strong view only where asked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { data } from '../src/index.js';
import { applyOp, autoAugment, magnitudes, randAugment, type AugmentOp, type Image } from '../src/data/autoaugment.js';
import { mulberry32 } from '../src/data/datasets.js';
import { readFixture } from './helpers.js';

interface Fixture {
  images: Record<string, { shape: [number, number, number]; data: number[] }>;
  cases: { image: string; op: AugmentOp; magnitude: number; out: number[] }[];
  randAugment31: Record<string, { values: number[]; signed: boolean }>;
  autoAugment10: Record<string, { values: number[]; signed: boolean }>;
}
const fx = readFixture<Fixture>('augment.json');
const imageOf = (name: string): Image => {
  const { shape, data: d } = fx.images[name]!;
  return { data: Uint8Array.from(d), channels: shape[0], height: shape[1], width: shape[2] };
};

test("every AutoAugment/RandAugment operation equals torchvision's on uint8 images, pixel for pixel", (t) => {
  let pixels = 0;
  for (const c of fx.cases) {
    const got = applyOp(imageOf(c.image), c.op, c.magnitude).data;
    const bad = c.out.flatMap((v, i) => (got[i] !== v ? [`${i}: ${got[i]} vs ${v}`] : []));
    assert.deepEqual(
      bad,
      [],
      `${c.op}(${c.magnitude}) on ${c.image}: ${bad.length} pixels differ, first ${bad.slice(0, 3).join('; ')}`,
    );
    pixels += c.out.length;
  }
  t.diagnostic(`${fx.cases.length} cases, ${pixels} pixels, all equal`);
});

test("the magnitude tables equal torchvision's _augmentation_space (RandAugment 31 bins, AutoAugment 10)", () => {
  for (const [table, bins] of [
    [fx.randAugment31, 31],
    [fx.autoAugment10, 10],
  ] as const)
    for (const [op, want] of Object.entries(table)) {
      const got = magnitudes(op as AugmentOp, bins, 32, 28);
      assert.equal(got.signed, want.signed, op);
      assert.deepEqual(got.values, want.values.length === 1 && want.values[0] === 0 ? [0] : want.values, `${op} (${bins} bins)`);
    }
});

test('the policies: seeded and repeatable, RandAugment changes the image at magnitude 9, AutoAugment keeps the size', () => {
  const img = imageOf('cifar');
  const a = randAugment(img, {}, mulberry32(5)).data;
  assert.deepEqual(randAugment(img, {}, mulberry32(5)).data, a, 'same seed, same result');
  let changed = 0;
  for (let s = 0; s < 20; s++) if (randAugment(img, {}, mulberry32(s)).data.some((v, i) => v !== img.data[i])) changed++;
  assert.ok(changed >= 15, `RandAugment changed ${changed} of 20 images (Identity twice is rare)`);
  for (const policy of ['cifar10', 'imagenet', 'svhn'] as const) {
    const out = autoAugment(img, policy, mulberry32(9));
    assert.equal(out.data.length, img.data.length);
  }
});

test('the loader renders the strong view with its own augmentation, the first view without; workers agree', async () => {
  const ds = data.syntheticDataset({ length: 40, size: 16, seed: 2, channels: 3 });
  const opts = {
    batchSize: 8,
    shuffle: true,
    seed: 4,
    views: 2 as const,
    augment: { cropPadding: 2, hflip: true },
    strongAugment: { cropPadding: 2, hflip: true, randAugment: { numOps: 2, magnitude: 9, numMagnitudeBins: 31 } },
  };
  const loader = new data.DataLoader(ds, opts);
  const plain = new data.DataLoader(ds, { ...opts, strongAugment: null });
  const [b] = [...loader.epochSync(0)];
  const [p] = [...plain.epochSync(0)];
  assert.deepEqual(b!.views[0]!.tolist(), p!.views[0]!.tolist(), 'the first view is the weak one either way');
  assert.notDeepEqual(b!.views[1]!.tolist(), p!.views[1]!.tolist(), 'the second view is augmented further');
  const workers = new data.DataLoader(ds, { ...opts, numWorkers: 2 });
  let k = 0;
  const sync = [...loader.epochSync(0)];
  for await (const w of workers.epoch(0)) {
    assert.deepEqual(w.views[1]!.tolist(), sync[k]!.views[1]!.tolist(), `batch ${k}`);
    w.dispose();
    k++;
  }
  await workers.close();
  for (const x of [...sync, b!, p!]) x.dispose();
});
