import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced } from 'ipfs-unixfs-importer/layout';
import { createLoaderTestServer } from '../server/middleware.mjs';
import { FIXTURES } from '../fixtures/loader/fixture-data.js';
import {
  AbortError,
  BadResponseError,
  FileNotFoundError,
  HttpError,
  IntegrityError,
  QuotaError,
  SourceError,
  StalledError,
  TruncatedError,
} from '../../engine/errors.js';
import { fetchRange, readAll } from '../../engine/loader/http.js';
import { ModelLoader, loadFiles, type LoadProgress } from '../../engine/loader/loader.js';
import { MemoryStore, ModelCache, type CacheEntryInfo } from '../../engine/loader/cache.js';
import { createSource } from '../../engine/loader/sources.js';

let origin = '';
let close: () => Promise<void>;
let ipfs: { dir: string; files: Record<string, string>; weightsPbLeaves: string };

const fast = { retries: 0, stallTimeoutMs: 400, retryDelayMs: 10, cache: false as const };
const bytesOf = (name: string) => FIXTURES[name]!.bytes();
const same = (a: ArrayBuffer | Uint8Array, b: Uint8Array) => assert.deepEqual(new Uint8Array(a instanceof Uint8Array ? a : a), b);

async function counter(reset = false): Promise<{ total: number; byPath: Record<string, number> }> {
  return (await fetch(`${origin}/__counter${reset ? '/reset' : ''}`)).json();
}

async function rejects<T extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return err as T;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

before(async () => {
  ({ origin, close } = await createLoaderTestServer());
  ipfs = await (await fetch(`${origin}/__ipfs/_fixtures`)).json();
});
after(() => close());

