/**
 * GPU kernel benchmark for Node.js + Dawn (`webgpu` package) on a real GPU: the WGSL copy bandwidth (the
 * ceiling, measured in the same run), the engine's int4/int8 GEMV (qmatvec) at 4096×4096 and 14336×4096 in GB/s
 * and % of that ceiling, and f32 matmul at 4096³ in TFLOP/s. Every figure times many back-to-back dispatches
 * recorded into one command buffer (submit → onSubmittedWorkDone), never a single dispatch. Each kernel is also
 * checked against the cpu reference backend on the same GPU. Prints a table; `--out file.json` writes JSON.
 *
 * Build: node tools/bench-gpu/build.mjs → tools/bench-gpu/dist/bench-kernels.mjs
 * Run (GPU machine): bash .gpu/device.sh node tools/bench-gpu/dist/bench-kernels.mjs --out $OUT/gpu-kernels.json
 */
import { writeFileSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { copyKernel } from '../../engine/backends/webgpu/kernels/copy.wgsl.js';
import { TILE_LARGE, TILE_SMALL, type MatmulTile } from '../../engine/backends/webgpu/kernels/matmul.wgsl.js';
import { f16Words, wordsPerRow, type QuantFormat } from '../../engine/quant/layout.js';
import type { QuantizedTensor } from '../../engine/quant/quantized-tensor.js';
import { f32ToF16 } from '../../engine/tensor/dtype.js';
import type { Tensor } from '../../engine/tensor/tensor.js';

Object.assign(globalThis, globals);

const args = process.argv.slice(2);
const outPath = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const quick = args.includes('--quick');
/** Progress on stderr (unbuffered): a native crash in the driver or Dawn then still shows how far the run got. */
const stage = (what: string): void => void process.stderr.write(`[bench ${(performance.now() / 1000).toFixed(1)} s] ${what}\n`);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomF32(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return out;
}

/** A packed [n, k] weight (engine/quant/layout.ts): random codes (any bit pattern is valid) and f16 scales. */
function randomPacked(f: QuantFormat, n: number, k: number, seed: number): { data: Uint32Array; scales: Uint32Array } {
  const r = rng(seed);
  const data = new Uint32Array(n * wordsPerRow(k, f.bits));
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 2 ** 32);
  const halves = (n * k) / f.groupSize;
  const scales = new Uint32Array(f16Words(halves));
  for (let i = 0; i < halves; i++) {
    const h = f32ToF16((0.5 + r()) / (1 << f.bits));
    scales[i >> 1]! |= i & 1 ? h << 16 : h;
  }
  return { data, scales };
}

function maxRelError(a: Float32Array, e: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / (1 + Math.abs(e[i]!)));
  return worst;
}

/** Seconds per op: records `reps` ops (each output disposed at once, so the pool hands the same buffer back), then times submit → done. */
async function timeOps(b: WebGPUBackend, reps: number, op: () => Tensor): Promise<number> {
  for (let i = 0; i < 3; i++) op().dispose();
  await b.sync();
  for (let i = 0; i < reps; i++) op().dispose();
  const t0 = performance.now();
  await b.sync();
  return (performance.now() - t0) / 1000 / reps;
}

async function copyBandwidth(device: GPUDevice): Promise<{ gbps: number; bytes: number; reps: number; workgroups: number }> {
  const bytes = 512 * 2 ** 20;
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([bytes / 16, 0, 0, 0]));
  const def = copyKernel();
  stage('copy: buffers written');
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: def.code }), entryPoint: 'main' } });
  stage('copy: pipeline');
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: src } }, { binding: 2, resource: { buffer: dst } }],
  });
  const reps = quick ? 10 : 40;
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
    stage(`copy: ${workgroups} workgroups, warm-up`);
    await run(3);
    stage(`copy: ${workgroups} workgroups, ${reps} reps`);
    const s = await run(reps);
    const gbps = (2 * bytes * reps) / s / 1e9;
    if (gbps > best.gbps) best = { gbps, bytes, reps, workgroups };
  }
  src.destroy();
  dst.destroy();
  params.destroy();
  return best;
}

