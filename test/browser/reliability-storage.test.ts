// Storage faults (issue 11, part 4): a full disk while caching (QuotaExceededError from the Cache API) must
// be a non-fatal accel-warning with code quota-exceeded while the model still loads, uncached, and answers
// exactly as a cached load does; an IndexedDB written by an older schema migrates on open; an upgrade
// blocked by another connection (another tab) that will not close is reported as a typed error in bounded
// time, and succeeds once that connection goes.
import { expect, fixture, html } from '@open-wc/testing';
import { openDB } from 'idb';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { BenchmarkStorageError, QuotaError, StorageError } from '../../engine/errors.js';
import { BENCH_DB_VERSION, BenchmarkStore, getEngine, type GenerationResult, type Model } from '../../engine/index.js';
import { IdbStore } from '../../engine/loader/cache.js';
import { configureElements } from '../../src/engine-client.js';
import type { AccelErrorDetail } from '../../src/events.js';

const SRC = `${location.origin}/__models/tiny-llama/`;
const WEIGHTS_PATH = '/__models/tiny-llama/model.safetensors';
const WEIGHTS_BYTES = 8794448;
const uniq = () => Math.random().toString(36).slice(2, 10);

async function weightDownloads(): Promise<number> {
  const c = (await (await fetch('/__counter')).json()) as { byPath: Record<string, number> };
  return c.byPath[WEIGHTS_PATH] ?? 0;
}

function bounded<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; timedOut?: true; ms: number }> {
  const t0 = performance.now();
  return Promise.race([
    p.then((value) => ({ value, ms: performance.now() - t0 }), (error: unknown) => ({ error, ms: performance.now() - t0 })),
    new Promise<{ timedOut: true; ms: number }>((r) => setTimeout(() => r({ timedOut: true, ms }), ms)),
  ]);
}

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

/** A version 1 benchmark database as the first release wrote it, with two runs. */
async function createV1BenchDb(name: string): Promise<void> {
  const db = await openDB(name, 1, {
    upgrade(d) {
      d.createObjectStore('runs', { keyPath: 'id', autoIncrement: true }).createIndex('model', 'model');
    },
  });
  const latency = { mean: 40, p50: 39, p90: 45, p95: 47, p99: 50, min: 35, max: 52, stddev: 3 };
  await db.add('runs', { model: 'tiny-llama', backend: 'webgpu', timestamp: '2025-01-02T03:04:05.000Z', iterations: 5, latency, tokensPerSecond: 25 });
  await db.add('runs', { model: 'tiny-gpt2', backend: 'wasm', timestamp: '2025-02-03T04:05:06.000Z', iterations: 3, latency: { ...latency, mean: 80 }, tokensPerSecond: 12.5 });
  db.close();
}

const table: string[] = [];

