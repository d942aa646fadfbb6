import { expect } from '@open-wc/testing';
import { getEngine, type ModelLoadProgress } from '../../engine/index.js';

// engine.load() against the test server's copy of the shipped model: the cache fills with verified
// files, a second load reads them back without the network, and the cache can be listed and cleared.
const SRC = new URL('/models/tiny-llama/', location.href).href;

/**
 * Loads SRC on the cpu backend and measures the most bytes the backend held while `weights` (the weights file)
 * was still downloading: > 0 means tensors were uploaded as they arrived.
 */
async function loadWatchingUploads(weights: string, opts: { file?: string; onProgress?: (p: ModelLoadProgress) => void } = {}) {
  const engine = getEngine();
  const cpu = await engine.backend('cpu');
  const before = cpu.memory().allocatedBytes;
  let uploadedMidDownload = 0;
  const model = await engine.load(SRC, {
    backend: 'cpu',
    maxSequence: 64,
    ...(opts.file ? { file: opts.file } : {}),
    onProgress: (p) => {
      opts.onProgress?.(p);
      if (p.file === weights && p.phase === 'download' && p.fileTotal !== undefined && p.fileLoaded < p.fileTotal) {
        uploadedMidDownload = Math.max(uploadedMidDownload, cpu.memory().allocatedBytes - before);
      }
    },
  });
  return { model, uploadedMidDownload };
}

describe('engine.load() and engine.cache', () => {
  before(async () => {
    await getEngine().cache!.clear();
  });

  it('caches the files of a first load and serves the second from the cache', async () => {
    const engine = getEngine();
    const first: ModelLoadProgress[] = [];
    const { model: m1, uploadedMidDownload } = await loadWatchingUploads('model.safetensors', { onProgress: (p) => first.push(p) });
    // weights reach the backend while model.safetensors is still downloading
    expect(uploadedMidDownload).to.be.greaterThan(1e6);
    expect(first.some((p) => p.phase === 'download')).to.equal(true);
    expect(first.at(-1)!.phase).to.equal('ready');
    const loaded = first.filter((p) => p.phase === 'download').map((p) => p.loaded);
    expect(loaded).to.deep.equal([...loaded].sort((a, b) => a - b), 'bytes never go backwards');
    engine.unload(m1);

    const entries = await engine.cache!.list();
    const names = entries.map((e) => e.id.split('/').pop());
    expect(names).to.include.members(['config.json', 'tokenizer.json', 'model.safetensors']);
    const weights = entries.find((e) => e.id.endsWith('model.safetensors'))!;
    const size = Number((await fetch('/models/tiny-llama/model.safetensors', { method: 'HEAD' })).headers.get('content-length'));
    expect(weights.size).to.equal(size);
    expect(weights.sha256).to.match(/^[0-9a-f]{64}$/);
    expect((await engine.cache!.usage()).bytes).to.be.at.least(size);

    const second: ModelLoadProgress[] = [];
    const m2 = await engine.load(SRC, { backend: 'cpu', maxSequence: 64, onProgress: (p) => second.push(p) });
    expect(second.some((p) => p.phase === 'download')).to.equal(false);
    expect(second.some((p) => p.phase === 'cached')).to.equal(true);
    const r = await m2.generate('Love is', { maxNewTokens: 4, temperature: 0 }).result;
    expect(r.usage.completionTokens).to.be.greaterThan(0);
    engine.unload(m2);

    expect(await engine.cache!.delete(weights.id)).to.equal(true);
    expect((await engine.cache!.list()).some((e) => e.id === weights.id)).to.equal(false);
    await engine.cache!.clear();
    expect(await engine.cache!.list()).to.deep.equal([]);
  });

  it('a GGUF file uploads its weights while it downloads, and the model generates', async () => {
    const engine = getEngine();
    const { model: m, uploadedMidDownload } = await loadWatchingUploads('tiny-llama-q4_0.gguf', { file: 'tiny-llama-q4_0.gguf' });
    expect(uploadedMidDownload, 'bytes on the backend before the download ended').to.be.greaterThan(1e6);
    expect(m.format).to.equal('gguf');
    const r = await m.generate('Love is', { maxNewTokens: 4, temperature: 0 }).result;
    expect(r.usage.completionTokens).to.equal(4);
    engine.unload(m);
    await engine.cache!.clear();
  });

  it('an aborted load rejects with AbortError and leaves nothing in the cache', async () => {
    const engine = getEngine();
    await engine.cache!.clear();
    const controller = new AbortController();
    const run = engine.load(SRC, { backend: 'cpu', signal: controller.signal, onProgress: (p) => p.file === 'model.safetensors' && p.phase === 'download' && p.fileLoaded > 0 && controller.abort() });
    let error: unknown;
    try {
      await run;
    } catch (e) {
      error = e;
    }
    expect((error as Error)?.name).to.equal('AbortError');
    expect((await engine.cache!.list()).some((e) => e.id.endsWith('model.safetensors'))).to.equal(false);
  });
});
