import type { KernelDef } from '../kernel-def.js';
import { REDUCE_256, WG_INDEX } from './common.wgsl.js';
import { quantizeBlockWgsl, quantizedOutputsWgsl, type ActivationPlanes, type Q8Bits } from './qmatvec-q8.wgsl.js';

const HEAD = /* wgsl */ `
struct P { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: P;
${WG_INDEX}
${REDUCE_256}
`;

const ENTRY = '@compute @workgroup_size(256)\nfn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>)';

/** x [rows, D] → x / sqrt(mean(x²) + eps) · w; one workgroup per row. */
export function rmsNormKernel(): KernelDef {
  return {
    key: 'rms-norm',
    bindings: ['read', 'read', 'rw'],
    code: /* wgsl */ `${HEAD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * p.d;
  var ss = 0.0;
  for (var i = lid; i < p.d; i = i + 256u) { let v = x[off + i]; ss = ss + v * v; }
  let inv = inverseSqrt(reduceSum(ss, lid) / f32(p.d) + p.eps);
  for (var i = lid; i < p.d; i = i + 256u) { y[off + i] = x[off + i] * inv * w[i]; }
}
`,
  };
}

/** x [rows, D] → (x − mean) / sqrt(var + eps) · w + b, biased variance from a second pass. */
export function layerNormKernel(): KernelDef {
  return {
    key: 'layer-norm',
    bindings: ['read', 'read', 'read', 'rw'],
    code: /* wgsl */ `${HEAD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * p.d;
  var s = 0.0;
  for (var i = lid; i < p.d; i = i + 256u) { s = s + x[off + i]; }
  let mean = reduceSum(s, lid) / f32(p.d);
  var q = 0.0;
  for (var i = lid; i < p.d; i = i + 256u) { let c = x[off + i] - mean; q = q + c * c; }
  let inv = inverseSqrt(reduceSum(q, lid) / f32(p.d) + p.eps);
  for (var i = lid; i < p.d; i = i + 256u) { y[off + i] = (x[off + i] - mean) * inv * w[i] + b[i]; }
}
`,
  };
}

/** Stable softmax along rows of x [rows, D]: max, Σ exp(x − max), then normalise; one workgroup per row. */
export function softmaxKernel(): KernelDef {
  return {
    key: 'softmax',
    bindings: ['read', 'rw'],
    code: /* wgsl */ `${HEAD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * p.d;
  var m = -3.4028234e38;
  for (var i = lid; i < p.d; i = i + 256u) { m = max(m, x[off + i]); }
  let mx = reduceMax(m, lid);
  var s = 0.0;
  for (var i = lid; i < p.d; i = i + 256u) { s = s + exp(x[off + i] - mx); }
  let inv = 1.0 / reduceSum(s, lid);
  for (var i = lid; i < p.d; i = i + 256u) { y[off + i] = exp(x[off + i] - mx) * inv; }
}
`,
  };
}

/**
 * s = a + b and y = rmsNorm(s) · w for rows of [rows, D]: the residual add fused into the next norm (one
 * dispatch and one pass over the row instead of two).
 */
export function addRmsNormKernel(): KernelDef {
  return {
    key: 'add-rms-norm',
    bindings: ['read', 'read', 'read', 'rw', 'rw'],
    code: /* wgsl */ `${HEAD}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * p.d;
  var ss = 0.0;
  for (var i = lid; i < p.d; i = i + 256u) { let v = a[off + i] + b[off + i]; s[off + i] = v; ss = ss + v * v; }
  let inv = inverseSqrt(reduceSum(ss, lid) / f32(p.d) + p.eps);
  for (var i = lid; i < p.d; i = i + 256u) { y[off + i] = s[off + i] * inv * w[i]; }
}
`,
  };
}

/** Widest row the register-held norms take: 16 vec4 per invocation. */
export const NORM_VEC4_MAX_D = 256 * 4 * 16;

/**
 * rmsNorm (add = false) or addRmsNorm (add = true) for rows of exactly D values, D % 4 == 0 and D ≤
 * NORM_VEC4_MAX_D: each invocation loads its ≤ 16 vec4 of the row at once into registers (the loads are
 * unrolled, so they are all in flight together) and scales them from there. The generic kernels above walk the
 * row in a loop of dependent steps and read the sum back from memory: at batch 1 (decode) one workgroup does a
 * row, so its latency, not bandwidth, is the cost.
 */
