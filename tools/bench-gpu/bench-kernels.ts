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
import { globals } from 'webgpu';
import { benchGpu, copyBandwidth, rng, timedPass } from './common.js';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { qmatvecKernel, qmatvecRowsPerGroup } from '../../engine/backends/webgpu/kernels/qmatvec.wgsl.js';
import { matvecKernel, matvecRowsPerGroup } from '../../engine/backends/webgpu/kernels/matvec.wgsl.js';
import type { KernelDef } from '../../engine/backends/webgpu/kernel-def.js';
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

/**
 * One configuration of a GEMV. GPU figures come from timestamp queries around one compute pass of many
 * dispatches (so CPU-side submit and completion polling are out of them); wall figures from the backend itself.
 */
interface GemvVariant {
  kernel: 'legacy' | 'v2';
  config: string;
  /** GPU µs per op, every op writing the output the previous one wrote: Dawn puts a barrier between them. */
  gpuSerialUs?: number;
  /** GPU µs per op, every op writing its own never-used output buffer: no barrier, dispatches may overlap. */
  gpuIndependentUs?: number;
  /** Wall µs per op through WebGPUBackend.qmatvec, same output each op, submit → onSubmittedWorkDone. */
  wallSerialUs?: number;
  maxRelError: number;
}

interface GemvFigure { config: string; gpuSerialGbps?: number; gpuIndependentGbps?: number; wallSerialGbps?: number; pctOfCopy: { gpuSerial?: number; gpuIndependent?: number; wallSerial?: number } }

interface GemvResult {
  name: string; n: number; k: number; bits: number; groupSize: number; bytes: number;
  /** Weight copies rotated through so that their total exceeds the L2 cache: every op reads weights from DRAM. */
  copies: number;
  before: GemvFigure;
  after: GemvFigure;
  /** The best swept split by GPU serial time (the default is chosen by a rule, not per shape). */
  bestSwept?: GemvFigure;
  maxRelError: number;
  variants: GemvVariant[];
}

const gbps = (bytes: number, us: number | undefined): number | undefined => (us === undefined ? undefined : bytes / (us * 1e-6) / 1e9);

interface Split { wg: number; tpr: number; rows: number; unroll: number }
const splitName = (c: Split): string => `wg ${c.wg} tpr ${c.tpr} rows ${c.rows} unroll ${c.unroll}`;

/** The work splits swept for the v2 kernel besides its default. */
function sweepSplits(): Split[] {
  const arg = args.includes('--splits') ? args[args.indexOf('--splits') + 1] : undefined;
  if (arg) return arg.split(',').map((t) => { const [wg, tpr, rows, unroll] = t.split(':').map(Number); return { wg: wg!, tpr: tpr!, rows: rows!, unroll: unroll! }; });
  if (quick) return [];
  const out: Split[] = [];
  for (const wg of [128, 256]) for (const tpr of [32, 128]) for (const rows of [4, 8]) for (const unroll of [1, 2, 4]) if (tpr <= wg) out.push({ wg, tpr, rows, unroll });
  return out;
}

interface GpuBufs { data: GPUBuffer[]; scales: GPUBuffer[]; x: GPUBuffer }

/**
 * GPU µs per dispatch of `def` over w [n, k] (weights rotated through `bufs`), from timestamps at the start and
 * end of one pass of `reps` dispatches: into one output buffer (serial) or each into a fresh one (independent).
 */
async function gpuTime(device: GPUDevice, def: KernelDef, rowsPerGroup: number, n: number, k: number, bufs: GpuBufs, mode: 'serial' | 'independent'): Promise<number | undefined> {
  if (!device.features.has('timestamp-query')) return undefined;
  const bgl = device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ...[1, 2, 3, 4].map((i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' as const } })),
      { binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [bgl] }), compute: { module: device.createShaderModule({ code: def.code }), entryPoint: 'main' } });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([n, k, 1, 0]));
  const reps = quick ? 50 : 200;
  const outs = Array.from({ length: mode === 'serial' ? 1 : reps + 8 }, () => device.createBuffer({ size: Math.max(256, n * 4), usage: GPUBufferUsage.STORAGE }));
  const group = (r: number): GPUBindGroup => device.createBindGroup({
    layout: bgl,
    entries: [params, bufs.data[r % bufs.data.length]!, bufs.scales[r % bufs.data.length]!, bufs.scales[r % bufs.data.length]!, bufs.x, outs[r % outs.length]!].map((buffer, j) => ({ binding: j, resource: { buffer } })),
  });
  const count = Math.ceil(n / rowsPerGroup);
  const gx = Math.min(count, 65535);
  // warm-up pass (clocks, caches of x, and for 'independent' the first 8 outputs) then the timed pass
  const us = await timedPass(device, pipeline, reps, group, [gx, Math.ceil(count / gx)], (enc) => {
    const warm = enc.beginComputePass();
    warm.setPipeline(pipeline);
    for (let r = 0; r < 8; r++) { warm.setBindGroup(0, group(mode === 'serial' ? r : reps + r)); warm.dispatchWorkgroups(gx, Math.ceil(count / gx)); }
    warm.end();
  });
  for (const o of [params, ...outs]) o.destroy();
  return us > 0 ? us : undefined;
}

