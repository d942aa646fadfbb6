import type { MLGraphBuilder, MLOperand, MLOperandDataType } from './webnn-types.js';

/**
 * The MLGraph of each Backend op, one builder function per op. Every graph takes and returns flat (rank-1)
 * tensors, so that one MLTensor serves every reshaped view of a storage, and reshapes inside. The caller
 * caches the compiled graph under a key holding every argument here, so equal calls never build twice.
 */

export type Outputs = Record<string, MLOperand>;

const LOWEST_F32 = -3.4028234663852886e38;

/** Where a fused graph takes an op's input from (an earlier op's flat result or a graph input); null: a new input. */
export type InputResolver = (name: string, dataType: MLOperandDataType, size: number) => MLOperand;
let resolver: InputResolver | null = null;

/** Builds with `inputs` deciding every input of the op graphs `build` composes (one graph per forward step). */
export function withInputs<T>(inputs: InputResolver, build: () => T): T {
  resolver = inputs;
  try {
    return build();
  } finally {
    resolver = null;
  }
}

export function flatIn(b: MLGraphBuilder, name: string, dataType: MLOperandDataType, shape: readonly number[]): MLOperand {
  const size = shape.reduce((a, d) => a * d, 1);
  return b.reshape(resolver ? resolver(name, dataType, size) : b.input(name, { dataType, shape: [size] }), shape);
}

function flatOut(b: MLGraphBuilder, x: MLOperand): MLOperand {
  return b.reshape(x, [x.shape.reduce((a, d) => a * d, 1)]);
}

function scalar(b: MLGraphBuilder, value: number): MLOperand {
  return b.constant({ dataType: 'float32', shape: [] }, Float32Array.of(value));
}

/** a [batch, M, K] · b ([batch | 1], K, N) or its transpose. */
export function matmulGraph(b: MLGraphBuilder, batch: number, m: number, k: number, n: number, shared: boolean, transB: boolean): Outputs {
  const a = flatIn(b, 'a', 'float32', [batch, m, k]);
  let w = flatIn(b, 'b', 'float32', transB ? [shared ? 1 : batch, n, k] : [shared ? 1 : batch, k, n]);
  if (transB) w = b.transpose(w, { permutation: [0, 2, 1] });
  return { out: flatOut(b, b.matmul(a, w)) };
}

/** w [N, K] · x [K]. */
export function matvecGraph(b: MLGraphBuilder, n: number, k: number): Outputs {
  const w = flatIn(b, 'w', 'float32', [n, k]);
  const x = flatIn(b, 'x', 'float32', [k, 1]);
  return { out: flatOut(b, b.matmul(w, x)) };
}

/**
 * Int8 weight w [N, K] (codes u8, scale f32 [N, K / g], min f32 [N, K / g] when asymmetric) dequantized by
 * dequantizeLinear with block-wise scales, then x [M, K] · wᵀ (M = 0: x [K] · w as a matvec).
 */
export function q8Graph(b: MLGraphBuilder, m: number, n: number, k: number, group: number, symmetric: boolean): Outputs {
  const groups = k / group;
  const codes = flatIn(b, 'codes', 'uint8', [n, k]);
  const scale = flatIn(b, 'scale', 'float32', [n, groups]);
  const zero = b.constant({ dataType: 'uint8', shape: [n, groups] }, new Uint8Array(n * groups).fill(symmetric ? 128 : 0));
  let w = b.dequantizeLinear(codes, scale, zero);
  if (!symmetric) {
    const min = flatIn(b, 'min', 'float32', [n, groups, 1]);
    w = b.reshape(b.add(b.reshape(w, [n, groups, group]), min), [n, k]);
  }
  if (m === 0) return { out: flatOut(b, b.matmul(w, flatIn(b, 'x', 'float32', [k, 1]))) };
  return { out: flatOut(b, b.matmul(flatIn(b, 'x', 'float32', [m, k]), b.transpose(w, { permutation: [1, 0] }))) };
}

