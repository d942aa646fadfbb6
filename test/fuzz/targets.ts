/**
 * Structure-aware fuzz targets for every parser that reads untrusted bytes or text (issue 11). Each target
 * builds VALID inputs with the test writers and then mutates the fields a parser decides on (declared
 * lengths, counts, offsets, dtypes, shapes, versions), besides plain byte edits and truncation.
 *
 * Shared by the in-suite fuzz (test/node/formats-fuzz.test.ts, ≥ 10,000 cases per target) and the long
 * run (`npm run fuzz`, tools/fuzz.mjs). The property for every target is the same: the parser returns, or
 * throws an `AccelError` of the class the target allows; any other exception is a bug.
 */
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { identity } from 'multiformats/hashes/identity';
import { AccelError, FormatError, SourceError, IntegrityError } from '../../engine/errors.js';
import { parseModelConfig } from '../../engine/formats/config.js';
import { GgmlType, parseGguf, tryParseGgufHeader } from '../../engine/formats/gguf.js';
import { dequantizeGgufTensor, repackGgufTensor } from '../../engine/formats/gguf-blocks.js';
import { parseImageProcessorConfig } from '../../engine/formats/preprocessor-config.js';
import { parseSafetensors, parseSafetensorsHeader, parseSafetensorsIndex, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { verifyBlock } from '../../engine/loader/integrity.js';
import { parseCid } from '../../engine/loader/ipfs.js';
import { createSource } from '../../engine/loader/sources.js';
import { buildByteBpe } from '../fixtures/formats/byte-bpe.js';
import { f16Bytes, f32Bytes, quantizeQ4_0, quantizeQ8_0, randomFloats, writeGguf, type GgufMetaValue, type GgufTensorSpec } from '../fixtures/formats/gguf-writer.js';
import { writeSafetensors, type StEntry } from '../fixtures/formats/safetensors-writer.js';

type ErrorClass = abstract new (...args: never[]) => AccelError;

export interface FuzzTarget<T = unknown> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** Runs the parser on one case; may be async (CID verification hashes with crypto.subtle). */
  run: (c: T) => void | Promise<void>;
  /** Error classes this parser may throw for bad input. */
  allowed: readonly ErrorClass[];
}

/** "ok", or the typed error's class and code. Anything else is re-thrown by `check`. */
export type Outcome = string;

/** Runs one case: returns the outcome, throws the foreign exception when the parser threw one. */
export async function runCase<T>(t: FuzzTarget<T>, c: T): Promise<Outcome> {
  try {
    await t.run(c);
    return 'ok';
  } catch (e) {
    if (t.allowed.some((cls) => e instanceof cls)) return `${(e as AccelError).constructor.name}(${(e as AccelError).code}): ${messageClass((e as Error).message)}`;
    throw e;
  }
}

/** A message with its numbers and quoted values blanked, cut to its first clause: groups errors by kind. */
export function messageClass(msg: string): string {
  return msg
    .replace(/^[^:]*?(?: at byte \d+)?: /, '')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, 'N')
    .split(/[;(]/)[0]!
    .slice(0, 70)
    .trim();
}

// ---------------------------------------------------------------- shared arbitraries

/** 64-bit values that break counts and lengths: 0, small, around 2^32, 2^40, 2^53, 2^64 − 1, random. */
export const interestingU64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 7n, 8n, 0xffn, 0xffffffffn, 1n << 32n, 1n << 40n, (1n << 53n) - 1n, 1n << 53n, (1n << 63n), (1n << 64n) - 1n),
  fc.bigInt({ min: 0n, max: 4096n }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

/** Numbers that break shape and offset checks. */
const oddNumber = fc.oneof(
  fc.nat(64), fc.integer({ min: -5, max: -1 }), fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 53, 1e300, 0.5, -0, NaN, Infinity),
  fc.double(),
);

