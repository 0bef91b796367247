// PNG charts for reports: Vega-Lite specs rendered to SVG by Vega, then to PNG by resvg.
import { writeFileAtomic } from '../tensor/index.js';
import type { TopLevelSpec } from 'vega-lite';

export async function renderPng(spec: TopLevelSpec, file: string): Promise<void> {
  // Loaded here, not with the library: Vega, Vega-Lite and resvg hold ~50 MB a training process
  // that never draws a chart (or draws one at the end) should not carry through every step.
  const [vega, { compile }, { Resvg }] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG(2);
  view.finalize();
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' })
    .render()
    .asPng();
  writeFileAtomic(file, png);
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  width: 480,
  height: 260,
  background: 'white',
} as const;

/** Lines of y over x, one per series. */
export function lineChart(
  title: string,
  points: { x: number; y: number; series: string }[],
  xTitle: string,
  yTitle: string,
): TopLevelSpec {
  return {
    ...base,
    title,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle, axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false } },
      // Full series names: Vega cuts legend labels at 160 px by default.
      color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 0, orient: 'bottom', columns: 2 } },
    },
  } as TopLevelSpec;
}

/** Horizontal bars with error bars (mean ± std) and a label per bar. */
export function barChart(title: string, bars: { label: string; value: number; std: number }[], valueTitle: string): TopLevelSpec {
  const values = bars.map((b) => ({ ...b, lo: b.value - b.std, hi: b.value + b.std, text: b.value.toFixed(2) }));
  const min = Math.min(...values.map((v) => v.lo));
  const max = Math.max(...values.map((v) => v.hi));
  const pad = Math.max(0.5, (max - min) * 0.15);
  const x = {
    field: 'value',
    type: 'quantitative',
    title: valueTitle,
    scale: { domain: [Math.floor(min - pad), Math.ceil(max + pad)] },
  };
  const y = { field: 'label', type: 'nominal', title: null, sort: null };
  return {
    ...base,
    title,
    data: { values },
    layer: [
      { mark: { type: 'bar', clip: true }, encoding: { x, y } },
      { mark: { type: 'rule' }, encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, y } },
      {
        mark: { type: 'text', align: 'left', dx: 4 },
        encoding: { x: { field: 'hi', type: 'quantitative' }, y, text: { field: 'text' } },
      },
    ],
  } as TopLevelSpec;
}
