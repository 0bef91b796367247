// End to end through the CLI on a generated image folder, as a user with their own photos would
// run it: fine-tune a torchvision ResNet-18 from "ImageNet" weights (its 1000-class head
// replaced), then distill it into a MobileNetV3-Small with KD, streaming JPEGs decoded by sharp
// with RandomResizedCrop, flip and ColorJitter; a corrupt JPEG among them is skipped and reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createModel, dispose, engine, load, manualSeed, save } from '../src/index.js';
import { cliIn } from './helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'distill-imagenet-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const distill = cliIn(dir);

/** Three classes told apart by colour and texture, photos of 120x90 to 150x110 pixels. */
async function makePhotos(root: string): Promise<void> {
  const classes = ['red_stripes', 'green_dots', 'blue_plain'];
  for (const split of ['train', 'val'] as const)
    for (const [ci, cls] of classes.entries()) {
      const d = path.join(root, split, cls);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < (split === 'train' ? 12 : 4); i++) {
        const [w, h] = [120 + 10 * (i % 4), 90 + 7 * (i % 3)];
        const raw = Buffer.alloc(w * h * 3);
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const texture = ci === 0 ? ((x >> 3) & 1) * 60 : ci === 1 ? (((x >> 2) + (y >> 2)) & 1) * 50 : 0;
            const noise = (x * 31 + y * 17 + i * 7) % 23;
            const rgb = [ci === 0 ? 190 : 40, ci === 1 ? 170 : 50, ci === 2 ? 200 : 60].map((v) =>
              Math.min(255, v + texture + noise),
            );
            raw.set(rgb, (y * w + x) * 3);
          }
        await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
          .jpeg({ quality: 88 })
          .toFile(path.join(d, `${cls}_${i}.jpg`));
      }
    }
  // A download cut short, among the training photos.
  const whole = readFileSync(path.join(root, 'train', classes[0]!, `${classes[0]}_0.jpg`));
  writeFileSync(path.join(root, 'train', classes[0]!, 'truncated.jpg'), whole.subarray(0, whole.length >> 1));
}

test('fine-tune a torchvision.resnet18 from 1000-class weights, then distill it into torchvision.mobilenet_v3_small with KD, streaming JPEGs', async () => {
  const photos = path.join(dir, 'photos');
  await makePhotos(photos);
  // "ImageNet" weights: a 1000-class torchvision ResNet-18 state dict, as torch.save writes it.
  manualSeed(5);
  const imagenet = createModel('torchvision.resnet18', { numClasses: 1000 });
  const sd = imagenet.stateDict();
  save(sd, path.join(dir, 'resnet18-imagenet.pth'));
  dispose(sd);
  imagenet.dispose();

  const data = `dataset:
  name: imagefolder
  root: ${photos}
  stream: true
  size: 64
  maxCorruptFraction: 0.05
  augment:
    randomResizedCrop: { scale: [0.35, 1] }
    hflip: true
    colorJitter: { brightness: 0.2, contrast: 0.2, saturation: 0.2 }`;
  writeFileSync(
    path.join(dir, 'teacher.yaml'),
    `name: teacher
${data}
student: { model: torchvision.resnet18, pretrained: resnet18-imagenet.pth }
solver: { epochs: 3, batchSize: 12, lr: 0.01 }
runtime: { threads: 2, workers: 1 }
`,
  );
  const t = distill(['train', 'teacher.yaml']);
  assert.equal(t.code, 0, t.err);
  const said = t.out + t.err;
  assert.match(said, /student\.pretrained: fc\.weight, fc\.bias replaced/);
  assert.match(
    said,
    /epoch 1: skipped 1 image that did not decode, e\.g\. .*truncated\.jpg: (corrupt or truncated image data|.*premature end)/i,
  );
  const teacherCkpt = path.join(dir, 'runs', 'teacher', 'student.pt');
  assert.ok(existsSync(teacherCkpt));

  writeFileSync(
    path.join(dir, 'kd.yaml'),
    `name: kd
${data}
teacher: { model: torchvision.resnet18, checkpoint: ${teacherCkpt} }
student: { model: torchvision.mobilenet_v3_small }
method: { name: kd }
solver: { epochs: 2, batchSize: 12, lr: 0.01 }
runtime: { threads: 2, workers: 2 }
`,
  );
  const kd = distill(['run', 'kd.yaml']);
  assert.equal(kd.code, 0, kd.err);
  const result = JSON.parse(readFileSync(path.join(dir, 'runs', 'kd', 'result.json'), 'utf8')) as {
    bestTop1: number;
    teacherTop1: number;
    student: string;
    history: { top1: number; losses: Record<string, number> }[];
  };
  assert.equal(result.student, 'torchvision.mobilenet_v3_small');
  assert.equal(result.history.length, 2);
  assert.ok(result.history.every((h) => Number.isFinite(h.losses.kd!) && h.top1 >= 0 && h.top1 <= 100));
  assert.ok(Number.isFinite(result.teacherTop1));
  // The deployed student loads into torchvision's MobileNetV3-Small with 3 classes.
  const student = createModel('torchvision.mobilenet_v3_small', { numClasses: 3 });
  const file = path.join(dir, 'runs', 'kd', 'student.pt');
  student.loadStateDict(engine.extractStateDict(load(file), file));
  student.dispose();

  // A checkpoint of another architecture as the teacher: refused before training, naming both.
  writeFileSync(
    path.join(dir, 'wrong.yaml'),
    readFileSync(path.join(dir, 'kd.yaml'), 'utf8')
      .replace('model: torchvision.resnet18,', 'model: torchvision.resnet34,')
      .replace('name: kd', 'name: wrong'),
  );
  const wrong = distill(['run', 'wrong.yaml']);
  assert.equal(wrong.code, 2, wrong.err);
  assert.match(
    wrong.err,
    /these weights are a torchvision\.resnet18, the config asks for torchvision\.resnet34: \d+ keys missing, e\.g\. layer1\.2\.conv1\.weight/,
  );
});
