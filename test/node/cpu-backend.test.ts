import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend, createCpuBackend, erf } from '../../engine/backends/cpu/index.js';
import { DTypeError, DisposedError, InvalidArgumentError, ShapeError } from '../../engine/errors.js';
import { GROUP_SIZES, QUANT_BITS, type QuantFormat } from '../../engine/quant/layout.js';
import { disposeQuantized } from '../../engine/quant/quantized-tensor.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import { dequantize, distinctRows, expectClose, expectEqualArrays, findMismatch, randomQuantized, randomTensorData } from '../helpers/random.js';

const cpu = new CpuBackend();
const f32 = (values: number[], shape: number[] = [values.length]): Tensor => cpu.upload(Float32Array.from(values), shape);
const i32 = (values: number[], shape: number[] = [values.length]): Tensor => cpu.upload(Int32Array.from(values), shape);
const read = async (t: Tensor): Promise<number[]> => Array.from(await cpu.download(t));

/** Tight comparison for hand-computed values: the oracle stores f32, so allow f32 rounding only. */
function near(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tol = 1e-6): void {
  expectClose(actual, expected, tol, label);
}

describe('cpu backend: memory', () => {
  test('upload copies, download copies, dtypes round-trip exactly', async () => {
    const src = Float32Array.from([1.5, -2, 3]);
    const t = cpu.upload(src, [3]);
    src[0] = 99;
    const out = (await cpu.download(t)) as Float32Array;
    assert.ok(out instanceof Float32Array, 'download returns a Float32Array');
    assert.deepEqual(Array.from(out), [1.5, -2, 3]);
    out[1] = 42;
    assert.deepEqual(await read(t), [1.5, -2, 3]);
    for (const data of [new Uint16Array([0x3c00, 1]), new Int32Array([-7, 2 ** 31 - 1]), new Uint8Array([0, 255]), new Uint32Array([2 ** 32 - 1, 5])]) {
      const u = cpu.upload(data, [2]);
      const back = await cpu.download(u);
      assert.equal(back.constructor, data.constructor);
      assert.deepEqual(Array.from(back), Array.from(data));
      u.dispose();
    }
    assert.equal(cpu.upload(new Uint16Array(2), [2], 'f16').dtype, 'f16');
    t.dispose();
  });

  test('zeros and empty are zero-filled with the requested shape and dtype', async () => {
    const z = cpu.zeros([2, 3], 'i32');
    assert.deepEqual(z.shape, [2, 3]);
    assert.deepEqual(await read(z), [0, 0, 0, 0, 0, 0]);
    const e = cpu.empty([4], 'u8');
    assert.equal(e.byteLength, 4);
    z.dispose();
    e.dispose();
  });

  test('allocated bytes follow live tensors and return to the baseline after dispose', () => {
    const b = new CpuBackend();
    const m0 = b.memory();
    assert.deepEqual(m0, { allocatedBytes: 0, peakBytes: 0, reservedBytes: 0, buffersCreated: 0, pooledBuffers: 0 });
    const a = b.upload(new Float32Array(100), [10, 10]);
    const c = b.zeros([7], 'u8');
    assert.equal(b.memory().allocatedBytes, 407);
    const d = b.matmul(a, a);
    assert.equal(b.memory().allocatedBytes, 807);
    assert.equal(b.memory().buffersCreated, 3);
    const view = d.reshape([100]);
    view.dispose(); // a view only drops its reference; d still holds the storage
    assert.equal(b.memory().allocatedBytes, 807);
    d.dispose();
    d.dispose(); // idempotent
    a.dispose();
    c.dispose();
    const m1 = b.memory();
    assert.equal(m1.allocatedBytes, 0);
    assert.equal(m1.reservedBytes, 0);
    assert.equal(m1.peakBytes, 807);
    b.resetPeak();
    assert.equal(b.memory().peakBytes, 0);
  });

  test('uploadQuantized checks buffer sizes and owns three tensors', () => {
    const b = new CpuBackend();
    const format: QuantFormat = { bits: 4, groupSize: 32, symmetric: false };
    const p = randomQuantized(format, 3, 64, 1);
    const q = b.uploadQuantized(format, [3, 64], p.data, p.scales, p.mins);
    assert.equal(b.memory().allocatedBytes, (24 + 3 + 3) * 4);
    disposeQuantized(q);
    assert.equal(b.memory().allocatedBytes, 0);
    assert.throws(() => b.uploadQuantized(format, [3, 64], p.data.subarray(1), p.scales, p.mins), ShapeError);
    assert.throws(() => b.uploadQuantized(format, [3, 64], p.data, p.scales, null), InvalidArgumentError);
    assert.throws(() => b.uploadQuantized({ ...format, groupSize: 48 as 32 }, [3, 96], p.data, p.scales, p.mins), InvalidArgumentError);
  });

  test('a disposed backend throws DisposedError; its lost promise never settles', async () => {
    const b = (await createCpuBackend()) as CpuBackend;
    const t = b.upload(new Float32Array(4), [4]);
    const settled = await Promise.race([b.lost.then(() => true), new Promise((r) => setTimeout(() => r(false), 20))]);
    assert.equal(settled, false);
    b.dispose();
    assert.throws(() => b.silu(t), DisposedError);
    assert.throws(() => b.upload(new Float32Array(1), [1]), DisposedError);
    assert.throws(() => b.memory(), DisposedError);
    await assert.rejects(b.download(t), DisposedError);
    t.dispose(); // after the backend is gone this stays harmless
  });
});

