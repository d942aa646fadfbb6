#!/usr/bin/env node
// `npm run bench:peers`: greedy decode of models/tiny-llama in one headless Chromium page with this engine
// (wasm, webgpu), onnxruntime-web (wasm EP, models/tiny-llama-onnx/model.onnx) and @wllama/wllama (the GGUF
// files), alternating between them (tools/bench-peers/page.mjs); prints a table of medians and ratios and
// writes JSON. Needs the built bundle and wasm kernels (the npm script builds them).
// Usage: node tools/bench-peers/run.mjs [--tokens 128] [--reps 5] [--warmup 1] [--prompt "…"]
//          [--only "accel wasm,wllama"] [--no-webgpu] [--webgpu-tokens 8] [--out bench-results/peers.json]
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { createStaticServer } from '../serve.mjs';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '128' },
    reps: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '1' },
    prompt: { type: 'string', default: 'And God said, Let there be light: and there was light. And God saw the light, that it was good.' },
    only: { type: 'string', default: '' },
    'no-webgpu': { type: 'boolean', default: false },
    'webgpu-tokens': { type: 'string', default: '8' },
    'webgpu-reps': { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench-results/peers.json' },
  },
});

const server = createStaticServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await puppeteer.launch({
  protocolTimeout: 60 * 60 * 1000,
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const ratio = (a, b) => (a > 0 && b > 0 ? a / b : null);
const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const fmtRatio = (x) => (x == null || !Number.isFinite(x) ? '—' : x < 0.1 ? x.toPrecision(2) : x.toFixed(2));
const commonPrefix = (a, b) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => {
    const t = m.text();
    if (t.startsWith('[peers]') || m.type() === 'error') console.log(t);
  });
  await page.goto(`${origin}/tools/bench-peers/index.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof globalThis.runPeers === 'function');
  const result = await page.evaluate((o) => globalThis.runPeers(o), {
    prompt: values.prompt,
    newTokens: Number(values.tokens),
    reps: Number(values.reps),
    warmup: Number(values.warmup),
    only: values.only,
    webgpu: !values['no-webgpu'],
    webgpuTokens: Number(values['webgpu-tokens']),
    webgpuReps: Number(values['webgpu-reps']),
  });

  const rows = result.rows.filter((r) => !r.error);
  const find = (engine, threads, precision) => rows.find((r) => r.engine === engine && r.threads === threads && r.precision === precision);
  // Ratios compare decode tok/s with the peer at the same thread count and the same class of weights (f32, q8, q4).
  for (const r of rows) {
    const t = r.threads ?? 1;
    r.vsOrt = r.engine === 'onnxruntime-web' ? null : ratio(r.decodeTokPerS, find('onnxruntime-web', t, r.precision)?.decodeTokPerS);
    r.vsWllama = r.engine === 'wllama' ? null : ratio(r.decodeTokPerS, find('wllama', t, r.precision)?.decodeTokPerS);
  }

  // Same greedy tokens? Ours vs onnxruntime-web (same float weights) by id; ours vs wllama (same GGUF) by text.
  const checks = [];
  for (const t of [1, 2]) {
    const ours = find('accel', t, 'f32');
    const ort = find('onnxruntime-web', t, 'f32');
    if (ours && ort) {
      const n = commonPrefix(ours.tokens, ort.tokens);
      checks.push({ a: ours.id, b: ort.id, by: 'token ids', equal: n === ours.tokens.length && n === ort.tokens.length, commonPrefix: n, of: ours.tokens.length, unit: 'tokens' });
    }
    for (const q of ['q8', 'q4']) {
      const b = find('wllama', t, q);
      if (b?.sameTokensAsAccel) {
        const m = b.sameTokensAsAccel;
        checks.push({ a: m.accel, b: b.id, by: 'text (wllama gives no ids)', equal: m.leading === m.of && b.text === find('accel', t, q).text, commonPrefix: m.leading, of: m.of, unit: 'tokens' });
      }
      const a = find('accel', t, q);
      const o = find('onnxruntime-web', t, q);
      if (a && o) checks.push({ a: a.id, b: o.id, by: 'token ids (different quantization schemes)', equal: commonPrefix(a.tokens, o.tokens) === a.tokens.length, commonPrefix: commonPrefix(a.tokens, o.tokens), of: a.tokens.length, unit: 'tokens' });
    }
  }
  const one = find('accel', 1, 'f32');
  const two = find('accel', 2, 'f32');
  if (one && two) checks.push({ a: one.id, b: two.id, by: 'token ids', equal: commonPrefix(one.tokens, two.tokens) === one.tokens.length, commonPrefix: commonPrefix(one.tokens, two.tokens), of: one.tokens.length, unit: 'tokens' });

  const a = result.adapter;
  const adapter = a ? `${a.vendor} ${a.architecture}${a.isFallbackAdapter ? ' (software)' : ''}` : 'none';
  console.log(`\nmodels/tiny-llama · ${result.browser?.name ?? ''} ${result.browser?.version ?? ''} · ${result.cores} cores · crossOriginIsolated ${result.crossOriginIsolated} · WebGPU: ${adapter}`);
  console.log(`prompt ${result.promptIds.length} tokens, ${values.tokens} new tokens (greedy, EOS ignored), median of ${values.reps} alternating rounds after ${values.warmup} warm-up`);
  const head = ['contender', 'threads', 'weights', 'decode tok/s', 'best', 'prefill tok/s', '× ORT', '× wllama'];
  const body = rows.map((r) => [
    r.id + (r.separateRun ? ` (${r.newTokens} tokens, run apart)` : ''),
    r.threads == null ? '—' : String(r.threads),
    r.precision,
    fmt(r.decodeTokPerS), fmt(r.decodeBest), fmt(r.prefillTokPerS), fmtRatio(r.vsOrt), fmtRatio(r.vsWllama),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  for (const b of body) console.log(line(b));
  for (const r of result.rows.filter((x) => x.error)) console.log(`${r.id}: failed: ${r.error}`);
  console.log('decode and prefill: medians; best: fastest decode round; × peer: median decode tok/s over the peer\'s with the same class of weights at the same thread count (webgpu: over 1 thread)');
  for (const c of checks) {
    console.log(`same greedy output ${c.a} vs ${c.b} (${c.by}): ${c.equal ? 'yes' : `no, first ${c.commonPrefix} of ${c.of} ${c.unit} equal`}`);
  }

  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, JSON.stringify({ date: new Date().toISOString(), command: 'npm run bench:peers', ...result, checks }, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
  server.close();
}