/** `arb` one time in `every`, else undefined (fc.option's freq counts the other way round). */
export function sometimes<T>(arb: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

export interface ByteMutation { edits: [number, number][]; cut: number | undefined }

/** Overwrites some bytes (positions below `span`), then maybe truncates. */
export const byteMutation = (span: number, len: number): fc.Arbitrary<ByteMutation> => fc.record({
  edits: fc.array(fc.tuple(fc.nat({ max: span - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 0, maxLength: 6 }),
  cut: sometimes(fc.nat({ max: len }), 3),
});

export function applyMutation(file: Uint8Array, m: ByteMutation): Uint8Array {
  const out = file.slice();
  for (const [at, v] of m.edits) out[at] = v;
  return m.cut === undefined ? out : out.subarray(0, m.cut);
}

// ---------------------------------------------------------------- safetensors

const ST_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2'] as const;
const ST_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

/** Valid tensors (dtype, small shape), then per-entry mutations of dtype, shape and data_offsets. */
const stTensor = fc.record({
  dtype: fc.constantFrom(...ST_DTYPES),
  shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
});

type StFieldMutation =
  | { k: 'dtype'; v: unknown }
  | { k: 'shape'; v: unknown }
  | { k: 'begin' | 'end'; v: number }
  | { k: 'shift'; v: number }
  | { k: 'swap' }
  | { k: 'drop' }
  | { k: 'entry'; v: unknown };

const stFieldMutation: fc.Arbitrary<StFieldMutation> = fc.oneof(
  fc.record({ k: fc.constant('dtype' as const), v: fc.oneof(fc.constantFrom(...ST_DTYPES, 'f32', 'Q4_0', '', 'F8', 'constructor', '__proto__', 'toString'), fc.jsonValue()) }),
  fc.record({ k: fc.constant('shape' as const), v: fc.oneof(fc.array(oddNumber, { maxLength: 5 }), fc.jsonValue(), fc.constant([2 ** 26, 2 ** 26, 2 ** 26])) }),
  fc.record({ k: fc.constantFrom('begin' as const, 'end' as const), v: oddNumber }),
  fc.record({ k: fc.constant('shift' as const), v: fc.integer({ min: -16, max: 16 }) }),
  fc.record({ k: fc.constant('swap' as const) }),
  fc.record({ k: fc.constant('drop' as const) }),
  fc.record({ k: fc.constant('entry' as const), v: fc.jsonValue({ maxDepth: 2 }) }),
);

export interface StCase {
  tensors: { dtype: string; shape: number[] }[];
  metadata: unknown;
  mutations: [number, StFieldMutation][];
  lengthPrefix: bigint | undefined;
  trailing: number;
  bytes: ByteMutation;
  prefixOnly: boolean;
}

export function buildStCase(c: StCase): Uint8Array {
  const header: Record<string, unknown> = {};
  if (c.metadata !== undefined) header['__metadata__'] = c.metadata;
  let offset = 0;
  const entries: [string, Record<string, unknown>][] = c.tensors.map((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1) * ST_BYTES[t.dtype]!;
    const e = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
    return [`t${i}`, e];
  });
  for (const [i, m] of c.mutations) {
    const slot = entries[i % Math.max(1, entries.length)];
    if (!slot) break;
    const e = slot[1];
    const off = e?.['data_offsets'];
    if (typeof e !== 'object' || e === null || !Array.isArray(off)) continue;
    switch (m.k) {
      case 'dtype': e['dtype'] = m.v; break;
      case 'shape': e['shape'] = m.v; break;
      case 'begin': off[0] = m.v; break;
      case 'end': off[1] = m.v; break;
      case 'shift': off[0] = off[0]! + m.v; off[1] = off[1]! + m.v; break;
      case 'swap': e['data_offsets'] = [off[1], off[0]]; break;
      case 'drop': delete e[['dtype', 'shape', 'data_offsets'][Math.abs(off[0]!) % 3]!]; break;
      case 'entry': slot[1] = m.v as Record<string, unknown>; break;
    }
  }
  for (const [name, e] of entries) header[name] = e;
  const data = new Uint8Array(Math.max(0, offset + c.trailing));
  const file = writeSafetensors(header as Record<string, StEntry>, data, true);
  if (c.lengthPrefix !== undefined) new DataView(file.buffer).setBigUint64(0, c.lengthPrefix, true);
  const headerEnd = Math.min(file.length, 8 + Number(new DataView(file.buffer).getBigUint64(0, true) > BigInt(file.length) ? BigInt(file.length) : new DataView(file.buffer).getBigUint64(0, true)));
  return applyMutation(file, { edits: c.bytes.edits.map(([at, v]) => [at % Math.max(1, headerEnd), v]), cut: c.bytes.cut === undefined ? undefined : c.bytes.cut % (file.length + 1) });
}

/** Parses a built file as the loader would and converts every tensor (the allocation-heavy part). */
export function parseStCase(f: Uint8Array, prefixOnly: boolean): void {
  // Streaming path: the header parsed from a prefix, the file size known from Content-Length only.
  const h = prefixOnly ? parseSafetensorsHeader(f.subarray(0, Math.min(f.length, 64 * 1024)), { fileSize: f.length }) : parseSafetensors(f);
  for (const t of h.tensors) {
    if (t.dtype !== 'F8_E4M3' && t.dtype !== 'F8_E5M2') safetensorsToF32(t, f);
  }
}

export const safetensorsTarget: FuzzTarget<StCase> = {
  name: 'safetensors',
  arbitrary: fc.record({
    tensors: fc.array(stTensor, { maxLength: 4 }),
    metadata: sometimes(fc.oneof({ weight: 4, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }), 3),
    mutations: fc.oneof({ weight: 1, arbitrary: fc.constant<[number, StFieldMutation][]>([]) }, { weight: 2, arbitrary: fc.array(fc.tuple(fc.nat(7), stFieldMutation), { minLength: 1, maxLength: 2 }) }),
    lengthPrefix: sometimes(interestingU64, 8),
    trailing: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }),
    bytes: fc.oneof({ weight: 3, arbitrary: fc.constant<ByteMutation>({ edits: [], cut: undefined }) }, { weight: 2, arbitrary: byteMutation(4096, 4096) }),
    prefixOnly: fc.boolean(),
  }),
  run(c) { parseStCase(buildStCase(c), c.prefixOnly); },
  allowed: [FormatError],
};

