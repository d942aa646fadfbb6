import type { KernelDef } from '../kernel-def.js';

/**
 * dst = src as vec4<f32>, grid-stride over n4 vectors: the plainest memory-bound kernel there is, so its
 * bandwidth is the ceiling every GEMV and decode step is compared with.
 */
export function copyKernel(): KernelDef {
  return {
    key: 'copy',
    bindings: ['read', 'rw'],
    code: /* wgsl */ `
struct P { n4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let stride = n.x * 256u;
  for (var i = g.x; i < p.n4; i = i + stride) { dst[i] = src[i]; }
}
`,
  };
}
