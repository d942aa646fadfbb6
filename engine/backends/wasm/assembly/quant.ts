import { h2f, hsum } from './simd-math';

// Quantized dot products over engine/quant/layout.ts, read in place. x is prepared once per call as
// two i16 parts per group, x ≈ xs·(hi + lo/65536) with xs = max|x| / 32767, so each 32-code block is
// i32x4.dot_i16x8_s of the codes against hi and against lo (f32-class accuracy, integer speed); the
// integer sums are scaled once per group. Per block the codes are unpacked into 4 i16x8 vectors c0…c3;
// for bits 4/3/2 vector ck lane m holds code 4m + k, so x is stored permuted to match (bits 8 keeps
// natural order).

/** Bytes of one prepared x row in scratch: per 32-block hi i16 [32] then lo i16 [32]; xs f32 [G], Σx̃ f32 [G]. */
export function qprepBytes(K: i32, gs: i32): i32 {
  return (K * 4 + (K / gs) * 8 + 15) & ~15;
}

export function qprepRow(x: usize, dst: usize, K: i32, gs: i32, bits: i32): void {
  const G = K / gs;
  const xsP = dst + (<usize>K << 2);
  const czP = xsP + (<usize>G << 2);
  for (let g = 0; g < G; g++) {
    const base = x + (<usize>(g * gs) << 2);
    let mv = f32x4.splat(0);
    for (let j = 0; j < gs; j += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(base + (<usize>j << 2))));
    const t = f32x4.max(mv, v128.shuffle<f32>(mv, mv, 2, 3, 0, 1));
    const m = f32x4.extract_lane(f32x4.max(t, v128.shuffle<f32>(t, t, 1, 0, 3, 2)), 0);
    // ±Inf / NaN inputs make the whole group NaN rather than silently zero.
    const finite = m < <f32>Infinity;
    const xs: f32 = finite ? m / 32767.0 : <f32>NaN;
    const inv: f32 = finite && m > 0 ? <f32>32767.0 / m : 0;
    let sumHi = 0, sumLo = 0;
    const q = dst + (<usize>(g * gs) << 2);
    for (let b = 0; b < gs; b += 32) {
      const qb = q + (<usize>b << 2);
      const xb = base + (<usize>b << 2);
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(xb + (<usize>j << 2)) * inv;
        const hi = nearest(v);
        const lo = <i32>min<f32>(nearest((v - hi) * 65536.0), 32767.0);
        sumHi += <i32>hi;
        sumLo += lo;
        const pos = bits == 8 ? j : ((j & 3) << 3) | (j >> 2);
        store<i16>(qb + (<usize>pos << 1), <i16>(<i32>hi));
        store<i16>(qb + (<usize>pos << 1), <i16>lo, 64);
      }
    }
    store<f32>(xsP + (<usize>g << 2), xs);
    store<f32>(czP + (<usize>g << 2), xs * <f32>(<f64>sumHi + <f64>sumLo / 65536.0));
  }
}

