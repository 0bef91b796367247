// Every method that needs a teacher takes training steps on the pairs of the ImageNet tables
// (torchvision.resnet34 -> resnet18, resnet50 -> mobilenet_v2) with its default features: the
// stage outputs of the feature contract. Small images (64x64) keep it quick; the shapes follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { createModel, data, distillers, engine, optim, setNumThreads, tidy, type Tensor } from '../src/index.js';

setNumThreads(2);
const SIZE = 64;
const dataset = data.syntheticDataset({ length: 64, channels: 3, size: SIZE, numClasses: 10, seed: 1 });

const pairs: [string, string][] = [
  ['torchvision.resnet34', 'torchvision.resnet18'],
  ['torchvision.resnet50', 'torchvision.mobilenet_v2'],
];

for (const [teacherName, studentName] of pairs) {
  const methods = distillers.methodNames().filter((m) => distillers.methodNeedsTeacher(m));
  test(`${teacherName} -> ${studentName}: every method with a teacher (${methods.length}) takes two finite steps and moves the student`, () => {
    torch.manualSeed(0);
    const failures: string[] = [];
    for (const method of methods) {
      const teacher = createModel(teacherName, { numClasses: 10 });
      const student = createModel(studentName, { numClasses: 10 });
      try {
        const d = distillers.createDistiller(
          method,
          student,
          teacher,
          {},
          {
            inputShape: [3, SIZE, SIZE],
            trainLabels: dataset.labels,
            studentModel: studentName,
          },
        );
        // 60 fresh teachers taking two steps each: packing their Winograd kernels (~0.1 s per
        // million weights, once per run in training) would double this test's time. The method
        // plumbing is what it tests; test/winograd.test.ts tests the algorithm.
        d.teacherConvAlgorithm = 'direct';
        const before = tidy(() => student.parameters().map((p) => p.detach().clone().keep()));
        const opt = new optim.SGD(d.learnableParameters(), { lr: 0.01, momentum: 0.9 });
        const loader = new data.DataLoader(dataset, {
          batchSize: 8,
          shuffle: true,
          dropLast: true,
          seed: 1,
          views: d.views,
          classPairs: d.classPairs,
        });
        const batches = loader.epochSync(0);
        for (let i = 0; i < 2; i++) {
          const b = batches.next().value!;
          const r = engine.trainStep(d, b, { epoch: 0, epochs: 1, step: i }, opt);
          b.dispose();
          if (!Number.isFinite(r.losses.total)) failures.push(`${method}: loss ${r.losses.total}`);
        }
        const moved = tidy(() => student.parameters().filter((p, i) => p.sub(before[i]!).abs().max().item() > 0).length);
        if (moved < student.parameters().length / 2) failures.push(`${method}: only ${moved} student parameters moved`);
        torch.dispose(before as Tensor[]);
        for (const m of d.extraModules()) m.dispose();
      } catch (err) {
        failures.push(`${method}: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        teacher.dispose();
        student.dispose();
      }
    }
    // Methods that compare features channel by channel need equal widths: they refuse a pair
    // without them, naming the fix (as they refuse resnet32x4 -> ShuffleV1 on CIFAR).
    const refused = failures.filter((f) =>
      /channel by channel: .*name features of equal width \(method\.options\.features\)/.test(f),
    );
    assert.deepEqual(
      failures.filter((f) => !refused.includes(f)),
      [],
    );
    assert.deepEqual(
      refused.map((f) => f.split(':')[0]),
      studentName.endsWith('mobilenet_v2') ? ['kdsvd', 'fsp', 'distplus'] : [],
    );
  });
}
