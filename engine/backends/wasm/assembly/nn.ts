import { dot, expv, erfv, hmax, hsum, tanhv } from './simd-math';

// ---- elementwise --------------------------------------------------------------------------------------

@inline function bin(kind: i32, a: v128, b: v128): v128 {
  return kind == 0 ? f32x4.add(a, b) : f32x4.mul(a, b);
}

// Broadcast add/mul over rows of the last axis. shapes/strides (elements) are rank-long i32 arrays.
export function binaryRows(kind: i32, a: usize, b: usize, out: usize, rank: i32, shape: usize, sa: usize, sb: usize, r0: i32, r1: i32): void {
  const L = load<i32>(shape + (<usize>(rank - 1) << 2));
  const la = load<i32>(sa + (<usize>(rank - 1) << 2));
  const lb = load<i32>(sb + (<usize>(rank - 1) << 2));
  for (let r = r0; r < r1; r++) {
    // offsets of row r: peel the outer index from the innermost outer axis outwards
    let rem = r, oa = 0, ob = 0;
    for (let d = rank - 2; d >= 0; d--) {
      const dim = load<i32>(shape + (<usize>d << 2));
      const i = rem % dim;
      rem = rem / dim;
      oa += i * load<i32>(sa + (<usize>d << 2));
      ob += i * load<i32>(sb + (<usize>d << 2));
    }
    const pa = a + (<usize>oa << 2), pb = b + (<usize>ob << 2), po = out + (<usize>r * L << 2);
    let j = 0;
    if (la == 1 && lb == 1) {
      for (; j + 4 <= L; j += 4) { const o = <usize>j << 2; v128.store(po + o, bin(kind, v128.load(pa + o), v128.load(pb + o))); }
    } else if (la == 1 && lb == 0) {
      const bv = v128.load32_splat(pb);
      for (; j + 4 <= L; j += 4) { const o = <usize>j << 2; v128.store(po + o, bin(kind, v128.load(pa + o), bv)); }
    } else if (la == 0 && lb == 1) {
      const av = v128.load32_splat(pa);
      for (; j + 4 <= L; j += 4) { const o = <usize>j << 2; v128.store(po + o, bin(kind, av, v128.load(pb + o))); }
    }
    for (; j < L; j++) {
      const x = load<f32>(pa + (<usize>(j * la) << 2));
      const y = load<f32>(pb + (<usize>(j * lb) << 2));
      store<f32>(po + (<usize>j << 2), kind == 0 ? x + y : x * y);
    }
  }
}

export function siluRange(x: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  const one = f32x4.splat(1.0);
  for (; i + 4 <= i1; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    v128.store(out + (<usize>i << 2), f32x4.div(v, f32x4.add(one, expv(f32x4.neg(v)))));
  }
  for (; i < i1; i++) {
    const v = f32x4.splat(load<f32>(x + (<usize>i << 2)));
    store<f32>(out + (<usize>i << 2), f32x4.extract_lane(f32x4.div(v, f32x4.add(one, expv(f32x4.neg(v)))), 0));
  }
}

@inline function geluTanh(v: v128): v128 {
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  const x3 = f32x4.mul(f32x4.mul(v, v), v);
  const u = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(v, f32x4.mul(f32x4.splat(0.044715), x3)));
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), v), f32x4.add(f32x4.splat(1.0), tanhv(u)));
}

@inline function geluErf(v: v128): v128 {
  const e = erfv(f32x4.mul(v, f32x4.splat(0.7071067811865476)));
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), v), f32x4.add(f32x4.splat(1.0), e));
}

export function geluRange(x: usize, out: usize, i0: i32, i1: i32, mode: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    v128.store(out + (<usize>i << 2), mode == 0 ? geluTanh(v) : geluErf(v));
  }
  for (; i < i1; i++) {
    const v = f32x4.splat(load<f32>(x + (<usize>i << 2)));
    store<f32>(out + (<usize>i << 2), f32x4.extract_lane(mode == 0 ? geluTanh(v) : geluErf(v), 0));
  }
}

// ---- gather / norms / softmax -------------------------------------------------------------------------

