import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccelError, FormatError } from '../../engine/errors.js';
import {
  parseSafetensors, parseSafetensorsHeader, parseSafetensorsIndex, safetensorsHeaderBytes, safetensorsToF32, safetensorsView,
} from '../../engine/formats/safetensors.js';
import { f32ToF16 } from '../../engine/tensor/dtype.js';
import { buildSafetensors, writeSafetensors } from '../fixtures/formats/safetensors-writer.js';

const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

function fixture(pad = true): Uint8Array {
  const f16 = Uint16Array.from([1, -2, 0.5, 65504].map(f32ToF16));
  // bf16 = high half of the f32 pattern: 1.5, -3, 0.15625 are exact in bf16
  const bf = new Uint16Array(new Uint32Array(Float32Array.from([1.5, -3, 0.15625]).buffer).map((u) => u >>> 16));
  return buildSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [2, 3], bytes: f32([1, 2, 3, 4, 5, 6]) },
    { name: 'b.f16', dtype: 'F16', shape: [4], bytes: new Uint8Array(f16.buffer) },
    { name: 'c.bf16', dtype: 'BF16', shape: [3], bytes: new Uint8Array(bf.buffer) },
    { name: 'd.i8', dtype: 'I8', shape: [3], bytes: Uint8Array.from([0xff, 0x7f, 0x80]) },
    { name: 'e.u8', dtype: 'U8', shape: [2], bytes: Uint8Array.from([7, 255]) },
    { name: 'f.i64', dtype: 'I64', shape: [2], bytes: new Uint8Array(BigInt64Array.from([-5n, 1n << 40n]).buffer) },
    { name: 'g.i32', dtype: 'I32', shape: [1], bytes: new Uint8Array(Int32Array.from([-7]).buffer) },
    { name: 'h.empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
  ], { format: 'pt' }, pad);
}

function expectFormatError(fn: () => unknown, pattern: RegExp, offset?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e instanceof AccelError);
    assert.equal(e.code, 'invalid-format');
    assert.match(e.message, pattern);
    if (offset !== undefined) assert.equal(e.byteOffset, offset);
    return true;
  });
}

test('safetensors: parses every supported dtype and converts to f32', () => {
  const file = fixture();
  const h = parseSafetensors(file, 'x.safetensors');
  assert.equal(h.dataOffset % 8, 0);
  assert.deepEqual(h.metadata, { format: 'pt' });
  assert.deepEqual(h.tensors.map((t) => t.name), ['a.weight', 'b.f16', 'c.bf16', 'd.i8', 'e.u8', 'f.i64', 'g.i32', 'h.empty']);
  const get = (n: string) => h.byName.get(n)!;
  assert.deepEqual(get('a.weight').shape, [2, 3]);
  assert.deepEqual([...safetensorsToF32(get('a.weight'), file)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...safetensorsToF32(get('b.f16'), file)], [1, -2, 0.5, 65504]);
  assert.deepEqual([...safetensorsToF32(get('c.bf16'), file)], [1.5, -3, 0.15625]);
  assert.deepEqual([...safetensorsToF32(get('d.i8'), file)], [-1, 127, -128]);
  assert.deepEqual([...safetensorsToF32(get('e.u8'), file)], [7, 255]);
  assert.deepEqual([...(safetensorsView(get('f.i64'), file) as BigInt64Array)], [-5n, 1n << 40n]);
  assert.deepEqual([...safetensorsView(get('g.i32'), file) as Int32Array], [-7]);
  assert.equal(safetensorsToF32(get('h.empty'), file).length, 0);
});

test('safetensors: views are zero-copy when aligned and copies when not', () => {
  const aligned = fixture(true);
  const h = parseSafetensors(aligned);
  const v = safetensorsView(h.byName.get('a.weight')!, aligned);
  assert.equal(v.buffer, aligned.buffer, 'aligned F32 view shares the file buffer');
  // Unpadded header of odd length puts the data at an odd offset: F32 must be copied.
  const odd = fixture(false);
  const ho = parseSafetensors(odd);
  assert.notEqual(ho.dataOffset % 4, 0, `fixture must be misaligned (data at ${ho.dataOffset})`);
  const c = safetensorsView(ho.byName.get('a.weight')!, odd);
  assert.notEqual(c.buffer, odd.buffer);
  assert.deepEqual([...c], [1, 2, 3, 4, 5, 6]);
});

test('safetensors: streams — header size first, then parse from a prefix, then views from a slice', () => {
  const file = fixture();
  assert.equal(safetensorsHeaderBytes(file.subarray(0, 3), { fileSize: file.length }), 8);
  const need = safetensorsHeaderBytes(file.subarray(0, 8), { fileSize: file.length });
  const h = parseSafetensorsHeader(file.subarray(0, need), { fileSize: file.length });
  assert.equal(h.dataOffset, need);
  assert.equal(h.fileSize, file.length);
  const t = h.byName.get('b.f16')!;
  const chunk = file.slice(t.begin - 2, t.end + 3);
  assert.deepEqual([...safetensorsToF32(t, chunk, t.begin - 2)], [1, -2, 0.5, 65504]);
  expectFormatError(() => safetensorsView(t, chunk, t.begin + 4), /not inside/);
  expectFormatError(() => safetensorsView(t, chunk.subarray(0, 6), t.begin - 2), /not inside/);
  expectFormatError(() => parseSafetensorsHeader(file.subarray(0, need - 1), { fileSize: file.length }), /only \d+ are available/);
});