interface GemvResult {
  name: string; n: number; k: number; bits: number; groupSize: number; bytes: number;
  usPerOp: number; gbps: number; pctOfCopy: number; config: string; maxRelError: number;
  variants: { config: string; usPerOp: number; gbps: number }[];
}

async function gemv(b: WebGPUBackend, cpu: CpuBackend, f: QuantFormat, n: number, k: number, copyGbps: number): Promise<GemvResult> {
  const packed = randomPacked(f, n, k, n + k + f.bits);
  const xd = randomF32(k, 7);
  const q: QuantizedTensor = b.uploadQuantized(f, [n, k], packed.data, packed.scales, null);
  const x = b.upload(xd, [k]);
  const bytes = packed.data.byteLength + packed.scales.byteLength + k * 4 + n * 4;
  const reps = quick ? 100 : 500;
  const variants: GemvResult['variants'] = [];
  const tprs = quick ? [null] : [null, 32, 64, 128, 256];
  const rowsList = quick ? [null] : [null, 1, 2, 4, 8];
  for (const tpr of tprs) {
    for (const rows of rowsList) {
      if ((tpr === null) !== (rows === null)) continue;
      b.tuning.matvecTpr = tpr;
      b.tuning.matvecRows = rows;
      const s = await timeOps(b, reps, () => b.qmatvec(q, x));
      variants.push({ config: tpr === null ? 'default' : `tpr ${tpr} rows ${rows}`, usPerOp: s * 1e6, gbps: bytes / s / 1e9 });
    }
  }
  const best = variants.reduce((a, c) => (c.gbps > a.gbps ? c : a));
  b.tuning.matvecTpr = null;
  b.tuning.matvecRows = null;
  // correctness of the default configuration on this GPU, against the cpu reference
  const y = b.qmatvec(q, x);
  const got = (await b.download(y)) as Float32Array;
  y.dispose();
  const cq = cpu.uploadQuantized(f, [n, k], packed.data, packed.scales, null);
  const want = (await cpu.download(cpu.qmatvec(cq, cpu.upload(xd, [k])))) as Float32Array;
  q.data.dispose();
  q.scales.dispose();
  x.dispose();
  return {
    name: `int${f.bits} g${f.groupSize} sym qmatvec ${n}×${k}`, n, k, bits: f.bits, groupSize: f.groupSize, bytes,
    usPerOp: best.usPerOp, gbps: best.gbps, pctOfCopy: (100 * best.gbps) / copyGbps, config: best.config,
    maxRelError: maxRelError(got, want), variants,
  };
}

interface MatmulResult { name: string; m: number; n: number; k: number; msPerOp: number; tflops: number; tile: string; maxRelErrorAt512: number; variants: { tile: string; msPerOp: number; tflops: number }[] }

async function matmul(b: WebGPUBackend, cpu: CpuBackend, size: number): Promise<MatmulResult> {
  const tiles: [string, MatmulTile][] = [['128x128x8 8x8', TILE_LARGE], ['64x64x16 4x4', TILE_SMALL]];
  const ad = randomF32(size * size, 1);
  const bd = randomF32(size * size, 2);
  const a = b.upload(ad, [size, size]);
  const bb = b.upload(bd, [size, size]);
  const flop = 2 * size ** 3;
  const variants: MatmulResult['variants'] = [];
  for (const [name, tile] of tiles) {
    b.tuning.matmulTile = tile;
    const s = await timeOps(b, quick ? 3 : 10, () => b.matmul(a, bb));
    variants.push({ tile: name, msPerOp: s * 1e3, tflops: flop / s / 1e12 });
  }
  b.tuning.matmulTile = null;
  a.dispose();
  bb.dispose();
void gpu;
  const best = variants.reduce((x, c) => (c.tflops > x.tflops ? c : x));
  // correctness of the large tile at 512³ (the cpu reference needs seconds beyond that)
  const m = 512;
  const a5 = randomF32(m * m, 3);
  const b5 = randomF32(m * m, 4);
  b.tuning.matmulTile = TILE_LARGE;
  const y = b.matmul(b.upload(a5, [m, m]), b.upload(b5, [m, m]));
  b.tuning.matmulTile = null;
  const got = (await b.download(y)) as Float32Array;
  const want = (await cpu.download(cpu.matmul(cpu.upload(a5, [m, m]), cpu.upload(b5, [m, m])))) as Float32Array;
  return { name: `f32 matmul ${size}³`, m: size, n: size, k: size, msPerOp: best.msPerOp, tflops: best.tflops, tile: best.tile, maxRelErrorAt512: maxRelError(got, want), variants };
}

