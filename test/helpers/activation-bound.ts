import type { QuantFormat } from '../../engine/quant/layout.js';
import { dequantize, type PackedWeight } from './random.js';

/**
 * Per-row bound on |y − y_f32| for a quantized GEMV whose activations are int8-quantized per block of 32
 * (webgpu's `qmatvecActivations`): every x is represented within e = s / 2 (one plane) or s / 508 (two planes),
 * s = max|x| of its block / 127, so row n is off by at most Σ_j |W[n, j]| · e(j). The bound gets 2 % for f32
 * rounding of the scales and 1e-6 · (1 + |y|) for the sums.
 */
export function activationQuantBound(format: QuantFormat, n: number, k: number, packed: PackedWeight, x: Float32Array, planes: 1 | 2, expected: ArrayLike<number>): Float64Array {
  const w = dequantize(format, n, k, packed);
  const step = new Float64Array(k);
  for (let b = 0; b < k / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]!));
    const e = (amax / 127) / (planes === 2 ? 508 : 2);
    for (let i = 0; i < 32; i++) step[b * 32 + i] = e;
  }
  const bound = new Float64Array(n);
  for (let row = 0; row < n; row++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.abs(w[row * k + j]!) * step[j]!;
    bound[row] = 1.02 * s + 1e-6 * (1 + Math.abs(expected[row]!));
  }
  return bound;
}

/** Throws unless |actual − expected| ≤ bound elementwise, naming the worst row relative to its bound. */
export function expectWithinBound(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: ArrayLike<number>, label: string): void {
  let worst = -1;
  let ratio = 0;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i]! - expected[i]!) / bound[i]!;
    if (!(r <= ratio)) { ratio = r; worst = i; }
  }
  if (ratio > 1 || Number.isNaN(ratio)) {
    throw new Error(`${label}: row ${worst} got ${actual[worst]}, expected ${expected[worst]}, |error| ${Math.abs(actual[worst]! - expected[worst]!).toExponential(3)} > bound ${bound[worst]!.toExponential(3)}`);
  }
}