/** Wall µs per op: batches of ops recorded and submitted while the GPU runs the previous batch, then one wait. */
async function wallTime(b: WebGPUBackend, op: () => Tensor): Promise<number> {
  const batches = quick ? 2 : 4;
  const per = 1000;
  for (let i = 0; i < 3; i++) op().dispose();
  await b.sync();
  for (let i = 0; i < per; i++) op().dispose();
  const t0 = performance.now();
  b.flush();
  for (let j = 1; j < batches; j++) {
    for (let i = 0; i < per; i++) op().dispose();
    b.flush();
  }
  await b.sync();
  return ((performance.now() - t0) * 1e3) / (batches * per);
}

async function gemv(b: WebGPUBackend, cpu: CpuBackend, f: QuantFormat, n: number, k: number, copyGbps: number): Promise<GemvResult> {
  const packed = randomPacked(f, n, k, n + k + f.bits);
  const xd = randomF32(k, 7);
  const bytes = packed.data.byteLength + packed.scales.byteLength + k * 4 + n * 4;
  // H100 L2 is 50 MB: rotate through copies worth ≥ 160 MB so every op streams its weights from DRAM
  const copies = Math.max(2, Math.ceil((args.includes('--small') ? 1e6 : 160e6) / bytes));
  const qs: QuantizedTensor[] = [];
  for (let c = 0; c < copies; c++) qs.push(b.uploadQuantized(f, [n, k], packed.data, packed.scales, null));
  const x = b.upload(xd, [k]);
  const cq = cpu.uploadQuantized(f, [n, k], packed.data, packed.scales, null);
  const want = (await cpu.download(cpu.qmatvec(cq, cpu.upload(xd, [k])))) as Float32Array;
  const storage = (tt: Tensor): GPUBuffer => (tt.storage as unknown as { buffer: GPUBuffer }).buffer;
  const bufs: GpuBufs = { data: qs.map((q) => storage(q.data)), scales: qs.map((q) => storage(q.scales)), x: storage(x) };
  let turn = 0;
  const op = (): Tensor => b.qmatvec(qs[turn++ % copies]!, x);
  // every variant's result through the backend, against the cpu reference
  const check = async (): Promise<number> => {
    const y = b.qmatvec(qs[1]!, x);
    const got = (await b.download(y)) as Float32Array;
    y.dispose();
    return maxRelError(got, want);
  };
  const t = b.tuning;
  // this sweep is of the f32-activation kernels (legacy and v2); the int8-activation default is measured by gemv-lab.ts
  const reset = (): void => { Object.assign(t, { qmatvecLegacy: false, qmatvecActivations: 'f32', matvecTpr: null, matvecRows: null, matvecUnroll: null, matvecWorkgroup: null, subgroups: b.hasSubgroups }); };
  const variants: GemvVariant[] = [];
  const sg = (tpr: number): number => {
    const info = b.adapterInfo as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
    const min = info?.subgroupMinSize ?? 0;
    const max = info?.subgroupMaxSize ?? 0;
    return b.hasSubgroups && min > 0 && max <= tpr ? (min === max ? min : -1) : 0;
  };
  const both = async (def: KernelDef, rpg: number): Promise<[number | undefined, number | undefined]> =>
    [await gpuTime(b.device, def, rpg, n, k, bufs, 'serial'), await gpuTime(b.device, def, rpg, n, k, bufs, 'independent')];

  // before: the first kernel at the splits its own sweep found best
  for (const [tpr, rows] of [[64, 4], [128, 4], [256, 8]] as const) {
    reset();
    Object.assign(t, { qmatvecLegacy: true, matvecTpr: tpr, matvecRows: rows });
    const shape = { tpr, rows, subgroups: b.hasSubgroups };
    const [gs, gi] = await both(matvecKernel({ kind: 'q', bits: f.bits }, shape), matvecRowsPerGroup(shape));
    variants.push({ kernel: 'legacy', config: `tpr ${tpr} rows ${rows}`, gpuSerialUs: gs, gpuIndependentUs: gi, maxRelError: await check() });
  }
  const legacyBest = variants.reduce((a, c) => ((c.gpuSerialUs ?? Infinity) < (a.gpuSerialUs ?? Infinity) ? c : a));
  reset();
  Object.assign(t, { qmatvecLegacy: true, matvecTpr: Number(legacyBest.config.split(' ')[1]), matvecRows: Number(legacyBest.config.split(' ')[3]) });
  legacyBest.wallSerialUs = await wallTime(b, op);
  // after: the v2 kernel's default split
  reset();
  const shape = b.qmatvecShape(n, k);
  const [ds, di] = await both(qmatvecKernel({ bits: f.bits, symmetric: true }, shape), qmatvecRowsPerGroup(shape));
  const def: GemvVariant = { kernel: 'v2', config: `default: ${splitName(shape)} subgroup ${shape.subgroup}`, gpuSerialUs: ds, gpuIndependentUs: di, wallSerialUs: await wallTime(b, op), maxRelError: await check() };
  variants.push(def);
  for (const c of sweepSplits()) {
    reset();
    Object.assign(t, { matvecWorkgroup: c.wg, matvecTpr: c.tpr, matvecRows: c.rows, matvecUnroll: c.unroll });
    const s2 = { ...c, subgroup: sg(c.tpr) };
    const gs = await gpuTime(b.device, qmatvecKernel({ bits: f.bits, symmetric: true }, s2), qmatvecRowsPerGroup(s2), n, k, bufs, 'serial');
    variants.push({ kernel: 'v2', config: splitName(c), gpuSerialUs: gs, maxRelError: await check() });
  }
  reset();
  const swept = variants.filter((v) => v.kernel === 'v2' && v !== def && v.gpuSerialUs !== undefined).sort((a, c) => a.gpuSerialUs! - c.gpuSerialUs!)[0];
  if (swept) {
    const [wg, tpr, rows, unroll] = swept.config.split(' ').filter((_, i) => i % 2 === 1).map(Number);
    const s2 = { wg: wg!, tpr: tpr!, rows: rows!, unroll: unroll!, subgroup: sg(tpr!) };
    swept.gpuIndependentUs = await gpuTime(b.device, qmatvecKernel({ bits: f.bits, symmetric: true }, s2), qmatvecRowsPerGroup(s2), n, k, bufs, 'independent');
  }
  for (const q of qs) { q.data.dispose(); q.scales.dispose(); }
  x.dispose();
  const figure = (v: GemvVariant): GemvFigure => {
    const pct = (us: number | undefined): number | undefined => (us === undefined ? undefined : (100 * gbps(bytes, us)!) / copyGbps);
    return {
      config: `${v.kernel} ${v.config}`, gpuSerialGbps: gbps(bytes, v.gpuSerialUs), gpuIndependentGbps: gbps(bytes, v.gpuIndependentUs), wallSerialGbps: gbps(bytes, v.wallSerialUs),
      pctOfCopy: { gpuSerial: pct(v.gpuSerialUs), gpuIndependent: pct(v.gpuIndependentUs), wallSerial: pct(v.wallSerialUs) },
    };
  };
  return {
    name: `int${f.bits} g${f.groupSize} sym qmatvec ${n}×${k}`, n, k, bits: f.bits, groupSize: f.groupSize, bytes, copies,
    before: figure(legacyBest), after: figure(def), bestSwept: swept ? figure(swept) : undefined,
    maxRelError: Math.max(...variants.map((v) => v.maxRelError)),
    variants,
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
// timestamps unquantized (Dawn rounds them to 100 µs by default, longer than one GEMV)
const gpu = benchGpu();
const b = await createWebGPUBackendInternal({ gpu, powerPreference: 'high-performance' });
const cpu = new CpuBackend();
const info = b.adapterInfo;
const adapter = { vendor: info?.vendor, architecture: info?.architecture, description: info?.description, subgroups: b.hasSubgroups };
console.log('adapter', JSON.stringify(adapter));

stage('copy bandwidth');
const copy = args.includes('--skip-copy') || args.includes('--matmul-only') ? { gbps: NaN, bytes: 0, reps: 0, workgroups: 0 } : await copyBandwidth(b.device, quick ? 10 : 40, stage);
console.log(`copy bandwidth ${copy.gbps.toFixed(0)} GB/s (read + write, ${copy.reps} × ${copy.bytes / 2 ** 20} MiB, ${copy.workgroups} workgroups)`);

const gemvs: GemvResult[] = [];
// --small: tiny shapes for a smoke run of the whole script on a software adapter
const shapes: [4 | 8, number, number][] = args.includes('--matmul-only')
  ? []
  : args.includes('--small')
  ? [[4, 200, 640], [8, 70, 1024]]
  : [[4, 4096, 4096], [4, 14336, 4096], [4, 4096, 14336], [8, 4096, 4096], [8, 14336, 4096]];
for (const [bits, n, k] of shapes) {
  stage(`gemv int${bits} ${n}×${k}`);
  const r = await gemv(b, cpu, { bits, groupSize: 32, symmetric: true }, n, k, copy.gbps);
  gemvs.push(r);
  const p = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toFixed(1));
  console.log(`${r.name}: before ${p(r.before.pctOfCopy.gpuSerial)} % (GPU, serial); after ${p(r.after.pctOfCopy.gpuSerial)} % serial, ${p(r.after.pctOfCopy.gpuIndependent)} % independent, ${p(r.after.pctOfCopy.wallSerial)} % wall; worst rel error ${r.maxRelError.toExponential(2)}`);
  console.log('  variant | GPU serial µs | GPU independent µs | wall serial µs | GB/s GPU serial | max rel err');
  for (const v of r.variants) {
    const c = (us: number | undefined): string => (us === undefined ? '' : us.toFixed(2));
    console.log(`  ${v.kernel} ${v.config} | ${c(v.gpuSerialUs)} | ${c(v.gpuIndependentUs)} | ${c(v.wallSerialUs)} | ${gbps(r.bytes, v.gpuSerialUs)?.toFixed(0) ?? ''} | ${v.maxRelError.toExponential(1)}`);
  }
}
stage('matmul');
const mm = await matmul(b, cpu, args.includes('--small') ? 256 : quick ? 1024 : 4096);
console.log(`${mm.name}: ${mm.tflops.toFixed(2)} TFLOP/s (${mm.msPerOp.toFixed(2)} ms, tile ${mm.tile}); max rel error at 512³ ${mm.maxRelErrorAt512.toExponential(2)}`);

const g0 = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(0)}`);
const p1 = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} %`);
console.log('\nGB/s (% of copy). GPU = timestamps around a pass of 200 dispatches; serial = each op overwrites the last output (barrier); independent = each op its own fresh output; wall = backend qmatvec, submit → done.');
console.log('| kernel | before: GPU serial | after: GPU serial | after: GPU independent | after: wall serial | best swept: GPU serial | after config |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(`| copy (WGSL, vec4) | | ${copy.gbps.toFixed(0)} (100 %) | | | | ${copy.workgroups} workgroups |`);
for (const r of gemvs) {
  console.log(`| ${r.name} | ${g0(r.before.gpuSerialGbps)} (${p1(r.before.pctOfCopy.gpuSerial)}) | ${g0(r.after.gpuSerialGbps)} (${p1(r.after.pctOfCopy.gpuSerial)}) | ${g0(r.after.gpuIndependentGbps)} (${p1(r.after.pctOfCopy.gpuIndependent)}) | ${g0(r.after.wallSerialGbps)} (${p1(r.after.pctOfCopy.wallSerial)}) | ${g0(r.bestSwept?.gpuSerialGbps)} (${p1(r.bestSwept?.pctOfCopy.gpuSerial)}) ${r.bestSwept?.config ?? ''} | ${r.after.config} |`);
}
console.log(`| ${mm.name} | | ${mm.tflops.toFixed(2)} TFLOP/s | | | | ${mm.tile} |`);

const result = {
  date: new Date().toISOString(),
  machine: adapter,
  method: 'GEMV: weights rotated through copies larger than L2. gpuSerial/gpuIndependent = timestamp queries at the start and end of one compute pass of 200 dispatches divided by 200; serial: every dispatch writes the same output (Dawn inserts a barrier between them, as between dependent ops), independent: every dispatch writes its own never-used buffer (no barrier). wallSerial = WebGPUBackend.qmatvec, 4 batches of 1000 ops submitted back to back, submit to onSubmittedWorkDone. Copy: wall time of 40 dispatches over 512 MiB.',
  copy,
  gemv: gemvs,
  matmul: mm,
  stats: b.stats(),
  gpuErrors: b.gpuErrors(),
};
if (outPath) writeFileSync(outPath, `${JSON.stringify(result, null, 2)}\n`);
b.dispose();
void gpu;
