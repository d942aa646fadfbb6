import { hsum, dot } from './simd-math';

// w [N, K] · x [K] → out [N], rows r0 … r1. Four rows share each load of x; two accumulators per row
// hide the add latency. Memory-bound: every weight byte is read once.
export function matvecRows(w: usize, x: usize, out: usize, K: i32, r0: i32, r1: i32): void {
  const rb = <usize>K << 2;
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const w0 = w + <usize>r * rb;
    const w1 = w0 + rb;
    const w2 = w1 + rb;
    const w3 = w2 + rb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const o = <usize>k << 2;
      const xa = v128.load(x + o);
      const xb = v128.load(x + o, 16);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(w0 + o), xa));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(w1 + o), xa));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(w2 + o), xa));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(w3 + o), xa));
      b0 = f32x4.add(b0, f32x4.mul(v128.load(w0 + o, 16), xb));
      b1 = f32x4.add(b1, f32x4.mul(v128.load(w1 + o, 16), xb));
      b2 = f32x4.add(b2, f32x4.mul(v128.load(w2 + o, 16), xb));
      b3 = f32x4.add(b3, f32x4.mul(v128.load(w3 + o, 16), xb));
    }
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const xa = v128.load(x + o);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(w0 + o), xa));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(w1 + o), xa));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(w2 + o), xa));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(w3 + o), xa));
    }
    let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1));
    let s2 = hsum(f32x4.add(a2, b2)), s3 = hsum(f32x4.add(a3, b3));
    for (; k < K; k++) {
      const o = <usize>k << 2;
      const xv = load<f32>(x + o);
      s0 += load<f32>(w0 + o) * xv;
      s1 += load<f32>(w1 + o) * xv;
      s2 += load<f32>(w2 + o) * xv;
      s3 += load<f32>(w3 + o) * xv;
    }
    const op = out + (<usize>r << 2);
    store<f32>(op, s0);
    store<f32>(op, s1, 4);
    store<f32>(op, s2, 8);
    store<f32>(op, s3, 12);
  }
  for (; r < r1; r++) store<f32>(out + (<usize>r << 2), dot(w + <usize>r * rb, x, K));
}

// C[i, j…j+7] += A[i, k] · B[k, j…j+7] for 4 rows: B row segment loaded once, A broadcast from memory.
@inline function tile4x8(A: usize, B: usize, C: usize, K: i32, lda: usize, ldb: usize, ldc: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = A, a1 = A + lda, a2 = A + 2 * lda, a3 = A + 3 * lda, bp = B;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    const x3 = v128.load32_splat(a3);
    c00 = f32x4.add(c00, f32x4.mul(x0, b0)); c01 = f32x4.add(c01, f32x4.mul(x0, b1));
    c10 = f32x4.add(c10, f32x4.mul(x1, b0)); c11 = f32x4.add(c11, f32x4.mul(x1, b1));
    c20 = f32x4.add(c20, f32x4.mul(x2, b0)); c21 = f32x4.add(c21, f32x4.mul(x2, b1));
    c30 = f32x4.add(c30, f32x4.mul(x3, b0)); c31 = f32x4.add(c31, f32x4.mul(x3, b1));
    a0 += 4; a1 += 4; a2 += 4; a3 += 4; bp += ldb;
  }
  v128.store(C, c00); v128.store(C, c01, 16);
  v128.store(C + ldc, c10); v128.store(C + ldc, c11, 16);
  v128.store(C + 2 * ldc, c20); v128.store(C + 2 * ldc, c21, 16);
  v128.store(C + 3 * ldc, c30); v128.store(C + 3 * ldc, c31, 16);
}

@inline function tile1x8(A: usize, B: usize, C: usize, K: i32, ldb: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let a0 = A, bp = B;
  for (let k = 0; k < K; k++) {
    const x0 = v128.load32_splat(a0);
    c0 = f32x4.add(c0, f32x4.mul(x0, v128.load(bp)));
    c1 = f32x4.add(c1, f32x4.mul(x0, v128.load(bp, 16)));
    a0 += 4; bp += ldb;
  }
  v128.store(C, c0); v128.store(C, c1, 16);
}

@inline function tile1x4(A: usize, B: usize, C: usize, K: i32, ldb: usize): void {
  let c0 = f32x4.splat(0);
  let a0 = A, bp = B;
  for (let k = 0; k < K; k++) {
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a0), v128.load(bp)));
    a0 += 4; bp += ldb;
  }
  v128.store(C, c0);
}

@inline function cell(A: usize, B: usize, C: usize, K: i32, ldb: usize): void {
  let s: f32 = 0;
  let a0 = A, bp = B;
  for (let k = 0; k < K; k++) {
    s += load<f32>(a0) * load<f32>(bp);
    a0 += 4; bp += ldb;
  }
  store<f32>(C, s);
}

