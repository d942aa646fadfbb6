import { expect } from '@open-wc/testing';
import { AccelError, QuotaError, StorageError, TruncatedError } from '../../engine/errors.js';
import { AutoStore, CacheApiStore, IdbStore, ModelCache, type CacheEntryInfo, type CacheStore } from '../../engine/loader/cache.js';
import { ModelLoader, loadFiles, type FileSpec } from '../../engine/loader/loader.js';
import { FIXTURES } from '../fixtures/loader/fixture-data.js';

const origin = location.origin;
const base = `${origin}/__models/tiny/`;
const fast = { retries: 0, stallTimeoutMs: 400, retryDelayMs: 10 };
const weights: FileSpec = { name: 'weights.bin', sha256: FIXTURES['weights.bin']!.sha256 };
const truth = (name: string) => Array.from(FIXTURES[name]!.bytes());
const arr = (b: ArrayBuffer) => Array.from(new Uint8Array(b));
const uniq = () => Math.random().toString(36).slice(2);

async function counter(reset = false): Promise<{ total: number; byPath: Record<string, number> }> {
  return (await fetch(`/__counter${reset ? '/reset' : ''}`, { cache: 'no-store' })).json();
}

/** Same behaviour for both persistent stores. */
for (const kind of ['cache-api', 'indexeddb'] as const) {
  describe(`model cache on ${kind}`, () => {
    let name: string;
    let cache: ModelCache;
    beforeEach(() => {
      name = `accel-test-${kind}-${uniq()}`;
      cache = new ModelCache(kind === 'cache-api' ? new CacheApiStore(name) : new IdbStore(name));
    });
    afterEach(async () => {
      await cache.clear();
      if (kind === 'indexeddb') indexedDB.deleteDatabase(name);
    });

    it('second load comes from the cache with zero requests', async () => {
      await loadFiles(base, ['config.json', weights, 'empty.bin'], { ...fast, cache });
      await counter(true);
      const phases: string[] = [];
      const loader = new ModelLoader(base, { ...fast, cache, onProgress: (e) => phases.push(e.phase) });
      const [c, w, e] = await loader.loadAll(['config.json', weights, 'empty.bin']);
      expect((await counter()).total).to.equal(0);
      expect([c!.fromCache, w!.fromCache, e!.fromCache, e!.bytes.byteLength]).to.deep.equal([true, true, true, 0]);
      expect(arr(w!.bytes)).to.deep.equal(truth('weights.bin'));
      expect(arr(c!.bytes)).to.deep.equal(truth('config.json'));
      expect(new Set(phases)).to.deep.equal(new Set(['cached']));
    });

    it('ipfs files are keyed by CID, independent of the gateway', async () => {
      const { dir } = await (await fetch('/__ipfs/_fixtures')).json();
      await loadFiles(`ipfs://${dir}`, ['small.bin'], { ...fast, cache, gateways: [`${origin}/__ipfs`] });
      await counter(true);
      const out = await loadFiles(`ipfs://${dir}`, ['small.bin'], { ...fast, cache, gateways: ['https://gateway.invalid'] });
      expect(arr(out['small.bin']!)).to.deep.equal(truth('small.bin'));
      expect((await counter()).total).to.equal(0);
    });

    it('list, delete, clear, usage', async () => {
      const t0 = Date.now();
      await loadFiles(base, ['config.json', 'small.bin', weights], { ...fast, cache });
      const list = await cache.list();
      expect(list.map((e) => [e.id, e.size])).to.deep.equal([[`${base}config.json`, 96], [`${base}small.bin`, 700], [`${base}weights.bin`, 20_000]]);
      expect(list.every((e) => e.date >= t0 && e.date <= Date.now())).to.equal(true);
      expect(list.find((e) => e.id.endsWith('weights.bin'))!.sha256).to.equal(weights.sha256);
      const u = await cache.usage();
      expect([u.bytes, u.entries, u.store]).to.deep.equal([20_796, 3, kind]);
      expect(u.quota).to.be.a('number').and.greaterThan(0);
      expect(await cache.delete(`${base}small.bin`)).to.equal(true);
      expect(await cache.delete(`${base}small.bin`)).to.equal(false);
      expect((await cache.list()).length).to.equal(2);
      await counter(true);
      await loadFiles(base, ['small.bin'], { ...fast, cache });
      expect((await counter()).total).to.equal(1);
      await cache.clear();
      expect(await cache.list()).to.deep.equal([]);
      expect((await cache.usage()).bytes).to.equal(0);
    });

    it('an aborted download leaves nothing; a failed one neither', async () => {
      const ctrl = new AbortController();
      const p = loadFiles(`${origin}/__fault/chunk=2000,delay=30/__models/tiny/`, [weights], {
        ...fast,
        cache,
        signal: ctrl.signal,
        onProgress: (e) => e.loaded > 0 && ctrl.abort(),
      });
      let err: unknown;
      await p.catch((e) => (err = e));
      expect((err as Error).name).to.equal('AbortError');
      const trunc = await loadFiles(`${origin}/__fault/truncate=100/__models/tiny/`, [weights], { ...fast, cache }).catch((e) => e);
      expect(trunc).to.be.instanceOf(TruncatedError);
      expect(await cache.list()).to.deep.equal([]);
    });
  });
}

