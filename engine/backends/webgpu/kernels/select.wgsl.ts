import type { KernelDef } from '../kernel-def.js';
import { RANKING, WG_INDEX } from './common.wgsl.js';

/** Elements of a row that one argmax workgroup scans in pass 1. */
export const ARGMAX_CHUNK = 4096;

/**
 * Argmax by candidate reduction. 'raw': workgroup (row, chunk) ranks x[row, chunk·4096 …] and writes its best
 * (value, index) to candidates [rows, chunks]. 'final': one workgroup per row ranks its candidates and writes
 * the index as i32 (0 when the row is all NaN). Exact: only comparisons, ties to the lower index.
 */
export function argmaxKernel(mode: 'raw' | 'final'): KernelDef {
  const raw = mode === 'raw';
  return {
    key: `argmax:${mode}`,
    bindings: raw ? ['read', 'rw', 'rw'] : ['read', 'read', 'rw'],
    code: /* wgsl */ `
struct P { rows: u32, n: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> p: P;
${raw
    ? `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cv: array<f32>;
@group(0) @binding(3) var<storage, read_write> ci: array<u32>;`
    : `@group(0) @binding(1) var<storage, read> iv: array<f32>;
@group(0) @binding(2) var<storage, read> ii: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;`}
${WG_INDEX}
${RANKING}
var<workgroup> sv: array<f32, 256>;
var<workgroup> si: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wgIndex(wid, nwg);
  if (g >= p.rows * p.chunks) { return; }
  let row = g / p.chunks;
  let c = g % p.chunks;
  var bv = 0.0;
  var bi = NONE;
  ${raw
    ? `let start = c * ${ARGMAX_CHUNK}u;
  let end = min(start + ${ARGMAX_CHUNK}u, p.n);
  for (var j = start + lid; j < end; j = j + 256u) {
    let v = x[row * p.n + j];
    if (ranksBefore(v, j, bv, bi)) { bv = v; bi = j; }
  }`
    : `for (var j = lid; j < p.n; j = j + 256u) {
    let v = iv[row * p.n + j];
    let i = ii[row * p.n + j];
    if (ranksBefore(v, i, bv, bi)) { bv = v; bi = i; }
  }`}
  sv[lid] = bv;
  si[lid] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s && ranksBefore(sv[lid + s], si[lid + s], sv[lid], si[lid])) {
      sv[lid] = sv[lid + s];
      si[lid] = si[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    ${raw ? 'cv[g] = sv[0]; ci[g] = si[0];' : 'out[row] = select(si[0], 0u, si[0] == NONE);'}
  }
}
`,
  };
}

/** Entries one topk workgroup sorts in shared memory (16 KiB of value/index pairs). */
export const TOPK_BLOCK = 2048;

/**
 * Top-k tournament step: workgroup (row, block) bitonic-sorts up to 2048 entries of its row by ranking and
 * writes the first `keep` of them at [row · outStride + block · keep]. 'raw' reads x [rows, n] (index = column),
 * 'cand' reads value/index candidate arrays [rows, n]; entries past n are padding (NONE).
 */
