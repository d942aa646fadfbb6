import { InvalidArgumentError } from '../errors.js';
import type { Model } from '../load-model.js';
import type { CausalLM } from '../models/model.js';
import { linear } from '../models/weights.js';
import type { Tensor } from '../tensor/tensor.js';
import type { QuantFormat } from './layout.js';
import { downloadWeights, hostValues, llamaOf, quantizeModel } from './model-quant.js';
import { layerClass, type LayerClass, type LoadPrecision, type QuantPlan } from './plan.js';

/** 10·log10(Σa² / Σ(a−b)²) in dB (Infinity when equal) and the cosine of a and b. */
export function snrAndCosine(a: ArrayLike<number>, b: ArrayLike<number>): { snrDb: number; cosine: number } {
  if (a.length !== b.length) throw new InvalidArgumentError(`snrAndCosine: ${a.length} vs ${b.length} values.`);
  let signal = 0;
  let noise = 0;
  let dot = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    signal += x * x;
    noise += (x - y) * (x - y);
    dot += x * y;
    bb += y * y;
  }
  return { snrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise), cosine: signal === 0 || bb === 0 ? (signal === bb ? 1 : 0) : dot / Math.sqrt(signal * bb) };
}

/**
 * Perplexity of token ids under a decoder: exp(mean NLL of each next token) over windows of `windowTokens`
 * (each window predicts its own tokens 1…n from scratch, the usual strided evaluation without overlap).
 */
export async function perplexity(lm: CausalLM, ids: readonly number[], options: { windowTokens?: number; maxWindows?: number } = {}): Promise<{ perplexity: number; tokens: number; windows: number }> {
  const window = Math.min(options.windowTokens ?? 512, lm.maxSequence);
  const maxWindows = options.maxWindows ?? Infinity;
  if (ids.length < 2) throw new InvalidArgumentError('perplexity needs at least 2 tokens of text.');
  const v = lm.vocabSize;
  let total = 0;
  let count = 0;
  let windows = 0;
  for (let s = 0; s < ids.length - 1 && windows < maxWindows; s += window, windows++) {
    const x = ids.slice(s, s + window + 1);
    lm.resetCache();
    const t = lm.forward(Int32Array.from(x.slice(0, -1)), { allLogits: true });
    const logits = (await lm.backend.download(t)) as Float32Array;
    t.dispose();
    for (let p = 0; p < x.length - 1; p++) {
      const row = logits.subarray(p * v, (p + 1) * v);
      let max = -Infinity;
      for (let j = 0; j < v; j++) if (row[j]! > max) max = row[j]!;
      let sum = 0;
      for (let j = 0; j < v; j++) sum += Math.exp(row[j]! - max);
      total += Math.log(sum) + max - row[x[p + 1]!]!;
      count++;
    }
  }
  lm.resetCache();
  return { perplexity: Math.exp(total / count), tokens: count, windows };
}

/** The Hugging Face projections a (possibly stacked) projection name stands for. */
function stackedParts(name: string): string[] {
  if (name.endsWith('self_attn.qkv_proj.weight')) return ['q', 'k', 'v'].map((x) => name.replace('qkv_proj', `${x}_proj`));
  if (name.endsWith('mlp.gate_up_proj.weight')) return ['gate', 'up'].map((x) => name.replace('gate_up_proj', `${x}_proj`));
  return [name];
}

export interface LayerQuality {
  readonly name: string;
  readonly layerClass: LayerClass | null;
  /** Null when the plan left it float. */
  readonly format: QuantFormat | null;
  readonly weightSnrDb: number;
  readonly weightCosine: number;
  /** The layer's output on the calibration text through the float and the quantized weight. */
  readonly outputSnrDb: number;
  readonly outputCosine: number;
}

export interface QuantizationReport {
  readonly backend: string;
  readonly plan: Record<string, unknown> | null;
  readonly layers: readonly LayerQuality[];
  readonly perplexity: { readonly original: number; readonly quantized: number; readonly deltaPercent: number; readonly tokens: number };
  readonly memory: { readonly originalBytes: number; readonly quantizedBytes: number; readonly ratio: number };
  readonly decode: { readonly tokens: number; readonly originalTokensPerSecond: number; readonly quantizedTokensPerSecond: number };
  readonly calibrationTokens: number;
}

