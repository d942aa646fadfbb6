import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FormatError } from '../../engine/errors.js';
import { parseModelConfig } from '../../engine/formats/config.js';
import { GgmlType, parseGguf, tryParseGgufHeader } from '../../engine/formats/gguf.js';
import { dequantizeGgufTensor } from '../../engine/formats/gguf-blocks.js';
import { parseSafetensors, parseSafetensorsIndex, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { buildByteBpe } from '../fixtures/formats/byte-bpe.js';
import { f16Bytes, f32Bytes, quantizeQ4_0, quantizeQ8_0, randomFloats, writeGguf } from '../fixtures/formats/gguf-writer.js';
import { buildSafetensors } from '../fixtures/formats/safetensors-writer.js';

// A quick in-suite fuzz (issue 11 will run the long one): mutated and truncated files must parse or
// throw FormatError — never another exception, never a hang.
const RUNS = 2000;

function onlyFormatErrors(fn: () => void): boolean {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  return true;
}

/** Byte edits: overwrite positions with values, then maybe truncate. */
const mutation = (len: number) => fc.record({
  edits: fc.array(fc.tuple(fc.nat({ max: len - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  cut: fc.option(fc.nat({ max: len }), { nil: undefined }),
});

function mutate(file: Uint8Array, m: { edits: [number, number][]; cut: number | undefined }): Uint8Array {
  const out = file.slice();
  for (const [at, v] of m.edits) out[at] = v;
  return m.cut === undefined ? out : out.subarray(0, m.cut);
}

test(`fuzz: safetensors, ${RUNS} mutated files`, () => {
  const w = randomFloats(16);
  const file = buildSafetensors([
    { name: 'a', dtype: 'F32', shape: [2, 4], bytes: f32Bytes(w.subarray(0, 8)) },
    { name: 'b', dtype: 'F16', shape: [8], bytes: f16Bytes(w.subarray(0, 8)) },
    { name: 'c', dtype: 'I8', shape: [3], bytes: Uint8Array.from([1, 2, 3]) },
  ], { k: 'v' });
  // Edits aimed at the header (length prefix and JSON) where the parser's decisions are.
  fc.assert(fc.property(mutation(Math.min(file.length, 200)), (m) => onlyFormatErrors(() => {
    const f = mutate(file, m);
    const h = parseSafetensors(f);
    for (const t of h.tensors) {
      if (t.dtype !== 'F8_E4M3' && t.dtype !== 'F8_E5M2') safetensorsToF32(t, f);
    }
  })), { numRuns: RUNS });
  // Structured JSON headers with arbitrary values in every field.
  const entry = fc.record({
    dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I8', 'U8', 'I64', 'BOOL', 'X'), fc.anything()),
    shape: fc.oneof(fc.array(fc.oneof(fc.nat(8), fc.integer(), fc.double())), fc.anything()),
    data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.anything()),
  });
  fc.assert(fc.property(fc.dictionary(fc.string(), entry, { maxKeys: 4 }), fc.nat(64), (header, dataLen) => onlyFormatErrors(() => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const f = new Uint8Array(8 + json.length + dataLen);
    new DataView(f.buffer).setBigUint64(0, BigInt(json.length), true);
    f.set(json, 8);
    parseSafetensors(f);
  })), { numRuns: RUNS });
  fc.assert(fc.property(fc.anything(), (json) => onlyFormatErrors(() => { parseSafetensorsIndex(json); })), { numRuns: RUNS });
});

test(`fuzz: GGUF, ${RUNS} mutated files and prefixes`, () => {
  const w = randomFloats(256);
  const file = writeGguf({
    metadata: [
      ['general.architecture', { t: 'str', v: 'llama' }],
      ['a', { t: 'arr', of: 'str', v: ['x', 'yy'] }],
      ['b', { t: 'arr', of: 'arr', v: [{ t: 'arr', of: 'i32', v: [1, 2] }] }],
      ['c', { t: 'u64', v: 5n }],
    ],
    tensors: [
      { name: 'q8', dims: [64, 2], type: GgmlType.Q8_0, data: quantizeQ8_0(w.subarray(0, 128)) },
      { name: 'q4', dims: [32, 2], type: GgmlType.Q4_0, data: quantizeQ4_0(w.subarray(0, 64)) },
      { name: 'f32', dims: [4], type: GgmlType.F32, data: f32Bytes(w.subarray(0, 4)) },
    ],
  });
  fc.assert(fc.property(mutation(file.length), (m) => onlyFormatErrors(() => {
    const f = mutate(file, m);
    const h = parseGguf(f);
    for (const t of h.tensors) {
      if ([GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.BF16].includes(t.type as 0)) dequantizeGgufTensor(t, f);
    }
  })), { numRuns: RUNS });
  // Random 64-bit counts/lengths written over the header fields.
  fc.assert(fc.property(fc.constantFrom(8, 16, 24, 40), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (at, v) => onlyFormatErrors(() => {
    const f = file.slice();
    new DataView(f.buffer).setBigUint64(at, v, true);
    parseGguf(f);
  })), { numRuns: RUNS });
  fc.assert(fc.property(fc.nat({ max: file.length }), (cut) => onlyFormatErrors(() => {
    const r = tryParseGgufHeader(file.subarray(0, cut), { fileSize: file.length });
    if ('needBytes' in r) assert.ok(r.needBytes > cut && r.needBytes <= file.length);
  })), { numRuns: RUNS });
});

test(`fuzz: config.json and tokenizer.json, ${RUNS} odd inputs each`, () => {
  const base = { model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 };
  const keys = [...Object.keys(base), 'num_key_value_heads', 'rope_scaling', 'head_dim', 'eos_token_id', 'tie_word_embeddings', 'rms_norm_eps'];
  fc.assert(fc.property(fc.constantFrom('llama', 'qwen2', 'mistral', 'gpt2', 'bert', 'other'), fc.constantFrom(...keys), fc.anything(), (mt, key, value) => onlyFormatErrors(() => {
    parseModelConfig({ ...base, model_type: mt, [key]: value });
  })), { numRuns: RUNS });
  const bpe = buildByteBpe(['ab']);
  const tj = bpe.tokenizerJson as Record<string, unknown>;
  fc.assert(fc.property(fc.constantFrom('model', 'added_tokens', 'pre_tokenizer', 'decoder', 'normalizer', 'post_processor'), fc.anything({ maxDepth: 2 }), (key, value) => onlyFormatErrors(() => {
    loadTokenizer({ ...tj, [key]: value }, bpe.tokenizerConfig);
  })), { numRuns: RUNS / 4 });
});
