/**
 * Complex FFT of any length by mixed-radix Cooley–Tukey (decimation in time over the smallest prime
 * factor at each level): O(n · Σ factors), e.g. Whisper's n = 400 = 2⁴ · 5². Double precision.
 */
export class Fft {
  readonly n: number;
  // twiddles e^{−2πik/n}, k = 0 … n − 1
  #cos: Float64Array;
  #sin: Float64Array;
  #scratchRe: Float64Array;
  #scratchIm: Float64Array;

  constructor(n: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`FFT length must be a positive integer, got ${n}`);
    this.n = n;
    this.#cos = new Float64Array(n);
    this.#sin = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.#cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.#sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    this.#scratchRe = new Float64Array(n);
    this.#scratchIm = new Float64Array(n);
  }

  /** In place: (re, im) ← DFT(re, im). */
  transform(re: Float64Array, im: Float64Array): void {
    this.#rec(re, im, 0, 1, this.n, this.#scratchRe, this.#scratchIm, 0);
    // #rec leaves its result in the scratch arrays
    re.set(this.#scratchRe);
    im.set(this.#scratchIm);
  }

  /**
   * DFT of the n/stride-long sequence x[off + j·stride] written to out[o … o + m − 1]. `m` is its length;
   * twiddles for length m are the table's entries at multiples of n/m.
   */
  #rec(xr: Float64Array, xi: Float64Array, off: number, stride: number, m: number, outR: Float64Array, outI: Float64Array, o: number): void {
    if (m === 1) {
      outR[o] = xr[off]!;
      outI[o] = xi[off]!;
      return;
    }
    let p = 2;
    while (m % p !== 0 && p * p <= m) p++;
    if (m % p !== 0) p = m;
    const q = m / p;
    // sub-transforms r = 0 … p − 1 of x[off + (j·p + r)·stride] land at out[o + r·q …]
    for (let r = 0; r < p; r++) this.#rec(xr, xi, off + r * stride, stride * p, q, outR, outI, o + r * q);
    const step = this.n / m;
    const tr = new Float64Array(p);
    const ti = new Float64Array(p);
    for (let k = 0; k < q; k++) {
      for (let r = 0; r < p; r++) {
        tr[r] = outR[o + r * q + k]!;
        ti[r] = outI[o + r * q + k]!;
      }
      for (let s = 0; s < p; s++) {
        const kk = k + s * q;
        let sr = 0;
        let si = 0;
        for (let r = 0; r < p; r++) {
          const idx = ((r * kk) % m) * step;
          const c = this.#cos[idx]!;
          const sn = this.#sin[idx]!;
          sr += tr[r]! * c - ti[r]! * sn;
          si += tr[r]! * sn + ti[r]! * c;
        }
        outR[o + kk] = sr;
        outI[o + kk] = si;
      }
    }
  }
}
