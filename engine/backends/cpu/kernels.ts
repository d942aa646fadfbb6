/**
 * The reference kernels: plain loops over typed arrays, f64 accumulation, f32 results. They trust their
 * arguments (CpuBackend validates shapes and dtypes first) and are written to be read, llama2.c style.
 */
import { f16ToF32 } from '../../tensor/dtype.js';
import { readHalf, symmetricZero, wordsPerRow, type QuantFormat } from '../../quant/layout.js';

/**
 * a [batch, M, K] · b [batch | 1, K, N] → out [batch, M, N]; with transB b is [batch | 1, N, K].
 * bStride is 0 when b is shared by every batch.
 */
export function matmul(
  a: Float32Array, b: Float32Array, out: Float32Array,
  batch: number, m: number, k: number, n: number, bStride: number, transB: boolean,
): void {
  const acc = new Float64Array(n);
  for (let bi = 0; bi < batch; bi++) {
    const aOff = bi * m * k;
    const bOff = bi * bStride;
    const oOff = bi * m * n;
    for (let i = 0; i < m; i++) {
      const aRow = aOff + i * k;
      if (transB) {
        // b [N, K]: both operands are read along K, so a dot product per output
        for (let j = 0; j < n; j++) {
          const bRow = bOff + j * k;
          let s = 0;
          for (let p = 0; p < k; p++) s += a[aRow + p]! * b[bRow + p]!;
          out[oOff + i * n + j] = s;
        }
      } else {
        // b [K, N]: i-k-j order walks b and the accumulator row contiguously
        acc.fill(0);
        for (let p = 0; p < k; p++) {
          const av = a[aRow + p]!;
          const bRow = bOff + p * n;
          for (let j = 0; j < n; j++) acc[j]! += av * b[bRow + j]!;
        }
        for (let j = 0; j < n; j++) out[oOff + i * n + j] = acc[j]!;
      }
    }
  }
}

/** w [N, K] · x [K] → out [N] */
export function matvec(w: Float32Array, x: Float32Array, out: Float32Array, n: number, k: number): void {
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let s = 0;
    for (let p = 0; p < k; p++) s += w[row + p]! * x[p]!;
    out[i] = s;
  }
}

/**
 * Unpacks the codes of row `n` of a packed [N, K] weight (layout.ts) into codes [K]. Reads whole words;
 * engine/quant/layout.ts readCode is the per-element definition this mirrors.
 */
export function unpackRow(data: Uint32Array, n: number, k: number, bits: QuantFormat['bits'], codes: Uint8Array): void {
  const row = n * wordsPerRow(k, bits);
  if (bits === 3) {
    // per 32 codes, 3 words: [low 2 bits of codes 0–15][low 2 bits of codes 16–31][bit 2 of codes 0–31]
    for (let block = 0; block < k / 32; block++) {
      const w0 = data[row + block * 3]!;
      const w1 = data[row + block * 3 + 1]!;
      const w2 = data[row + block * 3 + 2]!;
      for (let t = 0; t < 32; t++) {
        const lo = ((t < 16 ? w0 : w1) >>> ((t & 15) * 2)) & 3;
        codes[block * 32 + t] = lo | (((w2 >>> t) & 1) << 2);
      }
    }
    return;
  }
  const perWord = 32 / bits;
  const mask = (1 << bits) - 1;
  for (let w = 0; w < k / perWord; w++) {
    const word = data[row + w]!;
    for (let c = 0; c < perWord; c++) codes[w * perWord + c] = (word >>> (c * bits)) & mask;
  }
}

/**
 * Dequantizes row `n` of a packed weight into out [K] (f64, exact for symmetric formats):
 * symmetric w = (q − 2^(bits−1)) · scale, asymmetric w = q · scale + min, per group of groupSize.
 */
export function dequantizeRow(
  format: QuantFormat, data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null,
  n: number, k: number, codes: Uint8Array, out: Float64Array,
): void {
  unpackRow(data, n, k, format.bits, codes);
  const groups = k / format.groupSize;
  const zero = symmetricZero(format.bits);
  for (let g = 0; g < groups; g++) {
    const scale = f16ToF32(readHalf(scales, n * groups + g));
    const start = g * format.groupSize;
    const end = start + format.groupSize;
    if (format.symmetric) {
      for (let j = start; j < end; j++) out[j] = (codes[j]! - zero) * scale;
    } else {
      const min = f16ToF32(readHalf(mins!, n * groups + g));
      for (let j = start; j < end; j++) out[j] = codes[j]! * scale + min;
    }
  }
}

