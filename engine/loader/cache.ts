import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { AccelError, QuotaError, StorageError } from '../errors.js';

export interface CacheEntryInfo {
  /** Stable key: source id + revision/CID + file. */
  id: string;
  size: number;
  /** Milliseconds since the epoch when the entry was written. */
  date: number;
  /** Hex sha256 of the bytes when it was verified before caching. */
  sha256?: string;
}

export interface CachedBody {
  info: CacheEntryInfo;
  stream(): ReadableStream<Uint8Array>;
}

/** Persistence behind ModelCache. Writers hand over complete, verified bytes only. */
export interface CacheStore {
  readonly kind: string;
  get(id: string): Promise<CachedBody | undefined>;
  put(info: CacheEntryInfo, bytes: Uint8Array): Promise<void>;
  delete(id: string): Promise<boolean>;
  list(): Promise<CacheEntryInfo[]>;
  clear(): Promise<void>;
}

export interface CacheUsage {
  /** Bytes of model files in this cache. */
  bytes: number;
  entries: number;
  /** Origin-wide figures from navigator.storage.estimate(), where available. */
  usage?: number;
  quota?: number;
  /** Whether the browser promised to keep this origin's storage (navigator.storage.persisted()), where exposed. */
  persisted?: boolean;
  store: string;
}

/** The parts of StorageManager the cache reads; feature-checked because Node, old browsers and some workers lack them. */
interface StorageLike {
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
  persisted?: () => Promise<boolean>;
  persist?: () => Promise<boolean>;
}

function storageManager(): StorageLike | undefined {
  return (globalThis as { navigator?: { storage?: StorageLike } }).navigator?.storage;
}

const CACHE_NAME = 'accel-models-v1';
// Cache API keys must be http(s) requests; this host is never contacted (.invalid is reserved).
const KEY_ORIGIN = 'https://accel-cache.invalid/';

function bytesView(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** Primary store in browsers and workers: one Response per file in a named Cache. */
export class CacheApiStore implements CacheStore {
  readonly kind = 'cache-api';
  private cache: Promise<Cache> | undefined;

  constructor(readonly name = CACHE_NAME) {}

  private open(): Promise<Cache> {
    if (!this.cache) {
      this.cache = caches.open(this.name);
      this.cache.catch(() => (this.cache = undefined));
    }
    return this.cache;
  }

  private key(id: string): string {
    return KEY_ORIGIN + encodeURIComponent(id);
  }

  private info(res: Response, fallbackId: string): CacheEntryInfo {
    const h = res.headers;
    const info: CacheEntryInfo = {
      id: h.get('x-accel-id') ?? fallbackId,
      size: Number(h.get('x-accel-size') ?? NaN),
      date: Number(h.get('x-accel-date') ?? 0),
    };
    const sha = h.get('x-accel-sha256');
    if (sha) info.sha256 = sha;
    return info;
  }

  async get(id: string): Promise<CachedBody | undefined> {
    const res = await (await this.open()).match(this.key(id));
    if (!res) return undefined;
    // An empty file may come back with a null body; it is still a hit.
    return { info: this.info(res, id), stream: () => res.body ?? new ReadableStream({ start: (c) => c.close() }) };
  }

  async put(info: CacheEntryInfo, bytes: Uint8Array): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'x-accel-id': info.id,
      'x-accel-size': String(info.size),
      'x-accel-date': String(info.date),
    };
    if (info.sha256) headers['x-accel-sha256'] = info.sha256;
    await (await this.open()).put(this.key(info.id), new Response(bytesView(bytes), { headers }));
  }

  async delete(id: string): Promise<boolean> {
    return (await this.open()).delete(this.key(id));
  }

  async list(): Promise<CacheEntryInfo[]> {
    const cache = await this.open();
    const out: CacheEntryInfo[] = [];
    for (const req of await cache.keys()) {
      const res = await cache.match(req);
      if (!res) continue;
      out.push(this.info(res, decodeURIComponent(req.url.slice(KEY_ORIGIN.length))));
      await res.body?.cancel().catch(() => {});
    }
    return out;
  }

  async clear(): Promise<void> {
    this.cache = undefined;
    await caches.delete(this.name);
  }
}

interface ModelDB extends DBSchema {
  meta: { key: string; value: CacheEntryInfo };
  blobs: { key: string; value: Blob };
}

const DB_NAME = 'accel-models';
const DB_VERSION = 1;

/** Fallback where the Cache API is missing or refused: metadata and Blobs in IndexedDB (via idb). */
export class IdbStore implements CacheStore {
  readonly kind = 'indexeddb';
  private db: Promise<IDBPDatabase<ModelDB>> | undefined;

  constructor(readonly name = DB_NAME) {}

