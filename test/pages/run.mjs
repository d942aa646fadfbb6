#!/usr/bin/env node
// Opens pages in headless Chromium and checks what a visitor would see.
//   node test/pages/run.mjs --demos      every page linked from demo/index.html (needs `npm run build`):
//                                        its accel-* elements upgrade and render, no page errors; the
//                                        quantization page loads both precisions and q4 takes less memory
//   node test/pages/run.mjs --storybook  every story of storybook-static/ (needs `npm run build-storybook`):
//                                        it renders its accel-* elements, no page errors
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from '../../tools/serve.mjs';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const args = process.argv.slice(2);
const modes = args.filter((a) => a === '--demos' || a === '--storybook');
if (!modes.length) throw new Error('say --demos and/or --storybook');

const failures = [];
let checked = 0;

async function upgradedElements(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('*')]
      .filter((el) => el.localName.startsWith('accel-'))
      .map((el) => ({ tag: el.localName, upgraded: Boolean(customElements.get(el.localName) && el instanceof customElements.get(el.localName) && el.shadowRoot && el.shadowRoot.childElementCount > 0) })),
  );
}

async function visit(browser, url, name, extra) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => [...document.querySelectorAll('*')].some((el) => el.localName.startsWith('accel-') && el.shadowRoot?.childElementCount > 0), { timeout: 15_000 }).catch(() => undefined);
    const els = await upgradedElements(page);
    const bad = els.filter((e) => !e.upgraded).map((e) => e.tag);
    if (bad.length) throw new Error(`not upgraded/rendered: ${bad.join(', ')}`);
    if (extra) await extra(page);
    if (errors.length) throw new Error(`page errors: ${errors.join(' | ')}`);
    // --screenshots keeps a picture of each demo page as a visitor sees it
    if (args.includes('--screenshots') && name.startsWith('demo/')) await page.screenshot({ path: join(ROOT, `screenshots/${name.replace(/^demo\//, 'demo-').replace(/\.html$/, '')}.png`), fullPage: true });
    checked++;
    console.log(`ok ${name} (${els.map((e) => e.tag).join(', ')})`);
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
    console.error(`FAIL ${name}: ${e.message}`);
  } finally {
    await page.close();
  }
}

async function serve(options) {
  const server = createStaticServer(options);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}

const quantization = async (page) => {
  await page.waitForFunction(() => [...document.querySelectorAll('accel-model')].every((m) => m.status === 'ready' || m.status === 'error'), { timeout: 120_000 });
  const models = await page.evaluate(() => [...document.querySelectorAll('accel-model')].map((m) => ({ precision: m.precision, status: m.status, bytes: m.model?.info?.memory?.weightBytes ?? null })));
  if (models.length !== 2 || models.some((m) => m.status !== 'ready')) throw new Error(`both models should load: ${JSON.stringify(models)}`);
  const [full, q4] = models;
  if (!(q4.bytes > 0 && full.bytes > 0 && q4.bytes < full.bytes / 2)) throw new Error(`q4 weights should take under half the original: ${JSON.stringify(models)}`);
};

// The playground loads the shipped model; --screenshots keeps a picture of each playground story.
const playground = (id) => async (page) => {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('accel-model')?.status), { timeout: 120_000 });
  const status = await page.$eval('accel-model', (m) => m.status);
  if (status !== 'ready') throw new Error(`the playground's model is ${status}`);
  if (args.includes('--screenshots')) await page.screenshot({ path: join(ROOT, `screenshots/storybook-${id.replace(/--/, '-')}.png`), fullPage: true });
};

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  if (modes.includes('--demos')) {
    if (!existsSync(join(ROOT, 'dist/accel.min.js'))) throw new Error('dist/accel.min.js is missing: run `npm run build` first.');
    const index = readFileSync(join(ROOT, 'demo/index.html'), 'utf8');
    const pages = ['index.html', ...[...index.matchAll(/href="([a-z0-9-]+\.html)"/g)].map((m) => m[1])];
    const { server, base } = await serve({});
    try {
      for (const p of pages) await visit(browser, `${base}/demo/${p}`, `demo/${p}`, p === 'quantization.html' ? quantization : undefined);
    } finally {
      server.close();
    }
  }
  if (modes.includes('--storybook')) {
    const root = join(ROOT, 'storybook-static');
    if (!existsSync(join(root, 'index.json'))) throw new Error('storybook-static/ is missing: run `npm run build-storybook` first.');
    const stories = Object.values(JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')).entries).filter((e) => e.type === 'story');
    if (stories.length === 0) throw new Error('storybook-static/index.json lists no stories');
    const { server, base } = await serve({ root });
    try {
      for (const s of stories) await visit(browser, `${base}/iframe.html?id=${s.id}&viewMode=story`, `story ${s.id}`, s.id.startsWith('playground--') ? playground(s.id) : undefined);
    } finally {
      server.close();
    }
  }
} finally {
  await browser.close();
}
console.log(`${checked} pages ok, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
