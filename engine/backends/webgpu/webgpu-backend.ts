import { DeviceLostError, DisposedError, DTypeError, InvalidArgumentError, OutOfMemoryError, ShapeError } from '../../errors.js';
import { dtypeOf, typedArrayFor, BYTES_PER_ELEMENT, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { assertShape, broadcastShapes, broadcastStrides, shapesEqual, sizeOf, type Shape } from '../../tensor/shape.js';
import { Tensor, type StorageHandle } from '../../tensor/tensor.js';
import { f16Words, validateQuantShape, wordsPerRow, type QuantFormat } from '../../quant/layout.js';
import { uploadPacked, type QuantizedTensor } from '../../quant/quantized-tensor.js';
import type { AttentionOptions, Backend, GeluApproximation, MemoryInfo, QkvRopeOptions, RopeOptions, TopK } from '../backend.js';
import { ropeFrequencies } from '../rope.js';
import { argmaxDims, attentionDims, embeddingDims, fmt, kvWriteDims, lastAxis, layerNormDims, matmulDims, matvecDims, concatRowsShape, qkvRopeDims, qmatmulDims, qmatvecDims, rmsNormDims, ropeDims, swigluDims, topkDims, type AttentionDims } from '../op-shapes.js';
import { BufferPool, STORAGE_USAGE, type GPUStorage } from './buffer-pool.js';
import { BufferUsage, MapMode, ShaderStage } from './gpu-constants.js';
import { grid, type BindingKind, type KernelDef } from './kernel-def.js';
import { UniformRing } from './uniform-ring.js';
import { BINARY_MAX_RANK, binaryKernel, embeddingKernel, kvWriteKernel, qembeddingKernel, qkvRopeKernel, ropeKernel, SWIGLU_Q8_WORKGROUP, swigluKernel, swigluQ8Kernel, unaryKernel, type UnaryOp } from './kernels/elementwise.wgsl.js';
import { NORM_Q8_MAX_D, NORM_VEC4_MAX_D, addRmsNormKernel, layerNormKernel, rmsNormKernel, rmsNormQ8Kernel, rmsNormVec4Kernel, softmaxKernel } from './kernels/norm.wgsl.js';
import { attentionChunk, attentionCombineKernel, attentionPartialKernel } from './kernels/attention.wgsl.js';
import { ARGMAX_CHUNK, TOPK_BLOCK, argmaxKernel, topkBlockKernel, topkInitKernel, topkStepKernel, topkTakeKernel } from './kernels/select.wgsl.js';
import { matvecKernel, matvecRowsPerGroup, matvecUnits, type MatvecShape, type MatvecWeights } from './kernels/matvec.wgsl.js';
import { qmatvecKernel, qmatvecRowsPerGroup, type QMatvecShape, type QMatvecWeights } from './kernels/qmatvec.wgsl.js';
import { QX_WORKGROUP, isQ8Bits, q8DefaultShape, q8RowsPerGroup, qmatvecQ8Key, qmatvecQ8Kernel, qmatvecQ8SharedBytes, quantizeActivationsKernel, type ActivationPlanes, type Q8Bits, type Q8Shape } from './kernels/qmatvec-q8.wgsl.js';
import { TILE_LARGE, TILE_QUANT, TILE_SMALL, matmulKernel, type MatmulB, type MatmulTile } from './kernels/matmul.wgsl.js';


/** Allocations from this size on are wrapped in an out-of-memory error scope. */
const OOM_SCOPE_BYTES = 32 * 2 ** 20;
/**
 * The longest x (blocks of 32) the int8-activation GEMV stages in workgroup memory. Measured in decode steps on an
 * H200 (bench-results/gpu-decode-ab-stage.json), staged vs not, in the chain: K = 2048 GEMVs 3.8 vs 5.3 µs; but
 * K = 14336 (35 KB a workgroup) 29 vs ~10 µs and the 4-row gate/up at K = 4096 26.0 vs 24.7 µs — the copy and
 * the lost occupancy outweigh the L2 traffic saved once x is long or the workgroup already reuses x over 4 rows.
 */
const STAGE_MAX_BLOCKS = 128;
const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 1024;
/** Bind groups kept before the cache is cleared (they pin pooled buffers, which live until dispose anyway). */
const BIND_GROUP_CACHE = 4096;

interface Pipe {
  readonly id: number;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** Knobs the benchmark and the performance lane turn; the defaults are what the ops use. */
export interface WebGPUTuning {
  /** Use subgroupAdd reductions in matvec/qmatvec when the device has `subgroups`. */
  subgroups: boolean;
  /** Invocations per row slot and rows per slot of (q)matvec; null = chosen from the shape. */
  matvecTpr: number | null;
  matvecRows: number | null;
  /** qmatvec: blocks of 32 codes per invocation per loop turn, and invocations per workgroup; null = chosen. */
  matvecUnroll: number | null;
  matvecWorkgroup: number | null;
  /** qmatvec through the first kernel (matvec.wgsl.ts), kept to measure against. */
  qmatvecLegacy: boolean;
  /**
   * Activations of the quantized GEMV for 8-, 4- and 2-bit weights (qmatvec-q8.wgsl.ts): 'int8x2' (default)
   * quantizes x to two int8 planes per block of 32 and multiplies with 4-way int8 dot products — about 1.3–1.4×
   * faster than 'f32' on an H100 with results within ~2e-5 of max|y| of it; 'int8' is one plane (llama.cpp's
   * q8_1 numerics: ~4e-3 of max|y|, fastest); 'f32' unpacks every code to f32 (3-bit weights always do).
   */
  qmatvecActivations: 'f32' | 'int8x2' | 'int8';
  /** f32 matmul tile; null = large tiles when M and N ≥ 128, else small. */
  matmulTile: MatmulTile | null;
  /** Keys per attention chunk (256, 128, 64 or 32, dividing into Dh); null = chosen from the shape (attentionChunk). */
  attentionChunk: number | null;
  /**
   * Batch-1 rmsNorm, addRmsNorm, swiglu and attention (its combine pass) also write their output quantized the
   * way the last int8-activation GEMV wanted it (int8 modes only), so the GEMV that reads it next skips its
   * quantizing dispatch. Default true.
   */
  producerQuant: boolean;
  /**
   * The int8-activation GEMV copies x into workgroup memory first, instead of every warp loading it from L2,
   * where K ≤ 4096, the split has ≤ 2 rows a slot and it fits the device's maxComputeWorkgroupStorageSize (see
   * STAGE_MAX_BLOCKS). Default true.
   */
  stageActivations: boolean;
  /**
   * Measurement only: dispatches whose pipeline key starts with `prefix` are recorded 1 + `extra` times in a
   * row. A step's added GPU time over `extra` × their count is what one such dispatch costs inside the chain of
   * dependent dispatches (kernels that update in place then compute wrong values). Default null.
   */
  dispatchRepeat: { prefix: string; extra: number } | null;
}

/** How startProfile times: each dispatch in its own pass, each pass whole, or each dispatch inside its pass. */
export type ProfileMode = 'dispatch' | 'pass' | 'in-pass';

export interface WebGPUBackendInit {
  device: GPUDevice;
  /** Destroy the device on dispose() (true when the backend requested it itself). */
  ownsDevice: boolean;
  adapterInfo?: GPUAdapterInfo;
  /**
   * Objects the device must not outlive: Dawn's Node binding crashes when GC collects the GPU (instance) or
   * the adapter while the device still waits on a promise, so the backend holds them.
   */
  keepAlive?: readonly unknown[];
}

/**
 * The WebGPU backend: hand-written WGSL kernels (./kernels), pooled buffers, cached pipelines and bind groups,
 * and every op recorded into one command encoder (one compute pass until a copy or clear needs the encoder),
 * submitted on flush()/download()/sync(). f32 math only; f16 data is read with unpack2x16float, never shader-f16.
 */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly deferred = true;
  readonly device: GPUDevice;
  readonly lost: Promise<DeviceLostError>;
  readonly hasSubgroups: boolean;
  readonly adapterInfo: GPUAdapterInfo | undefined;
  readonly tuning: WebGPUTuning;

  #ownsDevice: boolean;
  readonly #keepAlive: readonly unknown[];
  #pool: BufferPool;
  #staging: BufferPool;
  #ring: UniformRing;
  #pipes = new Map<string, Pipe>();
  #layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  /**
   * Bind groups by pipeline id, then buffer ids in binding order: a trie of number-keyed maps, so the lookup on
   * every dispatch builds no key string.
   */
  #bindGroups: BindGroupNode = { bg: null, next: new Map() };
  #bindGroupCount = 0;
  #ropeTables = new Map<string, GPUStorage>();
  #lastRope: { invFreq: Float64Array | undefined; theta: number; rd: number; scale: number; table: GPUStorage } | null = null;
  /** Ids of the invFreq arrays models pass to rope, for the rope table cache keys. */
  #invFreqIds = new WeakMap<Float64Array, number>();
  #invFreqNext = 1;
  /**
   * The last activation vector quantized for qmatvec, kept while consecutive GEMVs read the same x (Q, K and V;
   * gate and up — each through its own reshaped view of one storage). A storage's values change only when it
   * goes back to the pool and is handed out again, or under kvWrite; both drop this entry.
   */
  #lastQx: { src: GPUStorage; k: number; bits: Q8Bits; planes: ActivationPlanes; xq: GPUStorage; xd: GPUStorage } | null = null;
  /** The activation format the last int8-activation GEMV asked for: what batch-1 producers write beside their output. */
  #qxHint: { bits: Q8Bits; planes: ActivationPlanes } | null = null;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  /**
   * A running kernel profile (startProfile): the kernel key of each timed dispatch, in order, and the two
   * timestamp queries whose difference is its time; `next` is the next free query.
   */
  #profile: Profile | null = null;
  /** Serial of the batch being recorded; buffers remember the batch that last touched them. */
  #batch = 0;
  #allocated = 0;
  #peak = 0;
  #lostError: DeviceLostError | null = null;
  #lostRejection: Promise<never>;
  #disposed = false;
  #oomChecks: Promise<OutOfMemoryError | null>[] = [];
  /** Buffers whose creation failed with out-of-memory: never pooled again. */
  #failed = new WeakSet<GPUStorage>();
  #validation: string[] = [];
  #stats = { pipelinesCompiled: 0, pipelineHits: 0, bindGroupsCreated: 0, bindGroupHits: 0, dispatches: 0, submits: 0 };
  /**
   * The device limits read on every allocation and dispatch, copied once: `device.limits` builds a new object per
   * read under Dawn's Node binding (a native call), which showed in the per-dispatch recording cost.
   */
  #limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupsPerDimension: number; maxComputeWorkgroupStorageSize: number };

  constructor(init: WebGPUBackendInit) {
    const device = init.device;
    this.device = device;
    const l = device.limits;
    this.#limits = { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension, maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize };
    this.#ownsDevice = init.ownsDevice;
    this.#keepAlive = init.keepAlive ?? [];
    this.adapterInfo = init.adapterInfo;
    this.hasSubgroups = device.features.has('subgroups');
    this.tuning = { subgroups: this.hasSubgroups, matvecTpr: null, matvecRows: null, matvecUnroll: null, matvecWorkgroup: null, qmatvecLegacy: false, qmatvecActivations: 'int8x2', matmulTile: null, attentionChunk: null, producerQuant: true, stageActivations: true, dispatchRepeat: null };
    this.#pool = new BufferPool((size) => device.createBuffer({ size, usage: STORAGE_USAGE }), STORAGE_USAGE, device.limits.maxStorageBufferBindingSize);
    this.#staging = new BufferPool((size) => device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST }));
    this.#ring = new UniformRing(device, Math.max(UNIFORM_SLOT, device.limits.minUniformBufferOffsetAlignment), UNIFORM_SLOTS);
    let rejectLost!: (e: DeviceLostError) => void;
    this.#lostRejection = new Promise<never>((_, reject) => { rejectLost = reject; });
    this.#lostRejection.catch(() => {});
    this.lost = device.lost.then((info) => {
      // dispose() destroys an owned device: that is no loss to report, so `lost` then stays pending
      if (this.#disposed) return new Promise<DeviceLostError>(() => {});
      const err = new DeviceLostError(String(info.reason ?? 'unknown'), info.message ?? '');
      this.#lostError = err;
      this.#encoder = null;
      this.#pass = null;
      rejectLost(err);
      return err;
    });
    try {
      device.addEventListener('uncapturederror', (ev) => {
        const e = (ev as GPUUncapturedErrorEvent).error;
        if (this.#validation.length < 32) this.#validation.push(e.message);
      });
    } catch {
      // Some bindings lack EventTarget on the device; errors then only show up as wrong results.
    }
  }

  // ---- diagnostics ----------------------------------------------------------------------------------

  /** Counters for tests and benchmarks: pipelines compiled vs reused, bind groups, dispatches, submits. */
  stats(): Readonly<{ pipelinesCompiled: number; pipelineHits: number; bindGroupsCreated: number; bindGroupHits: number; dispatches: number; submits: number }> {
    return { ...this.#stats };
  }

  /** The GPU entry point and adapter this device came from (held so they stay alive as long as it). */
  get origin(): readonly unknown[] {
    return this.#keepAlive;
  }

  /**
   * Starts a GPU time profile (devices with `timestamp-query`) of the next `capacity` dispatches or passes (at
   * most 2048). Modes:
   * - 'dispatch' (default): each dispatch runs in its own compute pass with timestamps at its start and end;
   *   separate passes cost the GPU a few µs more per dispatch than one pass of many, so this shows where the time
   *   goes, not the whole.
   * - 'pass': the work is recorded as usual and each compute pass is timed whole (key 'pass'): the GPU time of a
   *   step as it runs. With `tuning.dispatchRepeat` this measures what one more dispatch of a kernel costs inside
   *   the chain of dependent dispatches.
   * - 'in-pass': dispatches stay in their pass and a timestamp follows each one, so each is timed by what it adds
   *   to the chain (needs Dawn's native `chromium-experimental-timestamp-query-inside-passes`).
   */
  startProfile(capacity = 2048, opts: { mode?: ProfileMode } = {}): void {
    this.#alive();
    if (!this.device.features.has('timestamp-query')) throw new InvalidArgumentError('Kernel profiles need the timestamp-query feature, which this device lacks.');
    if (this.#profile) throw new InvalidArgumentError('A kernel profile is already running; stopProfile() first.');
    const mode = opts.mode ?? 'dispatch';
    if (mode !== 'dispatch' && mode !== 'pass' && mode !== 'in-pass') throw new InvalidArgumentError(`Unknown profile mode ${String(mode)}: 'dispatch', 'pass' or 'in-pass'.`);
    if (mode === 'in-pass' && !this.device.features.has(TIMESTAMPS_IN_PASSES)) throw new InvalidArgumentError(`An in-pass kernel profile needs the ${TIMESTAMPS_IN_PASSES} feature, which this device lacks.`);
    const n = Math.max(1, Math.min(2048, Math.floor(capacity)));
    this.#endPass();
    this.#profile = { querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * n }), queries: 2 * n, mode, keys: [], stamps: [], next: 0, pass: null };
  }

  /** Ends the profile: GPU time per kernel key (sorted by total, longest first) over the profiled dispatches. */
  async stopProfile(): Promise<KernelProfileEntry[]> {
    this.#alive();
    const p = this.#profile;
    if (!p) throw new InvalidArgumentError('No kernel profile is running; startProfile() first.');
    this.#profile = null;
    const n = p.keys.length;
    const out = new Map<string, KernelProfileEntry>();
    if (n > 0) {
      const bytes = 8 * p.next;
      const resolve = this.device.createBuffer({ size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
      const read = this.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
      const enc = this.#endPass();
      enc.resolveQuerySet(p.querySet, 0, p.next, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, bytes);
      this.flush();
      await this.#guard(read.mapAsync(MapMode.READ));
      const ts = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      for (const b of [resolve, read]) b.destroy();
      for (let i = 0; i < n; i++) {
        const e = out.get(p.keys[i]!) ?? { key: p.keys[i]!, calls: 0, gpuMs: 0 };
        const d = ts[p.stamps[2 * i + 1]!]! - ts[p.stamps[2 * i]!]!;
        e.calls++;
        if (d > 0n) e.gpuMs += Number(d) / 1e6;
        out.set(e.key, e);
      }
    }
    p.querySet.destroy();
    return [...out.values()].sort((a, b) => b.gpuMs - a.gpuMs);
  }

  /** Uncaptured WebGPU errors seen so far (validation or compile errors: a bug if not empty). */
  gpuErrors(): readonly string[] {
    return [...this.#validation];
  }

  // ---- memory ---------------------------------------------------------------------------------------

  upload(data: AnyTypedArray, shape: Shape, dtype: DType = dtypeOf(data)): Tensor {
    this.#alive();
    assertShape(shape, 'upload');
    if (dtypeOf(data) !== dtype) throw new DTypeError('upload', `${data.constructor.name} cannot hold dtype ${dtype}`);
    if (sizeOf(shape) !== data.length) throw new ShapeError('upload', `shape ${fmt(shape)} holds ${sizeOf(shape)} elements, data has ${data.length}`);
    const t = this.#alloc(shape, dtype);
    const s = t.storage as GPUStorage;
    // queue.writeBuffer runs before the recorded work: a buffer that work still touches must see it submitted first
    if (s.lastBatch === this.#batch && this.#encoder !== null) this.flush();
    const bytes = data.byteLength;
    if (bytes > 0) {
      if (bytes % 4 === 0) {
        this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, bytes);
      } else {
        const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
        padded.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
        this.device.queue.writeBuffer(s.buffer, 0, padded);
      }
    }
    return t;
  }

  empty(shape: Shape, dtype: DType): Tensor {
    return this.zeros(shape, dtype);
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    this.#alive();
    assertShape(shape, 'zeros');
    const t = this.#alloc(shape, dtype);
    const s = t.storage as GPUStorage;
    this.#endPass().clearBuffer(s.buffer);
    s.lastBatch = this.#batch;
    return t;
  }

  async download(t: Tensor): Promise<AnyTypedArray> {
    this.#alive();
    const s = this.#own('download', t);
    const out = typedArrayFor(t.dtype, t.size);
    const bytes = Math.ceil(out.byteLength / 4) * 4;
    if (bytes === 0) return out;
    const staging = this.#staging.acquire(bytes);
    this.#endPass().copyBufferToBuffer(s.buffer, 0, staging.buffer, 0, bytes);
    this.flush();
    await this.#guard(staging.buffer.mapAsync(MapMode.READ, 0, bytes));
    new Uint8Array(out.buffer).set(new Uint8Array(staging.buffer.getMappedRange(0, bytes), 0, out.byteLength));
    staging.buffer.unmap();
    this.#staging.release(staging);
    await this.#checkOom();
    return out;
  }

  uploadQuantized(format: QuantFormat, shape: readonly [number, number], data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null): QuantizedTensor {
    this.#alive();
    return uploadPacked(this, format, shape, data, scales, mins);
  }


  memory(): MemoryInfo {
    this.#alive();
    return {
      allocatedBytes: this.#allocated,
      peakBytes: this.#peak,
      reservedBytes: this.#pool.reservedBytes + this.#staging.reservedBytes + this.#ring.buffer.size,
      buffersCreated: this.#pool.created + this.#staging.created + 1,
      pooledBuffers: this.#pool.pooled + this.#staging.pooled,
    };
  }

  resetPeak(): void {
    this.#alive();
    this.#peak = this.#allocated;
  }

  release(storage: StorageHandle): void {
    if (this.#disposed) return;
    const s = storage as GPUStorage;
    if (this.#lastQx?.src === s) this.#dropQuantizedActivations();
    this.#allocated -= s.byteLength;
    if (this.#failed.has(s)) return;
    // Recorded work runs in order, so a later op may reuse the buffer at once; upload() flushes when needed.
    this.#pool.release(s);
  }

  // ---- execution ------------------------------------------------------------------------------------

  flush(): void {
    this.#alive();
    this.#submit();
  }

  async sync(): Promise<void> {
    this.#alive();
    this.#submit();
    await this.#guard(this.device.queue.onSubmittedWorkDone());
    await this.#checkOom();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#encoder = null;
    this.#pass = null;
    this.#bindGroups = { bg: null, next: new Map() };
    this.#bindGroupCount = 0;
    this.#pipes.clear();
    this.#lastQx = null;
    if (this.#lostError === null) {
      this.#pool.destroyAll();
      this.#staging.destroyAll();
      this.#ring.buffer.destroy();
      if (this.#ownsDevice) this.device.destroy();
    }
    this.#allocated = 0;
  }

  // ---- ops ------------------------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor, opts: { transB?: boolean } = {}): Tensor {
    const op = 'matmul';
    const transB = opts.transB ?? false;
    const sa = this.#f32(op, a);
    const sb = this.#f32(op, b);
    const { batchShape, batch, m, k: kk, n, shared } = matmulDims(a.shape, b.shape, transB);
    const tile = this.tuning.matmulTile ?? (m >= 128 && n >= 128 ? TILE_LARGE : TILE_SMALL);
    const bVec4 = transB ? kk % 4 === 0 : n % 4 === 0;
    return this.#matmul([...batchShape, m, n], batch, m, n, kk, tile, { kind: transB ? 'nk' : 'kn' }, kk % 4 === 0, bVec4, [sa, sb], 0, shared ? 0 : kk * n);
  }

  matvec(w: Tensor, x: Tensor): Tensor {
    const op = 'matvec';
    const sw = this.#f32(op, w);
    const sx = this.#f32(op, x);
    const { n, k: kk } = matvecDims(w.shape, x.shape);
    return this.#matvec([n], n, kk, { kind: 'f32', vec4: kk % 4 === 0 }, [sw, sx], 0, 0);
  }

  qmatvec(w: QuantizedTensor, x: Tensor): Tensor {
    const op = 'qmatvec';
    const sx = this.#f32(op, x);
    const { n } = qmatvecDims(w.shape, x.shape);
    const q = this.#quant(op, w);
    return this.#qmatvec([n], w, [...q, sx], x);
  }

  qmatmul(x: Tensor, w: QuantizedTensor): Tensor {
    const op = 'qmatmul';
    const sx = this.#f32(op, x);
    const { m, n, k: kk } = qmatmulDims(x.shape, w.shape);
    const q = this.#quant(op, w);
    const qb: MatmulB = { kind: 'q', bits: w.bits };
    const asym = w.symmetric ? 0 : 1;
    // One row of x is a GEMV: the bandwidth-bound kernel beats a mostly idle tile
    if (m === 1) return this.#qmatvec([1, n], w, [...q, sx], x);
    return this.#matmul([m, n], 1, m, n, kk, TILE_QUANT, qb, true, false, [sx, ...q], wordsPerRow(kk, w.bits), 0, w.groupSize, asym);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#binary('add', a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.#binary('mul', a, b);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const op = 'embedding';
    const st = this.#f32(op, table);
    const si = this.#typed(op, ids, 'i32');
    const { v, d, t } = embeddingDims(table.shape, ids.shape);
    const out = this.#alloc([t, d], 'f32');
    this.#run('embedding', embeddingKernel, [st, si, out.storage as GPUStorage], [t, d, v], null, Math.ceil((t * d) / 256));
    return out;
  }

  qembedding(table: QuantizedTensor, ids: Tensor): Tensor {
    const op = 'qembedding';
    const [data, scales, mins] = this.#quant(op, table);
    const si = this.#typed(op, ids, 'i32');
    const { v, d, t } = embeddingDims(table.shape, ids.shape);
    const out = this.#alloc([t, d], 'f32');
    this.#run('qembedding', qembeddingKernel, [data!, scales!, mins!, si, out.storage as GPUStorage], [t, d, v, table.bits, table.groupSize, table.symmetric ? 0 : 1], null, Math.ceil((t * d) / 256));
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const op = 'rmsNorm';
    const sx = this.#f32(op, x);
    const sw = this.#f32(op, weight);
    const { rows, d } = rmsNormDims(x.shape, weight.shape, eps);
    const out = this.#alloc(x.shape, 'f32');
    const so = out.storage as GPUStorage;
    const q = this.#producerQuant(rows, d, NORM_Q8_MAX_D);
    if (q) {
      const [xq, xd] = this.#quantizedFor(so, d, q);
      this.#run(`rms-norm:q8:${d}:${q.bits}:${q.planes}`, () => rmsNormQ8Kernel(d, false, q.bits, q.planes), [sx, sw, so, xq, xd], [rows, d, eps], F2, rows);
      return out;
    }
    const [key, make] = vec4Norm(d, false) ?? ['rms-norm', rmsNormKernel];
    this.#run(key, make, [sx, sw, so], [rows, d, eps], F2, rows);
    return out;
  }

  addRmsNorm(a: Tensor, b: Tensor, weight: Tensor, eps: number): [Tensor, Tensor] {
    const op = 'addRmsNorm';
    const sa = this.#f32(op, a);
    const sb = this.#f32(op, b);
    const sw = this.#f32(op, weight);
    if (!shapesEqual(a.shape, b.shape)) throw new ShapeError(op, `a ${fmt(a.shape)} and b ${fmt(b.shape)} must have one shape`);
    const { rows, d } = rmsNormDims(a.shape, weight.shape, eps);
    const sum = this.#alloc(a.shape, 'f32');
    const out = this.#alloc(a.shape, 'f32');
    const so = out.storage as GPUStorage;
    const q = this.#producerQuant(rows, d, NORM_Q8_MAX_D);
    if (q) {
      const [xq, xd] = this.#quantizedFor(so, d, q);
      this.#run(`add-rms-norm:q8:${d}:${q.bits}:${q.planes}`, () => rmsNormQ8Kernel(d, true, q.bits, q.planes), [sa, sb, sw, sum.storage as GPUStorage, so, xq, xd], [rows, d, eps], F2, rows);
      return [sum, out];
    }
    const [key, make] = vec4Norm(d, true) ?? ['add-rms-norm', addRmsNormKernel];
    this.#run(key, make, [sa, sb, sw, sum.storage as GPUStorage, so], [rows, d, eps], F2, rows);
    return [sum, out];
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const op = 'layerNorm';
    const sx = this.#f32(op, x);
    const sw = this.#f32(op, weight);
    const sb = this.#f32(op, bias);
    const { rows, d } = layerNormDims(x.shape, weight.shape, bias.shape, eps);
    const out = this.#alloc(x.shape, 'f32');
    this.#run('layer-norm', layerNormKernel, [sx, sw, sb, out.storage as GPUStorage], [rows, d, eps], F2, rows);
    return out;
  }

  softmax(x: Tensor): Tensor {
    const op = 'softmax';
    const sx = this.#f32(op, x);
    const { rows, d } = lastAxis(op, x.shape);
    const out = this.#alloc(x.shape, 'f32');
    this.#run('softmax', softmaxKernel, [sx, out.storage as GPUStorage], [rows, d, 0], null, rows);
    return out;
  }

  silu(x: Tensor): Tensor {
    return this.#unary('silu', x);
  }

  gelu(x: Tensor, approximation: GeluApproximation = 'tanh'): Tensor {
    if (approximation !== 'tanh' && approximation !== 'erf') throw new InvalidArgumentError(`gelu: approximation must be "tanh" or "erf", got ${String(approximation)}`);
    return this.#unary(approximation === 'erf' ? 'gelu-erf' : 'gelu-tanh', x);
  }

  rope(x: Tensor, opts: RopeOptions): Tensor {
    const op = 'rope';
    const sx = this.#f32(op, x);
    const { t, h, dh, rotaryDim, interleaved } = ropeDims(x.shape, opts);
    const out = this.#alloc(x.shape, 'f32');
    const params = [t, h, dh, rotaryDim, opts.pos0, interleaved ? 1 : 0];
    const freqs = this.#ropeFrequencies(opts, rotaryDim);
    this.#run('rope', ropeKernel, [sx, freqs, out.storage as GPUStorage], params, null, Math.ceil((t * h * dh) / 256));
    return out;
  }

  kvWrite(cache: Tensor, x: Tensor, offset: number): void {
    const op = 'kvWrite';
    const sc = this.#f32(op, cache);
    const sx = this.#f32(op, x);
    const { hkv, s, dh, t } = kvWriteDims(cache.shape, x.shape, offset);
    if (this.#lastQx?.src === sc) this.#dropQuantizedActivations();
    this.#run('kv-write', kvWriteKernel, [sx, sc], [t, hkv, dh, s, offset], null, Math.ceil((t * hkv * dh) / 256));
  }

  concatRows(parts: readonly Tensor[]): Tensor {
    const shape = concatRowsShape(parts);
    if (BYTES_PER_ELEMENT[parts[0]!.dtype] !== 4) throw new DTypeError('concatRows', `copies whole 4-byte words; ${parts[0]!.dtype} tensors are not supported`);
    const out = this.#alloc(shape, parts[0]!.dtype);
    const so = out.storage as GPUStorage;
    let at = 0;
    for (const p of parts) {
      const sp = this.#own('concatRows', p);
      if (p.byteLength > 0) this.#endPass().copyBufferToBuffer(sp.buffer, 0, so.buffer, at, p.byteLength);
      at += p.byteLength;
      sp.lastBatch = this.#batch;
    }
    so.lastBatch = this.#batch;
    return out;
  }

  swiglu(x: Tensor): Tensor {
    const sx = this.#f32('swiglu', x);
    const { t, i } = swigluDims(x.shape);
    const out = this.#alloc([t, i], 'f32');
    const so = out.storage as GPUStorage;
    const q = this.#producerQuant(t, i, Infinity);
    if (q) {
      const [xq, xd] = this.#quantizedFor(so, i, q);
      this.#run(`swiglu:q8:${q.bits}:${q.planes}`, () => swigluQ8Kernel(q.bits, q.planes), [sx, so, xq, xd], [t, i], null, Math.ceil(i / 32 / SWIGLU_Q8_WORKGROUP));
      return out;
    }
    this.#run('swiglu', swigluKernel, [sx, so], [t, i], null, Math.ceil((t * i) / 256));
    return out;
  }

  qkvRope(qkv: Tensor, kCache: Tensor, vCache: Tensor, opts: QkvRopeOptions): Tensor {
    const op = 'qkvRope';
    const sx = this.#f32(op, qkv);
    const sk = this.#f32(op, kCache);
    const sv = this.#f32(op, vCache);
    const { t, hq, hkv, dh, rotaryDim, interleaved, s } = qkvRopeDims(qkv.shape, kCache.shape, vCache.shape, opts);
    if (this.#lastQx?.src === sk || this.#lastQx?.src === sv) this.#dropQuantizedActivations();
    const q = this.#alloc([t, hq, dh], 'f32');
    const freqs = this.#ropeFrequencies(opts, rotaryDim);
    const params = [t, hq, hkv, dh, rotaryDim, opts.pos0, interleaved ? 1 : 0, s];
    this.#run('qkv-rope', qkvRopeKernel, [sx, freqs, q.storage as GPUStorage, sk, sv], params, null, Math.ceil((t * (hq + 2 * hkv) * dh) / 256));
    return q;
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor {
    const op = 'attention';
    const sq = this.#f32(op, q);
    const sk = this.#f32(op, kCache);
    const sv = this.#f32(op, vCache);
    return this.#attend(q.shape, sq, sk, sv, attentionDims(q.shape, kCache.shape, vCache.shape, opts), null);
  }

  attentionRope(qkv: Tensor, kCache: Tensor, vCache: Tensor, opts: QkvRopeOptions): Tensor {
    const op = 'attentionRope';
    const sx = this.#f32(op, qkv);
    const sk = this.#f32(op, kCache);
    const sv = this.#f32(op, vCache);
    const { t, hq, dh, rotaryDim, interleaved } = qkvRopeDims(qkv.shape, kCache.shape, vCache.shape, opts);
    if (t !== 1) throw new InvalidArgumentError(`attentionRope: decodes one token (qkv [1, …]), got ${t} rows; use qkvRope and attention`);
    if (this.#lastQx?.src === sk || this.#lastQx?.src === sv) this.#dropQuantizedActivations();
    const freqs = this.#ropeFrequencies(opts, rotaryDim);
    const dims = attentionDims([t, hq, dh], kCache.shape, vCache.shape, { past: opts.pos0 });
    return this.#attend([t, hq, dh], sx, sk, sv, dims, { freqs, rd: rotaryDim, interleaved });
  }

  /** Split-K attention: partial chunks, then their combine (rope: q and this step's k, v come from qkv). */
  #attend(shape: Shape, sq: GPUStorage, sk: GPUStorage, sv: GPUStorage, d: AttentionDims, rope: { freqs: GPUStorage; rd: number; interleaved: boolean } | null): Tensor {
    const { t, hq, dh, hkv, s, past, scale, causal } = d;
    const out = this.#alloc(shape, 'f32');
    if (out.size === 0) return out;
    const chunk = this.tuning.attentionChunk ?? attentionChunk(t, hq, past + t, dh);
    const chunks = Math.ceil((past + t) / chunk);
    // part [T·Hq·chunks, Dh + 2]: per chunk (max, Σ exp, Σ exp · v)
    const part = this.#scratch(t * hq * chunks * (dh + 2) * 4);
    const params = [t, hq, hkv, s, past, chunks, causal ? 1 : 0, scale];
    if (rope) {
      this.#run(`attn-part:${dh}:${chunk}:rope`, () => attentionPartialKernel(dh, chunk, true), [sq, sk, sv, part, rope.freqs], [...params, rope.rd, rope.interleaved ? 1 : 0], F7, t * hq * chunks);
    } else {
      this.#run(`attn-part:${dh}:${chunk}`, () => attentionPartialKernel(dh, chunk), [sq, sk, sv, part], params, F7, t * hq * chunks);
    }
    const so = out.storage as GPUStorage;
    // the output [1, Hq, Dh] feeds the o projection: written quantized too where the GEMVs take int8 activations
    const qz = dh % 32 === 0 ? this.#producerQuant(t, hq * dh, Infinity) : null;
    if (qz) {
      const [xq, xd] = this.#quantizedFor(so, hq * dh, qz);
      this.#run(`attn-combine:${dh}:q8:${qz.bits}:${qz.planes}`, () => attentionCombineKernel(dh, qz), [part, so, xq, xd], params, F7, t * hq);
    } else {
      this.#run(`attn-combine:${dh}`, () => attentionCombineKernel(dh), [part, so], params, F7, t * hq);
    }
    this.#releaseScratch(part);
    return out;
  }

  argmax(x: Tensor): Tensor {
    const op = 'argmax';
    const sx = this.#f32(op, x);
    const { rows, v } = argmaxDims(x.shape);
    const out = this.#alloc(x.shape.slice(0, -1), 'i32');
    if (rows === 0) return out;
    const chunks = Math.ceil(v / ARGMAX_CHUNK);
    // candidates [rows, chunks]: best value and index of each chunk
    const cv = this.#scratch(rows * chunks * 4);
    const ci = this.#scratch(rows * chunks * 4);
    this.#run('argmax:raw', () => argmaxKernel('raw'), [sx, cv, ci], [rows, v, chunks], null, rows * chunks);
    this.#run('argmax:final', () => argmaxKernel('final'), [cv, ci, out.storage as GPUStorage], [rows, chunks, 1], null, rows);
    this.#releaseScratch(cv);
    this.#releaseScratch(ci);
    return out;
  }

  topk(x: Tensor, kk: number): TopK {
    const op = 'topk';
    const sx = this.#f32(op, x);
    const { rows, v } = topkDims(x.shape, kk);
    const outShape = [...x.shape.slice(0, -1), kk];
    const values = this.#alloc(outShape, 'f32');
    const indices = this.#alloc(outShape, 'i32');
    if (rows === 0) return { values, indices };
    const ov = values.storage as GPUStorage;
    const oi = indices.storage as GPUStorage;
    const keep = 2 ** Math.ceil(Math.log2(kk));
    if (keep <= TOPK_BLOCK / 4) {
      // Tournament: each pass keeps the best `keep` of every 2048-entry block, shrinking a row ≥ 4× per pass.
      let n = v;
      let inV: GPUStorage | null = null;
      let inI: GPUStorage | null = null;
      for (;;) {
        const blocks = Math.ceil(n / TOPK_BLOCK);
        const last = blocks === 1;
        const dstV = last ? ov : this.#scratch(rows * blocks * keep * 4);
        const dstI = last ? oi : this.#scratch(rows * blocks * keep * 4);
        const params = [rows, n, blocks, last ? kk : keep, last ? kk : blocks * keep];
        if (inV === null) this.#run('topk-block:raw', () => topkBlockKernel('raw'), [sx, dstV, dstI], params, null, rows * blocks);
        else this.#run('topk-block:cand', () => topkBlockKernel('cand'), [inV, inI!, dstV, dstI], params, null, rows * blocks);
        if (inV !== null) {
          this.#releaseScratch(inV);
          this.#releaseScratch(inI!);
        }
        if (last) break;
        inV = dstV;
        inI = dstI;
        n = blocks * keep;
      }
    } else {
      // Large k: a full bitonic sort of each padded row in global memory, one dispatch per (k, j) step.
      const pn = 2 ** Math.ceil(Math.log2(v));
      const sv = this.#scratch(rows * pn * 4);
      const si = this.#scratch(rows * pn * 4);
      this.#run('topk-init', topkInitKernel, [sx, sv, si], [rows, v, pn], null, Math.ceil((rows * pn) / 256));
      for (let k = 2; k <= pn; k *= 2) {
        for (let j = k / 2; j >= 1; j /= 2) {
          this.#run('topk-step', topkStepKernel, [sv, si], [rows, pn, k, j], null, Math.ceil((rows * pn) / 2 / 256));
        }
      }
      this.#run('topk-take', topkTakeKernel, [sv, si, ov, oi], [rows, pn, kk], null, Math.ceil((rows * kk) / 256));
      this.#releaseScratch(sv);
      this.#releaseScratch(si);
    }
    return { values, indices };
  }

  // ---- internals ------------------------------------------------------------------------------------

  #alive(): void {
    if (this.#disposed) throw new DisposedError('WebGPUBackend');
    if (this.#lostError !== null) throw this.#lostError;
  }

  /** Awaits GPU work, turning device loss (also while waiting) into DeviceLostError instead of a hang. */
  async #guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await Promise.race([p, this.#lostRejection]);
    } catch (e) {
      if (this.#lostError) throw this.#lostError;
      // A destroyed device may reject the wait before `lost` settles: give it a moment to say why
      const lost = await Promise.race([this.lost, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
      if (lost) throw lost;
      throw e;
    }
  }

  async #checkOom(): Promise<void> {
    if (this.#oomChecks.length === 0) return;
    const checks = this.#oomChecks;
    this.#oomChecks = [];
    for (const err of await Promise.all(checks)) if (err) throw err;
  }

  #acquire(bytes: number): GPUStorage {
    const limit = this.#limits.maxBufferSize;
    if (bytes > limit) throw new OutOfMemoryError(bytes, `webgpu (the device's maxBufferSize is ${limit} bytes)`);
    // every storage buffer is bound whole by some kernel: larger than this, no shader could read it
    const bind = this.#limits.maxStorageBufferBindingSize;
    if (bytes > bind) throw new OutOfMemoryError(bytes, `webgpu (one tensor is bound whole, and the device's maxStorageBufferBindingSize is ${bind} bytes)`);
    if (bytes < OOM_SCOPE_BYTES) return this.#pool.acquire(bytes);
    this.device.pushErrorScope('out-of-memory');
    const s = this.#pool.acquire(bytes);
    this.#oomChecks.push(
      this.device.popErrorScope().then(
        (e) => {
          if (!e) return null;
          this.#failed.add(s);
          this.#pool.discard(s);
          return new OutOfMemoryError(bytes, `webgpu (${e.message})`);
        },
        () => null,
      ),
    );
    return s;
  }

  #alloc(shape: Shape, dtype: DType): Tensor {
    const bytes = sizeOf(shape) * BYTES_PER_ELEMENT[dtype];
    const s = this.#acquire(bytes);
    this.#allocated += s.byteLength;
    this.#peak = Math.max(this.#peak, this.#allocated);
    return new Tensor(this, s, shape, dtype);
  }

  /** A temporary buffer for one op; give it back with #releaseScratch right after recording. */
  #scratch(bytes: number): GPUStorage {
    return this.#acquire(bytes);
  }

  #releaseScratch(s: GPUStorage): void {
    if (!this.#failed.has(s)) this.#pool.release(s);
  }

  #own(op: string, t: Tensor): GPUStorage {
    if (t.backend !== this) throw new InvalidArgumentError(`${op}: tensor ${fmt(t.shape)} belongs to backend "${t.backend.name}", not this webgpu backend`);
    return t.storage as GPUStorage;
  }

  #typed(op: string, t: Tensor, dtype: DType): GPUStorage {
    this.#alive();
    const s = this.#own(op, t);
    if (t.dtype !== dtype) throw new DTypeError(op, `expected ${dtype}, got ${t.dtype} tensor ${fmt(t.shape)}`);
    return s;
  }

  #f32(op: string, t: Tensor): GPUStorage {
    return this.#typed(op, t, 'f32');
  }

  /** The packed buffers of w in binding order: data, scales, mins (scales again when symmetric: never read). */
  #quant(op: string, w: QuantizedTensor): GPUStorage[] {
    const [n, kk] = w.shape;
    const problem = validateQuantShape(n, kk, w);
    if (problem !== null) throw new InvalidArgumentError(`${op}: ${problem}`);
    const data = this.#typed(op, w.data, 'u32');
    const scales = this.#typed(op, w.scales, 'u32');
    if (!w.symmetric && !w.mins) throw new InvalidArgumentError(`${op}: an asymmetric quantized weight has no mins`);
    const mins = w.symmetric ? null : this.#typed(op, w.mins!, 'u32');
    const halfWords = f16Words((n * kk) / w.groupSize);
    if (w.data.size !== n * wordsPerRow(kk, w.bits) || w.scales.size !== halfWords || (w.mins && !w.symmetric && w.mins.size !== halfWords)) {
      throw new ShapeError(op, `packed buffers (data ${w.data.size}, scales ${w.scales.size}${w.mins ? `, mins ${w.mins.size}` : ''} words) do not match [${n}, ${kk}] at ${w.bits} bits, group ${w.groupSize}`);
    }
    return [data, scales, mins ?? scales];
  }

  #unary(op: UnaryOp, x: Tensor): Tensor {
    const sx = this.#f32(op.startsWith('gelu') ? 'gelu' : op, x);
    const out = this.#alloc(x.shape, 'f32');
    this.#run(`unary:${op}`, () => unaryKernel(op), [sx, out.storage as GPUStorage], [x.size], null, Math.ceil(x.size / 256));
    return out;
  }

  #binary(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
    const sa = this.#f32(op, a);
    const sb = this.#f32(op, b);
    const outShape = broadcastShapes(a.shape, b.shape, op);
    const out = this.#alloc(outShape, 'f32');
    const n = out.size;
    if (n === 0) return out;
    const so = out.storage as GPUStorage;
    if (shapesEqual(a.shape, b.shape)) {
      this.#run(`binary:${op}:same`, () => binaryKernel(op, 'same'), [sa, sb, so], [n, 0, 0, 0], null, Math.ceil(n / 256));
      return out;
    }
    // Collapse the broadcast to the fewest axes: drop size-1 axes, merge neighbours contiguous in both operands.
    const as = broadcastStrides(a.shape, outShape);
    const bs = broadcastStrides(b.shape, outShape);
    const dims: { size: number; sa: number; sb: number }[] = [];
    for (let i = 0; i < outShape.length; i++) {
      const size = outShape[i]!;
      if (size === 1) continue;
      const prev = dims[dims.length - 1];
      if (prev && prev.sa === as[i]! * size && prev.sb === bs[i]! * size) {
        prev.size *= size;
        prev.sa = as[i]!;
        prev.sb = bs[i]!;
      } else {
        dims.push({ size, sa: as[i]!, sb: bs[i]! });
      }
    }
    if (dims.length > BINARY_MAX_RANK) throw new ShapeError(op, `broadcast of ${fmt(a.shape)} and ${fmt(b.shape)} needs more than ${BINARY_MAX_RANK} axes`);
    const pad = (xs: number[]): number[] => [...xs, ...Array<number>(BINARY_MAX_RANK - xs.length).fill(0)];
    const params = [n, dims.length, 0, 0, ...pad(dims.map((d) => d.size)), ...pad(dims.map((d) => d.sa)), ...pad(dims.map((d) => d.sb))];
    this.#run(`binary:${op}:general`, () => binaryKernel(op, 'general'), [sa, sb, so], params, null, Math.ceil(n / 256));
    return out;
  }

  /** f [rd/2, 2]: θ^(−2p/rd) / (2π · scale) as c1 (12 significant bits) + c2, cached per (θ, rd, scale). */
  #ropeFrequencies(opts: RopeOptions, rd: number): GPUStorage {
    const scale = opts.scale ?? 1;
    // every layer of a step asks for the same table: answered without building its key
    const last = this.#lastRope;
    if (last && last.invFreq === opts.invFreq && last.theta === opts.theta && last.rd === rd && last.scale === scale) return last.table;
    const table = this.#ropeTable(opts, rd, scale);
    this.#lastRope = { invFreq: opts.invFreq, theta: opts.theta, rd, scale, table };
    return table;
  }

  #ropeTable(opts: RopeOptions, rd: number, scale: number): GPUStorage {
    let key = `${opts.theta}:${rd}:${scale}`;
    if (opts.invFreq) {
      let id = this.#invFreqIds.get(opts.invFreq);
      if (id === undefined) this.#invFreqIds.set(opts.invFreq, (id = this.#invFreqNext++));
      key = `inv${id}:${rd}:${scale}`;
    }
    const hit = this.#ropeTables.get(key);
    if (hit) return hit;
    const freqs = ropeFrequencies(opts, rd);
    const pairs = Math.max(1, rd / 2);
    const table = new Float32Array(pairs * 2);
    const bits = new Uint32Array(table.buffer);
    for (let p = 0; p < rd / 2; p++) {
      const f = freqs[p]! / (2 * Math.PI);
      table[2 * p] = f;
      bits[2 * p]! &= 0xfffff000;
      table[2 * p + 1] = f - table[2 * p]!;
    }
    const s = this.#pool.acquire(table.byteLength);
    if (s.lastBatch === this.#batch && this.#encoder !== null) this.flush();
    this.device.queue.writeBuffer(s.buffer, 0, table);
    this.#ropeTables.set(key, s);
    return s;
  }

  #matvecShape(w: MatvecWeights, k: number): MatvecShape {
    const units = matvecUnits(w, k);
    const tpr = this.tuning.matvecTpr ?? Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, units)))));
    const rows = this.tuning.matvecRows ?? (w.kind === 'q' ? 2 : 4);
    return { tpr, rows, subgroups: this.tuning.subgroups && this.hasSubgroups };
  }

  /** Subgroup reduction the quantized GEMV may use with row slots of `tpr` invocations (see QMatvecShape). */
  #qmatvecSubgroup(tpr: number): number {
    if (!this.tuning.subgroups || !this.hasSubgroups) return 0;
    const info = this.adapterInfo as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
    const min = info?.subgroupMinSize ?? 0;
    const max = info?.subgroupMaxSize ?? 0;
    // Unknown sizes, or subgroups wider than a slot: workgroup memory only
    if (min <= 0 || max <= 0 || max > tpr) return 0;
    return min === max ? min : -1;
  }

  /** The work split qmatvec uses for w [N, K] under the current tuning (benchmarks report it). */
  qmatvecShape(n: number, k: number): QMatvecShape {
    const blocks = k / 32;
    const pow2 = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));
    const t = this.tuning;
    // Measured on an H100 (bench-results/gpu-kernels.json): 4–8 rows per slot so that x is reused and many
    // loads are in flight, a slot of one warp unless K is long, and about 200 workgroups (1–2 per SM).
    const rows = t.matvecRows ?? (n >= 8192 ? 8 : 4);
    const tpr = t.matvecTpr ?? Math.min(blocks >= 256 ? 128 : 32, pow2(blocks));
    const slots = 2 ** Math.max(0, Math.floor(Math.log2(n / (rows * 200))));
    const wg = t.matvecWorkgroup ?? Math.min(256, Math.max(64, tpr, slots * tpr));
    const unroll = t.matvecUnroll ?? (blocks >= 2 * tpr ? 2 : 1);
    return { wg, tpr: Math.min(wg, tpr), rows, unroll, subgroup: this.#qmatvecSubgroup(Math.min(wg, tpr)) };
  }

  /** The work split of the int8-activation GEMV under the current tuning (benchmarks report it). */
  q8Shape(bits: Q8Bits, planes: ActivationPlanes, n = 0, k = 0): Q8Shape {
    const t = this.tuning;
    const sg = this.#qmatvecSubgroup(32) === 32;
    const d = q8DefaultShape(bits, planes, sg, n, k);
    // a tuned split keeps one subgroup a row (the wide default slots need the default workgroup)
    if (t.matvecWorkgroup === null && t.matvecRows === null && t.matvecUnroll === null) return d;
    return { wg: t.matvecWorkgroup ?? d.wg, tpr: 32, rows: t.matvecRows ?? d.rows, unroll: t.matvecUnroll ?? d.unroll, subgroup: sg };
  }

  /**
   * Where a producer of one row of d values (rows = 1, d % 32 == 0, d ≤ maxD) should also write its output
   * quantized: the format the last int8-activation GEMV used, if the current tuning still asks for it.
   */
  #producerQuant(rows: number, d: number, maxD: number): { bits: Q8Bits; planes: ActivationPlanes } | null {
    const h = this.#qxHint;
    const act = this.tuning.qmatvecActivations;
    if (h === null || !this.tuning.producerQuant || act === 'f32' || this.tuning.qmatvecLegacy || rows !== 1 || d === 0 || d % 32 !== 0 || d > maxD) return null;
    return h.planes === (act === 'int8' ? 1 : 2) ? h : null;
  }

  /**
   * Scratch for the quantized form of `src` (d values: d · planes code bytes, a vec4 per block of 32), registered
   * so the GEMV that reads `src` finds it; whoever records the quantizing work (a producer or the GEMV) fills it.
   */
  #quantizedFor(src: GPUStorage, d: number, q: { bits: Q8Bits; planes: ActivationPlanes }): [GPUStorage, GPUStorage] {
    this.#dropQuantizedActivations();
    const xq = this.#scratch(d * q.planes);
    const xd = this.#scratch((d / 32) * 16);
    this.#lastQx = { src, k: d, bits: q.bits, planes: q.planes, xq, xd };
    return [xq, xd];
  }

  /** x quantized for the int8-activation GEMV (the last one is reused while the same x comes back). */
  #quantizeActivations(x: Tensor, sx: GPUStorage, bits: Q8Bits, planes: ActivationPlanes): [GPUStorage, GPUStorage] {
    const k = x.size;
    const c = this.#lastQx;
    this.#qxHint = { bits, planes };
    if (c && c.src === sx && c.k === k && c.bits === bits && c.planes === planes) return [c.xq, c.xd];
    const [xq, xd] = this.#quantizedFor(sx, k, { bits, planes });
    this.#run(`qmatvec-q8-x:${bits}:${planes}`, () => quantizeActivationsKernel(bits, planes), [sx, xq, xd], [k], null, Math.ceil(k / 32 / QX_WORKGROUP));
    return [xq, xd];
  }

  #dropQuantizedActivations(): void {
    const c = this.#lastQx;
    if (!c) return;
    this.#lastQx = null;
    this.#releaseScratch(c.xq);
    this.#releaseScratch(c.xd);
  }

  /** y [N] = w · x for quantized w: inputs are data, scales, mins (scales when symmetric), x. */
  #qmatvec(outShape: Shape, w: QuantizedTensor, inputs: GPUStorage[], x: Tensor): Tensor {
    const [n, k] = w.shape;
    const asym = w.symmetric ? 0 : 1;
    if (this.tuning.qmatvecLegacy) return this.#matvec(outShape, n, k, { kind: 'q', bits: w.bits }, inputs, w.groupSize / 32, asym);
    const out = this.#alloc(outShape, 'f32');
    const so = out.storage as GPUStorage;
    const act = this.tuning.qmatvecActivations;
    if (act !== 'f32' && isQ8Bits(w.bits) && n > 0 && k > 0) {
      const planes: ActivationPlanes = act === 'int8' ? 1 : 2;
      const [xq, xd] = this.#quantizeActivations(x, inputs[3]!, w.bits, planes);
      const s = this.q8Shape(w.bits, planes, n, k);
      const stage = this.tuning.stageActivations && k / 32 <= STAGE_MAX_BLOCKS && s.rows <= 2 && qmatvecQ8SharedBytes(planes, s, k / 32) <= this.#limits.maxComputeWorkgroupStorageSize ? k / 32 : 0;
      this.#run(qmatvecQ8Key(w.bits, w.symmetric, planes, s, stage), () => qmatvecQ8Kernel(w.bits as Q8Bits, w.symmetric, planes, s, stage), [inputs[0]!, inputs[1]!, inputs[2]!, xq, xd, so], [n, k, w.groupSize / 32, asym], null, Math.ceil(n / q8RowsPerGroup(s)));
      return out;
    }
    const shape = this.qmatvecShape(n, k);
    const weights: QMatvecWeights = { bits: w.bits, symmetric: w.symmetric };
    const key = `qmatvec:${w.bits}:${w.symmetric}:${shape.wg}:${shape.tpr}:${shape.rows}:${shape.unroll}:${shape.subgroup}`;
    this.#run(key, () => qmatvecKernel(weights, shape), [...inputs, so], [n, k, w.groupSize / 32, asym], null, Math.ceil(n / qmatvecRowsPerGroup(shape)));
    return out;
  }

  #matvec(outShape: Shape, n: number, k: number, w: MatvecWeights, inputs: GPUStorage[], blocksPerGroup: number, asym: number): Tensor {
    const out = this.#alloc(outShape, 'f32');
    if (n === 0) return out;
    const so = out.storage as GPUStorage;
    if (k === 0) {
      this.#endPass().clearBuffer(so.buffer);
      so.lastBatch = this.#batch;
      return out;
    }
    const shape = this.#matvecShape(w, k);
    const key = `matvec:${JSON.stringify(w)}:${shape.tpr}:${shape.rows}:${shape.subgroups}`;
    this.#run(key, () => matvecKernel(w, shape), [...inputs, so], [n, k, blocksPerGroup, asym], null, Math.ceil(n / matvecRowsPerGroup(shape)));
    return out;
  }

  #matmul(
    outShape: Shape, batch: number, m: number, n: number, k: number, tile: MatmulTile, b: MatmulB,
    aVec4: boolean, bVec4: boolean, inputs: GPUStorage[], wpr: number, strideB: number, groupSize = 0, asym = 0,
  ): Tensor {
    const out = this.#alloc(outShape, 'f32');
    if (out.size === 0) return out;
    const so = out.storage as GPUStorage;
    if (k === 0) {
      this.#endPass().clearBuffer(so.buffer);
      so.lastBatch = this.#batch;
      return out;
    }
    const key = `matmul:${JSON.stringify(tile)}:${JSON.stringify(b)}:${aVec4}:${bVec4}`;
    const make = (): KernelDef => matmulKernel(tile, b, aVec4, bVec4);
    const max = this.#limits.maxComputeWorkgroupsPerDimension;
    const tilesN = Math.ceil(n / tile.bn);
    const tilesM = Math.ceil(m / tile.bm);
    if (tilesN > max) throw new ShapeError('matmul', `N = ${n} needs ${tilesN} tiles, over the device's ${max} per dispatch`);
    for (let b0 = 0; b0 < batch; b0 += max) {
      for (let mt0 = 0; mt0 < tilesM; mt0 += max) {
        const params = [m, n, k, wpr, m * k, strideB, m * n, mt0, b0, groupSize, asym];
        this.#run(key, make, [...inputs, so], params, null, [tilesN, Math.min(max, tilesM - mt0), Math.min(max, batch - b0)]);
      }
    }
    return out;
  }

  #pipe(key: string, make: () => KernelDef): Pipe {
    const hit = this.#pipes.get(key);
    if (hit) {
      this.#stats.pipelineHits++;
      return hit;
    }
    const def = make();
    const layoutKey = def.bindings.join(',');
    let layout = this.#layouts.get(layoutKey);
    if (!layout) {
      const bgl = this.device.createBindGroupLayout({
        entries: [
          { binding: 0, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
          ...def.bindings.map((kind: BindingKind, i): GPUBindGroupLayoutEntry => ({
            binding: i + 1,
            visibility: ShaderStage.COMPUTE,
            buffer: { type: kind === 'read' ? 'read-only-storage' : 'storage' },
          })),
        ],
      });
      layout = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
      this.#layouts.set(layoutKey, layout);
    }
    const module = this.device.createShaderModule({ code: def.code, label: def.key });
    const pipeline = this.device.createComputePipeline({ layout: layout.pl, compute: { module, entryPoint: 'main' }, label: def.key });
    const pipe: Pipe = { id: this.#pipes.size + 1, pipeline, layout: layout.bgl };
    this.#pipes.set(key, pipe);
    this.#stats.pipelinesCompiled++;
    return pipe;
  }

  #bindGroup(pipe: Pipe, buffers: GPUStorage[]): GPUBindGroup {
    if (this.#bindGroupCount >= BIND_GROUP_CACHE) {
      this.#bindGroups = { bg: null, next: new Map() };
      this.#bindGroupCount = 0;
    }
    let node = this.#bindGroups;
    for (let i = -1; i < buffers.length; i++) {
      const id = i < 0 ? pipe.id : buffers[i]!.id;
      let next = node.next.get(id);
      if (!next) node.next.set(id, (next = { bg: null, next: new Map() }));
      node = next;
    }
    if (node.bg) {
      this.#stats.bindGroupHits++;
      return node.bg;
    }
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.#ring.buffer, offset: 0, size: UNIFORM_SLOT } }];
    for (const [i, b] of buffers.entries()) entries.push({ binding: i + 1, resource: { buffer: b.buffer } });
    node.bg = this.device.createBindGroup({ layout: pipe.layout, entries });
    this.#bindGroupCount++;
    this.#stats.bindGroupsCreated++;
    return node.bg;
  }

  /**
   * Records one dispatch: `count` workgroups (laid out as a 2-d grid) or an explicit [x, y, z] grid. Params go to
   * the uniform ring as u32 except the indices in `floats`.
   */
  #run(key: string, make: () => KernelDef, buffers: GPUStorage[], params: number[], floats: ReadonlySet<number> | null, count: number | [number, number, number]): void {
    const [x, y, z] = typeof count === 'number' ? [...grid(count, this.#limits.maxComputeWorkgroupsPerDimension), 1] : count;
    if (x === 0 || y === 0 || z === 0) return;
    const pipe = this.#pipe(key, make);
    if (this.#ring.full) this.#submit();
    const offset = this.#ring.push(params, floats ?? undefined);
    const prof = this.#profile !== null && this.#profile.mode !== 'pass' && this.#profile.next + 2 <= this.#profile.queries ? this.#profile : null;
    let pass: GPUComputePassEncoder;
    if (prof?.mode === 'dispatch') {
      this.#pass = pass = this.#endPass().beginComputePass({ timestampWrites: timedPass(prof, key) });
    } else {
      pass = this.#computePass();
    }
    // in-pass: a timestamp opens each pass, then one follows every dispatch (it times from the previous one)
    const stamp = prof?.mode === 'in-pass' ? (i: number): void => (pass as unknown as { writeTimestamp(q: GPUQuerySet, i: number): void }).writeTimestamp(prof.querySet, i) : null;
    if (stamp && prof!.pass !== pass) {
      stamp(prof!.next);
      prof!.pass = pass;
      prof!.next++;
    }
    pass.setPipeline(pipe.pipeline);
    pass.setBindGroup(0, this.#bindGroup(pipe, buffers), [offset]);
    const rep = this.tuning.dispatchRepeat;
    const times = rep && key.startsWith(rep.prefix) ? 1 + rep.extra : 1;
    for (let r = 0; r < times; r++) pass.dispatchWorkgroups(x, y, z);
    if (stamp) {
      stamp(prof!.next);
      prof!.keys.push(key);
      prof!.stamps.push(prof!.next - 1, prof!.next);
      prof!.next++;
    }
    if (prof?.mode === 'dispatch') this.#endPass();
    for (const b of buffers) b.lastBatch = this.#batch;
    this.#stats.dispatches++;
  }

  #computePass(): GPUComputePassEncoder {
    if (this.#pass) return this.#pass;
    this.#encoder ??= this.device.createCommandEncoder();
    const prof = this.#profile?.mode === 'pass' && this.#profile.next + 2 <= this.#profile.queries ? this.#profile : null;
    this.#pass = this.#encoder.beginComputePass(prof ? { timestampWrites: timedPass(prof, 'pass') } : undefined);
    return this.#pass;
  }

  /** The encoder outside any compute pass, for copies and clears. */
  #endPass(): GPUCommandEncoder {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    this.#encoder ??= this.device.createCommandEncoder();
    return this.#encoder;
  }

  #submit(): void {
    if (!this.#encoder) return;
    const enc = this.#endPass();
    this.#encoder = null;
    this.#ring.upload(this.device.queue);
    this.device.queue.submit([enc.finish()]);
    this.#batch++;
    this.#stats.submits++;
  }
}

/** A running profile: the key of each timed item, the two queries that time it, and the next free query. */
interface Profile {
  querySet: GPUQuerySet;
  queries: number;
  mode: ProfileMode;
  keys: string[];
  stamps: number[];
  next: number;
  /** in-pass: the pass whose opening timestamp is written. */
  pass: GPUComputePassEncoder | null;
}

/** Claims two queries of the profile for a pass timed whole under `key`, as a pass's timestampWrites. */
function timedPass(prof: Profile, key: string): GPUComputePassTimestampWrites {
  const i = prof.next;
  prof.next += 2;
  prof.keys.push(key);
  prof.stamps.push(i, i + 1);
  return { querySet: prof.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
}

/** A node of the bind group cache: the group for the ids on the path here, and the next id's nodes. */
interface BindGroupNode {
  bg: GPUBindGroup | null;
  next: Map<number, BindGroupNode>;
}

/** GPU time of one kernel (pipeline key) in a profile. */
export interface KernelProfileEntry {
  key: string;
  calls: number;
  gpuMs: number;
}

/** The register-held norm kernel for rows of d values where it applies (d % 4 == 0, d ≤ NORM_VEC4_MAX_D). */
function vec4Norm(d: number, add: boolean): [string, () => KernelDef] | null {
  if (d === 0 || d % 4 !== 0 || d > NORM_VEC4_MAX_D) return null;
  return [`${add ? 'add-rms-norm' : 'rms-norm'}:v${d}`, () => rmsNormVec4Kernel(d, add)];
}

/** Dawn's native feature for timestamps between the dispatches of a pass (in-pass kernel profiles). */
export const TIMESTAMPS_IN_PASSES = 'chromium-experimental-timestamp-query-inside-passes';

const F2: ReadonlySet<number> = new Set([2]);
const F7: ReadonlySet<number> = new Set([7]);