export interface QuantizationReportOptions {
  /** Text whose activations feed the per-layer output comparison (its first `calibrationTokens` tokens). */
  readonly calibrationText: string;
  /** Held-out text for perplexity (default: the calibration text). */
  readonly evaluationText?: string;
  readonly calibrationTokens?: number;
  readonly windowTokens?: number;
  readonly maxWindows?: number;
  /** Greedy tokens generated from `prompt` to time decode on each model (default 32). */
  readonly decodeTokens?: number;
  readonly prompt?: string;
  readonly memoryBudget?: number;
  /** Keep the quantized model (returned as `quantized`) instead of disposing it. */
  readonly keep?: boolean;
}

/**
 * What a plan costs on a loaded float model (the seeds' comparePerformance): per projection the SNR and cosine
 * of the weights and of the layer's outputs on calibration text (both models fed the float model's activations),
 * perplexity on held-out text, weight memory and greedy decode speed, quantized against original, on the
 * model's own backend.
 */
export async function quantizationReport(model: Model, precision: LoadPrecision | QuantPlan, options: QuantizationReportOptions): Promise<{ report: QuantizationReport; quantized: Model | null }> {
  if (!options || typeof options.calibrationText !== 'string' || options.calibrationText.length === 0) throw new InvalidArgumentError('quantizationReport needs options.calibrationText.');
  const lm = llamaOf(model, 'quantizationReport()');
  const quantized = await quantizeModel(model, precision, options.memoryBudget !== undefined ? { memoryBudget: options.memoryBudget } : {});
  try {
    const qlm = llamaOf(quantized, 'quantizationReport()');
    const b = model.backend;
    // weights: the quantized model's packed weights dequantized against the original's f32
    const original = await downloadWeights(lm);
    const packed = await downloadWeights(qlm);
    const ref = new Map<string, Float32Array>();
    const got = new Map<string, { values: Float32Array; format: QuantFormat | null }>();
    for (const [name, w] of packed) {
      if (!layerClass(name)) continue;
      const o = original.get(name)!;
      ref.set(name, hostValues(o));
      got.set(name, { values: hostValues(w), format: w.packed?.format ?? null });
    }
    // a stacked projection (qkv, gate_up on backends that fuse them) is compared as its parts side by side
    const weightStats = (name: string): { format: QuantFormat | null; snrDb: number; cosine: number; cls: LayerClass | null } | null => {
      const parts = stackedParts(name);
      if (!parts.every((n) => ref.has(n))) return null;
      const cat = (xs: Float32Array[]) => {
        const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
        let at = 0;
        for (const x of xs) {
          out.set(x, at);
          at += x.length;
        }
        return out;
      };
      const { snrDb, cosine } = snrAndCosine(cat(parts.map((n) => ref.get(n)!)), cat(parts.map((n) => got.get(n)!.values)));
      return { format: got.get(parts[0]!)!.format, snrDb, cosine, cls: layerClass(parts[0]!) };
    };
    // outputs: every projection's float input on the calibration text, through both weights
    const calIds = model.tokenizer.encode(options.calibrationText).slice(0, Math.min(options.calibrationTokens ?? 128, lm.maxSequence));
    if (calIds.length === 0) throw new InvalidArgumentError('quantizationReport: the calibration text has no tokens.');
    const pairs: { name: string; f: Tensor; q: Tensor }[] = [];
    lm.resetCache();
    const logits = lm.forward(Int32Array.from(calIds), {
      allLogits: true,
      onLinearInput: (name, x) => {
        const fw = lm.linearWeight(name);
        const qw = qlm.linearWeight(name);
        if (fw && qw) pairs.push({ name, f: linear(b, x, fw), q: linear(b, x, qw) });
      },
    });
    logits.dispose();
    lm.resetCache();
    const layers: LayerQuality[] = [];
    for (const { name, f, q } of pairs) {
      const out = snrAndCosine((await b.download(f)) as Float32Array, (await b.download(q)) as Float32Array);
      f.dispose();
      q.dispose();
      const w = weightStats(name);
      layers.push({ name, layerClass: w?.cls ?? layerClass(name), format: w?.format ?? null, weightSnrDb: w?.snrDb ?? Infinity, weightCosine: w?.cosine ?? 1, outputSnrDb: out.snrDb, outputCosine: out.cosine });
    }
    // perplexity on held-out text
    const evalIds = model.tokenizer.encode(options.evaluationText ?? options.calibrationText);
    const pOptions = { ...(options.windowTokens !== undefined ? { windowTokens: options.windowTokens } : {}), ...(options.maxWindows !== undefined ? { maxWindows: options.maxWindows } : {}) };
    const po = await perplexity(lm, evalIds, pOptions);
    const pq = await perplexity(qlm, evalIds, pOptions);
    // decode speed, each after a short warm-up
    const decodeTokens = options.decodeTokens ?? 32;
    const prompt = options.prompt ?? options.calibrationText.slice(0, 64);
    const speed = async (m: Model) => {
      await m.generate(prompt, { maxNewTokens: 4, temperature: 0, ignoreEos: true }).result;
      m.lm!.resetCache();
      const r = await m.generate(prompt, { maxNewTokens: decodeTokens, temperature: 0, ignoreEos: true }).result;
      m.lm!.resetCache();
      return r.metrics.decodeTokensPerSecond;
    };
    const originalTokensPerSecond = await speed(model);
    const quantizedTokensPerSecond = await speed(quantized);
    const originalBytes = lm.memory().weightBytes;
    const quantizedBytes = qlm.memory().weightBytes;
    const report: QuantizationReport = {
      backend: b.name,
      plan: quantized.quantization,
      layers,
      perplexity: { original: po.perplexity, quantized: pq.perplexity, deltaPercent: 100 * (pq.perplexity / po.perplexity - 1), tokens: po.tokens },
      memory: { originalBytes, quantizedBytes, ratio: quantizedBytes / originalBytes },
      decode: { tokens: decodeTokens, originalTokensPerSecond, quantizedTokensPerSecond },
      calibrationTokens: calIds.length,
    };
    if (options.keep) return { report, quantized };
    quantized.dispose();
    return { report, quantized: null };
  } catch (error) {
    quantized.dispose();
    throw error;
  }
}

