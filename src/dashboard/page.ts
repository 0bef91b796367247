// The dashboard's page: the run list (refreshed every 2 s), a run's live curves (uPlot, fed by the
// run's log as server-sent events) and a comparison of the runs' best accuracy.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>distill-ts dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  table { border-collapse: collapse; margin-bottom: 1.5em; }
  th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; text-align: left; }
  tr.run { cursor: pointer; }
  tr.run:hover, tr.selected { background: #eef4ff; }
  .status-running { color: #0a7d2c; font-weight: 600; }
  .status-stopped { color: #a15c00; }
  .bar { display: inline-block; height: 0.8em; background: #4c78a8; vertical-align: middle; }
  .charts { display: flex; flex-wrap: wrap; gap: 1em; }
  .note { color: #a15c00; }
  h2 { margin-top: 1.2em; }
</style>
</head>
<body>
<h1>distill-ts runs</h1>
<table id="runs"><thead><tr><th>run</th><th>method</th><th>teacher → student</th><th>status</th><th>epochs</th><th>best top-1</th><th>last top-1</th><th>img/s</th><th>ETA</th></tr></thead><tbody></tbody></table>
<div id="skipped" class="note"></div>
<h2 id="title">Pick a run to follow its curves</h2>
<div class="charts" id="charts"></div>
<div id="infer" hidden>
<h2>The exported student in this browser (ONNX Runtime Web, WebAssembly)</h2>
<p>Click a test image, or drop an image file on this box: <span id="drop" style="display:inline-block;border:1px dashed #888;padding:0.6em 2em">drop an image here</span></p>
<div id="gallery"></div>
<p id="prediction"></p>
</div>
<h2>Comparison (best test top-1 over seeds; click a heading to sort, hover a bar for the seeds)</h2>
<table id="comparison"><thead><tr><th data-sort="key">run</th><th data-sort="method">method</th><th>seeds</th><th data-sort="mean">best top-1 (mean ± std)</th><th></th></tr></thead><tbody></tbody></table>
<script src="/uplot.js"></script>
<script src="/ort/ort.min.js"></script>
<script>
const state = { runs: [], selected: null, source: null, charts: {}, series: null };
const fmt = (v, d = 2) => (v === null || v === undefined ? '' : Number(v).toFixed(d));
const eta = (s) => (s === null ? '' : s < 90 ? Math.round(s) + ' s' : Math.round(s / 60) + ' min');

function cell(text) { const td = document.createElement('td'); td.textContent = text; return td; }

async function refresh() {
  const runs = await (await fetch('/api/runs')).json();
  state.runs = runs;
  const body = document.querySelector('#runs tbody');
  body.replaceChildren(...runs.map((r) => {
    const tr = document.createElement('tr');
    tr.className = 'run' + (r.id === state.selected ? ' selected' : '');
    tr.dataset.id = r.id;
    const status = cell(r.status);
    status.className = 'status-' + r.status;
    tr.append(cell(r.id), cell(r.method), cell((r.teacher ?? '—') + ' → ' + r.student), status,
      cell(r.epochs + (r.totalEpochs ? ' / ' + r.totalEpochs : '')), cell(fmt(r.bestTop1)), cell(fmt(r.lastTop1)),
      cell(fmt(r.imgPerSec, 0)), cell(eta(r.etaSeconds)));
    tr.onclick = () => followRun(r.id);
    return tr;
  }));
  const skipped = runs.filter((r) => r.skippedLines > 0);
  document.querySelector('#skipped').textContent = skipped.length
    ? 'Skipped lines that are not JSON: ' + skipped.map((r) => r.id + ' (' + r.skippedLines + ')').join(', ') : '';
  // As compare's report: the runs of one config over seeds (name-seedN) as mean ± sample std.
  const groups = new Map();
  for (const r of runs.filter((r) => r.bestTop1 !== null)) {
    const key = r.id.replace(/-seed\\d+$/, '');
    if (!groups.has(key)) groups.set(key, { key, method: r.method, values: [] });
    groups.get(key).values.push(r.bestTop1);
  }
  const rows = [...groups.values()].map((g) => {
    const n = g.values.length;
    const mean = g.values.reduce((a, b) => a + b, 0) / n;
    const std = n > 1 ? Math.sqrt(g.values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
    return { ...g, n, mean, std };
  });
  const key = state.sortBy ?? 'mean';
  rows.sort((a, b) => (key === 'mean' ? b.mean - a.mean : String(a[key]).localeCompare(String(b[key]))));
  const lo = Math.min(...rows.map((r) => r.mean), 100);
  const hi = Math.max(...rows.map((r) => r.mean), 0);
  document.querySelector('#comparison tbody').replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    const bar = document.createElement('span');
    bar.className = 'bar';
    // The bars span the range of the means, so that small gaps show.
    bar.style.width = (20 + 280 * (r.mean - lo) / Math.max(hi - lo, 1e-9)) + 'px';
    bar.title = r.values.map((v) => v.toFixed(2)).join(', ');
    const td = document.createElement('td');
    td.append(bar);
    tr.append(cell(r.key), cell(r.method), cell(String(r.n)), cell(fmt(r.mean) + (r.std === null ? '' : ' ± ' + fmt(r.std))), td);
    return tr;
  }));
}

function chart(key, title, names) {
  const el = document.createElement('div');
  document.querySelector('#charts').append(el);
  const opts = { title, width: 420, height: 240, scales: { x: { time: false } },
    series: [{ label: 'epoch' }, ...names.map((n, i) => ({ label: n, stroke: ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2'][i % 6] }))] };
  state.charts[key] = { plot: new uPlot(opts, [[], ...names.map(() => [])], el), names };
}

function follow(id) {
  state.selected = id;
  state.source?.close();
  document.querySelector('#charts').replaceChildren();
  state.charts = {};
  state.series = { x: [], losses: {}, train: [], test: [], lr: [], imgPerSec: [] };
  document.querySelector('#title').textContent = 'Run ' + id;
  document.querySelectorAll('#runs tr.run').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === id));
  const source = new EventSource('/api/log?run=' + encodeURIComponent(id));
  state.source = source;
  source.onmessage = (m) => {
    const line = JSON.parse(m.data);
    if (line.event !== 'epoch') return;
    const s = state.series;
    s.x.push(s.x.length + 1);
    for (const [k, v] of Object.entries(line.losses ?? {})) (s.losses[k] ??= new Array(s.x.length - 1).fill(null)).push(v);
    for (const k of Object.keys(s.losses)) if (s.losses[k].length < s.x.length) s.losses[k].push(null);
    s.train.push(line.trainTop1); s.test.push(line.top1); s.lr.push(line.lr); s.imgPerSec.push(line.imgPerSec);
    draw();
  };
}

function draw() {
  const s = state.series;
  const lossNames = Object.keys(s.losses);
  const set = (key, title, names, columns) => {
    const c = state.charts[key];
    if (!c || c.names.join() !== names.join()) { c?.plot.destroy(); document.querySelector('#charts').replaceChildren(); state.charts = {}; return false; }
    c.plot.setData([s.x, ...columns]);
    return true;
  };
  const ok = set('losses', 'losses (epoch means)', lossNames, lossNames.map((k) => s.losses[k]))
    && set('accuracy', 'top-1 (%)', ['train', 'test'], [s.train, s.test])
    && set('lr', 'learning rate', ['lr'], [s.lr]) && set('speed', 'img/s', ['img/s'], [s.imgPerSec]);
  if (!ok) {
    chart('losses', 'losses (epoch means)', lossNames);
    chart('accuracy', 'top-1 (%)', ['train', 'test']);
    chart('lr', 'learning rate', ['lr']);
    chart('speed', 'img/s', ['img/s']);
    draw();
  }
}

// In-browser inference on the followed run's exported student.
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1; // no cross-origin isolation on a plain local page
async function loadInference(id) {
  const box = document.querySelector('#infer');
  const run = state.runs.find((r) => r.id === id);
  box.hidden = !run || !run.hasOnnx;
  state.session = null;
  if (box.hidden) return;
  const [model, data] = await Promise.all([
    fetch('/api/model?run=' + encodeURIComponent(id)).then((r) => r.arrayBuffer()),
    fetch('/api/samples?run=' + encodeURIComponent(id) + '&n=12').then((r) => r.json()),
  ]);
  state.session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  state.data = data;
  const [c, h, w] = data.shape;
  document.querySelector('#gallery').replaceChildren(...data.samples.map((s) => {
    const canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h; canvas.style.width = 3 * w + 'px'; canvas.style.imageRendering = 'pixelated';
    canvas.style.margin = '2px'; canvas.style.cursor = 'pointer';
    const img = canvas.getContext('2d').createImageData(w, h);
    for (let i = 0; i < h * w; i++) for (let k = 0; k < 3; k++) img.data[4 * i + k] = s.pixels[(c === 3 ? k : 0) * h * w + i];
    for (let i = 0; i < h * w; i++) img.data[4 * i + 3] = 255;
    canvas.getContext('2d').putImageData(img, 0, 0);
    canvas.onclick = () => predict(Float32Array.from(s.pixels), s.label);
    return canvas;
  }));
}

/** Normalises uint8 pixels [C, H, W] as the run's data, runs the student, shows the top classes and the latency. */
async function predict(pixels, label) {
  const { shape, mean, std, classes } = state.data;
  const [c, h, w] = shape;
  const x = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) x[k * h * w + i] = (pixels[k * h * w + i] / 255 - mean[k]) / std[k];
  const started = performance.now();
  const out = await state.session.run({ input: new ort.Tensor('float32', x, [1, c, h, w]) });
  const ms = performance.now() - started;
  const logits = Array.from(out[state.session.outputNames[0]].data);
  const order = logits.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
  const nameOf = (i) => (classes ? classes[i] : 'class ' + i);
  document.querySelector('#prediction').textContent = 'prediction: ' + order.map(([v, i]) => nameOf(i) + ' (' + v.toFixed(2) + ')').join(', ')
    + (label === undefined ? '' : '; label: ' + nameOf(label)) + '; ' + ms.toFixed(1) + ' ms';
  state.lastLogits = logits;
  return logits;
}

const drop = document.querySelector('#drop');
drop.ondragover = (e) => e.preventDefault();
drop.ondrop = async (e) => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (!file || !state.session) return;
  const [c, h, w] = state.data.shape;
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const pixels = new Float32Array(c * h * w);
  for (let i = 0; i < h * w; i++) {
    if (c === 3) for (let k = 0; k < 3; k++) pixels[k * h * w + i] = rgba[4 * i + k];
    else pixels[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
  }
  predict(pixels);
};

const followCurves = follow;
async function followRun(id) {
  followCurves(id);
  await loadInference(id);
}

/** For tests and scripts: the curves' epoch count, following a run, inference on a test image. */
window.dashboard = {
  points: () => (state.series ? state.series.x.length : 0),
  follow: followRun,
  refresh,
  predictSample: async (i) => predict(Float32Array.from(state.data.samples[i].pixels), state.data.samples[i].label),
  ready: () => state.session !== null && state.session !== undefined,
};
document.querySelectorAll('#comparison th[data-sort]').forEach((th) => {
  th.style.cursor = 'pointer';
  th.onclick = () => { state.sortBy = th.dataset.sort; refresh(); };
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
