import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { BenchmarkStorageError } from '../errors.js';
import { aggregate, matches, newId, toRecord, type AggregateRow, type BenchmarkRecord, type HardwareProfile, type RecordFilter } from './records.js';
import type { GenerationBenchmark } from './runner.js';
import type { Summary } from './stats.js';

export const BENCH_DB_NAME = 'accel-bench';
export const BENCH_DB_VERSION = 2;

/**
 * Schema version 1 (the first release): one flat record per run in `runs`, auto-numbered, dated by an ISO
 * string, without precision, browser or hardware, and only the latency summary.
 */
export interface BenchmarkRecordV1 {
  id?: number;
  model: string;
  backend: string;
  /** ISO 8601. */
  timestamp: string;
  iterations: number;
  latency: Summary;
  tokensPerSecond: number;
}

interface BenchDB extends DBSchema {
  runs: { key: number; value: BenchmarkRecordV1; indexes: { model: string } };
  results: {
    key: string;
    value: BenchmarkRecord;
    indexes: { date: number; model: string; backend: string; profile: [string, string, string, string, string] };
  };
}

type UpgradeTx = IDBPTransaction<BenchDB, StoreNames<BenchDB>[], 'versionchange'>;

/** A version 1 record as version 2 stores it: what v1 did not keep is null, not guessed. */
export function migrateV1Record(r: BenchmarkRecordV1): BenchmarkRecord {
  return {
    id: `v1-${r.id ?? 0}`,
    runId: `v1-${r.id ?? 0}`,
    // an unreadable v1 date sorts first rather than dropping out of the date index
    date: Number.isFinite(Date.parse(r.timestamp)) ? Date.parse(r.timestamp) : 0,
    model: r.model,
    source: '',
    backend: r.backend,
    // version 1 predates quantized loading: every run used the checkpoint's own weights
    precision: 'original',
    browser: 'unknown',
    hardware: 'unknown',
    promptTokens: null,
    maxNewTokens: null,
    iterations: r.iterations,
    warmup: null,
    latencyMs: r.latency,
    ttftMs: null,
    decodeTokensPerSecond: null,
    prefillTokensPerSecond: null,
    tokensPerSecond: r.tokensPerSecond,
    itemsPerSecond: r.latency.mean > 0 ? 1000 / r.latency.mean : 0,
    gpuMs: null,
    gpuTiming: 'unknown',
    memory: null,
    samples: [],
    migratedFrom: 1,
  };
}

async function upgrade(db: IDBPDatabase<BenchDB>, oldVersion: number, tx: UpgradeTx): Promise<void> {
  if (oldVersion < 1) {
    db.createObjectStore('runs', { keyPath: 'id', autoIncrement: true }).createIndex('model', 'model');
  }
  if (oldVersion < 2) {
    const results = db.createObjectStore('results', { keyPath: 'id' });
    results.createIndex('date', 'date');
    results.createIndex('model', 'model');
    results.createIndex('backend', 'backend');
    results.createIndex('profile', ['model', 'backend', 'precision', 'browser', 'hardware']);
    // only IndexedDB requests are awaited here, so the versionchange transaction stays alive
    const old = await tx.objectStore('runs').getAll();
    for (const r of old) await tx.objectStore('results').put(migrateV1Record(r));
    db.deleteObjectStore('runs');
  }
}

/**
 * Benchmark results in IndexedDB (via idb), usable in pages and Workers. Open with
 * `BenchmarkStore.open()`; version 1 databases are migrated on open.
 */
export class BenchmarkStore {
  readonly name: string;
  #db: IDBPDatabase<BenchDB>;

  private constructor(name: string, db: IDBPDatabase<BenchDB>) {
    this.name = name;
    this.#db = db;
  }