/** x [M, K] · packed w [N, K]ᵀ → out [M, N]; qmatvec is the M = 1 case. Dequantizes one row of w at a time. */
export function qmatmul(
  format: QuantFormat, data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null,
  x: Float32Array, out: Float32Array, m: number, n: number, k: number,
): void {
  const codes = new Uint8Array(k);
  const wRow = new Float64Array(k);
  for (let j = 0; j < n; j++) {
    dequantizeRow(format, data, scales, mins, j, k, codes, wRow);
    for (let i = 0; i < m; i++) {
      const xRow = i * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += wRow[p]! * x[xRow + p]!;
      out[i * n + j] = s;
    }
  }
}

/**
 * Elementwise a ∘ b over outShape, where aStrides/bStrides are row-major strides of a and b as seen from
 * outShape (0 on broadcast axes; engine/tensor/shape.ts broadcastStrides).
 */
export function broadcastBinary(
  a: Float32Array, b: Float32Array, out: Float32Array,
  outShape: readonly number[], aStrides: readonly number[], bStrides: readonly number[],
  op: (x: number, y: number) => number,
): void {
  const rank = outShape.length;
  if (out.length === 0) return;
  if (rank === 0) {
    out[0] = op(a[0]!, b[0]!);
    return;
  }
  // Walk the leading axes with an odometer; the last axis is the inner loop.
  const inner = outShape[rank - 1]!;
  const aInner = aStrides[rank - 1]!;
  const bInner = bStrides[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let ai = 0;
  let bi = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = op(a[ai + j * aInner]!, b[bi + j * bInner]!);
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]!++;
      ai += aStrides[axis]!;
      bi += bStrides[axis]!;
      if (index[axis]! < outShape[axis]!) break;
      ai -= aStrides[axis]! * outShape[axis]!;
      bi -= bStrides[axis]! * outShape[axis]!;
      index[axis] = 0;
    }
  }
}

/** table [V, D], ids [T] (already range-checked) → out [T, D] */
export function embedding(table: Float32Array, ids: Int32Array, out: Float32Array, d: number): void {
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t]! * d, ids[t]! * d + d), t * d);
}

/** x [rows, D] → out [rows, D]: x / sqrt(mean(x²) + eps) · weight */
export function rmsNorm(x: Float32Array, weight: Float32Array, out: Float32Array, rows: number, d: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const off = r * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[off + i]! * x[off + i]!;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) out[off + i] = x[off + i]! * inv * weight[i]!;
  }
}

/** x [rows, D] → out [rows, D]: (x − mean) / sqrt(var + eps) · weight + bias, biased variance, two passes */
export function layerNorm(
  x: Float32Array, weight: Float32Array, bias: Float32Array, out: Float32Array, rows: number, d: number, eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const off = r * d;
    let sum = 0;
    for (let i = 0; i < d; i++) sum += x[off + i]!;
    const mean = sum / d;
    let sq = 0;
    for (let i = 0; i < d; i++) sq += (x[off + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / d + eps);
    for (let i = 0; i < d; i++) out[off + i] = (x[off + i]! - mean) * inv * weight[i]! + bias[i]!;
  }
}

/** x [rows, D] → out [rows, D]: exp(x − max) / Σ exp(x − max) per row */
export function softmax(x: Float32Array, out: Float32Array, rows: number, d: number): void {
  const e = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const off = r * d;
    let max = -Infinity;
    for (let i = 0; i < d; i++) max = Math.max(max, x[off + i]!);
    let sum = 0;
    for (let i = 0; i < d; i++) {
      e[i] = Math.exp(x[off + i]! - max);
      sum += e[i]!;
    }
    for (let i = 0; i < d; i++) out[off + i] = e[i]! / sum;
  }
}

export function map(x: Float32Array, out: Float32Array, f: (v: number) => number): void {
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
}

/**
 * x [T, H, Dh] → out [T, H, Dh]. Pair p of the first rotaryDim dims of every head rotates by
 * (pos0 + t) / scale · theta^(−2p / rotaryDim); 'half' pairs (p, p + rotaryDim/2), 'interleaved' (2p, 2p+1).
 * Dims ≥ rotaryDim pass through.
 */
export function rope(
  x: Float32Array, out: Float32Array, t: number, h: number, dh: number,
  pos0: number, freqs: Float64Array, rotaryDim: number, interleaved: boolean,
): void {
  const pairs = rotaryDim / 2;
  const cos = new Float64Array(pairs);
  const sin = new Float64Array(pairs);
  out.set(x);
  for (let ti = 0; ti < t; ti++) {
    const pos = pos0 + ti;
    for (let p = 0; p < pairs; p++) {
      const angle = pos * freqs[p]!;
      cos[p] = Math.cos(angle);
      sin[p] = Math.sin(angle);
    }
    for (let hi = 0; hi < h; hi++) {
      const off = (ti * h + hi) * dh;
      for (let p = 0; p < pairs; p++) {
        const i0 = off + (interleaved ? 2 * p : p);
        const i1 = off + (interleaved ? 2 * p + 1 : p + pairs);
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        out[i0] = x0 * cos[p]! - x1 * sin[p]!;
        out[i1] = x1 * cos[p]! + x0 * sin[p]!;
      }
    }
  }
}

