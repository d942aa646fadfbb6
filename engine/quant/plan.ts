import { InvalidArgumentError, OutOfMemoryError } from '../errors.js';
import type { LlamaConfig } from '../formats/config.js';
import { f16Words, GROUP_SIZES, QUANT_BITS, type GroupSize, type QuantBits, type QuantFormat } from './layout.js';

/**
 * Quantization plans: which weights of a model are packed, and how. A plan names a scheme per layer class
 * (the seeds' "embedding 8, attention 3, ffn 2, lm_head 4" style), with name-pattern exclusions and per-layer
 * overrides; `resolvePlan` turns a preset name, a plan object or 'auto' (a memory budget) into the per-tensor
 * function the loaders call.
 */

/** One scheme. Omitted fields take the defaults of the bit width: 8/4 bits g32 symmetric, 3/2 bits g128 asymmetric with clip search. */
export interface QuantSpec {
  readonly bits: QuantBits;
  readonly groupSize?: GroupSize;
  readonly symmetric?: boolean;
  /** Error-minimising clip search per group (see quantizeWeight). */
  readonly clipSearch?: boolean;
}

/** How one weight is quantized: a complete spec. */
export interface QuantChoice {
  readonly format: QuantFormat;
  readonly clipSearch: boolean;
}

/** Layer classes of a decoder; norms and biases always stay float. */
export type LayerClass = 'embedding' | 'attention' | 'ffn' | 'lmHead';

/**
 * A mixed-precision plan. A class set to null (or left out) stays float. `exclude` keeps matching tensors float
 * whatever their class; `layers` overrides the class spec for matching tensors (first match wins; null = float).
 * Patterns are RegExps or globs over Hugging Face tensor names (`*` any run of characters, e.g.
 * `model.layers.0.*` or `*.down_proj.weight`).
 */
export interface QuantPlan {
  /**
   * The token embedding table, gathered row by row from its packed form on backends with `qembedding`
   * (webgpu, wasm, cpu; elsewhere it stays f32). A tied lm_head is this table, so it runs packed too.
   */
  readonly embedding?: QuantSpec | null;
  readonly attention?: QuantSpec | null;
  readonly ffn?: QuantSpec | null;
  readonly lmHead?: QuantSpec | null;
  readonly exclude?: readonly (string | RegExp)[];
  readonly layers?: readonly { readonly match: string | RegExp; readonly spec: QuantSpec | null }[];
}

export type PrecisionPreset = 'q8' | 'q4' | 'q3' | 'q2' | 'mixed';
/** 'original' keeps the checkpoint's weights; 'auto' picks the best preset ladder step that fits `memoryBudget`. */
export type LoadPrecision = 'original' | PrecisionPreset | 'auto';

export const PRESETS: Readonly<Record<PrecisionPreset, QuantPlan>> = {
  // every preset keeps the embedding at 8 bits (llama.cpp's k-quants keep it high too: it is looked up, not
  // averaged over, so its error reaches the model undiluted)
  q8: { embedding: { bits: 8 }, attention: { bits: 8 }, ffn: { bits: 8 }, lmHead: { bits: 8 } },
  q4: { embedding: { bits: 8 }, attention: { bits: 4 }, ffn: { bits: 4 }, lmHead: { bits: 4 } },
  q3: { embedding: { bits: 8 }, attention: { bits: 3 }, ffn: { bits: 3 }, lmHead: { bits: 3 } },
  q2: { embedding: { bits: 8 }, attention: { bits: 2 }, ffn: { bits: 2 }, lmHead: { bits: 2 } },
  // the seeds' preset: embedding 8-bit, attention 3-bit, feed-forward 2-bit, lm_head 4-bit
  mixed: { embedding: { bits: 8 }, attention: { bits: 3 }, ffn: { bits: 2 }, lmHead: { bits: 4 } },
};

/**
 * The ladder 'auto' walks, best quality first: each step lowers the class that costs least quality per byte
 * saved on the shipped model (bench:quant: feed-forward first, then attention; lm_head last).
 */
export const AUTO_LADDER: readonly QuantPlan[] = [
  PRESETS.q8,
  { embedding: { bits: 8 }, attention: { bits: 8 }, ffn: { bits: 4 }, lmHead: { bits: 8 } },
  PRESETS.q4,
  { embedding: { bits: 8 }, attention: { bits: 4 }, ffn: { bits: 3 }, lmHead: { bits: 4 } },
  PRESETS.q3,
  PRESETS.mixed,
  { embedding: { bits: 8 }, attention: { bits: 2 }, ffn: { bits: 2 }, lmHead: { bits: 4 } },
  PRESETS.q2,
  { embedding: { bits: 4 }, attention: { bits: 2 }, ffn: { bits: 2 }, lmHead: { bits: 2 } },
];

