/** Shared by the GPU benchmarks (bench-kernels, gemv-lab, bench-decode). */
import { create } from 'webgpu';
import { copyKernel } from '../../engine/backends/webgpu/kernels/copy.wgsl.js';

/** Seeded uniform [0, 1) generator (mulberry32): benchmark data that every run regenerates identically. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Dawn's GPU entry point with exact timestamps (Dawn rounds them to 100 µs by default, longer than one GEMV),
 * no lazy clearing, and unsafe APIs allowed (for timestamps inside passes: in-pass kernel profiles); plain when the binding rejects those toggles. The caller must hold the returned object
 * for the whole run: Dawn's Node binding crashes if GC collects it while work is pending.
 */
export function benchGpu(): GPU {
  try {
    return create(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization,lazy_clear_resource_on_first_use']);
  } catch {
    return create([]);
  }
}

/**
 * GPU µs per dispatch: `reps` dispatches of `pipeline` (bind group `groupOf(r)`, grid `grid`) in one compute pass
 * between two timestamp queries, after whatever `before` records into the same encoder (a warm-up pass).
 */
export async function timedPass(
  device: GPUDevice, pipeline: GPUComputePipeline, reps: number, groupOf: (r: number) => GPUBindGroup,
  grid: readonly [number, number], before?: (enc: GPUCommandEncoder) => void,
): Promise<number> {
  const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  before?.(enc);
  const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  pass.setPipeline(pipeline);
  for (let r = 0; r < reps; r++) { pass.setBindGroup(0, groupOf(r)); pass.dispatchWorkgroups(grid[0], grid[1]); }
  pass.end();
  enc.resolveQuerySet(qs, 0, 2, resolve, 0);
  enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const o of [resolve, read]) o.destroy();
  qs.destroy();
  return Number(t[1]! - t[0]!) / 1000 / reps;
}

/**
 * The ceiling every GEMV and decode figure is compared with: the engine's WGSL copy kernel over 512 MiB, bytes
 * read + written per second, wall time of `reps` dispatches in one submit (best of two grid sizes).
 */
export async function copyBandwidth(device: GPUDevice, reps = 40, stage: (what: string) => void = () => {}): Promise<{ gbps: number; bytes: number; reps: number; workgroups: number }> {
  const bytes = 512 * 2 ** 20;
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([bytes / 16, 0, 0, 0]));
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: copyKernel().code }), entryPoint: 'main' } });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [params, src, dst].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  let best = { gbps: 0, bytes, reps, workgroups: 0 };
  for (const workgroups of [132 * 16, 65535]) {
    const run = async (n: number): Promise<number> => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let r = 0; r < n; r++) pass.dispatchWorkgroups(workgroups);
      pass.end();
      const cmd = enc.finish();
      const t0 = performance.now();
      device.queue.submit([cmd]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / 1000;
    };
    // ~10 ms of the kernel first: clocks are low after the CPU-side set-up
    stage(`copy: ${workgroups} workgroups, warm-up`);
    await run(20);
    stage(`copy: ${workgroups} workgroups, ${reps} reps`);
    const gbps = (2 * bytes * reps) / (await run(reps)) / 1e9;
    if (gbps > best.gbps) best = { gbps, bytes, reps, workgroups };
  }
  for (const b of [src, dst, params]) b.destroy();
  return best;
}
