import type { AttentionOptions, Backend, GeluApproximation, MemoryInfo, RopeOptions, TopK } from '../backend.js';
import { ropeFrequencies } from '../rope.js';
import { argmaxDims, attentionDims, embeddingDims, kvWriteDims, lastAxis, layerNormDims, matmulDims, matvecDims, qmatmulDims, qmatvecDims, rmsNormDims, ropeDims, topkDims } from '../op-shapes.js';
import type { DeviceLostError } from '../../errors.js';
import { DisposedError, DTypeError, InvalidArgumentError, ShapeError } from '../../errors.js';
import { BYTES_PER_ELEMENT, dtypeOf, typedArrayFor, type AnyTypedArray, type DType } from '../../tensor/dtype.js';
import { assertShape, broadcastShapes, broadcastStrides, sizeOf, type Shape } from '../../tensor/shape.js';
import { Tensor, type StorageHandle } from '../../tensor/tensor.js';
import type { QuantFormat } from '../../quant/layout.js';
import { uploadPacked, type QuantizedTensor } from '../../quant/quantized-tensor.js';
import type { HeapBlock, WasmHeap } from './heap.js';
import type { WorkerPool } from './worker-pool.js';
import {
  CMD_BYTES, CMD_DETAIL, CMD_WORDS, OP_ARGMAX, OP_ATTENTION, OP_BINARY, OP_EMBEDDING, OP_GELU, OP_KVWRITE,
  OP_LAYERNORM, OP_MATMUL, OP_MATVEC, OP_QEMBEDDING, OP_QMATMUL, OP_RMSNORM, OP_ROPE, OP_SILU, OP_SOFTMAX, OP_TOPK,
  STATUS_BAD_ID, STATUS_OK,
} from './opcodes.js';

export interface KernelExports {
  exec(cmd: number, worker: number, workers: number): number;
  qprepSize(k: number, groupSize: number): number;
}

interface WasmStorage extends StorageHandle {
  readonly block: HeapBlock;
}

const MAX_BINARY_RANK = 8;

