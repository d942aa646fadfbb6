import type { KernelDef } from '../kernel-def.js';
import { REDUCE_256, WG_INDEX } from './common.wgsl.js';
import { COS_SIN_TURNS, ROPE_AT } from './elementwise.wgsl.js';
import { quantizeBlockWgsl, quantizedOutputsWgsl, type ActivationPlanes, type Q8Bits } from './qmatvec-q8.wgsl.js';

/** Keys per split of the sequence (the largest chunk; decode on short contexts uses smaller ones). */
export const ATTN_CHUNK = 256;

/**
 * Keys per chunk for t queries over `total` positions: the largest of 256, 128, 64, 32 that still gives the GPU
 * `minGroups` workgroups (decode on a short context has few heads × chunks, and a 256-key chunk then leaves
 * most of the GPU idle while a few workgroups walk their keys), and whose per-key thread split divides Dh.
 */
export function attentionChunk(t: number, hq: number, total: number, dh: number, minGroups = 512): number {
  const ok = [256, 128, 64, 32].filter((c) => dh % (256 / c) === 0);
  return ok.find((c) => t * hq * Math.ceil(total / c) >= minGroups) ?? ok[ok.length - 1] ?? ATTN_CHUNK;
}

const PARAMS = /* wgsl */ `
struct P { t: u32, hq: u32, hkv: u32, s: u32, past: u32, chunks: u32, causal: u32, scale: f32, rd: u32, interleaved: u32 }
@group(0) @binding(0) var<uniform> p: P;
`;

/**
 * Split-K attention, pass 1. Workgroup (t, h, c) scores keys [c·C, c·C + C) of kv head h / (Hq/Hkv) against
 * query t (256 / C invocations per key, each a slice of Dh, summed in workgroup memory), and writes the chunk's
 * online-softmax state part [(t·Hq + h)·chunks + c] = (m, l, acc[Dh]): m = max score, l = Σ exp(score − m),
 * acc = Σ exp(score − m) · v. Keys past the causal limit count as absent; a chunk with none writes l = 0.
 * Specialised on Dh and C (vec4 loads when the slice is a multiple of 4).
 *
 * `rope` (one decode step, T = 1): binding 1 is the fused projection qkv [(Hq + 2·Hkv) · Dh] instead of q, and
 * binding 5 the rope frequencies (as qkvRopeKernel). Each workgroup rotates its query as it loads it, and the
 * workgroups of the chunk holding position `past` first write that position's rotated key and its value into
 * the caches (the workgroups of one kv head write the same values) — qkvRopeKernel's work, without its dispatch.
 */
