import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageError } from '../../engine/errors.js';
import { MemoryStore, ModelCache } from '../../engine/loader/cache.js';

test('without navigator.storage (Node): persisted() is null, persist() is a StorageError, usage() has no persisted', async () => {
  const cache = new ModelCache(new MemoryStore());
  assert.equal((globalThis as { navigator?: { storage?: unknown } }).navigator?.storage, undefined);
  assert.equal(await cache.persisted(), null);
  await assert.rejects(cache.persist(), (e: unknown) => e instanceof StorageError && e.code === 'storage-failed' && /navigator\.storage\.persist is missing/.test(e.message));
  const usage = await cache.usage();
  assert.deepEqual(usage, { bytes: 0, entries: 0, store: 'memory' });
});

test('with a StorageManager: persist() forwards the browser answer, usage() reports persisted, a throwing persisted() reads as unknown', async () => {
  const g = globalThis as { navigator?: unknown };
  const ownNavigator = g.navigator === undefined;
  if (ownNavigator) Object.defineProperty(g, 'navigator', { configurable: true, value: {} });
  const nav = g.navigator as Record<string, unknown>;
  let granted = false;
  let broken = false;
  Object.defineProperty(nav, 'storage', {
    configurable: true,
    value: {
      estimate: async () => ({ usage: 1234, quota: 10_000 }),
      persisted: async () => {
        if (broken) throw new Error('no');
        return granted;
      },
      persist: async () => (granted = true),
    },
  });
  try {
    const cache = new ModelCache(new MemoryStore());
    await cache.put({ id: 'a/b.bin', size: 3, date: 1 }, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await cache.usage(), { bytes: 3, entries: 1, store: 'memory', usage: 1234, quota: 10_000, persisted: false });
    assert.equal(await cache.persist(), true);
    assert.equal((await cache.usage()).persisted, true);
    broken = true;
    assert.equal(await cache.persisted(), null);
    assert.equal('persisted' in (await cache.usage()), false);
  } finally {
    delete nav.storage;
    if (ownNavigator) delete g.navigator;
  }
});
