#!/usr/bin/env node
// Generation benchmark of the shipped model in headless Chromium: time to first token, prefill and
// decode tokens/s per backend, median of several runs, from the built bundle (npm run build first).
// Usage: node tools/bench-generate.mjs [--backends cpu,wasm,webgpu] [--tokens 64] [--runs 3] [--out bench-results/generate.json]
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from './serve.mjs';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'cpu,wasm,webgpu' },
    tokens: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    prompt: { type: 'string', default: 'The meaning of life is' },
    model: { type: 'string', default: '/models/tiny-llama/' },
    out: { type: 'string', default: 'bench-results/generate.json' },
  },
});

const server = createStaticServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await puppeteer.launch({
  // SwiftShader WebGPU decodes at ~1 token/s: a whole run can take many minutes.
  protocolTimeout: 60 * 60 * 1000,
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${origin}/demo/index.html`, { waitUntil: 'load' });
  const result = await page.evaluate(
    async ({ backends, tokens, runs, prompt, model }) => {
      const { getEngine } = await import('/dist/accel.min.js');
      const engine = getEngine();
      const caps = await engine.capabilities();
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const rows = [];
      for (const backend of backends) {
        const t0 = performance.now();
        const m = await engine.load(new URL(model, location.href).href, { backend, maxSequence: 256 });
        const loadMs = performance.now() - t0;
        await m.generate(prompt, { maxNewTokens: 4, temperature: 0, ignoreEos: true, reuseCache: false }).result;
        const samples = [];
        for (let i = 0; i < runs; i++) {
          const r = await m.generate(prompt, { maxNewTokens: tokens, temperature: 0, ignoreEos: true, reuseCache: false }).result;
          samples.push(r.metrics);
        }
        rows.push({
          backend,
          loadMs,
          promptTokens: samples[0].prefillTokens,
          newTokens: tokens,
          ttftMs: median(samples.map((s) => s.timeToFirstTokenMs)),
          prefillTokPerS: median(samples.map((s) => s.prefillTokensPerSecond)),
          decodeTokPerS: median(samples.map((s) => s.decodeTokensPerSecond)),
          runs,
        });
        engine.unload(m);
      }
      return { adapter: caps.webgpu.adapter, crossOriginIsolated: globalThis.crossOriginIsolated, cores: navigator.hardwareConcurrency, browser: caps.browser, rows };
    },
    { backends: values.backends.split(','), tokens: Number(values.tokens), runs: Number(values.runs), prompt: values.prompt, model: values.model },
  );
  const adapter = result.adapter ? `${result.adapter.vendor} ${result.adapter.architecture}${result.adapter.isFallbackAdapter ? ' (software)' : ''}` : 'none';
  console.log(`model ${values.model} · ${result.browser.name} ${result.browser.version} · ${result.cores} cores · WebGPU: ${adapter} · crossOriginIsolated ${result.crossOriginIsolated}`);
  console.log('backend  load ms  prompt tok  TTFT ms  prefill tok/s  decode tok/s');
  for (const r of result.rows) {
    console.log(`${r.backend.padEnd(8)} ${r.loadMs.toFixed(0).padStart(7)}  ${String(r.promptTokens).padStart(10)}  ${r.ttftMs.toFixed(1).padStart(7)}  ${r.prefillTokPerS.toFixed(1).padStart(13)}  ${r.decodeTokPerS.toFixed(1).padStart(12)}`);
  }
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, JSON.stringify({ date: new Date().toISOString(), model: values.model, prompt: values.prompt, ...result }, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
  server.close();
}
