// `distill dashboard` in a real browser (Debian's chromium, driven by puppeteer-core): the run list
// renders with each run's status and accuracy, a followed run's curve gains a point when a line is
// appended to its log, a torn log line is skipped and said; the server refuses a port in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import puppeteer from 'puppeteer-core';
import { startDashboard, findRuns } from '../src/dashboard/server.js';
import { data, engine, exportOnnx, noGrad, tidy } from '../src/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'distill-dash-'));
const epoch = (n: number, top1: number) =>
  JSON.stringify({
    event: 'epoch',
    stage: 'main',
    epoch: n,
    lr: 0.05,
    losses: { ce: 1 / n, kd: 0.5 / n, total: 1.5 / n },
    trainTop1: top1 - 5,
    top1,
    top5: 99,
    imgPerSec: 900,
    seconds: 10,
  }) + '\n';

function makeRun(name: string, method: string, lines: string, options: { finished?: boolean; running?: boolean } = {}): void {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      name,
      method: { name: method },
      student: { model: 'resnet8' },
      teacher: { model: 'resnet20' },
      solver: { epochs: 5 },
    }),
  );
  writeFileSync(path.join(dir, 'log.jsonl'), lines);
  if (options.finished) writeFileSync(path.join(dir, 'result.json'), '{}');
  if (options.running) writeFileSync(path.join(dir, '.lock'), JSON.stringify({ pid: process.pid }));
}

test('the runs under a folder: status, epochs, accuracy, ETA; torn lines counted', () => {
  makeRun('kd-run', 'kd', epoch(1, 70) + epoch(2, 75), { running: true });
  makeRun('dkd-run', 'dkd', epoch(1, 72) + epoch(2, 80) + epoch(3, 79) + '{"event":"epo', { finished: true });
  // A hand-edited run: an epoch line without its numbers, a config with a string where a number goes.
  makeRun('odd/run', 'kd', '{"event":"epoch","stage":"main"}\n', { running: true });
  writeFileSync(path.join(root, 'odd', 'run', 'config.json'), '{"solver":{"epochs":"many"},"method":{"name":7}}');
  const odd = findRuns(root).find((r) => r.id === 'odd/run')!;
  assert.deepEqual(
    [odd.method, odd.epochs, odd.bestTop1, odd.imgPerSec, odd.etaSeconds, odd.totalEpochs],
    ['7', 1, null, null, null, null],
  );
  rmSync(path.join(root, 'odd'), { recursive: true });
  const runs = findRuns(root);
  assert.deepEqual(
    runs.map((r) => [r.id, r.status, r.epochs, r.bestTop1, r.lastTop1, r.skippedLines]),
    [
      ['dkd-run', 'finished', 3, 80, 79, 1],
      ['kd-run', 'running', 2, 75, 75, 0],
    ],
  );
  assert.equal(runs[1]!.etaSeconds, 30, 'three epochs left at 10 s each');
});