test('safetensors: truncated file and header length beyond the file', () => {
  expectFormatError(() => parseSafetensors(new Uint8Array(5)), /fewer than the 8-byte header length/);
  const file = fixture();
  expectFormatError(() => parseSafetensors(file.subarray(0, 40)), /runs past the end/, 0);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  expectFormatError(() => safetensorsHeaderBytes(huge), /exceeds the 100000000-byte limit/, 0);
  new DataView(huge.buffer).setBigUint64(0, 1n << 62n, true);
  expectFormatError(() => safetensorsHeaderBytes(huge), /beyond the safe integer range/, 0);
  // Data area shorter than the offsets promise (a truncated download).
  expectFormatError(() => parseSafetensors(file.subarray(0, file.length - 3)), /past the end of the/);
  // Trailing bytes after the last tensor.
  const longer = new Uint8Array(file.length + 4);
  longer.set(file);
  expectFormatError(() => parseSafetensors(longer), /trailing garbage/);
});

test('safetensors: JSON shape errors', () => {
  const bad = (json: string) => {
    const b = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + b.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(b.length), true);
    out.set(b, 8);
    return out;
  };
  expectFormatError(() => parseSafetensors(bad('[1,2,3]')), /does not start with "\{"/, 8);
  expectFormatError(() => parseSafetensors(bad('{"a": ')), /not valid UTF-8 JSON/);
  expectFormatError(() => parseSafetensors(bad('{"a": 3}')), /must be an object with dtype/);
  expectFormatError(() => parseSafetensors(bad('{"__metadata__": {"k": 1}}')), /__metadata__\["k"\] must be a string/);
  expectFormatError(() => parseSafetensors(bad('{"__metadata__": [1]}')), /__metadata__ must be an object/);
  const invalidUtf8 = bad('{"a":1}');
  invalidUtf8[10] = 0xff;
  expectFormatError(() => parseSafetensors(invalidUtf8), /not valid UTF-8 JSON/);
});

test('safetensors: dtype, shape and offset validation', () => {
  const data = new Uint8Array(24);
  const w = (header: Record<string, unknown>, bytes = data) => writeSafetensors(header as never, bytes);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'Q4', shape: [6], data_offsets: [0, 24] } })), /unknown dtype "Q4"/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [2, -3], data_offsets: [0, 24] } })), /invalid shape/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [2, 1.5], data_offsets: [0, 24] } })), /invalid shape/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [5], data_offsets: [0, 24] } })), /= 20 bytes but its data_offsets span 24/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [6], data_offsets: [24, 0] } })), /invalid data_offsets/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [6], data_offsets: [0] } })), /invalid data_offsets/);
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [2 ** 40, 2 ** 20], data_offsets: [0, 24] } })), /more elements than can be addressed/);
  // Overlap: y starts inside x.
  expectFormatError(() => parseSafetensors(w({
    x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    y: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  })), /"y" \[8, 24\) overlaps the previous tensor/);
  // Gap between tensors.
  expectFormatError(() => parseSafetensors(w({
    x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    y: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
  })), /leaves a gap of 8 bytes/);
  // Out of range: offsets beyond the data area.
  expectFormatError(() => parseSafetensors(w({ x: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } })), /past the end of the/);
  // Order in the JSON does not matter; offsets do.
  const ok = parseSafetensors(w({
    y: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
  }));
  assert.deepEqual(ok.tensors.map((t) => t.name), ['x', 'y']);
});

test('safetensors: sharded index', () => {
  const idx = parseSafetensorsIndex(JSON.stringify({
    metadata: { total_size: 123 },
    weight_map: { 'a': 'model-00001-of-00002.safetensors', 'b': 'model-00002-of-00002.safetensors', 'c': 'model-00001-of-00002.safetensors' },
  }));
  assert.deepEqual(idx.files, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.equal(idx.weightMap.get('b'), 'model-00002-of-00002.safetensors');
  assert.equal(idx.metadata['total_size'], 123);
  expectFormatError(() => parseSafetensorsIndex('{'), /not valid JSON/);
  expectFormatError(() => parseSafetensorsIndex({ weight_map: [] }), /"weight_map" must be an object/);
  expectFormatError(() => parseSafetensorsIndex({ weight_map: {} }), /empty/);
  expectFormatError(() => parseSafetensorsIndex({ weight_map: { a: 3 } }), /must be a file name string/);
  for (const evil of ['../secret.safetensors', '/etc/x.safetensors', 'https://evil.example/x.safetensors', 'sub\\x.safetensors', '..']) {
    expectFormatError(() => parseSafetensorsIndex({ weight_map: { a: evil } }), /not a plain file name|not a .safetensors file/);
  }
  expectFormatError(() => parseSafetensorsIndex({ weight_map: { a: 'model.bin' } }), /not a .safetensors file/);
});
