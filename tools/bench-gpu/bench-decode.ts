/**
 * Decode and prefill speed of Llama-shaped models on the engine's WebGPU backend (Dawn under Node, GPU machine),
 * through the engine's own generate() (greedy: the argmax stays on the GPU and the next step is queued before the
 * token is read back) and through a plain serial loop (record, submit, read back, repeat), in the same run,
 * against the bandwidth bound measured in the same run. Weights are random (the speed of a GEMV does not depend
 * on the values) in the packed int4 / int8 g32 layout for every projection and for lm_head (quantized like a
 * GGUF's output.weight, also for tied models); embeddings and norms are f32. Decode = one token per step through
 * the KV cache, argmax on the GPU and only the token id read back — what generation does.
 *
 *   node tools/bench-gpu/build.mjs && bash .gpu/device.sh node tools/bench-gpu/dist/bench-decode.mjs --out $OUT/gpu-decode.json
 * Flags: --models tiny,smollm2-135m,llama-3.2-1b,llama-3.1-8b  --bits 4,8  --prompt 128  --tokens 64  --fuse both|on|off  --profile  --ab <boolean tuning key>  --repeat 3
 * (both: each shape with fused q/k/v + gate/up ops and without, side by side)
 */
import { writeFileSync } from 'node:fs';
import { globals } from 'webgpu';
import { benchGpu, copyBandwidth } from './common.js';
import { RandomStore, SHAPES } from './random-model.js';
import { createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { TIMESTAMPS_IN_PASSES, type ProfileMode } from '../../engine/backends/webgpu/webgpu-backend.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import type { Tokenizer } from '../../engine/formats/tokenizer.js';
import { generate } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import type { QuantBits } from '../../engine/quant/layout.js';

Object.assign(globalThis, globals);

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const stage = (what: string): void => void process.stderr.write(`[decode ${(performance.now() / 1000).toFixed(1)} s] ${what}\n`);

interface DecodeResult {
  model: string; bits: number; fused: boolean; params: number; weightBytes: number;
  prefillTokens: number; prefillMs: number; prefillTokPerS: number;
  decodeTokens: number; decodeMsPerToken: number; decodeTokPerS: number;
  /** The serial loop: record a step, submit, wait for its token, repeat (no overlap of host and GPU). */
  serialTokPerS: number;
  bytesPerToken: number; boundTokPerS: number; pctOfBound: number;
  dispatchesPerToken: number; submitsPerToken: number;
  /** Wall ms per decode step spent recording (JS + Dawn encoding), the rest waiting for the GPU and the readback. */
  recordMsPerToken: number;
  /** --profile: GPU time per kernel per decode step (in-pass: what each dispatch adds to its pass; dispatch: each timed in its own pass). */
  profile: {
    mode: ProfileMode; steps: number; gpuMsPerStep: number; kernels: { key: string; callsPerStep: number; msPerStep: number }[];
    /** GPU ms of one decode step recorded as usual (one pass), and what one more dispatch of each kernel adds to it. */
    stepGpuMs?: number; chain?: { key: string; callsPerStep: number; usEach: number }[];
  } | null;
  /** --ab: the tuning this row ran with. */
  tuning?: Record<string, boolean>;
  /** Decode figures are medians of this many runs (--repeat). */
  repeats: number;
  decodeTokPerSRuns: number[];
}

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

type Variant = Record<string, boolean> | null;

/**
 * One model shape, loaded once; each variant (a backend tuning, or null for the defaults) measured `--repeat`
 * times in turn (A, B, A, B, …) so that drifts of a noisy host hit every variant alike; medians reported.
 */
async function bench(b: WebGPUBackend, name: string, bits: QuantBits, copy: number, fuse: boolean, variants: Variant[]): Promise<DecodeResult[]> {
  const config = parseModelConfig({ architectures: ['LlamaForCausalLM'], ...SHAPES[name] }) as LlamaConfig;
  const promptLen = Number(arg('--prompt', '128'));
  const steps = Number(arg('--tokens', '64'));
  const repeat = Math.max(1, Number(arg('--repeat', '3')));
  stage(`${name} q${bits}: weights`);
  const model = new LlamaModel(b, config, new RandomStore(config, bits), { maxSequence: promptLen + steps + 16, fuse });
  await b.sync();
  const mem = model.memory();
  const prompt = Int32Array.from({ length: promptLen }, (_, i) => (i * 7919) % config.vocabSize);
  const defaults = { ...b.tuning };
  const apply = (v: Variant): void => void Object.assign(b.tuning, defaults, v ?? {});
  let recordMs = 0;
  const greedy = async (run: () => ReturnType<LlamaModel['forward']>): Promise<number> => {
    const r0 = performance.now();
    const logits = run();
    const id = b.argmax(logits);
    logits.dispose();
    recordMs += performance.now() - r0;
    const v = (await b.download(id)) as Int32Array;
    id.dispose();
    return v[0]!;
  };
  const silent = { vocabSize: config.vocabSize, eosTokenId: null, bosTokenId: null, decodeStream: () => ({ push: () => '', flush: () => '' }) } as unknown as Tokenizer;
  const per = variants.map(() => ({ prefill: [] as number[], serial: [] as number[], gen: [] as number[], record: [] as number[], dispatches: 0, submits: 0 }));
  // warm-up of every variant (pipelines compiled, pool filled)
  stage(`${name} q${bits}: warm-up`);
  for (const v of variants) {
    apply(v);
    model.resetCache();
    let tok = await greedy(() => model.forward(prompt));
    for (let i = 0; i < 4; i++) tok = await greedy(() => model.forward(Int32Array.of(tok)));
  }
  for (let r = 0; r < repeat; r++) {
    for (const [vi, v] of variants.entries()) {
      apply(v);
      const m = per[vi]!;
      stage(`${name} q${bits}${v ? ` ${JSON.stringify(v)}` : ''}: round ${r + 1}/${repeat}`);
      model.resetCache();
      const t0 = performance.now();
      let tok = await greedy(() => model.forward(prompt));
      m.prefill.push(performance.now() - t0);
      const s0 = b.stats();
      recordMs = 0;
      const t1 = performance.now();
      for (let i = 0; i < steps; i++) tok = await greedy(() => model.forward(Int32Array.of(tok)));
      m.serial.push(performance.now() - t1);
      const s1 = b.stats();
      m.record.push(recordMs / steps);
      m.dispatches = (s1.dispatches - s0.dispatches) / steps;
      m.submits = (s1.submits - s0.submits) / steps;
      // the engine's generate(): what a page gets (the tokenizer only streams text, which random weights have none of)
      model.resetCache();
      const gen = await generate(model, silent, { tokens: Array.from(prompt) }, { temperature: 0, maxNewTokens: steps + 1, ignoreEos: true, prefillChunk: promptLen }).result;
      if (gen.tokens.length !== steps + 1) throw new Error(`generate() gave ${gen.tokens.length} tokens, not ${steps + 1}`);
      m.gen.push((1000 * steps) / gen.metrics.decodeTokensPerSecond);
    }
  }
  // bytes one decode step must read: every weight (f32 embeddings: one row) and the KV cache up to the mean position
  const c = config;
  const embedBytes = c.vocabSize * c.hiddenSize * 4;
  const meanPos = promptLen + steps / 2;
  const kvBytes = 2 * c.numHiddenLayers * c.numKeyValueHeads * c.headDim * meanPos * 4;
  const bytesPerToken = mem.weightBytes - embedBytes + c.hiddenSize * 4 + kvBytes;
  const boundTokPerS = (copy * 1e9) / bytesPerToken;
  const params = c.numHiddenLayers * (c.hiddenSize * (2 * c.numAttentionHeads * c.headDim + 2 * c.numKeyValueHeads * c.headDim) + 3 * c.hiddenSize * c.intermediateSize) + c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  const out: DecodeResult[] = [];
  for (const [vi, v] of variants.entries()) {
    apply(v);
    const m = per[vi]!;
    // kernel profile: GPU time per kernel over a few decode steps: what each dispatch adds to the pass where the
    // device has timestamps inside passes, else each dispatch in its own timed pass
    let profile: DecodeResult['profile'] = null;
    if (args.includes('--profile') && b.device.features.has('timestamp-query')) {
      const n = Math.max(1, Math.min(8, Math.floor(2048 / Math.max(1, m.dispatches))));
      model.resetCache(promptLen);
      let tok = 1;
      const mode = b.device.features.has(TIMESTAMPS_IN_PASSES) ? 'in-pass' : 'dispatch';
      b.startProfile(2048, { mode });
      for (let i = 0; i < n; i++) tok = await greedy(() => model.forward(Int32Array.of(tok)));
      const k = await b.stopProfile();
      const total = k.reduce((a, e) => a + e.gpuMs, 0);
      profile = { mode, steps: n, gpuMsPerStep: total / n, kernels: k.map((e) => ({ key: e.key, callsPerStep: e.calls / n, msPerStep: e.gpuMs / n })) };
      // in the chain: the GPU time of whole decode steps (one pass each), and what each kernel adds to it when
      // its dispatches are recorded 1 + EXTRA times (medians of 3 interleaved rounds of 6 steps)
      const EXTRA = 4;
      const stepMs = async (prefix: string | null): Promise<number> => {
        b.tuning.dispatchRepeat = prefix ? { prefix, extra: EXTRA } : null;
        model.resetCache(promptLen);
        b.startProfile(64, { mode: 'pass' });
        for (let i = 0; i < 6; i++) tok = await greedy(() => model.forward(Int32Array.of(tok)));
        const passes = await b.stopProfile();
        b.tuning.dispatchRepeat = null;
        return passes.reduce((a, e) => a + e.gpuMs, 0) / 6;
      };
      const keys = profile.kernels.map((e) => e.key);
      const runs = new Map<string | null, number[]>([[null, []], ...keys.map((key) => [key, []] as [string, number[]])]);
      for (let r = 0; r < 3; r++) for (const key of runs.keys()) runs.get(key)!.push(await stepMs(key));
      const base = median(runs.get(null)!);
      profile.stepGpuMs = base;
      profile.chain = profile.kernels.map((e) => ({ key: e.key, callsPerStep: e.callsPerStep, usEach: (1000 * (median(runs.get(e.key)!) - base)) / (EXTRA * e.callsPerStep) }));
      console.log(`${name} q${bits}${v ? ` ${JSON.stringify(v)}` : ''}: a decode step takes ${base.toFixed(3)} ms of GPU time in one pass; kernel GPU time ${profile.gpuMsPerStep.toFixed(3)} ms per step (${n} steps profiled, ${mode})`);
      for (const [i, e] of profile.kernels.slice(0, 12).entries()) console.log(`  ${e.msPerStep.toFixed(3)} ms  ${e.callsPerStep.toFixed(1)}×  ${((1000 * e.msPerStep) / e.callsPerStep).toFixed(2)} µs each alone, ${profile.chain[i]!.usEach.toFixed(2)} µs each in the chain  ${e.key}`);
    }
    const decodeMs = median(m.gen);
    const decodeTokPerS = (1000 * steps) / decodeMs;
    const prefillMs = median(m.prefill);
    out.push({
      model: name, bits, fused: fuse, params, weightBytes: mem.weightBytes,
      prefillTokens: promptLen, prefillMs, prefillTokPerS: (1000 * promptLen) / prefillMs,
      decodeTokens: steps, decodeMsPerToken: decodeMs / steps, decodeTokPerS, serialTokPerS: (1000 * steps) / median(m.serial),
      bytesPerToken, boundTokPerS, pctOfBound: (100 * decodeTokPerS) / boundTokPerS,
      dispatchesPerToken: m.dispatches, submitsPerToken: m.submits, recordMsPerToken: median(m.record), profile,
      repeats: repeat, decodeTokPerSRuns: m.gen.map((ms) => (1000 * steps) / ms),
      ...(v ? { tuning: v } : {}),
    });
  }
  apply(null);
  model.dispose();
  await b.sync();
  // a validation error leaves the GPU idle while the clock runs: such a figure is no figure
  const errors = b.gpuErrors();
  if (errors.length > 0) throw new Error(`GPU errors during the run, figures discarded: ${errors[0]!.slice(0, 300)}`);
  return out;
}

const gpu = benchGpu();
const b = await createWebGPUBackendInternal({ gpu, powerPreference: 'high-performance' });
stage('copy bandwidth');
const copy = (await copyBandwidth(b.device)).gbps;
console.log(`copy ${copy.toFixed(0)} GB/s`);
const results: DecodeResult[] = [];
// --ab <tuning key>: each configuration with that boolean tuning on, then off (side by side in one run)
const abKey = arg('--ab', '');
const variants: Variant[] = abKey ? [{ [abKey]: true }, { [abKey]: false }] : [null];
if (abKey && typeof (b.tuning as unknown as Record<string, unknown>)[abKey] !== 'boolean') throw new Error(`--ab ${abKey}: not a boolean tuning key`);
for (const name of arg('--models', 'tiny,smollm2-135m,llama-3.2-1b,llama-3.1-8b').split(',')) {
  for (const bits of arg('--bits', '4,8').split(',').map(Number) as QuantBits[]) for (const fuse of ({ both: [true, false], on: [true], off: [false] } as Record<string, boolean[]>)[arg('--fuse', 'both')]!) {
    try {
      for (const r of await bench(b, name, bits, copy, fuse, variants)) {
        results.push(r);
        console.log(`${name} q${bits}${fuse ? ' fused' : ''}${r.tuning ? ` ${JSON.stringify(r.tuning)}` : ''}: decode ${r.decodeTokPerS.toFixed(1)} tok/s (serial loop ${r.serialTokPerS.toFixed(1)}; ${r.decodeMsPerToken.toFixed(2)} ms; bound ${r.boundTokPerS.toFixed(0)} tok/s, ${r.pctOfBound.toFixed(1)} %), prefill ${r.prefillTokPerS.toFixed(0)} tok/s; ${r.dispatchesPerToken} dispatches, ${r.submitsPerToken} submits per token, ${r.recordMsPerToken.toFixed(2)} ms of each step recording; runs ${r.decodeTokPerSRuns.map((x) => x.toFixed(0)).join(', ')}`);
      }
    } catch (e) {
      console.log(`${name} q${bits}: failed: ${(e as Error).message}`);
    }
  }
}
console.log('\n| model | fused ops | weights | decode tok/s (generate) | serial loop tok/s | bound tok/s | % of bound | prefill tok/s | dispatches/token | record ms/token |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) console.log(`| ${r.model} q${r.bits}${r.tuning ? ` ${JSON.stringify(r.tuning)}` : ''} | ${r.fused ? 'yes' : 'no'} | ${(r.weightBytes / 1e9).toFixed(2)} GB | ${r.decodeTokPerS.toFixed(1)} | ${r.serialTokPerS.toFixed(1)} | ${r.boundTokPerS.toFixed(0)} | ${r.pctOfBound.toFixed(1)} % | ${r.prefillTokPerS.toFixed(0)} | ${r.dispatchesPerToken} | ${r.recordMsPerToken.toFixed(2)} |`);
const out = arg('--out', '');
if (out) {
  writeFileSync(out, `${JSON.stringify({
    date: new Date().toISOString(), machine: { vendor: b.adapterInfo?.vendor, description: b.adapterInfo?.description }, copyGbps: copy,
    method: 'Random packed int4/int8 g32 symmetric weights for every projection and lm_head, f32 embeddings and norms. Prefill: one forward of the prompt, argmax of the last row read back. Decode: the engine’s generate() (greedy, ignoreEos, argmax on the GPU, next step queued before the id is read back), tok/s from its metrics, median of --repeat runs (variants interleaved); serial: a loop recording one step, submitting and reading the id back before the next. Bound: copy GB/s / bytes a step must read (weights except the f32 embedding table, one embedding row, K and V up to the mean position).',
    shapes: SHAPES, prompt: Number(arg('--prompt', '128')), tokens: Number(arg('--tokens', '64')),
    results, stats: b.stats(), gpuErrors: b.gpuErrors(),
  }, null, 2)}\n`);
}
b.dispose();
void gpu;
