import type { KernelDef } from '../kernel-def.js';
import type { QuantBits } from '../../../quant/layout.js';

/**
 * How a matvec workgroup of 256 invocations is cut: `tpr` invocations share one row slot (256 / tpr slots) and
 * each slot computes `rows` consecutive rows, so x is loaded once per unit and used `rows` times.
 */
export interface MatvecShape {
  readonly tpr: number;
  readonly rows: number;
  /** Reduce with subgroupAdd (needs the `subgroups` feature) instead of a workgroup tree. */
  readonly subgroups: boolean;
}

export type MatvecWeights =
  | { readonly kind: 'f32'; readonly vec4: boolean }
  /** Group size and symmetry are uniforms (one pipeline per bit width); mins is bound to scales when symmetric. */
  | { readonly kind: 'q'; readonly bits: QuantBits };

/** Units of work per row: vec4s or scalars of K for f32, blocks of 32 codes for quantized weights. */
export function matvecUnits(w: MatvecWeights, k: number): number {
  return w.kind === 'q' ? k / 32 : w.vec4 ? k / 4 : k;
}

export function matvecRowsPerGroup(s: MatvecShape): number {
  return (256 / s.tpr) * s.rows;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** WGSL adding the contribution of unit `b` of row `n` to `acc`: x already loaded into X (and xsum). */
function unitBody(w: MatvecWeights, r: number): string {
  const acc = `acc${r}`;
  const n = `n${r}`;
  if (w.kind === 'f32') return w.vec4 ? `${acc} = ${acc} + dot(w4[${n} * NB + b], X);` : `${acc} = ${acc} + w1[${n} * NB + b] * X;`;
  const scale = `let gi${r} = ${n} * (NB / p.gpb) + b / p.gpb;
      let sw${r} = unpack2x16float(scales[gi${r} >> 1u]);
      let s${r} = select(sw${r}.x, sw${r}.y, (gi${r} & 1u) == 1u);
      var off${r} = ${-(1 << (w.bits - 1))}.0 * s${r};
      if (p.asym != 0u) {
        let mw${r} = unpack2x16float(mins[gi${r} >> 1u]);
        off${r} = select(mw${r}.x, mw${r}.y, (gi${r} & 1u) == 1u);
      }`;
  let dot = '';
  const q = `q${r}`;
  switch (w.bits) {
    case 4:
      // one vec4<u32> = 32 codes; word i holds codes 8i … 8i+7, nibble j at bits 4j
      dot = `let wv${r} = wq[${n} * NB + b];
      var ${q} = 0.0;
      ${range(4).map((i) => `${q} = ${q} + dot(codes(wv${r}[${i}], S4LO, 15u), X[${2 * i}]) + dot(codes(wv${r}[${i}], S4HI, 15u), X[${2 * i + 1}]);`).join('\n      ')}`;
      break;
    case 8:
      dot = `let wa${r} = wq[(${n} * NB + b) * 2u];
      let wb${r} = wq[(${n} * NB + b) * 2u + 1u];
      var ${q} = 0.0;
      ${range(8).map((i) => `${q} = ${q} + dot(codes(${i < 4 ? `wa${r}` : `wb${r}`}[${i % 4}], S8, 255u), X[${i}]);`).join('\n      ')}`;
      break;
    case 2:
      // word i holds codes 16i … 16i+15 at bits 2j; byte c of the word holds codes 4c … 4c+3
      dot = `let wv${r} = wq[${n} * NB + b];
      var ${q} = 0.0;
      ${range(8).map((c) => `${q} = ${q} + dot(codes(wv${r}[${c >> 2}], S2 + vec4<u32>(${(c % 4) * 8}u), 3u), X[${c}]);`).join('\n      ')}`;
      break;
    case 3:
      // words 0–1: low 2 bits of codes 0–15 / 16–31; word 2: bit 2 of code t at bit t
      dot = `let base${r} = (${n} * NB + b) * 3u;
      let l0${r} = vec4<u32>(wq[base${r}]);
      let l1${r} = vec4<u32>(wq[base${r} + 1u]);
      let h${r} = vec4<u32>(wq[base${r} + 2u]);
      var ${q} = 0.0;
      ${range(8).map((c) => `${q} = ${q} + dot(asFloat(((${c < 4 ? `l0${r}` : `l1${r}`} >> (S2 + vec4<u32>(${(c % 4) * 8}u))) & vec4<u32>(3u)) | (((h${r} >> (S1 + vec4<u32>(${4 * c}u))) & vec4<u32>(1u)) << vec4<u32>(2u))), X[${c}]);`).join('\n      ')}`;
      break;
  }
  // w = q · s + off with off = −2^(bits−1) · s (symmetric) or the group's min, so Σ w·x = s · Σ q·x + off · Σ x
  const combine = `${acc} = ${acc} + s${r} * ${q} + off${r} * xsum;`;
  return `{
      ${scale}
      ${dot}
      ${combine}
    }`;
}

/**
 * y [N] = w [N, K] · x [K] for f32 or packed quantized w (engine/quant/layout.ts, read in place: codes from
 * u32 words, f16 scales via unpack2x16float). Params: n, k, gpb = groupSize / 32 (blocks per group), asym. Rows past N are clamped reads whose results are dropped.
 */
export function matvecKernel(w: MatvecWeights, s: MatvecShape): KernelDef {
  const g = 256 / s.tpr;
  const rows = s.rows;
  const gr = g * rows;
  const q = w.kind === 'q';
  const wDecl = w.kind === 'f32'
    ? w.vec4 ? 'w4: array<vec4<f32>>' : 'w1: array<f32>'
    : w.bits === 4 || w.bits === 8 ? 'wq: array<vec4<u32>>' : w.bits === 2 ? 'wq: array<vec2<u32>>' : 'wq: array<u32>';
  const xLoad = q
    ? `var X: array<vec4<f32>, 8>;
    ${range(8).map((i) => `X[${i}] = x4[b * 8u + ${i}u];`).join(' ')}
    let xsum = dot((X[0] + X[1]) + (X[2] + X[3]) + ((X[4] + X[5]) + (X[6] + X[7])), vec4<f32>(1.0));`
    : w.vec4 ? 'let X = x4[b];' : 'let X = x1[b];';
  const bindings = q ? 5 : 3;
  const decls = q
    ? `@group(0) @binding(1) var<storage, read> ${wDecl};
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> mins: array<u32>;
@group(0) @binding(${bindings - 1}) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(${bindings}) var<storage, read_write> y: array<f32>;`
    : `@group(0) @binding(1) var<storage, read> ${wDecl};
@group(0) @binding(2) var<storage, read> ${w.vec4 ? 'x4: array<vec4<f32>>' : 'x1: array<f32>'};
@group(0) @binding(3) var<storage, read_write> y: array<f32>;`;
  const reduce = s.subgroups
    ? `${range(g).flatMap((sl) => range(rows).map((r) => `let v${sl}_${r} = subgroupAdd(select(0.0, acc${r}, slot == ${sl}u));`)).join('\n  ')}
  if (sgi == 0u) {
    let at = atomicAdd(&sgCount, 1u) * ${gr}u;
    ${range(g).flatMap((sl) => range(rows).map((r) => `sgRed[at + ${sl * rows + r}u] = v${sl}_${r};`)).join(' ')}
  }
  workgroupBarrier();
  let cnt = atomicLoad(&sgCount);
  if (lid < ${gr}u) {
    var sum = 0.0;
    for (var i = 0u; i < cnt; i = i + 1u) { sum = sum + sgRed[i * ${gr}u + lid]; }
    let row = wg * ${gr}u + lid;
    if (row < p.n) { y[row] = sum; }
  }`
    : `${range(rows).map((r) => `red[${r * 256}u + lid] = acc${r};`).join(' ')}
  workgroupBarrier();
  for (var st = ${s.tpr / 2}u; st > 0u; st = st >> 1u) {
    if (lane < st) {
      ${range(rows).map((r) => `red[${r * 256}u + lid] = red[${r * 256}u + lid] + red[${r * 256}u + lid + st];`).join(' ')}
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
    ${range(rows).map((r) => `if (row0 + ${r}u < p.n) { y[row0 + ${r}u] = red[${r * 256}u + lid]; }`).join(' ')}
  }`;
  const key = `matvec:${w.kind === 'f32' ? `f32:${w.vec4 ? 4 : 1}` : `q${w.bits}`}:${s.tpr}:${rows}:${s.subgroups ? 'sg' : 'wg'}`;
  return {
    key,
    bindings: [...Array<'read'>(bindings - 1).fill('read'), 'rw'],
    code: /* wgsl */ `${s.subgroups ? 'enable subgroups;' : ''}
struct P { n: u32, k: u32, gpb: u32, asym: u32 }
@group(0) @binding(0) var<uniform> p: P;
${decls}
const S4LO = vec4<u32>(0u, 4u, 8u, 12u);
const S4HI = vec4<u32>(16u, 20u, 24u, 28u);
const S8 = vec4<u32>(0u, 8u, 16u, 24u);
const S2 = vec4<u32>(0u, 2u, 4u, 6u);
const S1 = vec4<u32>(0u, 1u, 2u, 3u);
// Codes become floats by OR-ing them into the mantissa of 2^23 and subtracting 2^23 (exact): u32 → f32
// conversions run at a quarter of the FMA rate on NVIDIA and were the int4 GEMV's bottleneck.
fn asFloat(q: vec4<u32>) -> vec4<f32> { return bitcast<vec4<f32>>(q | vec4<u32>(0x4b000000u)) - vec4<f32>(8388608.0); }
fn codes(w: u32, shifts: vec4<u32>, mask: u32) -> vec4<f32> { return asFloat((vec4<u32>(w) >> shifts) & vec4<u32>(mask)); }
${s.subgroups ? `var<workgroup> sgCount: atomic<u32>;\nvar<workgroup> sgRed: array<f32, ${64 * gr}>;` : `var<workgroup> red: array<f32, ${256 * rows}>;`}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${s.subgroups ? ', @builtin(subgroup_invocation_id) sgi: u32' : ''}) {
  let NB = ${q ? 'p.k / 32u' : w.vec4 ? 'p.k / 4u' : 'p.k'};
  let wg = wid.x + wid.y * nwg.x;
  let slot = lid / ${s.tpr}u;
  let lane = lid % ${s.tpr}u;
  let row0 = (wg * ${g}u + slot) * ${rows}u;
  ${range(rows).map((r) => `let n${r} = min(row0 + ${r}u, p.n - 1u); var acc${r} = 0.0;`).join('\n  ')}
  for (var b = lane; b < NB; b = b + ${s.tpr}u) {
    ${xLoad}
    ${range(rows).map((r) => unitBody(w, r)).join('\n    ')}
  }
  ${reduce}
}
`,
  };
}
