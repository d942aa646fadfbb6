import { InvalidArgumentError } from '../errors.js';
import type { LlamaConfig } from '../formats/config.js';
import { writeSafetensors, type SafetensorsOutput } from '../formats/safetensors.js';
import { f32Tensor, writeGguf, type GgufOutputTensor, type GgufValue } from '../formats/gguf-write.js';
import { GgmlType } from '../formats/gguf.js';
import { llamaRopeRowOrder, packedToQ4_0, packedToQ8_0, reorderPackedRows, reorderRows } from '../formats/gguf-blocks.js';
import { hfToGgufName } from '../formats/gguf-llama.js';
import { Model } from '../load-model.js';
import { LlamaModel } from '../models/llama/llama.js';
import type { PackedWeightData, WeightStore } from '../models/weights.js';
import type { Tensor } from '../tensor/tensor.js';
import { describePlan, resolvePlan, type LoadPrecision, type QuantPlan, type TensorPlan } from './plan.js';
import { dequantizeWeight, quantizeWeight } from './quantize.js';
import { f16Words, readHalf, wordsPerRow, writeHalf } from './layout.js';
import { QUANT_METADATA_KEY, type SavedQuantEntry, type SavedQuantization } from './saved.js';

/** One weight copied to the host: f32 values, or the packed layout when the model holds it packed. */
export interface HostWeight {
  readonly shape: readonly number[];
  readonly f32?: Float32Array;
  readonly packed?: PackedWeightData;
}

/** The model's LlamaModel, or a typed error naming `what` needs it. */
export function llamaOf(model: Model, what: string): LlamaModel {
  if (model.disposed) throw new InvalidArgumentError(`${what}: the model was disposed.`);
  if (!(model.lm instanceof LlamaModel)) throw new InvalidArgumentError(`${what} is available for Llama-family models; this is a ${model.config.architecture} model.`);
  return model.lm;
}

/** Halves [first, first + count) of a packed f16 array, repacked from half 0. */
function sliceHalves(words: Uint32Array, first: number, count: number): Uint32Array {
  if (first % 2 === 0) return words.slice(first / 2, first / 2 + f16Words(count));
  const out = new Uint32Array(f16Words(count));
  for (let i = 0; i < count; i++) writeHalf(out, i, readHalf(words, first + i));
  return out;
}

/** Rows [first, first + count) of a packed weight. */
function sliceRows(p: PackedWeightData, first: number, count: number): PackedWeightData {
  const [, k] = p.shape;
  const wpr = wordsPerRow(k, p.format.bits);
  const gpr = k / p.format.groupSize;
  return {
    shape: [count, k],
    format: p.format,
    data: p.data.slice(first * wpr, (first + count) * wpr),
    scales: sliceHalves(p.scales, first * gpr, count * gpr),
    mins: p.mins ? sliceHalves(p.mins, first * gpr, count * gpr) : null,
  };
}

/** Every weight of a Llama-family model copied from its backend, by Hugging Face name (stacked weights split). */
export async function downloadWeights(lm: LlamaModel): Promise<Map<string, HostWeight>> {
  const b = lm.backend;
  const out = new Map<string, HostWeight>();
  // a stacked weight is downloaded once for all its slices
  const seen = new Map<unknown, Promise<Float32Array | PackedWeightData>>();
  const once = <T extends Float32Array | PackedWeightData>(key: unknown, get: () => Promise<T>): Promise<T> => {
    let hit = seen.get(key);
    if (!hit) seen.set(key, (hit = get()));
    return hit as Promise<T>;
  };
  const f32 = (t: Tensor) => once(t, async () => new Float32Array(await b.download(t)));
  const u32 = async (t: Tensor) => new Uint32Array(await b.download(t));
  for (const { name, weight, rows } of lm.weights()) {
    if (!('kind' in weight)) {
      const v = await f32(weight);
      out.set(name, rows ? { shape: [rows[1]], f32: v.slice(rows[0], rows[0] + rows[1]) } : { shape: weight.shape, f32: v });
    } else if (weight.kind === 'dense') {
      const v = await f32(weight.w);
      const k = weight.k;
      out.set(name, rows ? { shape: [rows[1], k], f32: v.slice(rows[0] * k, (rows[0] + rows[1]) * k) } : { shape: [weight.n, k], f32: v });
    } else {
      const q = weight.q;
      const packed = await once(q, async (): Promise<PackedWeightData> => ({
        shape: q.shape, format: { bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric }, data: await u32(q.data), scales: await u32(q.scales), mins: q.mins ? await u32(q.mins) : null,
      }));
      const p = rows ? sliceRows(packed, rows[0], rows[1]) : packed;
      out.set(name, { shape: p.shape, packed: p });
    }
  }
  return out;
}