/** Returns −1 when every id is in range, else the index t of the first bad id. */
export function embeddingRows(table: usize, ids: usize, out: usize, D: i32, V: i32, t0: i32, t1: i32): i32 {
  const rb = <usize>D << 2;
  for (let t = t0; t < t1; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    if (id < 0 || id >= V) return t;
    memory.copy(out + <usize>t * rb, table + <usize>id * rb, rb);
  }
  return -1;
}

@inline function sumSq(p: usize, D: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= D; i += 8) {
    const a = v128.load(p + (<usize>i << 2)), b = v128.load(p + (<usize>i << 2), 16);
    s0 = f32x4.add(s0, f32x4.mul(a, a));
    s1 = f32x4.add(s1, f32x4.mul(b, b));
  }
  for (; i + 4 <= D; i += 4) { const a = v128.load(p + (<usize>i << 2)); s0 = f32x4.add(s0, f32x4.mul(a, a)); }
  let s = hsum(f32x4.add(s0, s1));
  for (; i < D; i++) { const a = load<f32>(p + (<usize>i << 2)); s += a * a; }
  return s;
}

export function rmsNormRows(x: usize, w: usize, out: usize, D: i32, eps: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const p = x + (<usize>r * D << 2), o = out + (<usize>r * D << 2);
    const inv: f32 = 1.0 / sqrt<f32>(sumSq(p, D) / <f32>D + eps);
    const iv = f32x4.splat(inv);
    let i = 0;
    for (; i + 4 <= D; i += 4) {
      const q = <usize>i << 2;
      v128.store(o + q, f32x4.mul(f32x4.mul(v128.load(p + q), iv), v128.load(w + q)));
    }
    for (; i < D; i++) { const q = <usize>i << 2; store<f32>(o + q, load<f32>(p + q) * inv * load<f32>(w + q)); }
  }
}

// Mean refined by a second pass over the deviations from a first f32 estimate m0: with d = x − m0,
// mean = m0 + Σd/D and var = Σd²/D − (Σd/D)², accurate even when the mean dwarfs the spread.
export function layerNormRows(x: usize, w: usize, bias: usize, out: usize, D: i32, eps: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const p = x + (<usize>r * D << 2), o = out + (<usize>r * D << 2);
    let sv = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= D; i += 4) sv = f32x4.add(sv, v128.load(p + (<usize>i << 2)));
    let s = hsum(sv);
    for (; i < D; i++) s += load<f32>(p + (<usize>i << 2));
    const m0 = s / <f32>D;
    const mv0 = f32x4.splat(m0);
    let dv = f32x4.splat(0), qv = f32x4.splat(0);
    i = 0;
    for (; i + 4 <= D; i += 4) {
      const d = f32x4.sub(v128.load(p + (<usize>i << 2)), mv0);
      dv = f32x4.add(dv, d);
      qv = f32x4.add(qv, f32x4.mul(d, d));
    }
    let sd = hsum(dv), sq = hsum(qv);
    for (; i < D; i++) { const d = load<f32>(p + (<usize>i << 2)) - m0; sd += d; sq += d * d; }
    const md = sd / <f32>D;
    const mean = m0 + md;
    const inv: f32 = 1.0 / sqrt<f32>(max<f32>(sq / <f32>D - md * md, 0) + eps);
    const mv = f32x4.splat(mean);
    const iv = f32x4.splat(inv);
    i = 0;
    for (; i + 4 <= D; i += 4) {
      const q = <usize>i << 2;
      v128.store(o + q, f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(v128.load(p + q), mv), iv), v128.load(w + q)), v128.load(bias + q)));
    }
    for (; i < D; i++) { const q = <usize>i << 2; store<f32>(o + q, (load<f32>(p + q) - mean) * inv * load<f32>(w + q) + load<f32>(bias + q)); }
  }
}

@inline function rowMax(p: usize, D: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= D; i += 4) mv = f32x4.max(mv, v128.load(p + (<usize>i << 2)));
  let m = hmax(mv);
  for (; i < D; i++) m = max(m, load<f32>(p + (<usize>i << 2)));
  return m;
}