export function binaryGraph(b: MLGraphBuilder, op: 'add' | 'mul', aShape: readonly number[], bShape: readonly number[]): Outputs {
  return { out: flatOut(b, b[op](flatIn(b, 'a', 'float32', aShape), flatIn(b, 'b', 'float32', bShape))) };
}

/** table [V, D], ids [T] → [T, D]. */
export function embeddingGraph(b: MLGraphBuilder, v: number, d: number, t: number): Outputs {
  return { out: flatOut(b, b.gather(flatIn(b, 'table', 'float32', [v, d]), flatIn(b, 'ids', 'int32', [t]), { axis: 0 })) };
}

/** x [rows, D] / sqrt(mean(x²) + eps) · w [D], composed (WebNN has no RMS norm operator). */
export function rmsNormGraph(b: MLGraphBuilder, rows: number, d: number, eps: number): Outputs {
  const x = flatIn(b, 'x', 'float32', [rows, d]);
  const w = flatIn(b, 'w', 'float32', [d]);
  const ms = b.reduceMean(b.mul(x, x), { axes: [1], keepDimensions: true });
  return { out: flatOut(b, b.mul(b.div(x, b.sqrt(b.add(ms, scalar(b, eps)))), w)) };
}

/** (x − mean) / sqrt(var + eps) · w + bias over the last axis: layerNormalization, or composed (two-pass). */
export function layerNormGraph(b: MLGraphBuilder, rows: number, d: number, eps: number, native: boolean): Outputs {
  const x = flatIn(b, 'x', 'float32', [rows, d]);
  const w = flatIn(b, 'w', 'float32', [d]);
  const bias = flatIn(b, 'bias', 'float32', [d]);
  if (native) return { out: flatOut(b, b.layerNormalization(x, { scale: w, bias, axes: [1], epsilon: eps })) };
  const mean = b.reduceMean(x, { axes: [1], keepDimensions: true });
  const xc = b.sub(x, mean);
  const variance = b.reduceMean(b.mul(xc, xc), { axes: [1], keepDimensions: true });
  return { out: flatOut(b, b.add(b.mul(b.div(xc, b.sqrt(b.add(variance, scalar(b, eps)))), w), bias)) };
}

export function softmaxGraph(b: MLGraphBuilder, rows: number, d: number): Outputs {
  return { out: flatOut(b, b.softmax(flatIn(b, 'x', 'float32', [rows, d]), 1)) };
}

export function siluGraph(b: MLGraphBuilder, size: number): Outputs {
  const x = flatIn(b, 'x', 'float32', [size]);
  return { out: b.mul(x, b.sigmoid(x)) };
}

/** tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); erf: the native gelu or 0.5·x·(1 + erf(x/√2)). */
export function geluGraph(b: MLGraphBuilder, size: number, approximation: 'tanh' | 'erf', native: boolean): Outputs {
  const x = flatIn(b, 'x', 'float32', [size]);
  if (approximation === 'erf' && native) return { out: b.reshape(b.gelu(x), [size]) };
  const half = b.mul(x, scalar(b, 0.5));
  if (approximation === 'erf') return { out: b.mul(half, b.add(b.erf(b.mul(x, scalar(b, Math.SQRT1_2))), scalar(b, 1))) };
  const cube = b.mul(b.mul(x, x), x);
  const inner = b.mul(b.add(x, b.mul(cube, scalar(b, 0.044715))), scalar(b, Math.sqrt(2 / Math.PI)));
  return { out: b.mul(half, b.add(b.tanh(inner), scalar(b, 1))) };
}

/**
 * x [T, H, Dh] rotated by cos/sin [T, 1, rd/2] (inputs: the positions change every step, the graph does not).
 * 'half' pairs (i, i + rd/2); 'interleaved' pairs (2i, 2i + 1); dims past rd pass through.
 */
