import { DisposedError, DTypeError, InvalidArgumentError, ShapeError, type DeviceLostError } from '../../errors.js';
import { dtypeOf, f16ToF32, typedArrayFor, BYTES_PER_ELEMENT, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { assertShape, broadcastShapes, broadcastStrides, shapesEqual, sizeOf, type Shape } from '../../tensor/shape.js';
import { Tensor, type StorageHandle } from '../../tensor/tensor.js';
import { f16Words, readCode, readHalf, symmetricZero, validateQuantShape, wordsPerRow, type QuantFormat } from '../../quant/layout.js';
import { uploadPacked, type QuantizedTensor } from '../../quant/quantized-tensor.js';
import type { AttentionOptions, Backend, GeluApproximation, MemoryInfo, QkvRopeOptions, RopeOptions, TopK } from '../backend.js';
import { ropeFrequencies } from '../rope.js';
import { argmaxDims, attentionDims, embeddingDims, fmt, kvWriteDims, lastAxis, layerNormDims, matmulDims, matvecDims, concatRowsShape, qkvRopeDims, qmatmulDims, qmatvecDims, rmsNormDims, ropeDims, swigluDims, topkDims } from '../op-shapes.js';
import * as k from './kernels.js';
import { geluErf, geluTanh, silu } from './special.js';

/** A cpu tensor's storage: its own typed array. */
interface CpuStorage extends StorageHandle {
  readonly data: AnyTypedArray;
}


/**
 * The plain-TypeScript reference backend: the oracle every other backend is tested against. Eager (each op
 * runs when called), f64 accumulation, f32 results; shapes and dtypes are validated before any work.
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  /** A cpu never loses its device. */
  readonly lost: Promise<DeviceLostError> = new Promise<DeviceLostError>(() => {});

  #live = new Set<CpuStorage>();
  #allocated = 0;
  #peak = 0;
  #created = 0;
  #disposed = false;

  // ---- memory ---------------------------------------------------------------------------------------

  upload(data: AnyTypedArray, shape: Shape, dtype: DType = dtypeOf(data)): Tensor {
    this.#alive();
    assertShape(shape, 'upload');
    if (dtypeOf(data) !== dtype) throw new DTypeError('upload', `${data.constructor.name} cannot hold dtype ${dtype}`);
    if (sizeOf(shape) !== data.length) throw new ShapeError('upload', `shape ${fmt(shape)} holds ${sizeOf(shape)} elements, data has ${data.length}`);
    return this.#alloc(shape, dtype, data.slice());
  }

  empty(shape: Shape, dtype: DType): Tensor {
    this.#alive();
    assertShape(shape, 'empty');
    return this.#alloc(shape, dtype);
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    this.#alive();
    assertShape(shape, 'zeros');
    return this.#alloc(shape, dtype);
  }

  async download(t: Tensor): Promise<AnyTypedArray> {
    this.#alive();
    return this.#data(this.#own('download', t)).slice();
  }

  uploadQuantized(format: QuantFormat, shape: readonly [number, number], data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null): QuantizedTensor {
    this.#alive();
    return uploadPacked(this, format, shape, data, scales, mins);
  }


  memory(): MemoryInfo {
    this.#alive();
    // No pool: every byte reserved is a byte of a live tensor.
    return { allocatedBytes: this.#allocated, peakBytes: this.#peak, reservedBytes: this.#allocated, buffersCreated: this.#created, pooledBuffers: 0 };
  }

  resetPeak(): void {
    this.#alive();
    this.#peak = this.#allocated;
  }

  release(storage: StorageHandle): void {
    // After dispose() everything is already gone; disposing tensors then stays harmless.
    if (!this.#live.delete(storage as CpuStorage)) return;
    this.#allocated -= storage.byteLength;
  }

  // ---- execution ------------------------------------------------------------------------------------

  flush(): void {
    this.#alive();
  }

  async sync(): Promise<void> {
    this.#alive();
  }

  dispose(): void {
    this.#disposed = true;
    this.#live.clear();
    this.#allocated = 0;
  }

  // ---- ops ------------------------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor, opts: { transB?: boolean } = {}): Tensor {
    const op = 'matmul';
    const transB = opts.transB ?? false;
    const av = this.#f32(op, a);
    const bv = this.#f32(op, b);
    const { batchShape, batch, m, k: kk, n, shared } = matmulDims(a.shape, b.shape, transB);
    const out = this.#alloc([...batchShape, m, n], 'f32');
    // a [batch, M, K] · b [batch | shared, K, N] (or [.., N, K] with transB) → [batch, M, N]
    k.matmul(av, bv, this.#data(out) as Float32Array, batch, m, kk, n, shared ? 0 : kk * n, transB);
    return out;
  }

  matvec(w: Tensor, x: Tensor): Tensor {
    const op = 'matvec';
    const wv = this.#f32(op, w);
    const xv = this.#f32(op, x);
    const { n, k: kk } = matvecDims(w.shape, x.shape);
    const out = this.#alloc([n], 'f32');
    k.matvec(wv, xv, this.#data(out) as Float32Array, n, kk);
    return out;
  }

  qmatvec(w: QuantizedTensor, x: Tensor): Tensor {
    const op = 'qmatvec';
    const xv = this.#f32(op, x);
    const { n, k: kk } = qmatvecDims(w.shape, x.shape);
    const q = this.#quant(op, w);
    const out = this.#alloc([n], 'f32');
    k.qmatmul(w, q.data, q.scales, q.mins, xv, this.#data(out) as Float32Array, 1, n, kk);
    return out;
  }

  qmatmul(x: Tensor, w: QuantizedTensor): Tensor {
    const op = 'qmatmul';
    const xv = this.#f32(op, x);
    const { m, n, k: kk } = qmatmulDims(x.shape, w.shape);
    const q = this.#quant(op, w);
    const out = this.#alloc([m, n], 'f32');
    k.qmatmul(w, q.data, q.scales, q.mins, xv, this.#data(out) as Float32Array, m, n, kk);
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#binary('add', a, b, (x, y) => x + y);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.#binary('mul', a, b, (x, y) => x * y);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const op = 'embedding';
    const tv = this.#f32(op, table);
    const iv = this.#typed(op, ids, 'i32') as Int32Array;
    const { v, d } = embeddingDims(table.shape, ids.shape);
    for (let t = 0; t < iv.length; t++) {
      const id = iv[t]!;
      if (id < 0 || id >= v) throw new InvalidArgumentError(`embedding: id ${id} at position ${t} is outside the table's ${v} rows`);
    }
    const out = this.#alloc([iv.length, d], 'f32');
    k.embedding(tv, iv, this.#data(out) as Float32Array, d);
    return out;
  }

  qembedding(table: QuantizedTensor, ids: Tensor): Tensor {
    const op = 'qembedding';
    const iv = this.#typed(op, ids, 'i32') as Int32Array;
    const { v, d } = embeddingDims(table.shape, ids.shape);
    const data = this.#typed(op, table.data, 'u32') as Uint32Array;
    const scales = this.#typed(op, table.scales, 'u32') as Uint32Array;
    const mins = table.symmetric ? null : (this.#typed(op, table.mins!, 'u32') as Uint32Array);
    const zero = symmetricZero(table.bits);
    const out = this.#alloc([iv.length, d], 'f32');
    const o = this.#data(out) as Float32Array;
    for (let t = 0; t < iv.length; t++) {
      const id = iv[t]!;
      if (id < 0 || id >= v) throw new InvalidArgumentError(`qembedding: id ${id} at position ${t} is outside the table's ${v} rows`);
      for (let j = 0; j < d; j++) {
        const g = Math.floor((id * d + j) / table.groupSize);
        const s = f16ToF32(readHalf(scales, g));
        const code = readCode(data, id, j, d, table.bits);
        o[t * d + j] = mins ? code * s + f16ToF32(readHalf(mins, g)) : (code - zero) * s;
      }
    }
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const op = 'rmsNorm';
    const xv = this.#f32(op, x);
    const wv = this.#f32(op, weight);
    const { rows, d } = rmsNormDims(x.shape, weight.shape, eps);
    const out = this.#alloc(x.shape, 'f32');
    k.rmsNorm(xv, wv, this.#data(out) as Float32Array, rows, d, eps);
    return out;
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const op = 'layerNorm';
    const xv = this.#f32(op, x);
    const wv = this.#f32(op, weight);
    const bv = this.#f32(op, bias);
    const { rows, d } = layerNormDims(x.shape, weight.shape, bias.shape, eps);
    const out = this.#alloc(x.shape, 'f32');
    k.layerNorm(xv, wv, bv, this.#data(out) as Float32Array, rows, d, eps);
    return out;
  }

  softmax(x: Tensor): Tensor {
    const op = 'softmax';
    const xv = this.#f32(op, x);
    const { rows, d } = lastAxis(op, x.shape);
    const out = this.#alloc(x.shape, 'f32');
    k.softmax(xv, this.#data(out) as Float32Array, rows, d);
    return out;
  }

  silu(x: Tensor): Tensor {
    const xv = this.#f32('silu', x);
    const out = this.#alloc(x.shape, 'f32');
    k.map(xv, this.#data(out) as Float32Array, silu);
    return out;
  }

  gelu(x: Tensor, approximation: GeluApproximation = 'tanh'): Tensor {
    const xv = this.#f32('gelu', x);
    if (approximation !== 'tanh' && approximation !== 'erf') throw new InvalidArgumentError(`gelu: approximation must be "tanh" or "erf", got ${String(approximation)}`);
    const out = this.#alloc(x.shape, 'f32');
    k.map(xv, this.#data(out) as Float32Array, approximation === 'erf' ? geluErf : geluTanh);
    return out;
  }

  rope(x: Tensor, opts: RopeOptions): Tensor {
    const op = 'rope';
    const xv = this.#f32(op, x);
    const { t, h, dh, rotaryDim, interleaved } = ropeDims(x.shape, opts);
    const out = this.#alloc(x.shape, 'f32');
    k.rope(xv, this.#data(out) as Float32Array, t, h, dh, opts.pos0, ropeFrequencies(opts, rotaryDim), rotaryDim, interleaved);
    return out;
  }

  kvWrite(cache: Tensor, x: Tensor, offset: number): void {
    const op = 'kvWrite';
    const cv = this.#f32(op, cache);
    const xv = this.#f32(op, x);
    const { hkv, s, dh, t } = kvWriteDims(cache.shape, x.shape, offset);
    k.kvWrite(cv, xv, t, hkv, s, dh, offset);
  }

  concatRows(parts: readonly Tensor[]): Tensor {
    const out = this.#alloc(concatRowsShape(parts), parts[0]!.dtype);
    const o = this.#data(out);
    let at = 0;
    for (const p of parts) {
      const v = this.#data(p);
      o.set(v.subarray(0, p.size) as never, at);
      at += p.size;
    }
    return out;
  }

  addRmsNorm(a: Tensor, b: Tensor, weight: Tensor, eps: number): [Tensor, Tensor] {
    if (!shapesEqual(a.shape, b.shape)) throw new ShapeError('addRmsNorm', `a ${fmt(a.shape)} and b ${fmt(b.shape)} must have one shape`);
    const sum = this.add(a, b);
    try {
      return [sum, this.rmsNorm(sum, weight, eps)];
    } catch (e) {
      sum.dispose();
      throw e;
    }
  }

  swiglu(x: Tensor): Tensor {
    const xv = this.#f32('swiglu', x);
    const { t, i } = swigluDims(x.shape);
    const out = this.#alloc([t, i], 'f32');
    const o = this.#data(out) as Float32Array;
    for (let r = 0; r < t; r++) for (let j = 0; j < i; j++) o[r * i + j] = silu(xv[r * 2 * i + j]!) * xv[r * 2 * i + i + j]!;
    return out;
  }

  qkvRope(qkv: Tensor, kCache: Tensor, vCache: Tensor, opts: QkvRopeOptions): Tensor {
    const op = 'qkvRope';
    const xv = this.#f32(op, qkv);
    const kc = this.#f32(op, kCache);
    const vc = this.#f32(op, vCache);
    const { t, hq, hkv, dh, rotaryDim, interleaved, s } = qkvRopeDims(qkv.shape, kCache.shape, vCache.shape, opts);
    // split rows into q, k, v, then the same kernels as rope and kvWrite
    const width = (hq + 2 * hkv) * dh;
    const q0 = new Float32Array(t * hq * dh);
    const k0 = new Float32Array(t * hkv * dh);
    const v0 = new Float32Array(t * hkv * dh);
    for (let r = 0; r < t; r++) {
      const row = xv.subarray(r * width, (r + 1) * width);
      q0.set(row.subarray(0, hq * dh), r * hq * dh);
      k0.set(row.subarray(hq * dh, (hq + hkv) * dh), r * hkv * dh);
      v0.set(row.subarray((hq + hkv) * dh), r * hkv * dh);
    }
    const freqs = ropeFrequencies(opts, rotaryDim);
    const out = this.#alloc([t, hq, dh], 'f32');
    k.rope(q0, this.#data(out) as Float32Array, t, hq, dh, opts.pos0, freqs, rotaryDim, interleaved);
    const kr = new Float32Array(k0.length);
    k.rope(k0, kr, t, hkv, dh, opts.pos0, freqs, rotaryDim, interleaved);
    k.kvWrite(kc, kr, t, hkv, s, dh, opts.pos0);
    k.kvWrite(vc, v0, t, hkv, s, dh, opts.pos0);
    return out;
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor {
    const op = 'attention';
    const qv = this.#f32(op, q);
    const kv = this.#f32(op, kCache);
    const vv = this.#f32(op, vCache);
    const { t, hq, dh, hkv, s, past, scale, causal } = attentionDims(q.shape, kCache.shape, vCache.shape, opts);
    const out = this.#alloc(q.shape, 'f32');
    k.attention(qv, kv, vv, this.#data(out) as Float32Array, t, hq, hkv, s, dh, past, scale, causal);
    return out;
  }

  argmax(x: Tensor): Tensor {
    const op = 'argmax';
    const xv = this.#f32(op, x);
    const { rows, v } = argmaxDims(x.shape);
    const out = this.#alloc(x.shape.slice(0, -1), 'i32');
    k.argmax(xv, this.#data(out) as Int32Array, rows, v);
    return out;
  }

  topk(x: Tensor, kk: number): TopK {
    const op = 'topk';
    const xv = this.#f32(op, x);
    const { rows, v } = topkDims(x.shape, kk);
    const outShape = [...x.shape.slice(0, -1), kk];
    const values = this.#alloc(outShape, 'f32');
    const indices = this.#alloc(outShape, 'i32');
    k.topk(xv, this.#data(values) as Float32Array, this.#data(indices) as Int32Array, rows, v, kk);
    return { values, indices };
  }

  // ---- internals ------------------------------------------------------------------------------------

  #alive(): void {
    if (this.#disposed) throw new DisposedError('CpuBackend');
  }

  /** A new tensor of this backend owning `data` (zero-filled by default). */
  #alloc(shape: Shape, dtype: DType, data: AnyTypedArray = typedArrayFor(dtype, sizeOf(shape))): Tensor {
    const storage: CpuStorage = { data, byteLength: data.length * BYTES_PER_ELEMENT[dtype] };
    this.#live.add(storage);
    this.#allocated += storage.byteLength;
    this.#peak = Math.max(this.#peak, this.#allocated);
    this.#created++;
    return new Tensor(this, storage, shape, dtype);
  }

  /** Throws unless `t` is a live tensor of this backend; returns it. */
  #own(op: string, t: Tensor): Tensor {
    if (t.backend !== this) throw new InvalidArgumentError(`${op}: tensor ${fmt(t.shape)} belongs to backend "${t.backend.name}", not this cpu backend`);
    void t.storage; // throws DisposedError for a disposed tensor
    return t;
  }

  #data(t: Tensor): AnyTypedArray {
    return (t.storage as CpuStorage).data;
  }

  #typed(op: string, t: Tensor, dtype: DType): AnyTypedArray {
    this.#alive();
    this.#own(op, t);
    if (t.dtype !== dtype) throw new DTypeError(op, `expected ${dtype}, got ${t.dtype} tensor ${fmt(t.shape)}`);
    return this.#data(t);
  }

  #f32(op: string, t: Tensor): Float32Array {
    return this.#typed(op, t, 'f32') as Float32Array;
  }

  #quant(op: string, w: QuantizedTensor): { data: Uint32Array; scales: Uint32Array; mins: Uint32Array | null } {
    const [n, kk] = w.shape;
    const problem = validateQuantShape(n, kk, w);
    if (problem !== null) throw new InvalidArgumentError(`${op}: ${problem}`);
    const data = this.#typed(op, w.data, 'u32') as Uint32Array;
    const scales = this.#typed(op, w.scales, 'u32') as Uint32Array;
    const mins = w.symmetric ? null : (this.#typed(op, w.mins ?? this.#missingMins(op), 'u32') as Uint32Array);
    const halfWords = f16Words((n * kk) / w.groupSize);
    if (data.length !== n * wordsPerRow(kk, w.bits) || scales.length !== halfWords || (mins !== null && mins.length !== halfWords)) {
      throw new ShapeError(op, `packed buffers (data ${data.length}, scales ${scales.length}${mins ? `, mins ${mins.length}` : ''} words) do not match [${n}, ${kk}] at ${w.bits} bits, group ${w.groupSize}`);
    }
    return { data, scales, mins };
  }

  #missingMins(op: string): never {
    throw new InvalidArgumentError(`${op}: an asymmetric quantized weight has no mins`);
  }

  #binary(op: string, a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
    const av = this.#f32(op, a);
    const bv = this.#f32(op, b);
    const outShape = broadcastShapes(a.shape, b.shape, op);
    const out = this.#alloc(outShape, 'f32');
    k.broadcastBinary(av, bv, this.#data(out) as Float32Array, outShape, broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape), f);
    return out;
  }
}
