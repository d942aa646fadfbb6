/**
 * What one dependent dispatch costs the GPU under Dawn: the floor under every decode step, which is a chain of a
 * few hundred dependent dispatches. Times `reps` dispatches of a kernel that does almost nothing, in one compute
 * pass between timestamp queries, as a dependent chain (each reads what the previous one wrote: Dawn puts a
 * barrier between them) and as independent dispatches (each writes its own buffer: no barrier), for several grid
 * sizes. tools/bench-gpu/torch_dispatch.py measures the same chain in CUDA (eager and CUDA graph) for comparison.
 *
 *   node tools/bench-gpu/build.mjs && bash .gpu/device.sh node tools/bench-gpu/dist/bench-dispatch.mjs --out $OUT/gpu-dispatch.json
 * Flags: --features <Dawn toggles to enable, comma-separated>  --reps 1000
 */
import { writeFileSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { timedPass } from './common.js';

Object.assign(globalThis, globals);
const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const reps = Number(arg('--reps', '1000'));
const features = arg('--features', '');
const gpu = create([
  'disable-dawn-features=timestamp_quantization,lazy_clear_resource_on_first_use',
  ...(features ? [`enable-dawn-features=${features}`] : []),
]);
const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
const device = await adapter.requestDevice({ requiredFeatures: ['timestamp-query'] });
const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x == 0u) { dst[0] = src[0] + 1u; }
}`;
const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
const buf = (): GPUBuffer => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
const group = (a: GPUBuffer, b: GPUBuffer): GPUBindGroup =>
  device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [a, b].map((buffer, binding) => ({ binding, resource: { buffer } })) });
const [x, y] = [buf(), buf()];
const chain = [group(x, y), group(y, x)];
const outs = Array.from({ length: reps }, () => group(x, buf()));
const rows: { grid: number; chainUs: number; independentUs: number }[] = [];
for (const grid of [1, 132, 528, 2112]) {
  await timedPass(device, pipeline, 50, (r) => chain[r % 2]!, [grid, 1]); // warm-up
  const chainUs = await timedPass(device, pipeline, reps, (r) => chain[r % 2]!, [grid, 1]);
  const independentUs = await timedPass(device, pipeline, reps, (r) => outs[r]!, [grid, 1]);
  rows.push({ grid, chainUs, independentUs });
  console.log(`grid ${String(grid).padStart(5)} × 256: dependent ${chainUs.toFixed(2)} µs/dispatch, independent ${independentUs.toFixed(2)} µs/dispatch`);
}
// CPU: what recording costs in this binding — setPipeline, setBindGroup with a dynamic offset and
// dispatchWorkgroups per dispatch (alternating two pipelines and 16 bind groups, as a decode step does), then
// finish and submit; wall time, waiting for the GPU excluded (it runs the trivial kernel faster than this).
const layout = device.createBindGroupLayout({
  entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
  ],
});
const uniformCode = code.replace('@group(0) @binding(0) var<storage, read> src', 'struct P { n: u32 }\n@group(0) @binding(0) var<uniform> p: P;\n@group(0) @binding(1) var<storage, read> src').replace('@binding(1) var<storage, read_write> dst', '@binding(2) var<storage, read_write> dst').replace('dst[0] = src[0] + 1u', 'dst[0] = src[0] + p.n');
const pl = device.createPipelineLayout({ bindGroupLayouts: [layout] });
const pipes = [0, 1].map(() => device.createComputePipeline({ layout: pl, compute: { module: device.createShaderModule({ code: uniformCode }), entryPoint: 'main' } }));
const ring = device.createBuffer({ size: 256 * 1024, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
const bufs = Array.from({ length: 17 }, buf);
const groups = Array.from({ length: 16 }, (_, i) => device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: ring, size: 16 } }, { binding: 1, resource: { buffer: bufs[i]! } }, { binding: 2, resource: { buffer: bufs[i + 1]! } }] }));
// the same with the dynamic offset passed as a Uint32Array range, and with no dynamic offset (a bind group per
// uniform slot, as a cache of groups keyed by slot would give)
const staticLayout = device.createBindGroupLayout({
  entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
  ],
});
const spl = device.createPipelineLayout({ bindGroupLayouts: [staticLayout] });
const staticPipes = [0, 1].map(() => device.createComputePipeline({ layout: spl, compute: { module: device.createShaderModule({ code: uniformCode }), entryPoint: 'main' } }));
const staticGroups = Array.from({ length: 1024 }, (_, i) => device.createBindGroup({ layout: staticLayout, entries: [{ binding: 0, resource: { buffer: ring, offset: 256 * i, size: 16 } }, { binding: 1, resource: { buffer: bufs[i & 15]! } }, { binding: 2, resource: { buffer: bufs[(i & 15) + 1]! } }] }));
const offsets = new Uint32Array(1);
const cpu: { variant: string; dispatches: number; usPerDispatch: number; submitUs: number }[] = [];
const variants: [string, (pass: GPUComputePassEncoder, i: number) => void][] = [
  ['dynamic offset (array)', (pass, i) => { pass.setPipeline(pipes[i & 1]!); pass.setBindGroup(0, groups[i & 15]!, [256 * (i % 1024)]); pass.dispatchWorkgroups(1 + (i & 3)); }],
  ['dynamic offset (Uint32Array)', (pass, i) => { pass.setPipeline(pipes[i & 1]!); offsets[0] = 256 * (i % 1024); pass.setBindGroup(0, groups[i & 15]!, offsets, 0, 1); pass.dispatchWorkgroups(1 + (i & 3)); }],
  ['no dynamic offset', (pass, i) => { pass.setPipeline(staticPipes[i & 1]!); pass.setBindGroup(0, staticGroups[i % 1024]!); pass.dispatchWorkgroups(1 + (i & 3)); }],
];
for (const [variant, record] of variants) {
  for (const n of [166, 326]) {
    let best = Infinity;
    let bestSubmit = Infinity;
    for (let rep = 0; rep < 30; rep++) {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) record(pass, i);
      pass.end();
      const t1 = performance.now();
      device.queue.submit([enc.finish()]);
      const t2 = performance.now();
      await device.queue.onSubmittedWorkDone();
      if (t2 - t0 < best) { best = t2 - t0; bestSubmit = t2 - t1; }
    }
    cpu.push({ variant, dispatches: n, usPerDispatch: (1000 * best) / n, submitUs: 1000 * bestSubmit });
    console.log(`CPU, ${variant}: ${n} dispatches recorded and submitted in ${best.toFixed(3)} ms (${((1000 * best) / n).toFixed(2)} µs per dispatch; finish + submit ${(1000 * bestSubmit).toFixed(0)} µs)`);
  }
}
console.log(`adapter features: ${[...adapter.features].join(', ')}`);
const out = arg('--out', '');
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), adapter: adapter.info.description, features, reps, rows, cpu }, null, 2));