export function attentionPartialKernel(dh: number, chunk: number = ATTN_CHUNK, rope = false): KernelDef {
  const tpk = 256 / chunk;
  if (!Number.isInteger(tpk) || dh % tpk !== 0) throw new Error(`attention chunk ${chunk} does not split Dh = ${dh}`);
  const slice = dh / tpk;
  const vec = slice % 4 === 0;
  const groups = Math.max(1, Math.floor(256 / dh));
  const dot = vec
    ? `for (var d = 0u; d < ${slice / 4}u; d = d + 1u) {
      let i = d0 + 4u * d;
      acc = acc + dot(vec4<f32>(qs[i], qs[i + 1u], qs[i + 2u], qs[i + 3u]), k4[(kbase + i) / 4u]);
    }`
    : `for (var d = 0u; d < ${slice}u; d = d + 1u) { acc = acc + qs[d0 + d] * k[kbase + d0 + d]; }`;
  const kAccess = rope ? 'read_write' : 'read';
  // rope: this step's k rotated and v into the caches at position past, by the chunk that holds it
  const cacheWrite = !rope ? '' : `if (p.past >= s0 && p.past < s0 + C) {
    let kb = (p.hq + kvh) * DH;
    let vb = (p.hq + p.hkv + kvh) * DH;
    let at = (kvh * p.s + p.past) * DH;
    ${vec
    ? `for (var d = lid; d < DH / 4u; d = d + 256u) { k4[at / 4u + d] = vec4<f32>(ropeAt(kb, 4u * d, p.past), ropeAt(kb, 4u * d + 1u, p.past), ropeAt(kb, 4u * d + 2u, p.past), ropeAt(kb, 4u * d + 3u, p.past)); }`
    : 'for (var d = lid; d < DH; d = d + 256u) { k[at + d] = ropeAt(kb, d, p.past); }'}
    for (var d = lid; d < DH; d = d + 256u) { v[at + d] = x[vb + d]; }
    storageBarrier();
  }`;
  return {
    key: `attn-part:${dh}:${chunk}${rope ? ':rope' : ''}`,
    bindings: rope ? ['read', 'rw', 'rw', 'rw', 'read'] : ['read', 'read', 'read', 'rw'],
    code: /* wgsl */ `${PARAMS}
@group(0) @binding(1) var<storage, read> ${rope ? 'x' : 'q'}: array<f32>;
@group(0) @binding(2) var<storage, ${kAccess}> ${vec ? 'k4: array<vec4<f32>>' : 'k: array<f32>'};
@group(0) @binding(3) var<storage, ${kAccess}> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
${rope ? `@group(0) @binding(5) var<storage, read> f: array<vec2<f32>>;
${COS_SIN_TURNS}
${ROPE_AT}` : ''}
${WG_INDEX}
${REDUCE_256}
const DH: u32 = ${dh}u;
const C: u32 = ${chunk}u;
const TPK: u32 = ${tpk}u;
const G: u32 = ${groups}u;
var<workgroup> qs: array<f32, ${dh}>;
var<workgroup> ps: array<f32, 256>;
var<workgroup> accs: array<f32, ${Math.max(256, dh)}>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = wgIndex(wid, nwg);
  if (idx >= p.t * p.hq * p.chunks) { return; }
  let c = idx % p.chunks;
  let th = idx / p.chunks;
  let h = th % p.hq;
  let t = th / p.hq;
  let kvh = h / (p.hq / p.hkv);
  let total = p.past + p.t;
  let limit = select(total, min(p.past + t + 1u, total), p.causal != 0u);
  let s0 = c * C;
  let out = idx * (DH + 2u);
  if (s0 >= limit) {
    for (var d = lid; d < DH + 2u; d = d + 256u) { part[out + d] = select(0.0, -3.0e38, d == 0u); }
    return;
  }
  let count = min(C, limit - s0);
  ${cacheWrite}
  for (var d = lid; d < DH; d = d + 256u) { qs[d] = ${rope ? 'ropeAt(h * DH, d, p.past)' : 'q[th * DH + d]'} * p.scale; }
  workgroupBarrier();
  // invocation lid scores slice lid % TPK of key lid / TPK
  let key = lid / TPK;
  var acc = 0.0;
  if (key < count) {
    let kbase = (kvh * p.s + s0 + key) * DH;
    let d0 = (lid % TPK) * ${slice}u;
    ${dot}
  }
  ps[lid] = acc;
  workgroupBarrier();
  var score = -3.0e38;
  if (lid < count) {
    var sum = 0.0;
    for (var j = 0u; j < TPK; j = j + 1u) { sum = sum + ps[lid * TPK + j]; }
    score = sum;
  }
  // the partial sums are read: reduceMax starts with a barrier before ps is written again
  let m = reduceMax(score, lid);
  let e = select(0.0, exp(score - m), lid < count);
  ps[lid] = e;
  let l = reduceSum(e, lid);
  // ps is visible: reduceSum ends on a barrier
  let vbase = (kvh * p.s + s0) * DH;
  for (var d0 = 0u; d0 < DH; d0 = d0 + 256u) {
    let g = lid / min(DH, 256u);
    let d = d0 + lid % min(DH, 256u);
    var a = 0.0;
    if (g < G && d < DH) {
      // four keys a turn, their loads issued together: one memory latency per four keys, not per key
      var j = g;
      for (; j + 3u * G < count; j = j + 4u * G) {
        let v0 = v[vbase + j * DH + d];
        let v1 = v[vbase + (j + G) * DH + d];
        let v2 = v[vbase + (j + 2u * G) * DH + d];
        let v3 = v[vbase + (j + 3u * G) * DH + d];
        a = a + ps[j] * v0 + ps[j + G] * v1 + ps[j + 2u * G] * v2 + ps[j + 3u * G] * v3;
      }
      for (; j < count; j = j + G) { a = a + ps[j] * v[vbase + j * DH + d]; }
    }
    if (g < G) { accs[g * min(DH, 256u) + lid % min(DH, 256u)] = a; }
    workgroupBarrier();
    if (lid < min(DH, 256u) && d0 + lid < DH) {
      var sum = 0.0;
      for (var gg = 0u; gg < G; gg = gg + 1u) { sum = sum + accs[gg * min(DH, 256u) + lid]; }
      part[out + 2u + d0 + lid] = sum;
    }
    workgroupBarrier();
  }
  if (lid == 0u) { part[out] = m; part[out + 1u] = l; }
}
`,
  };
}

/** Chunk weights the combine keeps in workgroup memory (beyond them it recomputes each). */
const COMBINE_WEIGHTS = 256;

