import type { Backend } from '../backends/backend.js';
import { InvalidArgumentError } from '../errors.js';
import type { QuantizedTensor } from '../quant/quantized-tensor.js';
import { disposeQuantized } from '../quant/quantized-tensor.js';
import type { QuantFormat } from '../quant/layout.js';
import type { Tensor } from '../tensor/tensor.js';

/** A weight W [N, K] already in the packed layout of engine/quant/layout.ts (e.g. repacked GGUF Q4_0). */
export interface PackedWeightData {
  readonly shape: readonly [number, number];
  readonly format: QuantFormat;
  readonly data: Uint32Array;
  readonly scales: Uint32Array;
  readonly mins?: Uint32Array | null;
}

/**
 * Checkpoint tensors by Hugging Face name, whatever the file format: safetensors and GGUF readers both
 * implement it, so each architecture reads one set of names.
 */
export interface WeightStore {
  has(name: string): boolean;
  shape(name: string): readonly number[];
  /** The tensor as f32 (converted from f16/bf16 or dequantized). */
  f32(name: string): Float32Array;
  /** The tensor in the packed quantized layout when the checkpoint stores it so; null when it is float. */
  packed(name: string): PackedWeightData | null;
  /** An f32 copy already uploaded to the backend while the file streamed in; the caller then owns it. */
  take?(name: string): Tensor | null;
  /** The packed weight already uploaded while the file streamed in; the caller then owns it. */
  takeQuantized?(name: string): QuantizedTensor | null;
}

/** A model's weight by Hugging Face name; `rows` [first, count] when it is a slice of a stacked (fused) weight. */
export interface ModelWeight {
  readonly name: string;
  readonly weight: LinearWeight | Tensor;
  readonly rows?: readonly [number, number];
}

/** A projection weight on a backend: float [N, K] or packed quantized. */
export type LinearWeight = { kind: 'dense'; w: Tensor; n: number; k: number } | { kind: 'quantized'; q: QuantizedTensor; n: number; k: number };

export function requireWeight(store: WeightStore, name: string, shape?: readonly number[]): void {
  if (!store.has(name)) throw new InvalidArgumentError(`The checkpoint has no tensor "${name}"; is this the right architecture?`);
  if (shape) {
    const got = store.shape(name);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new InvalidArgumentError(`Tensor "${name}" has shape [${got.join(', ')}], the config implies [${shape.join(', ')}].`);
    }
  }
}

export function uploadF32(backend: Backend, store: WeightStore, name: string, shape?: readonly number[]): Tensor {
  requireWeight(store, name, shape);
  return takeUploaded(backend, store, name) ?? backend.upload(store.f32(name), store.shape(name), 'f32');
}

function takeUploaded(backend: Backend, store: WeightStore, name: string): Tensor | null {
  const t = store.take?.(name) ?? null;
  if (t && t.backend !== backend) {
    t.dispose();
    return null;
  }
  return t;
}

/** Uploads a [N, K] projection, keeping packed weights packed (the kernels dequantize on the fly). */
export function uploadLinear(backend: Backend, store: WeightStore, name: string, n: number, k: number): LinearWeight {
  requireWeight(store, name, [n, k]);
  const up = store.takeQuantized?.(name) ?? null;
  if (up && up.data.backend === backend) return { kind: 'quantized', q: up, n, k };
  if (up) disposeQuantized(up);
  const p = store.packed(name);
  if (p) return { kind: 'quantized', q: backend.uploadQuantized(p.format, p.shape, p.data, p.scales, p.mins ?? null), n, k };
  return { kind: 'dense', w: takeUploaded(backend, store, name) ?? backend.upload(store.f32(name), [n, k], 'f32'), n, k };
}

/**
 * An embedding table [V, D]: packed when the checkpoint or the plan packs it and the backend can gather packed
 * rows (qembedding), else f32 — from the checkpoint's own float values when it has them.
 */
export function uploadEmbedding(backend: Backend, store: WeightStore, name: string, v: number, d: number): LinearWeight {
  if (backend.qembedding) return uploadLinear(backend, store, name, v, d);
  requireWeight(store, name, [v, d]);
  const packed = store.takeQuantized?.(name) ?? null;
  if (packed) disposeQuantized(packed);
  return { kind: 'dense', w: takeUploaded(backend, store, name) ?? backend.upload(store.f32(name), [v, d], 'f32'), n: v, k: d };
}