// One 32-code block against its prepared x (hi at xq, lo at xq + 64) → i32x4 [hi, hi, lo, lo] partial
// sums. The bits argument is a literal at every call site, so after inlining only one branch remains.
@inline function block(p: usize, xq: usize, bits: i32): v128 {
  let c0: v128, c1: v128, c2: v128, c3: v128;
  if (bits == 8) {
    const v0 = v128.load(p);
    const v1 = v128.load(p, 16);
    c0 = i16x8.extend_low_i8x16_u(v0);
    c1 = i16x8.extend_high_i8x16_u(v0);
    c2 = i16x8.extend_low_i8x16_u(v1);
    c3 = i16x8.extend_high_i8x16_u(v1);
  } else if (bits == 4) {
    const v = v128.load(p);
    const m = i16x8.splat(0xf);
    c0 = v128.and(v, m);
    c1 = v128.and(i16x8.shr_u(v, 4), m);
    c2 = v128.and(i16x8.shr_u(v, 8), m);
    c3 = i16x8.shr_u(v, 12);
  } else if (bits == 2) {
    const v = i16x8.extend_low_i8x16_u(v128.load64_zero(p));
    const m = i16x8.splat(3);
    c0 = v128.and(v, m);
    c1 = v128.and(i16x8.shr_u(v, 2), m);
    c2 = v128.and(i16x8.shr_u(v, 4), m);
    c3 = i16x8.shr_u(v, 6);
  } else {
    // low 2 bits as bits 2; bit 2 of code 4m+k is bit k of nibble m of word 2: spread nibble m into i16
    // lane m (shifted to bits 4…7), then take bit (4 + k) down to bit 2.
    const v = i16x8.extend_low_i8x16_u(v128.load64_zero(p));
    const m = i16x8.splat(3);
    const hw = i32x4.splat(load<i32>(p, 8));
    const sw = i8x16.swizzle(hw, i8x16(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1));
    const h = v128.and(i16x8.mul(sw, i16x8(16, 1, 16, 1, 16, 1, 16, 1)), i16x8.splat(0xf0));
    const four = i16x8.splat(4);
    c0 = v128.or(v128.and(v, m), v128.and(i16x8.shr_u(h, 2), four));
    c1 = v128.or(v128.and(i16x8.shr_u(v, 2), m), v128.and(i16x8.shr_u(h, 3), four));
    c2 = v128.or(v128.and(i16x8.shr_u(v, 4), m), v128.and(i16x8.shr_u(h, 4), four));
    c3 = v128.or(i16x8.shr_u(v, 6), v128.and(i16x8.shr_u(h, 5), four));
  }
  const h0 = i32x4.add(i32x4.dot_i16x8_s(c0, v128.load(xq)), i32x4.dot_i16x8_s(c1, v128.load(xq, 16)));
  const h1 = i32x4.add(i32x4.dot_i16x8_s(c2, v128.load(xq, 32)), i32x4.dot_i16x8_s(c3, v128.load(xq, 48)));
  const l0 = i32x4.add(i32x4.dot_i16x8_s(c0, v128.load(xq, 64)), i32x4.dot_i16x8_s(c1, v128.load(xq, 80)));
  const l1 = i32x4.add(i32x4.dot_i16x8_s(c2, v128.load(xq, 96)), i32x4.dot_i16x8_s(c3, v128.load(xq, 112)));
  const h = i32x4.add(h0, h1);
  const l = i32x4.add(l0, l1);
  return i32x4.add(i32x4.shuffle(h, l, 0, 2, 4, 6), i32x4.shuffle(h, l, 1, 3, 5, 7));
}

