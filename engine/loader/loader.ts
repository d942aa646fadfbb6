import { AbortError, AccelError, IntegrityError, InvalidArgumentError, OutOfMemoryError, StorageError, TruncatedError } from '../errors.js';
import { ModelCache, type CacheEntryInfo } from './cache.js';
import { checkSha256, sha256Hex } from './integrity.js';
import { createSource, type ModelSource, type SourceFile, type SourceInput, type SourceOptions } from './sources.js';

export type LoadPhase = 'download' | 'verify' | 'cache' | 'cached';

/**
 * Per file: `loaded` never decreases and the last event has `loaded === total`. `total` is undefined while
 * a server streams without announcing a length. 'cached' = bytes read back from the model cache.
 */
export interface LoadProgress {
  file: string;
  loaded: number;
  total: number | undefined;
  phase: LoadPhase;
}

/**
 * Bytes as they arrive, in order, for parsers that work while the file streams in. From the network these
 * precede the sha256 check of the whole file: drop what you built if the load rejects. IPFS chunks are
 * verified block by block before they are emitted.
 */
export interface ChunkEvent {
  file: string;
  offset: number;
  bytes: Uint8Array;
}

export interface FileSpec {
  name: string;
  /** Expected hex sha256; the file is rejected (and never cached) if the bytes differ. */
  sha256?: string;
  /** Expected size in bytes. */
  size?: number;
}

export interface LoadedFile {
  name: string;
  bytes: ArrayBuffer;
  fromCache: boolean;
  sha256?: string;
}

export interface LoadCallOptions {
  signal?: AbortSignal;
  onProgress?: (e: LoadProgress) => void;
  onChunk?: (e: ChunkEvent) => void;
  /** Non-fatal problems (QuotaError, StorageError): the load carried on without the cache. */
  onWarning?: (e: AccelError) => void;
}

export interface LoaderOptions extends SourceOptions, LoadCallOptions {
  /** Model cache; default the context's Cache API/IndexedDB cache (none under Node); false disables. */
  cache?: ModelCache | false | null;
  /** Check sha256 where an expected hash is known (CIDs are always checked). Default true. */
  verify?: boolean;
}

const INITIAL_CAPACITY = 16 * 1024 * 1024;

function toSpec(f: string | FileSpec): FileSpec {
  return typeof f === 'string' ? { name: f } : f;
}

function abortError(what: string, signal: AbortSignal | undefined): AbortError {
  return new AbortError(what, { cause: signal?.reason });
}

/**
 * Growable byte sink. The first allocation is capped so a server that announces a huge length cannot
 * make us reserve it before sending the bytes; after that capacity doubles up to the announced length.
 */
class Sink {
  private buf: Uint8Array;
  n = 0;
  constructor(private readonly expected: number | undefined, private readonly what: string) {
    this.buf = this.alloc(Math.min(expected ?? INITIAL_CAPACITY, INITIAL_CAPACITY));
  }
  private alloc(bytes: number): Uint8Array {
    try {
      return new Uint8Array(bytes);
    } catch (err) {
      throw new OutOfMemoryError(bytes, `the loader buffer for ${this.what}`, { cause: err });
    }
  }
  push(chunk: Uint8Array): void {
    const need = this.n + chunk.byteLength;
    if (need > this.buf.byteLength) {
      let cap = Math.max(this.buf.byteLength * 2, need);
      if (this.expected !== undefined && need <= this.expected) cap = Math.min(cap, this.expected);
      const grown = this.alloc(cap);
      grown.set(this.buf.subarray(0, this.n));
      this.buf = grown;
    }
    this.buf.set(chunk, this.n);
    this.n = need;
  }
  bytes(): Uint8Array<ArrayBuffer> {
    if (this.n === this.buf.byteLength) return this.buf as Uint8Array<ArrayBuffer>;
    return this.buf.slice(0, this.n) as Uint8Array<ArrayBuffer>;
  }
}

/**
 * Loads files of one model source: cache first, else download (ranges, retries, stall and truncation
 * checks), verify, cache, return. Framework-free; runs in pages, workers and Node.
 */
// Files the hub stores in LFS and lists with a sha256.
const LFS_FILE = /\.(safetensors|bin|gguf|onnx|pt|pth|h5|msgpack)$/;

export class ModelLoader {
  readonly source: ModelSource;
  readonly cache: ModelCache | null;
  private readonly verify: boolean;

