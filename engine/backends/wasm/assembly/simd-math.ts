// Vectorised f32 math shared by the kernels. Scalar tails call the same functions on a splat so that
// every element of a tensor goes through identical arithmetic.

@inline export function hsum(v: v128): f32 {
  const t = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  const u = f32x4.add(t, v128.shuffle<f32>(t, t, 1, 0, 3, 2));
  return f32x4.extract_lane(u, 0);
}

@inline export function hmax(v: v128): f32 {
  const t = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  const u = f32x4.max(t, v128.shuffle<f32>(t, t, 1, 0, 3, 2));
  return f32x4.extract_lane(u, 0);
}

// Cephes expf: n = round(x·log2 e), r = x − n·ln 2 in two parts, degree-6 polynomial, 2^n via the
// exponent bits. Inputs below −87.3 flush to 0 (keeps −Inf masks exact); above 88 saturate; NaN stays NaN.
export function expv(x0: v128): v128 {
  const x = f32x4.min(f32x4.max(x0, f32x4.splat(-87.3)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.add(r, f32x4.mul(n, f32x4.splat(2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  const e = f32x4.mul(y, pow2);
  return v128.andnot(e, f32x4.lt(x0, f32x4.splat(-87.3)));
}

// tanh(u) = 1 − 2 / (e^{2u} + 1): exact limits ±1, absolute error ~1e-7.
@inline export function tanhv(u: v128): v128 {
  const e = expv(f32x4.add(u, u));
  return f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
}

// Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7), odd extension for x < 0.
export function erfv(x: v128): v128 {
  const a = f32x4.abs(x);
  const t = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), f32x4.mul(a, f32x4.splat(0.3275911))));
  let p = f32x4.splat(1.061405429);
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(-1.453152027));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(1.421413741));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(-0.284496736));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(0.254829592));
  p = f32x4.mul(p, t);
  const e = expv(f32x4.neg(f32x4.mul(a, a)));
  const y = f32x4.sub(f32x4.splat(1.0), f32x4.mul(p, e));
  // copy the sign of x onto y
  return v128.or(v128.and(y, i32x4.splat(0x7fffffff)), v128.and(x, i32x4.splat(0x80000000)));
}

// IEEE half → f32, exact for normals, subnormals, ±Inf and NaN (magic-multiply by 2^112).
@inline export function h2f(h: u32): f32 {
  const mag = (h & 0x7fff) << 13;
  let f = reinterpret<f32>(mag) * reinterpret<f32>(0x77800000);
  if ((h & 0x7c00) == 0x7c00) f = reinterpret<f32>(mag | 0x7f800000);
  return (h & 0x8000) != 0 ? -f : f;
}

@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum(f32x4.add(s0, s1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/** Splits `total` units over `workers`: the first unit of `worker`. */
@inline export function part(total: i32, worker: i32, workers: i32): i32 {
  return <i32>((<i64>total * <i64>worker) / <i64>workers);
}
