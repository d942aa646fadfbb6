import type { KernelDef } from '../kernel-def.js';
import { WG_INDEX } from './common.wgsl.js';
import { quantizeBlockWgsl, quantizedOutputsWgsl, type ActivationPlanes, type Q8Bits } from './qmatvec-q8.wgsl.js';

export type UnaryOp = 'silu' | 'gelu-tanh' | 'gelu-erf';

const BODY: Record<UnaryOp, string> = {
  silu: 'return v / (1.0 + exp(-v));',
  // tanh through exp with a clamped argument: some drivers return NaN from tanh() for large |u|
  'gelu-tanh': `
  let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0);
  let e = exp(2.0 * u);
  return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));`,
  'gelu-erf': 'return 0.5 * v * (1.0 + erf(v * 0.7071067811865476));',
};

/**
 * erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd-extended; WGSL has no erf builtin.
 */
const ERF = /* wgsl */ `
fn erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let y = 1.0 - poly * exp(-a * a);
  return select(y, -y, x < 0.0);
}
`;

/** out[i] = f(x[i]) over n elements; one element per invocation on a 2-d grid of 256-wide workgroups. */
export function unaryKernel(op: UnaryOp): KernelDef {
  return {
    key: `unary:${op}`,
    bindings: ['read', 'rw'],
    code: /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${WG_INDEX}
${op === 'gelu-erf' ? ERF : ''}
fn f(v: f32) -> f32 { ${BODY[op]} }
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i < p.n) { y[i] = f(x[i]); }
}
`,
  };
}

export type BinaryOp = 'add' | 'mul';

/** Most ranks a broadcast binary op takes after collapsing mergeable axes. */
export const BINARY_MAX_RANK = 8;

/**
 * out = a ∘ b with NumPy broadcasting. 'same': equal shapes, no index math. 'general': out index decomposed
 * along `shape` (innermost last) and mapped through per-operand strides (0 on broadcast axes).
 */
export function binaryKernel(op: BinaryOp, mode: 'same' | 'general'): KernelDef {
  const sym = op === 'add' ? '+' : '*';
  const index = mode === 'same'
    ? 'let ia = i; let ib = i;'
    : `var rem = i; var ia = 0u; var ib = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
    let size = p.shape[d / 4][d % 4];
    let c = rem % size;
    rem = rem / size;
    ia = ia + c * p.sa[d / 4][d % 4];
    ib = ib + c * p.sb[d / 4][d % 4];
  }`;
  return {
    key: `binary:${op}:${mode}`,
    bindings: ['read', 'read', 'rw'],
    code: /* wgsl */ `
struct P { n: u32, rank: u32, pad0: u32, pad1: u32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${WG_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  ${index}
  y[i] = a[ia] ${sym} b[ib];
}
`,
  };
}

/** out [T, D] = table[ids[t], :], zeros for ids outside [0, V). */
export function embeddingKernel(): KernelDef {
  return {
    key: 'embedding',
    bindings: ['read', 'read', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, d: u32, v: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${WG_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i >= p.t * p.d) { return; }
  let row = i / p.d;
  let id = ids[row];
  var v = 0.0;
  if (id >= 0 && u32(id) < p.v) { v = table[u32(id) * p.d + i % p.d]; }
  y[i] = v;
}
`,
  };
}

/**
 * (cos, sin) of 2π·turns for turns in [0, 1): quadrant reduction, then Taylor series on [−π/4, π/4] (error
 * < 1e-8). The builtins are only required to reach 2^-11 absolute accuracy, which rope cannot afford.
 */
export const COS_SIN_TURNS = /* wgsl */ `
fn cosSinTurns(turns: f32) -> vec2<f32> {
  let r = turns * 4.0;
  let q = round(r);
  let x = (r - q) * 1.5707963267948966;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  switch (u32(q) & 3u) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}
`;

/**
 * `ropeAt(base, d, pos)`: element d of the head starting at x[base], rotated for position pos (rotary dims p.rd,
 * half or interleaved pairs p.interleaved, frequencies f as ropeFrequencies writes them). Needs bindings `x`,
 * `f` and params rd, interleaved in scope; shared by ropeKernel, qkvRopeKernel and the rope-fused attention.
 */