  constructor(src: SourceInput, private readonly opts: LoaderOptions = {}) {
    this.source = createSource(src, opts);
    this.cache = opts.cache === false || opts.cache === null ? null : (opts.cache ?? ModelCache.default());
    this.verify = opts.verify ?? true;
  }

  private listing: Promise<SourceFile[]> | undefined;

  /** The source's files (fetched once per loader; a failed listing is asked again next time). */
  list(signal?: AbortSignal): Promise<SourceFile[]> {
    if (!this.source.list) return Promise.reject(new InvalidArgumentError(`${this.source.kind} sources cannot list their files; name them`));
    if (!this.listing) {
      const p = this.source.list(signal);
      this.listing = p;
      p.catch(() => {
        if (this.listing === p) this.listing = undefined;
      });
    }
    return this.listing;
  }

  /**
   * A Hugging Face LFS file asked for by name only gets the sha256 and size the hub publishes, so corrupted
   * bytes are caught (IntegrityError) before use or caching. Without a listing (offline hub API, a mirror that
   * lacks it) the file loads unverified, as a plain URL would.
   */
  private async withPublishedHash(spec: FileSpec, signal: AbortSignal | undefined): Promise<FileSpec> {
    if (!this.verify || spec.sha256 || this.source.kind !== 'hf' || !LFS_FILE.test(spec.name)) return spec;
    let listed: SourceFile | undefined;
    try {
      listed = (await this.list(signal)).find((f) => f.name === spec.name);
    } catch (err) {
      if (signal?.aborted) throw abortError(`Listing ${this.source.id}`, signal);
      if (!(err instanceof AccelError)) throw err;
    }
    if (!listed?.sha256) return spec;
    return { ...spec, sha256: listed.sha256, ...(spec.size === undefined && listed.size !== undefined ? { size: listed.size } : {}) };
  }

  async loadAll(files: readonly (string | FileSpec)[], call: LoadCallOptions = {}): Promise<LoadedFile[]> {
    const out: LoadedFile[] = [];
    for (const f of files) out.push(await this.load(f, call));
    return out;
  }

