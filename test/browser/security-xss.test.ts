import { expect, fixture, html, oneEvent } from '@open-wc/testing';
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

// Text that arrives from outside the page (generated tokens, model names, config labels, server names and
// messages, URLs the user typed) must land in the DOM as text. Every payload below runs `window.__xss = …`
// if any element parses it as HTML, evaluates it as a template, or follows it as a URL.
const PAYLOADS: string[] = await (await fetch('/test/fixtures/xss-payloads.json')).json();
const w = window as unknown as { __xss?: unknown };
const hex = (s: string) => [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, '0')).join('');
const settle = () => new Promise((r) => setTimeout(r, 150)); // onerror/onload handlers fire asynchronously
const FORBIDDEN = new Set(['SCRIPT', 'IMG', 'SVG', 'IFRAME', 'OBJECT', 'EMBED', 'MATH', 'DETAILS', 'A', 'STYLE']);

/** Every element under root, through open shadow roots. */
function allElements(root: Node): Element[] {
  const out: Element[] = [];
  const walk = (n: Node) => {
    for (const c of (n as ParentNode).children ?? []) {
      out.push(c);
      if (c.shadowRoot) walk(c.shadowRoot);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Elements the payloads could have produced: none of their tags, no on* attribute, no javascript: URL. */
function injected(root: Node): string[] {
  return allElements(root).flatMap((e) => {
    const bad: string[] = [];
    // Lit styles through adoptedStyleSheets in Chromium, so no <style> element is expected either.
    const preview = e.matches('img[part~="preview"]') && /^blob:/.test(e.getAttribute('src') ?? ''); // the classifier's own image preview
    if (FORBIDDEN.has(e.tagName.toUpperCase()) && !preview) bad.push(`<${e.tagName.toLowerCase()}>`);
    for (const a of e.getAttributeNames()) {
      if (/^on/i.test(a)) bad.push(`${e.tagName.toLowerCase()}[${a}]`);
      if (/^\s*javascript:/i.test(e.getAttribute(a) ?? '')) bad.push(`${e.tagName.toLowerCase()}[${a}=javascript:]`);
    }
    return bad;
  });
}

function part(el: Element, name: string): Element {
  const found = el.shadowRoot!.querySelector(`[part~="${name}"]`);
  if (!found) throw new Error(`no part ${name} in <${el.localName}>`);
  return found;
}

async function expectClean(root: Element): Promise<void> {
  await settle();
  expect(injected(root)).to.deep.equal([]);
  expect(w.__xss).to.equal(undefined);
}

let origin = '';

describe('XSS corpus: outside text is rendered as text in every element', () => {
  before(async () => {
    origin = await (await fetch('/__openai-fault-origin')).text();
    configureElements({ engine: 'inline' });
  });
  beforeEach(() => {
    delete w.__xss;
  });
  after(() => configureElements({ engine: 'inline' }));

  it(`the corpus has ${14} payloads, each able to run script if parsed as HTML (checked on a detached control)`, async () => {
    expect(PAYLOADS).to.have.length(14);
    // The control: the same strings through innerHTML do create elements, so the DOM checks below can fail.
    // An inert document, so the control's own handlers never run.
    const control = document.implementation.createHTMLDocument('').createElement('div');
    control.innerHTML = PAYLOADS.join('');
    expect(injected(control).length).to.be.greaterThan(5);
  });

  for (const [i, payload] of PAYLOADS.entries()) {
    it(`payload ${i}: remote model name, generated text (completion and chat) and a server error message stay text`, async () => {
      const src = `openai+${origin}/echo-${hex(payload)}/v1#${encodeURIComponent(payload)}`;
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="x${i}" src=${src}></accel-model>
        <accel-stream model="x${i}" max-tokens="64"></accel-stream>
        <accel-stream model="x${i}" chat system=${payload}></accel-stream>
      </div>`);
      const model = root.querySelector<AccelModel>('accel-model')!;
      const [plain, chat] = root.querySelectorAll<AccelStream>('accel-stream');
      const ready = oneEvent(model, 'accel-ready');
      void model.load();
      expect((await ready).detail.name).to.equal(payload);
      await model.updateComplete;
      expect(part(model, 'name').textContent).to.equal(payload);
      expect(part(model, 'status').textContent).to.equal(`${payload} is ready on ${new URL(origin).host} (remote).`);

      const result = await plain!.generate(payload);
      expect(result.text).to.equal(payload);
      await plain!.updateComplete;
      expect(part(plain!, 'output').textContent).to.equal(payload);

      await chat!.generate(payload);
      await chat!.updateComplete;
      const turns = [...chat!.shadowRoot!.querySelectorAll('[part~="turn"]')].map((t) => t.textContent);
      expect(turns).to.deep.equal([payload, payload]);

      const failed = await plain!.generate('fail').catch((e: Error) => e);
      expect(failed).to.be.instanceOf(Error);
      await plain!.updateComplete;
      expect(part(plain!, 'error').textContent).to.contain(payload);
      await expectClean(root);
      model.unload();
    });
  }

  it('a user-supplied URL inside an error message (404 model folder) is shown as text in <accel-model> and <accel-benchmark>', async () => {
    for (const payload of PAYLOADS) {
      delete w.__xss;
      const src = `/__models/${payload}/`;
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="e" src=${src} backend="cpu"></accel-model>
        <accel-benchmark model=${`${origin}/${payload}`} backends="cpu" iterations="1" warmup="0" max-tokens="1" db="accel-bench-xss"></accel-benchmark>
      </div>`);
      const model = root.querySelector<AccelModel>('accel-model')!;
      const bench = root.querySelector<AccelBenchmark>('accel-benchmark')!;
      const errored = oneEvent(model, 'accel-error');
      void model.load().catch(() => undefined);
      const e = await errored;
      await model.updateComplete;
      expect(part(model, 'error').textContent).to.equal(e.detail.message);
      expect(part(model, 'status').textContent).to.equal(`Loading failed: ${e.detail.message}`);
      // the message names the URL it failed on (the browser percent-encodes what a URL cannot hold)
      expect(e.detail.message).to.contain(new URL(src, location.href).pathname.split('/')[2]!.slice(0, 6));
      const benchError = oneEvent(bench, 'accel-error');
      const outcome = await bench.run();
      const be = await benchError;
      await bench.updateComplete;
      expect(outcome.failures.map((f) => f.message)).to.deep.equal([be.detail.message]);
      const row = bench.shadowRoot!.querySelector('tr.failed td[colspan]')!;
      expect(row.textContent).to.equal(be.detail.message);
      expect(be.detail.message).to.contain(origin);
      expect(bench.shadowRoot!.querySelector('caption')!.textContent).to.equal(`Generation benchmark results (${origin}/${payload}), times in milliseconds`);
      await expectClean(root);
    }
  });

  it('config labels and _name_or_path of a local model are text in <accel-model> and <accel-image-classifier>', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="xv" src="/__models/xss-vit/" backend="cpu" task="image-classification" preload></accel-model>
      <accel-image-classifier model="xv" top-k="10"></accel-image-classifier>
    </div>`);
    const model = root.querySelector<AccelModel>('accel-model')!;
    const el = root.querySelector<AccelImageClassifier>('accel-image-classifier')!;
    const image = new File([await pngBytes()], 'a.png', { type: 'image/png' });
    const result = await el.classify(image);
    await model.ready();
    await model.updateComplete;
    await el.updateComplete;
    expect(part(model, 'name').textContent).to.equal(PAYLOADS[0]);
    expect(result.labels.map((l) => l.label).sort()).to.deep.equal(PAYLOADS.slice(0, 10).sort());
    const shown = [...el.shadowRoot!.querySelectorAll('[part~="label"]')].map((n) => n.textContent);
    expect(shown).to.deep.equal(result.labels.map((l) => l.label));
    expect(part(el, 'status').textContent).to.contain(result.labels[0]!.label);
    const meters = [...el.shadowRoot!.querySelectorAll('meter')].map((m) => m.getAttribute('aria-label'));
    expect(meters).to.deep.equal(result.labels.map((l) => `${l.label} probability`));
    await expectClean(root);
    model.unload();
  });

  it('<accel-capabilities>: a probe error message and a remote endpoint with payloads stay text', async () => {
    const engine = getEngine();
    const original = engine.capabilities.bind(engine);
    try {
      for (const payload of PAYLOADS) {
        delete w.__xss;
        engine.capabilities = () => Promise.reject(new Error(payload));
        const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
        while (!el.shadowRoot!.querySelector('[part~="error"]')) await new Promise((r) => setTimeout(r, 10));
        expect(part(el, 'error').textContent).to.contain(payload);
        await expectClean(el);
      }
    } finally {
      engine.capabilities = original;
    }
    const payload = PAYLOADS[0]!;
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities param-count="1e13" remote=${`openai+${origin}/echo-${hex(payload)}/v1#${encodeURIComponent(payload)}`}></accel-capabilities>`);
    while (!el.report) await new Promise((r) => setTimeout(r, 10));
    await el.updateComplete;
    expect(el.shadowRoot!.textContent).to.contain(new URL(origin).host);
    await expectClean(el);
  });
});

/** A 32×32 PNG drawn here. */
async function pngBytes(): Promise<Blob> {
  const c = new OffscreenCanvas(32, 32);
  const g = c.getContext('2d')!;
  g.fillStyle = '#c33';
  g.fillRect(0, 0, 32, 32);
  return c.convertToBlob({ type: 'image/png' });
}
