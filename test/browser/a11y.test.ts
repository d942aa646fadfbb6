import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import '../../components/accel-model/index.js';
import '../../components/accel-stream/index.js';
import '../../components/accel-capabilities/index.js';
import '../../components/accel-benchmark/index.js';
import '../../components/accel-image-classifier/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import type { AccelStream } from '../../components/accel-stream/accel-stream.js';
import type { AccelCapabilities } from '../../components/accel-capabilities/accel-capabilities.js';
import type { AccelBenchmark } from '../../components/accel-benchmark/accel-benchmark.js';
import type { AccelImageClassifier } from '../../components/accel-image-classifier/accel-image-classifier.js';
import { configureElements } from '../../src/engine-client.js';
import { getEngine } from '../../engine/index.js';

// Every element in its main states passes axe, is driven by real key presses (Tab, Enter, Space, typing:
// @web/test-runner-commands sends them through the browser's input pipeline), and says what happens in a
// live region (role=status / aria-live) a screen reader reads: its text changes on progress and at the end.

/** The texts a live region shows over time (each distinct text once, in order). */
function recordLive(el: Element, selector: string): { texts: string[]; stop(): void } {
  const region = el.shadowRoot!.querySelector(selector);
  if (!region) throw new Error(`no ${selector} in <${el.localName}>`);
  expect(region.getAttribute('role') === 'status' || region.getAttribute('role') === 'log' || region.hasAttribute('aria-live'), `${selector} is a live region`).to.equal(true);
  const texts = [region.textContent ?? ''];
  const note = () => {
    const t = region.textContent ?? '';
    if (t !== texts.at(-1)) texts.push(t);
  };
  const mo = new MutationObserver(note);
  mo.observe(region, { childList: true, characterData: true, subtree: true });
  return { texts, stop: () => (note(), mo.disconnect()) };
}

/** The element that has focus, through shadow roots. */
function deepActive(): Element | null {
  let a = document.activeElement;
  while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
  return a;
}

/** Presses Tab until `target` has focus (at most `max` presses); fails if it never does. */
async function tabTo(target: Element, max = 12): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (deepActive() === target) return;
    await sendKeys({ press: 'Tab' });
  }
  expect(deepActive(), `Tab reaches ${target.outerHTML.slice(0, 80)}`).to.equal(target);
}