  private open(): Promise<IDBPDatabase<ModelDB>> {
    if (!this.db) {
      this.db = new Promise<IDBPDatabase<ModelDB>>((resolve, reject) => {
        let blocked = false;
        openDB<ModelDB>(this.name, DB_VERSION, {
          upgrade(db, oldVersion) {
            // Version 1 is the first schema; later versions add their steps below this one.
            if (oldVersion < 1) {
              db.createObjectStore('meta', { keyPath: 'id' });
              db.createObjectStore('blobs');
            }
          },
          // Another tab holds an older version open: report it instead of waiting forever.
          blocked: () => {
            blocked = true;
            reject(new StorageError(`IndexedDB "${this.name}" upgrade is blocked by another open tab; close it and retry`));
          },
          // Let a newer tab upgrade rather than blocking it in turn.
          blocking: () => {
            void this.db?.then((d) => d.close());
            this.db = undefined;
          },
          terminated: () => {
            this.db = undefined;
          },
        }).then((db) => {
          // the caller was already told the upgrade is blocked: a connection that opens after the other tab closed
          // is not handed to anyone, so close it (the next open() starts afresh)
          if (blocked) db.close();
          else resolve(db);
        }, (err: unknown) => {
          const name = (err as { name?: string } | null)?.name;
          reject(
            name === 'VersionError'
              ? new StorageError(`IndexedDB "${this.name}" was written by a newer version of this library`, { cause: err })
              : new StorageError(`IndexedDB "${this.name}" could not be opened (${String(err)})`, { cause: err }),
          );
        });
      });
      this.db.catch(() => (this.db = undefined));
    }
    return this.db;
  }

  async get(id: string): Promise<CachedBody | undefined> {
    const db = await this.open();
    const tx = db.transaction(['meta', 'blobs'], 'readonly');
    const [info, blob] = await Promise.all([tx.objectStore('meta').get(id), tx.objectStore('blobs').get(id), tx.done]);
    if (!info || !blob) return undefined;
    return { info, stream: () => blob.stream() };
  }

  async put(info: CacheEntryInfo, bytes: Uint8Array): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(['meta', 'blobs'], 'readwrite');
    // One transaction: metadata and bytes land together or not at all.
    await Promise.all([tx.objectStore('blobs').put(new Blob([bytesView(bytes)]), info.id), tx.objectStore('meta').put(info), tx.done]);
  }

  async delete(id: string): Promise<boolean> {
    const db = await this.open();
    const tx = db.transaction(['meta', 'blobs'], 'readwrite');
    const had = (await tx.objectStore('meta').getKey(id)) !== undefined;
    await Promise.all([tx.objectStore('meta').delete(id), tx.objectStore('blobs').delete(id), tx.done]);
    return had;
  }

  async list(): Promise<CacheEntryInfo[]> {
    return (await this.open()).getAll('meta');
  }

  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(['meta', 'blobs'], 'readwrite');
    await Promise.all([tx.objectStore('meta').clear(), tx.objectStore('blobs').clear(), tx.done]);
  }
}

/** In-memory store: Node, tests, or pages that must not persist anything. */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, { info: CacheEntryInfo; bytes: Uint8Array }>();

  async get(id: string): Promise<CachedBody | undefined> {
    const e = this.entries.get(id);
    if (!e) return undefined;
    return {
      info: { ...e.info },
      stream: () => new ReadableStream({ start: (c) => (c.enqueue(e.bytes.slice()), c.close()) }),
    };
  }

  async put(info: CacheEntryInfo, bytes: Uint8Array): Promise<void> {
    this.entries.set(info.id, { info: { ...info }, bytes: bytes.slice() });
  }

  async delete(id: string): Promise<boolean> {
    return this.entries.delete(id);
  }

  async list(): Promise<CacheEntryInfo[]> {
    return [...this.entries.values()].map((e) => ({ ...e.info }));
  }

  async clear(): Promise<void> {
    this.entries.clear();
  }
}

/**
 * Cache API first (streams large Responses from disk, works in workers), IndexedDB if the Cache API is
 * missing or refuses to open (opaque origins, some private modes).
 */
export class AutoStore implements CacheStore {
  private chosen: Promise<CacheStore> | undefined;

  get kind(): string {
    return 'auto';
  }

  /** The store actually in use once resolved. */
  resolve(): Promise<CacheStore> {
    if (!this.chosen) {
      this.chosen = (async () => {
        if (typeof caches !== 'undefined') {
          try {
            const probe = new CacheApiStore();
            await caches.open(probe.name);
            return probe;
          } catch {
            // fall through to IndexedDB
          }
        }
        if (typeof indexedDB !== 'undefined') return new IdbStore();
        throw new StorageError('neither the Cache API nor IndexedDB is available here');
      })();
      this.chosen.catch(() => (this.chosen = undefined));
    }
    return this.chosen;
  }