/** model.safetensors.index.json: arbitrary JSON, and valid maps with hostile shard names. */
export const safetensorsIndexTarget: FuzzTarget<unknown> = {
  name: 'safetensors index.json',
  arbitrary: fc.oneof(
    fc.jsonValue(),
    fc.string(),
    fc.record({
      metadata: fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
      weight_map: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(
        fc.constantFrom('model-00001-of-00002.safetensors', '../x.safetensors', '/etc/passwd', 'a\\b.safetensors', 'https://evil/x.safetensors', '..', '.', 'x.bin', '%2e%2e.safetensors', 'a\u0000.safetensors', '__proto__'),
        fc.string({ maxLength: 12 }).map((s) => `${s}.safetensors`),
        fc.jsonValue({ maxDepth: 1 }),
      ), { maxKeys: 4 }),
    }, { requiredKeys: [] }),
  ).chain((v) => fc.boolean().map((asText) => (asText && typeof v !== 'string' ? JSON.stringify(v) : v))),
  run(c) { parseSafetensorsIndex(c); },
  allowed: [FormatError],
};

// ---------------------------------------------------------------- GGUF

const ggufMeta: fc.Arbitrary<GgufMetaValue> = fc.oneof(
  fc.record({ t: fc.constantFrom('u8' as const, 'u32' as const, 'i32' as const, 'f32' as const), v: fc.nat(255) }),
  fc.record({ t: fc.constant('u64' as const), v: fc.bigInt({ min: 0n, max: 1000n }) }),
  fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
  fc.record({ t: fc.constant('str' as const), v: fc.string({ maxLength: 8 }) }),
  fc.record({ t: fc.constant('arr' as const), of: fc.constant('str' as const), v: fc.array(fc.string({ maxLength: 4 }), { maxLength: 4 }) }),
  fc.record({ t: fc.constant('arr' as const), of: fc.constant('i32' as const), v: fc.array(fc.integer({ min: -9, max: 9 }), { maxLength: 4 }) }),
  fc.record({ t: fc.constant('arr' as const), of: fc.constant('arr' as const), v: fc.constant([{ t: 'arr', of: 'u8', v: [1, 2] }] as GgufMetaValue[]) }),
);

