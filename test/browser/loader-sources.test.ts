import { expect } from '@open-wc/testing';
import {
  AbortError,
  BadResponseError,
  FileNotFoundError,
  HttpError,
  IntegrityError,
  SourceError,
  StalledError,
  TruncatedError,
} from '../../engine/errors.js';
import { CacheApiStore, ModelCache } from '../../engine/loader/cache.js';
import { fetchRange, readAll } from '../../engine/loader/http.js';
import { ModelLoader, loadFiles, type FileSpec, type LoadProgress } from '../../engine/loader/loader.js';
import { createSource } from '../../engine/loader/sources.js';
import { FIXTURES } from '../fixtures/loader/fixture-data.js';

const origin = location.origin;
const base = `${origin}/__models/tiny/`;
const fast = { retries: 0, stallTimeoutMs: 400, retryDelayMs: 10 };
const weights: FileSpec = { name: 'weights.bin', sha256: FIXTURES['weights.bin']!.sha256 };
const truth = (name: string) => Array.from(FIXTURES[name]!.bytes());
const arr = (b: ArrayBuffer | Uint8Array) => Array.from(b instanceof Uint8Array ? b : new Uint8Array(b));

async function counter(reset = false): Promise<{ total: number; byPath: Record<string, number> }> {
  return (await fetch(`/__counter${reset ? '/reset' : ''}`, { cache: 'no-store' })).json();
}

async function rejectsWith<T extends Error>(p: Promise<unknown>, cls: abstract new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    expect(err, `${(err as Error)?.name}: ${(err as Error)?.message}`).to.be.instanceOf(cls);
    return err as T;
  }
  throw new Error(`expected ${cls.name}, but the promise resolved`);
}

function checkProgress(events: LoadProgress[], file: string, total: number): void {
  const mine = events.filter((e) => e.file === file);
  expect(mine.length).to.be.greaterThan(0);
  for (let i = 1; i < mine.length; i++) expect(mine[i]!.loaded).to.be.at.least(mine[i - 1]!.loaded);
  expect(mine.at(-1)!.loaded).to.equal(total);
  expect(mine.at(-1)!.total).to.equal(total);
}