describe('cpu backend: linear algebra', () => {
  test('matmul of hand-computed 2×3 · 3×2, and with transB', async () => {
    const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = f32([7, 8, 9, 10, 11, 12], [3, 2]);
    assert.deepEqual(await read(cpu.matmul(a, b)), [58, 64, 139, 154]);
    const bt = f32([7, 9, 11, 8, 10, 12], [2, 3]);
    const c = cpu.matmul(a, bt, { transB: true });
    assert.deepEqual(c.shape, [2, 2]);
    assert.deepEqual(await read(c), [58, 64, 139, 154]);
  });

  test('batched matmul with per-batch b, shared b and transB equals the triple-loop formula', async () => {
    const [B1, B2, M, K, N] = [2, 3, 5, 17, 7];
    const av = randomTensorData([B1, B2, M, K], 1);
    const bv = randomTensorData([B1, B2, K, N], 2);
    const shared = randomTensorData([K, N], 3);
    const expected = (bAt: (batch: number, p: number, j: number) => number): Float64Array => {
      const out = new Float64Array(B1 * B2 * M * N);
      for (let batch = 0; batch < B1 * B2; batch++)
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s += av[(batch * M + i) * K + p]! * bAt(batch, p, j);
            out[(batch * M + i) * N + j] = s;
          }
      return out;
    };
    const a = cpu.upload(av, [B1, B2, M, K]);
    const c1 = cpu.matmul(a, cpu.upload(bv, [B1, B2, K, N]));
    assert.deepEqual(c1.shape, [B1, B2, M, N]);
    near(await cpu.download(c1) as Float32Array, expected((bt, p, j) => bv[(bt * K + p) * N + j]!), 'per-batch b');
    near(await cpu.download(cpu.matmul(a, cpu.upload(shared, [K, N]))) as Float32Array, expected((_, p, j) => shared[p * N + j]!), 'shared b');
    // the same products through transB: bT[batch, j, p] = b[batch, p, j]
    const bT = new Float32Array(bv.length);
    for (let bt = 0; bt < B1 * B2; bt++) for (let p = 0; p < K; p++) for (let j = 0; j < N; j++) bT[(bt * N + j) * K + p] = bv[(bt * K + p) * N + j]!;
    near(await cpu.download(cpu.matmul(a, cpu.upload(bT, [B1, B2, N, K]), { transB: true })) as Float32Array, expected((bt, p, j) => bv[(bt * K + p) * N + j]!), 'transB');
  });

  test('matvec of known values', async () => {
    const w = f32([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(await read(cpu.matvec(w, f32([1, 0, -1]))), [-2, -2]);
    const k = 4097;
    const ones = cpu.upload(new Float32Array(k).fill(1), [1, k]);
    const x = cpu.upload(Float32Array.from({ length: k }, (_, i) => i), [k]);
    assert.deepEqual(await read(cpu.matvec(ones, x)), [(k * (k - 1)) / 2]);
  });

  test('accumulates in f64: a sum that f32 accumulation gets wrong', async () => {
    // 1e8 + 1 + 1 + … (1000 ones) − 1e8: f32 running sums lose every 1, f64 keeps them.
    const k = 1002;
    const x = new Float32Array(k).fill(1);
    x[0] = 1e8;
    x[k - 1] = -1e8;
    const w = cpu.upload(new Float32Array(k).fill(1), [1, k]);
    assert.deepEqual(await read(cpu.matvec(w, cpu.upload(x, [k]))), [1000]);
  });

  for (const bits of QUANT_BITS) {
    for (const groupSize of GROUP_SIZES) {
      for (const symmetric of [true, false]) {
        test(`qmatvec and qmatmul equal dequantize-then-matvec: int${bits} g${groupSize} ${symmetric ? 'sym' : 'asym'}`, async () => {
          const format: QuantFormat = { bits, groupSize, symmetric };
          const [N, K, M] = [5, groupSize * 3, 3];
          const packed = randomQuantized(format, N, K, bits * 1000 + groupSize + (symmetric ? 1 : 0));
          const wf = dequantize(format, N, K, packed);
          const q = cpu.uploadQuantized(format, [N, K], packed.data, packed.scales, packed.mins);
          const xv = randomTensorData([M, K], 7);
          const expected = new Float64Array(M * N);
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let s = 0;
              for (let k = 0; k < K; k++) s += wf[n * K + k]! * xv[m * K + k]!;
              expected[m * N + n] = s;
            }
          const x = cpu.upload(xv, [M, K]);
          const y = cpu.qmatmul(x, q);
          assert.deepEqual(y.shape, [M, N]);
          near(await cpu.download(y) as Float32Array, expected, 'qmatmul');
          const y0 = cpu.qmatvec(q, cpu.upload(xv.subarray(0, K), [K]));
          near(await cpu.download(y0) as Float32Array, expected.subarray(0, N), 'qmatvec');
          // and through the f32 matvec of the dequantized weight
          const viaF32 = cpu.matvec(cpu.upload(Float32Array.from(wf), [N, K]), cpu.upload(xv.subarray(0, K), [K]));
          near(await cpu.download(y0) as Float32Array, await cpu.download(viaF32) as Float32Array, 'qmatvec vs matvec', 1e-6);
        });
      }
    }
  }

  test('int4 sym decoding of hand-packed codes: (q − 8) · scale', async () => {
    // one row, K = 32: codes 0..15,0..15 → w = (q − 8) · 0.5; x = 1 → Σ = 2 · Σ_{q<16} (q − 8) · 0.5 = −8
    const data = new Uint32Array(4);
    for (let j = 0; j < 32; j++) data[j >> 3]! |= (j % 16) << ((j % 8) * 4);
    const scales = new Uint32Array([0x3800]); // f16 0.5
    const q = cpu.uploadQuantized({ bits: 4, groupSize: 32, symmetric: true }, [1, 32], data, scales, null);
    assert.deepEqual(await read(cpu.qmatvec(q, cpu.upload(new Float32Array(32).fill(1), [32]))), [-8]);
  });
});

