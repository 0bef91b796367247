// Writes test/fixtures/js_saved.pt with our engine; scripts/make_fixtures.py then loads it in
// PyTorch and records what it saw (js_saved.seen-by-pytorch.json). Run: npm run build && node dist/scripts/write_js_fixture.js
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsSavedContent } from '../test/serialize-content.js';
import { save } from '../src/index.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'js_saved.pt');
save(jsSavedContent(), out);
console.log(`wrote ${out}`);
