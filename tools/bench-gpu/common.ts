/** Shared by the GPU benchmarks (bench-kernels, gemv-lab, bench-decode). */
import { create } from 'webgpu';

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
 * Dawn's GPU entry point with exact timestamps (Dawn rounds them to 100 µs by default, longer than one GEMV)
 * and no lazy clearing; plain when the binding rejects those toggles. The caller must hold the returned object
 * for the whole run: Dawn's Node binding crashes if GC collects it while work is pending.
 */
export function benchGpu(): GPU {
  try {
    return create(['disable-dawn-features=timestamp_quantization,lazy_clear_resource_on_first_use']);
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
