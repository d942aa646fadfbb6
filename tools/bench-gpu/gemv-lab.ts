/**
 * GEMV lab (GPU machine): separates what a quantized GEMV's time is made of, to decide where work pays.
 *   - empty: a dispatch of the GEMV's grid that does nothing — the fixed cost per dispatch, with and
 *     without a barrier before it (serial / independent);
 *   - read: every weight byte read once with vec4 loads and folded into one word per workgroup — the
 *     read-bandwidth ceiling of that weight size, with the same per-dispatch costs;
 *   - the engine's kernels, given by the caller as (name, KernelDef, bindings).
 * Run: node tools/bench-gpu/build.mjs && bash .gpu/device.sh node tools/bench-gpu/dist/gemv-lab.mjs
 */
import { globals } from 'webgpu';
import { benchGpu, copyBandwidth, rng, timedPass } from './common.js';

Object.assign(globalThis, globals);

export interface LabKernel {
  name: string;
  code: string;
  /** Buffers bound at 0…n−1, the first uniform, the last the output; a function of the rotation index. */
  bind: (r: number, out: GPUBuffer) => GPUBuffer[];
  workgroups: [number, number];
  bytes: number;
  /** Binding types; default: uniform, then read-only storage, the last read-write storage. */
  types?: GPUBufferBindingType[];
}

/** An explicit pipeline (layout 'auto' would drop bindings a variant leaves unused). */
export function labPipeline(device: GPUDevice, k: LabKernel, count: number): GPUComputePipeline {
  const types = k.types ?? Array.from({ length: count }, (_, i) => (i === 0 ? 'uniform' : i === count - 1 ? 'storage' : 'read-only-storage') as GPUBufferBindingType);
  const bgl = device.createBindGroupLayout({ entries: types.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
  return device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [bgl] }), compute: { module: device.createShaderModule({ code: k.code }), entryPoint: 'main' } });
}

/** One dispatch of `k` with rotation 0 into `out`, then the output read back. */
export async function labRun(device: GPUDevice, k: LabKernel, out: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const buffers = k.bind(0, out);
  const pipe = labPipeline(device, k, buffers.length);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: buffers.map((buffer, j) => ({ binding: j, resource: { buffer } })) }));
  pass.dispatchWorkgroups(...k.workgroups);
  pass.end();
  device.queue.submit([enc.finish()]);
  return readBack(device, out, bytes);
}

/** Held for the whole run: Dawn's Node binding crashes if GC collects the instance while work is pending. */
let keepGpu: GPU | undefined;

export async function labDevice(): Promise<{ device: GPUDevice; gpu: GPU; adapter: GPUAdapter }> {
  const gpu = benchGpu();
  keepGpu = gpu;
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
  const want: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'].filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({
    requiredFeatures: want,
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  device.addEventListener('uncapturederror', (e) => {
    console.error('GPU error', (e as GPUUncapturedErrorEvent).error.message.slice(0, 400));
    process.exit(2);
  });
  return { device, gpu, adapter };
}

/** GPU µs per dispatch from timestamps around one pass of `reps` dispatches. */
export async function labTime(device: GPUDevice, k: LabKernel, mode: 'serial' | 'independent', reps = 200, outBytes = 65536 * 4): Promise<number> {
  const module = device.createShaderModule({ code: k.code });
  const info = await module.getCompilationInfo();
  for (const m of info.messages) if (m.type === 'error') throw new Error(`${k.name}: ${m.message} at line ${m.lineNum}`);
  const pipeline = labPipeline(device, k, k.bind(0, device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE })).length);
  const outs = Array.from({ length: mode === 'serial' ? 1 : reps + 8 }, () => device.createBuffer({ size: outBytes, usage: GPUBufferUsage.STORAGE }));
  const groups = Array.from({ length: reps + 8 }, (_, r) => device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: k.bind(r, outs[r % outs.length]!).map((buffer, j) => ({ binding: j, resource: { buffer } })),
  }));
  // clocks drop while the CPU works between measurements: ~50 ms of this kernel first, then the best of 3 passes
  const spin = async (): Promise<void> => {
    const t0 = performance.now();
    while (performance.now() - t0 < 50) {
      const enc = device.createCommandEncoder();
      const warm = enc.beginComputePass();
      warm.setPipeline(pipeline);
      for (let r = 0; r < 100; r++) { warm.setBindGroup(0, groups[reps + (r % 8)]!); warm.dispatchWorkgroups(...k.workgroups); }
      warm.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    }
  };
  await spin();
  let best = Infinity;
  for (let trial = 0; trial < 3; trial++) best = Math.min(best, await timedPass(device, pipeline, reps, (r) => groups[r]!, k.workgroups));
  for (const o of outs) o.destroy();
  return best;
}

