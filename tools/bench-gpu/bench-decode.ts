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
import { benchGpu, copyBandwidth, rng } from './common.js';
import { createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import type { Tokenizer } from '../../engine/formats/tokenizer.js';
import { generate } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import type { PackedWeightData, WeightStore } from '../../engine/models/weights.js';
import { f16Words, wordsPerRow, type QuantBits } from '../../engine/quant/layout.js';
import { f32ToF16 } from '../../engine/tensor/dtype.js';

Object.assign(globalThis, globals);

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const stage = (what: string): void => void process.stderr.write(`[decode ${(performance.now() / 1000).toFixed(1)} s] ${what}\n`);

/** Hugging Face config.json fields of each shape (rope scaling left out: it changes no byte moved). */
const SHAPES: Record<string, Record<string, unknown>> = {
  tiny: { model_type: 'llama', hidden_size: 256, intermediate_size: 512, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 32, vocab_size: 4096, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true },
  'smollm2-135m': { model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64, vocab_size: 49152, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true },
  'llama-3.2-1b': { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true },
  'llama-3.1-8b': { model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: false },
};


/** Random weights by Hugging Face name; one host array per distinct packed shape (each upload is its own GPU buffer). */
class RandomStore implements WeightStore {
  #shapes = new Map<string, number[]>();
  #packedCache = new Map<string, PackedWeightData>();
  constructor(c: LlamaConfig, private readonly bits: QuantBits) {
    const d = c.hiddenSize;
    const q = c.numAttentionHeads * c.headDim;
    const kv = c.numKeyValueHeads * c.headDim;
    this.#shapes.set('model.embed_tokens.weight', [c.vocabSize, d]);
    this.#shapes.set('model.norm.weight', [d]);
    this.#shapes.set('lm_head.weight', [c.vocabSize, d]);
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}.`;
      this.#shapes.set(`${p}input_layernorm.weight`, [d]);
      this.#shapes.set(`${p}post_attention_layernorm.weight`, [d]);
      this.#shapes.set(`${p}self_attn.q_proj.weight`, [q, d]);
      this.#shapes.set(`${p}self_attn.k_proj.weight`, [kv, d]);
      this.#shapes.set(`${p}self_attn.v_proj.weight`, [kv, d]);
      this.#shapes.set(`${p}self_attn.o_proj.weight`, [d, q]);
      this.#shapes.set(`${p}mlp.gate_proj.weight`, [c.intermediateSize, d]);
      this.#shapes.set(`${p}mlp.up_proj.weight`, [c.intermediateSize, d]);
      this.#shapes.set(`${p}mlp.down_proj.weight`, [d, c.intermediateSize]);
    }
  }
  has(name: string): boolean { return this.#shapes.has(name); }
  shape(name: string): readonly number[] { return this.#shapes.get(name)!; }
  f32(name: string): Float32Array {
    const n = this.shape(name).reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const r = rng(n);
    const isNorm = name.endsWith('norm.weight');
    // a 4096-value random pattern tiled: fast for 10⁸ values, and just as good for timing
    const pat = Float32Array.from({ length: 4096 }, () => (isNorm ? 0.9 + 0.2 * r() : (r() - 0.5) * 0.1));
    for (let i = 0; i < n; i += 4096) out.set(i + 4096 <= n ? pat : pat.subarray(0, n - i), i);
    return out;
  }
  packed(name: string): PackedWeightData | null {
    if (name.endsWith('norm.weight') || name === 'model.embed_tokens.weight') return null;
    const [n, k] = this.shape(name) as [number, number];
    const key = `${n}x${k}`;
    let p = this.#packedCache.get(key);
    if (!p) {
      const r = rng(n * 31 + k);
      const data = new Uint32Array(n * wordsPerRow(k, this.bits));
      for (let i = 0; i < data.length; i++) data[i] = (r() * 2 ** 32) >>> 0;
      const groups = (n * k) / 32;
      const scales = new Uint32Array(f16Words(groups));
      const h = f32ToF16(0.02 / (1 << (this.bits - 1)));
      scales.fill(h | (h << 16));
      p = { shape: [n, k], format: { bits: this.bits, groupSize: 32, symmetric: true }, data, scales, mins: null };
      this.#packedCache.set(key, p);
    }
    return p;
  }
}

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
  /** --profile: GPU time per kernel per decode step (each dispatch timed in its own pass). */
  profile: { steps: number; gpuMsPerStep: number; kernels: { key: string; callsPerStep: number; msPerStep: number }[] } | null;
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
    // kernel profile: GPU time per kernel over a few decode steps, each dispatch in its own timed pass
    let profile: DecodeResult['profile'] = null;
    if (args.includes('--profile') && b.device.features.has('timestamp-query')) {
      const n = Math.max(1, Math.min(8, Math.floor(2048 / Math.max(1, m.dispatches))));
      model.resetCache(promptLen);
      let tok = 1;
      b.startProfile(2048);
      for (let i = 0; i < n; i++) tok = await greedy(() => model.forward(Int32Array.of(tok)));
      const k = await b.stopProfile();
      const total = k.reduce((a, e) => a + e.gpuMs, 0);
      profile = { steps: n, gpuMsPerStep: total / n, kernels: k.map((e) => ({ key: e.key, callsPerStep: e.calls / n, msPerStep: e.gpuMs / n })) };
      console.log(`${name} q${bits}${v ? ` ${JSON.stringify(v)}` : ''}: kernel GPU time ${profile.gpuMsPerStep.toFixed(3)} ms per step (${n} steps profiled)`);
      for (const e of profile.kernels.slice(0, 12)) console.log(`  ${e.msPerStep.toFixed(3)} ms  ${e.callsPerStep.toFixed(1)}×  ${e.key}`);
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