/**
 * The WebAssembly SIMD backend. Tensors live in one wasm linear memory managed by WasmHeap; each op is
 * encoded as a 128-byte command record (opcodes.ts) and run by the kernels' `exec`:
 *  - single-threaded: at once, on the calling thread (ops are eager; download resolves immediately);
 *  - with a pool: recorded, and run in order by every worker on flush()/download()/sync(), because the
 *    calling thread of a page cannot block on Atomics.wait. Blocks released while recorded work may
 *    still read them are held back until that work has finished.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly lost: Promise<DeviceLostError> = new Promise<DeviceLostError>(() => {});
  /** Threads that run the kernels (1 = eager on the calling thread). */
  readonly threads: number;

  readonly #heap: WasmHeap;
  readonly #kernels: KernelExports;
  readonly #pool: WorkerPool | null;
  readonly #cmd = new Int32Array(CMD_WORDS);
  readonly #cmdF = new Float32Array(this.#cmd.buffer);
  readonly #eagerCmd: HeapBlock;
  #queue = new Int32Array(CMD_WORDS * 64);
  #queued = 0;
  /** Batch numbers: the one being recorded, the last handed to the pool, the last finished. */
  #openBatch = 1;
  #flushedBatch = 0;
  #finishedBatch = 0;
  #deferred: { block: HeapBlock; batch: number }[] = [];
  #chain: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  #allocated = 0;
  #peak = 0;
  #disposed = false;

  constructor(heap: WasmHeap, kernels: KernelExports, pool: WorkerPool | null) {
    this.#heap = heap;
    this.#kernels = kernels;
    this.#pool = pool;
    this.threads = pool ? pool.size : 1;
    this.#eagerCmd = heap.alloc(CMD_BYTES);
  }

  // ---- memory -------------------------------------------------------------------------------------------

  #live(): void {
    if (this.#disposed) throw new DisposedError('The wasm backend');
  }

  #bytes(): Uint8Array {
    return new Uint8Array(this.#heap.memory.buffer);
  }

  #newTensor(shape: Shape, dtype: DType): Tensor {
    this.#live();
    assertShape(shape);
    const bytes = sizeOf(shape) * BYTES_PER_ELEMENT[dtype];
    const block = this.#heap.alloc(bytes);
    this.#allocated += block.size;
    if (this.#allocated > this.#peak) this.#peak = this.#allocated;
    const storage: WasmStorage = { block, byteLength: block.size };
    return new Tensor(this, storage, shape, dtype);
  }

  release(storage: StorageHandle): void {
    if (this.#disposed) return;
    const block = (storage as WasmStorage).block;
    this.#allocated -= block.size;
    this.#releaseBlock(block);
  }

  #releaseBlock(block: HeapBlock): void {
    if (this.#disposed) return;
    if (this.#queued > 0) this.#deferred.push({ block, batch: this.#openBatch });
    else if (this.#flushedBatch > this.#finishedBatch) this.#deferred.push({ block, batch: this.#flushedBatch });
    else this.#heap.free(block);
  }

  #ptr(t: Tensor, op: string): number {
    if (t.backend !== this) throw new InvalidArgumentError(`${op}: tensor belongs to backend "${t.backend.name}", not this wasm backend`);
    return (t.storage as WasmStorage).block.ptr;
  }

  upload(data: AnyTypedArray, shape: Shape, dtype: DType = dtypeOf(data)): Tensor {
    assertShape(shape, 'upload');
    if (sizeOf(shape) !== data.length) throw new ShapeError('upload', `${data.length} values do not fill [${shape.join(', ')}]`);
    if (data.BYTES_PER_ELEMENT !== BYTES_PER_ELEMENT[dtype]) throw new DTypeError('upload', `a ${data.constructor.name} cannot hold ${dtype}`);
    const t = this.#newTensor(shape, dtype);
    this.#bytes().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.#ptr(t, 'upload'));
    return t;
  }

  empty(shape: Shape, dtype: DType): Tensor {
    return this.#newTensor(shape, dtype);
  }

  zeros(shape: Shape, dtype: DType): Tensor {
    const t = this.#newTensor(shape, dtype);
    const p = this.#ptr(t, 'zeros');
    this.#bytes().fill(0, p, p + t.byteLength);
    return t;
  }

  async download(t: Tensor): Promise<AnyTypedArray> {
    this.#live();
    const p = this.#ptr(t, 'download');
    if (this.#pool) await this.#settle();
    const out = typedArrayFor(t.dtype, t.size);
    new Uint8Array(out.buffer).set(this.#bytes().subarray(p, p + t.byteLength));
    return out;
  }

  uploadQuantized(format: QuantFormat, shape: readonly [number, number], data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null): QuantizedTensor {
    return uploadPacked(this, format, shape, data, scales, mins);
  }


  memory(): MemoryInfo {
    return {
      allocatedBytes: this.#allocated,
      peakBytes: this.#peak,
      reservedBytes: this.#heap.reservedBytes,
      buffersCreated: this.#heap.blocksCreated,
      pooledBuffers: this.#heap.pooledBlocks,
    };
  }

  resetPeak(): void {
    this.#peak = this.#allocated;
  }

  // ---- execution ----------------------------------------------------------------------------------------

  /** Runs (eager) or records (pool) the command staged in #cmd. */
  #submit(op: string): void {
    const pool = this.#pool;
    if (!pool) {
      const p = this.#eagerCmd.ptr;
      new Int32Array(this.#heap.memory.buffer, p, CMD_WORDS).set(this.#cmd);
      const status = this.#kernels.exec(p, 0, 1);
      if (status !== STATUS_OK) throw this.#statusError(op, status, new Int32Array(this.#heap.memory.buffer, p, CMD_WORDS));
      return;
    }
    if ((this.#queued + 1) * CMD_WORDS > this.#queue.length) {
      const q = new Int32Array(this.#queue.length * 2);
      q.set(this.#queue);
      this.#queue = q;
    }
    this.#queue.set(this.#cmd, this.#queued * CMD_WORDS);
    this.#queued++;
  }

  #statusError(op: string, status: number, cmd: Int32Array): Error {
    if (status === STATUS_BAD_ID) return new InvalidArgumentError(`${op}: token id ${cmd[CMD_DETAIL]} is out of range [0, ${cmd[0] === OP_QEMBEDDING ? cmd[8] : cmd[6]})`);
    return new InvalidArgumentError(`${op}: the wasm kernel rejected the command (status ${status})`);
  }

  #stage(opcode: number): Int32Array {
    this.#cmd.fill(0);
    this.#cmd[0] = opcode;
    return this.#cmd;
  }

  flush(): void {
    const pool = this.#pool;
    if (!pool || this.#queued === 0 || this.#disposed) return;
    const count = this.#queued;
    const cmds = this.#queue.slice(0, count * CMD_WORDS);
    this.#queued = 0;
    const batch = this.#openBatch++;
    this.#flushedBatch = batch;
    this.#chain = this.#chain.then(async () => {
      const block = this.#heap.alloc(cmds.byteLength);
      try {
        if (this.#disposed) return;
        new Int32Array(this.#heap.memory.buffer, block.ptr, cmds.length).set(cmds);
        const r = await pool.run(block.ptr, count);
        if (r.status !== STATUS_OK) {
          const at = block.ptr + r.command * CMD_BYTES;
          const rec = new Int32Array(this.#heap.memory.buffer, at, CMD_WORDS);
          throw this.#statusError(OP_NAMES[rec[0]!] ?? 'op', r.status, rec);
        }
      } catch (e) {
        this.#failure ??= e instanceof Error ? e : new Error(String(e));
      } finally {
        this.#finishBatch(batch, block);
      }
    });
  }

  #finishBatch(batch: number, cmdBlock: HeapBlock): void {
    if (this.#disposed) return;
    this.#heap.free(cmdBlock);
    this.#finishedBatch = batch;
    const keep: { block: HeapBlock; batch: number }[] = [];
    for (const d of this.#deferred) {
      if (d.batch <= batch) this.#heap.free(d.block);
      else keep.push(d);
    }
    this.#deferred = keep;
  }

  /** Flushes, waits for every recorded op, and throws the first error a batch ran into. */
  async #settle(): Promise<void> {
    this.flush();
    await this.#chain;
    const f = this.#failure;
    if (f) {
      this.#failure = null;
      throw f;
    }
  }

  async sync(): Promise<void> {
    this.#live();
    if (this.#pool) await this.#settle();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#pool?.dispose();
    this.#disposed = true;
    this.#deferred = [];
  }

  // ---- ops ----------------------------------------------------------------------------------------------

  /** Checks inputs before any output is allocated, so a throwing call leaks nothing. */
  #f32(op: string, ...ts: Tensor[]): void {
    this.#live();
    for (const t of ts) {
      this.#ptr(t, op);
      if (t.dtype !== 'f32') throw new DTypeError(op, `expected f32, got ${t.dtype}`);
    }
  }

  matmul(a: Tensor, b: Tensor, opts: { transB?: boolean } = {}): Tensor {
    this.#f32('matmul', a, b);
    const transB = opts.transB === true;
    const { batchShape, batch: batches, m: M, k: K, n: N, shared } = matmulDims(a.shape, b.shape, transB);
    const out = this.#newTensor([...batchShape, M, N], 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_MATMUL);
    c[1] = this.#ptr(a, 'matmul');
    c[2] = this.#ptr(b, 'matmul');
    c[3] = this.#ptr(out, 'matmul');
    c[4] = batches;
    c[5] = M;
    c[6] = K;
    c[7] = N;
    c[8] = transB ? 1 : 0;
    c[9] = shared ? 0 : K * N;
    this.#submit('matmul');
    return out;
  }

  matvec(w: Tensor, x: Tensor): Tensor {
    this.#f32('matvec', w, x);
    const { n: N, k: K } = matvecDims(w.shape, x.shape);
    const out = this.#newTensor([N], 'f32');
    if (N === 0) return out;
    const c = this.#stage(OP_MATVEC);
    c[1] = this.#ptr(w, 'matvec');
    c[2] = this.#ptr(x, 'matvec');
    c[3] = this.#ptr(out, 'matvec');
    c[4] = N;
    c[5] = K;
    this.#submit('matvec');
    return out;
  }

  qmatvec(w: QuantizedTensor, x: Tensor): Tensor {
    const { n: N } = qmatvecDims(w.shape, x.shape);
    return this.#quantized('qmatvec', x, w, 1, [N]);
  }

  qmatmul(x: Tensor, w: QuantizedTensor): Tensor {
    const { m: M, n: N } = qmatmulDims(x.shape, w.shape);
    return this.#quantized('qmatmul', x, w, M, [M, N]);
  }

  #quantized(op: string, x: Tensor, w: QuantizedTensor, M: number, outShape: number[]): Tensor {
    this.#f32(op, x);
    for (const t of [w.data, w.scales, w.mins]) if (t) this.#ptr(t, op);
    const [N, K] = w.shape;
    const out = this.#newTensor(outShape, 'f32');
    if (out.size === 0) return out;
    const scratch = this.#heap.alloc(M * this.#kernels.qprepSize(K, w.groupSize));
    const c = this.#stage(OP_QMATMUL);
    c[1] = this.#ptr(w.data, op);
    c[2] = this.#ptr(w.scales, op);
    c[3] = w.mins ? this.#ptr(w.mins, op) : 0;
    c[4] = this.#ptr(x, op);
    c[5] = this.#ptr(out, op);
    c[6] = M;
    c[7] = N;
    c[8] = K;
    c[9] = w.bits;
    c[10] = w.groupSize;
    c[11] = scratch.ptr;
    try {
      this.#submit(op);
    } finally {
      this.#releaseBlock(scratch);
    }
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.#binary('add', 0, a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.#binary('mul', 1, a, b);
  }

  #binary(op: string, kind: number, a: Tensor, b: Tensor): Tensor {
    this.#f32(op, a, b);
    const shape = broadcastShapes(a.shape, b.shape, op);
    const out = this.#newTensor(shape, 'f32');
    if (out.size === 0) return out;
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    // drop unit axes and merge axes that are contiguous for both inputs: most calls become rank 1 or 2
    const dims: { n: number; a: number; b: number }[] = [];
    for (let i = 0; i < shape.length; i++) if (shape[i] !== 1) dims.push({ n: shape[i]!, a: sa[i]!, b: sb[i]! });
    if (dims.length === 0) dims.push({ n: 1, a: 1, b: 1 });
    const merged = [dims[dims.length - 1]!];
    for (let i = dims.length - 2; i >= 0; i--) {
      const d = dims[i]!;
      const inner = merged[0]!;
      if (d.a === inner.a * inner.n && d.b === inner.b * inner.n) merged[0] = { n: d.n * inner.n, a: inner.a, b: inner.b };
      else merged.unshift(d);
    }
    if (merged.length > MAX_BINARY_RANK) throw new ShapeError(op, `broadcast of rank ${merged.length} after merging axes; at most ${MAX_BINARY_RANK} supported`);
    const c = this.#stage(OP_BINARY);
    c[1] = this.#ptr(a, op);
    c[2] = this.#ptr(b, op);
    c[3] = this.#ptr(out, op);
    c[4] = kind;
    c[5] = merged.length;
    merged.forEach((d, i) => {
      c[6 + i] = d.n;
      c[14 + i] = d.a;
      c[22 + i] = d.b;
    });
    this.#submit(op);
    return out;
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    this.#f32('embedding', table);
    this.#ptr(ids, 'embedding');
    if (ids.dtype !== 'i32') throw new DTypeError('embedding', `ids must be i32, got ${ids.dtype}`);
    const { v: V, d: D, t } = embeddingDims(table.shape, ids.shape);
    const out = this.#newTensor([t, D], 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_EMBEDDING);
    c[1] = this.#ptr(table, 'embedding');
    c[2] = this.#ptr(ids, 'embedding');
    c[3] = this.#ptr(out, 'embedding');
    c[4] = ids.size;
    c[5] = D;
    c[6] = V;
    try {
      this.#submit('embedding');
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  qembedding(table: QuantizedTensor, ids: Tensor): Tensor {
    const op = 'qembedding';
    for (const t of [table.data, table.scales, table.mins]) if (t) this.#ptr(t, op);
    this.#ptr(ids, op);
    if (ids.dtype !== 'i32') throw new DTypeError(op, `ids must be i32, got ${ids.dtype}`);
    if (!table.symmetric && !table.mins) throw new InvalidArgumentError(`${op}: an asymmetric quantized table has no mins`);
    const { v: V, d: D, t } = embeddingDims(table.shape, ids.shape);
    const out = this.#newTensor([t, D], 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_QEMBEDDING);
    c[1] = this.#ptr(table.data, op);
    c[2] = this.#ptr(table.scales, op);
    c[3] = table.mins ? this.#ptr(table.mins, op) : 0;
    c[4] = this.#ptr(ids, op);
    c[5] = this.#ptr(out, op);
    c[6] = ids.size;
    c[7] = D;
    c[8] = V;
    c[9] = table.bits;
    c[10] = table.groupSize;
    try {
      this.#submit(op);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    this.#f32('rmsNorm', x, weight);
    const { rows, d: D } = rmsNormDims(x.shape, weight.shape, eps);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_RMSNORM);
    c[1] = this.#ptr(x, 'rmsNorm');
    c[2] = this.#ptr(weight, 'rmsNorm');
    c[3] = this.#ptr(out, 'rmsNorm');
    c[4] = rows;
    c[5] = D;
    this.#cmdF[6] = eps;
    this.#submit('rmsNorm');
    return out;
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    this.#f32('layerNorm', x, weight, bias);
    const { rows, d: D } = layerNormDims(x.shape, weight.shape, bias.shape, eps);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_LAYERNORM);
    c[1] = this.#ptr(x, 'layerNorm');
    c[2] = this.#ptr(weight, 'layerNorm');
    c[3] = this.#ptr(bias, 'layerNorm');
    c[4] = this.#ptr(out, 'layerNorm');
    c[5] = rows;
    c[6] = D;
    this.#cmdF[7] = eps;
    this.#submit('layerNorm');
    return out;
  }

  softmax(x: Tensor): Tensor {
    this.#f32('softmax', x);
    const { rows, d: D } = lastAxis('softmax', x.shape);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_SOFTMAX);
    c[1] = this.#ptr(x, 'softmax');
    c[2] = this.#ptr(out, 'softmax');
    c[3] = rows;
    c[4] = D;
    this.#submit('softmax');
    return out;
  }

  silu(x: Tensor): Tensor {
    this.#f32('silu', x);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_SILU);
    c[1] = this.#ptr(x, 'silu');
    c[2] = this.#ptr(out, 'silu');
    c[3] = x.size;
    this.#submit('silu');
    return out;
  }

  gelu(x: Tensor, approximation: GeluApproximation = 'tanh'): Tensor {
    this.#f32('gelu', x);
    if (approximation !== 'tanh' && approximation !== 'erf') throw new InvalidArgumentError(`gelu: approximation must be "tanh" or "erf", got "${String(approximation)}"`);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    const c = this.#stage(OP_GELU);
    c[1] = this.#ptr(x, 'gelu');
    c[2] = this.#ptr(out, 'gelu');
    c[3] = x.size;
    c[4] = approximation === 'tanh' ? 0 : 1;
    this.#submit('gelu');
    return out;
  }

  rope(x: Tensor, opts: RopeOptions): Tensor {
    this.#f32('rope', x);
    const { t: T, h: H, dh: Dh, rotaryDim: rd, interleaved } = ropeDims(x.shape, opts);
    const out = this.#newTensor(x.shape, 'f32');
    if (out.size === 0) return out;
    // cos [T, rd/2] then sin [T, rd/2], angles in f64 then rounded once
    const half = rd / 2;
    const freqs = ropeFrequencies(opts, rd);
    const table = new Float32Array(2 * T * half);
    for (let t = 0; t < T; t++) {
      const pos = opts.pos0 + t;
      for (let i = 0; i < half; i++) {
        const ang = pos * freqs[i]!;
        table[t * half + i] = Math.cos(ang);
        table[T * half + t * half + i] = Math.sin(ang);
      }
    }
    const tb = this.#heap.alloc(Math.max(4, table.byteLength));
    this.#bytes().set(new Uint8Array(table.buffer), tb.ptr);
    const c = this.#stage(OP_ROPE);
    c[1] = this.#ptr(x, 'rope');
    c[2] = this.#ptr(out, 'rope');
    c[3] = tb.ptr;
    c[4] = T;
    c[5] = H;
    c[6] = Dh;
    c[7] = rd;
    c[8] = interleaved ? 1 : 0;
    try {
      this.#submit('rope');
    } finally {
      this.#releaseBlock(tb);
    }
    return out;
  }

  kvWrite(cache: Tensor, x: Tensor, offset: number): void {
    this.#f32('kvWrite', cache, x);
    const { hkv: Hkv, s: S, dh: Dh, t: T } = kvWriteDims(cache.shape, x.shape, offset);
    if (x.size === 0) return;
    const c = this.#stage(OP_KVWRITE);
    c[1] = this.#ptr(cache, 'kvWrite');
    c[2] = this.#ptr(x, 'kvWrite');
    c[3] = T;
    c[4] = Hkv;
    c[5] = S;
    c[6] = Dh;
    c[7] = offset;
    this.#submit('kvWrite');
  }

  attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor {
    this.#f32('attention', q, kCache, vCache);
    const { t: T, hq: Hq, dh: Dh, hkv: Hkv, s: S, past, scale, causal } = attentionDims(q.shape, kCache.shape, vCache.shape, opts);
    const out = this.#newTensor(q.shape, 'f32');
    if (out.size === 0) return out;
    const scratch = this.#heap.alloc(this.threads * Math.max(1, S) * 4);
    const c = this.#stage(OP_ATTENTION);
    c[1] = this.#ptr(q, 'attention');
    c[2] = this.#ptr(kCache, 'attention');
    c[3] = this.#ptr(vCache, 'attention');
    c[4] = this.#ptr(out, 'attention');
    c[5] = T;
    c[6] = Hq;
    c[7] = Hkv;
    c[8] = S;
    c[9] = Dh;
    c[10] = past;
    this.#cmdF[11] = scale;
    c[12] = causal ? 1 : 0;
    c[13] = scratch.ptr;
    try {
      this.#submit('attention');
    } finally {
      this.#releaseBlock(scratch);
    }
    return out;
  }

  argmax(x: Tensor): Tensor {
    this.#f32('argmax', x);
    const { rows, v: D } = argmaxDims(x.shape);
    const out = this.#newTensor(x.shape.slice(0, -1), 'i32');
    if (rows === 0) return out;
    const c = this.#stage(OP_ARGMAX);
    c[1] = this.#ptr(x, 'argmax');
    c[2] = this.#ptr(out, 'argmax');
    c[3] = rows;
    c[4] = D;
    this.#submit('argmax');
    return out;
  }

  topk(x: Tensor, k: number): TopK {
    this.#f32('topk', x);
    const { rows, v: D } = topkDims(x.shape, k);
    const lead = x.shape.slice(0, -1);
    const values = this.#newTensor([...lead, k], 'f32');
    const indices = this.#newTensor([...lead, k], 'i32');
    if (rows === 0) return { values, indices };
    const heap = this.#heap.alloc(this.threads * k * 8);
    const c = this.#stage(OP_TOPK);
    c[1] = this.#ptr(x, 'topk');
    c[2] = this.#ptr(values, 'topk');
    c[3] = this.#ptr(indices, 'topk');
    c[4] = rows;
    c[5] = D;
    c[6] = k;
    c[7] = heap.ptr;
    try {
      this.#submit('topk');
    } finally {
      this.#releaseBlock(heap);
    }
    return { values, indices };
  }
}

const OP_NAMES: Record<number, string> = {
  [OP_MATMUL]: 'matmul', [OP_MATVEC]: 'matvec', [OP_QMATMUL]: 'qmatmul', [OP_BINARY]: 'add/mul', [OP_EMBEDDING]: 'embedding',
  [OP_RMSNORM]: 'rmsNorm', [OP_LAYERNORM]: 'layerNorm', [OP_SOFTMAX]: 'softmax', [OP_SILU]: 'silu', [OP_GELU]: 'gelu',
  [OP_ROPE]: 'rope', [OP_KVWRITE]: 'kvWrite', [OP_ATTENTION]: 'attention', [OP_ARGMAX]: 'argmax', [OP_TOPK]: 'topk', [OP_QEMBEDDING]: 'qembedding',
};
