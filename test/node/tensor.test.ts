import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16ToF32, f32ToF16 } from '../../engine/tensor/dtype.js';
import { broadcastShapes } from '../../engine/tensor/shape.js';
import { readCode, writeCode, wordsPerRow, type QuantBits } from '../../engine/quant/layout.js';

test('f16 conversion round-trips every finite half exactly', () => {
  for (let h = 0; h < 0x10000; h++) {
    const e = (h >> 10) & 0x1f;
    if (e === 31) continue;
    const f = f16ToF32(h);
    const back = f32ToF16(f);
    if (!(h === 0x8000 && back === 0x8000)) assert.equal(back, h, `half 0x${h.toString(16)}`);
  }
});

test('f32ToF16 rounds to nearest even and saturates to infinity', () => {
  assert.equal(f16ToF32(f32ToF16(1 + 2 ** -11)), 1);
  assert.equal(f16ToF32(f32ToF16(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
  assert.equal(f16ToF32(f32ToF16(70000)), Infinity);
  assert.equal(f16ToF32(f32ToF16(2 ** -24)), 2 ** -24);
});

test('broadcastShapes follows NumPy rules', () => {
  assert.deepEqual(broadcastShapes([4, 1, 3], [5, 1]), [4, 5, 3]);
  assert.throws(() => broadcastShapes([2, 3], [4]), /cannot broadcast/);
});

test('packed codes round-trip for every bit width', () => {
  for (const bits of [8, 4, 3, 2] as QuantBits[]) {
    const n = 3, k = 64;
    const data = new Uint32Array(n * wordsPerRow(k, bits));
    const codes = Array.from({ length: n * k }, (_, i) => (i * 7 + 3) % (1 << bits));
    codes.forEach((q, i) => writeCode(data, Math.floor(i / k), i % k, k, bits, q));
    codes.forEach((q, i) => assert.equal(readCode(data, Math.floor(i / k), i % k, k, bits), q));
  }
});