describe('loader sources (browser)', () => {
  let ipfs: { dir: string; files: Record<string, string>; weightsPbLeaves: string };
  let cache: ModelCache;
  const cacheName = `accel-test-sources-${Math.random().toString(36).slice(2)}`;

  before(async () => {
    ipfs = await (await fetch('/__ipfs/_fixtures')).json();
    cache = new ModelCache(new CacheApiStore(cacheName));
  });
  afterEach(async () => {
    // Every failure below must leave the Cache API empty.
    expect(await cache.list()).to.deep.equal([]);
  });
  after(() => caches.delete(cacheName));

  it('https:// folder: bytes, sha256 and byte-accurate progress', async () => {
    const events: LoadProgress[] = [];
    const loader = new ModelLoader(base, { ...fast, cache: false, onProgress: (e) => events.push(e) });
    const [c, w] = await loader.loadAll(['config.json', weights]);
    expect(arr(c!.bytes)).to.deep.equal(truth('config.json'));
    expect(arr(w!.bytes)).to.deep.equal(truth('weights.bin'));
    checkProgress(events, 'weights.bin', 20_000);
    expect(events.filter((e) => e.file === 'weights.bin').map((e) => e.phase).at(-1)).to.equal('verify');
  });

  it('hf:owner/name@rev resolves under the configured hub only', async () => {
    await counter(true);
    const out = await loadFiles('hf:fixtures/tiny@main', ['config.json', weights], { ...fast, cache: false, hubBase: `${origin}/__hub` });
    expect(arr(out['weights.bin']!)).to.deep.equal(truth('weights.bin'));
    const paths = Object.keys((await counter()).byPath);
    expect(paths.every((p) => p.startsWith('/__hub/') || p.startsWith('/__hub-lfs/')), paths.join()).to.equal(true);
  });

  it('ipfs://CID through the gateway list, verified per block (raw and dag-pb leaves)', async () => {
    const events: LoadProgress[] = [];
    const out = await loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin', 'config.json'], { ...fast, cache: false, gateways: [`${origin}/__ipfs`], onProgress: (e) => events.push(e) });
    expect(arr(out['weights.bin']!)).to.deep.equal(truth('weights.bin'));
    expect(arr(out['config.json']!)).to.deep.equal(truth('config.json'));
    checkProgress(events, 'weights.bin', 20_000);
    const v0 = await loadFiles(`ipfs://${ipfs.weightsPbLeaves}`, [''], { ...fast, cache: false, gateways: [`${origin}/__ipfs`] });
    expect(arr(v0['']!)).to.deep.equal(truth('weights.bin'));
  });

  it('File, Blob and a dropped folder (FileList)', async () => {
    const dt = new DataTransfer();
    dt.items.add(new File([FIXTURES['config.json']!.bytes() as BlobPart], 'config.json'));
    dt.items.add(new File([FIXTURES['weights.bin']!.bytes() as BlobPart], 'weights.bin'));
    const out = await loadFiles(dt.files, ['config.json', weights]);
    expect(arr(out['weights.bin']!)).to.deep.equal(truth('weights.bin'));
    const blob = await loadFiles(new Blob([FIXTURES['small.bin']!.bytes() as BlobPart]), ['']);
    expect(arr(blob['']!)).to.deep.equal(truth('small.bin'));
    await rejectsWith(loadFiles(dt.files, ['tokenizer.json']), FileNotFoundError);
    expect(createSource(dt.files).cacheable).to.equal(false);
  });

  it('range requests: 206 slices, ignored Range, lying Content-Range, 416', async () => {
    const a = await fetchRange(`${base}weights.bin`, 4096, 8192, fast);
    expect(a.length).to.equal(4096);
    expect(arr(await readAll(a.stream, a.length))).to.deep.equal(truth('weights.bin').slice(4096, 8192));
    const b = await fetchRange(`${origin}/__fault/norange/__models/tiny/weights.bin`, 12_345, 12_400, fast);
    expect(arr(await readAll(b.stream, b.length))).to.deep.equal(truth('weights.bin').slice(12_345, 12_400));
    await rejectsWith(fetchRange(`${origin}/__fault/badrange/__models/tiny/weights.bin`, 10, 20, fast), BadResponseError);
    const e = await rejectsWith(fetchRange(`${base}small.bin`, 800, 900, fast), HttpError);
    expect(e.status).to.equal(416);
    const ipfsRange = await createSource(`ipfs://${ipfs.files['weights.bin']}`, { ...fast, gateways: [`${origin}/__ipfs`] }).open('', { range: { start: 3000, end: 9000 } });
    expect(arr(await readAll(ipfsRange.stream, ipfsRange.length))).to.deep.equal(truth('weights.bin').slice(3000, 9000));
  });

  describe('faults → typed errors, nothing cached', () => {
    const via = (spec: string) => `${origin}/__fault/${spec}/__models/tiny/`;
    const load = (src: string, extra: object = {}) => loadFiles(src, [weights], { ...fast, cache, ...extra });

    it('HTTP 404, 416, 500', async () => {
      const e404 = await rejectsWith(loadFiles(base, ['nope.bin'], { ...fast, cache }), HttpError);
      expect([e404.status, e404.code]).to.deep.equal([404, 'http-status']);
      expect(e404.url).to.equal(`${base}nope.bin`);
      expect((await rejectsWith(load(via('status=416')), HttpError)).status).to.equal(416);
      const e500 = await rejectsWith(load(via('status=500')), HttpError);
      expect([e500.status, e500.url]).to.deep.equal([500, `${via('status=500')}weights.bin`]);
    });

    it('500 twice then OK: retried with backoff (3 requests)', async () => {
      await counter(true);
      const out = await loadFiles(via(`fail=2,id=${Math.random()}`), [weights], { ...fast, retries: 3, cache: false });
      expect(arr(out['weights.bin']!)).to.deep.equal(truth('weights.bin'));
      expect((await counter()).total).to.equal(3);
    });

    it('truncated body with a wrong Content-Length', async () => {
      const e = await rejectsWith(load(via('truncate=3000')), TruncatedError);
      expect(e.expectedBytes).to.equal(20_000);
      // Chromium may discard bytes still in its pipe when the connection error surfaces.
      expect(e.receivedBytes).to.be.within(0, 3000);
    });

    it('truncated body with a self-consistent Content-Length', async () => {
      const e = await rejectsWith(load(via('truncate=3000,cl=right')), TruncatedError);
      expect(e.receivedBytes).to.equal(3000);
    });

    it('stalled stream → StalledError after the stall timeout', async () => {
      const t0 = performance.now();
      const e = await rejectsWith(load(via('stall=5000')), StalledError);
      expect(e.receivedBytes).to.equal(5000);
      expect(performance.now() - t0).to.be.below(3000);
    });

    it('bytes that do not match the sha256', async () => {
      const e = await rejectsWith(load(via('corrupt=19999')), IntegrityError);
      expect(e.expected).to.equal(weights.sha256);
    });

    it('a block that does not match its CID, named in the error', async () => {
      const leaf = ipfs.files['small.bin']!;
      const e = await rejectsWith(loadFiles(`ipfs://${ipfs.dir}`, ['small.bin'], { ...fast, cache, gateways: [`${origin}/__fault/corrupt=${leaf}/__ipfs`] }), IntegrityError);
      expect(e.cid).to.equal(leaf);
      expect(e.message).to.contain(leaf);
    });

    it('abort mid-download → AbortError, promptly', async () => {
      const ctrl = new AbortController();
      const t0 = performance.now();
      const p = load(via('chunk=1000,delay=40'), {
        signal: ctrl.signal,
        onProgress: (e: LoadProgress) => {
          if (e.loaded >= 2000) ctrl.abort();
        },
      });
      const e = await rejectsWith(p, AbortError);
      expect(e.name).to.equal('AbortError');
      expect(performance.now() - t0).to.be.below(1500);
    });

    it('names that try to leave the folder are refused before any request', async () => {
      await counter(true);
      await rejectsWith(loadFiles(base, ['../../package.json'], { ...fast, cache }), SourceError);
      await rejectsWith(loadFiles(base, ['http://example.com/x'], { ...fast, cache }), SourceError);
      expect((await counter()).total).to.equal(0);
    });
  });
});