describe('http source', () => {
  test('loads a folder file byte-exact with monotone progress ending at total', async () => {
    const events: LoadProgress[] = [];
    const loader = new ModelLoader(`${origin}/__models/tiny/`, { ...fast, onProgress: (e) => events.push(e) });
    const f = await loader.load({ name: 'weights.bin', sha256: FIXTURES['weights.bin']!.sha256 });
    same(f.bytes, bytesOf('weights.bin'));
    assert.equal(f.sha256, FIXTURES['weights.bin']!.sha256);
    const dl = events.filter((e) => e.phase === 'download');
    for (let i = 1; i < dl.length; i++) assert.ok(dl[i]!.loaded >= dl[i - 1]!.loaded);
    assert.equal(dl.at(-1)!.loaded, 20_000);
    assert.ok(events.every((e) => e.total === 20_000));
    assert.deepEqual(events.map((e) => e.phase).filter((p, i, a) => a.indexOf(p) === i), ['download', 'verify']);
  });

  test('loadFiles returns every file by name, the empty file included', async () => {
    const out = await loadFiles(`${origin}/__models/tiny`, ['config.json', 'empty.bin', 'small.bin'], fast);
    same(out['config.json']!, bytesOf('config.json'));
    assert.equal(out['empty.bin']!.byteLength, 0);
    same(out['small.bin']!, bytesOf('small.bin'));
  });

  test('fetchRange returns exactly [start, end) from a 206', async () => {
    const b = await fetchRange(`${origin}/__models/tiny/weights.bin`, 1000, 1500, fast);
    assert.equal(b.length, 500);
    assert.equal(b.fileSize, 20_000);
    same(await readAll(b.stream, b.length), bytesOf('weights.bin').subarray(1000, 1500));
  });

  test('a server that ignores Range (200) still yields the right slice', async () => {
    const b = await fetchRange(`${origin}/__fault/norange/__models/tiny/weights.bin`, 19_000, 19_100, fast);
    same(await readAll(b.stream, b.length), bytesOf('weights.bin').subarray(19_000, 19_100));
  });

  test('a lying Content-Range is refused', async () => {
    await rejects(fetchRange(`${origin}/__fault/badrange/__models/tiny/weights.bin`, 100, 200, fast), BadResponseError);
  });

  test('a range past the end → HttpError 416 with status and URL', async () => {
    const err = await rejects(fetchRange(`${origin}/__models/tiny/small.bin`, 5000, 6000, fast), HttpError);
    assert.equal(err.status, 416);
    assert.match(err.url, /small\.bin$/);
  });

  test('HTTP 404 and 500 become HttpError', async () => {
    const e404 = await rejects(loadFiles(`${origin}/__models/tiny/`, ['missing.bin'], fast), HttpError);
    assert.equal(e404.status, 404);
    assert.equal(e404.code, 'http-status');
    const e500 = await rejects(loadFiles(`${origin}/__fault/status=500/__models/tiny/`, ['small.bin'], fast), HttpError);
    assert.equal(e500.status, 500);
    const e416 = await rejects(loadFiles(`${origin}/__fault/status=416/__models/tiny/`, ['small.bin'], fast), HttpError);
    assert.equal(e416.status, 416);
  });

  test('5xx is retried with backoff and then succeeds', async () => {
    await counter(true);
    const out = await loadFiles(`${origin}/__fault/fail=2,id=retry1/__models/tiny/`, ['small.bin'], { ...fast, retries: 3 });
    same(out['small.bin']!, bytesOf('small.bin'));
    assert.equal((await counter()).total, 3);
  });

  test('a truncated body (wrong Content-Length) → TruncatedError', async () => {
    const err = await rejects(loadFiles(`${origin}/__fault/truncate=5000/__models/tiny/`, ['weights.bin'], fast), TruncatedError);
    assert.equal(err.expectedBytes, 20_000);
    assert.equal(err.receivedBytes, 5000);
  });

  test('a truncated body (consistent short Content-Length) → TruncatedError', async () => {
    const err = await rejects(loadFiles(`${origin}/__fault/truncate=5000,cl=right/__models/tiny/`, ['weights.bin'], fast), TruncatedError);
    assert.equal(err.receivedBytes, 5000);
  });

  test('with retries, a cut connection resumes from the last byte instead of restarting', async () => {
    await counter(true);
    const out = await loadFiles(`${origin}/__fault/truncate=6000/__models/tiny/`, [{ name: 'weights.bin', sha256: FIXTURES['weights.bin']!.sha256 }], { ...fast, retries: 4 });
    same(out['weights.bin']!, bytesOf('weights.bin'));
    assert.equal((await counter()).total, 4); // 6000 + 6000 + 6000 + 2000 bytes
  });

  test('a stalled stream → StalledError after the stall timeout', async () => {
    const t0 = Date.now();
    const err = await rejects(loadFiles(`${origin}/__fault/stall=3000/__models/tiny/`, ['weights.bin'], fast), StalledError);
    assert.equal(err.receivedBytes, 3000);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  test('wrong bytes for a sha256 → IntegrityError', async () => {
    const err = await rejects(
      loadFiles(`${origin}/__fault/corrupt=1234/__models/tiny/`, [{ name: 'weights.bin', sha256: FIXTURES['weights.bin']!.sha256 }], fast),
      IntegrityError,
    );
    assert.equal(err.expected, FIXTURES['weights.bin']!.sha256);
  });

  test('a body without Content-Length loads; total is unknown until the end', async () => {
    const events: LoadProgress[] = [];
    const out = await loadFiles(`${origin}/__fault/nolength,norange/__models/tiny/`, ['weights.bin'], { ...fast, onProgress: (e) => events.push(e) });
    same(out['weights.bin']!, bytesOf('weights.bin'));
    assert.equal(events[0]!.total, undefined);
    assert.deepEqual(events.at(-1), { file: 'weights.bin', loaded: 20_000, total: 20_000, phase: 'download' });
  });

  test('abort mid-download rejects promptly with AbortError', async () => {
    const ctrl = new AbortController();
    let seen = 0;
    const t0 = Date.now();
    const p = loadFiles(`${origin}/__fault/chunk=1000,delay=50/__models/tiny/`, ['weights.bin'], {
      ...fast,
      signal: ctrl.signal,
      onProgress: (e) => {
        if (e.loaded > 0 && seen++ === 0) ctrl.abort();
      },
    });
    const err = await rejects(p, AbortError);
    assert.equal(err.name, 'AbortError');
    assert.ok(Date.now() - t0 < 800, `took ${Date.now() - t0} ms`);
  });

  test('onChunk streams contiguous bytes, from the network and from the cache', async () => {
    const cache = new ModelCache(new MemoryStore());
    for (const expectCached of [false, true]) {
      const parts: Uint8Array[] = [];
      let next = 0;
      const f = await new ModelLoader(`${origin}/__fault/chunk=3000/__models/tiny/`, { ...fast, cache }).load('weights.bin', {
        onChunk: (c) => {
          assert.equal(c.file, 'weights.bin');
          assert.equal(c.offset, next);
          next += c.bytes.byteLength;
          parts.push(c.bytes.slice());
        },
      });
      assert.equal(f.fromCache, expectCached);
      assert.equal(next, 20_000);
      same(Buffer.concat(parts), bytesOf('weights.bin'));
    }
  });

  test('an announced length of 1 TiB is not allocated up front; the short body is a TruncatedError', async () => {
    const fakeFetch = (async () =>
      new Response(new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1, 2, 3])), c.close()) }), {
        status: 200,
        headers: { 'content-length': String(2 ** 40) },
      })) as typeof fetch;
    const err = await rejects(loadFiles('https://models.example/m/', ['w.bin'], { ...fast, fetch: fakeFetch }), TruncatedError);
    assert.deepEqual([err.expectedBytes, err.receivedBytes], [2 ** 40, 3]);
  });

  test('file names cannot leave the configured folder', async () => {
    await counter(true);
    for (const bad of ['../secret', 'https://elsewhere.example/x', '/etc/passwd', 'a//b']) {
      await rejects(loadFiles(`${origin}/__models/tiny/`, [bad], fast), SourceError);
    }
    assert.equal((await counter()).total, 0);
  });
});