// out[i] = exp(p[i] − m), returns the sum.
@inline function expSub(p: usize, o: usize, D: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let sv = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= D; i += 4) {
    const e = expv(f32x4.sub(v128.load(p + (<usize>i << 2)), mv));
    v128.store(o + (<usize>i << 2), e);
    sv = f32x4.add(sv, e);
  }
  let s = hsum(sv);
  for (; i < D; i++) {
    const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(p + (<usize>i << 2)) - m)), 0);
    store<f32>(o + (<usize>i << 2), e);
    s += e;
  }
  return s;
}

@inline function scaleRow(o: usize, D: i32, f: f32): void {
  const fv = f32x4.splat(f);
  let i = 0;
  for (; i + 4 <= D; i += 4) v128.store(o + (<usize>i << 2), f32x4.mul(v128.load(o + (<usize>i << 2)), fv));
  for (; i < D; i++) store<f32>(o + (<usize>i << 2), load<f32>(o + (<usize>i << 2)) * f);
}

export function softmaxRows(x: usize, out: usize, D: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const p = x + (<usize>r * D << 2), o = out + (<usize>r * D << 2);
    const s = expSub(p, o, D, rowMax(p, D));
    scaleRow(o, D, <f32>1.0 / s);
  }
}

// ---- rotary / cache / attention -----------------------------------------------------------------------