describe('cpu backend: elementwise', () => {
  test('add and mul broadcast like NumPy', async () => {
    const av = randomTensorData([2, 1, 3], 1);
    const bv = randomTensorData([4, 1], 2);
    const a = cpu.upload(av, [2, 1, 3]);
    const b = cpu.upload(bv, [4, 1]);
    const s = cpu.add(a, b);
    const p = cpu.mul(a, b);
    assert.deepEqual(s.shape, [2, 4, 3]);
    const sv = await cpu.download(s);
    const pv = await cpu.download(p);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++)
        for (let k = 0; k < 3; k++) {
          assert.equal(sv[(i * 4 + j) * 3 + k], Math.fround(av[i * 3 + k]! + bv[j]!));
          assert.equal(pv[(i * 4 + j) * 3 + k], Math.fround(av[i * 3 + k]! * bv[j]!));
        }
    assert.deepEqual(await read(cpu.add(f32([1, 2, 3]), f32([10], []))), [11, 12, 13]);
    assert.deepEqual(await read(cpu.mul(f32([2], []), f32([3], []))), [6]);
    assert.throws(() => cpu.add(f32([1, 2]), f32([1, 2, 3])), /add: cannot broadcast \[2\] with \[3\]/);
  });

  test('silu and gelu at known points', async () => {
    near(await cpu.download(cpu.silu(f32([1, -1, 10, -20, 0]))) as Float32Array, [0.7310585786300049, -0.2689414213699951, 9.999546021312977, -4.122307236380407e-8, 0], 'silu');
    const xs = [1, -1, 0.5, 2, -3, -6, 5];
    near(await cpu.download(cpu.gelu(f32(xs), 'erf')) as Float32Array,
      [0.8413447460685429, -0.15865525393145707, 0.34573123063700656, 1.9544997361036416, -0.00404969409489031, -5.919525869479969e-9, 4.999998566742141], 'gelu erf');
    near(await cpu.download(cpu.gelu(f32(xs), 'tanh')) as Float32Array,
      [0.8411919906082768, -0.15880800939172324, 0.34571400982514394, 1.954597694087775, -0.0036373920817729943, -8.43964897967453e-11, 4.999999770820381], 'gelu tanh');
    near(await cpu.download(cpu.gelu(f32(xs))) as Float32Array, await cpu.download(cpu.gelu(f32(xs), 'tanh')) as Float32Array, 'gelu default is tanh', 0);
  });

  test('erf matches reference values to 1e-15 and keeps relative accuracy in the tail of gelu', async () => {
    const known: [number, number][] = [
      [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
      [2.9, 0.9999589021219005], [3, 0.9999779095030014], [3.5, 0.9999992569016276], [-1.5, -0.9661051464753108], [6, 1],
    ];
    for (const [x, v] of known) assert.ok(Math.abs(erf(x) - v) < 1e-15, `erf(${x}) = ${erf(x)}, expected ${v}`);
    // gelu_erf(−10) = −10 · ½ · erfc(10/√2) = −7.6198530241605e−23: 1 + erf(z) would round to 0 here
    const [g] = await read(cpu.gelu(f32([-10]), 'erf'));
    assert.ok(Math.abs(g! / -7.619853024160593e-23 - 1) < 1e-6, `gelu_erf(-10) = ${g}`);
  });
});

