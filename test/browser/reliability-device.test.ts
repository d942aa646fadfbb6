// Device faults (issue 11, part 3): the WebGPU device destroyed in the middle of a generation, and
// allocations the device cannot give. A lost device must end the call with DeviceLostError (never a hang),
// fire accel-error code device-lost on the elements, and the next request must run on a new device with the
// weights read from the model cache (the test server counts the downloads). Out of memory must be an
// OutOfMemoryError naming the bytes asked for.
import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import '../../components/accel-stream/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import type { AccelStream } from '../../components/accel-stream/accel-stream.js';
import { createWebGPUBackendInternal, WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { DeviceLostError, OutOfMemoryError } from '../../engine/errors.js';
import { getEngine, Model, type GenerationResult } from '../../engine/index.js';
import { configureElements } from '../../src/engine-client.js';
import type { AccelErrorDetail } from '../../src/events.js';

const SRC = `${location.origin}/__models/tiny-llama/`;
const WEIGHTS_PATH = '/__models/tiny-llama/model.safetensors';
const PROMPT = 'Once upon a time';
const GREEDY = { maxNewTokens: 10, temperature: 0 } as const;

async function weightDownloads(): Promise<number> {
  const c = (await (await fetch('/__counter')).json()) as { byPath: Record<string, number> };
  return c.byPath[WEIGHTS_PATH] ?? 0;
}

async function hasWebGPU(): Promise<string | null> {
  if (!('gpu' in navigator)) return 'navigator.gpu is missing';
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? null : 'no WebGPU adapter';
}

/** Resolves with the outcome of `p`, or 'timed out' after `ms`: a hang shows as a failed assertion. */
function bounded<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; timedOut?: true }> {
  return Promise.race([
    p.then((value) => ({ value }), (error: unknown) => ({ error })),
    new Promise<{ timedOut: true }>((r) => setTimeout(() => r({ timedOut: true }), ms)),
  ]);
}

const table: string[] = [];