// x [T, H, Dh] rows u = t·H + h; table: cos [T, rd/2] then sin [T, rd/2].
export function ropeRows(x: usize, out: usize, table: usize, T: i32, H: i32, Dh: i32, rd: i32, interleaved: i32, u0: i32, u1: i32): void {
  const half = rd >> 1;
  const sinT = table + (<usize>(T * half) << 2);
  for (let u = u0; u < u1; u++) {
    const t = u / H;
    const p = x + (<usize>u * Dh << 2), o = out + (<usize>u * Dh << 2);
    const cp = table + (<usize>(t * half) << 2), sp = sinT + (<usize>(t * half) << 2);
    if (interleaved == 0) {
      const hb = <usize>half << 2;
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const q = <usize>i << 2;
        const a = v128.load(p + q), b = v128.load(p + hb + q), c = v128.load(cp + q), s = v128.load(sp + q);
        v128.store(o + q, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(o + hb + q, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
      }
      for (; i < half; i++) {
        const q = <usize>i << 2;
        const a = load<f32>(p + q), b = load<f32>(p + hb + q), c = load<f32>(cp + q), s = load<f32>(sp + q);
        store<f32>(o + q, a * c - b * s);
        store<f32>(o + hb + q, b * c + a * s);
      }
    } else {
      for (let i = 0; i < half; i++) {
        const q = <usize>i << 3;
        const a = load<f32>(p + q), b = load<f32>(p + q, 4), c = load<f32>(cp + (<usize>i << 2)), s = load<f32>(sp + (<usize>i << 2));
        store<f32>(o + q, a * c - b * s);
        store<f32>(o + q, b * c + a * s, 4);
      }
    }
    if (rd < Dh) memory.copy(o + (<usize>rd << 2), p + (<usize>rd << 2), <usize>(Dh - rd) << 2);
  }
}

// rows u = t·Hkv + h of x [T, Hkv, Dh] go to cache [Hkv, S, Dh] at position offset + t.
export function kvWriteRows(cache: usize, x: usize, Hkv: i32, S: i32, Dh: i32, offset: i32, u0: i32, u1: i32): void {
  const rb = <usize>Dh << 2;
  for (let u = u0; u < u1; u++) {
    const t = u / Hkv, h = u % Hkv;
    memory.copy(cache + (<usize>h * S + <usize>(offset + t)) * rb, x + <usize>u * rb, rb);
  }
}

// One (t, h) per unit u = t·Hq + h: scores over the visible keys into sc, stable softmax, then the
// weighted sum of V four keys at a time.
export function attentionRows(q: usize, k: usize, v: usize, out: usize, Hq: i32, Hkv: i32, S: i32, Dh: i32, past: i32, T: i32, scale: f32, causal: i32, sc: usize, u0: i32, u1: i32): void {
  const group = Hq / Hkv;
  const rb = <usize>Dh << 2;
  for (let u = u0; u < u1; u++) {
    const t = u / Hq, h = u % Hq;
    const kh = h / group;
    const qp = q + <usize>u * rb;
    const o = out + <usize>u * rb;
    const kb = k + <usize>kh * S * rb, vb = v + <usize>kh * S * rb;
    const L = min(causal != 0 ? past + t + 1 : past + T, S);
    let m: f32 = -Infinity;
    for (let s = 0; s < L; s++) {
      const d = dot(qp, kb + <usize>s * rb, Dh) * scale;
      store<f32>(sc + (<usize>s << 2), d);
      m = max(m, d);
    }
    const inv: f32 = <f32>1.0 / expSub(sc, sc, L, m);
    let i = 0;
    for (; i + 4 <= Dh; i += 4) v128.store(o + (<usize>i << 2), f32x4.splat(0));
    for (; i < Dh; i++) store<f32>(o + (<usize>i << 2), 0);
    let s = 0;
    for (; s + 4 <= L; s += 4) {
      const pv = v128.load(sc + (<usize>s << 2));
      const p0 = f32x4.splat(f32x4.extract_lane(pv, 0) * inv), p1 = f32x4.splat(f32x4.extract_lane(pv, 1) * inv);
      const p2 = f32x4.splat(f32x4.extract_lane(pv, 2) * inv), p3 = f32x4.splat(f32x4.extract_lane(pv, 3) * inv);
      const v0 = vb + <usize>s * rb, v1 = v0 + rb, v2 = v1 + rb, v3 = v2 + rb;
      let i = 0;
      for (; i + 4 <= Dh; i += 4) {
        const d = <usize>i << 2;
        let acc = v128.load(o + d);
        acc = f32x4.add(acc, f32x4.add(f32x4.add(f32x4.mul(p0, v128.load(v0 + d)), f32x4.mul(p1, v128.load(v1 + d))),
          f32x4.add(f32x4.mul(p2, v128.load(v2 + d)), f32x4.mul(p3, v128.load(v3 + d)))));
        v128.store(o + d, acc);
      }
      const f0 = f32x4.extract_lane(p0, 0), f1 = f32x4.extract_lane(p1, 0), f2 = f32x4.extract_lane(p2, 0), f3 = f32x4.extract_lane(p3, 0);
      for (; i < Dh; i++) {
        const d = <usize>i << 2;
        store<f32>(o + d, load<f32>(o + d) + (f0 * load<f32>(v0 + d) + f1 * load<f32>(v1 + d) + (f2 * load<f32>(v2 + d) + f3 * load<f32>(v3 + d))));
      }
    }
    for (; s < L; s++) {
      const f = load<f32>(sc + (<usize>s << 2)) * inv;
      const pf = f32x4.splat(f);
      const v0 = vb + <usize>s * rb;
      let i = 0;
      for (; i + 4 <= Dh; i += 4) { const d = <usize>i << 2; v128.store(o + d, f32x4.add(v128.load(o + d), f32x4.mul(pf, v128.load(v0 + d)))); }
      for (; i < Dh; i++) { const d = <usize>i << 2; store<f32>(o + d, load<f32>(o + d) + f * load<f32>(v0 + d)); }
    }
  }
}

// ---- selection ----------------------------------------------------------------------------------------

// Per lane: strictly-greater keeps the earliest index and never lets NaN win (a lane with index −1 has
// seen only NaN, so −Inf still enters it); lanes merge by value, then lowest index.
export function argmaxRows(x: usize, out: usize, V: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const p = x + (<usize>r * V << 2);
    let best = f32x4.splat(-Infinity);
    let bi = i32x4.splat(-1);
    let idx = i32x4(0, 1, 2, 3);
    const four = i32x4.splat(4);
    const none = i32x4.splat(-1);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const v = v128.load(p + (<usize>i << 2));
      const take = v128.or(f32x4.gt(v, best), v128.and(i32x4.eq(bi, none), f32x4.eq(v, v)));
      best = v128.bitselect(v, best, take);
      bi = v128.bitselect(idx, bi, take);
      idx = i32x4.add(idx, four);
    }
    let bv: f32 = -Infinity;
    let b = -1;
    const lv0 = f32x4.extract_lane(best, 0), lv1 = f32x4.extract_lane(best, 1);
    const lv2 = f32x4.extract_lane(best, 2), lv3 = f32x4.extract_lane(best, 3);
    const li0 = i32x4.extract_lane(bi, 0), li1 = i32x4.extract_lane(bi, 1);
    const li2 = i32x4.extract_lane(bi, 2), li3 = i32x4.extract_lane(bi, 3);
    for (let l = 0; l < 4; l++) {
      const lv = l == 0 ? lv0 : l == 1 ? lv1 : l == 2 ? lv2 : lv3;
      const li = l == 0 ? li0 : l == 1 ? li1 : l == 2 ? li2 : li3;
      if (li < 0) continue;
      if (b < 0 || lv > bv || (lv == bv && li < b)) { bv = lv; b = li; }
    }
    for (; i < V; i++) {
      const v = load<f32>(p + (<usize>i << 2));
      if (v > bv || (b < 0 && v == v)) { bv = v; b = i; }
    }
    store<i32>(out + (<usize>r << 2), b < 0 ? 0 : b);
  }
}

