import type { KernelDef } from '../kernel-def.js';
import type { QuantBits } from '../../../quant/layout.js';

/** Output tile BM×BN per 256-invocation workgroup, K stepped by BK, each invocation a TM×TN register block. */
export interface MatmulTile {
  readonly bm: number;
  readonly bn: number;
  readonly bk: number;
  readonly tm: number;
  readonly tn: number;
}

export const TILE_LARGE: MatmulTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
export const TILE_SMALL: MatmulTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
/** For the quantized B operand: BK = 32 is one block of codes, so a tile never straddles a group. */
export const TILE_QUANT: MatmulTile = { bm: 64, bn: 64, bk: 32, tm: 4, tn: 4 };

/** How B is read: [K, N], [N, K] (transB), or a packed quantized [N, K] (layout.ts) dequantized on load. */
export type MatmulB =
  | { readonly kind: 'kn' | 'nk' }
  /** Group size and symmetry are uniforms (gs, asym); mins is bound to scales when symmetric. */
  | { readonly kind: 'q'; readonly bits: QuantBits };

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function codeFn(bits: QuantBits): string {
  if (bits === 3) {
    return `fn code(n: u32, k: u32) -> u32 {
  let base = n * p.wpr + (k >> 5u) * 3u;
  let t = k & 31u;
  return ((wq[base + (t >> 4u)] >> ((t & 15u) * 2u)) & 3u) | (((wq[base + 2u] >> t) & 1u) << 2u);
}`;
  }
  const per = 32 / bits;
  return `fn code(n: u32, k: u32) -> u32 { return (wq[n * p.wpr + k / ${per}u] >> ((k % ${per}u) * ${bits}u)) & ${(1 << bits) - 1}u; }`;
}

/**
 * C [batch, M, N] = A [batch, M, K] · B, tiled through workgroup memory (A tile stored k-major so each
 * invocation reads its TM rows as vec4s, B likewise for TN columns); invocation (tx, ty) owns rows
 * ty·4 + g·(BM/(TM/4)) … and columns tx·4 + g·(BN/(TN/4)) …, which keeps vec4 reads of the B tile conflict-free.
 * Zero-padded edges make any M, N, K work. Grid: x = N tiles, y = M tiles (offset mt0), z = batch (offset b0).
 */
