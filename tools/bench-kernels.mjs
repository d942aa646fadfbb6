// npm run bench:kernels — times every kernel on the wasm backend vs the cpu (plain JS) reference in
// headless Chromium: bundles tools/bench-kernels/page.ts with esbuild, serves it from a local http
// server, reads the rows from the page, prints a table and writes bench-results/kernels-wasm.json.
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import puppeteer from 'puppeteer-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = join(root, 'bench-results/tmp/bench-kernels');
await mkdir(tmp, { recursive: true });
await build({
  entryPoints: [join(root, 'tools/bench-kernels/page.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outfile: join(tmp, 'page.js'),
  logLevel: 'warning',
});
const html = '<!doctype html><meta charset="utf-8"><title>bench:kernels</title><script type="module" src="/page.js"></script>';
const server = createServer(async (req, res) => {
  if (req.url === '/page.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(await readFile(join(tmp, 'page.js')));
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-background-networking', '--disable-component-update'],
});
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  await page.goto(url);
  const started = Date.now();
  let last = '';
  for (;;) {
    const state = await page.evaluate(() => ({ done: window.__benchKernels ?? null, error: window.__benchError ?? null, progress: window.__benchProgress ?? '' }));
    if (state.error) throw new Error(`benchmark page failed: ${state.error}`);
    if (state.done) {
      result = state.done;
      break;
    }
    if (state.progress !== last) {
      last = state.progress;
      process.stderr.write(`  done: ${last}\n`);
    }
    if (Date.now() - started > 20 * 60_000) throw new Error('benchmark did not finish in 20 minutes');
    await new Promise((r) => setTimeout(r, 500));
  }
} finally {
  await browser.close();
  server.close();
}

const fmt = (v, d = 2) => (v === null ? '—' : v.toFixed(d));
const pad = (s, n) => String(s).padEnd(n);
const lines = [`${pad('op', 20)}${pad('shape', 24)}${pad('backend', 8)}${pad('median ms', 12)}${pad('GFLOP/s', 10)}${pad('GB/s', 10)}speed-up`];
for (let i = 0; i < result.rows.length; i += 2) {
  const w = result.rows[i];
  const c = result.rows[i + 1];
  for (const r of [w, c]) {
    const up = r === w ? `${(c.medianMs / w.medianMs).toFixed(1)}×` : '';
    lines.push(`${pad(r.op, 20)}${pad(r.shape, 24)}${pad(r.backend, 8)}${pad(fmt(r.medianMs, 3), 12)}${pad(fmt(r.gflops), 10)}${pad(fmt(r.gbps), 10)}${up}`);
  }
}
console.log(lines.join('\n'));
const out = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', loadavg: os.loadavg(), platform: `${os.platform()} ${os.arch()}` },
  note: 'Medians of wall-clock samples (each sample ≥ 20 ms of back-to-back calls); single-threaded wasm (page not cross-origin isolated); GB/s counts the bytes each op must read (weights / caches) and write once.',
  ...result,
};
await mkdir(join(root, 'bench-results'), { recursive: true });
await writeFile(join(root, 'bench-results/kernels-wasm.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log('\nwrote bench-results/kernels-wasm.json');
