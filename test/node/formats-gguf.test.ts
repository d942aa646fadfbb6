import { dequantizeWeight } from '../../engine/quant/quantize.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, InvalidArgumentError } from '../../engine/errors.js';
import { ropePlan } from '../../engine/models/rope-scaling.js';
import { GgmlType, parseGguf, tryParseGgufHeader } from '../../engine/formats/gguf.js';
import {
  dequantizeGgufTensor, dequantizeQ4_0, dequantizeQ4_K, dequantizeQ6_K, dequantizeQ8_0, llamaRopeRowOrder, repackGgufTensor, repackQ4_0, repackQ4_K, repackQ8_0,
} from '../../engine/formats/gguf-blocks.js';
import { ggufLlamaConfig, ggufTensorF32, ggufTensorPacked, ggufToHfName } from '../../engine/formats/gguf-llama.js';
import { readCode, readHalf, symmetricZero } from '../../engine/quant/layout.js';
import { f16ToF32, f32ToF16 } from '../../engine/tensor/dtype.js';
import { type GgufMetaValue, f16Bytes, f32Bytes, quantizeQ4_0, quantizeQ8_0, randomFloats, writeGguf } from '../fixtures/formats/gguf-writer.js';

function expectFormatError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, 'invalid-format');
    assert.match(e.message, pattern);
    return true;
  });
}

// --- hand-computed blocks -------------------------------------------------------------------------

test('Q8_0 block: w = d · qs', () => {
  const block = new Uint8Array(34);
  block[0] = 0x00; block[1] = 0x38; // f16 0x3800 = 0.5
  const qs = Array.from({ length: 32 }, (_, i) => (i === 0 ? -128 : i === 1 ? 127 : i - 16));
  qs.forEach((q, i) => { block[2 + i] = q & 255; });
  const out = dequantizeQ8_0(block, 32);
  assert.equal(out[0], -64);
  assert.equal(out[1], 63.5);
  for (let i = 2; i < 32; i++) assert.equal(out[i], (i - 16) * 0.5);
});

test('Q4_0 block: low nibbles are values 0–15, high nibbles 16–31, zero at 8', () => {
  const block = new Uint8Array(18);
  block[0] = 0x00; block[1] = 0x40; // f16 0x4000 = 2
  for (let i = 0; i < 16; i++) block[2 + i] = i | ((15 - i) << 4);
  const out = dequantizeQ4_0(block, 32);
  // value 0: nibble 0 → (0 − 8) · 2 = −16; value 16: nibble 15 → 14; value 5: −6; value 21: (10 − 8)·2 = 4
  assert.equal(out[0], -16);
  assert.equal(out[16], 14);
  assert.equal(out[5], -6);
  assert.equal(out[21], 4);
  for (let i = 0; i < 16; i++) {
    assert.equal(out[i], (i - 8) * 2);
    assert.equal(out[16 + i], (15 - i - 8) * 2);
  }
});

test('Q4_K repacks to 4-bit g32 asymmetric: the kernels read what llama.cpp dequantizes, within the f16 rounding of scale and min', () => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const [n, k] of [[3, 256], [2, 512]] as const) {
    const src = new Uint8Array(((n * k) / 256) * 144);
    for (let i = 0; i < src.length; i++) src[i] = Math.floor(rnd() * 256);
    const dv = new DataView(src.buffer);
    for (let b = 0; b < src.length / 144; b++) {
      dv.setUint16(b * 144, f32ToF16(0.002 + 0.01 * rnd()), true);
      dv.setUint16(b * 144 + 2, f32ToF16(0.001 + 0.005 * rnd()), true);
    }
    const want = dequantizeQ4_K(src, n * k);
    const p = repackQ4_K(src, n, k);
    const got = dequantizeWeight(p);
    for (let i = 0; i < want.length; i++) {
      const g = Math.floor(i / 32);
      const scale = Math.abs(f16ToF32(readHalf(p.scales, g)));
      const min = Math.abs(f16ToF32(readHalf(p.mins!, g)));
      assert.ok(Math.abs(got[i]! - want[i]!) <= (15 * scale + min) * 2 ** -11 + 1e-9, `[${n}, ${k}] value ${i}: ${got[i]} vs ${want[i]}`);
    }
  }
});