export function matmulKernel(tile: MatmulTile, b: MatmulB, aVec4: boolean, bVec4: boolean): KernelDef {
  const { bm, bn, bk, tm, tn } = tile;
  const nx = bn / tn;
  const ny = bm / tm;
  if (nx * ny !== 256 || tm % 4 !== 0 || tn % 4 !== 0) throw new Error(`bad matmul tile ${JSON.stringify(tile)}`);
  const q = b.kind === 'q';
  const gm = tm / 4;
  const gn = tn / 4;
  const bDecl = q
    ? `@group(0) @binding(2) var<storage, read> wq: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read> mins: array<u32>;`
    : `@group(0) @binding(2) var<storage, read> ${bVec4 ? 'b4: array<vec4<f32>>' : 'b1: array<f32>'};`;
  const outBinding = q ? 5 : 3;

  // A tile [BM rows, BK] → As[kk][row] (k-major)
  const loadA = aVec4
    ? `for (var i = lid; i < ${(bm * bk) / 4}u; i = i + 256u) {
      let r = i / ${bk / 4}u;
      let kk = (i % ${bk / 4}u) * 4u;
      let gr = m0 + r;
      var v = vec4<f32>(0.0);
      if (gr < p.m && k0 + kk < p.k) { v = a4[(aOff + gr * p.k + k0 + kk) / 4u]; }
      As[(kk * ${bm}u + r) / 4u][r % 4u] = v.x;
      As[((kk + 1u) * ${bm}u + r) / 4u][r % 4u] = v.y;
      As[((kk + 2u) * ${bm}u + r) / 4u][r % 4u] = v.z;
      As[((kk + 3u) * ${bm}u + r) / 4u][r % 4u] = v.w;
    }`
    : `for (var i = lid; i < ${bm * bk}u; i = i + 256u) {
      let r = i / ${bk}u;
      let kk = i % ${bk}u;
      let gr = m0 + r;
      var v = 0.0;
      if (gr < p.m && k0 + kk < p.k) { v = a1[aOff + gr * p.k + k0 + kk]; }
      As[(kk * ${bm}u + r) / 4u][r % 4u] = v;
    }`;

  let loadB: string;
  if (b.kind === 'kn') {
    loadB = bVec4
      ? `for (var i = lid; i < ${(bk * bn) / 4}u; i = i + 256u) {
      let kk = i / ${bn / 4}u;
      let c = (i % ${bn / 4}u) * 4u;
      var v = vec4<f32>(0.0);
      if (k0 + kk < p.k && n0 + c < p.n) { v = b4[(bOff + (k0 + kk) * p.n + n0 + c) / 4u]; }
      Bs[(kk * ${bn}u + c) / 4u] = v;
    }`
      : `for (var i = lid; i < ${bk * bn}u; i = i + 256u) {
      let kk = i / ${bn}u;
      let c = i % ${bn}u;
      var v = 0.0;
      if (k0 + kk < p.k && n0 + c < p.n) { v = b1[bOff + (k0 + kk) * p.n + n0 + c]; }
      Bs[(kk * ${bn}u + c) / 4u][c % 4u] = v;
    }`;
  } else if (b.kind === 'nk') {
    loadB = bVec4
      ? `for (var i = lid; i < ${(bk * bn) / 4}u; i = i + 256u) {
      let c = i / ${bk / 4}u;
      let kk = (i % ${bk / 4}u) * 4u;
      var v = vec4<f32>(0.0);
      if (n0 + c < p.n && k0 + kk < p.k) { v = b4[(bOff + (n0 + c) * p.k + k0 + kk) / 4u]; }
      Bs[(kk * ${bn}u + c) / 4u][c % 4u] = v.x;
      Bs[((kk + 1u) * ${bn}u + c) / 4u][c % 4u] = v.y;
      Bs[((kk + 2u) * ${bn}u + c) / 4u][c % 4u] = v.z;
      Bs[((kk + 3u) * ${bn}u + c) / 4u][c % 4u] = v.w;
    }`
      : `for (var i = lid; i < ${bk * bn}u; i = i + 256u) {
      let c = i / ${bk}u;
      let kk = i % ${bk}u;
      var v = 0.0;
      if (n0 + c < p.n && k0 + kk < p.k) { v = b1[bOff + (n0 + c) * p.k + k0 + kk]; }
      Bs[(kk * ${bn}u + c) / 4u][c % 4u] = v;
    }`;
  } else {
    const qb = b as Extract<MatmulB, { kind: 'q' }>;
    const gpr = '(p.k / p.gs)';
    loadB = `for (var i = lid; i < ${bk * bn}u; i = i + 256u) {
      let c = i / ${bk}u;
      let kk = i % ${bk}u;
      let gn = n0 + c;
      let gk = k0 + kk;
      var v = 0.0;
      if (gn < p.n && gk < p.k) {
        let gi = gn * ${gpr} + gk / p.gs;
        let sw = unpack2x16float(scales[gi >> 1u]);
        let s = select(sw.x, sw.y, (gi & 1u) == 1u);
        if (p.asym != 0u) {
          let mw = unpack2x16float(mins[gi >> 1u]);
          v = f32(code(gn, gk)) * s + select(mw.x, mw.y, (gi & 1u) == 1u);
        } else {
          v = (f32(code(gn, gk)) - ${1 << (qb.bits - 1)}.0) * s;
        }
      }
      Bs[(kk * ${bn}u + c) / 4u][c % 4u] = v;
    }`;
  }

  const accDecl = range(tm).map((i) => `var c${i}: array<f32, ${tn}>;`).join(' ');
  const inner = `for (var kk = 0u; kk < ${bk}u; kk = kk + 1u) {
      ${range(gm).map((g) => `let a${g} = As[kk * ${bm / 4}u + ty + ${g * ny}u];`).join(' ')}
      ${range(gn).map((g) => `let b${g} = Bs[kk * ${bn / 4}u + tx + ${g * nx}u];`).join(' ')}
      ${range(tm).map((i) => range(tn).map((j) => `c${i}[${j}] = fma(a${i >> 2}[${i & 3}], b${j >> 2}[${j & 3}], c${i}[${j}]);`).join(' ')).join('\n      ')}
    }`;
  const store = range(tm).map((i) => {
    const row = `m0 + (ty + ${(i >> 2) * ny}u) * 4u + ${i & 3}u`;
    return `{ let r = ${row}; if (r < p.m) {
    ${range(tn).map((j) => `{ let cc = n0 + (tx + ${(j >> 2) * nx}u) * 4u + ${j & 3}u; if (cc < p.n) { out[cOff + r * p.n + cc] = c${i}[${j}]; } }`).join(' ')}
  } }`;
  }).join('\n  ');

  const key = `matmul:${bm}x${bn}x${bk}:${tm}x${tn}:${q ? `q${b.bits}` : b.kind}:${aVec4 ? 4 : 1}${bVec4 ? 4 : 1}`;
  return {
    key,
    bindings: [...Array<'read'>(outBinding - 1).fill('read'), 'rw'],
    code: /* wgsl */ `
struct P { m: u32, n: u32, k: u32, wpr: u32, strideA: u32, strideB: u32, strideC: u32, mt0: u32, b0: u32, gs: u32, asym: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> ${aVec4 ? 'a4: array<vec4<f32>>' : 'a1: array<f32>'};
${bDecl}
@group(0) @binding(${outBinding}) var<storage, read_write> out: array<f32>;
var<workgroup> As: array<vec4<f32>, ${(bk * bm) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(bk * bn) / 4}>;
${q ? codeFn(b.bits) : ''}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid % ${nx}u;
  let ty = lid / ${nx}u;
  let batch = wid.z + p.b0;
  let m0 = (wid.y + p.mt0) * ${bm}u;
  let n0 = wid.x * ${bn}u;
  let aOff = batch * p.strideA;
  let bOff = batch * p.strideB;
  let cOff = batch * p.strideC;
  ${accDecl}
  for (var k0 = 0u; k0 < p.k; k0 = k0 + ${bk}u) {
    ${loadA}
    ${loadB}
    workgroupBarrier();
    ${inner}
    workgroupBarrier();
  }
  ${store}
}
`,
  };
}