describe('storage faults', function () {
  this.timeout(120_000);
  before(async () => {
    configureElements({ engine: 'inline' });
    await getEngine().cache!.clear();
  });
  after(async () => {
    console.log(`storage fault table\n| fault | produced | recovery |\n|---|---|---|\n${table.join('\n')}`);
    await getEngine().cache!.clear();
  });

  it('QuotaExceededError while caching: <accel-model> fires accel-warning quota-exceeded, loads uncached and generates the same tokens as a cached load', async () => {
    await fetch('/__counter/reset');
    // a full disk as the Cache API reports it: every put rejects with a QuotaExceededError DOMException
    const realPut = Cache.prototype.put;
    let putsRefused = 0;
    Cache.prototype.put = function () {
      putsRefused++;
      return Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    };
    let uncached: Model;
    let a!: GenerationResult;
    const prompt = 'The little robot';
    const opts = { maxNewTokens: 8, temperature: 0 } as const;
    const warnings: AccelErrorDetail[] = [];
    const errors: AccelErrorDetail[] = [];
    try {
      const el = await fixture<AccelModel>(html`<accel-model src=${SRC} backend="cpu"></accel-model>`);
      el.addEventListener('accel-warning', (e) => warnings.push(e.detail));
      el.addEventListener('accel-error', (e) => errors.push(e.detail));
      uncached = (await el.load()) as Model;
      expect(el.status).to.equal('ready');
      await el.updateComplete;
      expect(el.shadowRoot!.querySelector('[part=status]')!.textContent).to.match(/is ready on cpu/);
      a = await uncached.generate(prompt, opts).result;
      el.remove();
    } finally {
      Cache.prototype.put = realPut;
    }
    expect(errors).to.deep.equal([]);
    expect(putsRefused).to.be.greaterThan(0);
    expect(warnings.length).to.equal(putsRefused);
    expect(new Set(warnings.map((w) => w.code))).to.deep.equal(new Set(['quota-exceeded']));
    const weights = warnings.find((w) => (w.error as QuotaError).bytes === WEIGHTS_BYTES);
    expect(weights, 'a warning names the weights and their size').to.not.equal(undefined);
    expect(weights!.error).to.be.instanceOf(QuotaError);
    expect(weights!.message).to.match(/Not enough storage to cache .*model\.safetensors \(8794448 bytes\); it was loaded without caching/);
    expect(await getEngine().cache!.list(), 'nothing cached').to.deep.equal([]);
    expect(await weightDownloads()).to.equal(1);

    // the uncached model (generated with above) answers exactly as a normally cached load of the same files
    // <accel-model> gave its copy back on removal: the next load is a new copy, this time cached
    const cached = await getEngine().load(SRC, { backend: 'cpu' });
    expect(cached).to.not.equal(uncached!);
    expect(await weightDownloads(), 'uncached: the weights are fetched again').to.equal(2);
    expect((await getEngine().cache!.list()).some((e) => e.id.endsWith('model.safetensors') && e.size === WEIGHTS_BYTES)).to.equal(true);
    const b = await cached.generate(prompt, opts).result;
    expect(a.tokens.length).to.be.greaterThan(1);
    expect(a.tokens).to.deep.equal(b.tokens);
    getEngine().unload(cached);
    table.push(`| Cache.put rejects QuotaExceededError (${putsRefused} files) | accel-warning quota-exceeded ×${warnings.length} (QuotaError.bytes ${WEIGHTS_BYTES} for the weights), no accel-error, accel-model ready | loaded uncached (cache empty), greedy ${a.tokens.length} tokens equal to a cached load's |`);
  });

  it('a version 1 benchmark database is migrated on open: the runs are kept as version 2 records', async () => {
    const name = `accel-bench-test-${uniq()}`;
    await createV1BenchDb(name);
    const store = await BenchmarkStore.open(name);
    try {
      expect(store.version).to.equal(BENCH_DB_VERSION);
      expect(await store.count()).to.equal(2);
      const rows = await store.query();
      expect(rows.map((r) => [r.model, r.backend, r.precision, r.iterations, r.tokensPerSecond, r.date, r.migratedFrom])).to.deep.equal([
        ['tiny-llama', 'webgpu', 'original', 5, 25, Date.parse('2025-01-02T03:04:05.000Z'), 1],
        ['tiny-gpt2', 'wasm', 'original', 3, 12.5, Date.parse('2025-02-03T04:05:06.000Z'), 1],
      ]);
      expect(rows[0]!.latencyMs.mean).to.equal(40);
      expect(rows[1]!.itemsPerSecond).to.equal(1000 / 80);
    } finally {
      store.close();
      await deleteDb(name);
    }
    // the old store is gone: opening again at v2 finds only the new one
    table.push('| benchmark DB at schema v1 (2 runs) | BenchmarkStore.open() upgrades to v2 | 2 records kept, fields mapped, what v1 lacked is null/unknown |');
  });

  it('an upgrade blocked by another connection that will not close is a typed error in bounded time, and works once it closes', async () => {
    const name = `accel-bench-test-${uniq()}`;
    await createV1BenchDb(name);
    // "another tab": a v1 connection that ignores versionchange and stays open
    const other = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    let versionchangeSeen = 0;
    other.onversionchange = () => versionchangeSeen++;
    const outcome = await bounded(BenchmarkStore.open(name), 10_000);
    expect(outcome.timedOut, 'the blocked open must not hang').to.equal(undefined);
    expect(outcome.error).to.be.instanceOf(BenchmarkStorageError);
    expect((outcome.error as BenchmarkStorageError).code).to.equal('storage-failed');
    expect((outcome.error as Error).message).to.match(/open in another tab at an older version; close that tab and retry/);
    expect(versionchangeSeen).to.equal(1);
    // the other tab closes: a retry upgrades, and the data made it through
    other.close();
    const store = await BenchmarkStore.open(name);
    try {
      expect(store.version).to.equal(BENCH_DB_VERSION);
      expect(await store.count()).to.equal(2);
    } finally {
      store.close();
      await deleteDb(name);
    }
    table.push(`| v1 benchmark DB held open by another connection ignoring versionchange | BenchmarkStorageError storage-failed after ${Math.round(outcome.ms)} ms | after the other connection closes, open() migrates, 2 records kept |`);
  });

  it('a model-cache database written by a newer schema is a typed StorageError', async () => {
    const name = `accel-models-test-${uniq()}`;
    const newer = await openDB(name, 99, { upgrade: (d) => void d.createObjectStore('future') });
    newer.close();
    const store = new IdbStore(name);
    const outcome = await bounded(store.list(), 10_000);
    expect(outcome.timedOut).to.equal(undefined);
    expect(outcome.error).to.be.instanceOf(StorageError);
    expect((outcome.error as StorageError).code).to.equal('storage-failed');
    expect((outcome.error as Error).message).to.match(/was written by a newer version of this library/);
    await deleteDb(name);
    // and a fresh database of the current schema round-trips an entry
    const fresh = new IdbStore(`accel-models-test-${uniq()}`);
    await fresh.put({ id: 'x', size: 3, date: 1 }, new Uint8Array([1, 2, 3]));
    const got = await fresh.get('x');
    expect([...new Uint8Array(await new Response(got!.stream()).arrayBuffer())]).to.deep.equal([1, 2, 3]);
    await fresh.clear();
    table.push('| model-cache IndexedDB at a newer version (99) | StorageError storage-failed "written by a newer version" in bounded time | (typed error only; a fresh DB at the current schema round-trips) |');
  });
});