export function ropeGraph(b: MLGraphBuilder, t: number, h: number, dh: number, rd: number, interleaved: boolean): Outputs {
  const x = flatIn(b, 'x', 'float32', [t, h, dh]);
  if (rd === 0) return { out: flatOut(b, x) };
  const p = rd / 2;
  const rot = (x0: MLOperand, x1: MLOperand, cos: MLOperand, sin: MLOperand): [MLOperand, MLOperand] => [
    b.sub(b.mul(x0, cos), b.mul(x1, sin)),
    b.add(b.mul(x1, cos), b.mul(x0, sin)),
  ];
  let rotated: MLOperand;
  if (interleaved) {
    const cos = flatIn(b, 'cos', 'float32', [t, 1, p, 1]);
    const sin = flatIn(b, 'sin', 'float32', [t, 1, p, 1]);
    const pairs = b.reshape(rd === dh ? x : b.slice(x, [0, 0, 0], [t, h, rd]), [t, h, p, 2]);
    const [even, odd] = rot(b.slice(pairs, [0, 0, 0, 0], [t, h, p, 1]), b.slice(pairs, [0, 0, 0, 1], [t, h, p, 1]), cos, sin);
    rotated = b.reshape(b.concat([even, odd], 3), [t, h, rd]);
  } else {
    const cos = flatIn(b, 'cos', 'float32', [t, 1, p]);
    const sin = flatIn(b, 'sin', 'float32', [t, 1, p]);
    const [lo, hi] = rot(b.slice(x, [0, 0, 0], [t, h, p]), b.slice(x, [0, 0, p], [t, h, p]), cos, sin);
    rotated = b.concat([lo, hi], 2);
  }
  const out = rd === dh ? rotated : b.concat([rotated, b.slice(x, [0, 0, rd], [t, h, dh - rd])], 2);
  return { out: flatOut(b, out) };
}

/** cache [Hkv, S, Dh] with x [T, Hkv, Dh] scattered at indices [Hkv, T, 2] = (head, position): a new cache. */
export function kvWriteGraph(b: MLGraphBuilder, hkv: number, s: number, dh: number, t: number): Outputs {
  const cache = flatIn(b, 'cache', 'float32', [hkv, s, dh]);
  const updates = b.transpose(flatIn(b, 'x', 'float32', [t, hkv, dh]), { permutation: [1, 0, 2] });
  return { out: flatOut(b, b.scatterND(cache, flatIn(b, 'indices', 'int32', [hkv, t, 2]), updates)) };
}

/**
 * softmax(q·kᵀ·scale, masked) · v with GQA. q [T, Hq, Dh]; k, v [Hkv, S, Dh]; mask u8 [T, S] (1 = visible:
 * causal and valid positions, an input so that one graph serves every step of a decode loop).
 */
export function attentionGraph(b: MLGraphBuilder, t: number, hq: number, hkv: number, s: number, dh: number, scale: number): Outputs {
  const g = hq / hkv;
  // [T, Hq, Dh] → [Hq, T, Dh] → [Hkv, G·T, Dh]: query heads of one kv head side by side
  const q = b.reshape(b.transpose(flatIn(b, 'q', 'float32', [t, hq, dh]), { permutation: [1, 0, 2] }), [hkv, g * t, dh]);
  const kT = b.transpose(flatIn(b, 'k', 'float32', [hkv, s, dh]), { permutation: [0, 2, 1] });
  const v = flatIn(b, 'v', 'float32', [hkv, s, dh]);
  const scores = b.reshape(b.mul(b.matmul(q, kT), scalar(b, scale)), [hkv, g, t, s]);
  const masked = b.where(flatIn(b, 'mask', 'uint8', [t, s]), scores, scalar(b, LOWEST_F32));
  const probs = b.reshape(b.softmax(masked, 3), [hkv, g * t, s]);
  const o = b.transpose(b.reshape(b.matmul(probs, v), [hq, t, dh]), { permutation: [1, 0, 2] });
  return { out: flatOut(b, o) };
}

/** x [rows, V] → i32 [rows]; NaN is replaced by −∞ first (argMax leaves NaN to the implementation). */
export function argmaxGraph(b: MLGraphBuilder, rows: number, v: number): Outputs {
  const x = flatIn(b, 'x', 'float32', [rows, v]);
  const clean = b.where(b.equal(x, x), x, scalar(b, -Infinity));
  return { out: b.reshape(b.argMax(clean, 1, { keepDimensions: false, outputDataType: 'int32' }), [rows]) };
}
