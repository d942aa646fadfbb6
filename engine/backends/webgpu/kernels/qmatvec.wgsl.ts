import type { KernelDef } from '../kernel-def.js';
import type { QuantBits } from '../../../quant/layout.js';

/**
 * How the quantized GEMV cuts its work. A workgroup of `wg` invocations holds wg / tpr row slots; a slot's `tpr`
 * invocations split the K blocks (32 codes each) of `rows` consecutive rows, and each invocation takes `unroll`
 * blocks per loop turn, all their loads issued before any arithmetic so that unroll · rows loads are in flight.
 */
export interface QMatvecShape {
  readonly wg: number;
  readonly tpr: number;
  readonly rows: number;
  readonly unroll: number;
  /**
   * 0: reduce through workgroup memory. Otherwise subgroupAdd: −1 when subgroup sizes vary (each subgroup's
   * sum goes to workgroup memory), or the one subgroup size S, and when S = tpr lane 0 writes y directly.
   * Assumes what every driver does for a 1-d workgroup: subgroups are aligned runs of local_invocation_index.
   */
  readonly subgroup: number;
}

export interface QMatvecWeights {
  readonly bits: QuantBits;
  readonly symmetric: boolean;
}

export function qmatvecRowsPerGroup(s: QMatvecShape): number {
  return (s.wg / s.tpr) * s.rows;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The work split of both quantized GEMVs (this file and qmatvec-q8.wgsl.ts), as WGSL for the body of main():
 * `slots` row slots of `tpr` invocations a workgroup, `rows` consecutive rows a slot (n{r}, clamped to the last
 * row; acc{r} their sums), each invocation taking K's blocks of 32 codes `unroll` at a time — block b{u}, clamped
 * to the last one, with ok{u} false past the end — `turn` being the loads and math of one such turn. Defines NB
 * (blocks a row), GPR (groups a row), gsh (log2 blocks a group), grp, slot, lane and row0.
 */
export function gemvSplit(s: { tpr: number; rows: number; unroll: number; slots: number }, turn: string): string {
  const { tpr, rows, unroll, slots } = s;
  return `let NB = p.k / 32u;
  let gsh = countTrailingZeros(p.gpb);
  let GPR = NB >> gsh;
  let grp = wid.x + wid.y * nwg.x;
  let slot = lid / ${tpr}u;
  let lane = lid % ${tpr}u;
  let row0 = (grp * ${slots}u + slot) * ${rows}u;
  ${range(rows).map((r) => `let n${r} = min(row0 + ${r}u, p.n - 1u); var acc${r} = 0.0;`).join('\n  ')}
  let turns = (NB + ${tpr * unroll - 1}u) / ${tpr * unroll}u;
  for (var it = 0u; it < turns; it = it + 1u) {
    let base = it * ${tpr * unroll}u + lane;
    ${range(unroll).map((u) => `let bb${u} = base + ${u * tpr}u; let ok${u} = bb${u} < NB; let b${u} = min(bb${u}, NB - 1u);`).join('\n    ')}
    ${turn}
  }`;
}
const f = (v: number): string => (Number.isInteger(v) ? `${v}.0` : `${v}`);

/** 2^23 + c as the f32 whose bits are 0x4b000000 | c: codes OR-ed into that mantissa are exact integers. */
const MAGIC = 8388608;

/** The weight loads of one (row, block) unit: names W{r}_{u} (two vec4 for int8, three words for int3). */
function loadUnit(bits: QuantBits, r: number, u: number): string {
  const i = `n${r} * NB + b${u}`;
  switch (bits) {
    case 4:
    case 2:
      return `let W${r}_${u} = wq[${i}];`;
    case 8:
      return `let W${r}_${u} = wq[(${i}) * 2u]; let V${r}_${u} = wq[(${i}) * 2u + 1u];`;
    case 3:
      return `let W${r}_${u} = vec3<u32>(wq[(${i}) * 3u], wq[(${i}) * 3u + 1u], wq[(${i}) * 3u + 2u]);`;
  }
}

/**
 * WGSL computing D{r}_{u} = Σ (q − zero) · x over one block (zero = 2^(bits−1) when symmetric, else 0; the
 * asymmetric min term is added by the caller). x of the block is in X{u}[0..7] (vec4<f32>).
 *
 * A code OR-ed into the mantissa of 2^23 at bit position e gives 2^23 + q·2^e exactly; subtracting
 * 2^23 + zero·2^e leaves (q − zero)·2^e exactly. Taking codes where they already sit (e > 0) instead of
 * shifting each down saves integer instructions, which run at half the FMA rate on NVIDIA: the products
 * scaled by 2^e go to their own sum, scaled back once per block.
 */
function dotUnit(w: QMatvecWeights, r: number, u: number): string {
  const z = w.symmetric ? 1 << (w.bits - 1) : 0;
  const id = `${r}_${u}`;
  const X = `X${u}`;
  const cv = (expr: string, e: number): string => `bitcast<vec4<f32>>((${expr}) | vec4<u32>(0x4b000000u)) - vec4<f32>(${f(MAGIC + z * 2 ** e)})`;
  const lines: string[] = [];
  switch (w.bits) {
    case 4: {
      // word i holds codes 8i … 8i+7 (nibble j at bits 4j): t = w >> 4m has code 8i+m at bits 0–3 and 8i+4+m at 16–19
      lines.push(`var lo${id} = 0.0; var hi${id} = 0.0;`);
      for (const i of range(4)) {
        lines.push(`{ let t = vec4<u32>(W${id}[${i}]) >> vec4<u32>(0u, 4u, 8u, 12u);`);
        lines.push(`  let a = ${cv('t & vec4<u32>(0xfu)', 0)}; let c = ${cv('t & vec4<u32>(0xf0000u)', 16)};`);
        lines.push(`  ${range(4).map((m) => `lo${id} = fma(a.${'xyzw'[m]}, ${X}[${2 * i}].${'xyzw'[m]}, lo${id});`).join(' ')}`);
        lines.push(`  ${range(4).map((m) => `hi${id} = fma(c.${'xyzw'[m]}, ${X}[${2 * i + 1}].${'xyzw'[m]}, hi${id});`).join(' ')} }`);
      }
      lines.push(`let D${id} = fma(hi${id}, ${f(2 ** -16)}, lo${id});`);
      break;
    }
    case 8: {
      // word i (i < 4 in W, else V) holds codes 4i … 4i+3 in its bytes; byte 1 is taken at bit 8, bytes 2–3 after >> 16
      lines.push(`var lo${id} = 0.0; var hi${id} = 0.0;`);
      for (const [h, v] of [[0, `W${id}`], [1, `V${id}`]] as const) {
        lines.push(`{ let t = ${v} >> vec4<u32>(16u);`);
        lines.push(`  let a = ${cv(`${v} & vec4<u32>(0xffu)`, 0)}; let c = ${cv(`${v} & vec4<u32>(0xff00u)`, 8)};`);
        lines.push(`  let d = ${cv('t & vec4<u32>(0xffu)', 0)}; let e = ${cv('t & vec4<u32>(0xff00u)', 8)};`);
        lines.push(`  ${range(4).map((i) => `lo${id} = fma(a.${'xyzw'[i]}, ${X}[${4 * h + i}].x, lo${id}); lo${id} = fma(d.${'xyzw'[i]}, ${X}[${4 * h + i}].z, lo${id});`).join(' ')}`);
        lines.push(`  ${range(4).map((i) => `hi${id} = fma(c.${'xyzw'[i]}, ${X}[${4 * h + i}].y, hi${id}); hi${id} = fma(e.${'xyzw'[i]}, ${X}[${4 * h + i}].w, hi${id});`).join(' ')} }`);
      }
      lines.push(`let D${id} = fma(hi${id}, ${f(2 ** -8)}, lo${id});`);
      break;
    }
    case 2:
      // word i holds codes 16i … 16i+15 at bits 2j; byte c of the word holds codes 4c … 4c+3
      lines.push(`var D${id} = 0.0;`);
      for (const c of range(8)) {
        lines.push(`D${id} = D${id} + dot(${cv(`(vec4<u32>(W${id}[${c >> 2}]) >> vec4<u32>(${range(4).map((j) => `${(c % 4) * 8 + 2 * j}u`).join(', ')})) & vec4<u32>(3u)`, 0)}, ${X}[${c}]);`);
      }
      break;
    case 3:
      // words 0–1: low 2 bits of codes 0–15 / 16–31; word 2: bit 2 of code t at bit t
      lines.push(`var D${id} = 0.0;`);
      for (const c of range(8)) {
        const lo = `(vec4<u32>(W${id}[${c >> 2}]) >> vec4<u32>(${range(4).map((j) => `${(c % 4) * 8 + 2 * j}u`).join(', ')})) & vec4<u32>(3u)`;
        const hi = `((vec4<u32>(W${id}.z) >> vec4<u32>(${range(4).map((j) => `${4 * c + j}u`).join(', ')})) & vec4<u32>(1u)) << vec4<u32>(2u)`;
        lines.push(`D${id} = D${id} + dot(${cv(`(${lo}) | (${hi})`, 0)}, ${X}[${c}]);`);
      }
      break;
  }
  return lines.join('\n      ');
}

/**
 * y [N] = w [N, K] · x [K] for packed quantized w (engine/quant/layout.ts, read in place) with the zero point of
 * symmetric formats folded into the code conversion (no Σx per block). Params: n, k, gpb = groupSize / 32
 * (1, 2 or 4), asym (unused: symmetry is compiled in). Rows past N and blocks past K / 32 are clamped reads
 * whose results are dropped.
 */
export function qmatvecKernel(w: QMatvecWeights, s: QMatvecShape): KernelDef {
  const { wg, tpr, rows, unroll } = s;
  const g = wg / tpr;
  const gr = g * rows;
  const wDecl = w.bits === 4 || w.bits === 8 ? 'array<vec4<u32>>' : w.bits === 2 ? 'array<vec2<u32>>' : 'array<u32>';
  const U = range(unroll);
  const R = range(rows);
  const wLoads = U.flatMap((u) => R.map((r) => loadUnit(w.bits, r, u))).join('\n    ');
  // f16 scale (and min) of each unit's group; two halves per word, group gi in word gi >> 1
  const half = (buf: string, r: number, u: number): string =>
    `unpack2x16float(select(${buf}[gi${r}_${u} >> 1u], ${buf}[gi${r}_${u} >> 1u] >> 16u, (gi${r}_${u} & 1u) == 1u)).x`;
  const sLoads = U.flatMap((u) => R.map((r) => `let gi${r}_${u} = n${r} * GPR + (b${u} >> gsh); let s${r}_${u} = ${half('scales', r, u)};${w.symmetric ? '' : ` let m${r}_${u} = ${half('mins', r, u)};`}`)).join('\n    ');
  const xLoads = U.map((u) => `var X${u}: array<vec4<f32>, 8>;
    ${range(8).map((i) => `X${u}[${i}] = x4[b${u} * 8u + ${i}u];`).join(' ')}${w.symmetric ? '' : `
    let xs${u} = dot((X${u}[0] + X${u}[1]) + (X${u}[2] + X${u}[3]) + ((X${u}[4] + X${u}[5]) + (X${u}[6] + X${u}[7])), vec4<f32>(1.0));`}`).join('\n    ');
  const math = U.flatMap((u) => R.map((r) => {
    const id = `${r}_${u}`;
    const add = w.symmetric ? `fma(s${id}, D${id}, acc${r})` : `fma(m${id}, xs${u}, fma(s${id}, D${id}, acc${r}))`;
    return `{
      ${dotUnit(w, r, u)}
      acc${r} = select(acc${r}, ${add}, ok${u});
    }`;
  })).join('\n    ');

  let reduce: string;
  let shared: string;
  if (s.subgroup === tpr) {
    // one subgroup per slot: its lane 0 holds the row sums
    shared = '';
    reduce = `${R.map((r) => `let v${r} = subgroupAdd(acc${r});`).join(' ')}
  if (sgi == 0u) {
    ${R.map((r) => `if (row0 + ${r}u < p.n) { y[row0 + ${r}u] = v${r}; }`).join(' ')}
  }`;
  } else if (s.subgroup !== 0) {
    // subgroup sums of a slot side by side in workgroup memory, then one invocation per row adds them
    const maxParts = tpr; // subgroups of one invocation at worst
    shared = `var<workgroup> red: array<f32, ${gr * maxParts}>;`;
    reduce = `${R.map((r) => `let v${r} = subgroupAdd(acc${r});`).join(' ')}
  let parts = max(1u, ${tpr}u / sgs);
  if (sgi == 0u) {
    ${R.map((r) => `red[(slot * ${rows}u + ${r}u) * ${maxParts}u + lane / sgs] = v${r};`).join(' ')}
  }
  workgroupBarrier();
  for (var o = lid; o < ${gr}u; o = o + ${wg}u) {
    var sum = 0.0;
    for (var i = 0u; i < parts; i = i + 1u) { sum = sum + red[o * ${maxParts}u + i]; }
    let row = grp * ${gr}u + o;
    if (row < p.n) { y[row] = sum; }
  }`;
  } else {
    // every partial sum in workgroup memory (rows padded by one against bank conflicts), then one invocation
    // per row adds its tpr partials in four independent chains
    const stride = tpr + 1;
    shared = `var<workgroup> red: array<f32, ${gr * stride}>;`;
    reduce = `${R.map((r) => `red[(slot * ${rows}u + ${r}u) * ${stride}u + lane] = acc${r};`).join(' ')}
  workgroupBarrier();
  for (var o = lid; o < ${gr}u; o = o + ${wg}u) {
    var s4 = vec4<f32>(0.0);
    for (var i = 0u; i < ${tpr >= 4 ? tpr : 4}u; i = i + 4u) {
      ${tpr >= 4 ? `s4 = s4 + vec4<f32>(red[o * ${stride}u + i], red[o * ${stride}u + i + 1u], red[o * ${stride}u + i + 2u], red[o * ${stride}u + i + 3u]);` : `s4 = s4 + vec4<f32>(${range(4).map((j) => (j < tpr ? `red[o * ${stride}u + ${j}u]` : '0.0')).join(', ')});`}
    }
    let row = grp * ${gr}u + o;
    if (row < p.n) { y[row] = (s4.x + s4.y) + (s4.z + s4.w); }
  }`;
  }
  const sg = s.subgroup !== 0;
  const key = `qmatvec:${w.bits}:${w.symmetric ? 's' : 'a'}:${wg}:${tpr}:${rows}:${unroll}:${s.subgroup}`;
  return {
    key,
    bindings: ['read', 'read', 'read', 'read', 'rw'],
    code: /* wgsl */ `${sg ? 'enable subgroups;' : ''}
struct P { n: u32, k: u32, gpb: u32, asym: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> wq: ${wDecl};
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> mins: array<u32>;
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${shared}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${sg ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  ${gemvSplit({ tpr, rows, unroll, slots: g }, `${wLoads}
    ${sLoads}
    ${xLoads}
    ${math}`)}
  ${reduce}
}
`,
  };
}