  async load(file: string | FileSpec, call: LoadCallOptions = {}): Promise<LoadedFile> {
    const signal = call.signal ?? this.opts.signal;
    let spec = toSpec(file);
    const onProgress = call.onProgress ?? this.opts.onProgress;
    const onChunk = call.onChunk ?? this.opts.onChunk;
    const onWarning = call.onWarning ?? this.opts.onWarning;
    const what = `Loading ${this.source.resolve(spec.name)}`;
    if (signal?.aborted) throw abortError(what, signal);
    const useCache = this.cache !== null && this.source.cacheable;
    const key = this.source.cacheKey(spec.name);
    let expectSha = this.verify && spec.sha256 ? spec.sha256.toLowerCase() : undefined;

    if (useCache) {
      const hit = await this.readCache(key, spec, expectSha, signal, onProgress, onChunk, onWarning);
      if (hit) return hit;
    }
    // only a download needs the published hash: a cache entry was verified when it was written
    spec = await this.withPublishedHash(spec, signal);
    expectSha = this.verify && spec.sha256 ? spec.sha256.toLowerCase() : undefined;

    const opened = await this.source.open(spec.name, { signal });
    const total = opened.length ?? spec.size;
    if (spec.size !== undefined && opened.length !== undefined && opened.length !== spec.size) {
      await opened.stream.cancel().catch(() => {});
      throw new IntegrityError(opened.url, 'size', `${spec.size} bytes`, `${opened.length} bytes`);
    }
    const sink = new Sink(total, opened.url);
    const reader = opened.stream.getReader();
    onProgress?.({ file: spec.name, loaded: 0, total, phase: 'download' });
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        const offset = sink.n;
        sink.push(r.value);
        onChunk?.({ file: spec.name, offset, bytes: r.value });
        onProgress?.({ file: spec.name, loaded: sink.n, total, phase: 'download' });
      }
    } catch (err) {
      reader.cancel().catch(() => {});
      if (signal?.aborted && !(err instanceof AbortError)) throw abortError(what, signal);
      throw err;
    }
    if (signal?.aborted) throw abortError(what, signal);
    if (total !== undefined && sink.n < total) throw new TruncatedError(opened.url, total, sink.n);
    if (total !== undefined && sink.n > total) throw new IntegrityError(opened.url, 'size', `${total} bytes`, `${sink.n} bytes`);
    const bytes = sink.bytes();
    const size = bytes.byteLength;
    if (total === undefined) onProgress?.({ file: spec.name, loaded: size, total: size, phase: 'download' });

    let sha256: string | undefined;
    if (expectSha) {
      onProgress?.({ file: spec.name, loaded: size, total: size, phase: 'verify' });
      sha256 = await checkSha256(opened.url, bytes, expectSha);
    }
    if (signal?.aborted) throw abortError(what, signal);

    if (useCache) {
      onProgress?.({ file: spec.name, loaded: size, total: size, phase: 'cache' });
      // Hash what we cache even when nobody asked, so later loads that do name a hash can trust the entry.
      sha256 ??= await sha256Hex(bytes);
      const info: CacheEntryInfo = { id: key, size, date: Date.now(), sha256 };
      try {
        await this.cache!.put(info, bytes);
      } catch (err) {
        if (err instanceof AccelError) onWarning?.(err);
        else throw err;
      }
      if (signal?.aborted) {
        // Aborted while the write was in flight: the caller gave up on this file, so it must not linger.
        await this.cache!.delete(key).catch(() => false);
        throw abortError(what, signal);
      }
    }
    const result: LoadedFile = { name: spec.name, bytes: bytes.buffer, fromCache: false };
    if (sha256) result.sha256 = sha256;
    return result;
  }

  private async readCache(
    key: string,
    spec: FileSpec,
    expectSha: string | undefined,
    signal: AbortSignal | undefined,
    onProgress: LoadCallOptions['onProgress'],
    onChunk: LoadCallOptions['onChunk'],
    onWarning: LoadCallOptions['onWarning'],
  ): Promise<LoadedFile | undefined> {
    const cache = this.cache!;
    let hit;
    try {
      hit = await cache.get(key);
    } catch (err) {
      onWarning?.(err instanceof AccelError ? err : new StorageError(`reading ${key} failed (${String(err)})`, { cause: err }));
      return undefined;
    }
    if (!hit) return undefined;
    const { info } = hit;
    // A pinned hash or size that disagrees with the entry means the upstream file changed: refetch.
    const stale = (expectSha !== undefined && info.sha256 !== expectSha) || (spec.size !== undefined && info.size !== spec.size) || !Number.isFinite(info.size);
    if (stale) {
      await hit.stream().cancel().catch(() => {});
      await cache.delete(key).catch(() => false);
      return undefined;
    }
    const sink = new Sink(info.size, key);
    const reader = hit.stream().getReader();
    onProgress?.({ file: spec.name, loaded: 0, total: info.size, phase: 'cached' });
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(`Loading ${spec.name} from the cache`, signal);
        const r = await reader.read();
        if (r.done) break;
        if (sink.n + r.value.byteLength > info.size) break;
        const offset = sink.n;
        sink.push(r.value);
        onChunk?.({ file: spec.name, offset, bytes: r.value });
        onProgress?.({ file: spec.name, loaded: sink.n, total: info.size, phase: 'cached' });
      }
    } catch (err) {
      reader.cancel().catch(() => {});
      if (err instanceof AbortError) throw err;
      onWarning?.(new StorageError(`entry ${key} could not be read (${String(err)}) and was removed`, { cause: err }));
      await cache.delete(key).catch(() => false);
      return undefined;
    }
    if (sink.n !== info.size) {
      reader.cancel().catch(() => {});
      await cache.delete(key).catch(() => false);
      onWarning?.(new StorageError(`entry ${key} was damaged (${sink.n} of ${info.size} bytes) and was removed`));
      return undefined;
    }
    const result: LoadedFile = { name: spec.name, bytes: sink.bytes().buffer, fromCache: true };
    if (info.sha256) result.sha256 = info.sha256;
    return result;
  }
}

/** Loads `files` of `src` in order and returns their bytes by name. */
export async function loadFiles(src: SourceInput, files: readonly (string | FileSpec)[], opts: LoaderOptions = {}): Promise<Record<string, ArrayBuffer>> {
  const loader = new ModelLoader(src, opts);
  const out: Record<string, ArrayBuffer> = {};
  for (const f of await loader.loadAll(files)) out[f.name] = f.bytes;
  return out;
}