/**
 * Pass 2: merges the chunk states of each (t, h) into out [T, Hq, Dh] = Σ acc_c e^(m_c − M) / Σ l_c e^(m_c − M).
 * With `quant` (Dh % 32 == 0) it also writes out quantized for the int8-activation GEMV that reads it next
 * (xq, xd as quantizeActivationsKernel; block h · Dh / 32 + j of the row), sparing that GEMV its quantizing dispatch.
 */
export function attentionCombineKernel(dh: number, quant: { bits: Q8Bits; planes: ActivationPlanes } | null = null): KernelDef {
  if (quant && dh % 32 !== 0) throw new Error(`attention combine quantizes blocks of 32: Dh = ${dh}`);
  const eight = [0, 1, 2, 3, 4, 5, 6, 7];
  return {
    key: quant ? `attn-combine:${dh}:q8:${quant.bits}:${quant.planes}` : `attn-combine:${dh}`,
    bindings: quant ? ['read', 'rw', 'rw', 'rw'] : ['read', 'rw'],
    code: /* wgsl */ `${PARAMS}
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
${quant ? `${quantizedOutputsWgsl(3)}
var<workgroup> ov: array<f32, ${dh}>;` : ''}
var<workgroup> red: array<f32, 64>;
var<workgroup> wts: array<f32, ${COMBINE_WEIGHTS}>;
${WG_INDEX}
const DH: u32 = ${dh}u;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let th = wgIndex(wid, nwg);
  if (th >= p.t * p.hq) { return; }
  let base = th * p.chunks * (DH + 2u);
  // the chunks' maxima and sums are read in parallel (a loop over chunks per invocation was a chain of
  // dependent loads), each chunk's weight e^(m_c − M) kept in workgroup memory for the first ${COMBINE_WEIGHTS}
  var mx = -3.0e38;
  for (var c = lid; c < p.chunks; c = c + 64u) {
    let rec = base + c * (DH + 2u);
    if (part[rec + 1u] > 0.0) { mx = max(mx, part[rec]); }
  }
  red[lid] = mx;
  workgroupBarrier();
  for (var o = 32u; o > 0u; o = o >> 1u) { if (lid < o) { red[lid] = max(red[lid], red[lid + o]); } workgroupBarrier(); }
  mx = red[0];
  workgroupBarrier();
  var l = 0.0;
  for (var c = lid; c < p.chunks; c = c + 64u) {
    let rec = base + c * (DH + 2u);
    let lc = part[rec + 1u];
    let w = select(0.0, exp(part[rec] - mx), lc > 0.0);
    if (c < ${COMBINE_WEIGHTS}u) { wts[c] = w; }
    l = l + lc * w;
  }
  red[lid] = l;
  workgroupBarrier();
  for (var o = 32u; o > 0u; o = o >> 1u) { if (lid < o) { red[lid] = red[lid] + red[lid + o]; } workgroupBarrier(); }
  let inv = 1.0 / red[0];
  for (var d = lid; d < DH; d = d + 64u) {
    var a = 0.0;
    var c = 0u;
    for (; c + 3u < min(p.chunks, ${COMBINE_WEIGHTS}u); c = c + 4u) {
      let rec = base + c * (DH + 2u) + 2u + d;
      let a0 = part[rec];
      let a1 = part[rec + DH + 2u];
      let a2 = part[rec + 2u * (DH + 2u)];
      let a3 = part[rec + 3u * (DH + 2u)];
      a = a + a0 * wts[c] + a1 * wts[c + 1u] + a2 * wts[c + 2u] + a3 * wts[c + 3u];
    }
    for (; c < p.chunks; c = c + 1u) {
      let rec = base + c * (DH + 2u);
      let lc = part[rec + 1u];
      let w = select(select(0.0, exp(part[rec] - mx), lc > 0.0), wts[min(c, ${COMBINE_WEIGHTS - 1}u)], c < ${COMBINE_WEIGHTS}u);
      a = a + part[rec + 2u + d] * w;
    }
    o[th * DH + d] = a * inv;${quant ? ' ov[d] = a * inv;' : ''}
  }${quant ? `
  workgroupBarrier();
  if (lid < DH / 32u) {
    var v: array<vec4<f32>, 8>;
    ${eight.map((i) => `v[${i}] = vec4<f32>(ov[lid * 32u + ${4 * i}u], ov[lid * 32u + ${4 * i + 1}u], ov[lid * 32u + ${4 * i + 2}u], ov[lid * 32u + ${4 * i + 3}u]);`).join('\n    ')}
    let qb = th * (DH / 32u) + lid;
    ${quantizeBlockWgsl(quant.bits, quant.planes, 'qb')}
  }` : ''}
}
`,
  };
}
