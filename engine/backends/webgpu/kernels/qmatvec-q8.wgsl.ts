import type { KernelDef } from '../kernel-def.js';
import { gemvSplit } from './qmatvec.wgsl.js';

/**
 * Quantized GEMV on int8 activations: the activation vector is quantized to int8 per block of 32 (scale =
 * max|x| / 127, round half to even — `quantizeActivationsKernel`; the backend does it once per distinct x, so
 * GEMVs sharing an input share it), and every weight block is then
 * multiplied with four-way int8 dot products (`dot4I8Packed`, one instruction on GPUs with dp4a) instead of
 * unpacking each code to f32. Unpacking costs ~3 integer/float instructions per code, which on large GPUs makes
 * the f32 GEMV instruction-bound well below memory bandwidth; here a word of codes costs 1–2 bit operations
 * and one dot product per 4 codes. With one plane this is llama.cpp's q8_1 scheme (each x off by at most
 * scale / 2); the default second plane brings that to scale / 508 (see ActivationPlanes).
 *
 * Only for bit widths whose codes sit whole in bytes after a shift and a mask: 8, 4, 2 (codes per byte
 * c = 8 / bits). Shifting a word right by m·bits and masking every byte leaves, in byte j, the code c·j + m
 * of that word's 4c codes, so the activation words are packed to match: word (i, m) holds the int8 x of codes
 * 4c·i + c·j + m for j = 0…3.
 */
export type Q8Bits = 8 | 4 | 2;

/**
 * Int8 planes per activation: 1 = x ≈ s·h (llama.cpp's q8_1, error ≤ s/2 per value); 2 = x ≈ s·(h + l/254),
 * the remainder as a second int8 plane (error ≤ s/508, relative ~1.6e-5 of the block's max — float-like results
 * for about twice the dot products).
 */
export type ActivationPlanes = 1 | 2;