describe('hf: source', () => {
  test('resolves against the configured hub, follows the LFS redirect and lists sha256s', async () => {
    await counter(true);
    const loader = new ModelLoader('hf:fixtures/tiny', { ...fast, hubBase: `${origin}/__hub` });
    assert.equal(loader.source.resolve('config.json'), `${origin}/__hub/fixtures/tiny/resolve/main/config.json`);
    const listing = await loader.list();
    const w = listing.find((f) => f.name === 'weights.bin')!;
    assert.equal(w.sha256, FIXTURES['weights.bin']!.sha256);
    assert.equal(w.size, 20_000);
    const f = await loader.load(w);
    same(f.bytes, bytesOf('weights.bin'));
    const c = await counter();
    assert.ok(Object.keys(c.byPath).every((p) => p.startsWith('/__hub')), JSON.stringify(c.byPath));
    assert.equal(c.byPath['/__hub-lfs/fixtures/tiny/weights.bin'], 1);
  });

  test('a pinned revision is part of the URL and an unknown one is a 404', async () => {
    const rev = 'a'.repeat(40);
    const out = await loadFiles(`hf:fixtures/tiny@${rev}`, ['config.json'], { ...fast, hubBase: `${origin}/__hub` });
    same(out['config.json']!, bytesOf('config.json'));
    const err = await rejects(loadFiles('hf:fixtures/tiny@nope', ['config.json'], { ...fast, hubBase: `${origin}/__hub` }), HttpError);
    assert.equal(err.status, 404);
  });
});