const GGML_TYPE_LIST = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q4_1];
const BLOCK: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 30: [1, 2], 8: [32, 34], 2: [32, 18], 3: [32, 20], 12: [256, 144], 14: [256, 210] };

export interface GgufCase {
  version: number;
  magic: number | undefined;
  metadata: [string, GgufMetaValue][];
  tensors: { type: number; rows: number; blocks: number; offset: number | undefined; typeOverride: number | undefined; dims: number[] | undefined }[];
  /** 64-bit overwrites: [field, value] where field 0 = tensor count, 1 = kv count, 2 = first string length, ≥ 3 = any 8-byte slot in the header. */
  u64: [number, bigint][];
  bytes: ByteMutation;
  /** Parse from a short prefix with the real size declared, as the streaming loader does. */
  prefix: number | undefined;
}

export function buildGgufCase(c: GgufCase): { file: Uint8Array; headerEnd: number } {
  const w = randomFloats(512, 7);
  const tensors: GgufTensorSpec[] = c.tensors.map((t, i) => {
    const [block, blockBytes] = BLOCK[t.type]!;
    const rowLen = block * t.blocks;
    const data = t.type === GgmlType.F32 ? f32Bytes(w.subarray(0, rowLen * t.rows))
      : t.type === GgmlType.F16 ? f16Bytes(w.subarray(0, rowLen * t.rows))
      : t.type === GgmlType.Q8_0 ? quantizeQ8_0(w.subarray(0, rowLen * t.rows))
      : t.type === GgmlType.Q4_0 ? quantizeQ4_0(w.subarray(0, rowLen * t.rows))
      : Uint8Array.from({ length: t.blocks * t.rows * blockBytes }, (_, j) => (j * 37 + i) & 0xff);
    return { name: `blk.${i}.w`, dims: t.dims ?? [rowLen, t.rows], type: t.typeOverride ?? t.type, data, ...(t.offset === undefined ? {} : { offset: t.offset }) };
  });
  const file = writeGguf({ version: c.version, ...(c.magic === undefined ? {} : { magic: c.magic }), metadata: c.metadata, tensors });
  let headerEnd = 24;
  try { headerEnd = parseGguf(file).dataOffset; } catch { headerEnd = Math.min(file.length, 512); }
  const v = new DataView(file.buffer);
  for (const [field, value] of c.u64) {
    const at = field < 3 ? [8, 16, 24][field]! : 8 + ((field - 3) % Math.max(1, headerEnd - 15));
    if (at + 8 <= file.length) v.setBigUint64(at, value, true);
  }
  return { file: applyMutation(file, { edits: c.bytes.edits.map(([at, b]) => [at % Math.max(1, file.length), b]), cut: c.bytes.cut === undefined ? undefined : c.bytes.cut % (file.length + 1) }), headerEnd };
}

/** Parses a built GGUF as the loader would (growing a prefix when asked) and decodes every tensor. */
export function parseGgufCase(file: Uint8Array, prefix: number | undefined): void {
  if (prefix !== undefined) {
    // The streaming loader grows the prefix as asked; each answer must be within the declared file.
    let n = Math.min(prefix, file.length);
    for (;;) {
      const r = tryParseGgufHeader(file.subarray(0, n), { fileSize: file.length });
      if ('header' in r) break;
      if (!(r.needBytes > n && r.needBytes <= file.length)) throw new Error(`needBytes ${r.needBytes} does not grow the ${n}-byte prefix of a ${file.length}-byte file`);
      n = r.needBytes;
    }
  }
  const h = parseGguf(file);
  for (const t of h.tensors) {
    if (BLOCK[t.type] && t.type !== GgmlType.Q4_1) dequantizeGgufTensor(t, file);
    if (t.type === GgmlType.Q8_0 || t.type === GgmlType.Q4_0 || t.type === GgmlType.Q4_K) repackGgufTensor(t, file);
  }
}