// Order used by top-k: a ranks below b when a's value is smaller (NaN lowest), or equal with a larger index.
@inline function below(av: f32, ai: i32, bv: f32, bi: i32): bool {
  if (av != av) return bv == bv || ai > bi;
  if (bv != bv) return false;
  return av < bv || (av == bv && ai > bi);
}

// A min-heap (by `below`) of the k best entries: f32 values at hv, i32 indices at hi.
@inline function siftDown(hv: usize, hi: usize, n: i32, i0: i32): void {
  let i = i0;
  const v = load<f32>(hv + (<usize>i << 2));
  const x = load<i32>(hi + (<usize>i << 2));
  while (true) {
    let c = 2 * i + 1;
    if (c >= n) break;
    const cv = load<f32>(hv + (<usize>c << 2)), ci = load<i32>(hi + (<usize>c << 2));
    let mv = cv, mi = ci;
    if (c + 1 < n) {
      const rv = load<f32>(hv + (<usize>(c + 1) << 2)), ri = load<i32>(hi + (<usize>(c + 1) << 2));
      if (below(rv, ri, cv, ci)) { c = c + 1; mv = rv; mi = ri; }
    }
    if (!below(mv, mi, v, x)) break;
    store<f32>(hv + (<usize>i << 2), mv);
    store<i32>(hi + (<usize>i << 2), mi);
    i = c;
  }
  store<f32>(hv + (<usize>i << 2), v);
  store<i32>(hi + (<usize>i << 2), x);
}

export function topkRows(x: usize, vals: usize, inds: usize, V: i32, k: i32, heap: usize, r0: i32, r1: i32): void {
  const hv = heap, hi = heap + (<usize>k << 2);
  for (let r = r0; r < r1; r++) {
    const p = x + (<usize>r * V << 2);
    for (let i = 0; i < k; i++) {
      store<f32>(hv + (<usize>i << 2), load<f32>(p + (<usize>i << 2)));
      store<i32>(hi + (<usize>i << 2), i);
    }
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(hv, hi, k, i);
    for (let i = k; i < V; i++) {
      const v = load<f32>(p + (<usize>i << 2));
      // later indices never beat an equal value, so only strictly better (or non-NaN over NaN) enter
      if (below(load<f32>(hv), load<i32>(hi), v, i)) {
        store<f32>(hv, v);
        store<i32>(hi, i);
        siftDown(hv, hi, k, 0);
      }
    }
    // pop the worst to the back: the output comes out best first
    const ov = vals + (<usize>r * k << 2), oi = inds + (<usize>r * k << 2);
    for (let n = k; n > 0; n--) {
      store<f32>(ov + (<usize>(n - 1) << 2), load<f32>(hv));
      store<i32>(oi + (<usize>(n - 1) << 2), load<i32>(hi));
      store<f32>(hv, load<f32>(hv + (<usize>(n - 1) << 2)));
      store<i32>(hi, load<i32>(hi + (<usize>(n - 1) << 2)));
      siftDown(hv, hi, n - 1, 0);
    }
  }
}
