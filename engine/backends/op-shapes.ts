import { InvalidArgumentError, ShapeError } from '../errors.js';
import { shapesEqual, sizeOf, type Shape } from '../tensor/shape.js';
import type { AttentionOptions, QkvRopeOptions, RopeOptions } from './backend.js';

/**
 * The shape and argument rules of every Backend op, in one place: each function checks what the op's
 * contract (backend.ts) requires, throws the typed error every backend throws, and returns the dimensions the
 * kernels need. Backends check dtypes and ownership themselves, then call these.
 */

export const fmt = (shape: Shape): string => `[${shape.join(', ')}]`;

export interface MatmulDims {
  readonly batchShape: Shape;
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** b has no batch axes: one [K, N] (or [N, K]) matrix for every batch. */
  readonly shared: boolean;
}

/** a [..., M, K] · b [..., K, N] (b [..., N, K] with transB); b has a's batch axes or none. */
export function matmulDims(a: Shape, b: Shape, transB: boolean): MatmulDims {
  const op = 'matmul';
  if (a.length < 2 || b.length < 2) throw new ShapeError(op, `a ${fmt(a)} and b ${fmt(b)} must both have rank ≥ 2`);
  const batchShape = a.slice(0, -2);
  const m = a[a.length - 2]!;
  const k = a[a.length - 1]!;
  const shared = b.length === 2;
  if (!shared && !shapesEqual(b.slice(0, -2), batchShape)) {
    throw new ShapeError(op, `batch axes of a ${fmt(a)} and b ${fmt(b)} differ (b may have the same batch axes or none)`);
  }
  const bk = b[b.length - (transB ? 1 : 2)]!;
  const n = b[b.length - (transB ? 2 : 1)]!;
  if (bk !== k) throw new ShapeError(op, `a ${fmt(a)} · b ${fmt(b)}${transB ? 'ᵀ' : ''}: inner dims ${k} ≠ ${bk}`);
  return { batchShape, batch: sizeOf(batchShape), m, k, n, shared };
}

/** w [N, K] · x [K]. */
export function matvecDims(w: Shape, x: Shape): { n: number; k: number } {
  if (w.length !== 2 || x.length !== 1 || w[1] !== x[0]) throw new ShapeError('matvec', `w ${fmt(w)} · x ${fmt(x)}: expected w [N, K] and x [K]`);
  return { n: w[0]!, k: w[1]! };
}

/** Quantized w [N, K] · x [K]. */
export function qmatvecDims(w: readonly [number, number], x: Shape): { n: number; k: number } {
  const [n, k] = w;
  if (x.length !== 1 || x[0] !== k) throw new ShapeError('qmatvec', `w [${n}, ${k}] · x ${fmt(x)}: expected x [${k}]`);
  return { n, k };
}

/** x [M, K] · quantized w [N, K]ᵀ. */
export function qmatmulDims(x: Shape, w: readonly [number, number]): { m: number; n: number; k: number } {
  const [n, k] = w;
  if (x.length !== 2 || x[1] !== k) throw new ShapeError('qmatmul', `x ${fmt(x)} · w [${n}, ${k}]ᵀ: expected x [M, ${k}]`);
  return { m: x[0]!, n, k };
}

/** table [V, D], ids [T] (the ids' range is checked where their values are read). */
export function embeddingDims(table: Shape, ids: Shape): { v: number; d: number; t: number } {
  if (table.length !== 2 || ids.length !== 1) throw new ShapeError('embedding', `table ${fmt(table)}, ids ${fmt(ids)}: expected table [V, D] and ids [T]`);
  return { v: table[0]!, d: table[1]!, t: ids[0]! };
}

/** The last axis of x (rows = everything before it). */
export function lastAxis(op: string, x: Shape): { rows: number; d: number } {
  if (x.length < 1) throw new ShapeError(op, `x ${fmt(x)} needs at least one axis`);
  const d = x[x.length - 1]!;
  return { rows: d === 0 ? 0 : sizeOf(x) / d, d };
}

function checkEps(op: string, eps: number): void {
  if (!(eps >= 0)) throw new InvalidArgumentError(`${op}: eps ${eps} must be ≥ 0`);
}