export const ggufTarget: FuzzTarget<GgufCase> = {
  name: 'gguf',
  arbitrary: fc.record({
    version: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(2, 3) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom(0, 1, 4, 0xffffffff), fc.nat()) }),
    magic: sometimes(fc.oneof(fc.constantFrom(0x46554746, 0x47475546, 0), fc.nat()), 20),
    metadata: fc.uniqueArray(fc.tuple(fc.constantFrom('general.architecture', 'general.alignment', 'a', 'b', 'tokenizer.ggml.tokens', 'x.y'), ggufMeta), { maxLength: 4, selector: ([k]) => k }),
    tensors: fc.array(fc.record({
      type: fc.constantFrom(...GGML_TYPE_LIST),
      rows: fc.integer({ min: 1, max: 2 }),
      blocks: fc.integer({ min: 1, max: 2 }),
      offset: sometimes(fc.oneof(fc.nat(1024).map((n) => n * 32), fc.nat(1024), fc.constantFrom(2 ** 32, 2 ** 40, 2 ** 53 - 1)), 8),
      typeOverride: sometimes(fc.oneof(fc.constantFrom(...GGML_TYPE_LIST), fc.nat(64), fc.constant(0xffffffff)), 10),
      dims: sometimes(fc.array(fc.oneof(fc.nat(600), fc.constantFrom(0, 2 ** 32, 2 ** 40, 2 ** 52)), { maxLength: 5 }), 10),
    }), { maxLength: 3 }),
    u64: fc.oneof({ weight: 3, arbitrary: fc.constant<[number, bigint][]>([]) }, { weight: 2, arbitrary: fc.array(fc.tuple(fc.nat(40), interestingU64), { minLength: 1, maxLength: 2 }) }),
    bytes: fc.oneof({ weight: 5, arbitrary: fc.constant<ByteMutation>({ edits: [], cut: undefined }) }, { weight: 2, arbitrary: byteMutation(1 << 16, 1 << 16) }),
    prefix: sometimes(fc.nat(4096), 3),
  }),
  run(c) { parseGgufCase(buildGgufCase(c).file, c.prefix); },
  allowed: [FormatError],
};

/** Block dequantizers on truncated or oversized inputs, directly and through dequantizeGgufTensor. */
export interface BlocksCase { type: number; count: number; have: number; begin: number }
export const ggufBlocksTarget: FuzzTarget<BlocksCase> = {
  name: 'gguf-blocks dequant',
  arbitrary: fc.record({
    type: fc.constantFrom(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F32, GgmlType.F16, GgmlType.BF16),
    count: fc.oneof(fc.nat(1024), fc.constantFrom(32, 256, 512, 2 ** 31, 2 ** 40)),
    have: fc.nat(1200),
    begin: fc.nat(64),
  }),
  run(c) {
    const src = Uint8Array.from({ length: c.have }, (_, i) => (i * 131) & 0xff);
    const [block, blockBytes] = BLOCK[c.type]!;
    const rowLen = Math.max(block, Math.floor(c.count / block) * block);
    const size = Number.isSafeInteger(rowLen) ? rowLen : block;
    const info = { name: 'w', dims: [size], shape: [size], type: c.type, typeName: 't', size, begin: c.begin, end: c.begin + (size / block) * blockBytes };
    dequantizeGgufTensor(info, src);
  },
  allowed: [FormatError],
};

// ---------------------------------------------------------------- config.json / preprocessor_config.json