test('Q4_K super-block: 6-bit scales/mins, two sub-blocks per 32 bytes of nibbles', () => {
  const sc = [1, 2, 3, 4, 5, 17, 33, 40];
  const m = [0, 1, 2, 3, 4, 20, 63, 63];
  const block = new Uint8Array(144);
  block[0] = 0x00; block[1] = 0x3c; // d = 1
  block[2] = 0x00; block[3] = 0x38; // dmin = 0.5
  // scales[0..3]: sc[j] low 6 bits, top 2 bits = sc[j+4] >> 4; scales[4..7]: m[j] | (m[j+4] >> 4) << 6;
  // scales[8..11]: sc[j+4] & 15 | (m[j+4] & 15) << 4
  for (let j = 0; j < 4; j++) {
    block[4 + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
    block[8 + j] = m[j]! | ((m[j + 4]! >> 4) << 6);
    block[12 + j] = (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4);
  }
  // By hand for the last sub-block: sc 40 = 0b10_1000 → scales[3] top bits 0b10, scales[11] low nibble 8;
  // m 63 → scales[7] top bits 0b11, scales[11] high nibble 15.
  assert.equal(block[4 + 3]! >> 6, 2);
  assert.equal(block[12 + 3], 0xf8);
  for (let l = 0; l < 128; l++) block[16 + l] = (l % 16) | ((15 - (l % 16)) << 4);
  const out = dequantizeQ4_K(block, 256);
  assert.equal(out[255], 1 * 40 * (15 - (31 % 16)) - 0.5 * 63); // sub-block 7, value 31, nibble 0
  assert.equal(out[224 + 1], 40 * 14 - 31.5);
  for (let g = 0; g < 4; g++) {
    for (let l = 0; l < 32; l++) {
      assert.equal(out[64 * g + l], sc[2 * g]! * (l % 16) - 0.5 * m[2 * g]!, `value ${64 * g + l}`);
      assert.equal(out[64 * g + 32 + l], sc[2 * g + 1]! * (15 - (l % 16)) - 0.5 * m[2 * g + 1]!, `value ${64 * g + 32 + l}`);
    }
  }
});

test('Q6_K super-block: 4 + 2 bit codes, signed 8-bit scale per 16 values, offset 32', () => {
  const block = new Uint8Array(210);
  for (let i = 0; i < 128; i++) block[i] = (i * 37 + 11) & 255; // ql
  for (let i = 0; i < 64; i++) block[128 + i] = (i * 53 + 7) & 255; // qh
  for (let i = 0; i < 16; i++) block[192 + i] = (i - 8) & 255; // scales −8…7
  block[208] = 0x00; block[209] = 0x38; // d = 0.5
  const out = dequantizeQ6_K(block, 256);
  // value 0: ql[0] = 11 → low 4 bits 11; qh[0] = 7 → bits 0–1 = 3; q = 11 + 48 − 32 = 27; scale[0] = −8
  assert.equal(out[0], 0.5 * -8 * 27);
  // value 200: second half (h 1), r 72 → quarter 2 (high nibbles of ql[64 + 8]), l 8; qh[32 + 8] bits 4–5
  const ql = block[64 + 8]! >> 4, qh = (block[128 + 32 + 8]! >> 4) & 3;
  assert.equal(out[200], 0.5 * (block[192 + 8 + 0 + 4]! << 24 >> 24) * ((ql | (qh << 4)) - 32));
  for (let v = 0; v < 256; v++) {
    const h = v >> 7, r = v & 127, quarter = r >> 5, l = r & 31;
    const low = (block[64 * h + l + (quarter & 1) * 32]! >> (quarter >= 2 ? 4 : 0)) & 15;
    const high = (block[128 + 32 * h + l]! >> (2 * quarter)) & 3;
    const scale = (block[192 + 8 * h + (l >> 4) + 2 * quarter]! << 24) >> 24;
    assert.equal(out[v], 0.5 * scale * ((low | (high << 4)) - 32), `value ${v}`);
  }
});

test('repacked Q8_0 / Q4_0 codes read back with readCode equal the decoded values', () => {
  const n = 6, k = 96;
  const w = randomFloats(n * k, 7);
  for (const [bits, q, dequant, repack] of [
    [8, quantizeQ8_0(w), dequantizeQ8_0, repackQ8_0],
    [4, quantizeQ4_0(w), dequantizeQ4_0, repackQ4_0],
  ] as const) {
    const ref = dequant(q, n * k);
    const p = repack(q, n, k);
    assert.deepEqual(p.format, { bits, groupSize: 32, symmetric: true });
    assert.equal(p.data.length, (n * k * bits) / 32);
    assert.equal(p.scales.length, Math.ceil((n * k) / 32 / 2));
    const zero = symmetricZero(bits);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < k; j++) {
        const scale = f16ToF32(readHalf(p.scales, r * (k / 32) + Math.floor(j / 32)));
        const v = (readCode(p.data, r, j, k, bits) - zero) * scale;
        assert.equal(v, ref[r * k + j], `bits ${bits} (${r}, ${j})`);
      }
    }
    // and the values are close to the originals (the quantizers work)
    let maxErr = 0;
    for (let i = 0; i < n * k; i++) maxErr = Math.max(maxErr, Math.abs(ref[i]! - w[i]!));
    assert.ok(maxErr < (bits === 8 ? 0.01 : 0.15), `bits ${bits} max error ${maxErr}`);
  }
});

