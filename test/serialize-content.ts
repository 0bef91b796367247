// The content of test/fixtures/js_saved.pt: deterministic, so tests can rebuild it byte for byte.
import { arange, tensor, type Saveable } from '../src/index.js';

export function jsSavedContent(): Saveable {
  return {
    epoch: 12,
    lr: 0.05,
    tag: 'resnet8x4',
    weights: {
      weight: arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3).div(4),
      labels: tensor([3, 1, 2], { dtype: 'int64' }),
    },
    list: [tensor([1.5, -2], { dtype: 'float64' }), tensor([true, false, true])],
  };
}
