import { FormatError } from '../errors.js';

/**
 * `config.json` → a typed, validated config per architecture. Field names follow the Hugging Face
 * configs in camelCase; defaults are the ones transformers applies when a field is absent. `raw`
 * keeps the whole JSON for anything an architecture wants beyond these fields.
 */

export interface RopeScaling {
  /** `rope_type` (or the older `type`): 'linear', 'dynamic', 'llama3', 'yarn', 'longrope', … */
  readonly type: string;
  readonly factor: number | undefined;
  readonly lowFreqFactor: number | undefined;
  readonly highFreqFactor: number | undefined;
  readonly originalMaxPositionEmbeddings: number | undefined;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface LlamaConfig {
  readonly architecture: 'llama';
  /** The config's own model_type: llama (also SmolLM, TinyLlama), mistral or qwen2. */
  readonly modelType: 'llama' | 'mistral' | 'qwen2';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly hiddenAct: string;
  /** Biases on q, k and v projections (qwen2 always; llama when attention_bias). */
  readonly qkvBias: boolean;
  /** Bias on the output projection (llama attention_bias; never qwen2). */
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly slidingWindow: number | null;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface Gpt2Config {
  readonly architecture: 'gpt2';
  readonly modelType: 'gpt2';
  readonly vocabSize: number;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nPositions: number;
  /** MLP width (n_inner, default 4 · n_embd). */
  readonly nInner: number;
  readonly layerNormEpsilon: number;
  readonly activationFunction: string;
  readonly scaleAttnWeights: boolean;
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface BertConfig {
  readonly architecture: 'bert';
  readonly modelType: 'bert';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly maxPositionEmbeddings: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly hiddenAct: string;
  readonly positionEmbeddingType: string;
  readonly padTokenId: number | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface VitConfig {
  readonly architecture: 'vit';
  readonly modelType: 'vit';
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly layerNormEps: number;
  readonly hiddenAct: string;
  /** Square input side in pixels (image_size) and patch side (patch_size); image_size % patch_size === 0. */
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numChannels: number;
  readonly qkvBias: boolean;
  /** Class labels by index (id2label), in index order; length = number of classifier outputs. */
  readonly labels: readonly string[];
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface WhisperConfig {
  readonly architecture: 'whisper';
  readonly modelType: 'whisper';
  readonly vocabSize: number;
  readonly numMelBins: number;
  readonly dModel: number;
  readonly encoderLayers: number;
  readonly encoderAttentionHeads: number;
  readonly encoderFfnDim: number;
  readonly decoderLayers: number;
  readonly decoderAttentionHeads: number;
  readonly decoderFfnDim: number;
  /** Encoder positions (1500 = 30 s); the encoder takes exactly 2 × this many mel frames. */
  readonly maxSourcePositions: number;
  readonly maxTargetPositions: number;
  readonly activationFunction: string;
  readonly scaleEmbedding: boolean;
  readonly decoderStartTokenId: number;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

export type ModelConfig = LlamaConfig | Gpt2Config | BertConfig | VitConfig | WhisperConfig;

export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'gpt2', 'bert', 'vit', 'whisper'] as const;

class Fields {
  constructor(readonly json: Record<string, unknown>, readonly fileName: string) {}

  fail(problem: string): never {
    throw new FormatError(this.fileName, `${problem} Fix the config or use the one the checkpoint was saved with.`);
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined || v === null) this.fail(`"${key}" is missing; it must be a positive integer.`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}.`);
    return v;
  }

  positiveNumber(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (v === undefined || v === null) this.fail(`"${key}" is missing; it must be a positive number.`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}.`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}.`);
    return v;
  }

  string(key: string, fallback: string): string {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'string' || v.length === 0) this.fail(`"${key}" must be a non-empty string, got ${JSON.stringify(v)}.`);
    return v;
  }

  tokenId(key: string): number | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(`"${key}" must be a token id (a non-negative integer), got ${JSON.stringify(v)}.`);
    return v;
  }

  /** eos_token_id is an id or a list of ids (Llama 3, Qwen2 instruct). */
  tokenIds(key: string): number[] {
    const v = this.json[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(`"${key}" must be a token id or a list of token ids, got ${JSON.stringify(v)}.`);
    }
    return list as number[];
  }

  divides(hidden: number, heads: number, hiddenKey: string, headsKey: string): void {
    if (hidden % heads !== 0) this.fail(`"${headsKey}" = ${heads} does not divide "${hiddenKey}" = ${hidden}.`);
  }
}

/**
 * `rope_scaling` (transformers 4) or, when absent, `rope_parameters` (transformers 5, which also moves
 * rope_theta there); a "default" rope type means no scaling.
 */
function ropeScaling(f: Fields): RopeScaling | null {
  let key = 'rope_scaling';
  let v = f.json[key];
  if (v === undefined || v === null) {
    key = 'rope_parameters';
    v = f.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) f.fail(`"rope_parameters" must be an object or null, got ${JSON.stringify(v)}.`);
    const t = (v as Record<string, unknown>)['rope_type'] ?? (v as Record<string, unknown>)['type'];
    if (t === undefined || t === 'default') return null;
  }
  if (typeof v !== 'object' || Array.isArray(v)) f.fail(`"${key}" must be an object or null, got ${JSON.stringify(v)}.`);
  const o = v as Record<string, unknown>;
  const type = o['rope_type'] ?? o['type'];
  if (typeof type !== 'string') f.fail(`"${key}" needs a "rope_type" (or "type") string such as "linear" or "llama3".`);
  const scalingKey = key;
  const num = (name: string): number | undefined => {
    const x = o[name];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) f.fail(`"${scalingKey}.${name}" must be a positive number, got ${JSON.stringify(x)}.`);
    return x;
  };
  const scaling: RopeScaling = {
    type,
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    raw: Object.freeze({ ...o }),
  };
  if (type === 'default') return null;
  if (scaling.factor === undefined) f.fail(`"${key}" of type "${type}" needs a "factor".`);
  if (type === 'llama3' && (scaling.lowFreqFactor === undefined || scaling.highFreqFactor === undefined || scaling.originalMaxPositionEmbeddings === undefined)) {
    f.fail(`"${key}" of type "llama3" needs "low_freq_factor", "high_freq_factor" and "original_max_position_embeddings".`);
  }
  return scaling;
}

function ropeParameter(f: Fields, name: string): unknown {
  const rp = f.json['rope_parameters'];
  return typeof rp === 'object' && rp !== null && !Array.isArray(rp) ? (rp as Record<string, unknown>)[name] : undefined;
}

function parseLlama(f: Fields, modelType: LlamaConfig['modelType']): LlamaConfig {
  const hiddenSize = f.positiveInt('hidden_size');
  const numAttentionHeads = f.positiveInt('num_attention_heads');
  const numKeyValueHeads = f.positiveInt('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    f.fail(`"num_key_value_heads" = ${numKeyValueHeads} does not divide "num_attention_heads" = ${numAttentionHeads}.`);
  }
  const explicitHeadDim = f.json['head_dim'] !== undefined && f.json['head_dim'] !== null;
  if (!explicitHeadDim) f.divides(hiddenSize, numAttentionHeads, 'hidden_size', 'num_attention_heads');
  const headDim = f.positiveInt('head_dim', hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) f.fail(`"head_dim" = ${headDim} must be even for rotary embeddings.`);
  const attentionBias = f.bool('attention_bias', false);
  const useSliding = modelType === 'qwen2' ? f.bool('use_sliding_window', false) : modelType === 'mistral';
  const sw = f.json['sliding_window'];
  let slidingWindow: number | null = null;
  if (useSliding && sw !== undefined && sw !== null) slidingWindow = f.positiveInt('sliding_window');
  return {
    architecture: 'llama',
    modelType,
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('intermediate_size'),
    numHiddenLayers: f.positiveInt('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: f.positiveInt('max_position_embeddings', 2048),
    rmsNormEps: f.positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: f.positiveNumber('rope_theta', (ropeParameter(f, 'rope_theta') as number | undefined) ?? 10000),
    ropeScaling: ropeScaling(f),
    hiddenAct: f.string('hidden_act', 'silu'),
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    oBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: f.bool('mlp_bias', false),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    slidingWindow,
    bosTokenId: f.tokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenId('pad_token_id'),
    raw: f.json,
  };
}

function parseGpt2(f: Fields): Gpt2Config {
  const nEmbd = f.positiveInt('n_embd');
  const nHead = f.positiveInt('n_head');
  f.divides(nEmbd, nHead, 'n_embd', 'n_head');
  return {
    architecture: 'gpt2',
    modelType: 'gpt2',
    vocabSize: f.positiveInt('vocab_size'),
    nEmbd,
    nLayer: f.positiveInt('n_layer'),
    nHead,
    nPositions: f.positiveInt('n_positions', 1024),
    nInner: f.positiveInt('n_inner', 4 * nEmbd),
    layerNormEpsilon: f.positiveNumber('layer_norm_epsilon', 1e-5),
    activationFunction: f.string('activation_function', 'gelu_new'),
    scaleAttnWeights: f.bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.bool('scale_attn_by_inverse_layer_idx', false),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    raw: f.json,
  };
}

function parseBert(f: Fields): BertConfig {
  const hiddenSize = f.positiveInt('hidden_size');
  const numAttentionHeads = f.positiveInt('num_attention_heads');
  f.divides(hiddenSize, numAttentionHeads, 'hidden_size', 'num_attention_heads');
  return {
    architecture: 'bert',
    modelType: 'bert',
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    numHiddenLayers: f.positiveInt('num_hidden_layers'),
    numAttentionHeads,
    intermediateSize: f.positiveInt('intermediate_size'),
    maxPositionEmbeddings: f.positiveInt('max_position_embeddings', 512),
    typeVocabSize: f.positiveInt('type_vocab_size', 2),
    layerNormEps: f.positiveNumber('layer_norm_eps', 1e-12),
    hiddenAct: f.string('hidden_act', 'gelu'),
    positionEmbeddingType: f.string('position_embedding_type', 'absolute'),
    padTokenId: f.tokenId('pad_token_id'),
    raw: f.json,
  };
}

/** id2label {"0": "cat", …} → labels in index order; every index 0 … n−1 must be present once. */
function labelList(f: Fields): string[] {
  const v = f.json['id2label'];
  if (v === undefined || v === null) f.fail('"id2label" is missing; an image classifier needs its class names.');
  if (typeof v !== 'object' || Array.isArray(v)) f.fail(`"id2label" must be an object mapping indices to names, got ${JSON.stringify(v)}.`);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) f.fail('"id2label" is empty.');
  const labels: string[] = new Array<string>(entries.length);
  for (const [key, name] of entries) {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= entries.length) f.fail(`"id2label" keys must be the indices 0 … ${entries.length - 1}, got "${key}".`);
    if (typeof name !== 'string') f.fail(`"id2label.${key}" must be a string, got ${JSON.stringify(name)}.`);
    labels[i] = name;
  }
  return labels;
}

function parseVit(f: Fields): VitConfig {
  const hiddenSize = f.positiveInt('hidden_size', 768);
  const numAttentionHeads = f.positiveInt('num_attention_heads', 12);
  f.divides(hiddenSize, numAttentionHeads, 'hidden_size', 'num_attention_heads');
  const imageSize = f.positiveInt('image_size', 224);
  const patchSize = f.positiveInt('patch_size', 16);
  if (imageSize % patchSize !== 0) f.fail(`"patch_size" = ${patchSize} does not divide "image_size" = ${imageSize}.`);
  return {
    architecture: 'vit',
    modelType: 'vit',
    hiddenSize,
    numHiddenLayers: f.positiveInt('num_hidden_layers', 12),
    numAttentionHeads,
    intermediateSize: f.positiveInt('intermediate_size', 3072),
    layerNormEps: f.positiveNumber('layer_norm_eps', 1e-12),
    hiddenAct: f.string('hidden_act', 'gelu'),
    imageSize,
    patchSize,
    numChannels: f.positiveInt('num_channels', 3),
    qkvBias: f.bool('qkv_bias', true),
    labels: labelList(f),
    raw: f.json,
  };
}

function parseWhisper(f: Fields): WhisperConfig {
  const dModel = f.positiveInt('d_model');
  const encoderAttentionHeads = f.positiveInt('encoder_attention_heads');
  const decoderAttentionHeads = f.positiveInt('decoder_attention_heads');
  f.divides(dModel, encoderAttentionHeads, 'd_model', 'encoder_attention_heads');
  f.divides(dModel, decoderAttentionHeads, 'd_model', 'decoder_attention_heads');
  const start = f.tokenId('decoder_start_token_id');
  if (start === null) f.fail('"decoder_start_token_id" is missing; Whisper decoding starts from <|startoftranscript|>.');
  return {
    architecture: 'whisper',
    modelType: 'whisper',
    vocabSize: f.positiveInt('vocab_size'),
    numMelBins: f.positiveInt('num_mel_bins', 80),
    dModel,
    encoderLayers: f.positiveInt('encoder_layers'),
    encoderAttentionHeads,
    encoderFfnDim: f.positiveInt('encoder_ffn_dim'),
    decoderLayers: f.positiveInt('decoder_layers'),
    decoderAttentionHeads,
    decoderFfnDim: f.positiveInt('decoder_ffn_dim'),
    maxSourcePositions: f.positiveInt('max_source_positions', 1500),
    maxTargetPositions: f.positiveInt('max_target_positions', 448),
    activationFunction: f.string('activation_function', 'gelu'),
    scaleEmbedding: f.bool('scale_embedding', false),
    decoderStartTokenId: start!,
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenId('pad_token_id'),
    raw: f.json,
  };
}

/** Parses config.json (text or parsed JSON) and dispatches on `model_type`. */
export function parseModelConfig(input: string | unknown, fileName = 'config.json'): ModelConfig {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `the file is not valid JSON (${(cause as Error).message}); it is truncated or corrupt.`, { cause });
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(fileName, 'the file must hold a JSON object.');
  const f = new Fields(Object.freeze({ ...(json as Record<string, unknown>) }), fileName);
  const modelType = f.json['model_type'];
  if (typeof modelType !== 'string') f.fail(`"model_type" is missing; it must name the architecture (${SUPPORTED_MODEL_TYPES.join(', ')}).`);
  switch (modelType) {
    case 'llama': case 'mistral': case 'qwen2': return parseLlama(f, modelType);
    case 'gpt2': return parseGpt2(f);
    case 'bert': return parseBert(f);
    case 'vit': return parseVit(f);
    case 'whisper': return parseWhisper(f);
    default:
      throw new FormatError(fileName, `model_type "${modelType}" is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}.`);
  }
}