/** A host weight's values as f32 (packed ones dequantized). */
export function hostValues(w: HostWeight): Float32Array {
  return w.f32 ?? dequantizeWeight(w.packed!);
}

const sameFormat = (p: PackedWeightData, f: { bits: number; groupSize: number; symmetric: boolean }) => p.format.bits === f.bits && p.format.groupSize === f.groupSize && p.format.symmetric === f.symmetric;

/** A WeightStore over host weights that packs what `plan` names (weights already packed in that format stay as they are). */
export function hostStore(weights: ReadonlyMap<string, HostWeight>, plan: TensorPlan | null): WeightStore {
  const get = (name: string): HostWeight => {
    const w = weights.get(name);
    if (!w) throw new InvalidArgumentError(`No tensor "${name}" in the model.`);
    return w;
  };
  const f32 = (name: string): Float32Array => hostValues(get(name));
  return {
    has: (name) => weights.has(name),
    shape: (name) => get(name).shape,
    f32,
    packed: (name) => {
      const w = get(name);
      const choice = plan?.(name, w.shape) ?? null;
      if (!choice) return w.packed ?? null;
      if (w.packed && sameFormat(w.packed, choice.format)) return w.packed;
      return quantizeWeight(f32(name), w.shape[0]!, w.shape[1]!, choice.format, { clipSearch: choice.clipSearch });
    },
  };
}

/**
 * A quantized copy of a loaded Llama-family model on the same backend, under a preset, 'auto' (with
 * `memoryBudget`) or a plan object; the original stays loaded and usable (compare them, then dispose one).
 * Weights the model already holds packed stay packed unless the plan names another format.
 */
export async function quantizeModel(model: Model, precision: LoadPrecision | QuantPlan, options: { memoryBudget?: number } = {}): Promise<Model> {
  const lm = llamaOf(model, 'quantize()');
  const config = model.config as LlamaConfig;
  const host = await downloadWeights(lm);
  const { plan, description } = resolvePlan(precision, { config, budgetBytes: options.memoryBudget, tiedEmbeddings: !host.has('lm_head.weight'), packedEmbedding: model.backend.qembedding !== undefined });
  const quantized = new LlamaModel(model.backend, config, hostStore(host, plan), { maxSequence: lm.maxSequence });
  await model.backend.sync();
  return new Model({
    config,
    tokenizer: model.tokenizer,
    backend: model.backend,
    source: model.source,
    format: 'safetensors',
    lm: quantized,
    encoder: null,
    generationConfig: model.generationConfig as Record<string, unknown> | null,
    files: model.files,
    quantization: description ? describePlan(description) : model.quantization,
  });
}

/**
 * The model as a Hugging Face folder: `model.safetensors` (float tensors F32; packed weights as U32 parts
 * described in `__metadata__["accel.quantization"]`, see quant/saved.ts), `quantization.json` (the same
 * description, readable), and the config and tokenizer files it was loaded with. `engine.load()` reads it back
 * (from a server, or from these bytes as Files) with the weights packed exactly as saved.
 */
export async function saveModel(model: Model): Promise<Map<string, Uint8Array>> {
  const lm = llamaOf(model, 'save()');
  if (!model.files.has('tokenizer.json') || !model.files.has('config.json')) {
    throw new InvalidArgumentError('save() writes a Hugging Face folder and needs the config.json and tokenizer.json the model was loaded with; this model came from a GGUF file.');
  }
  const host = await downloadWeights(lm);
  const tensors: SafetensorsOutput[] = [];
  const entries: Record<string, SavedQuantEntry> = {};
  for (const [name, w] of host) {
    if (w.f32) {
      tensors.push({ name, dtype: 'F32', shape: w.shape, data: w.f32 });
      continue;
    }
    const p = w.packed!;
    entries[name] = { shape: p.shape, ...p.format };
    tensors.push({ name: `${name}.qdata`, dtype: 'U32', shape: [p.data.length], data: p.data });
    tensors.push({ name: `${name}.scales`, dtype: 'U32', shape: [p.scales.length], data: p.scales });
    if (p.mins) tensors.push({ name: `${name}.mins`, dtype: 'U32', shape: [p.mins.length], data: p.mins });
  }
  const description: SavedQuantization = { version: 1, plan: model.quantization, tensors: entries };
  const files = new Map<string, Uint8Array>();
  const enc = new TextEncoder();
  files.set('model.safetensors', writeSafetensors(tensors, { format: 'pt', [QUANT_METADATA_KEY]: JSON.stringify(description) }));
  files.set('quantization.json', enc.encode(`${JSON.stringify(description, null, 2)}\n`));
  for (const [name, text] of model.files) files.set(name, enc.encode(text));
  return files;
}

