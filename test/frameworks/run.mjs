#!/usr/bin/env node
// Builds each framework app under test/frameworks/ with its own tool chain and checks it in headless
// Chromium: the elements upgrade, attributes follow framework state, accel-* events land in framework
// state, and generation on the shipped model shows text. Needs the kit built first (`npm run build`).
//   node test/frameworks/run.mjs [--install] [vue svelte react angular]
// --install runs `npm ci` in each app folder first (what `npm run test:frameworks` does).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from '../../tools/serve.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '../..');
const ALL = ['vue', 'svelte', 'react', 'angular'];
const args = process.argv.slice(2);
const install = args.includes('--install');
const apps = args.filter((a) => !a.startsWith('--'));
const selected = apps.length ? apps : ALL;
for (const a of selected) if (!ALL.includes(a)) throw new Error(`unknown app "${a}"; expected some of ${ALL.join(', ')}`);
if (!existsSync(join(ROOT, 'dist/index.js')) || !existsSync(join(ROOT, 'dist/custom-elements.json'))) {
  throw new Error('dist/ is missing: run `npm run build` first (the apps consume the built package).');
}

const seconds = (t0) => Math.round((performance.now() - t0) / 100) / 10;
function step(app, script, cmd, cmdArgs) {
  const t0 = performance.now();
  execFileSync(cmd, cmdArgs, { cwd: join(HERE, app), stdio: 'inherit', env: { ...process.env, NG_CLI_ANALYTICS: 'false' } });
  const s = seconds(t0);
  console.log(`[${app}] ${script}: ${s}s`);
  return s;
}

const PROMPT = 'You will';
const EDITED = 'Your future';
const TIMEOUT = 120_000;

async function check(browser, app, port) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  try {
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
    await page.waitForSelector('accel-stream', { timeout: 30_000 });
    // upgraded: the tags are the kit's classes with their shadow roots rendered
    const upgraded = await page.evaluate(() =>
      ['accel-model', 'accel-stream'].map((tag) => {
        const el = document.querySelector(tag);
        const ctor = customElements.get(tag);
        return Boolean(ctor && el instanceof ctor && el.shadowRoot && el.shadowRoot.childElementCount > 0);
      }),
    );
    if (!upgraded.every(Boolean)) throw new Error(`elements not upgraded: accel-model ${upgraded[0]}, accel-stream ${upgraded[1]}`);
    const attrs = () =>
      page.evaluate(() => {
        const s = document.querySelector('accel-stream');
        const m = document.querySelector('accel-model');
        return { prompt: s.getAttribute('prompt'), maxTokens: s.getAttribute('max-tokens'), src: m.getAttribute('src'), backend: m.getAttribute('backend') };
      });
    const first = await attrs();
    const want = { prompt: PROMPT, maxTokens: '12', src: '/models/tiny-llama/', backend: 'wasm' };
    if (JSON.stringify(first) !== JSON.stringify(want)) throw new Error(`attributes from state: got ${JSON.stringify(first)}, want ${JSON.stringify(want)}`);
    // state change → attribute: type into the framework's input
    await page.click('#prompt', { count: 3 });
    await page.keyboard.press('Backspace');
    await page.type('#prompt', EDITED);
    await page.waitForFunction((t) => document.querySelector('accel-stream').getAttribute('prompt') === t, { timeout: 10_000 }, EDITED);
    // accel-ready → framework state
    await page.waitForFunction(() => document.querySelector('#ready')?.textContent.trim() === 'wasm' || document.querySelector('accel-model').status === 'error', { timeout: TIMEOUT }).catch(() => undefined);
    const ready = await page.evaluate(() => ({ state: document.querySelector('#ready').textContent.trim(), status: document.querySelector('accel-model').status, text: document.querySelector('accel-model').shadowRoot.textContent.replace(/\s+/g, ' ').trim() }));
    if (ready.state !== 'wasm') throw new Error(`accel-ready never reached framework state (#ready "${ready.state}"); accel-model is ${ready.status}: ${ready.text}`);
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelector('#result')?.textContent.trim().length > 0, { timeout: TIMEOUT }).catch(async (e) => {
      throw new Error(`no accel-done text in framework state (#result); element says "${await page.$eval('accel-stream', (s) => s.shadowRoot.textContent.replace(/\s+/g, ' ').trim())}": ${e.message}`);
    });
    const out = await page.evaluate(() => {
      const s = document.querySelector('accel-stream');
      return {
        result: document.querySelector('#result').textContent.trim(),
        tokens: Number(document.querySelector('#tokens').textContent),
        elementOutput: s.output.trim(),
        shown: s.shadowRoot.querySelector('[part~="output"]')?.textContent.trim() ?? '',
      };
    });
    if (!(out.tokens > 0 && out.tokens <= 12)) throw new Error(`token count from accel-token in state: ${out.tokens}, want 1…12`);
    if (out.result !== out.elementOutput) throw new Error(`accel-done text in state "${out.result}" ≠ element output "${out.elementOutput}"`);
    if (!out.shown.includes(out.result)) throw new Error(`generated text not shown in the element: "${out.shown}"`);
    if (await page.$('#hook-generate')) {
      // React: useModel + useGenerate on the same prompt must give the element's text
      await page.waitForFunction(() => document.querySelector('#hook-status')?.textContent === 'ready', { timeout: TIMEOUT });
      await page.click('#hook-generate');
      await page.waitForFunction(() => document.querySelector('#hook-result')?.textContent.trim().length > 0, { timeout: TIMEOUT });
      const hooks = await page.$eval('#hook-result', (p) => p.textContent.trim());
      if (hooks !== out.result) throw new Error(`useGenerate gave "${hooks}", the element "${out.result}"`);
      out.hooks = true;
    }
    if (await page.$('#caps')) {
      // React 19 plain tag: on<event-name> prop → listener → state
      await page.waitForFunction(() => document.querySelector('#caps').textContent === 'browser', { timeout: 30_000 }).catch(async () => {
        throw new Error(`accel-capabilities-ready on a plain <accel-capabilities> never reached state: "${await page.$eval('#caps', (o) => o.textContent)}"`);
      });
    }
    if (errors.length) throw new Error(`page errors: ${errors.join(' | ')}`);
    return out;
  } finally {
    await page.close();
  }
}

