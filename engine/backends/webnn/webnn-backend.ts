import { DeviceLostError, DisposedError, DTypeError, InvalidArgumentError, ShapeError } from '../../errors.js';
import { BYTES_PER_ELEMENT, dtypeOf, f16ToF32, typedArrayFor, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { assertShape, broadcastShapes, sizeOf, type Shape } from '../../tensor/shape.js';
import { Tensor, type StorageHandle } from '../../tensor/tensor.js';
import { f16Words, readHalf, validateQuantShape, wordsPerRow, type QuantFormat } from '../../quant/layout.js';
import { disposeQuantized, uploadPacked, type QuantizedTensor } from '../../quant/quantized-tensor.js';
import type { AttentionOptions, Backend, GeluApproximation, MemoryInfo, RopeOptions, TopK } from '../backend.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import { ropeFrequencies } from '../rope.js';
import { argmaxDims, attentionDims, embeddingDims, fmt, kvWriteDims, lastAxis, layerNormDims, matmulDims, matvecDims, qmatmulDims, qmatvecDims, rmsNormDims, ropeDims, topkDims } from '../op-shapes.js';
import * as g from './graphs.js';
import { planWebNN, type WebNNFallback, type WebNNPlan } from './support.js';
import type { MLContext, MLDeviceType, MLGraph, MLGraphBuilder, MLGraphBuilderCtor, MLOperand, MLOperandDataType, MLTensor } from './webnn-types.js';

/** Compiled graphs kept (least recently used dropped first). */
const MAX_GRAPHS = 256;

const DATA_TYPE: Readonly<Record<DType, MLOperandDataType>> = { f32: 'float32', f16: 'float16', i32: 'int32', u8: 'uint8', u32: 'uint32' };

/**
 * A tensor's storage: a host copy and/or one flat MLTensor, each with a flag saying whether it holds the
 * current value. Graph ops read and write the MLTensor; cpu fallbacks read and write the host copy; each
 * side is brought up to date only when the other one has changed and this side is needed.
 */
interface NNStorage extends StorageHandle {
  readonly byteLength: number;
  readonly dtype: DType;
  readonly size: number;
  host: AnyTypedArray | null;
  hostValid: boolean;
  ml: MLTensor | null;
  mlValid: boolean;
  /** The failure of the op that should have written it (reported by download). */
  error: unknown;
  /** Int8 weights: the codes (u8) and f32 scales / mins the dequantizeLinear graph reads, freed with it. */
  q8?: { codes: NNStorage; scale: NNStorage; min: NNStorage | null };
  /** A cpu copy of a packed weight for fallbacks (made once; weights never change). */
  cpuQuant?: QuantizedTensor;
}

/** One graph op as recorded: enough to run it alone (`single`) or to compose it into a fused graph. */
interface FusedOp {
  key: string;
  build: (b: MLGraphBuilder) => g.Outputs;
  /** Graph-input name → storage read. */
  inputs: Record<string, NNStorage>;
  /** Host arrays (masks, cos/sin, indices) passed as inputs. */
  extra: Record<string, AnyTypedArray>;
  /** The storage it writes (for kvWrite, the cache itself). */
  out: NNStorage;
  before?: () => Promise<void>;
  single: () => Promise<void>;
}

/** The context would not build a graph: the op runs on the cpu backend instead. */
class GraphBuildError extends Error {}

interface Ref {
  readonly s: NNStorage;
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface WebNNBackendOptions {
  context: MLContext;
  /** The MLGraphBuilder constructor of the realm the context came from. */
  builder: MLGraphBuilderCtor;
  deviceType: MLDeviceType;
  /**
   * Fuse the graph ops recorded between flush points (download, sync, flush, a cpu fallback) into one MLGraph —
   * a decode step becomes one cached graph and its intermediates never leave the device. Default true; false
   * dispatches one cached graph per op.
   */
  fuse?: boolean;
}

export interface WebNNStats {
  /** Graphs built and compiled (a steady decode loop must not raise it). */
  graphsBuilt: number;
  dispatches: number;
  /** Ops run on the cpu backend instead. */
  fallbackRuns: number;
  /** Dispatches that ran several ops as one fused graph. */
  fusedDispatches: number;
}

/**
 * The WebNN backend: each op is a small MLGraph composition (graphs.ts); the ops recorded between flush points
 * (download, sync, flush, a cpu fallback) are composed into one MLGraph, cached under the ops' keys and wiring,
 * so a decode step compiles once and dispatches once (`fuse: false`: one cached graph per op, shape and options),
 * on an MLContext for the cpu, gpu or npu device. Ops or dtypes the context does not support
 * (per `opSupportLimits()`), packed 4/3/2-bit weights and top-k run on the cpu backend instead; `fallbacks()`
 * lists each with its reason. WebNN's builder and tensor calls are asynchronous, so ops are recorded in
 * order on one queue and run there; `download()` and `sync()` wait for it. Argument errors are thrown at
 * the call, like every backend; a failure inside the queue is reported by the download of any tensor that
 * depends on it, and by the next `sync()`.
 */
export class WebNNBackend implements Backend {
  readonly name = 'webnn' as const;
  readonly deviceType: MLDeviceType;
  readonly lost: Promise<DeviceLostError>;
  readonly plan: WebNNPlan;

  #context: MLContext;
  #Builder: MLGraphBuilderCtor;
  #cpu = new CpuBackend();
  #queue: Promise<void> = Promise.resolve();
  #graphs = new Map<string, Promise<MLGraph>>();
  #unbuildable = new Map<string, string>();
  #fuse: boolean;
  /** Graph ops recorded since the last flush point, run as one graph (fuse mode). */
  #segment: FusedOp[] = [];
  /** Storages released while a segment is pending: recycled after it runs. */
  #deferred: NNStorage[] = [];
  #pool = new Map<string, MLTensor[]>();
  #live = new Set<NNStorage>();
  #fallbacks: WebNNFallback[];
  #stats: WebNNStats = { graphsBuilt: 0, dispatches: 0, fallbackRuns: 0, fusedDispatches: 0 };
  #failure: unknown = null;
  #allocated = 0;
  #peak = 0;
  #pooledBytes = 0;
  #pooledCount = 0;
  #created = 0;
  #disposed = false;

  constructor(options: WebNNBackendOptions) {
    this.#context = options.context;
    this.#Builder = options.builder;
    this.deviceType = options.deviceType;
    this.#fuse = options.fuse ?? true;
    this.plan = planWebNN(this.#context.opSupportLimits());
    this.#fallbacks = [...this.plan.fallbacks];
    this.lost = this.#context.lost.then((info) => new DeviceLostError('webnn', info?.message ?? 'the MLContext was lost'));
  }

  /** Ops that run on the cpu backend instead of a WebNN graph, each with its reason (for the capability report). */
  fallbacks(): WebNNFallback[] {
    return this.#fallbacks.map((f) => ({ ...f }));
  }

  stats(): WebNNStats {
    return { ...this.#stats };
  }

  // ---- memory ---------------------------------------------------------------------------------------

  upload(data: AnyTypedArray, shape: Shape, dtype: DType = dtypeOf(data)): Tensor {
    this.#alive();
    assertShape(shape, 'upload');
    if (dtypeOf(data) !== dtype) throw new DTypeError('upload', `${data.constructor.name} cannot hold dtype ${dtype}`);
    if (sizeOf(shape) !== data.length) throw new ShapeError('upload', `shape ${fmt(shape)} holds ${sizeOf(shape)} elements, data has ${data.length}`);
    return new Tensor(this, this.#storage(dtype, data.length, data.slice()), shape, dtype);
  }

  empty(shape: Shape, dtype: DType): Tensor {
    return this.zeros(shape, dtype);
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    this.#alive();
    assertShape(shape, 'zeros');
    return new Tensor(this, this.#storage(dtype, sizeOf(shape), typedArrayFor(dtype, sizeOf(shape))), shape, dtype);
  }

  download(t: Tensor): Promise<AnyTypedArray> {
    this.#alive();
    const s = this.#own('download', t);
    this.#closeSegment();
    return this.#enqueueValue(async () => {
      if (s.error !== null) throw s.error;
      return (await this.#toHost(s)).slice();
    });
  }

  uploadQuantized(format: QuantFormat, shape: readonly [number, number], data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null): QuantizedTensor {
    this.#alive();
    const q = uploadPacked(this, format, shape, data, scales, mins);
    if (format.bits === 8 && this.plan.ops.get('qmatvec int8') === null) {
      const [n, k] = shape;
      const groups = (n * k) / format.groupSize;
      const halves = (words: Uint32Array): Float32Array => Float32Array.from({ length: groups }, (_, i) => f16ToF32(readHalf(words, i)));
      // 8-bit codes are the little-endian bytes of the packed words: code j of a word sits at bits [8j, 8j + 8)
      const codes = new Uint8Array(data.buffer, data.byteOffset, n * k).slice();
      this.#sto(q.data).q8 = {
        codes: this.#storage('u8', n * k, codes),
        scale: this.#storage('f32', groups, halves(scales)),
        min: mins === null ? null : this.#storage('f32', groups, halves(mins)),
      };
    } else {
      const name = `qmatvec int${format.bits} g${format.groupSize} ${format.symmetric ? 'sym' : 'asym'}`;
      const reason = format.bits === 8 ? (this.plan.ops.get('qmatvec int8') ?? '') : `packed ${format.bits}-bit weights have no WebNN data type; run on the cpu backend`;
      if (!this.#fallbacks.some((f) => f.op === name)) this.#fallbacks.push({ op: name, reason });
    }
    return q;
  }

  memory(): MemoryInfo {
    this.#alive();
    return { allocatedBytes: this.#allocated, peakBytes: this.#peak, reservedBytes: this.#allocated + this.#pooledBytes, buffersCreated: this.#created, pooledBuffers: this.#pooledCount };
  }

  resetPeak(): void {
    this.#alive();
    this.#peak = this.#allocated;
  }

  release(storage: StorageHandle): void {
    const s = storage as NNStorage;
    if (!this.#live.delete(s)) return;
    this.#allocated -= s.byteLength;
    if (s.q8) {
      this.release(s.q8.codes);
      this.release(s.q8.scale);
      if (s.q8.min) this.release(s.q8.min);
    }
    if (s.cpuQuant) disposeQuantized(s.cpuQuant);
    // queued work may still read it: its MLTensor goes back to the pool only after that work
    if (this.#disposed) return;
    if (this.#segment.length) this.#deferred.push(s);
    else this.#enqueue([], [], async () => this.#recycle(s));
  }

  // ---- execution ------------------------------------------------------------------------------------

  flush(): void {
    this.#alive();
    this.#closeSegment();
  }

  async sync(): Promise<void> {
    this.#alive();
    this.#closeSegment();
    await this.#enqueueValue(async () => undefined);
    const failure = this.#failure;
    this.#failure = null;
    if (failure !== null) throw failure;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#segment = [];
    this.#deferred = [];
    for (const s of this.#live) s.ml?.destroy();
    this.#live.clear();
    for (const list of this.#pool.values()) for (const t of list) t.destroy();
    this.#pool.clear();
    this.#allocated = this.#pooledBytes = this.#pooledCount = 0;
    this.#cpu.dispose();
    this.#context.destroy();
  }

  // ---- ops ------------------------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor, opts: { transB?: boolean } = {}): Tensor {
    const op = 'matmul';
    const transB = opts.transB ?? false;
    this.#f32(op, a);
    this.#f32(op, b);
    const { batchShape, batch, m, k, n, shared } = matmulDims(a.shape, b.shape, transB);
    return this.#op(op, [a, b], [[...batchShape, m, n], 'f32'], `matmul ${batch} ${m} ${k} ${n} ${shared} ${transB}`,
      (gb) => g.matmulGraph(gb, batch, m, k, n, shared, transB), ['a', 'b'], (c, [x, y]) => c.matmul(x!, y!, { transB }));
  }

  matvec(w: Tensor, x: Tensor): Tensor {
    const op = 'matvec';
    this.#f32(op, w);
    this.#f32(op, x);
    const { n, k } = matvecDims(w.shape, x.shape);
    return this.#op(op, [w, x], [[n], 'f32'], `matvec ${n} ${k}`, (gb) => g.matvecGraph(gb, n, k), ['w', 'x'], (c, [ww, xx]) => c.matvec(ww!, xx!));
  }

  qmatvec(w: QuantizedTensor, x: Tensor): Tensor {
    const op = 'qmatvec';
    this.#f32(op, x);
    const { n, k } = qmatvecDims(w.shape, x.shape);
    this.#checkQuant(op, w);
    return this.#quantOp(op, w, x, 0, n, k, [n]);
  }

  qmatmul(x: Tensor, w: QuantizedTensor): Tensor {
    const op = 'qmatmul';
    this.#f32(op, x);
    const { m, n, k } = qmatmulDims(x.shape, w.shape);
    this.#checkQuant(op, w);
    return this.#quantOp(op, w, x, m, n, k, [m, n]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#binary('add', a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.#binary('mul', a, b);
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const op = 'embedding';
    this.#f32(op, table);
    const is = this.#typed(op, ids, 'i32');
    const { v, d, t } = embeddingDims(table.shape, ids.shape);
    // WebNN gather clamps or zero-fills out-of-range indices; check them first, at the call when they are known
    const check = (idv: Int32Array): void => {
      for (let i = 0; i < idv.length; i++) {
        const id = idv[i]!;
        if (id < 0 || id >= v) throw new InvalidArgumentError(`embedding: id ${id} at position ${i} is outside the table's ${v} rows`);
      }
    };
    if (is.hostValid && is.host) check(is.host as Int32Array);
    return this.#op(op, [table, ids], [[t, d], 'f32'], `embedding ${v} ${d} ${t}`, (gb) => g.embeddingGraph(gb, v, d, t), ['table', 'ids'],
      (c, [tt, ii]) => c.embedding(tt!, ii!), async () => check((await this.#toHost(is)) as Int32Array));
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const op = 'rmsNorm';
    this.#f32(op, x);
    this.#f32(op, weight);
    const { rows, d } = rmsNormDims(x.shape, weight.shape, eps);
    return this.#op(op, [x, weight], [x.shape, 'f32'], `rmsNorm ${rows} ${d} ${eps}`, (gb) => g.rmsNormGraph(gb, rows, d, eps), ['x', 'w'], (c, [xx, ww]) => c.rmsNorm(xx!, ww!, eps));
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const op = 'layerNorm';
    this.#f32(op, x);
    this.#f32(op, weight);
    this.#f32(op, bias);
    const { rows, d } = layerNormDims(x.shape, weight.shape, bias.shape, eps);
    const native = this.plan.layerNormNative;
    return this.#op(op, [x, weight, bias], [x.shape, 'f32'], `layerNorm ${rows} ${d} ${eps} ${native}`, (gb) => g.layerNormGraph(gb, rows, d, eps, native), ['x', 'w', 'bias'],
      (c, [xx, ww, bb]) => c.layerNorm(xx!, ww!, bb!, eps));
  }

  softmax(x: Tensor): Tensor {
    const op = 'softmax';
    this.#f32(op, x);
    const { rows, d } = lastAxis(op, x.shape);
    return this.#op(op, [x], [x.shape, 'f32'], `softmax ${rows} ${d}`, (gb) => g.softmaxGraph(gb, rows, d), ['x'], (c, [xx]) => c.softmax(xx!));
  }

  silu(x: Tensor): Tensor {
    this.#f32('silu', x);
    return this.#op('silu', [x], [x.shape, 'f32'], `silu ${x.size}`, (gb) => g.siluGraph(gb, x.size), ['x'], (c, [xx]) => c.silu(xx!));
  }

  gelu(x: Tensor, approximation: GeluApproximation = 'tanh'): Tensor {
    this.#f32('gelu', x);
    if (approximation !== 'tanh' && approximation !== 'erf') throw new InvalidArgumentError(`gelu: approximation must be "tanh" or "erf", got ${String(approximation)}`);
    const native = approximation === 'erf' && this.plan.geluErfNative;
    return this.#op(`gelu ${approximation}`, [x], [x.shape, 'f32'], `gelu ${approximation} ${native} ${x.size}`, (gb) => g.geluGraph(gb, x.size, approximation, native), ['x'],
      (c, [xx]) => c.gelu(xx!, approximation));
  }

  rope(x: Tensor, opts: RopeOptions): Tensor {
    const op = 'rope';
    this.#f32(op, x);
    const { t, h, dh, rotaryDim, interleaved } = ropeDims(x.shape, opts);
    const freqs = ropeFrequencies(opts, rotaryDim);
    const pairs = rotaryDim / 2;
    // cos / sin [T, rd/2] of angle (pos0 + t)·freq in f64: inputs, so every position shares one graph
    const cos = new Float32Array(t * pairs);
    const sin = new Float32Array(t * pairs);
    for (let ti = 0; ti < t; ti++) {
      for (let p = 0; p < pairs; p++) {
        const angle = (opts.pos0 + ti) * freqs[p]!;
        cos[ti * pairs + p] = Math.cos(angle);
        sin[ti * pairs + p] = Math.sin(angle);
      }
    }
    const extra: Record<string, Float32Array> = rotaryDim === 0 ? {} : { cos, sin };
    return this.#op(op, [x], [x.shape, 'f32'], `rope ${t} ${h} ${dh} ${rotaryDim} ${interleaved}`, (gb) => g.ropeGraph(gb, t, h, dh, rotaryDim, interleaved), ['x'],
      (c, [xx]) => c.rope(xx!, opts), undefined, extra);
  }

  kvWrite(cache: Tensor, x: Tensor, offset: number): void {
    const op = 'kvWrite';
    const cs = this.#f32(op, cache);
    const xs = this.#f32(op, x);
    const { hkv, s, dh, t } = kvWriteDims(cache.shape, x.shape, offset);
    const reason = this.plan.ops.get(op) ?? null;
    const [cacheShape, xShape] = [cache.shape, x.shape];
    const onCpu = async (): Promise<void> => {
      // in place on the host copy; the MLTensor becomes stale and is rewritten when a graph reads it
      const host = await this.#toHost(cs);
      const cc = this.#cpu.upload(host, cacheShape, 'f32');
      const cx = this.#cpu.upload(await this.#toHost(xs), xShape, 'f32');
      try {
        this.#cpu.kvWrite(cc, cx, offset);
        host.set((await this.#cpu.download(cc)) as Float32Array);
        cs.mlValid = false;
        this.#stats.fallbackRuns++;
      } finally {
        cc.dispose();
        cx.dispose();
      }
    };
    if (reason !== null || cache.size === 0 || x.size === 0) {
      this.#enqueueCpu([cs], [cs, xs], onCpu);
      return;
    }
    // (head, position) of every row of x, in the [Hkv, T, 2] order of the transposed updates
    const indices = new Int32Array(hkv * t * 2);
    for (let hi = 0; hi < hkv; hi++) for (let ti = 0; ti < t; ti++) indices.set([hi, offset + ti], (hi * t + ti) * 2);
    const key = `kvWrite ${hkv} ${s} ${dh} ${t}`;
    const build = (gb: MLGraphBuilder): g.Outputs => g.kvWriteGraph(gb, hkv, s, dh, t);
    this.#graphOp({ key, build, inputs: { cache: cs, x: xs }, extra: { indices }, out: cs, single: async () => {
      // a graph cannot write the tensor it reads: the new cache goes to a fresh MLTensor that replaces the old
      const next: NNStorage = { byteLength: cs.byteLength, dtype: 'f32', size: cs.size, host: null, hostValid: false, ml: null, mlValid: false, error: null };
      const idx = this.#scratch('i32', indices);
      try {
        await this.#dispatch(key, build, { cache: cs, x: xs, indices: idx }, { out: next });
      } catch (e) {
        if (!(e instanceof GraphBuildError)) throw e;
        this.#noteFallback(op, e.message);
        return onCpu();
      } finally {
        this.#recycle(idx);
      }
      this.#recycle(cs);
      cs.ml = next.ml;
      cs.mlValid = true;
      cs.hostValid = false;
    } }, [cs, xs]);
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor {
    const op = 'attention';
    this.#f32(op, q);
    this.#f32(op, kCache);
    this.#f32(op, vCache);
    const { t, hq, dh, hkv, s, past, scale, causal } = attentionDims(q.shape, kCache.shape, vCache.shape, opts);
    // key j is visible to query i when it holds a valid position (j < past + T) and, if causal, j ≤ past + i
    const mask = new Uint8Array(t * s);
    for (let i = 0; i < t; i++) for (let j = 0; j < (causal ? past + i + 1 : past + t); j++) mask[i * s + j] = 1;
    return this.#op(op, [q, kCache, vCache], [q.shape, 'f32'], `attention ${t} ${hq} ${hkv} ${s} ${dh} ${scale}`, (gb) => g.attentionGraph(gb, t, hq, hkv, s, dh, scale), ['q', 'k', 'v'],
      (c, [qq, kk, vv]) => c.attention(qq!, kk!, vv!, opts), undefined, { mask });
  }

  argmax(x: Tensor): Tensor {
    const op = 'argmax';
    this.#f32(op, x);
    const { rows, v } = argmaxDims(x.shape);
    return this.#op(op, [x], [x.shape.slice(0, -1), 'i32'], `argmax ${rows} ${v}`, (gb) => g.argmaxGraph(gb, rows, v), ['x'], (c, [xx]) => c.argmax(xx!));
  }

  topk(x: Tensor, k: number): TopK {
    const op = 'topk';
    const xs = this.#f32(op, x);
    topkDims(x.shape, k);
    const shape = [...x.shape.slice(0, -1), k];
    const values = this.#outTensor(shape, 'f32');
    const indices = this.#outTensor(shape, 'i32');
    const outs = [this.#sto(values), this.#sto(indices)];
    const xr = this.#ref(x);
    this.#enqueueCpu(outs, [xs], () => this.#runOnCpu([xr], (c, [xx]) => {
      const r = c.topk(xx!, k);
      return [r.values, r.indices];
    }, outs));
    return { values, indices };
  }

  // ---- internals ------------------------------------------------------------------------------------

  /**
   * One op: allocates its output, then queues either its graph (cached under `key`) or, when the plan says
   * so or a size is 0, the cpu op. `names` name the graph inputs of `inputs`; `extra` are host arrays
   * (masks, tables) passed as further inputs; `before` runs first in the queue (checks of device data).
   */
  #op(
    op: string, inputs: Tensor[], [shape, dtype]: [Shape, DType], key: string, build: (b: MLGraphBuilder) => g.Outputs, names: string[],
    cpu: (c: CpuBackend, xs: Tensor[]) => Tensor, before?: () => Promise<void>, extra: Record<string, Float32Array | Uint8Array | Int32Array> = {},
  ): Tensor {
    const out = this.#outTensor(shape, dtype);
    const os = this.#sto(out);
    const refs = inputs.map((t) => this.#ref(t));
    const ins = refs.map((r) => r.s);
    const reason = this.plan.ops.get(op) ?? null;
    const empty = out.size === 0 || inputs.some((t) => t.size === 0);
    if (reason !== null || empty) {
      this.#enqueueCpu([os], ins, async () => {
        await before?.();
        await this.#runOnCpu(refs, (c, xs) => [cpu(c, xs)], [os]);
      });
      return out;
    }
    const byName = Object.fromEntries(names.map((n, i) => [n, ins[i]!]));
    const single = async (): Promise<void> => {
      await before?.();
      const scratch = Object.entries(extra).map(([name, data]) => [name, this.#scratch(dtypeOf(data), data)] as const);
      try {
        await this.#dispatch(key, build, { ...byName, ...Object.fromEntries(scratch) }, { out: os });
      } catch (e) {
        if (!(e instanceof GraphBuildError)) throw e;
        this.#noteFallback(op, e.message);
        await this.#runOnCpu(refs, (c, xs) => [cpu(c, xs)], [os]);
      } finally {
        for (const [, s] of scratch) this.#recycle(s);
      }
    };
    this.#graphOp({ key, build, inputs: byName, extra, out: os, single, ...(before ? { before } : {}) }, ins);
    return out;
  }

  #binary(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
    this.#f32(op, a);
    this.#f32(op, b);
    const shape = broadcastShapes(a.shape, b.shape, op);
    return this.#op(op, [a, b], [shape, 'f32'], `${op} ${fmt(a.shape)} ${fmt(b.shape)}`, (gb) => g.binaryGraph(gb, op, a.shape, b.shape), ['a', 'b'], (c, [x, y]) => c[op](x!, y!));
  }

  #quantOp(op: 'qmatvec' | 'qmatmul', w: QuantizedTensor, x: Tensor, m: number, n: number, k: number, shape: Shape): Tensor {
    const data = this.#sto(w.data);
    const q8 = data.q8;
    const out = this.#outTensor(shape, 'f32');
    const os = this.#sto(out);
    const xr = this.#ref(x);
    const xs = xr.s;
    const scales = this.#sto(w.scales);
    const mins = w.mins ? this.#sto(w.mins) : null;
    // the packed weight on the cpu backend (uploaded once, on first use)
    const onCpu = async (): Promise<void> => {
      if (!data.cpuQuant) {
        const host = async (s: NNStorage): Promise<Uint32Array> => (await this.#toHost(s)) as Uint32Array;
        data.cpuQuant = this.#cpu.uploadQuantized(w, w.shape, await host(data), await host(scales), mins ? await host(mins) : null);
      }
      const cw = data.cpuQuant;
      await this.#runOnCpu([xr], (c, [xx]) => [op === 'qmatvec' ? c.qmatvec(cw, xx!) : c.qmatmul(xx!, cw)], [os]);
    };
    if (!q8) {
      this.#enqueueCpu([os], [xs, data], onCpu);
      return out;
    }
    const inputs: Record<string, NNStorage> = { codes: q8.codes, scale: q8.scale, x: xs, ...(q8.min ? { min: q8.min } : {}) };
    const key = `q8 ${m} ${n} ${k} ${w.groupSize} ${w.symmetric}`;
    const build = (gb: MLGraphBuilder): g.Outputs => g.q8Graph(gb, m, n, k, w.groupSize, w.symmetric);
    this.#graphOp({ key, build, inputs, extra: {}, out: os, single: async () => {
      try {
        await this.#dispatch(key, build, inputs, { out: os });
      } catch (e) {
        if (!(e instanceof GraphBuildError)) throw e;
        this.#noteFallback(`${op} int8`, e.message);
        await onCpu();
      }
    } }, [...Object.values(inputs), data]);
    return out;
  }

  /** Records a graph op: queued alone, or added to the pending segment in fuse mode. */
  #graphOp(op: FusedOp, inputs: NNStorage[]): void {
    if (!this.#fuse) {
      this.#enqueue([op.out], inputs, op.single);
      return;
    }
    // a check in `before` reads its inputs' values, so they must not come from the pending segment
    if (op.before && inputs.some((s) => this.#segment.some((o) => o.out === s))) this.#closeSegment();
    this.#segment.push(op);
    if (this.#segment.length >= 4096) this.#closeSegment();
  }

  /** Queues cpu work after the pending segment. */
  #enqueueCpu(outputs: NNStorage[], inputs: NNStorage[], work: () => Promise<void>): void {
    this.#closeSegment();
    this.#enqueue(outputs, inputs, work);
  }

  /** Queues the pending segment as one task, then the recycling of what was released meanwhile. */
  #closeSegment(): void {
    if (!this.#segment.length) return;
    const seg = this.#segment;
    const deferred = this.#deferred;
    this.#segment = [];
    this.#deferred = [];
    const written = new Set<NNStorage>();
    const external = new Set<NNStorage>();
    for (const op of seg) {
      for (const s of Object.values(op.inputs)) if (!written.has(s)) external.add(s);
      written.add(op.out);
    }
    // what is still alive now can be read by work queued after the segment: those are its outputs
    const live = new Set([...written].filter((s) => this.#live.has(s)));
    this.#enqueue([...written], [...external], () => this.#runSegment(seg, live));
    for (const s of deferred) this.#enqueue([], [], async () => this.#recycle(s));
  }

  /**
   * One graph for a run of ops: each op's graph is composed onto the previous ones' results; the graph inputs
   * are the storages read before any op of the run wrote them, the outputs those still alive at the end. Its
   * key is the ops' keys and wiring, so a decode loop reuses one graph per step. A refused graph runs op by op.
   */
  async #runSegment(all: FusedOp[], live: Set<NNStorage>): Promise<void> {
    // drop ops whose results nothing alive needs (a graph has only the inputs its outputs reach)
    const lastWriter = new Map<NNStorage, number>();
    const sources = all.map((op, i) => {
      const from = Object.values(op.inputs).map((s) => lastWriter.get(s)).filter((j): j is number => j !== undefined);
      lastWriter.set(op.out, i);
      return from;
    });
    const needed = new Set([...live].map((s) => lastWriter.get(s)!));
    for (let i = all.length - 1; i >= 0; i--) if (needed.has(i)) for (const j of sources[i]!) needed.add(j);
    const seg = all.filter((_, i) => needed.has(i));
    if (seg.length === 0) return;
    if (seg.length === 1) return seg[0]!.single();
    for (const op of seg) await op.before?.();
    const ext = new Map<NNStorage, string>();
    const writer = new Map<NNStorage, number>();
    const parts: string[] = [];
    seg.forEach((op, i) => {
      const refs = Object.entries(op.inputs).map(([name, s]) => {
        const w = writer.get(s);
        if (w !== undefined) return `${name}=p${w}`;
        if (!ext.has(s)) ext.set(s, `i${ext.size}`);
        return `${name}=${ext.get(s)!}`;
      });
      writer.set(op.out, i);
      parts.push(`${op.key}(${refs.join(',')})`);
    });
    const outs = [...writer.keys()].filter((s) => live.has(s));
    const key = `fused ${parts.join('; ')} → ${outs.map((s) => writer.get(s)).join(',')}`;
    const build = (b: MLGraphBuilder): g.Outputs => {
      const cur = new Map<NNStorage, MLOperand>();
      seg.forEach((op, i) => {
        const resolve: g.InputResolver = (name, dataType, size) => {
          const s = op.inputs[name];
          if (!s) return b.input(`e${i}_${name}`, { dataType, shape: [size] });
          let o = cur.get(s);
          if (!o) cur.set(s, (o = b.input(ext.get(s)!, { dataType, shape: [size] })));
          return o;
        };
        cur.set(op.out, g.withInputs(resolve, () => op.build(b)).out!);
      });
      return Object.fromEntries(outs.map((s, k) => [`o${k}`, cur.get(s)!]));
    };
    let graph: MLGraph;
    try {
      graph = await this.#graph(key, build);
    } catch (e) {
      if (!(e instanceof GraphBuildError)) throw e;
      for (const op of seg) await op.single();
      return;
    }
    const mlIn: Record<string, MLTensor> = {};
    for (const [s, name] of ext) mlIn[name] = await this.#toDevice(s);
    const scratch: NNStorage[] = [];
    for (const [i, op] of seg.entries()) {
      for (const [name, data] of Object.entries(op.extra)) {
        const st = this.#scratch(dtypeOf(data), data);
        scratch.push(st);
        mlIn[`e${i}_${name}`] = await this.#toDevice(st);
      }
    }
    // a storage the graph reads and writes (a KV cache) gets a fresh MLTensor that then replaces its old one
    const swaps: [NNStorage, MLTensor][] = [];
    const mlOut: Record<string, MLTensor> = {};
    for (const [k, s] of outs.entries()) {
      if (ext.has(s)) {
        const t = await this.#tensor(s.dtype, s.size);
        swaps.push([s, t]);
        mlOut[`o${k}`] = t;
      } else {
        s.ml ??= await this.#tensor(s.dtype, s.size);
        mlOut[`o${k}`] = s.ml;
      }
    }
    this.#context.dispatch(graph, mlIn, mlOut);
    this.#stats.dispatches++;
    this.#stats.fusedDispatches++;
    for (const st of scratch) this.#recycle(st);
    for (const [s, t] of swaps) {
      this.#recycle(s);
      s.ml = t;
    }
    for (const s of outs) {
      s.mlValid = true;
      s.hostValid = false;
    }
  }

  /** Queues `work`; it is skipped (its outputs inheriting the error) when an input's op failed. */
  #enqueue(outputs: NNStorage[], inputs: NNStorage[], work: () => Promise<void>): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#disposed) return;
      const failed = inputs.find((s) => s.error !== null);
      if (failed) {
        for (const o of outputs) o.error = failed.error;
        return;
      }
      try {
        await work();
      } catch (e) {
        for (const o of outputs) o.error = e;
        this.#failure ??= e;
      }
    });
  }

  #enqueueValue<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue = this.#queue.then(() => (this.#disposed ? Promise.reject(new DisposedError('WebNNBackend')) : work()).then(resolve, reject));
    });
  }

  /**
   * The compiled graph of `key`. A builder or build() that refuses it (limits opSupportLimits does not state,
   * e.g. maxTensorByteLength) rejects with GraphBuildError, remembered so later calls go to the cpu at once.
   */
  async #graph(key: string, build: (b: MLGraphBuilder) => g.Outputs): Promise<MLGraph> {
    const refused = this.#unbuildable.get(key);
    if (refused !== undefined) throw new GraphBuildError(refused);
    let graph = this.#graphs.get(key);
    if (!graph) {
      try {
        const builder = new this.#Builder(this.#context);
        graph = builder.build(build(builder));
      } catch (e) {
        graph = Promise.reject(e);
      }
      this.#stats.graphsBuilt++;
      graph = graph.catch((e: unknown) => {
        const reason = `its ${key.split(' ')[0]} graph [${key.split(' ').slice(1).join(' ')}] was refused (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)})`;
        this.#unbuildable.set(key, reason);
        this.#graphs.delete(key);
        throw new GraphBuildError(reason);
      });
      this.#graphs.set(key, graph);
      // every prompt length makes its own step graph: keep the most recent ones (a decode loop's stays in)
      if (this.#graphs.size > MAX_GRAPHS) this.#graphs.delete(this.#graphs.keys().next().value!);
    } else {
      this.#graphs.delete(key);
      this.#graphs.set(key, graph);
    }
    return graph;
  }

  #noteFallback(op: string, reason: string): void {
    if (!this.#fallbacks.some((f) => f.op === op && f.reason === reason)) this.#fallbacks.push({ op, reason });
  }

  async #dispatch(key: string, build: (b: MLGraphBuilder) => g.Outputs, inputs: Record<string, NNStorage>, outputs: Record<string, NNStorage>): Promise<void> {
    const graph = await this.#graph(key, build);
    const mlIn: Record<string, MLTensor> = {};
    for (const [name, s] of Object.entries(inputs)) mlIn[name] = await this.#toDevice(s);
    const mlOut: Record<string, MLTensor> = {};
    for (const [name, s] of Object.entries(outputs)) {
      s.ml ??= await this.#tensor(s.dtype, s.size);
      mlOut[name] = s.ml;
    }
    this.#context.dispatch(graph, mlIn, mlOut);
    this.#stats.dispatches++;
    for (const s of Object.values(outputs)) {
      s.mlValid = true;
      s.hostValid = false;
    }
  }

  /** Runs a cpu op on host copies of the inputs; its results become the outputs' host copies. */
  async #runOnCpu(inputs: Ref[], run: (c: CpuBackend, xs: Tensor[]) => Tensor[], outputs: NNStorage[]): Promise<void> {
    const cpuIn: Tensor[] = [];
    try {
      for (const r of inputs) cpuIn.push(this.#cpu.upload(await this.#toHost(r.s), r.shape, r.dtype));
      const results = run(this.#cpu, cpuIn);
      for (const [i, r] of results.entries()) {
        const o = outputs[i]!;
        o.host = await this.#cpu.download(r);
        o.hostValid = true;
        o.mlValid = false;
        r.dispose();
      }
      this.#stats.fallbackRuns++;
    } finally {
      for (const t of cpuIn) t.dispose();
    }
  }

  async #toHost(s: NNStorage): Promise<AnyTypedArray> {
    if (s.hostValid && s.host) return s.host;
    if (!s.ml || !s.mlValid) throw new InvalidArgumentError('webnn: a tensor was read before any op wrote it');
    const bytes = await this.#context.readTensor(s.ml);
    const host = typedArrayFor(s.dtype, s.size);
    new Uint8Array(host.buffer, host.byteOffset, host.byteLength).set(new Uint8Array(bytes, 0, host.byteLength));
    s.host = host;
    s.hostValid = true;
    return host;
  }

  async #toDevice(s: NNStorage): Promise<MLTensor> {
    if (s.ml && s.mlValid) return s.ml;
    if (!s.host || !s.hostValid) throw new InvalidArgumentError('webnn: a tensor was read before any op wrote it');
    s.ml ??= await this.#tensor(s.dtype, s.size);
    this.#context.writeTensor(s.ml, s.host);
    s.mlValid = true;
    return s.ml;
  }

  /** A flat MLTensor, from the pool when one of that type and size is free. */
  async #tensor(dtype: DType, size: number): Promise<MLTensor> {
    const key = `${dtype} ${size}`;
    const pooled = this.#pool.get(key)?.pop();
    if (pooled) {
      this.#pooledBytes -= size * BYTES_PER_ELEMENT[dtype];
      this.#pooledCount--;
      return pooled;
    }
    this.#created++;
    return this.#context.createTensor({ dataType: DATA_TYPE[dtype], shape: [size], readable: true, writable: true });
  }

  #recycle(s: NNStorage): void {
    if (!s.ml) return;
    const key = `${s.dtype} ${s.size}`;
    let list = this.#pool.get(key);
    if (!list) this.#pool.set(key, (list = []));
    list.push(s.ml);
    this.#pooledBytes += s.size * BYTES_PER_ELEMENT[s.dtype];
    this.#pooledCount++;
    s.ml = null;
    s.mlValid = false;
  }

  /** A transient host array passed to one graph (not a tensor: not counted as allocated). */
  #scratch(dtype: DType, data: AnyTypedArray): NNStorage {
    return { byteLength: data.byteLength, dtype, size: data.length, host: data, hostValid: true, ml: null, mlValid: false, error: null };
  }

  #storage(dtype: DType, size: number, host: AnyTypedArray | null): NNStorage {
    const s: NNStorage = { byteLength: size * BYTES_PER_ELEMENT[dtype], dtype, size, host, hostValid: host !== null, ml: null, mlValid: false, error: null };
    this.#live.add(s);
    this.#allocated += s.byteLength;
    this.#peak = Math.max(this.#peak, this.#allocated);
    return s;
  }

  #outTensor(shape: Shape, dtype: DType): Tensor {
    return new Tensor(this, this.#storage(dtype, sizeOf(shape), null), shape, dtype);
  }

  #alive(): void {
    if (this.#disposed) throw new DisposedError('WebNNBackend');
  }

  /** What queued work needs of an input: the tensor itself may be disposed before the work runs. */
  #ref(t: Tensor): Ref {
    return { s: this.#sto(t), shape: t.shape, dtype: t.dtype };
  }

  #sto(t: Tensor): NNStorage {
    return t.storage as NNStorage;
  }

  #own(op: string, t: Tensor): NNStorage {
    if (t.backend !== this) throw new InvalidArgumentError(`${op}: tensor ${fmt(t.shape)} belongs to backend "${t.backend.name}", not this webnn backend`);
    return this.#sto(t);
  }

  #typed(op: string, t: Tensor, dtype: DType): NNStorage {
    this.#alive();
    const s = this.#own(op, t);
    if (t.dtype !== dtype) throw new DTypeError(op, `expected ${dtype}, got ${t.dtype} tensor ${fmt(t.shape)}`);
    return s;
  }

  #f32(op: string, t: Tensor): NNStorage {
    return this.#typed(op, t, 'f32');
  }

  #checkQuant(op: string, w: QuantizedTensor): void {
    const [n, k] = w.shape;
    const problem = validateQuantShape(n, k, w);
    if (problem !== null) throw new InvalidArgumentError(`${op}: ${problem}`);
    const data = this.#typed(op, w.data, 'u32');
    const scales = this.#typed(op, w.scales, 'u32');
    const mins = w.symmetric ? null : w.mins ? this.#typed(op, w.mins, 'u32') : null;
    if (!w.symmetric && mins === null) throw new InvalidArgumentError(`${op}: an asymmetric quantized weight has no mins`);
    const halfWords = f16Words((n * k) / w.groupSize);
    if (data.size !== n * wordsPerRow(k, w.bits) || scales.size !== halfWords || (mins !== null && mins.size !== halfWords)) {
      throw new ShapeError(op, `packed buffers (data ${data.size}, scales ${scales.size}${mins ? `, mins ${mins.size}` : ''} words) do not match [${n}, ${k}] at ${w.bits} bits, group ${w.groupSize}`);
    }
  }
}