test('in headless Chromium: the list renders, a followed curve gains a point when the log grows', async () => {
  const server = await startDashboard(root, { port: 0, pollMs: 100 });
  const port = (server.address() as AddressInfo).port;
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 2);
    const rows = await page.$$eval('#runs tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText.split('\t')));
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[3], r[5]]),
      [
        ['dkd-run', 'dkd', 'finished', '80.00'],
        ['kd-run', 'kd', 'running', '75.00'],
      ],
    );
    assert.match(await page.$eval('#skipped', (e) => (e as HTMLElement).innerText), /dkd-run \(1\)/);
    await page.evaluate(() => (window as unknown as { dashboard: { follow(id: string): void } }).dashboard.follow('kd-run'));
    await page.waitForFunction(() => (window as unknown as { dashboard: { points(): number } }).dashboard.points() === 2);
    assert.equal(await page.$$eval('#charts .uplot', (c) => c.length), 4, 'losses, accuracy, lr and img/s');
    appendFileSync(path.join(root, 'kd-run', 'log.jsonl'), epoch(3, 77));
    await page.waitForFunction(() => (window as unknown as { dashboard: { points(): number } }).dashboard.points() === 3, {
      timeout: 10_000,
    });
    // The comparison groups a config's seeds as compare's report does: mean ± sample std.
    makeRun('grp-seed0', 'sdd', epoch(1, 80));
    makeRun('grp-seed1', 'sdd', epoch(1, 82));
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#comparison tbody tr')].some((tr) => (tr as HTMLElement).innerText.startsWith('grp')),
    );
    const grp = await page.$$eval('#comparison tbody tr', (trs) =>
      trs.map((tr) => (tr as HTMLElement).innerText.split('\t').slice(0, 4)),
    );
    assert.deepEqual(grp[0], ['grp', 'sdd', '2', '81.00 ± 1.41']);
    assert.deepEqual(errors, []);
    await page.screenshot({ path: path.join(root, 'dashboard.png') });
  } finally {
    await browser.close();
    server.close();
  }
});

test('a port in use and a missing folder are refused with a message', async () => {
  const first = await startDashboard(root, { port: 0 });
  const port = (first.address() as AddressInfo).port;
  await assert.rejects(startDashboard(root, { port }), new RegExp(`port ${port} is in use: pick another with --port`));
  first.close();
  await assert.rejects(startDashboard(path.join(root, 'missing')), /runs folder .*missing not found/);
});

test('in headless Chromium: the exported student runs in the page (ONNX Runtime Web) and predicts a test image as distill-ts does', async () => {
  const runs = path.join(root, 'real');
  const config = engine.validateConfig(
    {
      name: 'tiny',
      dataset: { name: 'synthetic', trainSubset: 64, testSubset: 16 },
      student: { model: 'resnet8' },
      solver: { epochs: 1, batchSize: 32, lr: 0.05 },
      runtime: { threads: 1, workers: 0 },
      output: runs,
    },
    'tiny',
  );
  const r = await engine.runExperiment(config);
  const test = engine.loadSplit(config.dataset, config.seed, 'test');
  const shape = {
    numClasses: test.numClasses,
    inChannels: test.channels,
    inputShape: [test.channels, test.height, test.width] as [number, number, number],
  };
  const deployed = engine.loadDeployed(config, path.join(r.outDir, 'best.pt'), shape);
  const batch = new data.DataLoader(test, { batchSize: 1 }).epochSync(0).next().value!;
  const want = noGrad(() => tidy(() => Array.from(deployed.logits(batch.images).dataSync() as Float32Array)));
  exportOnnx(deployed.network, batch.images, path.join(r.outDir, 'student.onnx'));
  batch.dispose();
  deployed.release();
  const server = await startDashboard(runs, { port: 0 });
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 1);
    type Dashboard = { follow(id: string): Promise<void>; ready(): boolean; predictSample(i: number): Promise<number[]> };
    await page.evaluate(() => (window as unknown as { dashboard: Dashboard }).dashboard.follow('tiny'));
    await page.waitForFunction(() => (window as unknown as { dashboard: Dashboard }).dashboard.ready(), { timeout: 30_000 });
    const got = await page.evaluate(() => (window as unknown as { dashboard: Dashboard }).dashboard.predictSample(0));
    assert.equal(got.length, want.length);
    want.forEach((v, i) =>
      assert.ok(
        Math.abs(v - got[i]!) <= 1e-4 * Math.max(1, Math.abs(v)),
        `logit ${i}: ${got[i]} in the browser, ${v} in distill-ts`,
      ),
    );
    assert.match(await page.$eval('#prediction', (e) => (e as HTMLElement).innerText), /prediction: .*label: .*; \d+\.\d ms/);
    assert.equal(await page.$$eval('#gallery canvas', (c) => c.length), 12);
  } finally {
    await browser.close();
    server.close();
  }
});
