import { FormatError } from '../errors.js';
import type { LlamaConfig, RopeScaling } from './config.js';
import { type GgufHeader, type GgufTensorInfo, ggufNumber, ggufString, ggufStringArray } from './gguf.js';
import { type PackedWeight, dequantizeGgufTensor, llamaRopeRowOrder, reorderPackedRows, reorderRows, repackGgufTensor } from './gguf-blocks.js';

/**
 * llama.cpp names and metadata of Llama-family GGUF files → Hugging Face names and a `LlamaConfig`, so
 * the Llama model code reads GGUF and safetensors checkpoints through one set of names.
 */

const GLOBAL_NAMES: Readonly<Record<string, string>> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

const LAYER_NAMES: Readonly<Record<string, string>> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_output.bias': 'self_attn.o_proj.bias',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};

/** The llama.cpp name of a Hugging Face Llama tensor, or null (the inverse of ggufToHfName). */
export function hfToGgufName(name: string): string | null {
  for (const [g, hf] of Object.entries(GLOBAL_NAMES)) if (hf === name) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return null;
  for (const [g, hf] of Object.entries(LAYER_NAMES)) if (hf === m[2]) return `blk.${m[1]}.${g}`;
  return null;
}

/** The HF name of a llama.cpp tensor, or null for tensors HF has no equivalent of (rope_freqs…). */
export function ggufToHfName(name: string): string | null {
  const g = GLOBAL_NAMES[name];
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return null;
  const local = LAYER_NAMES[m[2]!];
  return local ? `model.layers.${m[1]}.${local}` : null;
}

const ARCHS: Readonly<Record<string, LlamaConfig['modelType']>> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2' };

function tokenId(h: GgufHeader, key: string): number | null {
  const v = h.metadata.get(key);
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FormatError(h.fileName, `metadata "${key}" must be a token id.`);
  return v;
}

