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
<h2>Comparison (best test top-1)</h2>
<table id="comparison"><thead><tr><th>run</th><th>method</th><th>best top-1</th><th></th></tr></thead><tbody></tbody></table>
<script src="/uplot.js"></script>
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
    tr.onclick = () => follow(r.id);
    return tr;
  }));
  const skipped = runs.filter((r) => r.skippedLines > 0);
  document.querySelector('#skipped').textContent = skipped.length
    ? 'Skipped lines that are not JSON: ' + skipped.map((r) => r.id + ' (' + r.skippedLines + ')').join(', ') : '';
  const ranked = runs.filter((r) => r.bestTop1 !== null).sort((a, b) => b.bestTop1 - a.bestTop1);
  const top = Math.max(1, ...ranked.map((r) => r.bestTop1));
  document.querySelector('#comparison tbody').replaceChildren(...ranked.map((r) => {
    const tr = document.createElement('tr');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = (200 * r.bestTop1 / top) + 'px';
    const td = document.createElement('td');
    td.append(bar);
    tr.append(cell(r.id), cell(r.method), cell(fmt(r.bestTop1)), td);
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
    for (const [k, v] of Object.entries(line.losses)) (s.losses[k] ??= new Array(s.x.length - 1).fill(null)).push(v);
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

/** For tests and scripts: how many epochs the followed run's curves show. */
window.dashboard = { points: () => (state.series ? state.series.x.length : 0), follow, refresh };
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
