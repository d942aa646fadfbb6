import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { configureElements } from '../../src/index.js';
import { BackendUnavailableError, getEngine } from '../../engine/index.js';
import { maxAbsDiff } from '../helpers/compare.js';

// Runs in its own Chromium started with --enable-features=WebMachineLearningNeuralNetwork (the 'webnn-flag'
// group of web-test-runner.config.mjs). Debian's Chromium then exposes navigator.ml but cannot create a
// context on this platform: the engine must say so with the browser's own words and route around it.

const DEVICES = ['cpu', 'gpu', 'npu'] as const;
const ml = (navigator as unknown as { ml?: { createContext(o: object): Promise<unknown> } }).ml;

async function browserMessage(): Promise<string> {
  try {
    await ml!.createContext({ deviceType: 'gpu' });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('this Chromium created a WebNN context: the real-device path is available, these checks no longer apply');
}

describe('WebNN in a Chromium with the feature flag but no working WebNN', () => {
  it('the capability report shows the API present, every context failed with the browser message, and webnn unusable', async () => {
    expect(typeof ml?.createContext, 'navigator.ml.createContext with the flag').to.equal('function');
    const message = await browserMessage();
    const report = await getEngine().capabilities({ refresh: true });
    expect(report.webnn.api).to.equal(true);
    expect(report.webnn.available).to.equal(false);
    for (const d of DEVICES) {
      expect(report.webnn.contexts[d].created, d).to.equal(false);
      expect(report.webnn.contexts[d].error, d).to.equal(`NotSupportedError: ${message}`);
    }
    const choices = await getEngine().recommendBackend({ modelType: 'text-generation', paramCount: 4.4e6, precision: 'f32' });
    const nn = choices.find((c) => c.backend === 'webnn')!;
    expect(nn.usable).to.equal(false);
    expect(nn.reason).to.contain(message);
    expect(choices.indexOf(nn)).to.equal(choices.length - 1);
  });

  it("backend 'webnn' fails with BackendUnavailableError quoting the browser; 'auto' picks another backend and runs the model to the reference logits", async () => {
    const message = await browserMessage();
    let err: unknown = null;
    try {
      await getEngine().backend('webnn');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BackendUnavailableError);
    expect((err as Error).message).to.contain(message);

    const ref = (await (await fetch('/test/fixtures/models/tiny-llama/reference.json')).json()) as { prompts: { input_ids: number[]; last_logits: number[] }[] };
    const model = await getEngine().load(new URL('/models/tiny-llama/', location.href).href, { backend: 'auto', maxSequence: 64 });
    try {
      expect(model.backend.name).to.not.equal('webnn');
      const p = ref.prompts[0]!;
      const logits = model.forward(Int32Array.from(p.input_ids));
      const out = (await model.backend.download(logits)) as Float32Array;
      logits.dispose();
      expect(maxAbsDiff(out, p.last_logits)).to.be.at.most(1e-3);
    } finally {
      getEngine().unload(model);
    }
  });

  it('<accel-model backend="webnn"> reflects the attribute and reports accel-error backend-unavailable with the browser message', async () => {
    configureElements({ engine: 'inline' });
    const message = await browserMessage();
    const el = await fixture<AccelModel>(html`<accel-model src="/models/tiny-llama/" backend="webnn"></accel-model>`);
    expect(el.getAttribute('backend')).to.equal('webnn');
    setTimeout(() => void el.load().catch(() => undefined));
    const ev = await oneEvent(el, 'accel-error');
    expect(ev.detail.code).to.equal('backend-unavailable');
    expect(ev.detail.message).to.contain(message);
  });
});
