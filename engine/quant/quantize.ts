import { InvalidArgumentError } from '../errors.js';
import { f16ToF32, f32ToF16 } from '../tensor/dtype.js';
import { f16Words, readCode, readHalf, symmetricZero, validateQuantShape, wordsPerRow, writeCode, writeHalf, type QuantFormat } from './layout.js';

/** A weight W [N, K] in the packed layout of layout.ts, on the CPU. */
export interface QuantizedWeight {
  readonly shape: readonly [number, number];
  readonly format: QuantFormat;
  readonly data: Uint32Array;
  readonly scales: Uint32Array;
  /** Asymmetric formats only. */
  readonly mins: Uint32Array | null;
}

export interface QuantizeOptions {
  /**
   * Error-minimising clip search: each group also tries ranges shrunk to 95 %, 90 % … 70 % of its extremes and
   * keeps the one with the least squared error (outliers then clip, the rest get finer steps).
   */
  readonly clipSearch?: boolean;
}

const CLIPS = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7];

/** The f16 nearest to x that is ≥ x (dir 1) or ≤ x (dir −1): scales and mins that cover the group's range. */
function f16Toward(x: number, dir: 1 | -1): number {
  const h = f32ToF16(x);
  const v = f16ToF32(h);
  if (dir === 1 ? v >= x : v <= x) return h;
  const neg = (h & 0x8000) !== 0;
  // f16 bit patterns grow with magnitude within a sign
  if (dir === 1) return neg ? (h === 0x8000 ? 0x0001 : h - 1) : h + 1;
  return neg ? h + 1 : h === 0 ? 0x8001 : h - 1;
}

/**
 * W [N, K] (row-major f32, PyTorch nn.Linear order) → packed codes and f16 scales (and mins), group-wise along K.
 *   symmetric:  s = max|w| / (2^(bits−1) − 1), q = round(w / s) + 2^(bits−1)
 *   asymmetric: m = min, s = (max − m) / (2^bits − 1), q = round((w − m) / s)
 * s is rounded up and m down to f16, and the codes are computed against those stored values: no code is ever
 * clamped, ŵ is exactly what the kernels reconstruct, and |w − ŵ| ≤ s/2 with s the stored scale.
 */
export function quantizeWeight(w: Float32Array, n: number, k: number, format: QuantFormat, options: QuantizeOptions = {}): QuantizedWeight {
  const problem = validateQuantShape(n, k, format);
  if (problem !== null) throw new InvalidArgumentError(`quantizeWeight: ${problem}`);
  if (w.length !== n * k) throw new InvalidArgumentError(`quantizeWeight: ${w.length} values do not fill [${n}, ${k}]`);
  const { bits, groupSize: g, symmetric } = format;
  const levels = (1 << bits) - 1;
  const zero = symmetricZero(bits);
  const data = new Uint32Array(n * wordsPerRow(k, bits));
  const groups = (n * k) / g;
  const scales = new Uint32Array(f16Words(groups));
  const mins = symmetric ? null : new Uint32Array(f16Words(groups));
  const codes = new Int32Array(g);
  const best = new Int32Array(g);
  for (let row = 0; row < n; row++) {
    for (let j0 = 0; j0 < k; j0 += g) {
      const base = row * k + j0;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < g; i++) {
        const v = w[base + i]!;
        if (!Number.isFinite(v)) throw new InvalidArgumentError(`quantizeWeight: value ${v} at [${row}, ${j0 + i}] is not finite`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let bestErr = Infinity;
      let bestS = 0;
      let bestM = 0;
      for (const c of options.clipSearch ? CLIPS : [1]) {
        let s16: number;
        let m16 = 0;
        // scale rounded up and min rounded down to f16, so that without clipping no code is ever clamped
        if (symmetric) {
          const amax = Math.max(-lo, hi) * c;
          s16 = f16Toward(amax / (zero - 1), 1);
        } else {
          m16 = f16Toward(lo * c, -1);
          s16 = f16Toward((hi * c - f16ToF32(m16)) / levels, 1);
        }
        const s = f16ToF32(s16);
        const m = f16ToF32(m16);
        let err = 0;
        for (let i = 0; i < g; i++) {
          const v = w[base + i]!;
          let q = s === 0 ? (symmetric ? zero : 0) : Math.round(symmetric ? v / s + zero : (v - m) / s);
          q = Math.max(0, Math.min(levels, q));
          codes[i] = q;
          const r = symmetric ? (q - zero) * s : q * s + m;
          err += (v - r) * (v - r);
        }
        if (err < bestErr) {
          bestErr = err;
          bestS = s16;
          bestM = m16;
          best.set(codes);
        }
      }
      const gi = base / g;
      writeHalf(scales, gi, bestS);
      if (mins) writeHalf(mins, gi, bestM);
      for (let i = 0; i < g; i++) writeCode(data, row, j0 + i, k, bits, best[i]!);
    }
  }
  return { shape: [n, k], format, data, scales, mins };
}

/** The f32 values a quantized weight stands for (what every backend's kernels multiply with). */
export function dequantizeWeight(q: Omit<QuantizedWeight, 'mins'> & { readonly mins?: Uint32Array | null }): Float32Array {
  const [n, k] = q.shape;
  const { bits, groupSize: g, symmetric } = q.format;
  const zero = symmetricZero(bits);
  const out = new Float32Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let j = 0; j < k; j++) {
      const gi = Math.floor((row * k + j) / g);
      const s = f16ToF32(readHalf(q.scales, gi));
      const code = readCode(q.data, row, j, k, bits);
      out[row * k + j] = symmetric ? (code - zero) * s : code * s + f16ToF32(readHalf(q.mins!, gi));
    }
  }
  return out;
}