// The README's framework snippets are the apps' files, verbatim.
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SNIPPETS = { vue: 'src/App.vue', svelte: 'src/App.svelte', react: 'src/App.tsx', angular: 'src/app/app.ts' };
const snippetErrors = selected.filter((app) => {
  const marker = `<!-- test/frameworks/${app}/${SNIPPETS[app]} -->\n`;
  const at = readme.indexOf(marker);
  if (at < 0) return true;
  const block = readme.slice(at + marker.length).match(/^```[a-z]*\n([\s\S]*?)\n```/);
  return !block || block[1] !== readFileSync(join(HERE, app, SNIPPETS[app]), 'utf8').replace(/\n$/, '');
});
if (snippetErrors.length) console.error(`README.md snippets differ from the apps: ${snippetErrors.join(', ')}`);

const report = [];
const texts = new Map();
let failed = snippetErrors.length > 0;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  for (const app of selected) {
    const row = { app };
    try {
      if (install) row.install = step(app, 'npm ci', 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
      row.typecheck = step(app, 'typecheck', 'npm', ['run', '--silent', 'typecheck']);
      row.build = step(app, 'build', 'npm', ['run', '--silent', 'build']);
      const dist = ['dist/browser', 'dist'].map((d) => join(HERE, app, d)).find((d) => existsSync(join(d, 'index.html')));
      const server = createStaticServer({ root: dist, mounts: { '/models/': join(ROOT, 'models') } });
      await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
      const t0 = performance.now();
      try {
        const out = await check(browser, app, server.address().port);
        row.test = seconds(t0);
        texts.set(app, out.result);
        console.log(`[${app}] ok in ${row.test}s: ${out.tokens} tokens, "${out.result}"${out.hooks ? ' (hooks: same text)' : ''}`);
      } finally {
        server.close();
      }
    } catch (e) {
      failed = true;
      row.error = e.message;
      console.error(`[${app}] FAILED: ${e.message}`);
    }
    report.push(row);
  }
} finally {
  await browser.close();
}
// same prompt, greedy decoding, same backend: every framework must show the same text
if (new Set(texts.values()).size > 1) {
  failed = true;
  console.error(`texts differ between frameworks: ${JSON.stringify(Object.fromEntries(texts))}`);
}
console.table(report);
process.exit(failed ? 1 : 0);
