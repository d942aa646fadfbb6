/**
 * Deterministic test data and tolerant comparison, shared by node and browser backend tests. No test
 * framework in here: failures are thrown as plain Errors whose message says where and by how much.
 */
import { f16ToF32, f32ToF16 } from '../../engine/tensor/dtype.js';
import { f16Words, readCode, readHalf, symmetricZero, wordsPerRow, writeCode, writeHalf, type QuantFormat } from '../../engine/quant/layout.js';

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** f32 values uniform in [min, max) for a tensor of `shape`. */
export function randomTensorData(shape: readonly number[], seed: number, min = -1, max = 1): Float32Array {
  const next = prng(seed);
  const out = new Float32Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = min + (max - min) * next();
  return out;
}

/** Integers uniform in [lo, hi]. */
export function randomInts(count: number, seed: number, lo: number, hi: number): Int32Array {
  const next = prng(seed);
  return Int32Array.from({ length: count }, () => lo + Math.floor(next() * (hi - lo + 1)));
}

/**
 * rows × v values where every row is a shuffled ladder of distinct values `gap` apart, so that argmax
 * and top-k have exactly one right answer with no near-ties for any backend to round differently.
 */
export function distinctRows(rows: number, v: number, seed: number, gap = 0.01): Float32Array {
  const next = prng(seed);
  const out = new Float32Array(rows * v);
  const perm = new Int32Array(v);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < v; i++) perm[i] = i;
    for (let i = v - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const offset = (next() - 0.5) * 4;
    for (let i = 0; i < v; i++) out[r * v + i] = offset + (perm[i]! - v / 2) * gap;
  }
  return out;
}

export interface PackedWeight {
  data: Uint32Array;
  scales: Uint32Array;
  mins: Uint32Array | null;
}

/**
 * A valid packed weight [n, k] in `format` (engine/quant/layout.ts) with random codes and random f16
 * scales (and mins) sized so that dequantized weights fall roughly in [−1, 1].
 */
export function randomQuantized(format: QuantFormat, n: number, k: number, seed: number): PackedWeight {
  const next = prng(seed);
  const levels = 1 << format.bits;
  const data = new Uint32Array(n * wordsPerRow(k, format.bits));
  for (let row = 0; row < n; row++) {
    for (let j = 0; j < k; j++) writeCode(data, row, j, k, format.bits, Math.floor(next() * levels));
  }
  const groups = (n * k) / format.groupSize;
  const scales = new Uint32Array(f16Words(groups));
  const mins = format.symmetric ? null : new Uint32Array(f16Words(groups));
  for (let g = 0; g < groups; g++) {
    writeHalf(scales, g, f32ToF16((0.25 + 1.75 * next()) / levels));
    if (mins) writeHalf(mins, g, f32ToF16(-0.5 - 0.5 * next()));
  }
  return { data, scales, mins };
}

/** W [n, k] as f64 values, decoded element by element with layout.ts readCode/readHalf (independent of any kernel). */
export function dequantize(format: QuantFormat, n: number, k: number, packed: PackedWeight): Float64Array {
  const out = new Float64Array(n * k);
  const groupsPerRow = k / format.groupSize;
  for (let row = 0; row < n; row++) {
    for (let j = 0; j < k; j++) {
      const g = row * groupsPerRow + Math.floor(j / format.groupSize);
      const q = readCode(packed.data, row, j, k, format.bits);
      const scale = f16ToF32(readHalf(packed.scales, g));
      out[row * k + j] = format.symmetric ? (q - symmetricZero(format.bits)) * scale : q * scale + f16ToF32(readHalf(packed.mins!, g));
    }
  }
  return out;
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  error: number;
  allowed: number;
  count: number;
}

function same(a: number, e: number): boolean {
  return a === e || (a !== a && e !== e);
}

/**
 * The worst element of `actual` vs `expected` under |a − e| ≤ tol · (floor + |e|) (absolute near 0,
 * relative for large values; identical values, infinities and NaN-vs-NaN pass), or null if all pass.
 * `floor` is the magnitude below which errors count as absolute: 1 for most ops, ~1/D for probabilities.
 */
export function findMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, floor = 1): Mismatch | null {
  let worst: Mismatch | null = null;
  let count = 0;
  let worstRatio = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (same(a, e)) continue;
    const error = Math.abs(a - e);
    const allowed = tol * (floor + Math.abs(e));
    if (error <= allowed) continue;
    count++;
    const ratio = error !== error ? Infinity : error / allowed;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, actual: a, expected: e, error, allowed, count: 0 };
    }
  }
  if (worst) worst.count = count;
  return worst;
}

/** Row-major multi-index of flat index `i` in `shape`, e.g. "[2, 0, 15]". */
export function formatIndex(i: number, shape?: readonly number[]): string {
  if (!shape || shape.length === 0) return `[${i}]`;
  const idx: number[] = [];
  let rest = i;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    idx.unshift(rest % shape[axis]!);
    rest = Math.floor(rest / shape[axis]!);
  }
  return `[${idx.join(', ')}]`;
}

/** Throws unless actual ≈ expected elementwise (see findMismatch); the message names the worst element and the count. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string, shape?: readonly number[], floor = 1): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  const m = findMismatch(actual, expected, tol, floor);
  if (m === null) return;
  throw new Error(
    `${label}: ${m.count} of ${expected.length} elements off; worst at ${formatIndex(m.index, shape)} (flat ${m.index}): ` +
      `got ${m.actual}, expected ${m.expected}, |error| ${m.error.toExponential(3)} > allowed ${m.allowed.toExponential(3)} (tol ${tol} · (${floor} + |expected|))`,
  );
}

/** Throws unless the two arrays are identical element for element. */
export function expectEqualArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, shape?: readonly number[]): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    if (!same(actual[i]!, expected[i]!)) {
      throw new Error(`${label}: first difference at ${formatIndex(i, shape)} (flat ${i}): got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