// One matrix: A [M, K] · B [K, N] → C [M, N] over rows i0…i1 and columns j0…j1. Rows are taken in
// blocks of 32 so a block of A stays in L2 while 8-column panels of B (K × 32 bytes) sit in L1.
export function matmulBlock(A: usize, B: usize, C: usize, K: i32, N: i32, i0: i32, i1: i32, j0: i32, j1: i32): void {
  const lda = <usize>K << 2;
  const ldb = <usize>N << 2;
  const ldc = ldb;
  for (let ib = i0; ib < i1; ib += 32) {
    const ie = min(ib + 32, i1);
    let j = j0;
    for (; j + 8 <= j1; j += 8) {
      const bj = B + (<usize>j << 2);
      let i = ib;
      for (; i + 4 <= ie; i += 4) tile4x8(A + <usize>i * lda, bj, C + <usize>i * ldc + (<usize>j << 2), K, lda, ldb, ldc);
      for (; i < ie; i++) tile1x8(A + <usize>i * lda, bj, C + <usize>i * ldc + (<usize>j << 2), K, ldb);
    }
    for (; j + 4 <= j1; j += 4) {
      for (let i = ib; i < ie; i++) tile1x4(A + <usize>i * lda, B + (<usize>j << 2), C + <usize>i * ldc + (<usize>j << 2), K, ldb);
    }
    for (; j < j1; j++) {
      for (let i = ib; i < ie; i++) cell(A + <usize>i * lda, B + (<usize>j << 2), C + <usize>i * ldc + (<usize>j << 2), K, ldb);
    }
  }
}

// A [M, K] · B [N, K]ᵀ → C [M, N]: dot products of rows, 4 rows of A × 2 rows of B per tile.
export function matmulTransBBlock(A: usize, B: usize, C: usize, K: i32, N: i32, i0: i32, i1: i32, j0: i32, j1: i32): void {
  const ld = <usize>K << 2;
  const ldc = <usize>N << 2;
  const K4 = K & ~3;
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const a0 = A + <usize>i * ld, a1 = a0 + ld, a2 = a1 + ld, a3 = a2 + ld;
    let j = j0;
    for (; j + 2 <= j1; j += 2) {
      const b0 = B + <usize>j * ld, b1 = b0 + ld;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const y0 = v128.load(b0 + o), y1 = v128.load(b1 + o);
        const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o), x2 = v128.load(a2 + o), x3 = v128.load(a3 + o);
        c00 = f32x4.add(c00, f32x4.mul(x0, y0)); c01 = f32x4.add(c01, f32x4.mul(x0, y1));
        c10 = f32x4.add(c10, f32x4.mul(x1, y0)); c11 = f32x4.add(c11, f32x4.mul(x1, y1));
        c20 = f32x4.add(c20, f32x4.mul(x2, y0)); c21 = f32x4.add(c21, f32x4.mul(x2, y1));
        c30 = f32x4.add(c30, f32x4.mul(x3, y0)); c31 = f32x4.add(c31, f32x4.mul(x3, y1));
      }
      let s00 = hsum(c00), s01 = hsum(c01), s10 = hsum(c10), s11 = hsum(c11);
      let s20 = hsum(c20), s21 = hsum(c21), s30 = hsum(c30), s31 = hsum(c31);
      for (let k = K4; k < K; k++) {
        const o = <usize>k << 2;
        const y0 = load<f32>(b0 + o), y1 = load<f32>(b1 + o);
        const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o), x2 = load<f32>(a2 + o), x3 = load<f32>(a3 + o);
        s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
        s20 += x2 * y0; s21 += x2 * y1; s30 += x3 * y0; s31 += x3 * y1;
      }
      const c = C + <usize>i * ldc + (<usize>j << 2);
      store<f32>(c, s00); store<f32>(c, s01, 4);
      store<f32>(c + ldc, s10); store<f32>(c + ldc, s11, 4);
      store<f32>(c + 2 * ldc, s20); store<f32>(c + 2 * ldc, s21, 4);
      store<f32>(c + 3 * ldc, s30); store<f32>(c + 3 * ldc, s31, 4);
    }
    for (; j < j1; j++) {
      const b0 = B + <usize>j * ld;
      const c = C + <usize>i * ldc + (<usize>j << 2);
      store<f32>(c, dot(a0, b0, K));
      store<f32>(c + ldc, dot(a1, b0, K));
      store<f32>(c + 2 * ldc, dot(a2, b0, K));
      store<f32>(c + 3 * ldc, dot(a3, b0, K));
    }
  }
  for (; i < i1; i++) {
    const a0 = A + <usize>i * ld;
    for (let j = j0; j < j1; j++) store<f32>(C + <usize>i * ldc + (<usize>j << 2), dot(a0, B + <usize>j * ld, K));
  }
}