// --- files ----------------------------------------------------------------------------------------

const META: [string, GgufMetaValue][] = [
  ['general.architecture', { t: 'str', v: 'llama' }],
  ['general.name', { t: 'str', v: 'tïny 🦙 模型' }],
  ['t.u8', { t: 'u8', v: 200 }], ['t.i8', { t: 'i8', v: -100 }], ['t.u16', { t: 'u16', v: 60000 }],
  ['t.i16', { t: 'i16', v: -30000 }], ['t.u32', { t: 'u32', v: 4e9 }], ['t.i32', { t: 'i32', v: -2e9 }],
  ['t.f32', { t: 'f32', v: 0.25 }], ['t.f64', { t: 'f64', v: 1e-300 }], ['t.bool', { t: 'bool', v: true }],
  ['t.u64', { t: 'u64', v: 1n << 60n }], ['t.i64', { t: 'i64', v: -42n }],
  ['t.arr.i32', { t: 'arr', of: 'i32', v: [1, -2, 3] }],
  ['t.arr.f32', { t: 'arr', of: 'f32', v: [0.5, -1.5] }],
  ['t.arr.str', { t: 'arr', of: 'str', v: ['a', '', 'ü'] }],
  ['t.arr.bool', { t: 'arr', of: 'bool', v: [true, false] }],
  ['t.arr.u64', { t: 'arr', of: 'u64', v: [1n, 1n << 63n] }],
  ['t.arr.nested', { t: 'arr', of: 'arr', v: [{ t: 'arr', of: 'u8', v: [1, 2] }, { t: 'arr', of: 'str', v: ['x'] }] }],
];

function sampleFile(alignment?: number): { file: Uint8Array; w: Float32Array } {
  const w = randomFloats(4 * 256, 3);
  const tensors = [
    { name: 'f32', dims: [8, 2], type: GgmlType.F32, data: f32Bytes(w.subarray(0, 16)) },
    { name: 'f16', dims: [5], type: GgmlType.F16, data: f16Bytes(w.subarray(0, 5)) },
    { name: 'q8', dims: [64, 2], type: GgmlType.Q8_0, data: quantizeQ8_0(w.subarray(0, 128)) },
    { name: 'q4', dims: [32, 3], type: GgmlType.Q4_0, data: quantizeQ4_0(w.subarray(0, 96)) },
    { name: 'q4k', dims: [256, 1], type: GgmlType.Q4_K, data: new Uint8Array(144).fill(0x11) },
  ];
  return { file: writeGguf({ metadata: META, tensors, ...(alignment ? { alignment } : {}) }), w };
}