describe('cpu backend: normalisation and softmax', () => {
  test('rmsNorm and layerNorm of known vectors', async () => {
    const x = f32([1, 2, 3, 4, -1, 0, 1, 2], [2, 4]);
    const w = f32([1, 2, 1, 0.5]);
    const rms1 = Math.sqrt(7.5);
    const rms2 = Math.sqrt(1.5 + 1e-5);
    near(await cpu.download(cpu.rmsNorm(x, w, 0)) as Float32Array,
      [1 / rms1, 4 / rms1, 3 / rms1, 2 / rms1, -1 / Math.sqrt(1.5), 0, 1 / Math.sqrt(1.5), 1 / Math.sqrt(1.5)], 'rmsNorm eps 0');
    near(await cpu.download(cpu.rmsNorm(x, w, 1e-5)) as Float32Array, [1, 4, 3, 2].map((v) => v / Math.sqrt(7.5 + 1e-5)).concat([-1 / rms2, 0, 1 / rms2, 1 / rms2]), 'rmsNorm eps');
    // row 1: mean 2.5, biased variance 1.25
    const b = f32([0, 1, 0, -1]);
    const inv = 1 / Math.sqrt(1.25 + 1e-5);
    const ln = (await cpu.download(cpu.layerNorm(x, w, b, 1e-5))) as Float32Array;
    near(ln.subarray(0, 4), [-1.5 * inv, -0.5 * inv * 2 + 1, 0.5 * inv, 1.5 * inv * 0.5 - 1], 'layerNorm');
    near(ln.subarray(4), ln.subarray(0, 4), 'layerNorm is shift-invariant (row 2 = row 1 − 2)');
  });

  test('softmax of known vectors, stable for large logits, -Infinity masked', async () => {
    const expected = [0.09003057317038046, 0.24472847105479767, 0.6652409557748219];
    const s = await cpu.download(cpu.softmax(f32([1, 2, 3, 1001, 1002, 1003, -1e4, -1e4 + 1, -1e4 + 2], [3, 3]))) as Float32Array;
    near(s, [...expected, ...expected, ...expected], 'softmax');
    assert.deepEqual(await read(cpu.softmax(f32([-Infinity, 0, -Infinity]))), [0, 1, 0]);
    assert.deepEqual(await read(cpu.softmax(f32([5], [1, 1]))), [1]);
  });
});