export const ROPE_AT = /* wgsl */ `
fn ropeAt(base: u32, d: u32, pos: u32) -> f32 {
  if (d >= p.rd) { return x[base + d]; }
  let half = p.rd / 2u;
  var pair: u32; var i0: u32; var i1: u32;
  if (p.interleaved != 0u) { pair = d / 2u; i0 = base + 2u * pair; i1 = i0 + 1u; }
  else { pair = select(d - half, d, d < half); i0 = base + pair; i1 = i0 + half; }
  let c = f[pair];
  let turns = fract(fract(f32(pos >> 12u) * c.x * 4096.0) + fract(f32(pos & 4095u) * c.x) + f32(pos) * c.y);
  let cs = cosSinTurns(turns);
  let x0 = x[i0];
  let x1 = x[i1];
  return select(x1 * cs.x + x0 * cs.y, x0 * cs.x - x1 * cs.y, base + d == i0);
}`;

/**
 * Rotary embedding, x [T, H, Dh] → y. Pair p of the first rd dims turns by (pos0 + t) · f[p] turns, where
 * f [rd/2, 2] holds f = θ^(−2p/rd) / (2π · scale) split on the CPU (in f64) into c1 (12 significant bits) + c2.
 * With pos = ph · 4096 + pl, ph · 4096 · c1 and pl · c1 are exact in f32 and pos · c2 is tiny, so the angle
 * keeps ~1e-7 turns of accuracy at any position below 2^24 (a plain f32 product loses ~1e-5 rad at pos 200).
 */
export function ropeKernel(): KernelDef {
  return {
    key: 'rope',
    bindings: ['read', 'read', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, h: u32, dh: u32, rd: u32, pos0: u32, interleaved: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> f: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${WG_INDEX}
${COS_SIN_TURNS}
${ROPE_AT}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i >= p.t * p.h * p.dh) { return; }
  let d = i % p.dh;
  y[i] = ropeAt(i - d, d, p.pos0 + i / (p.h * p.dh));
}
`,
  };
}

/** Writes x [T, Hkv, Dh] into cache [Hkv, S, Dh] at positions offset … offset + T − 1. */
export function kvWriteKernel(): KernelDef {
  return {
    key: 'kv-write',
    bindings: ['read', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, hkv: u32, dh: u32, s: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cache: array<f32>;
${WG_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i >= p.t * p.hkv * p.dh) { return; }
  let d = i % p.dh;
  let h = (i / p.dh) % p.hkv;
  let t = i / (p.dh * p.hkv);
  cache[(h * p.s + p.offset + t) * p.dh + d] = x[i];
}
`,
  };
}