test('GGUF: metadata of every type, tensor infos and data round-trip', () => {
  const { file, w } = sampleFile();
  const h = parseGguf(file, 'sample.gguf');
  assert.equal(h.version, 3);
  assert.equal(h.alignment, 32);
  assert.equal(h.dataOffset % 32, 0);
  const md = h.metadata;
  assert.equal(md.get('general.name'), 'tïny 🦙 模型');
  assert.equal(md.get('t.u8'), 200); assert.equal(md.get('t.i8'), -100); assert.equal(md.get('t.u16'), 60000);
  assert.equal(md.get('t.i16'), -30000); assert.equal(md.get('t.u32'), 4e9); assert.equal(md.get('t.i32'), -2e9);
  assert.equal(md.get('t.f32'), 0.25); assert.equal(md.get('t.f64'), 1e-300); assert.equal(md.get('t.bool'), true);
  assert.equal(md.get('t.u64'), 1n << 60n, 'beyond 2^53 stays a bigint'); assert.equal(md.get('t.i64'), -42);
  assert.deepEqual(md.get('t.arr.i32'), Int32Array.from([1, -2, 3]));
  assert.deepEqual(md.get('t.arr.f32'), Float32Array.from([0.5, -1.5]));
  assert.deepEqual(md.get('t.arr.str'), ['a', '', 'ü']);
  assert.deepEqual(md.get('t.arr.bool'), [true, false]);
  assert.deepEqual(md.get('t.arr.u64'), BigUint64Array.from([1n, 1n << 63n]));
  assert.deepEqual(md.get('t.arr.nested'), [Uint8Array.from([1, 2]), ['x']]);

  const t = (n: string) => h.byName.get(n)!;
  assert.deepEqual(t('f32').dims, [8, 2]);
  assert.deepEqual(t('f32').shape, [2, 8]);
  assert.equal(t('q8').typeName, 'Q8_0');
  assert.equal(t('q8').end - t('q8').begin, 4 * 34);
  for (const x of h.tensors) assert.equal((x.begin - h.dataOffset) % 32, 0);
  assert.deepEqual([...dequantizeGgufTensor(t('f32'), file)], [...w.subarray(0, 16)]);
  assert.deepEqual([...dequantizeGgufTensor(t('f16'), file)], [...w.subarray(0, 5)].map((x) => f16ToF32(f32ToF16(x))));
  const q8 = dequantizeGgufTensor(t('q8'), file);
  for (let i = 0; i < 128; i++) assert.ok(Math.abs(q8[i]! - w[i]!) < 0.01);
  const q4 = dequantizeGgufTensor(t('q4'), file);
  for (let i = 0; i < 96; i++) assert.ok(Math.abs(q4[i]! - w[i]!) < 0.15);
  // Q4_K bytes all 0x11: d = dmin = f16 0x1111, every sc = m = 17 (or 0x11 & 63 / nibble mixes) — compare to the block decoder
  assert.deepEqual(dequantizeGgufTensor(t('q4k'), file), dequantizeQ4_K(new Uint8Array(144).fill(0x11), 256));
  const p = repackGgufTensor(t('q4'), file);
  assert.deepEqual(p.shape, [3, 32]);
  const pk = repackGgufTensor(t('q4k'), file);
  assert.deepEqual([pk.shape, pk.format], [[1, 256], { bits: 4, groupSize: 32, symmetric: false }]);
  expectFormatError(() => repackGgufTensor(t('f16'), file), /only 2-D weights/);
  // custom alignment
  const h64 = parseGguf(sampleFile(64).file);
  assert.equal(h64.alignment, 64);
  assert.equal(h64.dataOffset % 64, 0);
});

test('GGUF: header parses incrementally from a growing prefix', () => {
  const { file } = sampleFile();
  let len = 10;
  let steps = 0;
  for (;;) {
    const r = tryParseGgufHeader(file.subarray(0, len), { fileSize: file.length });
    steps++;
    if ('header' in r) {
      assert.equal(r.header.tensors.length, 5);
      assert.ok(len <= file.length);
      break;
    }
    assert.ok(r.needBytes > len && r.needBytes <= file.length, `needBytes ${r.needBytes} after ${len}`);
    len = r.needBytes;
  }
  assert.ok(steps > 1);
  // version 2 files parse too
  const v2 = writeGguf({ version: 2, metadata: [['a', { t: 'u32', v: 1 }]] });
  assert.equal(parseGguf(v2).version, 2);
});