describe('cpu backend: rope', () => {
  const angle = (pos: number, p: number, rotaryDim: number, theta: number): number => pos * theta ** (-(2 * p) / rotaryDim);

  test("'half' rotates unit vectors of pair (p, p + Dh/2) by pos · θ^(−2p/Dh)", async () => {
    const [dh, pos, theta] = [4, 3, 100];
    // rows: e0, e1, e2, e3 as T = 1, H = 4
    const eye = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const out = await cpu.download(cpu.rope(f32(eye, [1, 4, dh]), { pos0: pos, theta })) as Float32Array;
    const [a0, a1] = [angle(pos, 0, dh, theta), angle(pos, 1, dh, theta)];
    near(out, [
      Math.cos(a0), 0, Math.sin(a0), 0,
      0, Math.cos(a1), 0, Math.sin(a1),
      -Math.sin(a0), 0, Math.cos(a0), 0,
      0, -Math.sin(a1), 0, Math.cos(a1),
    ], 'half');
  });

  test("'interleaved' rotates pairs (2p, 2p + 1); rows advance the position; partial rotary passes the rest", async () => {
    const [dh, theta] = [6, 10000];
    // T = 2 rows at positions 5 and 6, H = 1, x = e0 + e2 + e4 + e5; rotaryDim 4 leaves dims 4, 5 alone
    const x = f32([1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1], [2, 1, dh]);
    const out = await cpu.download(cpu.rope(x, { pos0: 5, theta, rotaryDim: 4, style: 'interleaved' })) as Float32Array;
    const expected: number[] = [];
    for (const pos of [5, 6]) {
      const [a0, a1] = [angle(pos, 0, 4, theta), angle(pos, 1, 4, theta)];
      expected.push(Math.cos(a0), Math.sin(a0), Math.cos(a1), Math.sin(a1), 1, 1);
    }
    near(out, expected, 'interleaved partial');
  });

  test('scale divides positions; rotation keeps each pair’s norm', async () => {
    const xv = randomTensorData([3, 2, 8], 4);
    const a = await cpu.download(cpu.rope(cpu.upload(xv, [3, 2, 8]), { pos0: 10, theta: 500000, scale: 4 })) as Float32Array;
    // pos (10 + t) / 4 vs an explicit formula
    for (let t = 0; t < 3; t++)
      for (let h = 0; h < 2; h++)
        for (let p = 0; p < 4; p++) {
          const ang = ((10 + t) / 4) * 500000 ** (-(2 * p) / 8);
          const off = (t * 2 + h) * 8;
          const [x0, x1] = [xv[off + p]!, xv[off + p + 4]!];
          const at = `[${t}, ${h}, pair ${p}]`;
          assert.ok(Math.abs(a[off + p]! - (x0 * Math.cos(ang) - x1 * Math.sin(ang))) < 1e-6, `first of ${at}`);
          assert.ok(Math.abs(a[off + p + 4]! - (x1 * Math.cos(ang) + x0 * Math.sin(ang))) < 1e-6, `second of ${at}`);
          assert.ok(Math.abs(Math.hypot(a[off + p]!, a[off + p + 4]!) - Math.hypot(x0, x1)) < 1e-6, `norm of ${at}`);
        }
  });

  test('rejects odd or oversized rotaryDim and negative positions', () => {
    const x = f32(new Array(8).fill(0), [1, 1, 8]);
    assert.throws(() => cpu.rope(x, { pos0: 0, theta: 1e4, rotaryDim: 3 }), InvalidArgumentError);
    assert.throws(() => cpu.rope(x, { pos0: 0, theta: 1e4, rotaryDim: 10 }), InvalidArgumentError);
    assert.throws(() => cpu.rope(x, { pos0: -1, theta: 1e4 }), InvalidArgumentError);
    assert.throws(() => cpu.rope(f32([1, 2]), { pos0: 0, theta: 1e4 }), ShapeError);
  });
});