describe('device loss and out-of-memory on webgpu', function () {
  this.timeout(180_000);
  let skip: string | null = null;

  before(async function () {
    skip = await hasWebGPU();
    if (skip) {
      console.log(`reliability-device: skipped, ${skip}`);
      this.skip();
    }
    configureElements({ engine: 'inline' });
    await getEngine().cache!.clear();
  });
  after(async () => {
    console.log(`device fault table\n| fault | produced | recovery |\n|---|---|---|\n${table.join('\n')}`);
    if (!skip) await getEngine().cache?.clear();
  });

  it('engine API: generate() rejects with DeviceLostError when the device is destroyed mid-generation; the next load() makes a new device and reads the cache', async () => {
    const engine = getEngine();
    await fetch('/__counter/reset');
    const model = await engine.load(SRC, { backend: 'webgpu' });
    const backend = model.backend as WebGPUBackend;
    expect(backend).to.be.instanceOf(WebGPUBackend);
    const baseline = await model.generate(PROMPT, GREEDY).result;
    expect(baseline.tokens.length).to.be.greaterThan(1);
    expect(await weightDownloads()).to.equal(1);

    const gen = model.generate(PROMPT, GREEDY);
    let seen = 0;
    const consumed = (async () => {
      for await (const ev of gen) {
        seen = ev.index + 1;
        if (ev.index === 0) backend.device.destroy();
      }
      return gen.result;
    })();
    const outcome = await bounded(consumed, 30_000);
    expect(outcome.timedOut, 'generation must not hang').to.equal(undefined);
    expect(outcome.error).to.be.instanceOf(DeviceLostError);
    expect((outcome.error as DeviceLostError).code).to.equal('device-lost');
    expect(seen).to.be.lessThan(GREEDY.maxNewTokens);
    expect(await bounded(backend.lost, 5000)).to.have.property('value').that.is.instanceOf(DeviceLostError);

    // the lost model and backend: every further call is a DeviceLostError, at once
    const again = await bounded(model.generate(PROMPT, GREEDY).result, 10_000);
    expect(again.error).to.be.instanceOf(DeviceLostError);
    expect(() => backend.upload(new Float32Array(4), [4])).to.throw(DeviceLostError);
    expect(engine.loadedModels()).to.not.include(model);

    const phases = new Set<string>();
    const reloaded = await engine.load(SRC, { backend: 'webgpu', onProgress: (p) => phases.add(`${p.file}:${p.phase}`) });
    expect(reloaded).to.not.equal(model);
    expect(reloaded.backend).to.not.equal(backend);
    expect(await engine.backend('webgpu')).to.equal(reloaded.backend);
    expect(phases.has('model.safetensors:cached'), [...phases].join(', ')).to.equal(true);
    expect(await weightDownloads(), 'weights come from the cache, not the network').to.equal(1);
    const after = await reloaded.generate(PROMPT, GREEDY).result;
    expect(after.tokens).to.deep.equal(baseline.tokens);
    expect(after.text).to.equal(baseline.text);
    engine.unload(reloaded);
    table.push(`| device.destroy() during engine generate() (after token ${seen}) | DeviceLostError (device-lost), later calls on the old model too | load() → new backend, weights from cache (1 download in all), same ${after.tokens.length} greedy tokens |`);
  });

  it('<accel-model> + <accel-stream>: accel-error device-lost on both, the next generation reloads from the cache and gives the same greedy text', async () => {
    await getEngine().cache!.clear();
    await fetch('/__counter/reset');
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="dev-m" src=${SRC} backend="webgpu"></accel-model>
      <accel-stream model="dev-m" max-tokens=${String(GREEDY.maxNewTokens)} temperature="0"></accel-stream>
    </div>`);
    const modelEl = root.querySelector('accel-model') as AccelModel;
    const stream = root.querySelector('accel-stream') as AccelStream;
    const baseline = await stream.generate(PROMPT);
    const first = modelEl.model as Model;
    expect(first).to.be.instanceOf(Model);
    expect(await weightDownloads()).to.equal(1);

    const modelErrors: AccelErrorDetail[] = [];
    const streamErrors: AccelErrorDetail[] = [];
    modelEl.addEventListener('accel-error', (e) => { if (e.target === modelEl) modelErrors.push(e.detail); });
    stream.addEventListener('accel-error', (e) => { if (e.target === stream) streamErrors.push(e.detail); });
    stream.addEventListener('accel-token', () => (first.backend as WebGPUBackend).device.destroy(), { once: true });
    const outcome = await bounded(stream.generate(PROMPT), 30_000);
    expect(outcome.timedOut, 'generation must not hang').to.equal(undefined);
    expect((outcome.error as { code?: string }).code).to.equal('device-lost');
    await new Promise((r) => setTimeout(r, 50));
    expect(streamErrors.map((d) => d.code)).to.deep.equal(['device-lost']);
    expect(modelErrors.map((d) => d.code)).to.deep.equal(['device-lost']);
    expect(modelEl.status).to.equal('error');
    expect(modelEl.model).to.equal(null);
    await stream.updateComplete;
    expect(stream.shadowRoot!.textContent).to.match(/GPU device was lost/);

    const ready = oneEvent(modelEl, 'accel-ready');
    const after: GenerationResult = await stream.generate(PROMPT);
    await ready;
    const second = modelEl.model as Model;
    expect(second).to.not.equal(first);
    expect(second.backend).to.not.equal(first.backend);
    expect(modelEl.status).to.equal('ready');
    expect(await weightDownloads(), 'weights come from the cache, not the network').to.equal(1);
    expect(after.tokens).to.deep.equal(baseline.tokens);
    expect(after.text).to.equal(baseline.text);
    table.push(`| device.destroy() on the first accel-token of <accel-stream> | accel-error device-lost on <accel-stream> and <accel-model>; generate() rejects | next generate(): <accel-model> reloads (accel-ready) on a new device from cache (1 download in all), same greedy text ${JSON.stringify(after.text.slice(0, 30))}… |`);
  });

  it('an allocation above maxBufferSize / maxStorageBufferBindingSize is an OutOfMemoryError naming the size', async () => {
    const backend = await createWebGPUBackendInternal();
    try {
      const { maxBufferSize, maxStorageBufferBindingSize } = backend.device.limits;
      const overBuffer = Math.floor(maxBufferSize / 4) + 1;
      let caught: unknown = null;
      try {
        backend.empty([overBuffer], 'f32');
      } catch (e) {
        caught = e;
      }
      expect(caught).to.be.instanceOf(OutOfMemoryError);
      expect((caught as OutOfMemoryError).requestedBytes).to.equal(overBuffer * 4);
      expect((caught as Error).message).to.contain(`allocating ${overBuffer * 4} bytes`).and.contain(`maxBufferSize is ${maxBufferSize}`);
      table.push(`| empty([${overBuffer}], f32) above maxBufferSize ${maxBufferSize} | OutOfMemoryError requestedBytes ${overBuffer * 4} | thrown before any GPU call; backend usable |`);
      if (maxStorageBufferBindingSize < maxBufferSize) {
        const overBind = Math.floor(maxStorageBufferBindingSize / 4) + 1;
        expect(() => backend.empty([overBind], 'f32')).to.throw(OutOfMemoryError, new RegExp(`allocating ${overBind * 4} bytes .*maxStorageBufferBindingSize is ${maxStorageBufferBindingSize}`));
        table.push(`| empty([${overBind}], f32) above maxStorageBufferBindingSize ${maxStorageBufferBindingSize} | OutOfMemoryError requestedBytes ${overBind * 4} | thrown before any GPU call |`);
      }
      expect(backend.memory().allocatedBytes).to.equal(0);
      const t = backend.upload(new Float32Array([1, 2, 3]), [3]);
      expect([...(await backend.download(t))]).to.deep.equal([1, 2, 3]);
      t.dispose();
    } finally {
      backend.dispose();
    }
  });

  it('createBuffer failing inside the out-of-memory error scope is an OutOfMemoryError naming the size; the bad buffer is never reused', async () => {
    const backend = await createWebGPUBackendInternal();
    try {
      const device = backend.device;
      // Fault injection at the WebGPU API boundary: SwiftShader would take the host down before it ran out
      // of memory, so the device's next error scope answers as a real GPU out-of-memory would.
      const realPop = device.popErrorScope.bind(device);
      let inject = true;
      device.popErrorScope = async () => {
        const real = await realPop();
        if (!inject) return real;
        inject = false;
        return new GPUOutOfMemoryError('injected: not enough memory left on the device');
      };
      const elements = 48 * 2 ** 20 / 4; // 48 MiB: above the 32 MiB from which allocations are scoped
      const before = backend.memory();
      const big = backend.empty([elements], 'f32');
      let caught: unknown = null;
      await backend.sync().catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(OutOfMemoryError);
      expect((caught as OutOfMemoryError).requestedBytes).to.equal(elements * 4);
      expect((caught as Error).message).to.contain(`allocating ${elements * 4} bytes on webgpu (injected: not enough memory left on the device)`);
      expect(backend.memory().reservedBytes, 'the failed buffer is dropped from the pool').to.equal(before.reservedBytes);
      big.dispose();
      expect(backend.memory().pooledBuffers).to.equal(before.pooledBuffers);
      // the next allocation of that size gets a new, valid buffer and works
      const ok = backend.upload(new Float32Array(elements).fill(2), [elements]);
      const back = (await backend.download(ok)) as Float32Array;
      expect(back[0]).to.equal(2);
      expect(back[elements - 1]).to.equal(2);
      ok.dispose();
      await backend.sync();
      expect(backend.gpuErrors()).to.deep.equal([]);
      table.push(`| createBuffer(${elements * 4} B) → GPUOutOfMemoryError in its error scope (injected) | OutOfMemoryError requestedBytes ${elements * 4} at the next sync() | buffer discarded, not pooled; next allocation of that size valid |`);
    } finally {
      backend.dispose();
    }
  });
});
