/**
 * Quantization quality and cost on the shipped model (`npm run bench:quant`): for every precision,
 * held-out perplexity (the definition of tools/train/make_references.py: windows of 512 tokens over
 * models/tiny-llama/heldout.txt, documents joined with EOS), weight memory and greedy decode tok/s, on the wasm
 * backend (1 thread) under Node. The original row is checked against PyTorch's figure in the fixture first, so
 * the measurement itself is known to be right. Writes bench-results/quant.json and prints a table.
 *   node --import tsx tools/bench-quant.ts [--windows N]   (default 8 windows; 172 is the whole file)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createWasmBackend } from '../engine/backends/wasm/index.js';
import { loadModel } from '../engine/load-model.js';
import type { LoadPrecision } from '../engine/quant/plan.js';
import { createLoaderTestServer } from '../test/server/middleware.mjs';

const args = process.argv.slice(2);
const windows = args.includes('--windows') ? Number(args[args.indexOf('--windows') + 1]) : 8;
const SEQ = 512;
const root = new URL('..', import.meta.url);
const heldout = readFileSync(new URL('models/tiny-llama/heldout.txt', root), 'utf8').replace(/\n$/, '').split('\n\n%\n\n');
const ref = JSON.parse(readFileSync(new URL('test/fixtures/models/tiny-llama/reference.json', root), 'utf8')) as { heldout: { perplexity: number }; heldout_first_8_windows: { perplexity: number } };

const server = await createLoaderTestServer();
const backend = await createWasmBackend();
const rows: Record<string, unknown>[] = [];
try {
  for (const precision of ['original', 'q8', 'q4', 'q3', 'q2', 'mixed'] as LoadPrecision[]) {
    const model = await loadModel(`${server.origin}/__models/tiny-llama/`, backend, { precision, maxSequence: SEQ, cache: false });
    const lm = model.lm!;
    const eos = model.config.architecture === 'llama' ? model.config.eosTokenIds[0]! : 0;
    const ids: number[] = [];
    for (const d of heldout) ids.push(...model.tokenizer.encode(d), eos);
    const starts: number[] = [];
    for (let s = 0; s < ids.length - 1 && starts.length < windows; s += SEQ) starts.push(s);
    let total = 0;
    let count = 0;
    const v = lm.vocabSize;
    for (const s of starts) {
      const x = ids.slice(s, s + SEQ + 1);
      lm.resetCache();
      const t = lm.forward(Int32Array.from(x.slice(0, -1)), { allLogits: true });
      const logits = (await backend.download(t)) as Float32Array;
      t.dispose();
      for (let p = 0; p < x.length - 1; p++) {
        const row = logits.subarray(p * v, (p + 1) * v);
        let max = -Infinity;
        for (let j = 0; j < v; j++) max = Math.max(max, row[j]!);
        let sum = 0;
        for (let j = 0; j < v; j++) sum += Math.exp(row[j]! - max);
        total += Math.log(sum) + max - row[x[p + 1]!]!;
        count++;
      }
    }
    const perplexity = Math.exp(total / count);
    lm.resetCache();
    const gen = await model.generate('The LORD is my shepherd', { maxNewTokens: 64, temperature: 0, ignoreEos: true }).result;
    const mem = lm.memory();
    rows.push({ precision, perplexity, predictedTokens: count, windows: starts.length, weightBytes: mem.weightBytes, decodeTokPerS: gen.metrics.decodeTokensPerSecond });
    console.error(`${precision}: perplexity ${perplexity.toFixed(3)} over ${count} tokens, weights ${(mem.weightBytes / 1e6).toFixed(2)} MB, decode ${gen.metrics.decodeTokensPerSecond.toFixed(0)} tok/s`);
    model.dispose();
  }
} finally {
  backend.dispose();
  await server.close();
}
const base = rows[0] as { perplexity: number; weightBytes: number };
const want = windows === 8 ? ref.heldout_first_8_windows.perplexity : windows >= 172 ? ref.heldout.perplexity : null;
if (want !== null && Math.abs(base.perplexity / want - 1) > 1e-3) throw new Error(`original perplexity ${base.perplexity} differs from PyTorch's ${want}: the measurement is wrong`);
console.log(`\nHeld-out perplexity of models/tiny-llama (${windows} windows of ${SEQ} tokens), wasm backend, 1 thread${want !== null ? `; PyTorch fp32 on the same windows: ${want.toFixed(3)}` : ''}`);
console.log('| precision | perplexity | Δ vs original | weights | memory | decode tok/s |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows as { precision: string; perplexity: number; weightBytes: number; decodeTokPerS: number }[]) {
  console.log(`| ${r.precision} | ${r.perplexity.toFixed(3)} | ${r.precision === 'original' ? '' : `${(100 * (r.perplexity / base.perplexity - 1)).toFixed(2)} %`} | ${(r.weightBytes / 1e6).toFixed(2)} MB | ${(100 * r.weightBytes / base.weightBytes).toFixed(0)} % | ${r.decodeTokPerS.toFixed(0)} |`);
}
writeFileSync(new URL('bench-results/quant.json', root), `${JSON.stringify({ date: new Date().toISOString(), model: 'models/tiny-llama', backend: 'wasm (1 thread, Node)', windows, windowTokens: SEQ, pytorchPerplexity: want, rows }, null, 2)}\n`);