// four IEEE halves at p → f32x4 (exact, like h2f)
@inline function h2f4(p: usize): v128 {
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p));
  const mag = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const f = f32x4.mul(mag, f32x4.splat(reinterpret<f32>(0x77800000)));
  const special = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
  const v = v128.bitselect(v128.or(mag, i32x4.splat(0x7f800000)), f, special);
  return v128.or(v, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// One output: row (packed codes), scale halves from index s0, mins (0 = symmetric) from index s0.
// out = Σ_g s_g·xs_g·(Σ q·hi + Σ q·lo / 65536) + Σ_g c_g·Σx̃, c_g = −2^(bits−1)·s_g (sym) or min_g (asym).
// Groups go four at a time so the scale work is vector work too.
@inline function rowDot(row: usize, scales: usize, mins: usize, s0: i32, xp: usize, K: i32, gs: i32, bits: i32): f32 {
  const G = K / gs;
  const xsP = xp + (<usize>K << 2);
  const czP = xsP + (<usize>G << 2);
  const bpb = <usize>(bits * 4);
  const zero = f32x4.splat(<f32>(1 << (bits - 1)));
  const lowScale = f32x4.splat(1.0 / 65536.0);
  let facc = f32x4.splat(0);
  let p = row;
  let xq = xp;
  let g = 0;
  for (; g + 4 <= G; g += 4) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let b = 0; b < gs; b += 32) { a0 = i32x4.add(a0, block(p, xq, bits)); p += bpb; xq += 128; }
    for (let b = 0; b < gs; b += 32) { a1 = i32x4.add(a1, block(p, xq, bits)); p += bpb; xq += 128; }
    for (let b = 0; b < gs; b += 32) { a2 = i32x4.add(a2, block(p, xq, bits)); p += bpb; xq += 128; }
    for (let b = 0; b < gs; b += 32) { a3 = i32x4.add(a3, block(p, xq, bits)); p += bpb; xq += 128; }
    // [h, h, l, l] per group → hi sums [g0…g3] and lo sums [g0…g3]
    const ab = i32x4.add(i32x4.shuffle(a0, a1, 0, 2, 4, 6), i32x4.shuffle(a0, a1, 1, 3, 5, 7));
    const cd = i32x4.add(i32x4.shuffle(a2, a3, 0, 2, 4, 6), i32x4.shuffle(a2, a3, 1, 3, 5, 7));
    const hi = i32x4.shuffle(ab, cd, 0, 2, 4, 6);
    const lo = i32x4.shuffle(ab, cd, 1, 3, 5, 7);
    const dotv = f32x4.add(f32x4.convert_i32x4_s(hi), f32x4.mul(f32x4.convert_i32x4_s(lo), lowScale));
    const si = <usize>(s0 + g) << 1;
    const s = h2f4(scales + si);
    const xs = v128.load(xsP + (<usize>g << 2));
    const cz = v128.load(czP + (<usize>g << 2));
    facc = f32x4.add(facc, f32x4.mul(s, f32x4.mul(xs, dotv)));
    const c = mins == 0 ? f32x4.neg(f32x4.mul(zero, s)) : h2f4(mins + si);
    facc = f32x4.add(facc, f32x4.mul(c, cz));
  }
  let tail: f32 = 0;
  for (; g < G; g++) {
    let a0 = i32x4.splat(0);
    for (let b = 0; b < gs; b += 32) { a0 = i32x4.add(a0, block(p, xq, bits)); p += bpb; xq += 128; }
    const si = <usize>(s0 + g) << 1;
    const s = h2f(<u32>load<u16>(scales + si));
    const hi = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1);
    const lo = i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
    const d: f32 = <f32>(<f64>hi + <f64>lo / 65536.0);
    const c: f32 = mins == 0 ? -f32x4.extract_lane(zero, 0) * s : h2f(<u32>load<u16>(mins + si));
    tail += s * load<f32>(xsP + (<usize>g << 2)) * d + c * load<f32>(czP + (<usize>g << 2));
  }
  return hsum(facc) + tail;
}

function rows8(data: usize, scales: usize, mins: usize, xp: usize, xstride: usize, M: i32, out: usize, N: i32, K: i32, gs: i32, n0: i32, n1: i32): void {
  const rb = <usize>K;
  const G = K / gs;
  for (let n = n0; n < n1; n++) {
    for (let m = 0; m < M; m++) store<f32>(out + ((<usize>m * N + n) << 2), rowDot(data + <usize>n * rb, scales, mins, n * G, xp + <usize>m * xstride, K, gs, 8));
  }
}
function rows4(data: usize, scales: usize, mins: usize, xp: usize, xstride: usize, M: i32, out: usize, N: i32, K: i32, gs: i32, n0: i32, n1: i32): void {
  const rb = <usize>K >> 1;
  const G = K / gs;
  for (let n = n0; n < n1; n++) {
    for (let m = 0; m < M; m++) store<f32>(out + ((<usize>m * N + n) << 2), rowDot(data + <usize>n * rb, scales, mins, n * G, xp + <usize>m * xstride, K, gs, 4));
  }
}
function rows3(data: usize, scales: usize, mins: usize, xp: usize, xstride: usize, M: i32, out: usize, N: i32, K: i32, gs: i32, n0: i32, n1: i32): void {
  const rb = (<usize>K >> 5) * 12;
  const G = K / gs;
  for (let n = n0; n < n1; n++) {
    for (let m = 0; m < M; m++) store<f32>(out + ((<usize>m * N + n) << 2), rowDot(data + <usize>n * rb, scales, mins, n * G, xp + <usize>m * xstride, K, gs, 3));
  }
}
function rows2(data: usize, scales: usize, mins: usize, xp: usize, xstride: usize, M: i32, out: usize, N: i32, K: i32, gs: i32, n0: i32, n1: i32): void {
  const rb = <usize>K >> 2;
  const G = K / gs;
  for (let n = n0; n < n1; n++) {
    for (let m = 0; m < M; m++) store<f32>(out + ((<usize>m * N + n) << 2), rowDot(data + <usize>n * rb, scales, mins, n * G, xp + <usize>m * xstride, K, gs, 2));
  }
}