/** Q/K rows in llama.cpp's order (its rope rotates adjacent pairs): the inverse of what the GGUF reader undoes. */
function toGgufRows(c: LlamaConfig, name: string, rows: number): Int32Array | null {
  if (c.modelType === 'qwen2') return null;
  const m = /\.self_attn\.(q|k)_proj\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const order = llamaRopeRowOrder(rows, m[1] === 'q' ? c.numAttentionHeads : c.numKeyValueHeads);
  const inverse = new Int32Array(rows);
  for (let r = 0; r < rows; r++) inverse[order[r]!] = r;
  return inverse;
}

/** The byte-level BPE vocabulary of a tokenizer.json as GGUF's tokenizer.ggml.* arrays. */
function ggufVocabulary(tokenizerJson: string): { tokens: string[]; types: Int32Array; merges: string[] } {
  const fail = (why: string) => new InvalidArgumentError(`saveGguf: ${why}; GGUF export writes byte-level BPE tokenizers (tokenizer.ggml.model "gpt2") only.`);
  const j = JSON.parse(tokenizerJson) as { model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] }; pre_tokenizer?: { type?: string } | null; added_tokens?: { id: number; content: string; special?: boolean }[] };
  if (j.model?.type !== 'BPE' || !j.model.vocab || !j.model.merges) throw fail(`the tokenizer is ${j.model?.type ?? 'unknown'}, not BPE`);
  if (j.pre_tokenizer?.type !== 'ByteLevel') throw fail(`its pre-tokenizer is ${j.pre_tokenizer?.type ?? 'none'}, not ByteLevel`);
  const byId: (string | undefined)[] = [];
  const special = new Set<number>();
  for (const [tok, id] of Object.entries(j.model.vocab)) byId[id] = tok;
  for (const a of j.added_tokens ?? []) {
    byId[a.id] = a.content;
    if (a.special) special.add(a.id);
  }
  const tokens: string[] = [];
  for (let i = 0; i < byId.length; i++) {
    const t = byId[i];
    if (t === undefined) throw fail(`token id ${i} has no token`);
    tokens.push(t);
  }
  const types = Int32Array.from(tokens, (_, i) => (special.has(i) ? 3 : 1));
  const merges = j.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

/**
 * The model as one GGUF file llama.cpp and accel both load: Q8_0 / Q4_0 for weights packed at 8 / 4 bits in
 * groups of 32, symmetric (precision q8 / q4; the embedding at 8 bits), F32 for the rest; q/k rows in
 * llama.cpp's order; the config as llama.* keys; a byte-level BPE tokenizer as tokenizer.ggml.* (pre-tokenizer
 * "gpt-2") and the chat template. Other packed formats (3/2 bits, asymmetric, other groups) have no lossless
 * ggml type and are refused with the tensor named.
 */
