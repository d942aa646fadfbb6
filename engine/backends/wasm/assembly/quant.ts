import { h2f, hsum } from './simd-math';

// Quantized dot products over engine/quant/layout.ts, read in place. x is quantized once per call to
// i16 per group (xs = max|x| / 32767), so each 32-code block is 4 × i32x4.dot_i16x8_s of codes against
// x; the integer sum is scaled once per group. Per 32-code block the codes are unpacked into 4 i16x8
// vectors c0…c3; for bits 4/3/2 vector ck lane m holds code 4m + k, so x is stored permuted to match
// (bits 8 keeps natural order).

/** Bytes of one prepared x row in scratch: xq i16 [K], xs f32 [G], Σx̃ f32 [G], 16-aligned. */
export function qprepBytes(K: i32, gs: i32): i32 {
  return (K * 2 + (K / gs) * 8 + 15) & ~15;
}

export function qprepRow(x: usize, dst: usize, K: i32, gs: i32, bits: i32): void {
  const G = K / gs;
  const xsP = dst + (<usize>K << 1);
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
    let sum = 0;
    const q = dst + (<usize>(g * gs) << 1);
    for (let b = 0; b < gs; b += 32) {
      const qb = q + (<usize>b << 1);
      const xb = base + (<usize>b << 2);
      for (let j = 0; j < 32; j++) {
        const v = <i32>nearest(load<f32>(xb + (<usize>j << 2)) * inv);
        sum += v;
        const pos = bits == 8 ? j : ((j & 3) << 3) | (j >> 2);
        store<i16>(qb + (<usize>pos << 1), <i16>v);
      }
    }
    store<f32>(xsP + (<usize>g << 2), xs);
    store<f32>(czP + (<usize>g << 2), xs * <f32>sum);
  }
}

// Σ over one 32-code block: codes at p, prepared x at xq (64 bytes). The bits argument is a literal at
// every call site, so after inlining only one branch remains.
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
  const d0 = i32x4.add(i32x4.dot_i16x8_s(c0, v128.load(xq)), i32x4.dot_i16x8_s(c1, v128.load(xq, 16)));
  const d1 = i32x4.add(i32x4.dot_i16x8_s(c2, v128.load(xq, 32)), i32x4.dot_i16x8_s(c3, v128.load(xq, 48)));
  return i32x4.add(d0, d1);
}

// One output: row (packed codes), scale halves from index s0, mins (0 = symmetric) from index s0.
// out = Σ_g s_g·xs_g·Σ q·x̃q + Σ_g c_g·Σx̃, with c_g = −2^(bits−1)·s_g (sym) or min_g (asym).
@inline function rowDot(row: usize, scales: usize, mins: usize, s0: i32, xp: usize, K: i32, gs: i32, bits: i32): f32 {
  const G = K / gs;
  const xsP = xp + (<usize>K << 1);
  const czP = xsP + (<usize>G << 2);
  const bpb = <usize>(bits * 4);
  const zero = <f32>(1 << (bits - 1));
  let facc = f32x4.splat(0);
  let corr: f32 = 0;
  let p = row;
  let xq = xp;
  for (let g = 0; g < G; g++) {
    let acc = i32x4.splat(0);
    for (let b = 0; b < gs; b += 32) {
      acc = i32x4.add(acc, block(p, xq, bits));
      p += bpb;
      xq += 64;
    }
    const si = <usize>(s0 + g) << 1;
    const s = h2f(<u32>load<u16>(scales + si));
    facc = f32x4.add(facc, f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.splat(s * load<f32>(xsP + (<usize>g << 2)))));
    const c: f32 = mins == 0 ? -zero * s : h2f(<u32>load<u16>(mins + si));
    corr += c * load<f32>(czP + (<usize>g << 2));
  }
  return hsum(facc) + corr;
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
