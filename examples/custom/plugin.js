// A distill-ts plugin: a user's own CNN, a custom distillation loss registered as a method, and a
// small data set of oriented stripes. distill-ts calls the default export with its API, so this
// file needs no import of the package and works wherever it lives.
export default function register(distill) {
  const { nn, F, Module, Distiller, registerModel, registerMethod, registerDataset, imageDataset } = distill;

  /** conv3x3 + BN + ReLU, the building block of the CNN below. */
  const convBnRelu = (cin, cout, stride) =>
    new nn.Sequential(new nn.Conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), new nn.BatchNorm2d(cout), new nn.ReLU());

  /** A plain CNN: stem, two down-sampling blocks, global pooling, classifier. forward(x) returns logits. */
  class StripeNet extends Module {
    constructor({ numClasses, inChannels }, width) {
      super();
      this.stem = this.registerModule('stem', convBnRelu(inChannels, width, 1));
      this.block1 = this.registerModule('block1', convBnRelu(width, 2 * width, 2));
      this.block2 = this.registerModule('block2', convBnRelu(2 * width, 4 * width, 2));
      this.pool = this.registerModule('pool', new nn.AdaptiveAvgPool2d(1));
      this.fc = this.registerModule('fc', new nn.Linear(4 * width, numClasses));
    }
    forward(x) {
      const h = this.block2.forward(this.block1.forward(this.stem.forward(x)));
      return this.fc.forward(this.pool.forward(h).flatten(1));
    }
  }
  registerModel('stripenet_wide', (o) => new StripeNet(o, 16), { description: 'example plugin: a plain CNN, width 16' });
  registerModel('stripenet', (o) => new StripeNet(o, 4), { description: 'example plugin: the same CNN, width 4' });

  /** Logit regression (Ba & Caruana 2014): w_ce · CE + w_kd · MSE(z_s, z_t). */
  class LogitMSE extends Distiller {
    constructor(student, teacher, options) {
      super(student, teacher);
      this.options = options;
    }
    forwardTrain(batch) {
      const zS = this.studentLogits(batch.images);
      const zT = this.teacherLogits(batch.images);
      return {
        logits: zS,
        losses: { ce: this.ce(zS, batch.labels).mul(this.options.ceWeight), mse: F.mseLoss(zS, zT).mul(this.options.kdWeight) },
      };
    }
  }
  registerMethod('logit_mse', {
    create: (student, teacher, options) => new LogitMSE(student, teacher, options),
    options: { ceWeight: 1, kdWeight: 0.5 }, // plain defaults: the schema is inferred
    needsTeacher: true,
    description: 'example plugin: logit regression (Ba & Caruana 2014)',
    paper: 'https://arxiv.org/abs/1312.6184',
  });

  /** 16x16 grey images of faint stripes at one of six angles under heavy noise: six classes. */
  function stripes(length, seed) {
    let s = seed >>> 0;
    const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    const size = 16;
    const images = new Uint8Array(length * size * size);
    const labels = new Int32Array(length);
    const angles = [0, 1, 2, 3, 4, 5].map((k) => (k * Math.PI) / 6);
    for (let i = 0; i < length; i++) {
      const label = Math.floor(rand() * 6);
      const [c, sn, phase] = [Math.cos(angles[label]), Math.sin(angles[label]), rand() * 6.28];
      labels[i] = label;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const v = 0.5 + 0.12 * Math.sin((x * c + y * sn) * 1.3 + phase) + (rand() - 0.5) * 0.9;
          images[i * size * size + y * size + x] = Math.max(0, Math.min(255, Math.round(v * 255)));
        }
    }
    return imageDataset({ name: 'stripes', images, labels, channels: 1, height: size, width: size, numClasses: 6 });
  }
  registerDataset('stripes', {
    load: (spec, split) => (split === 'train' ? stripes(spec.trainSubset ?? 1024, 1) : stripes(spec.testSubset ?? 256, 2)),
    description: 'example plugin: faint oriented stripes under noise, 16x16 grey, 6 classes',
  });
}