  static async open(name: string = BENCH_DB_NAME): Promise<BenchmarkStore> {
    if (typeof indexedDB === 'undefined') throw new BenchmarkStorageError('this context has no IndexedDB');
    let store: BenchmarkStore | null = null;
    let upgradeError: unknown = null;
    const db = await new Promise<IDBPDatabase<BenchDB>>((resolve, reject) => {
      let gaveUp = false;
      openDB<BenchDB>(name, BENCH_DB_VERSION, {
        upgrade(db, oldVersion, _newVersion, tx) {
          upgrade(db, oldVersion, tx).catch((e: unknown) => {
            upgradeError = e;
            tx.abort();
          });
        },
        blocked: () => {
          gaveUp = true;
          reject(new BenchmarkStorageError(`IndexedDB "${name}" is open in another tab at an older version; close that tab and retry`));
        },
        // a newer tab wants to upgrade: let it
        blocking: () => store?.close(),
      }).then((opened) => {
        // the upgrade went through after we reported it blocked: nobody holds this connection
        if (gaveUp) opened.close();
        else resolve(opened);
      }, (err: unknown) => {
        const cause = upgradeError ?? err;
        const what = (err as { name?: string } | null)?.name === 'VersionError' ? `IndexedDB "${name}" was written by a newer version of this library` : `IndexedDB "${name}" could not be opened (${String(cause)})`;
        reject(new BenchmarkStorageError(what, { cause }));
      });
    });
    store = new BenchmarkStore(name, db);
    return store;
  }

  get version(): number {
    return this.#db.version;
  }

  async #write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const quota = (err as { name?: string } | null)?.name === 'QuotaExceededError';
      throw new BenchmarkStorageError(quota ? `storage is full while ${what}; delete old results` : `${what} failed (${String(err)})`, { cause: err });
    }
  }

  /** Stores a runner result under this browser and hardware profile; returns the stored record. */
  async add(result: GenerationBenchmark, profile: HardwareProfile, runId?: string): Promise<BenchmarkRecord> {
    const id = newId();
    const record = toRecord(result, profile, id, runId ?? id);
    await this.put(record);
    return record;
  }

  /** Stores (or replaces) a record as is. */
  async put(record: BenchmarkRecord): Promise<void> {
    await this.#write('saving a result', () => this.#db.put('results', record));
  }

  async get(id: string): Promise<BenchmarkRecord | undefined> {
    return this.#db.get('results', id);
  }

  /** Records matching every given field, oldest first (the date range uses the date index). */
  async query(filter: RecordFilter = {}): Promise<BenchmarkRecord[]> {
    const from = filter.from instanceof Date ? filter.from.getTime() : filter.from;
    const to = filter.to instanceof Date ? filter.to.getTime() : filter.to;
    if (from !== undefined && to !== undefined && from > to) return [];
    const range = from !== undefined && to !== undefined ? IDBKeyRange.bound(from, to)
      : from !== undefined ? IDBKeyRange.lowerBound(from)
      : to !== undefined ? IDBKeyRange.upperBound(to)
      : undefined;
    const rows = await this.#db.getAllFromIndex('results', 'date', range);
    return rows.filter((r) => matches(r, filter));
  }

  /** Statistics over the matching records, one row per configuration and profile. */
  async aggregate(filter: RecordFilter = {}): Promise<AggregateRow[]> {
    return aggregate(await this.query(filter));
  }

  async delete(id: string): Promise<void> {
    await this.#write('deleting a result', () => this.#db.delete('results', id));
  }

  /** Deletes the matching records; returns how many. */
  async deleteWhere(filter: RecordFilter): Promise<number> {
    const ids = (await this.query(filter)).map((r) => r.id);
    await this.#write('deleting results', async () => {
      const tx = this.#db.transaction('results', 'readwrite');
      await Promise.all([...ids.map((id) => tx.store.delete(id)), tx.done]);
    });
    return ids.length;
  }

  async clear(): Promise<void> {
    await this.#write('clearing results', () => this.#db.clear('results'));
  }

  async count(): Promise<number> {
    return this.#db.count('results');
  }

  close(): void {
    this.#db.close();
  }
}
