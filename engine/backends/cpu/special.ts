/**
 * Special functions of the reference backend, in f64 and accurate to ~1e-15 so that the oracle's own
 * error is negligible next to any f32 backend (polynomial fits such as Abramowitz–Stegun 7.1.26, good to
 * only ~1e-7, would be indistinguishable from the bugs the parity tests look for).
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);
const SQRT_TWO_OVER_PI = Math.sqrt(2 / Math.PI);
const SQRT_HALF = Math.SQRT1_2;

/** erfc(x) for x ≥ 3 by its continued fraction, evaluated bottom-up (converges fast for large x). */
function erfcLarge(x: number): number {
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  let f = x;
  for (let n = 120; n >= 1; n--) f = x + n / 2 / f;
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / f;
}

/** The error function, |error| < 1e-15 over the whole real line. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    // erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): all terms positive, no cancellation.
    const x2 = 2 * ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= x2 / (2 * n + 1);
      sum += term;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
  } else if (ax < 27) {
    r = 1 - erfcLarge(ax);
  } else {
    r = 1;
  }
  return x < 0 ? -r : r;
}

/** x · Φ(x) = 0.5 · x · (1 + erf(x / √2)); uses erfc on the far negative side to keep relative accuracy. */
export function geluErf(x: number): number {
  const z = x * SQRT_HALF;
  if (z < -3) return 0.5 * x * erfcLarge(-z);
  return 0.5 * x * (1 + erf(z));
}

/** The tanh approximation of GELU (GPT-2, "gelu_new" / "gelu_pytorch_tanh"). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_TWO_OVER_PI * (x + 0.044715 * x * x * x)));
}

/** x · sigmoid(x), written so that neither branch overflows. */
export function silu(x: number): number {
  if (x >= 0) return x / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return (x * e) / (1 + e);
}