/** y [T, I] = silu(x[:, :I]) · x[:, I:] for x [T, 2I]: the gate and up projections computed as one GEMV. */
export function swigluKernel(): KernelDef {
  return {
    key: 'swiglu',
    bindings: ['read', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, i: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${WG_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wgIndex(wid, nwg) * 256u + lid;
  if (o >= p.t * p.i) { return; }
  let j = o % p.i;
  let base = (o - j) * 2u;
  let g = x[base + j];
  y[o] = g / (1.0 + exp(-g)) * x[base + p.i + j];
}
`,
  };
}

/** Invocations per workgroup of swigluQ8Kernel (one per block of 32 outputs). */
export const SWIGLU_Q8_WORKGROUP = 64;

/**
 * swiglu for rows of I % 32 == 0 that also writes y quantized for the int8-activation GEMV that reads it next
 * (xq, xd as quantizeActivationsKernel), saving that GEMV its quantizing dispatch: one invocation per block of 32.
 */
export function swigluQ8Kernel(bits: Q8Bits, planes: ActivationPlanes): KernelDef {
  const eight = [0, 1, 2, 3, 4, 5, 6, 7];
  return {
    key: `swiglu:q8:${bits}:${planes}`,
    bindings: ['read', 'rw', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, i: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
${quantizedOutputsWgsl(3)}
@compute @workgroup_size(${SWIGLU_Q8_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = gid.x + gid.y * nwg.x * ${SWIGLU_Q8_WORKGROUP}u;
  let per = p.i / 32u;
  if (b >= p.t * per) { return; }
  let row = b / per;
  // row r of x is [gate (I) | up (I)]; in vec4: gate at r · I / 2, up I / 4 after it
  let g0 = row * (p.i / 2u) + (b % per) * 8u;
  let u0 = g0 + p.i / 4u;
  var v: array<vec4<f32>, 8>;
  ${eight.map((i) => `{ let g = x[g0 + ${i}u]; v[${i}] = g / (vec4<f32>(1.0) + exp(-g)) * x[u0 + ${i}u]; y[b * 8u + ${i}u] = v[${i}]; }`).join('\n  ')}
  ${quantizeBlockWgsl(bits, planes)}
}
`,
  };
}

/**
 * The fused output of the q, k and v projections, qkv [T, (Hq + 2·Hkv) · Dh]: q rotated into q [T, Hq, Dh],
 * k rotated and v copied into their caches [Hkv, S, Dh] at positions pos0 … pos0 + T − 1 — the work of two rope
 * and two kv-write dispatches in one (rotate_half or interleaved pairs, as ropeKernel).
 */
export function qkvRopeKernel(): KernelDef {
  return {
    key: 'qkv-rope',
    bindings: ['read', 'read', 'rw', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, hq: u32, hkv: u32, dh: u32, rd: u32, pos0: u32, interleaved: u32, s: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> f: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> kc: array<f32>;
@group(0) @binding(5) var<storage, read_write> vc: array<f32>;
${WG_INDEX}
${COS_SIN_TURNS}
${ROPE_AT}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let heads = p.hq + 2u * p.hkv;
  if (i >= p.t * heads * p.dh) { return; }
  let d = i % p.dh;
  let row = i - d;
  let head = (i / p.dh) % heads;
  let t = i / (heads * p.dh);
  let pos = p.pos0 + t;
  let v = select(x[i], ropeAt(row, d, pos), head < p.hq + p.hkv);
  if (head < p.hq) {
    q[(t * p.hq + head) * p.dh + d] = v;
  } else if (head < p.hq + p.hkv) {
    kc[((head - p.hq) * p.s + pos) * p.dh + d] = v;
  } else {
    vc[((head - p.hq - p.hkv) * p.s + pos) * p.dh + d] = v;
  }
}
`,
  };
}

/**
 * y [T, D] = rows `ids` of a packed table [V, D] (layout.ts: 8/4/3/2 bits, f16 scales and mins per group),
 * dequantized: the gather of a quantized embedding. Out-of-range ids give zero rows, as embeddingKernel.
 */
export function qembeddingKernel(): KernelDef {
  return {
    key: 'qembedding',
    bindings: ['read', 'read', 'read', 'read', 'rw'],
    code: /* wgsl */ `
struct P { t: u32, d: u32, v: u32, bits: u32, group: u32, asym: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> mins: array<u32>;
@group(0) @binding(4) var<storage, read> ids: array<i32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${WG_INDEX}
fn half(words: u32, i: u32) -> f32 {
  let pair = unpack2x16float(words);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i >= p.t * p.d) { return; }
  let id = ids[i / p.d];
  if (id < 0 || u32(id) >= p.v) { y[i] = 0.0; return; }
  let row = u32(id);
  let j = i % p.d;
  let base = row * (p.d * p.bits / 32u);
  var code: u32;
  if (p.bits == 3u) {
    let block = base + (j >> 5u) * 3u;
    let t = j & 31u;
    code = ((data[block + (t >> 4u)] >> ((t & 15u) * 2u)) & 3u) | (((data[block + 2u] >> t) & 1u) << 2u);
  } else {
    let per = 32u / p.bits;
    code = (data[base + j / per] >> ((j % per) * p.bits)) & ((1u << p.bits) - 1u);
  }
  let g = (row * p.d + j) / p.group;
  let s = half(scales[g >> 1u], g);
  if (p.asym != 0u) {
    y[i] = f32(code) * s + half(mins[g >> 1u], g);
  } else {
    y[i] = (f32(code) - f32(1u << (p.bits - 1u))) * s;
  }
}
`,
  };
}
