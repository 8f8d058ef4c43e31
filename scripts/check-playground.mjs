// The playground in a real browser (headless Chromium, driven over the DevTools protocol by
// puppeteer-core). Run it through scripts/check-playground, which checks that what it needs
// is installed.
//
//   node scripts/check-playground.mjs [screenshot.png]
//
// It starts `convnets serve` with a quickly trained model (scripts/playground-server.mjs),
// opens the page with every request outside 127.0.0.1 blocked, and checks, as a learner
// would use it:
//   - the page loads with nothing from the network and no script errors;
//   - a "1" drawn as a mouse stroke on the canvas is predicted as 1;
//   - every layer's feature-map images loaded, and the Grad-CAM picture;
//   - clicking a conv output opens the microscope, whose sum plus bias through the ReLU is
//     the value shown for the feature map (for conv2d_1 and conv2d_2), and clicking a
//     max-pooling output shows a winner equal to the shown value;
//   - a bad request gets a JSON error and the page's server keeps answering.
// It saves a screenshot (target/playground/playground.png by default) and exits 1, listing
// each failure, if anything is wrong.

import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { startServer, workDir } from './playground-server.mjs';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshot = path.resolve(process.argv[2] ?? path.join(workDir, 'playground.png'));
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const { url, stop } = await startServer();
let browser;
try {
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1500, height: 1000 });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const target = request.url();
    if (target.startsWith(url) || target.startsWith('data:')) {
      request.continue();
    } else {
      problems.push(`asked the network for ${target}`);
      request.abort();
    }
  });

  const settled = () => page.waitForFunction(
    () => document.body.dataset.settled === '1' && document.body.dataset.busy === '0', { timeout: 30_000 });

  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('section.layer[data-layer="0"] figure.tile');
  await settled();

  // Draw a "1": clear the pad, then one thick vertical stroke down its middle.
  await page.click('#clear');
  await settled();
  const pad = await page.$('#pad');
  const box = await pad.boundingBox();
  const x = box.x + box.width * 0.5;
  await page.mouse.move(x, box.y + box.height * 0.15);
  await page.mouse.down();
  for (let i = 1; i <= 30; i += 1) {
    await page.mouse.move(x, box.y + box.height * (0.15 + (0.7 * i) / 30));
  }
  await page.mouse.up();
  await settled();

  const prediction = await page.$eval('#prediction', (e) => e.textContent.trim());
  const probability = await page.$eval('#prediction', (e) => Number(e.dataset.probability));
  check(prediction === '1', `the stroke is predicted as 1 (got ${prediction}, ${(100 * probability).toFixed(1)}%)`);
  const seenInk = await page.$eval('#seen', (canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, 28, 28).data;
    let ink = 0;
    for (let i = 0; i < data.length; i += 4) ink += data[i] > 128 ? 1 : 0;
    return ink;
  });
  check(seenInk > 20, `the model's 28×28 input shows the stroke (${seenInk} bright pixels)`);

  // The feature maps and the Grad-CAM picture.
  await page.waitForFunction(() => [...document.querySelectorAll('img.sprite')].every((i) => i.complete), { timeout: 10_000 });
  const sprites = await page.$$eval('img.sprite', (images) => images.map((i) => ({
    layer: i.closest('section').dataset.layer,
    ok: i.complete && i.naturalWidth > 0,
    size: `${i.naturalWidth}×${i.naturalHeight}`,
  })));
  check(sprites.length === 5 && sprites.every((s) => s.ok),
    `the feature-map images of ${sprites.length} layers loaded (${sprites.map((s) => s.size).join(', ')})`);
  const tiles = await page.$$eval('section.layer[data-loaded="1"] figure.tile', (t) => t.length);
  check(tiles === 32 + 32 + 64 + 64 + 64, `every channel has its tile (${tiles})`);
  const cam = await page.$eval('#cam', (i) => i.complete && i.naturalWidth === 224);
  check(cam, 'the Grad-CAM picture loaded');

  // The microscope on a conv output, clicked on its tile: the sum plus the bias, through the
  // ReLU, is the value in the feature map.
  const clickOutput = async (layer, channel, row, col) => {
    const tile = await page.$(`section.layer[data-layer="${layer}"] figure.tile[data-channel="${channel}"] canvas`);
    await tile.scrollIntoView();
    const t = await tile.boundingBox();
    const [h, w] = await tile.evaluate((c) => [c.height, c.width]);
    await page.mouse.click(t.x + ((col + 0.5) * t.width) / w, t.y + ((row + 0.5) * t.height) / h);
    await settled();
    return page.$eval('#micro-body', (b) => {
      const read = (id) => {
        const e = document.getElementById(id);
        return e ? { value: Number(e.dataset.value), shown: e.textContent.trim() } : null;
      };
      return {
        kind: b.dataset.kind,
        where: b.querySelector('.where')?.textContent ?? '',
        sum: read('micro-sum'), bias: read('micro-bias'), pre: read('micro-pre'),
        output: read('micro-output'), value: read('micro-value'),
        winner: b.querySelector('td.winner')?.title ?? null,
        padding: b.querySelectorAll('td.pad').length,
      };
    });
  };
  const close = (a, b) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
  // The brightest pixel of conv2d_2's first channel that is not flat: a value the ReLU kept.
  const bright = await page.$$eval('section.layer[data-layer="2"] figure.tile:not(.silent)', (figures) => {
    const figure = figures[0];
    const canvas = figure.querySelector('canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let best = 0;
    for (let i = 4; i < data.length; i += 4) if (data[i] > data[best]) best = i;
    const pixel = best / 4;
    return [2, Number(figure.dataset.channel), Math.floor(pixel / canvas.width), pixel % canvas.width];
  });
  for (const [layer, channel, row, col] of [[0, 3, 13, 13], [2, 5, 5, 5], bright]) {
    const m = await clickOutput(layer, channel, row, col);
    const where = `layer ${layer}, channel ${channel}, (${row}, ${col})`;
    check(m.kind === 'conv' && m.where.includes(`row ${row}, col ${col}, channel ${channel}`),
      `the microscope opens on the clicked conv output ${where}: "${m.where}"`);
    if (m.sum && m.bias && m.output && m.value) {
      const relu = Math.max(0, m.sum.value + m.bias.value);
      check(close(relu, m.value.value),
        `ReLU(sum ${m.sum.shown} + bias ${m.bias.shown}) = ${relu.toFixed(5)} is the feature map's ${m.value.shown} (${where})`);
      check(m.output.shown === m.value.shown, `the arithmetic's result ${m.output.shown} is shown as the map's value ${m.value.shown}`);
      const marker = await page.$(`section.layer[data-layer="${layer}"] figure.tile[data-channel="${channel}"] .marker`);
      check(marker !== null, `the clicked pixel is marked on its tile (${where})`);
    } else {
      check(false, `the microscope shows the sum, bias, output and value (${where})`);
    }
  }
  const pool = await clickOutput(1, 3, 6, 6);
  check(pool.kind === 'pool' && pool.winner !== null && close(Number(pool.winner), pool.value.value),
    `max_pooling2d_1's microscope: the winner ${pool.winner} is the map's value ${pool.value?.shown}`);

  // A bad request from the page's own origin: a JSON error, and the server keeps answering.
  // (Chromium logs the 400 as a console error: that one is expected.)
  const before = problems.length;
  const bad = await page.evaluate(async () => {
    const r = await fetch('/api/predict', { method: 'POST', body: '{"pixels": [1, 2' });
    return { status: r.status, body: await r.json() };
  });
  check(bad.status === 400 && /malformed JSON/.test(bad.body.error), `malformed JSON gets 400: "${bad.body.error}"`);
  const again = await page.evaluate(async () => (await fetch('/api/model')).status);
  check(again === 200, 'the server still answers afterwards');
  problems.splice(before, problems.length - before,
    ...problems.slice(before).filter((p) => !p.includes('status of 400 (Bad Request)')));

  // Back to the conv2d_1 pixel for the picture, then the screenshot.
  await clickOutput(0, 3, 13, 13);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot, fullPage: true });
  // The first screen, at 0.8 of the size (1200 × 800): the README's picture.
  const view = screenshot.replace(/\.png$/, '-view.png');
  await page.setViewport({ width: 1500, height: 1000, deviceScaleFactor: 0.8 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: view });
  console.log(`screenshots: ${screenshot} (the whole page), ${view} (the first screen)`);

  check(problems.length === 0, `no network requests, script or console errors${problems.length ? `: ${problems.join('; ')}` : ''}`);
} catch (error) {
  failures.push(error.stack ?? String(error));
  console.error(error);
} finally {
  if (browser) await browser.close();
  await stop();
}

if (failures.length) {
  console.error(`\n${failures.length} check(s) failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('\nthe playground works in Chromium');
