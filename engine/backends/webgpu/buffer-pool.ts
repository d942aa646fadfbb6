import type { StorageHandle } from '../../tensor/tensor.js';
import { BufferUsage } from './gpu-constants.js';

/** A tensor's storage on webgpu: one pooled GPUBuffer (its size is the bucket, ≥ the tensor's bytes). */
export interface GPUStorage extends StorageHandle {
  readonly buffer: GPUBuffer;
  /** Stable id for bind-group cache keys. */
  readonly id: number;
  /** The batch (unsubmitted encoder) that last used the buffer; see WebGPUBackend.upload. */
  lastBatch: number;
}

export const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/**
 * Size class of a request: powers of two up to 64 KiB, then 16 steps per doubling (≤ 6.25 % waste), always a
 * multiple of 256 bytes so every buffer can be bound as array<vec4<…>> and meets copy alignment. A class above
 * `cap` (the largest bindable size, e.g. 2 GiB − 4 bytes) shrinks to `cap` rounded down to 256 bytes when the
 * request still fits there: otherwise a 2.1 GB tensor would get a 2 GiB buffer that no shader may bind.
 */
export function bucketSize(bytes: number, cap = Infinity): number {
  const b = Math.max(256, bytes);
  let size: number;
  if (b <= 65536) size = 2 ** Math.ceil(Math.log2(b));
  else {
    const step = 2 ** Math.floor(Math.log2(b)) / 16;
    size = Math.ceil(b / step) * step;
  }
  const top = Math.floor(cap / 256) * 256;
  return size > top && b <= top ? top : size;
}

/**
 * Size-bucketed free lists of GPUBuffers. Released buffers go back to their bucket and are reused by the next
 * request of the same class, so a steady-state loop creates none. Buffers are destroyed only by destroyAll().
 */
export class BufferPool {
  #free = new Map<number, GPUStorage[]>();
  #buckets = new Map<number, number>();
  #all: GPUStorage[] = [];
  #nextId = 1;
  created = 0;
  pooled = 0;
  reservedBytes = 0;

  constructor(
    private readonly create: (size: number) => GPUBuffer,
    private readonly usage: number = STORAGE_USAGE,
    /** The largest size a buffer may be bound at (bucketSize's cap). */
    private readonly cap: number = Infinity,
  ) {}

  acquire(bytes: number): GPUStorage {
    // a decode step asks for the same few sizes every time: their buckets are looked up, not recomputed
    let size = this.#buckets.get(bytes);
    if (size === undefined) {
      size = bucketSize(bytes, this.cap);
      if (this.#buckets.size < 4096) this.#buckets.set(bytes, size);
    }
    const list = this.#free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.pooled--;
      return hit;
    }
    const buffer = this.create(size);
    const s: GPUStorage = { buffer, byteLength: size, id: this.#nextId++, lastBatch: -1 };
    this.#all.push(s);
    this.created++;
    this.reservedBytes += size;
    return s;
  }

  /**
   * Free lists are kept sorted by id, highest first, and acquire() pops the lowest: a loop that frees and
   * allocates the same sizes in the same order then gets the same buffers every iteration, so its bind
   * groups (keyed by buffer) are cache hits instead of new objects.
   */
  release(s: GPUStorage): void {
    let list = this.#free.get(s.byteLength);
    if (!list) this.#free.set(s.byteLength, (list = []));
    let i = list.length;
    while (i > 0 && list[i - 1]!.id < s.id) i--;
    list.splice(i, 0, s);
    this.pooled++;
  }

  /**
   * Drops a buffer for good (one the device failed to create: an out-of-memory buffer is invalid, and handing
   * it out again would turn every later op on it into a validation error).
   */
  discard(s: GPUStorage): void {
    const i = this.#all.indexOf(s);
    if (i < 0) return;
    this.#all.splice(i, 1);
    const list = this.#free.get(s.byteLength);
    const j = list ? list.indexOf(s) : -1;
    if (j >= 0) {
      list!.splice(j, 1);
      this.pooled--;
    }
    this.reservedBytes -= s.byteLength;
    s.buffer.destroy();
  }

  get bufferUsage(): number {
    return this.usage;
  }

  destroyAll(): void {
    for (const s of this.#all) s.buffer.destroy();
    this.#all = [];
    this.#free.clear();
    this.pooled = 0;
    this.reservedBytes = 0;
  }
}
