/** WGSL shared by several kernels. */

/** Linear workgroup index of a 2-d grid (see kernel-def.ts grid()). */
export const WG_INDEX = /* wgsl */ `
fn wgIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }
`;

/** Workgroup tree reductions over 256 invocations; call from uniform control flow only. */
export const REDUCE_256 = /* wgsl */ `
var<workgroup> red: array<f32, 256>;
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

/**
 * Ranking for argmax/topk: larger value first, NaN after every number, lower index on ties; index NONE marks
 * padding and ranks last. NaN is tested on the bits because compilers may fold x != x away.
 */
export const RANKING = /* wgsl */ `
const NONE: u32 = 0xffffffffu;
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn ranksBefore(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  if (bi == NONE) { return ai != NONE; }
  if (ai == NONE) { return false; }
  let an = isNan(av);
  let bn = isNan(bv);
  if (an != bn) { return bn; }
  if (!an && av != bv) { return av > bv; }
  return ai < bi;
}
`;