const ATTENTION = /(^|\.)self_attn\.[qkvo]_proj\.weight$/;
const FFN = /(^|\.)mlp\.(gate|up|down)_proj\.weight$/;
const LM_HEAD = /^lm_head\.weight$/;
const EMBEDDING = /^model\.embed_tokens\.weight$/;

/** The class of a Llama-family weight by its Hugging Face name, or null (norms, biases). */
export function layerClass(name: string): LayerClass | null {
  return ATTENTION.test(name) ? 'attention' : FFN.test(name) ? 'ffn' : LM_HEAD.test(name) ? 'lmHead' : EMBEDDING.test(name) ? 'embedding' : null;
}

/** A spec with the defaults of its bit width filled in; bad values are typed errors. */
export function completeSpec(spec: QuantSpec, where = 'plan'): QuantChoice {
  if (!spec || typeof spec !== 'object' || !QUANT_BITS.includes(spec.bits)) throw new InvalidArgumentError(`${where}: bits must be one of ${QUANT_BITS.join(', ')}, got ${JSON.stringify(spec?.bits)}.`);
  const low = spec.bits <= 3;
  const groupSize = spec.groupSize ?? (low ? 128 : 32);
  if (!GROUP_SIZES.includes(groupSize)) throw new InvalidArgumentError(`${where}: groupSize must be one of ${GROUP_SIZES.join(', ')}, got ${JSON.stringify(spec.groupSize)}.`);
  return { format: { bits: spec.bits, groupSize, symmetric: spec.symmetric ?? !low }, clipSearch: spec.clipSearch ?? low };
}

function patternOf(p: string | RegExp, where: string): RegExp {
  if (p instanceof RegExp) return p;
  if (typeof p !== 'string' || p === '') throw new InvalidArgumentError(`${where}: a pattern must be a RegExp or a non-empty glob string.`);
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Which tensors a load quantizes, and how (null: keep float). */
export type TensorPlan = (name: string, shape: readonly number[]) => QuantChoice | null;

/** A plan as the per-tensor function the loaders call; the plan is validated here, once. */
export function compilePlan(plan: QuantPlan): TensorPlan {
  if (!plan || typeof plan !== 'object') throw new InvalidArgumentError('A quantization plan must be an object such as { attention: { bits: 4 }, ffn: { bits: 4 } }.');
  const known = new Set(['embedding', 'attention', 'ffn', 'lmHead', 'exclude', 'layers']);
  for (const key of Object.keys(plan)) if (!known.has(key)) throw new InvalidArgumentError(`Unknown quantization plan field "${key}"; the fields are ${[...known].join(', ')}. (Norms and biases stay float.)`);
  const byClass: Record<LayerClass, QuantChoice | null> = {
    embedding: plan.embedding ? completeSpec(plan.embedding, 'plan.embedding') : null,
    attention: plan.attention ? completeSpec(plan.attention, 'plan.attention') : null,
    ffn: plan.ffn ? completeSpec(plan.ffn, 'plan.ffn') : null,
    lmHead: plan.lmHead ? completeSpec(plan.lmHead, 'plan.lmHead') : null,
  };
  const exclude = (plan.exclude ?? []).map((p, i) => patternOf(p, `plan.exclude[${i}]`));
  const layers = (plan.layers ?? []).map((l, i) => ({ match: patternOf(l.match, `plan.layers[${i}].match`), choice: l.spec ? completeSpec(l.spec, `plan.layers[${i}].spec`) : null }));
  return (name, shape) => {
    const cls = layerClass(name);
    if (!cls || shape.length !== 2 || exclude.some((r) => r.test(name))) return null;
    const override = layers.find((l) => l.match.test(name));
    const c = override ? override.choice : byClass[cls];
    // a weight whose K is not a multiple of the group stays float rather than failing the load
    return c && shape[1]! % c.format.groupSize === 0 ? c : null;
  };
}

/** Bytes a [N, K] weight takes in a format (codes, f16 scales and mins). */
export function packedBytes(n: number, k: number, format: QuantFormat): number {
  const half = 4 * f16Words((n * k) / format.groupSize);
  return (n * k * format.bits) / 8 + half * (format.symmetric ? 1 : 2);
}

/** The projections of a Llama-family model by Hugging Face name and [N, K] shape, as LlamaModel uploads them. */
export function llamaProjections(c: LlamaConfig, tiedEmbeddings: boolean): { name: string; shape: [number, number] }[] {
  const d = c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const out: { name: string; shape: [number, number] }[] = [];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      { name: `${p}self_attn.q_proj.weight`, shape: [q, d] },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, d] },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, d] },
      { name: `${p}self_attn.o_proj.weight`, shape: [d, q] },
      { name: `${p}mlp.gate_proj.weight`, shape: [c.intermediateSize, d] },
      { name: `${p}mlp.up_proj.weight`, shape: [c.intermediateSize, d] },
      { name: `${p}mlp.down_proj.weight`, shape: [d, c.intermediateSize] },
    );
  }
  if (!tiedEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, d] });
  return out;
}