/** x [T, Hkv, Dh] → cache [Hkv, S, Dh] at rows offset … offset + T − 1 */
export function kvWrite(cache: Float32Array, x: Float32Array, t: number, hkv: number, s: number, dh: number, offset: number): void {
  for (let ti = 0; ti < t; ti++) {
    for (let hi = 0; hi < hkv; hi++) {
      const src = (ti * hkv + hi) * dh;
      cache.set(x.subarray(src, src + dh), (hi * s + offset + ti) * dh);
    }
  }
}

/**
 * q [T, Hq, Dh], k/v [Hkv, S, Dh] → out [T, Hq, Dh]. Query t (absolute position past + t) of head h
 * attends over keys 0 … past + t (causal) or 0 … past + T − 1 of kv head floor(h / (Hq / Hkv)).
 */
export function attention(
  q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array,
  t: number, hq: number, hkv: number, s: number, dh: number, past: number, scale: number, causal: boolean,
): void {
  const group = hq / hkv;
  const scores = new Float64Array(past + t);
  const acc = new Float64Array(dh);
  for (let ti = 0; ti < t; ti++) {
    const visible = causal ? past + ti + 1 : past + t;
    for (let h = 0; h < hq; h++) {
      const kvh = Math.floor(h / group);
      const qOff = (ti * hq + h) * dh;
      let max = -Infinity;
      for (let si = 0; si < visible; si++) {
        const kOff = (kvh * s + si) * dh;
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += q[qOff + d]! * k[kOff + d]!;
        scores[si] = dot * scale;
        max = Math.max(max, scores[si]!);
      }
      let sum = 0;
      for (let si = 0; si < visible; si++) {
        scores[si] = Math.exp(scores[si]! - max);
        sum += scores[si]!;
      }
      acc.fill(0);
      for (let si = 0; si < visible; si++) {
        const p = scores[si]! / sum;
        const vOff = (kvh * s + si) * dh;
        for (let d = 0; d < dh; d++) acc[d]! += p * v[vOff + d]!;
      }
      for (let d = 0; d < dh; d++) out[qOff + d] = acc[d]!;
    }
  }
}

/** x [rows, V] → out [rows]: index of the max, lowest on ties, NaN skipped (0 when a row is all NaN). */
export function argmax(x: Float32Array, out: Int32Array, rows: number, v: number): void {
  for (let r = 0; r < rows; r++) {
    const off = r * v;
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < v; i++) {
      const value = x[off + i]!;
      if (value !== value) continue;
      if (best < 0 || value > bestValue) {
        best = i;
        bestValue = value;
      }
    }
    out[r] = best < 0 ? 0 : best;
  }
}

/** True when (va, ia) ranks before (vb, ib): larger value first, NaN last, lower index on ties. */
function ranksBefore(va: number, ia: number, vb: number, ib: number): boolean {
  const aNaN = va !== va;
  const bNaN = vb !== vb;
  if (aNaN !== bNaN) return bNaN;
  if (!aNaN && va !== vb) return va > vb;
  return ia < ib;
}

/** x [rows, V] → values, indices [rows, kk], descending with the ranking of ranksBefore. */
export function topk(x: Float32Array, values: Float32Array, indices: Int32Array, rows: number, v: number, kk: number): void {
  const order = new Int32Array(v);
  for (let r = 0; r < rows; r++) {
    const off = r * v;
    if (kk <= 64) {
      // bounded insertion: the kept list stays sorted; most elements fail the one comparison with its tail
      let kept = 0;
      for (let i = 0; i < v; i++) {
        const value = x[off + i]!;
        if (kept === kk && !ranksBefore(value, i, x[off + order[kk - 1]!]!, order[kk - 1]!)) continue;
        let pos = kept < kk ? kept++ : kk - 1;
        while (pos > 0 && ranksBefore(value, i, x[off + order[pos - 1]!]!, order[pos - 1]!)) {
          order[pos] = order[pos - 1]!;
          pos--;
        }
        order[pos] = i;
      }
    } else {
      for (let i = 0; i < v; i++) order[i] = i;
      order.sort((a, b) => (a === b ? 0 : ranksBefore(x[off + a]!, a, x[off + b]!, b) ? -1 : 1));
    }
    for (let j = 0; j < kk; j++) {
      values[r * kk + j] = x[off + order[j]!]!;
      indices[r * kk + j] = order[j]!;
    }
  }
}