test('GGUF: hostile headers give typed errors before any large allocation', () => {
  const base = { metadata: [['a', { t: 'u32', v: 1 }]] as [string, GgufMetaValue][] };
  expectFormatError(() => parseGguf(writeGguf({ ...base, magic: 0x46554746 })), /bad magic/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, version: 1 })), /version 1 is not supported.*convert the file again/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, version: 4 })), /version 4 is not supported/);
  expectFormatError(() => parseGguf(new Uint8Array(10)), /fewer than a GGUF header/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, tensorCount: 1n << 40n })), /tensor count \d+ cannot fit/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, kvCount: 1n << 50n })), /metadata count \d+ cannot fit/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, kvCount: 1n << 62n })), /beyond any possible file size/);
  // one kv written (header 24 + kv 17 bytes, padding cut off), two declared
  expectFormatError(() => parseGguf(writeGguf({ ...base, kvCount: 2n }).subarray(0, 41)), /metadata count 2 cannot fit in the 41-byte file/);
  // ... and a value cut short
  expectFormatError(() => parseGguf(writeGguf(base).subarray(0, 39)), /a u32 needs 4 bytes but only 2 remain.*truncated or corrupt/);
  // string length beyond the buffer: patch the key length of the first kv (at byte 24)
  const s = writeGguf(base);
  new DataView(s.buffer).setBigUint64(24, 1n << 33n, true);
  expectFormatError(() => parseGguf(s), /metadata key claims 8589934592 bytes but only \d+ remain/);
  // array count beyond the buffer
  const arr = writeGguf({ metadata: [['k', { t: 'arr', of: 'str', v: ['a'] }]] });
  new DataView(arr.buffer).setBigUint64(24 + 8 + 1 + 4 + 4, 1n << 40n, true);
  expectFormatError(() => parseGguf(arr), /array of 1099511627776 × type 8 needs at least/);
  const deep: GgufMetaValue = Array.from({ length: 12 }).reduce<GgufMetaValue>((inner) => ({ t: 'arr', of: 'arr', v: [inner] }), { t: 'arr', of: 'u8', v: [] });
  expectFormatError(() => parseGguf(writeGguf({ metadata: [['deep', deep]] })), /nested deeper than 8/);
  // unknown value type
  const vt = writeGguf(base);
  new DataView(vt.buffer).setUint32(24 + 8 + 1, 13, true);
  expectFormatError(() => parseGguf(vt), /unknown metadata value type 13/);
  const b = writeGguf({ metadata: [['b', { t: 'bool', v: true }]] });
  b[24 + 8 + 1 + 4] = 2;
  expectFormatError(() => parseGguf(b), /bool value 2/);
  expectFormatError(() => parseGguf(writeGguf({ metadata: [['a', { t: 'u8', v: 1 }], ['a', { t: 'u8', v: 2 }]] })), /duplicate metadata key "a"/);
  expectFormatError(() => parseGguf(writeGguf({ ...base, alignment: 24 })), /general.alignment = 24 must be a power of two/);
  const utf = writeGguf({ metadata: [['ab', { t: 'u8', v: 1 }]] });
  utf[24 + 8] = 0xff;
  expectFormatError(() => parseGguf(utf), /not valid UTF-8/);
});

test('GGUF: tensor info validation (type, dims, alignment, range, overlap)', () => {
  const q8 = quantizeQ8_0(randomFloats(64));
  const one = (over: Partial<{ dims: number[]; type: number; offset: number; data: Uint8Array }>, more: object = {}) =>
    writeGguf({ tensors: [{ name: 'w', dims: [64], type: GgmlType.Q8_0, data: q8, ...over }], ...more });
  assert.equal(parseGguf(one({})).tensors[0]!.size, 64);
  expectFormatError(() => parseGguf(one({ type: 99 })), /unknown ggml type 99/);
  expectFormatError(() => parseGguf(one({ dims: [48] })), /row length 48 is not a multiple of the block size 32/);
  expectFormatError(() => parseGguf(one({ dims: [32, 1, 1, 1, 2] })), /5 dimensions/);
  expectFormatError(() => parseGguf(one({ offset: 8 })), /offset 8 is not a multiple of the alignment 32/);
  expectFormatError(() => parseGguf(one({ offset: 64 })), /lies outside the \d+-byte data section/);
  expectFormatError(() => parseGguf(one({ dims: [2 ** 40, 2 ** 20] })), /more elements than can be addressed|lies outside/);
  const trunc = one({});
  expectFormatError(() => parseGguf(trunc.subarray(0, trunc.length - 1)), /lies outside/);
  const two = writeGguf({ tensors: [
    { name: 'a', dims: [64], type: GgmlType.Q8_0, data: q8 },
    { name: 'b', dims: [64], type: GgmlType.Q8_0, data: q8, offset: 32 },
  ] });
  expectFormatError(() => parseGguf(two), /overlaps tensor "a"/);
  const dup = writeGguf({ tensors: [
    { name: 'a', dims: [64], type: GgmlType.Q8_0, data: q8 },
    { name: 'a', dims: [64], type: GgmlType.Q8_0, data: q8 },
  ] });
  expectFormatError(() => parseGguf(dup), /duplicate tensor name "a"/);
  // a prefix that ends inside a tensor name asks for more instead of failing
  const file = one({});
  const r = tryParseGgufHeader(file.subarray(0, 30), { fileSize: file.length });
  assert.ok('needBytes' in r);
  expectFormatError(() => tryParseGgufHeader(file.subarray(0, 30)), /cannot fit in the 30-byte file/);
});