/** out [M, N] = x [M, K] · Wᵀ for weight rows n0…n1, x already prepared (stride xstride bytes). */
export function qrows(bits: i32, data: usize, scales: usize, mins: usize, xp: usize, xstride: usize, M: i32, out: usize, N: i32, K: i32, gs: i32, n0: i32, n1: i32): void {
  if (bits == 8) rows8(data, scales, mins, xp, xstride, M, out, N, K, gs, n0, n1);
  else if (bits == 4) rows4(data, scales, mins, xp, xstride, M, out, N, K, gs, n0, n1);
  else if (bits == 3) rows3(data, scales, mins, xp, xstride, M, out, N, K, gs, n0, n1);
  else rows2(data, scales, mins, xp, xstride, M, out, N, K, gs, n0, n1);
}

// one IEEE half → f32 (exact): the same bit manipulation as h2f4, one lane
@inline function h2f(h: u32): f32 {
  const mag = (h & 0x7fff) << 13;
  let v = reinterpret<u32>(reinterpret<f32>(mag) * reinterpret<f32>(0x77800000));
  if ((h & 0x7c00) == 0x7c00) v = mag | 0x7f800000;
  return reinterpret<f32>(v | ((h & 0x8000) << 16));
}

/**
 * Rows `ids` [t0, t1) of a packed table [V, D] (layout.ts), dequantized into out [T, D]: the gather of a
 * quantized embedding. Returns −1 when every id is in range, else the index t of the first bad id.
 */
export function qembeddingRows(data: usize, scales: usize, mins: usize, ids: usize, out: usize, D: i32, V: i32, bits: i32, gs: i32, t0: i32, t1: i32): i32 {
  const wpr = <usize>(D * bits / 32);
  const mask: u32 = (1 << bits) - 1;
  const zero = <f32>(1 << (bits - 1));
  for (let t = t0; t < t1; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    if (id < 0 || id >= V) return t;
    const row = data + <usize>id * wpr * 4;
    const o = out + <usize>t * D * 4;
    for (let j = 0; j < D; j++) {
      let code: u32;
      if (bits == 3) {
        const blk = row + (<usize>(j >> 5) * 3 << 2);
        const k = <u32>(j & 31);
        code = ((load<u32>(blk + ((<usize>k >> 4) << 2)) >> ((k & 15) * 2)) & 3) | (((load<u32>(blk + 8) >> k) & 1) << 2);
      } else {
        const per = 32 / bits;
        code = (load<u32>(row + (<usize>(j / per) << 2)) >> <u32>((j % per) * bits)) & mask;
      }
      const g = (<usize>id * D + j) / gs;
      const s = h2f(<u32>load<u16>(scales + (g << 1)));
      const v = mins != 0 ? <f32>code * s + h2f(<u32>load<u16>(mins + (g << 1))) : (<f32>code - zero) * s;
      store<f32>(o + (<usize>j << 2), v);
    }
  }
  return -1;
}
