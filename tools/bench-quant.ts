/**
 * Quantization quality and cost on the shipped model (`npm run bench:quant`): for every precision, held-out
 * perplexity (the definition of tools/train/make_references.py: windows of 512 tokens over
 * models/tiny-llama/heldout.txt, documents joined with EOS) on the first backend, then weight memory, prefill
 * and greedy decode tok/s on every backend. The original row is checked against PyTorch's figure in the fixture
 * first, so the measurement itself is known to be right. Writes bench-results/quant.json and prints a table.
 *   node --import tsx tools/bench-quant.ts [--windows N] [--backends wasm,cpu[,webgpu]] [--out file]
 * (default 8 windows, 172 is the whole file; webgpu needs Dawn on a GPU: the `webgpu` package, see tools/bench-gpu)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Backend, BackendName } from '../engine/backends/backend.js';
import { createCpuBackend } from '../engine/backends/cpu/index.js';
import { createWasmBackend } from '../engine/backends/wasm/index.js';
import { loadModel } from '../engine/load-model.js';
import type { LoadPrecision } from '../engine/quant/plan.js';
import { perplexity } from '../engine/quant/report.js';
import { createLoaderTestServer } from '../test/server/middleware.mjs';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const windows = Number(arg('--windows') ?? 8);
const backendNames = (arg('--backends') ?? 'wasm,cpu').split(',') as BackendName[];
const SEQ = 512;
const DECODE = 64;
// the repository root (also when bundled into tools/bench-gpu/dist for the GPU machine, run from the root)
const root = existsSync(new URL('../models/tiny-llama/', import.meta.url)) ? new URL('..', import.meta.url) : pathToFileURL(`${process.cwd()}/`);
const out = arg('--out') ?? new URL('bench-results/quant.json', root);
const heldout = readFileSync(new URL('models/tiny-llama/heldout.txt', root), 'utf8').replace(/\n$/, '').split('\n\n%\n\n');
const ref = JSON.parse(readFileSync(new URL('test/fixtures/models/tiny-llama/reference.json', root), 'utf8')) as { heldout: { perplexity: number }; heldout_first_8_windows: { perplexity: number } };

async function makeBackend(name: BackendName): Promise<{ backend: Backend; label: string; keep?: unknown }> {
  if (name === 'wasm') return { backend: await createWasmBackend(), label: 'wasm (1 thread)' };
  if (name === 'cpu') return { backend: await createCpuBackend(), label: 'cpu (JS reference)' };
  if (name === 'webgpu') {
    const { create } = await import('webgpu');
    const gpu = create([]);
    const { createWebGPUBackend } = await import('../engine/backends/webgpu/index.js');
    const backend = await createWebGPUBackend({ gpu });
    const info = (backend as { adapterInfo?: { description?: string; vendor?: string } }).adapterInfo;
    return { backend, label: `webgpu (${info?.description || info?.vendor || 'Dawn'})`, keep: gpu };
  }
  throw new Error(`unknown backend ${name}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const server = await createLoaderTestServer();
const backends = [];
for (const name of backendNames) backends.push({ name, ...(await makeBackend(name)) });
interface Row { precision: string; backend: string; perplexity: number | null; predictedTokens: number | null; weightBytes: number; decodeTokPerS: number; prefillTokPerS: number }
const rows: Row[] = [];
try {
  for (const precision of ['original', 'q8', 'q4', 'q3', 'q2', 'mixed'] as LoadPrecision[]) {
    for (const [bi, { name, backend }] of backends.entries()) {
      const model = await loadModel(`${server.origin}/__models/tiny-llama/`, backend, { precision, maxSequence: SEQ, cache: false });
      const lm = model.lm!;
      let ppl: { perplexity: number; tokens: number } | null = null;
      if (bi === 0) {
        const eos = model.config.architecture === 'llama' ? model.config.eosTokenIds[0]! : 0;
        const ids: number[] = [];
        for (const d of heldout) ids.push(...model.tokenizer.encode(d), eos);
        ppl = await perplexity(lm, ids, { windowTokens: SEQ, maxWindows: windows });
      }
      const prompt = heldout[3]!.slice(0, 400);
      await model.generate(prompt, { maxNewTokens: 8, temperature: 0, ignoreEos: true }).result;
      const decode: number[] = [];
      const prefill: number[] = [];
      for (let r = 0; r < 3; r++) {
        lm.resetCache();
        const m = (await model.generate(prompt, { maxNewTokens: DECODE, temperature: 0, ignoreEos: true }).result).metrics;
        decode.push(m.decodeTokensPerSecond);
        prefill.push(m.prefillTokensPerSecond);
      }
      const row: Row = { precision, backend: name, perplexity: ppl?.perplexity ?? null, predictedTokens: ppl?.tokens ?? null, weightBytes: lm.memory().weightBytes, decodeTokPerS: median(decode), prefillTokPerS: median(prefill) };
      rows.push(row);
      console.error(`${precision} on ${name}: ${ppl ? `perplexity ${ppl.perplexity.toFixed(3)} over ${ppl.tokens} tokens, ` : ''}weights ${(row.weightBytes / 1e6).toFixed(2)} MB, decode ${row.decodeTokPerS.toFixed(0)} tok/s, prefill ${row.prefillTokPerS.toFixed(0)} tok/s`);
      model.dispose();
    }
  }
} finally {
  for (const b of backends) b.backend.dispose();
  await server.close();
}
const base = rows[0]!;
const want = windows === 8 ? ref.heldout_first_8_windows.perplexity : windows >= 172 ? ref.heldout.perplexity : null;
if (want !== null && Math.abs(base.perplexity! / want - 1) > 1e-3) throw new Error(`original perplexity ${base.perplexity} differs from PyTorch's ${want}: the measurement is wrong`);
const first = backends[0]!.name;
console.log(`\nHeld-out perplexity of models/tiny-llama (${windows} windows of ${SEQ} tokens) on ${first}${want !== null ? `; PyTorch fp32 on the same windows: ${want.toFixed(3)}` : ''}; decode ${DECODE} greedy tokens (median of 3), per backend`);
console.log(`| precision | perplexity | Δ vs original | weights | memory | ${backends.map((b) => `${b.name} decode tok/s | ${b.name} prefill tok/s`).join(' | ')} |`);
console.log(`| --- | --- | --- | --- | --- | ${backends.map(() => '--- | ---').join(' | ')} |`);
for (const r of rows.filter((x) => x.backend === first)) {
  const per = backends.map((b) => rows.find((x) => x.precision === r.precision && x.backend === b.name)!);
  console.log(`| ${r.precision} | ${r.perplexity!.toFixed(3)} | ${r.precision === 'original' ? '' : `${(100 * (r.perplexity! / base.perplexity! - 1)).toFixed(2)} %`} | ${(r.weightBytes / 1e6).toFixed(2)} MB | ${(100 * r.weightBytes / base.weightBytes).toFixed(0)} % | ${per.map((p) => `${p.decodeTokPerS.toFixed(0)} | ${p.prefillTokPerS.toFixed(0)}`).join(' | ')} |`);
}
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), model: 'models/tiny-llama', backends: Object.fromEntries(backends.map((b) => [b.name, b.label])), host: process.platform, windows, windowTokens: SEQ, decodeTokens: DECODE, pytorchPerplexity: want, rows }, null, 2)}\n`);