describe('cpu backend: kv cache and attention', () => {
  test('kvWrite places [T, Hkv, Dh] rows at cache [h, offset + t, :] and nowhere else', async () => {
    const cache = cpu.upload(new Float32Array(2 * 5 * 3).fill(-1), [2, 5, 3]);
    // x[t, h, d] = 100t + 10h + d
    const x = f32(Array.from({ length: 2 * 2 * 3 }, (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 3) % 2) + (i % 3)), [2, 2, 3]);
    cpu.kvWrite(cache, x, 2);
    const c = await read(cache);
    for (let h = 0; h < 2; h++)
      for (let s = 0; s < 5; s++)
        for (let d = 0; d < 3; d++) {
          const expected = s === 2 || s === 3 ? 100 * (s - 2) + 10 * h + d : -1;
          assert.equal(c[(h * 5 + s) * 3 + d], expected, `cache[${h}, ${s}, ${d}]`);
        }
    assert.throws(() => cpu.kvWrite(cache, x, 4), /kvWrite: writing 2 positions at offset 4 overruns cache \[2, 5, 3\]/);
    assert.throws(() => cpu.kvWrite(cache, f32(new Array(6).fill(0), [1, 3, 2]), 0), ShapeError);
  });

  /** softmax(scale · q·kᵀ) · v written out with plain loops for one query row and one kv head. */
  function reference(q: Float32Array, qOff: number, k: Float32Array, v: Float32Array, kvOff: number, visible: number, dh: number, scale: number): number[] {
    const w: number[] = [];
    for (let s = 0; s < visible; s++) {
      let dot = 0;
      for (let d = 0; d < dh; d++) dot += q[qOff + d]! * k[kvOff + s * dh + d]!;
      w.push(Math.exp(dot * scale));
    }
    const z = w.reduce((a, b) => a + b, 0);
    return Array.from({ length: dh }, (_, d) => w.reduce((acc, p, s) => acc + (p / z) * v[kvOff + s * dh + d]!, 0));
  }

  test('matches softmax(q·kᵀ/√Dh)·v per head with GQA, causal mask and past, ignoring cache rows past past + T', async () => {
    const [T, Hq, Hkv, S, Dh, past] = [3, 4, 2, 9, 16, 4];
    const qv = randomTensorData([T, Hq, Dh], 11);
    const kv = randomTensorData([Hkv, S, Dh], 12);
    const vv = randomTensorData([Hkv, S, Dh], 13);
    // rows ≥ past + T are not valid cache: poison them so reading them shows
    for (let h = 0; h < Hkv; h++) for (let s = past + T; s < S; s++) for (let d = 0; d < Dh; d++) { kv[(h * S + s) * Dh + d] = NaN; vv[(h * S + s) * Dh + d] = NaN; }
    const [q, k, v] = [cpu.upload(qv, [T, Hq, Dh]), cpu.upload(kv, [Hkv, S, Dh]), cpu.upload(vv, [Hkv, S, Dh])];
    for (const causal of [true, false]) {
      for (const scale of [undefined, 0.7]) {
        const out = await cpu.download(cpu.attention(q, k, v, { past, causal, ...(scale === undefined ? {} : { scale }) })) as Float32Array;
        const expected: number[] = [];
        for (let t = 0; t < T; t++)
          for (let h = 0; h < Hq; h++)
            expected.push(...reference(qv, (t * Hq + h) * Dh, kv, vv, Math.floor(h / 2) * S * Dh, causal ? past + t + 1 : past + T, Dh, scale ?? 1 / Math.sqrt(Dh)));
        near(out, expected, `attention causal=${causal} scale=${scale}`);
      }
    }
  });

  test('GQA: query heads 0,1 read kv head 0 and heads 2,3 read kv head 1', async () => {
    // v head 0 is all 1, head 1 all 2: every query head's output is its kv head's constant
    const k = cpu.upload(randomTensorData([2, 3, 4], 1), [2, 3, 4]);
    const v = f32([...new Array(12).fill(1), ...new Array(12).fill(2)], [2, 3, 4]);
    const q = cpu.upload(randomTensorData([1, 4, 4], 2), [1, 4, 4]);
    near(await cpu.download(cpu.attention(q, k, v, { past: 2 })) as Float32Array, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2], 'gqa');
  });

  test('causal prefill: query t sees keys 0…t only (scale 0 gives their plain average)', async () => {
    // v[s] = s: with scale 0 all visible keys weigh the same, so query t outputs mean(0…t) = t / 2
    const v = f32([0, 1, 2, 3], [1, 4, 1]);
    const k = f32([9, -9, 3, 1], [1, 4, 1]);
    const q = f32([1, 2, 3, 4], [4, 1, 1]);
    near(await cpu.download(cpu.attention(q, k, v, { past: 0, scale: 0 })) as Float32Array, [0, 0.5, 1, 1.5], 'causal');
    near(await cpu.download(cpu.attention(q, k, v, { past: 0, scale: 0, causal: false })) as Float32Array, [1.5, 1.5, 1.5, 1.5], 'non-causal');
    // a single visible key returns its value whatever the scores
    near(await cpu.download(cpu.attention(f32([5], [1, 1, 1]), k, v, { past: 0 })) as Float32Array, [0], 'one key');
  });

  test('rejects heads that do not divide and caches too short for past + T', () => {
    const q = f32(new Array(3 * 4).fill(0), [1, 3, 4]);
    const kv = f32(new Array(2 * 2 * 4).fill(0), [2, 2, 4]);
    assert.throws(() => cpu.attention(q, kv, kv, { past: 0 }), /attention: query heads 3 .* not a multiple of kv heads 2/);
    const q2 = f32(new Array(2 * 4).fill(0), [1, 2, 4]);
    assert.throws(() => cpu.attention(q2, kv, kv, { past: 2 }), ShapeError);
  });
});