/** `general.architecture` must be a Llama-family one; its `<arch>.*` keys give the config. */
export function ggufLlamaConfig(h: GgufHeader): LlamaConfig {
  const arch = ggufString(h, 'general.architecture');
  if (arch === undefined) throw new FormatError(h.fileName, 'metadata "general.architecture" is missing; this GGUF has no model description.');
  const modelType = ARCHS[arch];
  if (!modelType) throw new FormatError(h.fileName, `architecture "${arch}" is not supported from GGUF; supported: ${Object.keys(ARCHS).join(', ')}.`);
  const k = (s: string) => `${arch}.${s}`;
  const positive = (key: string, fallback?: number): number => {
    const v = fallback === undefined ? ggufNumber(h, key) : ggufNumber(h, key, fallback);
    if (!(v > 0) || !Number.isFinite(v)) throw new FormatError(h.fileName, `metadata "${key}" = ${v} must be positive.`);
    return v;
  };
  const hiddenSize = positive(k('embedding_length'));
  const numAttentionHeads = positive(k('attention.head_count'));
  const numKeyValueHeads = positive(k('attention.head_count_kv'), numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new FormatError(h.fileName, `${k('attention.head_count_kv')} = ${numKeyValueHeads} does not divide ${k('attention.head_count')} = ${numAttentionHeads}.`);
  }
  const headDim = positive(k('attention.key_length'), hiddenSize / numAttentionHeads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new FormatError(h.fileName, `head size ${headDim} must be an even integer.`);
  const tokens = ggufStringArray(h, 'tokenizer.ggml.tokens');
  const embd = h.byName.get('token_embd.weight');
  const vocabSize = h.metadata.has(k('vocab_size')) ? positive(k('vocab_size')) : tokens?.length ?? embd?.dims[1];
  if (vocabSize === undefined) throw new FormatError(h.fileName, 'cannot tell the vocabulary size: no vocab_size, tokenizer.ggml.tokens or token_embd.weight.');
  const scalingType = ggufString(h, k('rope.scaling.type'));
  let ropeScaling: RopeScaling | null = null;
  if (scalingType !== undefined && scalingType !== 'none') {
    const factor = ggufNumber(h, k('rope.scaling.factor'), 0) || undefined;
    const orig = ggufNumber(h, k('rope.scaling.original_context_length'), 0) || undefined;
    ropeScaling = { type: scalingType, factor, lowFreqFactor: undefined, highFreqFactor: undefined, originalMaxPositionEmbeddings: orig, raw: {} };
  }
  // llama.cpp stores Llama 3.1+ rope scaling as per-pair frequency factors in a rope_freqs tensor, with no
  // scaling keys: name it so that the model refuses it (engine/models/rope-scaling.ts) instead of running
  // unscaled, which is wrong past the original context
  if (h.byName.has('rope_freqs.weight')) {
    ropeScaling = { type: 'rope_freqs', factor: undefined, lowFreqFactor: undefined, highFreqFactor: undefined, originalMaxPositionEmbeddings: undefined, raw: {} };
  }
  const eos = tokenId(h, 'tokenizer.ggml.eos_token_id');
  const hasQBias = h.byName.has('blk.0.attn_q.bias');
  return {
    architecture: 'llama',
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: positive(k('feed_forward_length')),
    numHiddenLayers: positive(k('block_count')),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: positive(k('context_length'), 2048),
    rmsNormEps: positive(k('attention.layer_norm_rms_epsilon'), 1e-6),
    ropeTheta: positive(k('rope.freq_base'), 10000),
    ropeScaling,
    hiddenAct: 'silu',
    qkvBias: hasQBias,
    oBias: h.byName.has('blk.0.attn_output.bias'),
    mlpBias: false,
    tieWordEmbeddings: !h.byName.has('output.weight'),
    slidingWindow: null,
    bosTokenId: tokenId(h, 'tokenizer.ggml.bos_token_id'),
    eosTokenIds: eos === null ? [] : [eos],
    padTokenId: tokenId(h, 'tokenizer.ggml.padding_token_id'),
    raw: Object.freeze(Object.fromEntries([...h.metadata].filter(([key]) => !key.startsWith('tokenizer.ggml.')))),
  };
}

/**
 * The permutation llama.cpp applied to this tensor's rows, or null. Only the `llama` (and `mistral`)
 * converters permute q/k (their rope is the adjacent-pair kind); qwen2 uses the NeoX rope, which
 * matches HF's rotate_half, so its weights are stored unpermuted.
 */
export function ggufRowOrder(h: GgufHeader, config: LlamaConfig, info: GgufTensorInfo): Int32Array | null {
  if (config.modelType === 'qwen2') return null;
  const m = /^blk\.\d+\.attn_(q|k)\.(weight|bias)$/.exec(info.name);
  if (!m) return null;
  const rows = info.dims.length === 2 ? info.dims[1]! : info.dims[0]!;
  const heads = m[1] === 'q' ? config.numAttentionHeads : config.numKeyValueHeads;
  if (rows !== heads * config.headDim) {
    throw new FormatError(h.fileName, `tensor "${info.name}" has ${rows} rows, expected ${heads} heads × ${config.headDim}.`, { byteOffset: info.begin });
  }
  return llamaRopeRowOrder(rows, heads);
}

/** A tensor as f32 in HF layout (q/k rows un-permuted). `bytes` starts at file offset `fileOffset`. */
export function ggufTensorF32(h: GgufHeader, config: LlamaConfig, info: GgufTensorInfo, bytes: Uint8Array, fileOffset = 0): Float32Array {
  const x = dequantizeGgufTensor(info, bytes, fileOffset, h.fileName);
  const order = ggufRowOrder(h, config, info);
  return order ? reorderRows(x, info.dims.length === 2 ? info.dims[0]! : 1, order) : x;
}

/** A Q8_0/Q4_0 weight in the engine's packed layout, in HF row order, with no f32 copy. */
export function ggufTensorPacked(h: GgufHeader, config: LlamaConfig, info: GgufTensorInfo, bytes: Uint8Array, fileOffset = 0): PackedWeight {
  const p = repackGgufTensor(info, bytes, fileOffset, h.fileName);
  const order = ggufRowOrder(h, config, info);
  return order ? reorderPackedRows(p, order) : p;
}
