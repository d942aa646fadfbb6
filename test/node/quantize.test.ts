import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import { readCode, readHalf, symmetricZero, type QuantBits, type QuantFormat } from '../../engine/quant/layout.js';
import { dequantizeWeight, quantizeWeight } from '../../engine/quant/quantize.js';
import { f16ToF32 } from '../../engine/tensor/dtype.js';

const formatArb = fc.record({
  bits: fc.constantFrom<QuantBits>(8, 4, 3, 2),
  groupSize: fc.constantFrom<32 | 64 | 128>(32, 64, 128),
  symmetric: fc.boolean(),
});

/** Values of one row: a random scale and offset per case, so groups span tiny to large and off-centre ranges. */
const weightsArb = (n: number, k: number) => fc.tuple(fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: 1e-4, max: 10, noNaN: true }), fc.nat())
  .map(([centre, spread, seed]) => {
    let s = seed >>> 0;
    const w = new Float32Array(n * k);
    for (let i = 0; i < w.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      w[i] = centre + spread * (s / 2 ** 32 - 0.5);
    }
    return w;
  });

test('quantize → dequantize stays within the scheme bound for every bits × group × sym/asym (fast-check)', () => {
  fc.assert(fc.property(formatArb, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (format: QuantFormat, n, groups) => {
    const k = groups * format.groupSize;
    fc.assert(fc.property(weightsArb(n, k), (w) => {
      const q = quantizeWeight(w, n, k, format);
      const r = dequantizeWeight(q);
      const g = format.groupSize;
      for (let gi = 0; gi < (n * k) / g; gi++) {
        let amax = 0;
        for (let i = 0; i < g; i++) amax = Math.max(amax, Math.abs(w[gi * g + i]!));
        const s = Math.abs(f16ToF32(readHalf(q.scales, gi)));
        // s/2 with s the stored f16 scale (rounded up so nothing clamps), plus f32 arithmetic
        const bound = s / 2 + amax * 2 ** -22 + 1e-12;
        for (let i = 0; i < g; i++) {
          const e = Math.abs(w[gi * g + i]! - r[gi * g + i]!);
          if (!(e <= bound)) throw new Error(`int${format.bits} g${g} ${format.symmetric ? 'sym' : 'asym'}: |error| ${e} > bound ${bound} (s ${s}, amax ${amax})`);
        }
      }
      // symmetric codes never reach the lowest level (the range is ±(2^(bits−1) − 1) steps)
      if (format.symmetric) for (let j = 0; j < n * k; j++) assert.ok(readCode(q.data, Math.floor(j / k), j % k, k, format.bits) >= 1 || symmetricZero(format.bits) === 1);
    }), { numRuns: 5 });
  }), { numRuns: 60, seed: 20261123 });
});

test('clip search never increases the squared error of a group, and helps on outliers', () => {
  const k = 128;
  const w = new Float32Array(k).map((_, i) => Math.sin(i * 0.37) * 0.1);
  w[5] = 3; // one outlier stretches the plain range
  for (const bits of [4, 3, 2] as QuantBits[]) {
    const f: QuantFormat = { bits, groupSize: 128, symmetric: true };
    const sse = (r: Float32Array) => r.reduce((a, v, i) => a + (v - w[i]!) ** 2, 0);
    const plain = sse(dequantizeWeight(quantizeWeight(w, 1, k, f)));
    const clipped = sse(dequantizeWeight(quantizeWeight(w, 1, k, f, { clipSearch: true })));
    assert.ok(clipped <= plain, `int${bits}: ${clipped} > ${plain}`);
  }
});

test('a quantized weight runs on the cpu kernels exactly as its dequantized values do', async () => {
  const b = await createCpuBackend();
  const [n, k] = [9, 256];
  const w = new Float32Array(n * k).map((_, i) => Math.cos(i * 0.013) * (1 + (i % 7)));
  const x = new Float32Array(k).map((_, i) => Math.sin(i * 0.1));
  for (const format of [{ bits: 8, groupSize: 32, symmetric: true }, { bits: 4, groupSize: 64, symmetric: false }, { bits: 3, groupSize: 128, symmetric: true }, { bits: 2, groupSize: 32, symmetric: false }] as QuantFormat[]) {
    const q = quantizeWeight(w, n, k, format);
    const y = (await b.download(b.qmatvec(b.uploadQuantized(format, q.shape, q.data, q.scales, q.mins), b.upload(x, [k])))) as Float32Array;
    const yRef = (await b.download(b.matvec(b.upload(dequantizeWeight(q), [n, k]), b.upload(x, [k])))) as Float32Array;
    for (let i = 0; i < n; i++) assert.ok(Math.abs(y[i]! - yRef[i]!) <= 1e-4 * (1 + Math.abs(yRef[i]!)), `int${format.bits}: row ${i} ${y[i]} vs ${yRef[i]}`);
  }
});

test('bad input is a typed error', () => {
  assert.throws(() => quantizeWeight(new Float32Array(30), 1, 30, { bits: 4, groupSize: 32, symmetric: true }), InvalidArgumentError);
  assert.throws(() => quantizeWeight(new Float32Array(32).fill(Number.NaN), 1, 32, { bits: 4, groupSize: 32, symmetric: true }), /not finite/);
  assert.throws(() => quantizeWeight(new Float32Array(32), 1, 32, { bits: 5 as QuantBits, groupSize: 32, symmetric: true }), InvalidArgumentError);
});