/** x [..., D], weight [D], eps ≥ 0. */
export function rmsNormDims(x: Shape, weight: Shape, eps: number): { rows: number; d: number } {
  const r = lastAxis('rmsNorm', x);
  if (weight.length !== 1 || weight[0] !== r.d) throw new ShapeError('rmsNorm', `weight ${fmt(weight)} must be [${r.d}] for x ${fmt(x)}`);
  checkEps('rmsNorm', eps);
  return r;
}

/** x [..., D], weight and bias [D], eps ≥ 0. */
export function layerNormDims(x: Shape, weight: Shape, bias: Shape, eps: number): { rows: number; d: number } {
  const r = lastAxis('layerNorm', x);
  if (weight.length !== 1 || weight[0] !== r.d || bias.length !== 1 || bias[0] !== r.d) {
    throw new ShapeError('layerNorm', `weight ${fmt(weight)} and bias ${fmt(bias)} must be [${r.d}] for x ${fmt(x)}`);
  }
  checkEps('layerNorm', eps);
  return r;
}

export interface RopeDims {
  readonly t: number;
  readonly h: number;
  readonly dh: number;
  readonly rotaryDim: number;
  readonly interleaved: boolean;
}

/** x [T, H, Dh] and the rope options (frequencies themselves: ropeFrequencies in rope.ts). */
export function ropeDims(x: Shape, opts: RopeOptions): RopeDims {
  const op = 'rope';
  if (x.length !== 3) throw new ShapeError(op, `x ${fmt(x)} must be [T, H, Dh]`);
  const [t, h, dh] = x as [number, number, number];
  const rotaryDim = opts.rotaryDim ?? dh;
  const style = opts.style ?? 'half';
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(rotaryDim) || rotaryDim < 0 || rotaryDim % 2 !== 0 || rotaryDim > dh) {
    throw new InvalidArgumentError(`rope: rotaryDim ${rotaryDim} must be even and ≤ head dim ${dh}`);
  }
  if (!Number.isInteger(opts.pos0) || opts.pos0 < 0) throw new InvalidArgumentError(`rope: pos0 ${opts.pos0} must be an integer ≥ 0`);
  if (!(opts.theta > 0)) throw new InvalidArgumentError(`rope: theta ${opts.theta} must be > 0`);
  if (!(scale > 0)) throw new InvalidArgumentError(`rope: scale ${scale} must be > 0`);
  if (style !== 'half' && style !== 'interleaved') throw new InvalidArgumentError(`rope: style must be "half" or "interleaved", got ${String(style)}`);
  return { t, h, dh, rotaryDim, interleaved: style === 'interleaved' };
}

/** x [T, Hkv, Dh] into cache [Hkv, S, Dh] at offset … offset + T − 1. */
export function kvWriteDims(cache: Shape, x: Shape, offset: number): { hkv: number; s: number; dh: number; t: number } {
  const op = 'kvWrite';
  if (cache.length !== 3 || x.length !== 3 || cache[0] !== x[1] || cache[2] !== x[2]) {
    throw new ShapeError(op, `x ${fmt(x)} into cache ${fmt(cache)}: expected x [T, Hkv, Dh] and cache [Hkv, S, Dh]`);
  }
  const [hkv, s, dh] = cache as [number, number, number];
  const t = x[0]!;
  if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`kvWrite: offset ${offset} must be an integer ≥ 0`);
  if (offset + t > s) throw new ShapeError(op, `writing ${t} positions at offset ${offset} overruns cache ${fmt(cache)} of ${s} positions`);
  return { hkv, s, dh, t };
}

export interface AttentionDims {
  readonly t: number;
  readonly hq: number;
  readonly dh: number;
  readonly hkv: number;
  readonly s: number;
  readonly past: number;
  readonly scale: number;
  readonly causal: boolean;
}

