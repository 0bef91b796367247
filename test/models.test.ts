// The model zoo against mdistiller's architectures (transcribed in scripts/zoo_reference.py):
// the same parameter counts and state-dict keys, the feature contract, and a PyTorch wrn_40_2
// checkpoint loading to the same outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as torch from '../src/index.js';
import { createZooModel, load, models, noGrad, tidy, setNumThreads, type Tensor } from '../src/index.js';
import { engine } from '../src/index.js';
import { assertClose, decode, fixtureDir, readFixture, type Encoded } from './helpers.js';

const zoo = readFixture<{
  models: Record<string, { parameters: number; keys: string[] }>;
  wrn_40_2: { x: Encoded; logits: Encoded; pooled: Encoded; feat_sums: number[] };
}>('zoo.json');

setNumThreads(2);

for (const [name, ref] of Object.entries(zoo.models)) {
  test(`${name}: ${ref.parameters} parameters and PyTorch's state-dict keys; the feature contract at 32x32x3 and 28x28x1`, () => {
    const m = createZooModel(name, { numClasses: 100 });
    assert.equal(m.numParameters(), ref.parameters);
    assert.deepEqual(
      Object.keys(m.stateDict()).filter((k) => !k.endsWith('num_batches_tracked')),
      ref.keys.filter((k) => !k.endsWith('num_batches_tracked')),
    );
    assert.deepEqual(Object.keys(m.stateDict()), ref.keys);
    for (const [inChannels, size] of [
      [3, 32],
      [1, 28],
    ] as const) {
      tidy(() => {
        const model = inChannels === 3 ? m : createZooModel(name, { numClasses: 10, inChannels });
        model.eval();
        const out = noGrad(() => model.forward(torch.randn([2, inChannels, size, size])));
        assert.deepEqual(out.logits.shape, [2, inChannels === 3 ? 100 : 10]);
        assert.equal(out.feats.length, model.featChannels.length);
        assert.equal(out.preactFeats.length, out.feats.length);
        out.feats.forEach((f, i) => {
          assert.equal(f.shape[1], model.featChannels[i], `feats[${i}] channels`);
          assert.deepEqual(out.preactFeats[i]!.shape, f.shape, `preactFeats[${i}] shape`);
        });
        assert.deepEqual(out.pooled.shape, [2, model.pooledDim]);
        if (model !== m) model.dispose();
      });
    }
    m.dispose();
  });
}

test('the registry knows every model of the reference zoo, and unknown names get the list', () => {
  for (const name of Object.keys(zoo.models)) assert.ok(models.modelNames().includes(name), name);
  assert.ok(models.modelNames().includes('mobile_half'));
  assert.throws(() => createZooModel('resnet9'), /unknown model 'resnet9'; available: resnet8, /);
});

test("a PyTorch wrn_40_2 checkpoint ({model: state_dict}, mdistiller's shape) loads to the same outputs", () => {
  const file = path.join(fixtureDir, 'wrn_40_2_fmnist.pt');
  const m = createZooModel('wrn_40_2', { numClasses: 10, inChannels: 1 });
  m.loadStateDict(engine.extractStateDict(load(file), file));
  m.eval();
  const out = noGrad(() => m.forward(decode(zoo.wrn_40_2.x)));
  assertClose(out.logits, zoo.wrn_40_2.logits, 'logits', 1e-4, 1e-5);
  assertClose(out.pooled, zoo.wrn_40_2.pooled, 'pooled', 1e-4, 1e-5);
  out.feats.forEach((f: Tensor, i: number) => {
    const sum = f.sum().item();
    const want = zoo.wrn_40_2.feat_sums[i]!;
    assert.ok(Math.abs(sum - want) <= 1e-3 * Math.max(1, Math.abs(want)), `feats[${i}] sum ${sum} vs ${want}`);
  });
});

// The CIFAR zoo; torchvision's networks have their own tests (torchvision-models.test.ts).
const cifarZoo = () => models.modelNames().filter((n) => !n.startsWith('torchvision.'));

test("batchNormsBeforeRelu names, per stage after the stem, a BatchNorm of that stage's width (mdistiller's get_bn_before_relu; OFD's margins)", () => {
  let named = 0;
  for (const name of cifarZoo()) {
    const m = createZooModel(name, { numClasses: 10 });
    const paths = m.batchNormsBeforeRelu();
    if (paths) {
      assert.equal(paths.length, m.featChannels.length - 1, name);
      paths.forEach((p, i) => {
        const bn = m.getSubmodule(p);
        assert.ok(bn instanceof torch.nn.BatchNorm2d, `${name} ${p}`);
        assert.equal(bn.weight!.shape[0], m.featChannels[i + 1], `${name} ${p}`);
      });
      named++;
    } else assert.match(name, /Shuffle/, `${name} has no BatchNorms before its ReLUs`);
    m.dispose();
  }
  assert.ok(named >= 20, `${named} models`);
});

test('pooledMap is the map each zoo model pools into `pooled` (CAT-KD reads class activation maps from it)', () => {
  for (const name of cifarZoo()) {
    const m = createZooModel(name, { numClasses: 10 });
    m.eval();
    tidy(() =>
      noGrad(() => {
        const o = m.forward(torch.randn([2, 3, 32, 32]));
        assert.equal(o.pooledMap.shape[1], m.pooledDim, name);
        const gap = o.pooledMap.mean([2, 3]).sub(o.pooled).abs().max().item();
        assert.ok(gap < 1e-5, `${name}: pooling pooledMap differs from pooled by ${gap}`);
      }),
    );
    m.dispose();
  }
});