export async function saveGguf(model: Model): Promise<Uint8Array> {
  const lm = llamaOf(model, 'saveGguf()');
  const c = model.config as LlamaConfig;
  const tokJson = model.files.get('tokenizer.json');
  if (!tokJson) throw new InvalidArgumentError('saveGguf() needs the tokenizer.json the model was loaded with; this model came from a GGUF file already.');
  if (c.ropeScaling) throw new InvalidArgumentError(`saveGguf(): rope scaling "${c.ropeScaling.type}" is not written to GGUF yet.`);
  const vocab = ggufVocabulary(tokJson);
  const host = await downloadWeights(lm);
  const tensors: GgufOutputTensor[] = [];
  let q4 = false;
  let q8 = false;
  for (const [name, w] of host) {
    const gname = hfToGgufName(name);
    if (!gname) throw new InvalidArgumentError(`saveGguf(): tensor "${name}" has no llama.cpp name.`);
    const rows = toGgufRows(c, name, w.shape[0]!);
    if (w.f32) {
      const values = rows ? reorderRows(w.f32, w.shape.length === 2 ? w.shape[1]! : 1, rows) : w.f32;
      tensors.push({ name: gname, dims: [...w.shape].reverse(), type: GgmlType.F32, data: f32Tensor(values) });
      continue;
    }
    const p0 = w.packed!;
    const f = p0.format;
    if (f.groupSize !== 32 || !f.symmetric || (f.bits !== 8 && f.bits !== 4)) {
      throw new InvalidArgumentError(`saveGguf(): "${name}" is packed int${f.bits} g${f.groupSize} ${f.symmetric ? 'symmetric' : 'asymmetric'}, which has no lossless ggml type; GGUF export writes Q8_0 and Q4_0 (precision q8 or q4).`);
    }
    const p = rows ? reorderPackedRows({ shape: p0.shape, format: f, data: p0.data, scales: p0.scales }, rows) : p0;
    if (f.bits === 8) q8 = true;
    else q4 = true;
    tensors.push({ name: gname, dims: [p0.shape[1], p0.shape[0]], type: f.bits === 8 ? GgmlType.Q8_0 : GgmlType.Q4_0, data: f.bits === 8 ? packedToQ8_0(p) : packedToQ4_0(p) });
  }
  const arch = c.modelType;
  const k = (s: string) => `${arch}.${s}`;
  const probe = model.tokenizer.encode('a', { addSpecialTokens: true });
  const addBos = c.bosTokenId !== null && probe[0] === c.bosTokenId;
  const template = (() => {
    const cfg = model.files.get('tokenizer_config.json');
    const t = cfg ? (JSON.parse(cfg) as { chat_template?: unknown }).chat_template : undefined;
    return typeof t === 'string' ? t : null;
  })();
  const name = (c.raw as { _name_or_path?: string })._name_or_path?.split('/').pop() || model.info.name;
  const meta: [string, GgufValue][] = [
    ['general.architecture', { type: 'str', value: arch }],
    ['general.name', { type: 'str', value: name }],
    // llama.cpp's file types: 7 = mostly Q8_0, 2 = mostly Q4_0, 0 = all F32
    ['general.file_type', { type: 'u32', value: q4 ? 2 : q8 ? 7 : 0 }],
    ['general.quantization_version', { type: 'u32', value: 2 }],
    [k('vocab_size'), { type: 'u32', value: c.vocabSize }],
    [k('context_length'), { type: 'u32', value: c.maxPositionEmbeddings }],
    [k('embedding_length'), { type: 'u32', value: c.hiddenSize }],
    [k('block_count'), { type: 'u32', value: c.numHiddenLayers }],
    [k('feed_forward_length'), { type: 'u32', value: c.intermediateSize }],
    [k('attention.head_count'), { type: 'u32', value: c.numAttentionHeads }],
    [k('attention.head_count_kv'), { type: 'u32', value: c.numKeyValueHeads }],
    [k('attention.key_length'), { type: 'u32', value: c.headDim }],
    [k('attention.value_length'), { type: 'u32', value: c.headDim }],
    [k('rope.dimension_count'), { type: 'u32', value: c.headDim }],
    [k('rope.freq_base'), { type: 'f32', value: c.ropeTheta }],
    [k('attention.layer_norm_rms_epsilon'), { type: 'f32', value: c.rmsNormEps }],
    ['tokenizer.ggml.model', { type: 'str', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'str', value: 'gpt-2' }],
    ['tokenizer.ggml.tokens', { type: 'str[]', value: vocab.tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }],
    ['tokenizer.ggml.merges', { type: 'str[]', value: vocab.merges }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: addBos }],
  ];
  if (c.bosTokenId !== null) meta.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: c.bosTokenId }]);
  if (c.eosTokenIds[0] !== undefined) meta.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: c.eosTokenIds[0] }]);
  if (c.padTokenId !== null) meta.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: c.padTokenId }]);
  if (template) meta.push(['tokenizer.chat_template', { type: 'str', value: template }]);
  return writeGguf(meta, tensors);
}