stage('create backend');
// held for the whole run: Dawn's Node binding crashes if GC collects the instance while work is pending
const gpu = create([]);
const b = await createWebGPUBackendInternal({ gpu, powerPreference: 'high-performance' });
const cpu = new CpuBackend();
const info = b.adapterInfo;
const adapter = { vendor: info?.vendor, architecture: info?.architecture, description: info?.description, subgroups: b.hasSubgroups };
console.log('adapter', JSON.stringify(adapter));

stage('copy bandwidth');
const copy = args.includes('--skip-copy') ? { gbps: NaN, bytes: 0, reps: 0, workgroups: 0 } : await copyBandwidth(b.device);
console.log(`copy bandwidth ${copy.gbps.toFixed(0)} GB/s (read + write, ${copy.reps} × ${copy.bytes / 2 ** 20} MiB, ${copy.workgroups} workgroups)`);

const gemvs: GemvResult[] = [];
for (const bits of [4, 8] as const) {
  for (const [n, k] of [[4096, 4096], [14336, 4096]] as const) {
    stage(`gemv int${bits} ${n}×${k}`);
    const r = await gemv(b, cpu, { bits, groupSize: 32, symmetric: true }, n, k, copy.gbps);
    gemvs.push(r);
    console.log(`${r.name}: ${r.gbps.toFixed(0)} GB/s (${r.pctOfCopy.toFixed(1)} % of copy), ${r.usPerOp.toFixed(2)} µs, best ${r.config}; max rel error ${r.maxRelError.toExponential(2)}`);
  }
}
stage('matmul');
const mm = await matmul(b, cpu, quick ? 1024 : 4096);
console.log(`${mm.name}: ${mm.tflops.toFixed(2)} TFLOP/s (${mm.msPerOp.toFixed(2)} ms, tile ${mm.tile}); max rel error at 512³ ${mm.maxRelErrorAt512.toExponential(2)}`);

console.log('\n| kernel | figure | % of copy | time/op | config |');
console.log('| --- | --- | --- | --- | --- |');
console.log(`| copy (WGSL, vec4) | ${copy.gbps.toFixed(0)} GB/s | 100 | | ${copy.workgroups} workgroups |`);
for (const r of gemvs) console.log(`| ${r.name} | ${r.gbps.toFixed(0)} GB/s | ${r.pctOfCopy.toFixed(1)} | ${r.usPerOp.toFixed(2)} µs | ${r.config} |`);
console.log(`| ${mm.name} | ${mm.tflops.toFixed(2)} TFLOP/s | | ${mm.msPerOp.toFixed(2)} ms | ${mm.tile} |`);

const result = {
  date: new Date().toISOString(),
  machine: adapter,
  method: 'many back-to-back dispatches recorded into one command buffer; wall time from submit to onSubmittedWorkDone divided by the count',
  copy,
  gemv: gemvs,
  matmul: mm,
  stats: b.stats(),
  gpuErrors: b.gpuErrors(),
};
if (outPath) writeFileSync(outPath, `${JSON.stringify(result, null, 2)}\n`);
b.dispose();
void gpu;