export function rmsNormVec4Kernel(d: number, add: boolean): KernelDef {
  const d4 = d / 4;
  const n = Math.ceil(d4 / 256);
  const turns = Array.from({ length: n }, (_, i) => i);
  const guard = (i: number, body: string): string => ((i + 1) * 256 <= d4 ? `{ let j = lid + ${i * 256}u; ${body} }` : `{ let j = lid + ${i * 256}u; if (j < ${d4}u) { ${body} } }`);
  const load = add
    ? (i: number) => guard(i, `let v = a[off + j] + b[off + j]; s[off + j] = v; r${i} = v; ss = ss + dot(v, v);`)
    : (i: number) => guard(i, `let v = x[off + j]; r${i} = v; ss = ss + dot(v, v);`);
  return {
    key: `${add ? 'add-rms-norm' : 'rms-norm'}:v${d}`,
    bindings: add ? ['read', 'read', 'read', 'rw', 'rw'] : ['read', 'read', 'rw'],
    code: /* wgsl */ `${HEAD}
${add
    ? `@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> s: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f32>>;`
    : `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;`}
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * ${d4}u;
  var ss = 0.0;
  ${turns.map((i) => `var r${i} = vec4<f32>(0.0);`).join(' ')}
  ${turns.map(load).join('\n  ')}
  let inv = inverseSqrt(reduceSum(ss, lid) / ${d}.0 + p.eps);
  ${turns.map((i) => guard(i, `y[off + j] = r${i} * inv * w[j];`)).join('\n  ')}
}
`,
  };
}

/** Widest row the quantizing norms take: two blocks of 32 per invocation. */
export const NORM_Q8_MAX_D = 256 * 32 * 2;

/**
 * rmsNorm / addRmsNorm (as rmsNormVec4Kernel) that also writes its output quantized for the int8-activation GEMV
 * that reads it next (xq, xd as quantizeActivationsKernel for \`bits\` and \`planes\`), saving that GEMV its
 * quantizing dispatch. D % 32 == 0, D ≤ NORM_Q8_MAX_D; invocation lid holds blocks lid and lid + 256 of the row.
 */
export function rmsNormQ8Kernel(d: number, add: boolean, bits: Q8Bits, planes: ActivationPlanes): KernelDef {
  const nb = d / 32;
  const turns = Array.from({ length: Math.ceil(nb / 256) }, (_, k) => k);
  const eight = [0, 1, 2, 3, 4, 5, 6, 7];
  const guard = (k: number, body: string): string => `{ let blk = lid + ${k * 256}u; ${(k + 1) * 256 <= nb ? body : `if (blk < ${nb}u) { ${body} }`} }`;
  // the weights are loaded with the row, before the reduction's barriers, so their latency overlaps it
  const load = (k: number): string => guard(k, eight.map((i) => `{ let j = off + blk * 8u + ${i}u; let v = ${add ? 'xa[j] + xb[j]; s[j] = v' : 'x[j]'}; r${k}[${i}] = v; g${k}[${i}] = w[blk * 8u + ${i}u]; ss = ss + dot(v, v); }`).join(' '));
  const store = (k: number): string => guard(k, `var v: array<vec4<f32>, 8>;
    ${eight.map((i) => `v[${i}] = r${k}[${i}] * inv * g${k}[${i}]; y[off + blk * 8u + ${i}u] = v[${i}];`).join(' ')}
    let qb = row * ${nb}u + blk;
    ${quantizeBlockWgsl(bits, planes, 'qb')}`);
  return {
    key: `${add ? 'add-rms-norm' : 'rms-norm'}:q8:${d}:${bits}:${planes}`,
    bindings: add ? ['read', 'read', 'read', 'rw', 'rw', 'rw', 'rw'] : ['read', 'read', 'rw', 'rw', 'rw'],
    code: /* wgsl */ `${HEAD}
${add
    ? `@group(0) @binding(1) var<storage, read> xa: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> xb: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> s: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f32>>;
${quantizedOutputsWgsl(6)}`
    : `@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
${quantizedOutputsWgsl(4)}`}
${ENTRY} {
  let row = wgIndex(wid, nwg);
  if (row >= p.rows) { return; }
  let off = row * ${d / 4}u;
  var ss = 0.0;
  ${turns.map((k) => `var r${k}: array<vec4<f32>, 8>; var g${k}: array<vec4<f32>, 8>;`).join(' ')}
  ${turns.map(load).join('\n  ')}
  let inv = inverseSqrt(reduceSum(ss, lid) / ${d}.0 + p.eps);
  ${turns.map(store).join('\n  ')}
}
`,
  };
}