/** x [T, K] → x · Wᵀ [T, N]; T = 1 takes the matrix-vector path (decode). */
export function linear(backend: Backend, x: Tensor, w: LinearWeight): Tensor {
  const t = x.shape[0]!;
  if (t === 1) {
    const v = x.reshape([w.k]);
    const y = w.kind === 'dense' ? backend.matvec(w.w, v) : backend.qmatvec(w.q, v);
    v.dispose();
    return reshapeOwned(y, [1, w.n]);
  }
  return w.kind === 'dense' ? backend.matmul(x, w.w, { transB: true }) : backend.qmatmul(x, w.q);
}

/**
 * Projections that read the same input (q/k/v, gate/up) stacked into one weight [ΣN, K], so one GEMV computes
 * them all; the parts are disposed. Null (parts untouched) when the backend cannot stack tensors or the parts
 * differ in kind or format, or a part's f16 scales do not fill whole words.
 */
export function fuseLinear(backend: Backend, parts: readonly LinearWeight[]): LinearWeight | null {
  if (!backend.concatRows || parts.length < 2) return null;
  const k = parts[0]!.k;
  const n = parts.reduce((a, p) => a + p.n, 0);
  if (parts.some((p) => p.k !== k)) return null;
  if (parts.every((p) => p.kind === 'dense')) {
    const w = backend.concatRows(parts.map((p) => (p as { w: Tensor }).w));
    for (const p of parts) disposeLinear(p);
    return { kind: 'dense', w, n, k };
  }
  if (!parts.every((p) => p.kind === 'quantized')) return null;
  const qs = parts.map((p) => (p as { q: QuantizedTensor }).q);
  const f = qs[0]!;
  if (qs.some((q) => q.bits !== f.bits || q.groupSize !== f.groupSize || q.symmetric !== f.symmetric || ((q.shape[0] * q.shape[1]) / q.groupSize) % 2 !== 0)) return null;
  const cat = (ts: Tensor[]) => backend.concatRows!(ts);
  const q: QuantizedTensor = {
    kind: 'quantized', bits: f.bits, groupSize: f.groupSize, symmetric: f.symmetric, shape: [n, k],
    data: cat(qs.map((x) => x.data)), scales: cat(qs.map((x) => x.scales)), mins: f.symmetric ? null : cat(qs.map((x) => x.mins!)),
  };
  for (const p of parts) disposeLinear(p);
  return { kind: 'quantized', q, n, k };
}

/** Biases of fused projections stacked like their weights; null when none has one, a zero-filled part where one lacks it. */
export function fuseBias(backend: Backend, biases: readonly (Tensor | null)[], sizes: readonly number[]): Tensor | null {
  if (biases.every((b) => b === null)) return null;
  const parts = biases.map((b, i) => b ?? backend.zeros([sizes[i]!], 'f32'));
  const out = backend.concatRows!(parts);
  for (const p of parts) p.dispose();
  return out;
}

export function disposeLinear(w: LinearWeight): void {
  if (w.kind === 'dense') w.w.dispose();
  else disposeQuantized(w.q);
}

export function linearBytes(w: LinearWeight): number {
  return w.kind === 'dense' ? w.w.byteLength : w.q.data.byteLength + w.q.scales.byteLength + (w.q.mins?.byteLength ?? 0);
}

/** `t` seen as `shape`, with `t` itself disposed: the caller owns only the result. */
export function reshapeOwned(t: Tensor, shape: readonly number[]): Tensor {
  const r = t.reshape(shape);
  t.dispose();
  return r;
}

/** Disposes every tensor given (intermediates of a forward pass). */
export function free(...ts: Tensor[]): void {
  for (const t of ts) t.dispose();
}

/** y + bias (broadcast over rows) when there is a bias; `y` is consumed. */
export function addBias(backend: Backend, y: Tensor, bias: Tensor | null): Tensor {
  if (!bias) return y;
  const r = backend.add(y, bias);
  y.dispose();
  return r;
}
