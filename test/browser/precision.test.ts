import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { configureElements } from '../../src/engine-client.js';
import { AccelError, getEngine, type Model } from '../../engine/index.js';
import { cosine, maxAbsDiff } from '../helpers/compare.js';

// precision q8 / q4: the shipped float model's projections are quantized while it loads, on every backend.
const SRC = new URL('/models/tiny-llama/', location.href).href;



async function lastLogits(m: Model, ids: number[]): Promise<Float32Array> {
  m.lm!.resetCache();
  const t = m.forward(Int32Array.from(ids));
  const out = (await m.backend.download(t)) as Float32Array;
  t.dispose();
  return out;
}

describe('precision q8 / q4', function () {
  this.timeout(300_000);

  it('quantizes the projections at load: less memory, same greedy text on cpu and wasm, webgpu close to them', async () => {
    const engine = getEngine();
    const ids = [1, 450, 365, 1955, 338, 590];
    const original = await engine.load(SRC, { backend: 'cpu', maxSequence: 64 });
    const full = original.lm!.memory().weightBytes;
    const ref = await lastLogits(original, ids);
    engine.unload(original);
    for (const precision of ['q8', 'q4'] as const) {
      const byBackend: Record<string, { logits: Float32Array; tokens: number[] }> = {};
      for (const backend of ['cpu', 'wasm', 'webgpu'] as const) {
        const m = await engine.load(SRC, { backend, precision, maxSequence: 64 });
        expect(m.lm!.memory().weightBytes, `${precision} on ${backend}: weight bytes`).to.be.below(full * (precision === 'q8' ? 0.5 : 0.4));
        const logits = await lastLogits(m, ids);
        m.lm!.resetCache();
        const r = await m.generate({ tokens: ids }, { maxNewTokens: backend === 'webgpu' ? 3 : 8, temperature: 0, ignoreEos: true, reuseCache: false }).result;
        byBackend[backend] = { logits, tokens: r.tokens };
        engine.unload(m);
      }
      // quantization moves the logits, but not far, and cpu and wasm run the same packed weights alike
      const cos = cosine(byBackend.cpu!.logits, ref);
      console.log(`${precision}: logits cosine vs float ${cos.toFixed(6)}, max |Δ| ${maxAbsDiff(byBackend.cpu!.logits, ref).toFixed(3)}; webgpu vs cpu max |Δ| ${maxAbsDiff(byBackend.webgpu!.logits, byBackend.cpu!.logits).toExponential(2)}`);
      expect(cos, `${precision}: logits cosine vs the float model`).to.be.above(precision === 'q8' ? 0.9999 : 0.99);
      expect(maxAbsDiff(byBackend.wasm!.logits, byBackend.cpu!.logits), `${precision}: wasm vs cpu`).to.be.below(1e-3);
      // webgpu's GEMV quantizes activations to two int8 planes (~2e-5 of max|y| per product)
      expect(maxAbsDiff(byBackend.webgpu!.logits, byBackend.cpu!.logits), `${precision}: webgpu vs cpu`).to.be.below(1e-2);
      expect(byBackend.wasm!.tokens).to.deep.equal(byBackend.cpu!.tokens);
      expect(byBackend.webgpu!.tokens).to.deep.equal(byBackend.cpu!.tokens.slice(0, 3));
    }
  });

  it('q3, q2 and the mixed preset load with less memory than q4 and generate', async () => {
    const engine = getEngine();
    const bytes: Record<string, number> = {};
    for (const precision of ['q4', 'q3', 'q2', 'mixed'] as const) {
      const m = await engine.load(SRC, { backend: 'wasm', precision, maxSequence: 64 });
      bytes[precision] = m.lm!.memory().weightBytes;
      const r = await m.generate('The LORD is', { maxNewTokens: 4, temperature: 0, ignoreEos: true }).result;
      expect(r.tokens.length, precision).to.equal(4);
      engine.unload(m);
    }
    expect(bytes.q3).to.be.below(bytes.q4!);
    expect(bytes.q2).to.be.below(bytes.q3!);
    expect(bytes.mixed).to.be.below(bytes.q3!).and.above(bytes.q2!);
  });

  it('a GGUF file or an unknown precision is a typed error', async () => {
    const engine = getEngine();
    let err: unknown;
    try {
      await engine.load(SRC, { backend: 'cpu', precision: 'q4', file: 'tiny-llama-q4_0.gguf' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(AccelError);
    expect((err as Error).message).to.match(/GGUF file.*precision "original"/);
    err = undefined;
    try {
      await engine.load(SRC, { backend: 'cpu', precision: 'q5' as 'q4' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(AccelError);
  });

  it('<accel-model precision="q4"> reflects the attribute and loads quantized', async () => {
    configureElements({ engine: 'inline' });
    const el = await fixture<AccelModel>(html`<accel-model src="/models/tiny-llama/" backend="cpu" precision="q4"></accel-model>`);
    expect(el.getAttribute('precision')).to.equal('q4');
    setTimeout(() => void el.load());
    const ready = await oneEvent(el, 'accel-ready');
    expect(ready.detail.weightBytes).to.be.below(7e6);
    el.precision = 'q8';
    await el.updateComplete;
    expect(el.getAttribute('precision')).to.equal('q8');
    el.unload();
  });

  it('<accel-model> takes a plan object (quantization property) and precision="auto" with memory-budget', async () => {
    configureElements({ engine: 'inline' });
    const el = await fixture<AccelModel>(html`<accel-model src="/models/tiny-llama/" backend="wasm"></accel-model>`);
    // feed-forward 4-bit except layer 0, attention float: between the float and the q4 model in size
    el.quantization = { ffn: { bits: 4 }, exclude: ['model.layers.0.*'] };
    // resolves on accel-ready, fails at once on accel-error (no wait for the timeout)
    const loaded = async (): Promise<number> => {
      const error = oneEvent(el, 'accel-error').then((e) => Promise.reject(new Error(e.detail.message)));
      setTimeout(() => void el.load().catch(() => undefined));
      return (await Promise.race([oneEvent(el, 'accel-ready'), error])).detail.weightBytes as number;
    };
    const planned = await loaded();
    el.quantization = null;
    el.precision = 'q4';
    const q4 = await loaded();
    expect(planned).to.be.above(q4);
    el.precision = 'auto';
    el.memoryBudget = q4 + 1000;
    await el.updateComplete;
    expect(el.getAttribute('memory-budget')).to.equal(String(q4 + 1000));
    expect(await loaded()).to.equal(q4);
    el.memoryBudget = 1000;
    setTimeout(() => void el.load().catch(() => undefined));
    const error = await oneEvent(el, 'accel-error');
    expect(error.detail.code).to.equal('out-of-memory');
    expect(el.shadowRoot!.querySelector('[part~="error"]')!.textContent).to.match(/memoryBudget of 1000 bytes/);
    el.unload();
  });
});