/**
 * Weight bytes of a Llama-family model under a plan (projections and embedding as planned, norms f32) on a
 * backend that gathers packed embeddings (`packedEmbedding`; elsewhere the embedding stays f32).
 */
export function planWeightBytes(c: LlamaConfig, plan: TensorPlan | null, tiedEmbeddings: boolean, packedEmbedding = true): number {
  let bytes = 4 * (2 * c.numHiddenLayers + 1) * c.hiddenSize;
  const embed: [number, number] = [c.vocabSize, c.hiddenSize];
  const embedChoice = packedEmbedding ? plan?.('model.embed_tokens.weight', embed) ?? null : null;
  bytes += embedChoice ? packedBytes(embed[0], embed[1], embedChoice.format) : 4 * embed[0] * embed[1];
  for (const p of llamaProjections(c, tiedEmbeddings)) {
    const choice = plan?.(p.name, p.shape) ?? null;
    bytes += choice ? packedBytes(p.shape[0], p.shape[1], choice.format) : 4 * p.shape[0] * p.shape[1];
  }
  return bytes;
}

/**
 * 'auto': the first step of AUTO_LADDER whose weights fit `budgetBytes` (weights only; the KV cache is sized
 * separately by maxSequence / memoryProfile). Nothing fitting is an OutOfMemoryError naming the smallest size.
 */
export function autoPlan(c: LlamaConfig, budgetBytes: number, tiedEmbeddings: boolean, packedEmbedding = true): { plan: QuantPlan; weightBytes: number } {
  if (!(budgetBytes > 0) || !Number.isFinite(budgetBytes)) throw new InvalidArgumentError(`precision "auto" needs memoryBudget, a positive number of bytes; got ${String(budgetBytes)}.`);
  const original = planWeightBytes(c, null, tiedEmbeddings);
  if (original <= budgetBytes) return { plan: {}, weightBytes: original };
  let smallest = original;
  for (const plan of AUTO_LADDER) {
    const weightBytes = planWeightBytes(c, compilePlan(plan), tiedEmbeddings, packedEmbedding);
    if (weightBytes <= budgetBytes) return { plan, weightBytes };
    smallest = weightBytes;
  }
  throw new OutOfMemoryError(smallest, `a memoryBudget of ${budgetBytes} bytes (precision "auto": even 2-bit projections need ${smallest} bytes of weights)`);
}

/** A preset name, a plan object or 'auto' → the per-tensor plan (null for 'original'). */
export function resolvePlan(precision: LoadPrecision | QuantPlan | undefined, auto?: { config: LlamaConfig; budgetBytes: number | undefined; tiedEmbeddings: boolean; packedEmbedding?: boolean }): { plan: TensorPlan | null; description: QuantPlan | null } {
  if (precision === undefined || precision === 'original') return { plan: null, description: null };
  if (precision === 'auto') {
    if (!auto) throw new InvalidArgumentError('precision "auto" is available for Llama-family float checkpoints.');
    const { plan } = autoPlan(auto.config, auto.budgetBytes ?? NaN, auto.tiedEmbeddings, auto.packedEmbedding ?? true);
    return Object.keys(plan).length === 0 ? { plan: null, description: null } : { plan: compilePlan(plan), description: plan };
  }
  if (typeof precision === 'string') {
    const preset = (PRESETS as Record<string, QuantPlan>)[precision];
    if (!preset) throw new InvalidArgumentError(`precision "${precision}" is not one of original, auto, ${Object.keys(PRESETS).join(', ')} (or a plan object).`);
    return { plan: compilePlan(preset), description: preset };
  }
  return { plan: compilePlan(precision), description: precision };
}

/** The plan as plain JSON (RegExps as their source), for reports and saved models. */
export function describePlan(plan: QuantPlan): Record<string, unknown> {
  const full = (s: QuantSpec | null | undefined) => (s ? { ...completeSpec(s).format, clipSearch: completeSpec(s).clipSearch } : null);
  const pat = (p: string | RegExp) => (p instanceof RegExp ? `/${p.source}/${p.flags}` : p);
  return {
    attention: full(plan.attention),
    ffn: full(plan.ffn),
    lmHead: full(plan.lmHead),
    embedding: full(plan.embedding),
    norms: null,
    exclude: (plan.exclude ?? []).map(pat),
    layers: (plan.layers ?? []).map((l) => ({ match: pat(l.match), spec: full(l.spec) })),
  };
}
