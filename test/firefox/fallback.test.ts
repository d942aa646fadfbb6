// The Firefox ESR lane (web-test-runner.firefox.config.mjs): no WebGPU (Firefox ESR 153 headless has no
// navigator.gpu; other builds expose it without an adapter),
// so everything must take the fallback path — reported by capabilities, run on wasm, and the elements
// must work unchanged, in the default Worker engine and in-thread.
import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-capabilities/index.js';
import '../../components/accel-model/index.js';
import '../../components/accel-stream/index.js';
import type { AccelCapabilities } from '../../components/accel-capabilities/accel-capabilities.js';
import { getEngine } from '../../engine/index.js';
import { configureElements } from '../../src/engine-client.js';
import { webgpuUnavailableReason } from '../helpers/requires.js';

const MODEL = '/models/tiny-llama/';

interface Reference { prompts: { name: string; input_ids: number[]; greedy: { hf_generate: number[] } }[] }
const reference = async () => ((await (await fetch('/test/fixtures/models/tiny-llama/reference.json')).json()) as Reference).prompts.find((p) => p.name === 'love-is')!;

describe('Firefox ESR without WebGPU', () => {
  before(function () {
    if (!/Firefox\//.test(navigator.userAgent)) this.skip();
  });
  after(() => configureElements({ engine: 'inline' }));

  it('capabilities() reports no adapter with the reason, wasm SIMD usable, and recommends wasm', async () => {
    const r = await getEngine().capabilities();
    expect(r.webgpu.api).to.equal('gpu' in navigator);
    expect(r.webgpu.available).to.equal(false);
    expect(r.webgpu.deviceCreated).to.equal(false);
    expect(r.webgpu.error).to.be.a('string').and.not.empty;
    expect(await webgpuUnavailableReason()).to.equal(r.webgpu.error);
    expect(r.wasm.supported).to.equal(true);
    expect(r.wasm.simd).to.equal(true);
    const rec = await getEngine().recommendBackend({ paramCount: 135e6, precision: 'q4' });
    const gpu = rec.find((c) => c.backend === 'webgpu')!;
    expect(gpu.usable).to.equal(false);
    expect(gpu.reason).to.contain(r.webgpu.error!);
    expect(rec.find((c) => c.usable)!.backend).to.equal('wasm');
    expect((await getEngine().backend('auto')).name).to.equal('wasm');
  });

  it('<accel-capabilities> shows the missing adapter with its reason, recommends wasm and passes axe', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    if (!el.report) await oneEvent(el, 'accel-capabilities-ready');
    await el.updateComplete;
    const card = el.shadowRoot!.querySelector('[part~="card-webgpu"]')!;
    expect(card.querySelector('[part~="no"]')).to.not.equal(null);
    expect(card.textContent).to.contain((await getEngine().capabilities()).webgpu.error!);
    expect(el.shadowRoot!.textContent).to.contain('Recommended backend: wasm');
    await expect(el).to.be.accessible();
  });

  it('backend="webgpu" fails fast with a typed webgpu-unavailable accel-error', async () => {
    configureElements({ engine: 'inline' });
    const el = await fixture(html`<accel-model src=${MODEL} backend="webgpu"></accel-model>`);
    setTimeout(() => void (el as unknown as { load(): Promise<unknown> }).load().catch(() => undefined));
    const ev = await oneEvent(el, 'accel-error');
    expect(ev.detail.code).to.equal('webgpu-unavailable');
    expect(ev.detail.message).to.match(/Use backend "wasm" or "cpu"/);
  });

  for (const engine of ['worker', 'inline'] as const) {
    it(`<accel-model backend="auto"> + <accel-stream> (${engine} engine) run on wasm and reproduce transformers' greedy tokens`, async () => {
      configureElements({ engine });
      const prompt = await reference();
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="ff-${engine}" src=${MODEL} preload></accel-model>
        <accel-stream model="ff-${engine}" temperature="0" max-tokens="64"></accel-stream>
      </div>`);
      const modelEl = root.querySelector('accel-model')!;
      const handle = await modelEl.ready();
      expect(handle.info.backend).to.equal('wasm');
      const stream = root.querySelector('accel-stream')!;
      const result = await stream.generate('Love is');
      expect(result.tokens).to.deep.equal(prompt.greedy.hf_generate);
      expect(result.finishReason).to.equal('eos');
      await stream.updateComplete;
      expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(result.text);
      await expect(stream).to.be.accessible();
      modelEl.unload();
    });
  }
});