export function topkBlockKernel(mode: 'raw' | 'cand'): KernelDef {
  const raw = mode === 'raw';
  return {
    key: `topk-block:${mode}`,
    bindings: raw ? ['read', 'rw', 'rw'] : ['read', 'read', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { rows: u32, n: u32, blocks: u32, keep: u32, outStride: u32 }
@group(0) @binding(0) var<uniform> p: P;
${raw
    ? `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ov: array<f32>;
@group(0) @binding(3) var<storage, read_write> oi: array<u32>;`
    : `@group(0) @binding(1) var<storage, read> iv: array<f32>;
@group(0) @binding(2) var<storage, read> ii: array<u32>;
@group(0) @binding(3) var<storage, read_write> ov: array<f32>;
@group(0) @binding(4) var<storage, read_write> oi: array<u32>;`}
${WG_INDEX}
${RANKING}
const B: u32 = ${TOPK_BLOCK}u;
var<workgroup> sv: array<f32, ${TOPK_BLOCK}>;
var<workgroup> si: array<u32, ${TOPK_BLOCK}>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wgIndex(wid, nwg);
  if (g >= p.rows * p.blocks) { return; }
  let row = g / p.blocks;
  let blk = g % p.blocks;
  for (var e = lid; e < B; e = e + 256u) {
    let j = blk * B + e;
    var v = 0.0;
    var i = NONE;
    if (j < p.n) {
      ${raw ? 'v = x[row * p.n + j]; i = j;' : 'v = iv[row * p.n + j]; i = ii[row * p.n + j];'}
    }
    sv[e] = v;
    si[e] = i;
  }
  workgroupBarrier();
  for (var k = 2u; k <= B; k = k << 1u) {
    for (var j = k >> 1u; j > 0u; j = j >> 1u) {
      for (var q = lid; q < B / 2u; q = q + 256u) {
        let a = (q / j) * 2u * j + q % j;
        let b = a + j;
        let descending = (a & k) == 0u;
        let bFirst = ranksBefore(sv[b], si[b], sv[a], si[a]);
        let aFirst = ranksBefore(sv[a], si[a], sv[b], si[b]);
        if ((descending && bFirst) || (!descending && aFirst)) {
          let tv = sv[a]; sv[a] = sv[b]; sv[b] = tv;
          let ti = si[a]; si[a] = si[b]; si[b] = ti;
        }
      }
      workgroupBarrier();
    }
  }
  let base = row * p.outStride + blk * p.keep;
  for (var e = lid; e < p.keep; e = e + 256u) {
    ov[base + e] = sv[e];
    oi[base + e] = si[e];
  }
}
`,
  };
}

/** Fallback for large k: pads rows of x [rows, n] to [rows, pn] candidate arrays. */
export function topkInitKernel(): KernelDef {
  return {
    key: 'topk-init',
    bindings: ['read', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { rows: u32, n: u32, pn: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ov: array<f32>;
@group(0) @binding(3) var<storage, read_write> oi: array<u32>;
${WG_INDEX}
const NONE: u32 = 0xffffffffu;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = wgIndex(wid, nwg) * 256u + lid;
  if (e >= p.rows * p.pn) { return; }
  let row = e / p.pn;
  let j = e % p.pn;
  if (j < p.n) { ov[e] = x[row * p.n + j]; oi[e] = j; } else { ov[e] = 0.0; oi[e] = NONE; }
}
`,
  };
}

/** One compare-exchange step (k, j) of a global bitonic sort (descending by ranking) over rows of [rows, pn]. */
export function topkStepKernel(): KernelDef {
  return {
    key: 'topk-step',
    bindings: ['rw', 'rw'],
    code: /* wgsl */ `
struct P { rows: u32, pn: u32, k: u32, j: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> sv: array<f32>;
@group(0) @binding(2) var<storage, read_write> si: array<u32>;
${WG_INDEX}
${RANKING}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = wgIndex(wid, nwg) * 256u + lid;
  let half = p.pn / 2u;
  if (q >= p.rows * half) { return; }
  let row = q / half;
  let r = q % half;
  let a0 = (r / p.j) * 2u * p.j + r % p.j;
  let a = row * p.pn + a0;
  let b = a + p.j;
  let descending = (a0 & p.k) == 0u;
  let bFirst = ranksBefore(sv[b], si[b], sv[a], si[a]);
  let aFirst = ranksBefore(sv[a], si[a], sv[b], si[b]);
  if ((descending && bFirst) || (!descending && aFirst)) {
    let tv = sv[a]; sv[a] = sv[b]; sv[b] = tv;
    let ti = si[a]; si[a] = si[b]; si[b] = ti;
  }
}
`,
  };
}

/** Copies the first k entries of each candidate row [rows, stride] into values f32 / indices i32 [rows, k]. */
export function topkTakeKernel(): KernelDef {
  return {
    key: 'topk-take',
    bindings: ['read', 'read', 'rw', 'rw'],
    code: /* wgsl */ `
struct P { rows: u32, stride: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> iv: array<f32>;
@group(0) @binding(2) var<storage, read> ii: array<u32>;
@group(0) @binding(3) var<storage, read_write> ov: array<f32>;
@group(0) @binding(4) var<storage, read_write> oi: array<u32>;
${WG_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = wgIndex(wid, nwg) * 256u + lid;
  if (e >= p.rows * p.k) { return; }
  let src = (e / p.k) * p.stride + e % p.k;
  ov[e] = iv[src];
  oi[e] = ii[src];
}
`,
  };
}
