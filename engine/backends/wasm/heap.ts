import { OutOfMemoryError } from '../../errors.js';

const PAGE = 65536;
/** Blocks are 64-byte aligned: whole cache lines, and every v128 access in the kernels is aligned. */
const ALIGN = 64;
/** At and above this size blocks are rounded to whole pages and reused best-fit instead of by class. */
const LARGE = 1 << 20;

/**
 * Size class of a request: multiples of 64 up to 256 bytes, then four classes per power of two (at most
 * 25 % slack); large blocks round to 64 KiB.
 */
export function blockSize(bytes: number): number {
  const n = Math.max(ALIGN, bytes);
  if (n >= LARGE) return Math.ceil(n / PAGE) * PAGE;
  if (n <= 256) return Math.ceil(n / ALIGN) * ALIGN;
  const step = 2 ** (Math.floor(Math.log2(n - 1)) - 2);
  return Math.ceil(n / step) * step;
}

export interface HeapBlock {
  readonly ptr: number;
  /** Real size of the block (≥ the request). */
  readonly size: number;
}

/**
 * A free-list allocator over a WebAssembly.Memory: blocks are carved from a bump pointer, freed blocks
 * go to per-size free lists and come back for the next request of the same class, so a steady loop of
 * the same ops carves nothing new. The memory grows (memory.grow) when the bump pointer runs out;
 * a failed grow is an OutOfMemoryError naming the request.
 */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  readonly #base: number;
  readonly #maxBytes: number;
  #top: number;
  readonly #small = new Map<number, number[]>();
  /** Large free blocks, sorted by size then address. */
  #large: { ptr: number; size: number }[] = [];
  #pooledBytes = 0;
  #blocksCreated = 0;
  #pooledBlocks = 0;

  constructor(memory: WebAssembly.Memory, base: number, maxBytes: number) {
    this.memory = memory;
    this.#base = Math.ceil(base / ALIGN) * ALIGN;
    this.#top = this.#base;
    this.#maxBytes = maxBytes;
  }

  /** A block of at least `bytes`; give it back with free(block). */
  alloc(bytes: number): HeapBlock {
    const size = blockSize(bytes);
    if (size >= LARGE) {
      // best fit, but never hand out a block more than 1/8 larger than asked (keeps big weights tight)
      const i = this.#large.findIndex((b) => b.size >= size);
      if (i >= 0 && this.#large[i]!.size <= size + size / 8) {
        const b = this.#large.splice(i, 1)[0]!;
        this.#pooledBytes -= b.size;
        this.#pooledBlocks--;
        return b;
      }
    } else {
      const list = this.#small.get(size);
      if (list && list.length > 0) {
        this.#pooledBytes -= size;
        this.#pooledBlocks--;
        return { ptr: list.pop()!, size };
      }
    }
    return { ptr: this.#carve(size, bytes), size };
  }

  free(block: HeapBlock): void {
    const { ptr, size } = block;
    this.#pooledBytes += size;
    this.#pooledBlocks++;
    if (size >= LARGE) {
      const list = this.#large;
      let i = 0;
      while (i < list.length && (list[i]!.size < size || (list[i]!.size === size && list[i]!.ptr < ptr))) i++;
      list.splice(i, 0, { ptr, size });
      return;
    }
    let list = this.#small.get(size);
    if (!list) this.#small.set(size, (list = []));
    list.push(ptr);
  }

  #carve(size: number, requested: number): number {
    const ptr = this.#top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      if (end > this.#maxBytes) throw this.#oom(requested);
      // grow by at least 1/8 of the current size so a sequence of uploads does not grow page by page
      const want = Math.min(Math.max(end, have + Math.floor(have / 8)), this.#maxBytes);
      try {
        this.memory.grow(Math.ceil((want - have) / PAGE));
      } catch (cause) {
        try {
          this.memory.grow(Math.ceil((end - have) / PAGE));
        } catch {
          throw this.#oom(requested, cause);
        }
      }
    }
    this.#top = end;
    this.#blocksCreated++;
    return ptr;
  }

  #oom(requested: number, cause?: unknown): OutOfMemoryError {
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    return new OutOfMemoryError(
      requested,
      `the wasm heap (${mib(this.#top - this.#base)} MiB reserved, limit ${mib(this.#maxBytes)} MiB)`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Bytes carved from the memory so far (live + pooled blocks). */
  get reservedBytes(): number {
    return this.#top - this.#base;
  }
  get pooledBytes(): number {
    return this.#pooledBytes;
  }
  get blocksCreated(): number {
    return this.#blocksCreated;
  }
  get pooledBlocks(): number {
    return this.#pooledBlocks;
  }
}