export function isQ8Bits(bits: number): bits is Q8Bits {
  return bits === 8 || bits === 4 || bits === 2;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Workgroup size of the activation quantizer: one invocation per block of 32. */
export const QX_WORKGROUP = 64;

/**
 * WGSL statements that quantize one block of 32 values, held in \`v: array<vec4<f32>, 8>\`, as block \`b\` (the name of a u32) of
 * xq (the int8 codes packed for \`bits\`, plane h then plane l) and xd ((scale, Σ h, Σ l, 0)); see below.
 */
export function quantizeBlockWgsl(bits: Q8Bits, planes: ActivationPlanes, b = 'b'): string {
  const c = 8 / bits;
  // word w (0…7) of a block covers codes 4c·i … 4c·i + 4c − 1 with i = w / c and m = w % c
  const words = Array.from({ length: 8 }, (_, w) => {
    const i = Math.floor(w / c);
    const m = w % c;
    const idx = [0, 1, 2, 3].map((j) => 4 * c * i + c * j + m);
    return (a: string) => `pack4xI8(vec4<i32>(${idx.map((t) => `${a}${t >> 2}.${'xyzw'[t & 3]}`).join(', ')}))`;
  });
  const pack = (a: string, from: number): string => words.slice(from, from + 4).map((w) => w(a)).join(', ');
  return `{
  var qa = vec4<f32>(0.0);
  ${range(8).map((i) => `qa = max(qa, abs(v[${i}]));`).join(' ')}
  let amax = max(max(qa.x, qa.y), max(qa.z, qa.w));
  let qscale = amax / 127.0;
  let qinv = select(0.0, 127.0 / amax, amax > 0.0);
  ${range(8).map((i) => `var h${i}: vec4<i32>;${planes === 2 ? ` var l${i}: vec4<i32>;` : ''}`).join(' ')}
  var sh = 0;
  var sl = 0;
  ${range(8).map((i) => `{
    let t = v[${i}] * qinv;
    let r = clamp(round(t), vec4<f32>(-127.0), vec4<f32>(127.0));
    let q = vec4<i32>(r); h${i} = q; sh = sh + q.x + q.y + q.z + q.w;${planes === 2 ? `
    // the remainder t − r ∈ [−½, ½] as a second int8 plane in units of 1/254
    let e = vec4<i32>(clamp(round((t - r) * 254.0), vec4<f32>(-127.0), vec4<f32>(127.0))); l${i} = e; sl = sl + e.x + e.y + e.z + e.w;` : ''}
  }`).join('\n  ')}
  xq[${2 * planes}u * ${b}] = vec4<u32>(${pack('h', 0)});
  xq[${2 * planes}u * ${b} + 1u] = vec4<u32>(${pack('h', 4)});${planes === 2 ? `
  xq[4u * ${b} + 2u] = vec4<u32>(${pack('l', 0)});
  xq[4u * ${b} + 3u] = vec4<u32>(${pack('l', 4)});` : ''}
  xd[${b}] = vec4<f32>(qscale, f32(sh), f32(sl), 0.0);
}`;
}

/** The xq / xd outputs of an activation quantizer, at bindings \`first\` and \`first\` + 1. */
export function quantizedOutputsWgsl(first: number): string {
  return `@group(0) @binding(${first}) var<storage, read_write> xq: array<vec4<u32>>;
@group(0) @binding(${first + 1}) var<storage, read_write> xd: array<vec4<f32>>;`;
}

/**
 * xq [K / 32 blocks × 8 · planes words] = the int8 codes of x [K], packed for \`bits\` (see above), plane h
 * then plane l; xd [K / 32] = (scale, Σ h, Σ l, 0) per block as vec4<f32> (code sums are exact in f32). Params: k.
 */
export function quantizeActivationsKernel(bits: Q8Bits, planes: ActivationPlanes): KernelDef {
  return {
    key: `qmatvec-q8-x:${bits}:${planes}`,
    bindings: ['read', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { k: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
${quantizedOutputsWgsl(2)}
@compute @workgroup_size(${QX_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * ${QX_WORKGROUP}u;
  if (b >= p.k / 32u) { return; }
  var v: array<vec4<f32>, 8>;
  ${range(8).map((i) => `v[${i}] = x4[b * 8u + ${i}u];`).join(' ')}
  ${quantizeBlockWgsl(bits, planes)}
}
`,
  };
}

export interface Q8Shape {
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Invocations per row slot; equal to the subgroup size when `subgroup` (lane 0 then writes y). */
  readonly tpr: number;
  /** Rows per slot. */
  readonly rows: number;
  /** Blocks per invocation per loop turn, all their loads issued before any arithmetic. */
  readonly unroll: number;
  /** Use subgroupAdd (tpr = the device's one subgroup size); else a workgroup-memory reduction. */
  readonly subgroup: boolean;
}

/**
 * The default split, measured on an H100 (bench-results/gpu-gemv.json): one row per slot with 4 blocks in
 * flight per invocation, except two planes of 4/2-bit codes, where 2 rows a slot reuse x with fewer registers.
 * Tall int4 matrices (n ≥ 16384: a fused gate/up) take 4 rows and 2 blocks a turn: each x block loaded from L2
 * then serves twice the weights, which measured 24.5 → 22.8 µs (28672×4096) and 10.7 → 9.0 µs (16384×2048)
 * inside a chain of dependent dispatches on an H200 (bench-results/gpu-gemv-decode.json).
 */
export function q8DefaultShape(bits: Q8Bits, planes: ActivationPlanes, subgroup: boolean, n = 0, k = 0): Q8Shape {
  const pair = planes === 2 && bits !== 8;
  // long rows (a down projection, K ≥ 8192): 128 invocations a row, reduced in workgroup memory, so each walks
  // 4× fewer blocks one after another — 18.5 → 13.5 µs (4096×14336) and 10.9 → 7.2 µs (2048×8192) in the chain
  // on an H200 (bench-results/gpu-gemv-long-k.log)
  if (pair && bits === 4 && k >= 8192) return { wg: 128, tpr: 128, rows: 4, unroll: 1, subgroup: false };
  if (pair && bits === 4 && n >= 16384) return { wg: 128, tpr: 32, rows: 4, unroll: 2, subgroup };
  return { wg: 128, tpr: 32, rows: pair ? 2 : 1, unroll: pair ? 1 : 4, subgroup };
}

export function q8RowsPerGroup(s: Q8Shape): number {
  return (s.wg / s.tpr) * s.rows;
}

/** The pipeline cache key of `qmatvecQ8Kernel` (known without building its source). */
export function qmatvecQ8Key(bits: Q8Bits, symmetric: boolean, planes: ActivationPlanes, s: Q8Shape, stage = 0): string {
  return `qmatvec-q8:${bits}:${symmetric ? 's' : 'a'}:${planes}:${s.wg}:${s.tpr}:${s.rows}:${s.unroll}:${s.subgroup ? 'sg' : 'wg'}${stage ? `:x${stage}` : ''}`;
}

/** Workgroup memory the GEMV uses: its staged activations (`stage` blocks) and its reduction array. */
export function qmatvecQ8SharedBytes(planes: ActivationPlanes, s: Q8Shape, stage: number): number {
  return stage * 16 * (2 * planes + 1) + (s.subgroup ? 0 : 4 * (s.wg / s.tpr) * s.rows * (s.tpr + 1));
}

/**
 * y [N] = w [N, K] · x [K] for packed w (engine/quant/layout.ts) of 8, 4 or 2 bits, from the activations
 * quantized by `quantizeActivationsKernel`. Params: n, k, gpb = groupSize / 32, asym (compiled in instead).
 * Rows past N are clamped reads whose results are dropped.
 *
 * With `stage` = K / 32 (compiled in) the workgroup first copies the whole quantized x into workgroup memory,
 * one array per vec4 word of a block so that lanes reading consecutive blocks hit distinct banks, and the loop
 * reads x from there: every warp of the workgroup otherwise loads the same x from L2, 80 bytes per block for two
 * planes against 16 bytes of int4 weights per row, and that L2 traffic, not DRAM, bounded the GEMV.
 */
export function qmatvecQ8Kernel(bits: Q8Bits, symmetric: boolean, planes: ActivationPlanes, s: Q8Shape, stage = 0): KernelDef {
  const { wg, tpr, rows, unroll } = s;
  const U = range(unroll);
  const slots = wg / tpr;
  const R = range(rows);
  const mask = bits === 8 ? '' : ` & 0x${((1 << bits) - 1).toString(16).padStart(2, '0').repeat(4)}u`;
  const c = 8 / bits;
  // weight words per block: 32 · bits / 32 = bits; loaded as vec4 (8, 4 bits) or vec2 (2 bits)
  const wType = bits === 2 ? 'vec2<u32>' : 'vec4<u32>';
  const vecs = bits === 8 ? 2 : 1;
  const comps = bits === 2 ? 2 : 4;
  const wLoads = U.flatMap((u) => R.map((r) => range(vecs).map((v) => `let W${r}_${u}_${v} = wq[(n${r} * NB + b${u}) * ${vecs}u + ${v}u];`).join(' '))).join('\n    ');
  const dot = (r: number, u: number, plane: 'X' | 'L'): string => {
    const terms: string[] = [];
    for (let wi = 0; wi < bits; wi++) {
      const word = `W${r}_${u}_${Math.floor(wi / comps)}.${'xyzw'[wi % comps]}`;
      for (let m = 0; m < c; m++) {
        const xw = wi * c + m; // activation word index within the block (0…7)
        const xv = `${plane}${u}_${xw >> 2}.${'xyzw'[xw & 3]}`;
        // int8: q ^ 0x80 read as a signed byte is q − 128; narrower codes are small non-negative bytes
        const code = bits === 8 ? `(${word} ^ 0x80808080u)` : m === 0 ? `(${word}${mask})` : `((${word} >> ${m * bits}u)${mask})`;
        terms.push(`dot4I8Packed(${code}, ${xv})`);
      }
    }
    return terms.join(' + ');
  };
  const half = (buf: string, id: string): string => `unpack2x16float(${buf}[gi${id} >> 1u] >> ((gi${id} & 1u) * 16u)).x`;
  // Σ q·x over a block = xs · (dh + dl / 254) with dh, dl the dot products with planes h and l; int8 codes enter
  // as q − 128 (so that is their zero when symmetric, and 128·Σ h is added back when not); symmetric int4/int2
  // subtract their zero z through the plane sums: Σ (q − z)·h = dh − z·Σ h
  const zero = symmetric ? (bits === 8 ? 0 : 1 << (bits - 1)) : bits === 8 ? -128 : 0;
  const fix = (d: string, sum: string): string => (zero > 0 ? `${d} - ${zero} * ${sum}` : zero < 0 ? `${d} + ${-zero} * ${sum}` : d);
  const math = U.flatMap((u) => R.map((r) => {
    const id = `${r}_${u}`;
    const dq = planes === 2 ? `fma(f32(${fix(`dl${id}`, `sl${u}`)}), ${1 / 254}, f32(${fix(`dh${id}`, `sh${u}`)}))` : `f32(${fix(`dh${id}`, `sh${u}`)})`;
    const gi = `let gi${id} = n${r} * GPR + (b${u} >> gsh); let s${id} = ${half('scales', id)};`;
    const add = symmetric
      ? `fma(s${id} * xs${u}, ${dq}, acc${r})`
      // w = q·s + m: Σ w·x = s·Σ q·x + m·Σ x
      : `fma(xs${u}, fma(s${id}, ${dq}, m${id} * xsum${u}), acc${r})`;
    return `{ let dh${id} = ${dot(r, u, 'X')};${planes === 2 ? `\n      let dl${id} = ${dot(r, u, 'L')};` : ''}
      ${gi}${symmetric ? '' : ` let m${id} = ${half('mins', id)};`}
      acc${r} = select(acc${r}, ${add}, ok${u}); }`;
  })).join('\n    ');
  const reduce = s.subgroup
    ? `${R.map((r) => `let v${r} = subgroupAdd(acc${r});`).join(' ')}
  if (lane == 0u) { ${R.map((r) => `if (row0 + ${r}u < p.n) { y[row0 + ${r}u] = v${r}; }`).join(' ')} }`
    : `${R.map((r) => `red[(slot * ${rows}u + ${r}u) * ${tpr + 1}u + lane] = acc${r};`).join(' ')}
  workgroupBarrier();
  for (var o = lid; o < ${slots * rows}u; o = o + ${wg}u) {
    var sum = 0.0;
    for (var i = 0u; i < ${tpr}u; i = i + 1u) { sum = sum + red[o * ${tpr + 1}u + i]; }
    let row = grp * ${slots * rows}u + o;
    if (row < p.n) { y[row] = sum; }
  }`;
  return {
    key: qmatvecQ8Key(bits, symmetric, planes, s, stage),
    bindings: ['read', 'read', 'read', 'read', 'read', 'rw'],
    code: /* wgsl */ `${s.subgroup ? 'enable subgroups;' : ''}
struct P { n: u32, k: u32, gpb: u32, asym: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> wq: array<${wType}>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> mins: array<u32>;
@group(0) @binding(4) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> xd: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
${s.subgroup ? '' : `var<workgroup> red: array<f32, ${slots * rows * (tpr + 1)}>;`}
${stage ? `var<workgroup> stx0: array<vec4<u32>, ${stage}>;
var<workgroup> stx1: array<vec4<u32>, ${stage}>;${planes === 2 ? `
var<workgroup> stl0: array<vec4<u32>, ${stage}>;
var<workgroup> stl1: array<vec4<u32>, ${stage}>;` : ''}
var<workgroup> stxd: array<vec4<f32>, ${stage}>;` : ''}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${stage ? `for (var i = lid; i < ${stage}u; i = i + ${wg}u) {
    stx0[i] = xq[${2 * planes}u * i]; stx1[i] = xq[${2 * planes}u * i + 1u];${planes === 2 ? ` stl0[i] = xq[4u * i + 2u]; stl1[i] = xq[4u * i + 3u];` : ''} stxd[i] = xd[i];
  }
  workgroupBarrier();` : ''}
  ${gemvSplit({ tpr, rows, unroll, slots }, `${wLoads}
    ${U.map((u) => (stage
    ? `let X${u}_0 = stx0[b${u}]; let X${u}_1 = stx1[b${u}];${planes === 2 ? ` let L${u}_0 = stl0[b${u}]; let L${u}_1 = stl1[b${u}];` : ''}
    let xd${u} = stxd[b${u}];`
    : `let X${u}_0 = xq[${2 * planes}u * b${u}]; let X${u}_1 = xq[${2 * planes}u * b${u} + 1u];${planes === 2 ? ` let L${u}_0 = xq[4u * b${u} + 2u]; let L${u}_1 = xq[4u * b${u} + 3u];` : ''}
    let xd${u} = xd[b${u}];`) + `  let xs${u} = xd${u}.x; let sh${u} = i32(xd${u}.y); let sl${u} = i32(xd${u}.z); let xsum${u} = fma(xd${u}.z, ${1 / 254}, xd${u}.y);`).join('\n    ')}
    ${math}`)}
  ${reduce}
}
`,
  };
}
