/**
 * Measures what a parser allocates, to prove "no allocation larger than the input allows".
 *
 * Method (two independent measurements, because neither alone is complete):
 * 1. Requested sizes. While `fn` runs, the global ArrayBuffer, SharedArrayBuffer, every typed-array
 *    constructor and Array are replaced by Proxies whose construct/apply traps record the bytes each
 *    call asks for (`new Float32Array(n)` → 4n, `new ArrayBuffer(n)` → n, `new Array(n)` → 8n, a view
 *    on an existing buffer → 0), and `%TypedArray%.prototype.slice` / `ArrayBuffer.prototype.slice`
 *    are wrapped likewise. Engine code names these constructors as globals, so every such allocation
 *    passes through a trap BEFORE any memory is reserved: a parser that would allocate 4 GB for a
 *    declared size shows up here even where the OS would lazily commit the pages (so RSS would not).
 *    `TypedArray.from(x)` constructs through `this`, which is the Proxy, so it is counted too.
 * 2. Backing-store bytes. `process.memoryUsage().arrayBuffers` counts the memory held by all live
 *    ArrayBuffers; its rise across `fn` (no GC in between, so garbage from a thrown parse still counts)
 *    bounds what was actually reserved, including allocations made by library code that captured the
 *    constructors before the patch.
 * Neither sees plain JS objects and strings; for those the fuzz relies on the parsers' count checks
 * (a GGUF count is refused unless count × minimum entry size fits in the file) and on the per-case time
 * bound.
 */
const TYPED = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'] as const;

export interface AllocReport {
  /** The largest single allocation asked for, in bytes. */
  maxRequest: number;
  /** All allocations asked for, in bytes. */
  totalRequested: number;
  /** Rise of process.memoryUsage().arrayBuffers across the call. */
  arrayBufferGrowth: number;
  error: unknown;
}

function requestedBytes(bpe: number, args: unknown[]): number {
  const a0 = args[0];
  if (typeof a0 === 'number') return a0 * bpe;
  if (a0 instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a0 instanceof SharedArrayBuffer)) return 0;
  if (a0 !== null && typeof a0 === 'object' && typeof (a0 as { length?: unknown }).length === 'number') return (a0 as { length: number }).length * bpe;
  return 0;
}

export function trackAllocations(fn: () => void): AllocReport {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  let maxRequest = 0;
  let totalRequested = 0;
  const note = (bytes: number) => { if (Number.isFinite(bytes) && bytes > 0) { maxRequest = Math.max(maxRequest, bytes); totalRequested += bytes; } else if (!Number.isFinite(bytes)) maxRequest = Infinity; };
  const wrap = (name: string, bpe: number, isArray = false) => {
    const orig = g[name] as (new (...a: unknown[]) => object) & ((...a: unknown[]) => unknown);
    if (!orig) return;
    saved.set(name, orig);
    g[name] = new Proxy(orig, {
      construct(target, args, newTarget) {
        if (!isArray || (args.length === 1 && typeof args[0] === 'number')) note(requestedBytes(bpe, args));
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
      apply(target, self, args) {
        if (isArray && args.length === 1 && typeof args[0] === 'number') note(args[0] * bpe);
        return Reflect.apply(target, self, args);
      },
    });
  };
  wrap('ArrayBuffer', 1);
  wrap('SharedArrayBuffer', 1);
  for (const t of TYPED) wrap(t, (globalThis as unknown as Record<string, { BYTES_PER_ELEMENT: number }>)[t]!.BYTES_PER_ELEMENT);
  wrap('Array', 8, true);
  const typedProto = Object.getPrototypeOf(Uint8Array.prototype) as { slice: (this: ArrayLike<unknown> & { BYTES_PER_ELEMENT: number }, s?: number, e?: number) => unknown };
  const typedSlice = typedProto.slice;
  typedProto.slice = function (this: ArrayLike<unknown> & { BYTES_PER_ELEMENT: number }, s?: number, e?: number) {
    const r = typedSlice.call(this, s, e) as ArrayLike<unknown>;
    note(r.length * this.BYTES_PER_ELEMENT);
    return r;
  };
  const abSlice = ArrayBuffer.prototype.slice;
  ArrayBuffer.prototype.slice = function (this: ArrayBuffer, s?: number, e?: number) {
    const r = abSlice.call(this, s, e);
    note(r.byteLength);
    return r;
  };
  const before = process.memoryUsage().arrayBuffers;
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  } finally {
    for (const [name, orig] of saved) g[name] = orig;
    typedProto.slice = typedSlice;
    ArrayBuffer.prototype.slice = abSlice;
  }
  const arrayBufferGrowth = process.memoryUsage().arrayBuffers - before;
  return { maxRequest, totalRequested, arrayBufferGrowth, error };
}