/** q [T, Hq, Dh]; k, v [Hkv, S, Dh] with Hq % Hkv = 0 and past + T ≤ S. */
export function attentionDims(q: Shape, k: Shape, v: Shape, opts: AttentionOptions): AttentionDims {
  const op = 'attention';
  if (q.length !== 3 || k.length !== 3 || !shapesEqual(k, v) || q[2] !== k[2]) {
    throw new ShapeError(op, `q ${fmt(q)}, k ${fmt(k)}, v ${fmt(v)}: expected q [T, Hq, Dh] and k, v [Hkv, S, Dh]`);
  }
  const [t, hq, dh] = q as [number, number, number];
  const [hkv, s] = k as [number, number, number];
  if (hkv === 0 || hq % hkv !== 0) throw new ShapeError(op, `query heads ${hq} (q ${fmt(q)}) are not a multiple of kv heads ${hkv} (k ${fmt(k)})`);
  const past = opts.past;
  if (!Number.isInteger(past) || past < 0) throw new InvalidArgumentError(`attention: past ${past} must be an integer ≥ 0`);
  if (past + t > s) throw new ShapeError(op, `past ${past} + T ${t} positions exceed the cache's ${s} (k ${fmt(k)})`);
  return { t, hq, dh, hkv, s, past, scale: opts.scale ?? 1 / Math.sqrt(dh), causal: opts.causal ?? true };
}

/** x [..., V] with V ≥ 1. */
export function argmaxDims(x: Shape): { rows: number; v: number } {
  const { rows, d } = lastAxis('argmax', x);
  if (d === 0) throw new ShapeError('argmax', `x ${fmt(x)} has an empty last axis`);
  return { rows, v: d };
}

/** x [..., V] and 1 ≤ k ≤ V. */
export function topkDims(x: Shape, k: number): { rows: number; v: number } {
  const { rows, d } = lastAxis('topk', x);
  if (!Number.isInteger(k) || k < 1 || k > d) throw new InvalidArgumentError(`topk: k = ${k} must be an integer in [1, ${d}] for x ${fmt(x)}`);
  return { rows, v: d };
}

/** swiglu: x [T, 2I] → [T, I]. */
export function swigluDims(x: Shape): { t: number; i: number } {
  if (x.length !== 2 || x[1]! % 2 !== 0) throw new ShapeError('swiglu', `x ${fmt(x)} must be [T, 2I]`);
  return { t: x[0]!, i: x[1]! / 2 };
}

/** qkvRope: qkv [T, (Hq + 2·Hkv) · Dh] with caches [Hkv, S, Dh]. */
export function qkvRopeDims(qkv: Shape, kCache: Shape, vCache: Shape, opts: QkvRopeOptions): RopeDims & { hq: number; hkv: number; s: number } {
  const op = 'qkvRope';
  const { heads: hq, kvHeads: hkv } = opts;
  if (!Number.isInteger(hq) || !Number.isInteger(hkv) || hq <= 0 || hkv <= 0) throw new InvalidArgumentError(`qkvRope: heads ${hq} and kvHeads ${hkv} must be positive integers`);
  if (kCache.length !== 3 || !shapesEqual(kCache, vCache) || kCache[0] !== hkv) throw new ShapeError(op, `caches ${fmt(kCache)}, ${fmt(vCache)} must both be [${hkv}, S, Dh]`);
  const [, s, dh] = kCache as [number, number, number];
  if (qkv.length !== 2 || qkv[1] !== (hq + 2 * hkv) * dh) throw new ShapeError(op, `qkv ${fmt(qkv)} must be [T, ${(hq + 2 * hkv) * dh}] for ${hq} + 2·${hkv} heads of ${dh}`);
  const t = qkv[0]!;
  const rope = ropeDims([t, hq, dh], opts);
  if (opts.pos0 + t > s) throw new ShapeError(op, `writing ${t} positions at ${opts.pos0} overruns caches of ${s} positions`);
  // fields listed, not spread: `{ ...o, k }` takes microseconds in V8 (Node 20), and this runs once per layer per step
  return { t: rope.t, h: rope.h, dh: rope.dh, rotaryDim: rope.rotaryDim, interleaved: rope.interleaved, hq, hkv, s };
}

/** concatRows: parts of one dtype and equal trailing dims → the stacked shape. */
export function concatRowsShape(parts: readonly { shape: Shape; dtype: string }[]): Shape {
  if (parts.length === 0) throw new InvalidArgumentError('concatRows: needs at least one tensor');
  const [first] = parts;
  const tail = first!.shape.slice(1);
  let rows = 0;
  for (const p of parts) {
    if (p.shape.length === 0 || p.dtype !== first!.dtype || !shapesEqual(p.shape.slice(1), tail)) {
      throw new ShapeError('concatRows', `${parts.map((x) => `${x.dtype} ${fmt(x.shape)}`).join(', ')}: every part needs the same dtype and trailing dims`);
    }
    rows += p.shape[0]!;
  }
  return [rows, ...tail];
}