const fmtFormat = (f: QuantFormat | null) => (f ? `int${f.bits} g${f.groupSize} ${f.symmetric ? 'sym' : 'asym'}` : 'float');
const fmtDb = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '∞');

/** The report as a Markdown summary and per-layer table. */
export function formatQuantizationReport(r: QuantizationReport): string {
  const lines = [
    `Backend ${r.backend}; calibration ${r.calibrationTokens} tokens; perplexity over ${r.perplexity.tokens} tokens.`,
    '',
    '| | original | quantized | change |',
    '| --- | --- | --- | --- |',
    `| perplexity | ${r.perplexity.original.toFixed(3)} | ${r.perplexity.quantized.toFixed(3)} | ${r.perplexity.deltaPercent >= 0 ? '+' : ''}${r.perplexity.deltaPercent.toFixed(2)} % |`,
    `| weight bytes | ${r.memory.originalBytes} | ${r.memory.quantizedBytes} | ×${r.memory.ratio.toFixed(3)} |`,
    `| decode tok/s (${r.decode.tokens} tokens) | ${r.decode.originalTokensPerSecond.toFixed(1)} | ${r.decode.quantizedTokensPerSecond.toFixed(1)} | ×${(r.decode.quantizedTokensPerSecond / r.decode.originalTokensPerSecond).toFixed(2)} |`,
    '',
    '| layer | format | weight SNR dB | weight cos | output SNR dB | output cos |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.layers.map((l) => `| ${l.name} | ${fmtFormat(l.format)} | ${fmtDb(l.weightSnrDb)} | ${l.weightCosine.toFixed(5)} | ${fmtDb(l.outputSnrDb)} | ${l.outputCosine.toFixed(5)} |`),
  ];
  return lines.join('\n');
}
