#!/usr/bin/env node
// Opens pages in headless Chromium and checks what a visitor would see.
//   node test/pages/run.mjs --demos      every page linked from demo/index.html (needs `npm run build`):
//                                        its accel-* elements upgrade and render, no page errors; the
//                                        quantization page loads both precisions and q4 takes less memory
//   node test/pages/run.mjs --storybook  every story of storybook-static/ (needs `npm run build-storybook`):
//                                        it renders its accel-* elements, no page errors
//   --screenshots                        also saves, once the page has settled (models loaded, reports and
//                                        cache listings in), screenshots/demo-<page>.png of every demo page
//                                        (demo-<page>-dark.png for a few in dark mode) and
//                                        screenshots/storybook-<story>.png of the playground and theming stories
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

const DARK_SHOTS = new Set(['demo/index.html', 'demo/cache.html', 'demo/chat.html']);

/** Waits (best effort, 120 s) until models are loaded or failed, reports are in and caches are listed. */
async function settle(page) {
  await page
    .waitForFunction(
      () => {
        const all = (tag) => [...document.querySelectorAll(tag)];
        return (
          all('accel-model').every((m) => !m.preload || m.status === 'ready' || m.status === 'error') &&
          all('accel-capabilities').every((c) => c.report) &&
          all('accel-cache').every((c) => c.usage && (c.entries.length > 0 || !document.querySelector('accel-model[preload]')))
        );
      },
      { timeout: 120_000, polling: 250 },
    )
    .catch(() => console.error('  (page did not settle within 120 s; screenshot as it is)'));
  await new Promise((ok) => setTimeout(ok, 300));
}

// What a visitor would do first on a page before the picture is taken, so it shows output, not empty boxes:
// the prompt to send to each stream (null: its own prompt attribute), or running the benchmark.
const ACTIONS = {
  'demo/chat.html': { generate: 'Tell me my fortune.' },
  'demo/remote-chat.html': { generate: 'Tell me my fortune.' },
  'demo/stream.html': { generate: null },
  'demo/quantization.html': { generate: null },
  'demo/benchmark.html': { benchmark: true },
  'demo/transcribe.html': { click: '#sample', until: ['accel-stream', 'accel-done'] },
  'demo/image-classification.html': { click: '#sample', until: ['accel-image-classifier', 'accel-classified'] },
};

async function act(page, name) {
  const a = ACTIONS[name];
  if (!a) return;
  await page
    .evaluate(
      async (a) => {
        const wait = (p) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error('timed out')), 150_000))]);
        if (a.click) {
          const done = new Promise((ok) => document.querySelector(a.until[0]).addEventListener(a.until[1], ok, { once: true }));
          document.querySelector(a.click).click();
          await wait(done);
        }
        if (a.benchmark) await wait(document.querySelector('accel-benchmark').run());
        if ('generate' in a) await wait(Promise.all([...document.querySelectorAll('accel-stream')].map((s) => s.generate(a.generate ?? s.prompt))));
      },
      a,
    )
    .catch((e) => console.error(`  (${name}: ${e.message}; screenshot as it is)`));
  await new Promise((ok) => setTimeout(ok, 500));
}

async function visit(browser, url, name, extra) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
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
    // --screenshots keeps a picture of each demo page as a visitor sees it, light and (some) dark
    if (args.includes('--screenshots') && name.startsWith('demo/')) {
      await settle(page);
      await act(page, name);
      const file = name.replace(/^demo\//, 'demo-').replace(/\.html$/, '');
      await page.screenshot({ path: join(ROOT, `screenshots/${file}.png`), fullPage: true });
      if (DARK_SHOTS.has(name)) {
        await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
        await new Promise((ok) => setTimeout(ok, 300));
        await page.screenshot({ path: join(ROOT, `screenshots/${file}-dark.png`), fullPage: true });
      }
    }
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

// The cache page preloads the shipped model, so the manager must list its files, weights included.
const cachePage = async (page) => {
  await page.waitForFunction(() => document.querySelector('accel-cache')?.entries.some((e) => e.id.endsWith('/model.safetensors')), { timeout: 120_000 });
  const rows = await page.$eval('accel-cache', (c) => c.shadowRoot.querySelectorAll('[part~="entry"]').length);
  if (rows < 5) throw new Error(`the cache manager shows ${rows} files of the model, expected at least 5`);
};

// The playground loads the shipped model; --screenshots keeps a picture of each playground story.
const playground = (id) => async (page) => {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('accel-model')?.status), { timeout: 120_000 });
  const status = await page.$eval('accel-model', (m) => m.status);
  if (status !== 'ready') throw new Error(`the playground's model is ${status}`);
  // model + stream + benchmark working together: the picture shows generated text and benchmark results
  if (args.includes('--screenshots')) await page.evaluate(async () => {
    const stream = document.querySelector('accel-stream');
    await stream.generate(stream.prompt);
    await document.querySelector('accel-benchmark').run();
  });
  if (args.includes('--screenshots')) await page.screenshot({ path: join(ROOT, `screenshots/storybook-${id.replace(/--/, '-')}.png`), fullPage: true });
};

// The theming story: light, dark and brand panels must really differ; --screenshots keeps a picture.
const theming = (id) => async (page) => {
  await settle(page);
  if (args.includes('--screenshots')) await page.evaluate(() => Promise.all([...document.querySelectorAll('accel-stream')].map((s) => s.generate(s.prompt))));
  const colors = await page.$$eval('accel-cache', (els) => els.map((e) => getComputedStyle(e.shadowRoot.querySelector('[part~="base"]')).backgroundColor));
  if (new Set(colors).size !== 3) throw new Error(`light, dark and brand panels should have 3 different backgrounds: ${colors.join(', ')}`);
  if (args.includes('--screenshots')) await page.screenshot({ path: join(ROOT, `screenshots/storybook-${id.replace(/--/, '-')}.png`), fullPage: true });
};

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  if (modes.includes('--demos')) {
    if (!existsSync(join(ROOT, 'dist/accel.min.js'))) throw new Error('dist/accel.min.js is missing: run `npm run build` first.');
    const index = readFileSync(join(ROOT, 'demo/index.html'), 'utf8');
    const pages = ['index.html', ...[...index.matchAll(/href="([a-z0-9-]+\.html)"/g)].map((m) => m[1])];
    const { server, base } = await serve({});
    try {
      for (const p of pages) await visit(browser, `${base}/demo/${p}`, `demo/${p}`, p === 'quantization.html' ? quantization : p === 'cache.html' ? cachePage : undefined);
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
      for (const s of stories) await visit(browser, `${base}/iframe.html?id=${s.id}&viewMode=story`, `story ${s.id}`, s.id.startsWith('playground--') ? playground(s.id) : s.id === 'theming--side-by-side' ? theming(s.id) : undefined);
    } finally {
      server.close();
    }
  }
} finally {
  await browser.close();
}
console.log(`${checked} pages ok, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
