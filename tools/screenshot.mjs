#!/usr/bin/env node
// Opens a demo page in headless Debian Chromium (WebGPU on) and saves a PNG of what a person sees.
// Usage: node tools/screenshot.mjs [--page demo/index.html] [--out screenshots/capabilities.png]
//        [--run "<JS to run once the page has loaded, e.g. start a generation>"]
//        [--wait "<JS expression that becomes true when the page is ready>"] [--width 1200]
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from './serve.mjs';

const { values } = parseArgs({
  options: {
    page: { type: 'string', default: 'demo/index.html' },
    out: { type: 'string', default: 'screenshots/capabilities.png' },
    run: { type: 'string', default: '' },
    wait: { type: 'string', default: "[...document.querySelectorAll('accel-capabilities')].every((e) => e.report)" },
    width: { type: 'string', default: '1200' },
    'color-scheme': { type: 'string', default: 'light' },
    timeout: { type: 'string', default: '60000' },
  },
});

const server = createStaticServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/${values.page}`;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: values['color-scheme'] }]);
  await page.setViewport({ width: Number(values.width), height: 800 });
  await page.goto(url, { waitUntil: 'load' });
  if (values.run) await page.evaluate(values.run);
  await page.waitForFunction(values.wait, { timeout: Number(values.timeout), polling: 100 });
  await new Promise((r) => setTimeout(r, 200));
  await mkdir(dirname(values.out), { recursive: true });
  await page.screenshot({ path: values.out, fullPage: true });
  const crossOriginIsolated = await page.evaluate(() => globalThis.crossOriginIsolated);
  console.log(`saved ${values.out} from ${url} (crossOriginIsolated: ${crossOriginIsolated})`);
  if (errors.length) {
    console.error(`page errors:\n${errors.join('\n')}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  server.close();
}
