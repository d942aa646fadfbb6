import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AccelError, FormatError } from '../../engine/errors.js';
import { GgmlType, parseGguf, tryParseGgufHeader } from '../../engine/formats/gguf.js';
import { dequantizeGgufTensor } from '../../engine/formats/gguf-blocks.js';
import { parseSafetensors, parseSafetensorsHeader, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { buildByteBpe } from '../fixtures/formats/byte-bpe.js';
import { f32Bytes, randomFloats, writeGguf } from '../fixtures/formats/gguf-writer.js';
import { writeSafetensors } from '../fixtures/formats/safetensors-writer.js';
import { trackAllocations } from '../fuzz/alloc.js';
import { byClass, fuzzTarget } from '../fuzz/run.js';
import { buildGgufCase, buildStCase, ggufTarget, parseGgufCase, parseStCase, safetensorsTarget, TARGETS } from '../fuzz/targets.js';

// In-suite fuzz of every parser (issue 11): ≥ 10,000 structure-aware cases each (test/fuzz/targets.ts),
// seeded so a CI failure replays (FUZZ_SEED overrides; `npm run fuzz` runs 200,000 per parser with
// fresh seeds). Each case must parse or throw the parser's typed AccelError, within 2 s.
const RUNS = Number(process.env.FUZZ_SUITE_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261128);

for (const target of TARGETS) {
  test(`fuzz: ${target.name}, ${RUNS} cases → parsed or typed error`, async () => {
    const s = await fuzzTarget(target, RUNS, { seed: SEED, caseLimitMs: 2000 });
    assert.equal(s.failure, undefined, s.failure);
    assert.equal(s.runs, RUNS);
    // The generators must reach both outcomes, or the parser's deeper paths go untested.
    assert.ok(s.ok > 0, `${target.name}: no case parsed`);
    assert.ok(s.typed.size > 0, `${target.name}: no case was refused`);
    console.log(`  ${target.name}: ${s.runs} cases, ${s.ok} ok, ${[...byClass(s)].map(([k, n]) => `${k} ${n}`).join(', ')}, ${s.typed.size} error kinds, ${(s.ms / 1000).toFixed(1)} s, slowest ${s.maxCaseMs.toFixed(1)} ms`);
  });
}

// ---------------------------------------------------------------- allocation bounds

/** Output buffers may be a few times the input (Q4 → f32 is 7.1×), never more; plus fixed slack. */
const FACTOR = 8;
const SLACK = 1 << 20;

function expectRefusedWithin(input: Uint8Array | number, fn: () => void, cls: abstract new (...a: never[]) => AccelError = FormatError): string {
  const n = typeof input === 'number' ? input : input.length;
  const r = trackAllocations(fn);
  assert.ok(r.error instanceof cls, `expected ${cls.name}, got ${String(r.error)}`);
  assert.ok(r.maxRequest <= FACTOR * n + SLACK, `asked for ${r.maxRequest} bytes for a ${n}-byte input`);
  assert.ok(r.arrayBufferGrowth <= FACTOR * n + 16 * SLACK, `ArrayBuffer memory grew ${r.arrayBufferGrowth} bytes for a ${n}-byte input`);
  return (r.error as Error).message;
}

test('allocation: the tracker sees a huge allocation (so the bounds below can fail)', () => {
  const keep: unknown[] = []; // held so no GC can return the memory before it is measured
  const r = trackAllocations(() => { keep.push(new Float32Array(1 << 26), Float64Array.from(new Uint8Array(1000))); });
  assert.equal(r.maxRequest, 4 << 26);
  assert.equal(r.totalRequested, (4 << 26) + 8000 + 1000);
  // Other garbage may be collected meanwhile, so the growth is within a few hundred KB of 256 MiB.
  assert.ok(r.arrayBufferGrowth >= 0.95 * (4 << 26), `arrayBuffers grew ${r.arrayBufferGrowth}`);
});

function setU64(f: Uint8Array, at: number, v: bigint): Uint8Array {
  const out = f.slice();
  new DataView(out.buffer).setBigUint64(at, v, true);
  return out;
}

test('allocation: GGUF that declares 2^40 tensors, 2^40 metadata, a 4 GB string or a 2^32-element array is refused before allocating', () => {
  const base = writeGguf({ metadata: [['general.architecture', { t: 'str', v: 'llama' }], ['a', { t: 'arr', of: 'u8', v: [1, 2, 3] }]], tensors: [{ name: 'w', dims: [4], type: GgmlType.F32, data: f32Bytes(randomFloats(4)) }] });
  assert.equal(parseGguf(base).tensors.length, 1); // the unmutated file is valid
  // Layout: magic, version, tensor count @8, kv count @16, key length @24, "general.architecture", type,
  // value length @56 ("llama"), then key "a" (length @69), type @78, element type @82, array length @86.
  assert.match(expectRefusedWithin(setU64(base, 8, 1n << 40n), () => parseGguf(setU64(base, 8, 1n << 40n))), /tensor count 1099511627776 cannot fit/);
  assert.match(expectRefusedWithin(base, () => parseGguf(setU64(base, 16, 1n << 40n))), /metadata count 1099511627776 cannot fit/);
  assert.match(expectRefusedWithin(base, () => parseGguf(setU64(base, 56, 1n << 32n))), /string value claims 4294967296 bytes/);
  assert.match(expectRefusedWithin(base, () => parseGguf(setU64(base, 86, 1n << 32n))), /array of 4294967296 × type 0/);
  // Streamed: the header parsed from a 64-byte prefix while Content-Length claims 1 TB. The parser may
  // ask for more bytes but must not allocate for what it has not seen.
  const streamed = trackAllocations(() => {
    const r = tryParseGgufHeader(setU64(base, 86, 1n << 32n).subarray(0, 94), { fileSize: 2 ** 40 });
    assert.ok('needBytes' in r);
  });
  assert.equal(streamed.error, undefined);
  assert.ok(streamed.maxRequest <= SLACK, `asked for ${streamed.maxRequest}`);
  // Tensors whose dims declare 4 GB (or 2^64 elements) of data in a tiny file.
  for (const dims of [[1 << 20, 1 << 10], [2 ** 32, 2 ** 32], [2 ** 40]]) {
    const f = writeGguf({ tensors: [{ name: 'w', dims, type: GgmlType.F32, data: new Uint8Array(32) }] });
    assert.match(expectRefusedWithin(f, () => { const h = parseGguf(f); for (const t of h.tensors) dequantizeGgufTensor(t, f); }), /lies outside|more elements than can be addressed/);
  }
});

test('allocation: safetensors with a 2^40 header length, 4 GB data_offsets or a 2^38-element shape is refused before allocating', () => {
  const ok = writeSafetensors({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  assert.equal(parseSafetensors(ok).tensors.length, 1);
  assert.match(expectRefusedWithin(ok, () => parseSafetensors(setU64(ok, 0, 1n << 40n))), /exceeds the 100000000-byte limit/);
  assert.match(expectRefusedWithin(ok, () => parseSafetensors(setU64(ok, 0, 99_000_000n))), /runs past the end/);
  // Streaming with a lying Content-Length: the 99 MB header is asked for, not allocated.
  assert.match(expectRefusedWithin(ok, () => parseSafetensorsHeader(setU64(ok, 0, 99_000_000n), { fileSize: 2 ** 40 })), /needs 99000008 bytes but only/);
  const huge = writeSafetensors({ w: { dtype: 'F32', shape: [2 ** 30], data_offsets: [0, 2 ** 32] } }, new Uint8Array(64));
  assert.match(expectRefusedWithin(huge, () => parseSafetensors(huge)), /past the end/);
  const beyond = writeSafetensors({ w: { dtype: 'F64', shape: [2 ** 20, 2 ** 18], data_offsets: [0, 2 ** 41] } }, new Uint8Array(64));
  assert.match(expectRefusedWithin(beyond, () => parseSafetensors(beyond)), /past the end/);
  // Header alone (file size unknown): accepted, but reading the tensor from the bytes at hand is refused.
  const h = parseSafetensorsHeader(huge);
  assert.match(expectRefusedWithin(huge, () => safetensorsToF32(h.tensors[0]!, huge)), /are not inside the/);
});

test('allocation: a GGUF tensor whose info claims 2^36 elements over 64 bytes is refused by the dequantizer before allocating', () => {
  const bytes = new Uint8Array(64);
  for (const [type, bpe] of [[GgmlType.F32, 4], [GgmlType.Q8_0, 34 / 32], [GgmlType.Q4_K, 144 / 256]] as const) {
    const size = 2 ** 36;
    assert.match(expectRefusedWithin(bytes, () => dequantizeGgufTensor({ name: 'w', dims: [size], shape: [size], type, typeName: 't', size, begin: 0, end: size * bpe }, bytes)), /not inside|outside|beyond/);
  }
});

test('regression (fuzz seed 42): a tokenizer.json vocab id of 2^31 is refused at once, not walked (was a multi-minute hang)', () => {
  const bpe = buildByteBpe(['ab', ' the', 'é']);
  const json = JSON.parse(JSON.stringify(bpe.tokenizerJson)) as { model: { vocab: Record<string, number> } };
  json.model.vocab[Object.keys(json.model.vocab)[5]!] = 2 ** 31;
  const t0 = performance.now();
  const msg = expectRefusedWithin(JSON.stringify(json).length, () => loadTokenizer(json, bpe.tokenizerConfig));
  assert.match(msg, /has id 2147483648, far beyond the \d+ tokens/);
  assert.ok(performance.now() - t0 < 2000);
  // A dense file with a few reserved holes still loads.
  const holes = JSON.parse(JSON.stringify(bpe.tokenizerJson)) as { model: { vocab: Record<string, number> } };
  holes.model.vocab[Object.keys(holes.model.vocab)[5]!] = Object.keys(holes.model.vocab).length + 100;
  assert.equal(loadTokenizer(holes, bpe.tokenizerConfig).vocabSize, Object.keys(holes.model.vocab).length + 101);
});

test('regression (fuzz seed 20261128): a tokenizer whose vocabulary lacks a piece and has no unk_token refuses to encode (returned undefined ids)', () => {
  const bpe = buildByteBpe(['ab', ' the', 'é']);
  const json = { ...bpe.tokenizerJson, model: { ...(bpe.tokenizerJson['model'] as object), unk_token: '', vocab: [] } };
  const tok = loadTokenizer(json, bpe.tokenizerConfig);
  assert.throws(() => tok.encode('ab the'), (e: unknown) => e instanceof FormatError && /has no id for the piece/.test(e.message));
  // The intact tokenizer still encodes to integer ids.
  assert.ok(loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig).encode('ab the').every(Number.isSafeInteger));
});

test('allocation: over 2,000 fuzzed safetensors and 2,000 GGUF files, no allocation exceeds 8 × the file size + 1 MiB', () => {
  for (const [target, build, parse] of [
    [safetensorsTarget, (c: never) => buildStCase(c), (f: Uint8Array, c: { prefixOnly: boolean }) => parseStCase(f, c.prefixOnly)],
    [ggufTarget, (c: never) => buildGgufCase(c).file, (f: Uint8Array, c: { prefix: number | undefined }) => parseGgufCase(f, c.prefix)],
  ] as const) {
    let worst = 0;
    fc.assert(fc.property(target.arbitrary as fc.Arbitrary<never>, (c) => {
      const file = build(c);
      const r = trackAllocations(() => parse(file, c));
      if (r.error !== undefined && !(r.error instanceof FormatError)) throw r.error;
      worst = Math.max(worst, r.maxRequest / Math.max(1, file.length));
      return r.maxRequest <= FACTOR * file.length + SLACK;
    }), { numRuns: 2000, seed: SEED });
    console.log(`  ${target.name}: largest allocation ${worst.toFixed(2)} × the file size`);
  }
});