const part = (el: Element, name: string) => el.shadowRoot!.querySelector<HTMLElement>(`[part~="${name}"]`)!;
const until = async (cond: () => boolean, ms = 60_000) => {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

let origin = '';

describe('accessibility of every element: axe in each state, keyboard, live announcements', () => {
  before(async () => {
    configureElements({ engine: 'inline' });
    origin = await (await fetch('/__openai-fault-origin')).text();
  });

  it('<accel-model>: idle → Enter on Load → loading → ready, and error; axe passes in each; the status region announces progress and the result', async () => {
    await getEngine().cache?.clear();
    const el = await fixture<AccelModel>(html`<accel-model backend="cpu" src="/__fault/chunk=16384,delay=20,id=a11y-model/__models/tiny-vit/"></accel-model>`);
    await expect(el).to.be.accessible();
    const live = recordLive(el, '[part~="status"]');
    expect(live.texts[0]).to.equal('Not loaded.');
    const button = part(el, 'load-button');
    await tabTo(button);
    const ready = oneEvent(el, 'accel-ready');
    await sendKeys({ press: 'Enter' });
    await until(() => el.status === 'loading' && !!el.progress);
    await el.updateComplete;
    const bar = part(el, 'progress');
    expect(bar.getAttribute('aria-label')).to.equal('Loading tiny-vit');
    expect(bar.getAttribute('aria-valuetext')).to.match(/^(Downloading|Verifying|Caching|Parsing|Uploading weights|Reading from cache) /);
    await expect(el).to.be.accessible();
    await ready;
    await el.updateComplete;
    live.stop();
    expect(live.texts.some((t) => /^Downloading model\.safetensors — [\d.]+ [kKM]i?B of 321\.\d KiB$/.test(t)), live.texts.join(' | ')).to.equal(true);
    expect(live.texts.at(-1)).to.equal('tiny-vit is ready on cpu.');
    await expect(el).to.be.accessible();
    el.unload();

    const bad = await fixture<AccelModel>(html`<accel-model backend="cpu" src="/__models/no-such-model/"></accel-model>`);
    const errored = oneEvent(bad, 'accel-error');
    void bad.load().catch(() => undefined);
    const e = await errored;
    await bad.updateComplete;
    expect(part(bad, 'error').getAttribute('role')).to.equal('alert');
    expect(part(bad, 'status').textContent).to.equal(`Loading failed: ${e.detail.message}`);
    await expect(bad).to.be.accessible();
  });

  it('<accel-stream>: type a prompt, Enter sends, running, Tab to Stop and Space stops; done and error states; axe in each; announcements', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="a11y-slow" src=${`openai+${origin}/slow/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="a11y-slow"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    await root.querySelector<AccelModel>('accel-model')!.ready();
    await expect(stream).to.be.accessible();
    const live = recordLive(stream, '[role="status"]');
    const input = part(stream, 'input');
    await tabTo(input);
    await sendKeys({ type: 'Hi there' });
    const firstToken = oneEvent(stream, 'accel-token');
    const done = oneEvent(stream, 'accel-done');
    await sendKeys({ press: 'Enter' });
    await firstToken;
    await stream.updateComplete;
    expect(part(stream, 'transcript').getAttribute('aria-busy')).to.equal('true');
    await expect(stream).to.be.accessible();
    const stop = part(stream, 'stop-button');
    await tabTo(stop);
    await sendKeys({ press: 'Space' });
    const result = (await done).detail;
    expect(result.finishReason).to.equal('abort');
    await stream.updateComplete;
    live.stop();
    expect(live.texts.slice(1)).to.deep.equal(['Generating…', `Done: ${result.usage.completionTokens} tokens, abort.`]);
    expect(part(stream, 'transcript').getAttribute('aria-busy')).to.equal('false');
    expect(part(stream, 'output').textContent).to.equal(result.text);
    await expect(stream).to.be.accessible();

    const failing = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="a11y-503" src=${`openai+${origin}/503/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="a11y-503"></accel-stream>
    </div>`);
    const s2 = failing.querySelector<AccelStream>('accel-stream')!;
    await s2.generate('Hi').catch(() => undefined);
    await s2.updateComplete;
    expect(part(s2, 'error').getAttribute('role')).to.equal('alert');
    expect(s2.shadowRoot!.querySelector('[role="status"]')!.textContent).to.match(/^Error: /);
    await expect(s2).to.be.accessible();
  });

  it('<accel-capabilities>: loading, ready and error states pass axe; Enter on Re-check probes again; the status region announces', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    await until(() => !!el.report);
    await el.updateComplete;
    await expect(el).to.be.accessible();
    const live = recordLive(el, '[role="status"]');
    const button = part(el, 'refresh-button');
    await tabTo(button);
    const again = oneEvent(el, 'accel-capabilities-ready');
    await sendKeys({ press: 'Enter' });
    await again;
    await el.updateComplete;
    live.stop();
    expect(live.texts[1]).to.equal('Checking WebGPU, WebNN and WebAssembly…');
    expect(live.texts.length).to.equal(3);
    expect(live.texts[2]).to.not.equal(live.texts[1]);
    await expect(el).to.be.accessible();

    const engine = getEngine();
    const original = engine.capabilities.bind(engine);
    engine.capabilities = () => Promise.reject(new Error('probe failed'));
    try {
      const bad = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
      await until(() => !!bad.shadowRoot!.querySelector('[part~="error"]'));
      expect(bad.shadowRoot!.querySelector('[role="status"]')!.textContent).to.equal('Capability check failed: probe failed');
      await expect(bad).to.be.accessible();
    } finally {
      engine.capabilities = original;
    }
  });

  it('<accel-benchmark>: idle, running and done (table, charts, exports) pass axe; Enter on Run starts it; the status region announces each step and the end', async () => {
    const el = await fixture<AccelBenchmark>(html`<accel-benchmark model="/models/tiny-llama/" backends="cpu" prompt-tokens="4" max-tokens="2" iterations="2" warmup="0" db="accel-bench-a11y"></accel-benchmark>`);
    await expect(el).to.be.accessible();
    const live = recordLive(el, '[part~="status"]');
    const run = part(el, 'run-button');
    await tabTo(run);
    const complete = oneEvent(el, 'accel-benchmark-complete');
    const firstIteration = new Promise<void>((resolve) => el.addEventListener('accel-benchmark-progress', (e) => e.detail.phase === 'measure' && resolve()));
    await sendKeys({ press: 'Enter' });
    await firstIteration;
    await el.updateComplete;
    await expect(el).to.be.accessible();
    const detail = (await complete).detail;
    await el.updateComplete;
    live.stop();
    expect(detail.records).to.have.length(1);
    expect(live.texts).to.include('cpu · original · 4 tok: iteration 1 of 2');
    expect(live.texts.at(-1)).to.equal('Done: 1 result.');
    expect(el.shadowRoot!.querySelectorAll('[part~="export-button"]').length).to.equal(4);
    await expect(el).to.be.accessible();
  });

  it('<accel-image-classifier>: idle, done and error states pass axe; Tab reaches Choose image; the status region announces the result', async () => {
    const el = await fixture<AccelImageClassifier>(html`<accel-image-classifier src="/models/tiny-vit/" top-k="3"></accel-image-classifier>`);
    await expect(el).to.be.accessible();
    await tabTo(part(el, 'choose-button'));
    const live = recordLive(el, '[part~="status"]');
    const canvas = new OffscreenCanvas(32, 32);
    const g = canvas.getContext('2d')!;
    g.fillStyle = '#3a6';
    g.fillRect(0, 0, 32, 32);
    const result = await el.classify(new File([await canvas.convertToBlob({ type: 'image/png' })], 'green.png', { type: 'image/png' }));
    await el.updateComplete;
    live.stop();
    const best = result.labels[0]!;
    expect(live.texts.slice(1)).to.deep.equal(['Classifying…', `Top label: ${best.label} (${(best.score * 100).toFixed(1)}%).`]);
    await expect(el).to.be.accessible();
    await el.classify(new File(['not an image'], 'notes.txt', { type: 'text/plain' })).catch(() => undefined);
    await el.updateComplete;
    expect(part(el, 'error').getAttribute('role')).to.equal('alert');
    await expect(el).to.be.accessible();
  });
});