const CONFIG_BASE: Record<string, Record<string, unknown>> = {
  llama: { model_type: 'llama', vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 64 },
  qwen2: { model_type: 'qwen2', vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2, tie_word_embeddings: true },
  mistral: { model_type: 'mistral', vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, sliding_window: 16 },
  gpt2: { model_type: 'gpt2', vocab_size: 32, n_embd: 8, n_layer: 1, n_head: 2, n_positions: 16 },
  bert: { model_type: 'bert', vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16, type_vocab_size: 2 },
  vit: { model_type: 'vit', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 16, patch_size: 8, num_channels: 3, id2label: { 0: 'a', 1: 'b' } },
  whisper: { model_type: 'whisper', vocab_size: 32, d_model: 8, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, num_mel_bins: 8, max_source_positions: 16, max_target_positions: 16 },
};
const CONFIG_KEYS = [...new Set(Object.values(CONFIG_BASE).flatMap((o) => Object.keys(o)).concat(['rope_scaling', 'head_dim', 'eos_token_id', 'bos_token_id', 'torch_dtype', 'architectures', 'hidden_act', 'quantization_config', 'text_config', '__proto__', 'constructor']))];
const oddJson = fc.oneof(oddNumber, fc.constantFrom(null, true, '', '8', [], {}, [8], { type: 'linear', factor: 2 }, { rope_type: 'llama3', factor: 8 }), fc.jsonValue({ maxDepth: 2 }));

export interface JsonEditCase { base: string; edits: [string, unknown | undefined][]; asText: boolean; cut: number | undefined }
const jsonEdits = (keys: string[]) => fc.array(fc.tuple(fc.constantFrom(...keys), fc.option(oddJson, { nil: undefined, freq: 4 })), { minLength: 0, maxLength: 4 });