// --- llama.cpp → HF ---------------------------------------------------------------------------------

/** convert_hf_to_gguf's permute: reshape(heads, 2, d/2, K).swapaxes(1, 2): HF row h·d + t·d/2 + i → row h·d + 2i + t. */
function llamaCppPermute(w: Float32Array, heads: number, k: number): Float32Array {
  const rows = w.length / k;
  const d = rows / heads;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) for (let t = 0; t < 2; t++) for (let i = 0; i < d / 2; i++) {
    out.set(w.subarray((h * d + t * (d / 2) + i) * k, (h * d + t * (d / 2) + i + 1) * k), (h * d + 2 * i + t) * k);
  }
  return out;
}

test('GGUF llama: config from llama.* keys, HF names, q/k rows un-permuted (f32 and packed)', () => {
  const hidden = 64, heads = 4, kvHeads = 2, headDim = 16, k = hidden;
  const wq = randomFloats(heads * headDim * k, 11);
  const wk = randomFloats(kvHeads * headDim * k, 12);
  const bq = randomFloats(heads * headDim, 13);
  const file = writeGguf({
    metadata: [
      ['general.architecture', { t: 'str', v: 'llama' }],
      ['llama.block_count', { t: 'u32', v: 1 }],
      ['llama.embedding_length', { t: 'u32', v: hidden }],
      ['llama.feed_forward_length', { t: 'u32', v: 128 }],
      ['llama.attention.head_count', { t: 'u32', v: heads }],
      ['llama.attention.head_count_kv', { t: 'u32', v: kvHeads }],
      ['llama.rope.freq_base', { t: 'f32', v: 500000 }],
      ['llama.attention.layer_norm_rms_epsilon', { t: 'f32', v: 1e-5 }],
      ['llama.context_length', { t: 'u32', v: 256 }],
      ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: Array.from({ length: 100 }, (_, i) => `t${i}`) }],
      ['tokenizer.ggml.bos_token_id', { t: 'u32', v: 1 }],
      ['tokenizer.ggml.eos_token_id', { t: 'u32', v: 2 }],
    ],
    tensors: [
      { name: 'blk.0.attn_q.weight', dims: [k, heads * headDim], type: GgmlType.F32, data: f32Bytes(llamaCppPermute(wq, heads, k)) },
      { name: 'blk.0.attn_q.bias', dims: [heads * headDim], type: GgmlType.F32, data: f32Bytes(llamaCppPermute(bq, heads, 1)) },
      { name: 'blk.0.attn_k.weight', dims: [k, kvHeads * headDim], type: GgmlType.Q8_0, data: quantizeQ8_0(llamaCppPermute(wk, kvHeads, k)) },
      { name: 'blk.0.attn_v.weight', dims: [k, kvHeads * headDim], type: GgmlType.Q4_0, data: quantizeQ4_0(wk) },
    ],
  });
  const h = parseGguf(file);
  const c = ggufLlamaConfig(h);
  assert.equal(c.modelType, 'llama');
  assert.equal(c.hiddenSize, 64); assert.equal(c.numHiddenLayers, 1); assert.equal(c.intermediateSize, 128);
  assert.equal(c.numAttentionHeads, 4); assert.equal(c.numKeyValueHeads, 2); assert.equal(c.headDim, 16);
  assert.equal(c.ropeTheta, 500000); assert.ok(Math.abs(c.rmsNormEps - 1e-5) < 1e-12);
  assert.equal(c.maxPositionEmbeddings, 256); assert.equal(c.vocabSize, 100);
  assert.equal(c.tieWordEmbeddings, true, 'no output.weight → tied');
  assert.equal(c.qkvBias, true);
  assert.equal(c.bosTokenId, 1); assert.deepEqual(c.eosTokenIds, [2]);

  assert.equal(ggufToHfName('blk.0.attn_q.weight'), 'model.layers.0.self_attn.q_proj.weight');
  assert.equal(ggufToHfName('blk.12.ffn_down.weight'), 'model.layers.12.mlp.down_proj.weight');
  assert.equal(ggufToHfName('blk.3.ffn_norm.weight'), 'model.layers.3.post_attention_layernorm.weight');
  assert.equal(ggufToHfName('token_embd.weight'), 'model.embed_tokens.weight');
  assert.equal(ggufToHfName('output.weight'), 'lm_head.weight');
  assert.equal(ggufToHfName('output_norm.weight'), 'model.norm.weight');
  assert.equal(ggufToHfName('rope_freqs.weight'), null);

  assert.deepEqual(ggufTensorF32(h, c, h.byName.get('blk.0.attn_q.weight')!, file), wq);
  assert.deepEqual(ggufTensorF32(h, c, h.byName.get('blk.0.attn_q.bias')!, file), bq);
  // Q8_0 blocks run along rows, so quantizing permuted rows = permuting quantized rows.
  const packedK = ggufTensorPacked(h, c, h.byName.get('blk.0.attn_k.weight')!, file);
  const direct = repackQ8_0(quantizeQ8_0(wk), kvHeads * headDim, k);
  assert.deepEqual(packedK.data, direct.data);
  assert.deepEqual(packedK.scales, direct.scales);
  // v is not permuted
  const packedV = ggufTensorPacked(h, c, h.byName.get('blk.0.attn_v.weight')!, file);
  assert.deepEqual(packedV.data, repackQ4_0(quantizeQ4_0(wk), kvHeads * headDim, k).data);
  // the order maps HF rows to GGUF rows: head 0, first half row 1 sits at GGUF row 2
  const order = llamaRopeRowOrder(8, 1);
  assert.deepEqual([...order], [0, 2, 4, 6, 1, 3, 5, 7]);

  // qwen2 stores q/k unpermuted
  const qwenFile = writeGguf({
    metadata: [
      ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: ['a', 'b'] }],
      ['general.architecture', { t: 'str', v: 'qwen2' }], ['qwen2.block_count', { t: 'u32', v: 1 }],
      ['qwen2.embedding_length', { t: 'u32', v: hidden }], ['qwen2.feed_forward_length', { t: 'u32', v: 128 }],
      ['qwen2.attention.head_count', { t: 'u32', v: heads }],
    ],
    tensors: [{ name: 'blk.0.attn_q.weight', dims: [k, heads * headDim], type: GgmlType.F32, data: f32Bytes(wq) }],
  });
  // Llama 3.1+ GGUFs carry rope scaling as a rope_freqs tensor: reported as such, and the model refuses it
  const l3 = ggufLlamaConfig(parseGguf(writeGguf({
    metadata: [['general.architecture', { t: 'str', v: 'llama' }], ['llama.block_count', { t: 'u32', v: 1 }], ['llama.embedding_length', { t: 'u32', v: hidden }],
      ['llama.feed_forward_length', { t: 'u32', v: 128 }], ['llama.attention.head_count', { t: 'u32', v: heads }], ['llama.vocab_size', { t: 'u32', v: 100 }]],
    tensors: [{ name: 'rope_freqs.weight', dims: [headDim / 2], type: GgmlType.F32, data: f32Bytes(new Float32Array(headDim / 2).fill(1)) }],
  })));
  assert.equal(l3.ropeScaling?.type, 'rope_freqs');
  assert.throws(() => ropePlan(l3.ropeScaling, l3.ropeTheta, l3.headDim), (e: unknown) => e instanceof InvalidArgumentError && /"rope_freqs" is not supported/.test((e as Error).message));
  const qwen = parseGguf(qwenFile);
  const qc = ggufLlamaConfig(qwen);
  assert.equal(qc.modelType, 'qwen2');
  assert.equal(qc.numKeyValueHeads, 4);
  assert.equal(qc.vocabSize, 2);
  assert.deepEqual(ggufTensorF32(qwen, qc, qwen.byName.get('blk.0.attn_q.weight')!, qwenFile), wq);
  expectFormatError(() => ggufLlamaConfig(parseGguf(writeGguf({ metadata: [['general.architecture', { t: 'str', v: 'mamba' }]] }))), /architecture "mamba" is not supported/);
  expectFormatError(() => ggufLlamaConfig(parseGguf(writeGguf({ metadata: [['general.architecture', { t: 'str', v: 'llama' }]] }))), /"llama.embedding_length" is missing/);
});