describe('ipfs:// source', () => {
  const gw = () => [`${origin}/__ipfs`];

  test('the server fixtures carry the CIDs an independent import computes', async () => {
    const store = { put: async (cid: unknown) => cid };
    let cid = '';
    for await (const e of importer([{ content: bytesOf('weights.bin') }], store as never, {
      chunker: fixedSize({ chunkSize: 1024 }), layout: balanced({ maxChildrenPerNode: 4 }), cidVersion: 1, rawLeaves: true,
    })) cid = e.cid.toString();
    assert.equal(cid, ipfs.files['weights.bin']);
  });

  test('directory CID: every file verified block by block and byte-exact', async () => {
    await counter(true);
    const out = await loadFiles(`ipfs://${ipfs.dir}`, ['config.json', 'weights.bin', 'small.bin', 'empty.bin'], { ...fast, gateways: gw() });
    for (const n of ['config.json', 'weights.bin', 'small.bin', 'empty.bin']) same(out[n]!, bytesOf(n));
    const c = await counter();
    assert.ok(Object.keys(c.byPath).every((p) => p.startsWith('/__ipfs/ipfs/')));
    // 20 leaves of 1 KiB + 5 + 2 + 1 interior nodes for weights.bin, proof that it walked the tree.
    assert.ok(c.byPath[`/__ipfs/ipfs/${ipfs.files['weights.bin']}`] === 1 && c.total > 25, JSON.stringify(c.total));
  });

  test('CIDv0 with dag-pb leaves, and a single raw block', async () => {
    const a = await loadFiles(`ipfs://${ipfs.weightsPbLeaves}`, [''], { ...fast, gateways: gw() });
    same(a['']!, bytesOf('weights.bin'));
    const b = await loadFiles(`ipfs://${ipfs.files['small.bin']}`, [''], { ...fast, gateways: gw() });
    same(b['']!, bytesOf('small.bin'));
  });

  test('a byte range of a UnixFS file fetches only the blocks it needs', async () => {
    const src = createSource(`ipfs://${ipfs.files['weights.bin']}`, { ...fast, gateways: gw() });
    await counter(true);
    const o = await src.open('', { range: { start: 5000, end: 7500 } });
    assert.equal(o.length, 2500);
    same(await readAll(o.stream, o.length), bytesOf('weights.bin').subarray(5000, 7500));
    assert.ok((await counter()).total < 12);
  });

  test('one corrupted block → IntegrityError naming that CID', async () => {
    // Find a leaf CID: walk the root block's links through the gateway.
    const dagPb = await import('@ipld/dag-pb');
    const rootBlock = new Uint8Array(await (await fetch(`${origin}/__ipfs/ipfs/${ipfs.files['weights.bin']}?format=raw`)).arrayBuffer());
    const child = dagPb.decode(rootBlock).Links[1]!.Hash.toString();
    const err = await rejects(
      loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin'], { ...fast, gateways: [`${origin}/__fault/corrupt=${child}/__ipfs`] }),
      IntegrityError,
    );
    assert.equal(err.cid, child);
    assert.match(err.message, new RegExp(child));
  });

  test('the next gateway is tried when one lies or fails', async () => {
    const out = await loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin'], {
      ...fast,
      gateways: [`${origin}/__fault/corrupt=all/__ipfs`, `${origin}/__fault/status=500/__ipfs`, `${origin}/__ipfs`],
    });
    same(out['weights.bin']!, bytesOf('weights.bin'));
  });

  test('a stalled gateway is skipped once, then the working one is preferred', async () => {
    await counter(true);
    const out = await loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin'], { ...fast, gateways: [`${origin}/__fault/stall=0/__ipfs`, `${origin}/__ipfs`] });
    same(out['weights.bin']!, bytesOf('weights.bin'));
    const stalled = Object.entries((await counter()).byPath).filter(([p]) => p.startsWith('/__fault/'));
    assert.equal(stalled.length, 1, JSON.stringify(stalled));
  });

  test('a name missing from the directory → FileNotFoundError; no gateway → SourceError', async () => {
    await rejects(loadFiles(`ipfs://${ipfs.dir}`, ['nope.bin'], { ...fast, gateways: gw() }), FileNotFoundError);
    await rejects(loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin'], fast), SourceError);
  });
});