describe('cpu backend: embedding, argmax, topk', () => {
  test('embedding gathers rows and throws InvalidArgumentError on out-of-range ids', async () => {
    const table = f32([0, 1, 10, 11, 20, 21], [3, 2]);
    const e = cpu.embedding(table, i32([2, 0, 2]));
    assert.deepEqual(e.shape, [3, 2]);
    assert.deepEqual(await read(e), [20, 21, 0, 1, 20, 21]);
    assert.throws(() => cpu.embedding(table, i32([0, 3])), /embedding: id 3 at position 1 is outside the table's 3 rows/);
    assert.throws(() => cpu.embedding(table, i32([-1])), InvalidArgumentError);
    assert.throws(() => cpu.embedding(table, f32([0])), DTypeError);
  });

  test('argmax: lowest index on ties, NaN never wins, per row', async () => {
    const x = f32([1, 3, 3, 2, NaN, -1, NaN, -5, -Infinity, -Infinity, -Infinity, -Infinity, NaN, NaN, NaN, NaN], [4, 4]);
    const a = cpu.argmax(x);
    assert.equal(a.dtype, 'i32');
    assert.deepEqual(a.shape, [4]);
    assert.deepEqual(await read(a), [1, 1, 0, 0]);
    const scalar = cpu.argmax(f32([0, 7, 7]));
    assert.deepEqual(scalar.shape, []);
    assert.deepEqual(await read(scalar), [1]);
  });

  test('topk: descending, lower index first on ties, NaN last; the insertion and sort paths agree', async () => {
    const t = cpu.topk(f32([1, 5, 3, 5, NaN, 2, 3, 0], [1, 8]), 5);
    assert.deepEqual(t.values.shape, [1, 5]);
    assert.deepEqual(await read(t.values), [5, 5, 3, 3, 2]);
    assert.deepEqual(await read(t.indices), [1, 3, 2, 6, 5]);
    const all = cpu.topk(f32([NaN, 1, -Infinity]), 3);
    assert.deepEqual(await read(all.indices), [1, 2, 0]);
    // k ≤ 64 uses bounded insertion, k > 64 a full sort: with ties in the data both must agree
    const v = 1000;
    const xv = Float32Array.from(randomTensorData([2, v], 5), (x) => Math.round(x * 20) / 20);
    const x = cpu.upload(xv, [2, v]);
    const small = cpu.topk(x, 64);
    const large = cpu.topk(x, 300);
    const [si, li] = [await read(small.indices), await read(large.indices)];
    for (let r = 0; r < 2; r++) assert.deepEqual(si.slice(r * 64, r * 64 + 64), li.slice(r * 300, r * 300 + 64));
    // and both equal a stable sort by value descending
    const row0 = Array.from({ length: v }, (_, i) => i).sort((a, b) => xv[b]! - xv[a]! || a - b);
    assert.deepEqual(li.slice(0, 300), row0.slice(0, 300));
    const d = distinctRows(1, 4097, 3);
    const top = cpu.topk(cpu.upload(d, [4097]), 3);
    const sorted = Array.from(d).sort((a, b) => b - a);
    assert.deepEqual(await read(top.values), sorted.slice(0, 3));
    assert.throws(() => cpu.topk(x, 0), InvalidArgumentError);
    assert.throws(() => cpu.topk(x, v + 1), /topk: k = 1001 must be an integer in \[1, 1000\]/);
  });
});

describe('cpu backend: validation', () => {
  test('shape errors name the op and the shapes', () => {
    assert.throws(() => cpu.matmul(f32(new Array(6).fill(0), [2, 3]), f32(new Array(8).fill(0), [4, 2])), /matmul: a \[2, 3\] · b \[4, 2\]: inner dims 3 ≠ 4/);
    assert.throws(() => cpu.matmul(f32(new Array(12).fill(0), [2, 2, 3]), f32(new Array(18).fill(0), [3, 3, 2])), /matmul: batch axes of a \[2, 2, 3\] and b \[3, 3, 2\] differ/);
    assert.throws(() => cpu.matvec(f32(new Array(6).fill(0), [2, 3]), f32([1, 2])), /matvec: w \[2, 3\] · x \[2\]/);
    assert.throws(() => cpu.rmsNorm(f32([1, 2, 3]), f32([1, 2]), 1e-5), /rmsNorm: weight \[2\] must be \[3\] for x \[3\]/);
    assert.throws(() => cpu.upload(new Float32Array(5), [2, 3]), ShapeError);
    assert.throws(() => cpu.upload(new Float32Array(6), [2, 3], 'i32'), DTypeError);
  });

  test('dtype errors, disposed tensors and foreign tensors', () => {
    assert.throws(() => cpu.softmax(i32([1, 2])), /softmax: expected f32, got i32 tensor \[2\]/);
    const t = f32([1, 2]);
    t.dispose();
    assert.throws(() => cpu.silu(t), DisposedError);
    const other = new CpuBackend();
    assert.throws(() => cpu.silu(other.upload(new Float32Array(2), [2])), InvalidArgumentError);
    const q = cpu.uploadQuantized({ bits: 8, groupSize: 32, symmetric: true }, [1, 32], new Uint32Array(8), new Uint32Array(1), null);
    assert.throws(() => cpu.qmatvec(q, f32(new Array(31).fill(0))), /qmatvec: w \[1, 32\] · x \[31\]/);
    assert.throws(() => cpu.qmatmul(f32(new Array(32).fill(0)), q), /qmatmul: x \[32\]/);
  });

  test('inputs are never modified', async () => {
    const xv = randomTensorData([3, 8], 9);
    const x = cpu.upload(xv, [3, 8]);
    const w = cpu.upload(randomTensorData([8], 10), [8]);
    cpu.softmax(x); cpu.rmsNorm(x, w, 1e-6); cpu.layerNorm(x, w, w, 1e-6); cpu.silu(x); cpu.gelu(x, 'erf'); cpu.topk(x, 3); cpu.argmax(x);
    cpu.rope(x.reshape([3, 1, 8]), { pos0: 1, theta: 1e4 }); cpu.add(x, w); cpu.mul(x, w); cpu.matmul(x, x, { transB: true });
    assert.deepEqual(Array.from(await cpu.download(x)), Array.from(xv));
  });
});

describe('parity comparison helpers (test/helpers/random.ts)', () => {
  test('findMismatch applies tol · (floor + |e|), reports the worst element and the count', () => {
    assert.equal(findMismatch([1.00005, 100.001], [1, 100], 1e-4), null);
    const m = findMismatch([1.0003, 2, 100.2, 0.001], [1, 2, 100, 0], 1e-4)!;
    assert.equal(m.index, 2); // 0.2 off where 1.01e-2 is allowed (×19.8) beats 1e-3 off where 1e-4 is (×10)
    assert.equal(m.count, 3);
    assert.equal(findMismatch([2e-5], [1e-5], 1e-5, 1), null);
    assert.notEqual(findMismatch([2e-5], [1e-5], 1e-5, 1e-3), null);
    assert.equal(findMismatch([Infinity, NaN, -0], [Infinity, NaN, 0], 0), null);
    assert.equal(findMismatch([NaN], [1], 1)!.index, 0);
    assert.equal(findMismatch([1], [NaN], 1)!.index, 0);
  });

  test('expectClose and expectEqualArrays name the multi-index of the failing element', () => {
    assert.throws(() => expectClose([0, 0, 0, 0, 0, 9], [0, 0, 0, 0, 0, 0], 1e-3, 'op', [2, 3]), /op: 1 of 6 elements off; worst at \[1, 2\] \(flat 5\): got 9, expected 0/);
    assert.throws(() => expectEqualArrays([1, 2, 3], [1, 2, 4], 'idx', [3]), /idx: first difference at \[2\] \(flat 2\): got 3, expected 4/);
    assert.throws(() => expectClose([1], [1, 2], 1, 'len'), /len: length 1, expected 2/);
  });

  test('distinctRows has no near-ties and randomQuantized decodes to weights of about unit size', () => {
    const d = distinctRows(3, 4097, 1);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(d.subarray(r * 4097, (r + 1) * 4097)).sort((a, b) => a - b);
      for (let i = 1; i < row.length; i++) assert.ok(row[i]! - row[i - 1]! > 0.009, `row ${r} gap at ${i}`);
    }
    for (const bits of QUANT_BITS) {
      for (const symmetric of [true, false]) {
        const format: QuantFormat = { bits, groupSize: 32, symmetric };
        const w = dequantize(format, 4, 64, randomQuantized(format, 4, 64, bits));
        const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assert.ok(max > 0.1 && max < 2.5, `int${bits} ${symmetric ? 'sym' : 'asym'} max |w| = ${max}`);
      }
    }
  });
});
