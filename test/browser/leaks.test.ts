import { expect, fixture, html } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { configureElements, getEngineClient } from '../../src/engine-client.js';
import { getEngine, type Backend, type MemoryInfo } from '../../engine/index.js';

// Load/unload the shipped tiny Llama 20 times and run 200 short generations on wasm, and 5 and 10 on webgpu
// (SwiftShader here takes ~4 s for one 2-token generation, so the full counts would take ~15 min): the backend's live bytes, reserved bytes, pooled buffers and buffers ever created come back to
// the baseline taken after one warm-up cycle (the first cycle fills the pipeline caches and the pool). Then
// 10 <accel-model> elements naming one src share one download and one loaded copy, in-thread and in the Worker.
const SRC = new URL('/models/tiny-llama/', location.href).href;
const COUNTS = { wasm: { loads: 20, generations: 200 }, webgpu: { loads: 5, generations: 10 } };
const TOKENS = 2;

const mem = (b: Backend): MemoryInfo => ({ ...b.memory() });
const engine = getEngine();

async function cycle(backend: 'webgpu' | 'wasm', generations: number): Promise<string> {
  const model = await engine.load(SRC, { backend, maxSequence: 32 });
  let text = '';
  for (let i = 0; i < generations; i++) text = (await model.generate('Once upon', { maxNewTokens: TOKENS, temperature: 0, ignoreEos: true }).result).text;
  expect(engine.unload(model)).to.equal(true);
  return text;
}

for (const backendName of ['webgpu', 'wasm'] as const) {
  describe(`leaks on ${backendName}`, function () {
    const { loads: LOADS, generations: GENERATIONS } = COUNTS[backendName];
    let backend: Backend;
    before(async function () {
      if (backendName === 'webgpu' && !(await engine.capabilities()).webgpu.adapter) {
        console.log('webgpu leaks skipped: this browser gives no WebGPU adapter');
        this.skip();
      }
      backend = await engine.backend(backendName);
    });

    it(`${LOADS} loads and unloads leave live bytes at the baseline and create no new buffers`, async function () {
      this.timeout(300_000);
      const warm = await cycle(backendName, 1);
      const base = mem(backend);
      expect(base.allocatedBytes).to.equal(0);
      for (let i = 0; i < LOADS; i++) expect(await cycle(backendName, 1)).to.equal(warm);
      const after = mem(backend);
      expect(engine.loadedModels()).to.have.length(0);
      expect({ allocated: after.allocatedBytes, reserved: after.reservedBytes, pooled: after.pooledBuffers, created: after.buffersCreated })
        .to.deep.equal({ allocated: base.allocatedBytes, reserved: base.reservedBytes, pooled: base.pooledBuffers, created: base.buffersCreated });
    });

    it(`${GENERATIONS} generations of ${TOKENS} tokens on one loaded model: bytes and buffers steady, text the same every time`, async function () {
      this.timeout(600_000);
      const model = await engine.load(SRC, { backend: backendName, maxSequence: 32 });
      const first = (await model.generate('Once upon', { maxNewTokens: TOKENS, temperature: 0, ignoreEos: true }).result).text;
      const loaded = mem(backend);
      const texts = new Set<string>();
      for (let i = 1; i < GENERATIONS; i++) {
        const r = await model.generate('Once upon', { maxNewTokens: TOKENS, temperature: 0, ignoreEos: true }).result;
        expect(r.usage.completionTokens).to.equal(TOKENS);
        texts.add(r.text);
      }
      const after = mem(backend);
      expect([...texts]).to.deep.equal([first]);
      expect({ allocated: after.allocatedBytes, reserved: after.reservedBytes, pooled: after.pooledBuffers, created: after.buffersCreated })
        .to.deep.equal({ allocated: loaded.allocatedBytes, reserved: loaded.reservedBytes, pooled: loaded.pooledBuffers, created: loaded.buffersCreated });
      engine.unload(model);
      expect(mem(backend).allocatedBytes).to.equal(0);
    });
  });
}

async function downloads(): Promise<number> {
  const c = (await (await fetch('/__counter', { cache: 'no-store' })).json()) as { byPath: Record<string, number> };
  return Object.entries(c.byPath).filter(([p]) => p.endsWith('/tiny-llama/model.safetensors')).reduce((n, [, v]) => n + v, 0);
}

for (const mode of ['inline', 'worker'] as const) {
  describe(`10 <accel-model> elements with one src (${mode} engine)`, () => {
    before(() => configureElements({ engine: mode }));
    after(() => configureElements({ engine: 'inline' }));

    it('share one engine, one download and one loaded copy; the copy is freed when the last one goes', async () => {
      // a URL of its own per mode, so the browser's HTTP cache holds nothing for it yet
      const at = (id: string) => `${location.origin}/__fault/id=${id}-${mode}/__models/tiny-llama/`;
      const src = at('share');
      // what one element alone fetches (the loader may use several range requests for one file)
      await engine.cache?.clear();
      await fetch('/__counter/reset', { cache: 'no-store' });
      const alone = await fixture<AccelModel>(html`<accel-model src=${at('alone')} backend="cpu"></accel-model>`);
      await alone.load();
      const single = await downloads();
      expect(single).to.be.greaterThan(0);
      alone.unload();
      await engine.cache?.clear();
      await fetch('/__counter/reset', { cache: 'no-store' });
      const root = await fixture<HTMLDivElement>(html`<div>${Array.from({ length: 10 }, (_, i) => html`<accel-model id=${`same-${mode}-${i}`} src=${src} backend="cpu"></accel-model>`)}</div>`);
      const els = [...root.querySelectorAll<AccelModel>('accel-model')];
      const client = getEngineClient();
      const models = await Promise.all(els.map((e) => e.load()));
      expect(getEngineClient()).to.equal(client);
      const fetched = await downloads();
      expect(fetched).to.equal(single);
      // one copy: the same handle in-thread, one entry in the engine
      if (mode === 'inline') {
        expect(engine.loadedModels()).to.have.length(1);
        expect(new Set(models).size).to.equal(1);
      } else {
        expect(await (client as unknown as { loadedModels(): Promise<unknown[]> }).loadedModels()).to.have.length(1);
      }
      // an 11th element after the first ten finished loading adds no download
      const late = document.createElement('accel-model') as AccelModel;
      late.setAttribute('src', src);
      late.setAttribute('backend', 'cpu');
      root.append(late);
      await late.load();
      expect(await downloads()).to.equal(fetched);
      for (const e of [...els, late].slice(0, 10)) e.unload();
      if (mode === 'inline') expect(engine.loadedModels()).to.have.length(1);
      late.unload();
      if (mode === 'inline') expect(engine.loadedModels()).to.have.length(0);
      else expect(await (client as unknown as { loadedModels(): Promise<unknown[]> }).loadedModels()).to.have.length(0);
    });
  });
}