describe('cache with an injected store (Node has no Cache API)', () => {
  test('second load is served from cache with zero requests', async () => {
    const cache = new ModelCache(new MemoryStore());
    const base = `${origin}/__models/tiny/`;
    await loadFiles(base, ['config.json', 'weights.bin'], { ...fast, cache });
    await counter(true);
    const phases: string[] = [];
    const loader = new ModelLoader(base, { ...fast, cache, onProgress: (e) => phases.push(e.phase) });
    const [c, w] = await loader.loadAll(['config.json', 'weights.bin']);
    assert.equal((await counter()).total, 0);
    assert.ok(c!.fromCache && w!.fromCache);
    same(w!.bytes, bytesOf('weights.bin'));
    assert.ok(phases.every((p) => p === 'cached'));
    const list = await cache.list();
    assert.deepEqual(list.map((e) => [e.id, e.size]), [[`${base}config.json`, 96], [`${base}weights.bin`, 20_000]]);
    assert.equal((await cache.usage()).bytes, 20_096);
  });

  test('failed, corrupt and aborted downloads leave nothing in the cache', async () => {
    const cache = new ModelCache(new MemoryStore());
    const sha256 = FIXTURES['weights.bin']!.sha256;
    await rejects(loadFiles(`${origin}/__fault/truncate=100/__models/tiny/`, ['weights.bin'], { ...fast, cache }), TruncatedError);
    await rejects(loadFiles(`${origin}/__fault/corrupt=5/__models/tiny/`, [{ name: 'weights.bin', sha256 }], { ...fast, cache }), IntegrityError);
    await rejects(loadFiles(`${origin}/__fault/stall=10/__models/tiny/`, ['weights.bin'], { ...fast, cache }), StalledError);
    await rejects(loadFiles(`${origin}/__fault/status=500/__models/tiny/`, ['weights.bin'], { ...fast, cache }), HttpError);
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 60);
    await rejects(loadFiles(`${origin}/__fault/chunk=1000,delay=30/__models/tiny/`, ['weights.bin'], { ...fast, cache, signal: ctrl.signal }), AbortError);
    await rejects(loadFiles(`ipfs://${ipfs.dir}`, ['weights.bin'], { ...fast, cache, gateways: [`${origin}/__fault/corrupt=all/__ipfs`] }), IntegrityError);
    assert.deepEqual(await cache.list(), []);
  });

  test('QuotaExceededError → QuotaError warning, bytes still returned, nothing cached', async () => {
    class FullStore extends MemoryStore {
      override async put(_info: CacheEntryInfo, _bytes: Uint8Array): Promise<void> {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      }
    }
    const cache = new ModelCache(new FullStore());
    const warnings: Error[] = [];
    const out = await loadFiles(`${origin}/__models/tiny/`, ['weights.bin'], { ...fast, cache, onWarning: (w) => warnings.push(w) });
    same(out['weights.bin']!, bytesOf('weights.bin'));
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0] instanceof QuotaError);
    assert.equal((warnings[0] as QuotaError).bytes, 20_000);
    assert.deepEqual(await cache.list(), []);
  });

  test('a cached entry whose hash disagrees with the pinned one is refetched', async () => {
    const cache = new ModelCache(new MemoryStore());
    const base = `${origin}/__models/tiny/`;
    await loadFiles(base, ['small.bin'], { ...fast, cache });
    await counter(true);
    const other = 'f'.repeat(64);
    await rejects(loadFiles(base, [{ name: 'small.bin', sha256: other }], { ...fast, cache }), IntegrityError);
    assert.equal((await counter()).total, 1);
    assert.deepEqual(await cache.list(), []);
  });

  test('delete and clear', async () => {
    const cache = new ModelCache(new MemoryStore());
    const base = `${origin}/__models/tiny/`;
    await loadFiles(base, ['small.bin', 'config.json'], { ...fast, cache });
    assert.equal(await cache.delete(`${base}small.bin`), true);
    assert.deepEqual((await cache.list()).map((e) => e.id), [`${base}config.json`]);
    await cache.clear();
    assert.deepEqual(await cache.usage(), { bytes: 0, entries: 0, store: 'memory' });
  });

  test('under Node the default is no cache at all', () => {
    assert.equal(ModelCache.default(), null);
    assert.equal(new ModelLoader(`${origin}/__models/tiny/`).cache, null);
  });
});
