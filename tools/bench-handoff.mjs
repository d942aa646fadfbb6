#!/usr/bin/env node
// What handing a hidden state from one worker to another costs (the price of pipeline sharding, see
// docs/pipeline-sharding.md), in headless Chromium from the built bundle (npm run build:js first):
//  - postMessage round trip page ↔ dedicated Worker and page ↔ SharedWorker port, for Float32Arrays of
//    one decode step's hidden state (D = 576, 2048, 4096) and a 128-token prefill (128 × 2048), copied
//    (structured clone) and transferred;
//  - GPU → CPU → GPU of a [1, D] tensor on the webgpu backend (workers cannot share GPU buffers, so every
//    hand-off between GPU-resident stages pays a readback and an upload) and on wasm;
//  - one decode step of the shipped tiny-llama on wasm, the work a hand-off would be added to.
// Usage: node tools/bench-handoff.mjs [--iterations 300] [--out bench-results/handoff.json]
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from './serve.mjs';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '300' }, out: { type: 'string', default: 'bench-results/handoff.json' } } });
const server = createStaticServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await puppeteer.launch({
  protocolTimeout: 20 * 60 * 1000,
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${origin}/demo/index.html`, { waitUntil: 'load' });
  const result = await page.evaluate(async ({ iterations }) => {
    const { getEngine } = await import('/dist/accel.min.js');
    const engine = getEngine();
    const caps = await engine.capabilities();
    const stats = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return { medianUs: 1000 * s[Math.floor(s.length / 2)], p90Us: 1000 * s[Math.floor(s.length * 0.9)] };
    };
    const echo = 'const reply = (p, d) => p.postMessage(d, d && d.buffer ? [d.buffer] : []);';
    const dedicated = new Worker(URL.createObjectURL(new Blob([`${echo} onmessage = (e) => reply(self, e.data);`], { type: 'text/javascript' })));
    const shared = new SharedWorker(URL.createObjectURL(new Blob([`${echo} onconnect = (c) => { const p = c.ports[0]; p.onmessage = (e) => reply(p, e.data); };`], { type: 'text/javascript' })));
    shared.port.start();
    const roundTrip = (target, listen, data, transfer) => new Promise((resolve) => {
      listen.addEventListener('message', (e) => resolve(e.data), { once: true });
      target.postMessage(data, transfer ? [data.buffer] : []);
    });
    const rows = [];
    for (const [label, n] of [['decode D=576', 576], ['decode D=2048', 2048], ['decode D=4096', 4096], ['prefill 128×2048', 128 * 2048]]) {
      for (const [via, target, listen] of [['dedicated Worker', dedicated, dedicated], ['SharedWorker', shared.port, shared.port]]) {
        for (const transfer of [false, true]) {
          for (let i = 0; i < 20; i++) await roundTrip(target, listen, new Float32Array(n), transfer);
          const times = [];
          for (let i = 0; i < iterations; i++) {
            const data = new Float32Array(n);
            const t0 = performance.now();
            await roundTrip(target, listen, data, transfer);
            times.push(performance.now() - t0);
          }
          rows.push({ kind: 'postMessage round trip', payload: label, floats: n, via, transfer, ...stats(times) });
        }
      }
    }
    for (const name of ['wasm', 'webgpu']) {
      const b = await engine.backend(name);
      for (const n of [576, 2048, 4096]) {
        const host = new Float32Array(n);
        for (let i = 0; i < 10; i++) { const t = b.upload(host, [1, n]); await b.download(t); t.dispose(); }
        const times = [];
        for (let i = 0; i < Math.min(iterations, 100); i++) {
          const t0 = performance.now();
          const t = b.upload(host, [1, n]);
          await b.download(t);
          times.push(performance.now() - t0);
          t.dispose();
        }
        rows.push({ kind: 'upload + download', payload: `[1, ${n}]`, floats: n, via: name, transfer: false, ...stats(times) });
      }
    }
    const m = await engine.load(new URL('/models/tiny-llama/', location.href).href, { backend: 'wasm', maxSequence: 256 });
    await m.generate('The sea', { maxNewTokens: 4, temperature: 0, ignoreEos: true, reuseCache: false }).result;
    const r = await m.generate('The sea', { maxNewTokens: 32, temperature: 0, ignoreEos: true, reuseCache: false }).result;
    engine.unload(m);
    return { adapter: caps.webgpu.adapter, cores: navigator.hardwareConcurrency, browser: caps.browser, rows, tinyLlamaWasmDecodeMsPerToken: 1000 / r.metrics.decodeTokensPerSecond };
  }, { iterations: Number(values.iterations) });
  const adapter = result.adapter ? `${result.adapter.vendor} ${result.adapter.architecture}${result.adapter.isFallbackAdapter ? ' (software)' : ''}` : 'none';
  console.log(`${result.browser.name} ${result.browser.version} · ${result.cores} cores · WebGPU: ${adapter}`);
  console.log('what                      payload            via               transfer  median µs   p90 µs');
  for (const r of result.rows) console.log(`${r.kind.padEnd(25)} ${r.payload.padEnd(18)} ${r.via.padEnd(17)} ${String(r.transfer).padEnd(8)} ${r.medianUs.toFixed(0).padStart(9)} ${r.p90Us.toFixed(0).padStart(8)}`);
  console.log(`tiny-llama decode on wasm: ${result.tinyLlamaWasmDecodeMsPerToken.toFixed(2)} ms/token`);
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
  server.close();
}