function applyEdits(base: Record<string, unknown>, c: JsonEditCase): unknown {
  const o: Record<string, unknown> = JSON.parse(JSON.stringify(base));
  for (const [k, v] of c.edits) {
    if (v === undefined) delete o[k];
    else Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  if (!c.asText) return o;
  const text = JSON.stringify(o);
  return c.cut === undefined ? text : text.slice(0, c.cut % (text.length + 1));
}

export const configTarget: FuzzTarget<JsonEditCase> = {
  name: 'config.json',
  arbitrary: fc.record({
    base: fc.constantFrom(...Object.keys(CONFIG_BASE)),
    edits: jsonEdits(CONFIG_KEYS),
    asText: fc.boolean(),
    cut: sometimes(fc.nat(400), 6),
  }),
  run(c) { parseModelConfig(applyEdits(CONFIG_BASE[c.base]!, c)); },
  allowed: [FormatError],
};

const PRE_BASE = { do_resize: true, size: { height: 16, width: 16 }, resample: 2, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };
const PRE_KEYS = [...Object.keys(PRE_BASE), 'do_center_crop', 'crop_size', 'do_convert_rgb', 'feature_extractor_type'];
export const preprocessorTarget: FuzzTarget<JsonEditCase & { channels: number }> = {
  name: 'preprocessor_config.json',
  arbitrary: fc.record({
    base: fc.constant('vit'),
    edits: jsonEdits(PRE_KEYS),
    asText: fc.boolean(),
    cut: sometimes(fc.nat(300), 6),
    channels: fc.constantFrom(1, 3, 4),
  }),
  run(c) { parseImageProcessorConfig(applyEdits(PRE_BASE, c), 16, c.channels); },
  allowed: [FormatError],
};

// ---------------------------------------------------------------- tokenizer.json

const BPE = buildByteBpe(['ab', ' the', 'é']);
const TOKENIZER_PATHS = ['model', 'model.type', 'model.vocab', 'model.merges', 'model.unk_token', 'model.byte_fallback', 'added_tokens', 'pre_tokenizer', 'pre_tokenizer.type', 'decoder', 'normalizer', 'post_processor', 'version', 'truncation', 'padding'];
export interface TokenizerCase { edits: [string, unknown | undefined][]; vocabEdits: [number, unknown][]; mergeEdits: [number, unknown][]; addedEdits: unknown[]; config: [string, unknown][]; asText: boolean }

export const tokenizerTarget: FuzzTarget<TokenizerCase> = {
  name: 'tokenizer.json',
  arbitrary: fc.record({
    edits: fc.array(fc.tuple(fc.constantFrom(...TOKENIZER_PATHS), fc.option(fc.oneof(oddJson, fc.constantFrom('BPE', 'WordPiece', 'Unigram', 'ByteLevel', 'Metaspace'), fc.anything({ maxDepth: 2 })), { nil: undefined, freq: 4 })), { maxLength: 2 }),
    vocabEdits: fc.array(fc.tuple(fc.nat(300), fc.oneof(fc.integer({ min: -2, max: 400 }), fc.constantFrom(2 ** 31, 2 ** 53, 1.5, NaN), fc.jsonValue({ maxDepth: 0 }))), { maxLength: 3 }),
    mergeEdits: fc.array(fc.tuple(fc.nat(10), fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('a', 'a b c', ' ', ''), fc.array(fc.string({ maxLength: 2 }), { maxLength: 3 }), fc.jsonValue({ maxDepth: 0 }))), { maxLength: 2 }),
    addedEdits: fc.array(fc.oneof(fc.record({ id: fc.oneof(fc.integer({ min: -1, max: 400 }), fc.constant(2 ** 40)), content: fc.string({ maxLength: 6 }), special: fc.boolean() }), fc.jsonValue({ maxDepth: 1 })), { maxLength: 2 }),
    config: fc.array(fc.tuple(fc.constantFrom('bos_token', 'eos_token', 'add_bos_token', 'chat_template', 'model_max_length', 'pad_token', 'unk_token'), oddJson), { maxLength: 2 }),
    asText: fc.boolean(),
  }),
  run(c) {
    const tj: Record<string, unknown> = JSON.parse(JSON.stringify(BPE.tokenizerJson));
    const model = tj['model'] as Record<string, unknown>;
    const vocab = model['vocab'] as Record<string, unknown>;
    const vocabKeys = Object.keys(vocab);
    for (const [i, v] of c.vocabEdits) vocab[vocabKeys[i % vocabKeys.length]!] = v;
    const merges = model['merges'] as unknown[];
    for (const [i, v] of c.mergeEdits) merges[i % Math.max(1, merges.length)] = v;
    (tj['added_tokens'] as unknown[] ?? []).push(...c.addedEdits);
    for (const [path, v] of c.edits) {
      const [a, b] = path.split('.') as [string, string | undefined];
      const target = b === undefined ? tj : tj[a];
      if (typeof target !== 'object' || target === null) continue;
      if (v === undefined) delete (target as Record<string, unknown>)[b ?? a];
      else (target as Record<string, unknown>)[b ?? a] = v;
    }
    const cfg: Record<string, unknown> = { ...BPE.tokenizerConfig };
    for (const [k, v] of c.config) cfg[k] = v;
    let json: unknown = tj;
    if (c.asText) json = JSON.stringify(tj); // loadTokenizer takes the file's text too
    const tok = loadTokenizer(json, cfg);
    // A tokenizer that loads must also encode and decode without a foreign exception.
    const ids = tok.encode('ab the é 模型');
    tok.decode(ids);
  },
  allowed: [FormatError],
};

// ---------------------------------------------------------------- CIDs and source strings

const CID_V1_RAW = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
const CID_V0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';
const CID_B36 = 'k2k4r8jl0yz8qjgqbmc2cdu5hkqek5rj6flgnlkyywynci20j0iuyfuj';
const SOURCE_PREFIXES = ['ipfs://', 'ipfs:', 'IPFS://', 'hf:', 'hf://', 'https://', 'http://', 'HTTPS://', 'ftp://', 'file://', 'javascript:', 'data:', '', ' '];