export function uniform(device: GPUDevice, words: number[]): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, words.length * 4), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(b, 0, new Uint32Array(words));
  return b;
}

export function storage(device: GPUDevice, data: ArrayBufferView | number): GPUBuffer {
  const size = typeof data === 'number' ? data : data.byteLength;
  const b = device.createBuffer({ size: Math.ceil(size / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  if (typeof data !== 'number') device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}

export async function readBack(device: GPUDevice, src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = read.getMappedRange().slice(0);
  read.unmap();
  read.destroy();
  return out;
}

/** The per-dispatch floor: a grid of `groups` workgroups of 128 that do nothing but one store. */
export function emptyKernel(device: GPUDevice, groups: number): LabKernel {
  const p = uniform(device, [0]);
  return {
    name: `empty ${groups} wg`,
    code: `struct P { z: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(128) fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  if (l == 0u) { y[w.x & 1023u] = w.x + p.z; }
}`,
    bind: (_r, out) => [p, out],
    workgroups: [groups, 1],
    bytes: 0,
  };
}

/** Reads `bufs[r]` (u32 words) once with vec4 loads, `per` vec4 per invocation, workgroups of 128. */
export function readKernel(device: GPUDevice, bufs: GPUBuffer[], bytes: number, per: number): LabKernel {
  const n4 = bytes / 16;
  const groups = Math.ceil(n4 / (128 * per));
  const p = uniform(device, [n4]);
  return {
    name: `read ${(bytes / 1e6).toFixed(1)} MB, ${per} vec4/inv`,
    code: `struct P { n4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(128) fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  var acc = vec4<u32>(0u);
  let base = w.x * ${128 * per}u + l;
  for (var i = 0u; i < ${per}u; i = i + 1u) { let j = min(base + i * 128u, p.n4 - 1u); acc = acc ^ src[j]; }
  let v = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (v == 0x12345678u) { y[w.x] = v; }
}`,
    bind: (r, out) => [p, bufs[r % bufs.length]!, out],
    workgroups: [groups, 1],
    bytes,
  };
}

// ---------------------------------------------------------------------------------------------------------
import { qmatvecKernel } from '../../engine/backends/webgpu/kernels/qmatvec.wgsl.js';
import { q8DefaultShape, qmatvecQ8Kernel, quantizeActivationsKernel, q8RowsPerGroup, QX_WORKGROUP, type Q8Bits } from '../../engine/backends/webgpu/kernels/qmatvec-q8.wgsl.js';
import { f16ToF32, f32ToF16 } from '../../engine/tensor/dtype.js';
import { readCode, wordsPerRow } from '../../engine/quant/layout.js';


const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : null;

async function main(): Promise<void> {
  const { device, adapter, gpu } = await labDevice();
  const langs = [...(gpu.wgslLanguageFeatures ?? [])];
  console.log('adapter', adapter.info?.vendor, adapter.info?.architecture, 'features', [...device.features].join(','), 'wgsl', langs.join(','));
  const results: Record<string, unknown>[] = [];
  const report = (name: string, serial: number, indep: number, bytes: number): { serialUs: number; independentUs: number } => {
    const gb = (us: number): string => (bytes ? `${(bytes / us / 1e3).toFixed(0)} GB/s` : '');
    console.log(`${name.padEnd(58)} serial ${serial.toFixed(2).padStart(7)} µs ${gb(serial).padStart(11)} | independent ${indep.toFixed(2).padStart(7)} µs ${gb(indep).padStart(11)}`);
    results.push({ name, serialUs: serial, independentUs: indep, bytes });
    return { serialUs: serial, independentUs: indep };
  };
  const both = async (k: LabKernel): Promise<{ serialUs: number; independentUs: number }> => report(k.name, await labTime(device, k, 'serial'), await labTime(device, k, 'independent'), k.bytes);

  for (const g of [896, 3584]) await both(emptyKernel(device, g));

  const copyGbps = (await copyBandwidth(device, 40)).gbps;
  console.log(`copy ${copyGbps.toFixed(0)} GB/s (read + write of 512 MiB)`);
  const summary: { shape: string; bytes: number; [k: string]: unknown }[] = [];

  // --shapes decode: the int4 GEMVs of a fused Llama-3.1-8B and Llama-3.2-1B decode step (qkv, o, gate/up, down)
  const shapes: [Q8Bits, number, number][] = args.includes('--shapes') && args[args.indexOf('--shapes') + 1] === 'decode'
    ? (args.includes('--long-k') ? (args.includes('--tall') ? [[4, 28672, 4096], [4, 16384, 2048]] : [[4, 4096, 14336], [4, 2048, 8192]]) : [[4, 6144, 4096], [4, 4096, 4096], [4, 28672, 4096], [4, 4096, 14336], [4, 3072, 2048], [4, 2048, 2048], [4, 16384, 2048], [4, 2048, 8192]])
    : [[4, 4096, 4096], [4, 14336, 4096], [4, 4096, 14336], [8, 4096, 4096], [8, 14336, 4096], [2, 4096, 4096]];
  for (const [bits, n, k] of shapes) {
    if (only && !only.includes(`${bits}:${n}x${k}`)) continue;
    const r = rng(n + k + bits);
    const words = n * wordsPerRow(k, bits);
    const data = new Uint32Array(words);
    for (let i = 0; i < words; i++) data[i] = Math.floor(r() * 2 ** 32);
    const groups = (n * k) / 32;
    const sc = new Uint32Array(Math.ceil(groups / 2));
    for (let i = 0; i < groups; i++) sc[i >> 1]! |= f32ToF16((0.5 + r()) / (1 << bits)) << (i & 1 ? 16 : 0);
    const x = new Float32Array(k);
    for (let i = 0; i < k; i++) x[i] = r() * 2 - 1;
    const wBytes = data.byteLength + sc.byteLength;
    const copies = Math.max(2, Math.ceil(160e6 / wBytes));
    const dBufs = Array.from({ length: copies }, () => storage(device, data));
    const sBufs = Array.from({ length: copies }, () => storage(device, sc));
    const xBuf = storage(device, x);
    const tag = `int${bits} ${n}×${k}`;

    const row: { shape: string; bytes: number; [k: string]: unknown } = { shape: `int${bits} g32 sym ${n}×${k}`, bytes: wBytes };
    summary.push(row);
    row.readBytes = data.byteLength;
    row.readOnly = await both({ ...readKernel(device, dBufs, data.byteLength, 4), name: `${tag} read-only ceiling (codes only)` });

    // reference: f32 activations, and the q8-activation emulation
    const zero = 1 << (bits - 1);
    const xq = new Int32Array(k);
    const xl = new Int32Array(k);
    const xs = new Float32Array(k / 32);
    const rhe = (v: number): number => { let q = Math.round(v); if (Math.abs(v % 1) === 0.5 && q % 2 !== 0) q -= 1; return q; };
    for (let b = 0; b < k / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]!));
      xs[b] = Math.fround(amax / 127);
      const inv = amax > 0 ? Math.fround(127 / amax) : 0;
      for (let i = 0; i < 32; i++) {
        const v = Math.fround(x[b * 32 + i]! * inv);
        const h = Math.max(-127, Math.min(127, rhe(v)));
        xq[b * 32 + i] = h;
        xl[b * 32 + i] = Math.max(-127, Math.min(127, rhe(Math.fround(Math.fround(v - h) * 254))));
      }
    }
    const checked = Math.min(n, 1024);
    const wantF32 = new Float64Array(checked);
    const wantQ8 = new Float64Array(checked);
    const wantQ16 = new Float64Array(checked);
    for (let row = 0; row < checked; row++) {
      let a = 0;
      let c = 0;
      let c2 = 0;
      for (let g = 0; g < k / 32; g++) {
        const gi = row * (k / 32) + g;
        const s = f16ToF32((sc[gi >> 1]! >>> (gi & 1 ? 16 : 0)) & 0xffff);
        let sf = 0;
        let sq = 0;
        let sl = 0;
        for (let i = 0; i < 32; i++) {
          const q = readCode(data, row, g * 32 + i, k, bits) - zero;
          sf += q * x[g * 32 + i]!;
          sq += q * xq[g * 32 + i]!;
          sl += q * xl[g * 32 + i]!;
        }
        a += s * sf;
        c += s * xs[g]! * sq;
        c2 += s * xs[g]! * (sq + sl / 254);
      }
      wantF32[row] = a;
      wantQ8[row] = c;
      wantQ16[row] = c2;
    }
    const rel = (got: Float32Array, want: Float64Array): number => {
      let num = 0;
      let worst = 0;
      for (let i = 0; i < want.length; i++) { num = Math.max(num, Math.abs(want[i]!)); }
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / num);
      return worst;
    };

    // current f32-activation kernel
    const p = uniform(device, [n, k, 1, 0]);
    for (const [wg, tpr, rows, unroll] of [[128, 32, n >= 8192 ? 8 : 4, 2]] as const) {
      const def = qmatvecKernel({ bits, symmetric: true }, { wg, tpr, rows, unroll, subgroup: 32 });
      const out = storage(device, n * 4);
      const kk: LabKernel = { name: `${tag} f32-x qmatvec wg ${wg} tpr ${tpr} rows ${rows} unroll ${unroll}`, code: def.code, bind: (i, o) => [p, dBufs[i % copies]!, sBufs[i % copies]!, sBufs[i % copies]!, xBuf, o], workgroups: [Math.ceil(n / ((wg / tpr) * rows)), 1], bytes: wBytes };
      row.f32 = { config: `wg ${wg} tpr ${tpr} rows ${rows} unroll ${unroll}`, ...(await both(kk)) };
      const got = new Float32Array(await labRun(device, kk, out, n * 4));
      (row.f32 as Record<string, unknown>).maxErrOverMaxY = rel(got, wantF32);
      console.log(`   max err / max|y| vs f32 reference: ${rel(got, wantF32).toExponential(2)}`);
    }

    // int8 activations (one or two planes): quantizer, then the GEMV
    const px = uniform(device, [k]);
    const xqBuf = storage(device, k * 2);
    const xdBuf = storage(device, (k / 32) * 16);
    for (const planes of [1, 2] as const) {
      const qdef = quantizeActivationsKernel(bits, planes);
      const qx: LabKernel = { name: `${tag} quantize x (${k}) planes ${planes}`, code: qdef.code, bind: (_i, o) => [px, xBuf, xqBuf, o], workgroups: [Math.ceil(k / 32 / QX_WORKGROUP), 1], bytes: 0, types: ['uniform', 'read-only-storage', 'storage', 'storage'] };
      const quant = await both(qx);
      await labRun(device, qx, xdBuf, 16);
      const d = q8DefaultShape(bits, planes, true);
      const configs = args.includes('--sweep')
        ? args.includes('--long-k')
          // long K: more invocations per row, fewer serial turns per invocation
          ? [[d.wg, d.tpr, d.rows, d.unroll], [128, 64, 2, 1], [128, 128, 2, 1], [128, 128, 1, 2], [256, 128, 2, 1], [256, 256, 1, 1], [128, 128, 4, 1], [256, 64, 2, 2], [128, 64, 4, 1], [128, 32, 8, 1], [256, 64, 4, 1], [128, 64, 8, 1]]
          : [[128, 32, 1, 4], [128, 32, 1, 2], [128, 32, 2, 2], [128, 32, 2, 1], [128, 32, 4, 1], [128, 32, 4, 2], [128, 32, 8, 1], [64, 32, 2, 1], [64, 32, 4, 1], [256, 32, 1, 4], [256, 32, 2, 1], [256, 32, 4, 1], [256, 32, 8, 1]]
        : [[d.wg, d.tpr, d.rows, d.unroll]];
      for (const [wg, tpr, rows, unroll] of configs) {
        // a slot wider than one subgroup reduces through workgroup memory
        const shape = { wg: wg!, tpr: tpr!, rows: rows!, unroll: unroll!, subgroup: tpr === 32 };
        const isDefault = wg === d.wg && tpr === d.tpr && rows === d.rows && unroll === d.unroll;
        const def = qmatvecQ8Kernel(bits, true, planes, shape);
        const kk: LabKernel = { name: `${tag} int8x${planes}-x qmatvec wg ${wg} tpr ${tpr} rows ${rows} unroll ${unroll}`, code: def.code, bind: (i, o) => [p, dBufs[i % copies]!, sBufs[i % copies]!, sBufs[i % copies]!, xqBuf, xdBuf, o], workgroups: [Math.ceil(n / q8RowsPerGroup(shape)), 1], bytes: wBytes };
        const fig = await both(kk);
        const out = storage(device, n * 4);
        const got = new Float32Array(await labRun(device, kk, out, n * 4));
        if (isDefault) row[planes === 2 ? 'int8x2' : 'int8'] = { config: `wg ${wg} tpr ${tpr} rows ${rows} unroll ${unroll}`, ...fig, quantizeXUs: quant.serialUs, maxErrOverMaxY: rel(got, wantF32), maxErrVsEmulation: rel(got, planes === 1 ? wantQ8 : wantQ16) };
        console.log(`   max err / max|y|: vs emulation ${rel(got, planes === 1 ? wantQ8 : wantQ16).toExponential(2)}, vs f32 reference ${rel(got, wantF32).toExponential(2)}`);
        out.destroy();
      }
    }
    for (const b of [...dBufs, ...sBufs, xBuf, xqBuf, xdBuf]) b.destroy();
  }
  const pct = (bytes: number, us: number): string => `${((100 * bytes) / us / 1e3 / copyGbps).toFixed(0)} %`;
  const cell = (r: { bytes: number; [k: string]: unknown }, key: string, mode: 'serialUs' | 'independentUs'): string => {
    const f = r[key] as { serialUs: number; independentUs: number } | undefined;
    const bytes = key === 'readOnly' ? (r.readBytes as number) : r.bytes;
    return f ? `${(bytes / f[mode] / 1e3).toFixed(0)} (${pct(bytes, f[mode])})` : '';
  };
  console.log(`\nGEMV GB/s (% of copy ${copyGbps.toFixed(0)} GB/s). serial = every dispatch overwrites the previous output (a barrier between them, as in a decode step); independent = each its own output. Read-only = every code byte loaded once, no math.`);
  console.log('| shape | read-only serial | read-only indep. | f32-x serial | f32-x indep. | int8x2 serial (default) | int8x2 indep. | int8 serial | int8 indep. | quantize x µs |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of summary) {
    const q = (r.int8x2 as { quantizeXUs?: number } | undefined)?.quantizeXUs;
    console.log(`| ${r.shape} | ${cell(r, 'readOnly', 'serialUs')} | ${cell(r, 'readOnly', 'independentUs')} | ${cell(r, 'f32', 'serialUs')} | ${cell(r, 'f32', 'independentUs')} | ${cell(r, 'int8x2', 'serialUs')} | ${cell(r, 'int8x2', 'independentUs')} | ${cell(r, 'int8', 'serialUs')} | ${cell(r, 'int8', 'independentUs')} | ${q?.toFixed(2) ?? ''} |`);
  }
  if (args.includes('--out')) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(args[args.indexOf('--out') + 1]!, `${JSON.stringify({
      date: new Date().toISOString(),
      machine: { vendor: adapter.info?.vendor, architecture: adapter.info?.architecture, description: adapter.info?.description },
      method: 'GPU µs per dispatch from timestamp queries around one compute pass of 200 dispatches (best of 3 passes after ~50 ms of the same kernel), weights rotated through copies worth ≥ 160 MB so every dispatch reads DRAM (H100 L2: 50 MB). serial: every dispatch writes the same output (Dawn puts a barrier between them, as between dependent ops); independent: each writes its own buffer. GB/s counts weight codes + f16 scales; the copy ceiling is the wall time of 40 dispatches of the copy kernel over 512 MiB (tools/bench-gpu/common.ts). GEMV figures exclude the activation quantization pass (quantizeXUs, one per distinct x: Q/K/V and gate/up share one). Errors: max |y − y_ref| / max |y_ref| over the first 1024 rows vs an f64 reference with f32 activations.',
      copyGbps, summary, dispatches: results,
    }, null, 2)}\n`);
  }
  device.destroy();
  void keepGpu;
}

await main();