describe('quota and store failures', () => {
  /** The real Cache API store, with writes failing the way a full disk makes them fail. */
  class FullStore implements CacheStore {
    readonly kind = 'cache-api';
    constructor(private readonly inner: CacheStore, private readonly error: () => Error) {}
    get(id: string) { return this.inner.get(id); }
    async put(_info: CacheEntryInfo, _bytes: Uint8Array): Promise<void> { throw this.error(); }
    delete(id: string) { return this.inner.delete(id); }
    list() { return this.inner.list(); }
    clear() { return this.inner.clear(); }
  }

  it('QuotaExceededError → QuotaError warning, the load continues uncached', async () => {
    const name = `accel-test-quota-${uniq()}`;
    const cache = new ModelCache(new FullStore(new CacheApiStore(name), () => new DOMException('Quota exceeded', 'QuotaExceededError')));
    const warnings: AccelError[] = [];
    const out = await loadFiles(base, [weights, 'config.json'], { ...fast, cache, onWarning: (w) => warnings.push(w) });
    expect(arr(out['weights.bin']!)).to.deep.equal(truth('weights.bin'));
    expect(warnings.map((w) => w.constructor)).to.deep.equal([QuotaError, QuotaError]);
    expect(warnings[0]!.code).to.equal('quota-exceeded');
    expect((warnings[0] as QuotaError).bytes).to.equal(20_000);
    expect(await cache.list()).to.deep.equal([]);
    await caches.delete(name);
  });

  it('another store failure → StorageError warning, the load continues uncached', async () => {
    const name = `accel-test-fail-${uniq()}`;
    const cache = new ModelCache(new FullStore(new CacheApiStore(name), () => new TypeError('Unexpected internal error')));
    const warnings: AccelError[] = [];
    const out = await loadFiles(base, ['small.bin'], { ...fast, cache, onWarning: (w) => warnings.push(w) });
    expect(arr(out['small.bin']!)).to.deep.equal(truth('small.bin'));
    expect(warnings[0]).to.be.instanceOf(StorageError);
    await caches.delete(name);
  });

  it('an IndexedDB written by a newer schema → StorageError, the load continues uncached', async () => {
    const name = `accel-test-newer-${uniq()}`;
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(name, 7);
      req.onsuccess = () => (req.result.close(), resolve());
      req.onerror = () => reject(req.error);
    });
    const cache = new ModelCache(new IdbStore(name));
    let listed: unknown;
    await cache.list().catch((e) => (listed = e));
    expect(listed).to.be.instanceOf(StorageError);
    expect((listed as Error).message).to.contain('newer version');
    const warnings: AccelError[] = [];
    const out = await loadFiles(base, ['small.bin'], { ...fast, cache, onWarning: (w) => warnings.push(w) });
    expect(arr(out['small.bin']!)).to.deep.equal(truth('small.bin'));
    expect(warnings.map((w) => w.code)).to.deep.equal(['storage-failed', 'storage-failed']);
    indexedDB.deleteDatabase(name);
  });

  it('the default cache picks the Cache API', async () => {
    const store = new AutoStore();
    expect((await store.resolve()).kind).to.equal('cache-api');
    expect(ModelCache.default()).to.not.equal(null);
  });
});

describe('loader in a Worker (no DOM)', () => {
  const run = (job: object) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = new Worker(new URL('../fixtures/loader/worker.ts', import.meta.url), { type: 'module' });
      w.onmessage = (e) => (w.terminate(), resolve(e.data));
      w.onerror = (e) => (w.terminate(), reject(new Error(e.message)));
      w.postMessage(job);
    });

  it('loads, verifies and caches; the second load makes no request', async () => {
    await ModelCache.default()!.clear();
    const { dir } = await (await fetch('/__ipfs/_fixtures')).json();
    const job = { src: `ipfs://${dir}`, files: ['weights.bin', 'config.json'], gateways: [`${origin}/__ipfs`] };
    const first = await run(job);
    expect(first.ok, String(first.message)).to.equal(true);
    expect(first.hasDocument).to.equal(false);
    expect(first.store).to.equal('cache-api');
    expect(first.hashes).to.deep.equal({ 'weights.bin': weights.sha256, 'config.json': FIXTURES['config.json']!.sha256 });
    await counter(true);
    const second = await run(job);
    expect(second.ok).to.equal(true);
    expect(second.phases).to.deep.equal(['cached']);
    expect((await counter()).total).to.equal(0);
    const bad = await run({ src: `${origin}/__fault/status=500/__models/tiny/`, files: ['small.bin'] });
    expect([bad.ok, bad.name, bad.code]).to.deep.equal([false, 'HttpError', 'http-status']);
    await ModelCache.default()!.clear();
  });
});