export interface SourceCase { prefix: string; body: string; edits: [number, string][]; path: string }
export const sourceTarget: FuzzTarget<SourceCase> = {
  name: 'source strings (ipfs:/hf:/URL)',
  arbitrary: fc.record({
    prefix: fc.constantFrom(...SOURCE_PREFIXES),
    body: fc.oneof(fc.constantFrom(CID_V1_RAW, CID_V0, CID_B36, 'owner/name', 'owner/name@main', 'owner/name@refs/pr/1', 'huggingface.co/a/b', 'example.com/m/', '[::1]:99999/', 'a'.repeat(300), 'x@y@z', '../..', '%00', 'owner/../name'), fc.string({ maxLength: 40 }), fc.webUrl().map((u) => u.replace(/^https?:\/\//, ''))),
    edits: fc.array(fc.tuple(fc.nat(80), fc.oneof(fc.constantFrom('', '/', '@', '%', ':', '#', '?', '\u0000', 'é', ' ', '\\', '..'), fc.string({ maxLength: 2 }))), { maxLength: 3 }),
    path: fc.oneof(fc.constant(''), fc.constantFrom('/model.safetensors', '/../x', '/a/b/c', '/%2e%2e/x', '?q#h'), fc.string({ maxLength: 10 })),
  }),
  run(c) {
    let body = c.body;
    for (const [at, s] of c.edits) { const i = at % (body.length + 1); body = body.slice(0, i) + s + body.slice(i + 1); }
    const src = createSource(c.prefix + body + c.path, { gateways: ['https://gw.example/'] });
    // Resolved file URLs must stay inside the configured base (never another host).
    for (const f of ['config.json', 'sub/model.safetensors']) {
      const kind = src.kind;
      if (kind === 'http' || kind === 'hf') {
        const s = src as unknown as { resolve(f: string): string };
        const url = s.resolve(f);
        if (!/^https?:\/\//i.test(url)) throw new Error(`resolved ${f} to a non-http URL ${url}`);
      }
    }
  },
  allowed: [SourceError],
};

/** CID text (mutated valid CIDs of every base) and block verification against mutated bytes. */
export interface CidCase { text: string; edits: [number, string][]; block: Uint8Array; flip: number | undefined; hash: 'sha256' | 'identity' }
export const cidTarget: FuzzTarget<CidCase> = {
  name: 'CIDs (parse + verifyBlock)',
  arbitrary: fc.record({
    text: fc.oneof(fc.constantFrom(CID_V1_RAW, CID_V0, CID_B36, 'bafy', 'Qm', 'k', 'z', 'f01551220', ''), fc.string({ maxLength: 60 })),
    edits: fc.array(fc.tuple(fc.nat(64), fc.oneof(fc.constantFrom('', '0', 'l', 'I', 'O', '=', 'A'), fc.string({ maxLength: 1 }))), { maxLength: 3 }),
    block: fc.uint8Array({ maxLength: 64 }),
    flip: fc.option(fc.nat(63), { nil: undefined }),
    hash: fc.constantFrom('sha256' as const, 'identity' as const),
  }),
  async run(c) {
    let text = c.text;
    for (const [at, s] of c.edits) { const i = at % (text.length + 1); text = text.slice(0, i) + s + text.slice(i + 1); }
    let cid: CID | undefined;
    try { cid = parseCid(text); } catch (e) { if (!(e instanceof SourceError)) throw e; }
    if (cid) await verifyBlock(cid, c.block);
    // A CID made for the block verifies; flipping one byte of the block must fail with IntegrityError.
    const digest = c.hash === 'sha256' ? await sha256.digest(c.block) : identity.digest(c.block);
    const own = CID.create(1, 0x55, digest);
    await verifyBlock(parseCid(own.toString()), c.block);
    if (c.flip !== undefined && c.block.length > 0) {
      const bad = c.block.slice();
      bad[c.flip % bad.length] ^= 1;
      try { await verifyBlock(own, bad); } catch (e) { if (e instanceof IntegrityError) return; throw e; }
      throw new Error('a flipped byte passed verification');
    }
  },
  allowed: [SourceError, IntegrityError],
};

export const TARGETS: readonly FuzzTarget<never>[] = [
  safetensorsTarget, safetensorsIndexTarget, ggufTarget, ggufBlocksTarget, configTarget, preprocessorTarget, tokenizerTarget, sourceTarget, cidTarget,
] as unknown as FuzzTarget<never>[];

export { AccelError };