  async get(id: string) { return (await this.resolve()).get(id); }
  async put(info: CacheEntryInfo, bytes: Uint8Array) { return (await this.resolve()).put(info, bytes); }
  async delete(id: string) { return (await this.resolve()).delete(id); }
  async list() { return (await this.resolve()).list(); }
  async clear() { return (await this.resolve()).clear(); }
}

export function storageAvailable(): boolean {
  return typeof caches !== 'undefined' || typeof indexedDB !== 'undefined';
}

function isQuotaError(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown } | null;
  return !!e && (e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED' || e.code === 22);
}

/** Wraps a store failure in the typed error callers can switch on. */
export function storageFailure(err: unknown, what: string, bytes: number): AccelError {
  if (err instanceof AccelError) return err;
  if (isQuotaError(err)) return new QuotaError(what, bytes, { cause: err });
  return new StorageError(`writing ${what} failed (${err instanceof Error ? `${err.name}: ${err.message}` : String(err)})`, { cause: err });
}

async function storageCall<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AccelError) throw err;
    throw new StorageError(`${what} failed (${err instanceof Error ? `${err.name}: ${err.message}` : String(err)})`, { cause: err });
  }
}

/** The user-facing cache of verified model files: list, delete, clear, usage. */
export class ModelCache {
  readonly store: CacheStore;
  private static shared: ModelCache | null | undefined;

  constructor(store: CacheStore) {
    this.store = store;
  }

  /** The per-context cache (Cache API, else IndexedDB), or null under Node and other storage-less hosts. */
  static default(): ModelCache | null {
    if (ModelCache.shared === undefined) ModelCache.shared = storageAvailable() ? new ModelCache(new AutoStore()) : null;
    return ModelCache.shared;
  }

  /** Entry if present and whole; failures read as a miss because the network can still serve the file. */
  async get(id: string): Promise<CachedBody | undefined> {
    return storageCall(() => this.store.get(id), `reading ${id}`);
  }

  /** Stores complete, verified bytes; on failure removes any partial entry and throws QuotaError/StorageError. */
  async put(info: CacheEntryInfo, bytes: Uint8Array): Promise<void> {
    try {
      await this.store.put(info, bytes);
    } catch (err) {
      await this.store.delete(info.id).catch(() => false);
      throw storageFailure(err, info.id, bytes.byteLength);
    }
  }

  async list(): Promise<CacheEntryInfo[]> {
    return (await storageCall(() => this.store.list(), 'listing entries')).sort((a, b) => a.id.localeCompare(b.id));
  }

  delete(id: string): Promise<boolean> {
    return storageCall(() => this.store.delete(id), `deleting ${id}`);
  }

  clear(): Promise<void> {
    return storageCall(() => this.store.clear(), 'clearing');
  }

  async usage(): Promise<CacheUsage> {
    const entries = await storageCall(() => this.store.list(), 'listing entries');
    const out: CacheUsage = {
      bytes: entries.reduce((n, e) => n + (Number.isFinite(e.size) ? e.size : 0), 0),
      entries: entries.length,
      store: this.store instanceof AutoStore ? (await this.store.resolve()).kind : this.store.kind,
    };
    const storage = storageManager();
    if (storage?.estimate) {
      try {
        const est = await storage.estimate();
        if (est.usage !== undefined) out.usage = est.usage;
        if (est.quota !== undefined) out.quota = est.quota;
      } catch {
        // Origin-wide figures are a bonus; our own byte count stands without them.
      }
    }
    const persisted = await this.persisted();
    if (persisted !== null) out.persisted = persisted;
    return out;
  }

  /** Whether this origin's storage is persistent (kept under storage pressure); null where the API is missing. */
  async persisted(): Promise<boolean | null> {
    const storage = storageManager();
    if (!storage?.persisted) return null;
    try {
      return await storage.persisted();
    } catch {
      return null;
    }
  }

  /**
   * Asks the browser to keep this origin's storage, cached models included, when space runs low
   * (navigator.storage.persist()). Resolves with whether storage is now persistent: browsers may say no
   * (Chromium grants it to installed or often-used sites; Firefox asks the user). Throws StorageError
   * where the API is missing (Node, insecure contexts, some workers).
   */
  async persist(): Promise<boolean> {
    const storage = storageManager();
    if (!storage?.persist) throw new StorageError('persistent storage cannot be requested here (navigator.storage.persist is missing: Node, an insecure page or a worker)');
    return storageCall(() => storage.persist!(), 'requesting persistent storage');
  }
}
