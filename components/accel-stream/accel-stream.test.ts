import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../accel-model/index.js';
import './index.js';
import type { AccelModel } from '../accel-model/accel-model.js';
import type { AccelStream } from './accel-stream.js';
import { configureElements } from '../../src/engine-client.js';
import { getEngine } from '../../engine/index.js';
import { requireWebGPU } from '../../test/helpers/requires.js';

const MODEL = '/models/tiny-llama/';

describe('<accel-model> + <accel-stream> on the shipped model (in-thread engine)', () => {
  before(() => configureElements({ engine: 'inline' }));

  it('loads with byte progress, then shows name, backend and memory and fires accel-ready', async () => {
    const el = await fixture<AccelModel>(html`<accel-model id="m1" src=${MODEL} backend="cpu"></accel-model>`);
    expect(el.status).to.equal('idle');
    const progress: number[] = [];
    el.addEventListener('accel-load-progress', (e) => progress.push(e.detail.loaded));
    setTimeout(() => void el.load());
    const ready = await oneEvent(el, 'accel-ready');
    expect(ready.detail.backend).to.equal('cpu');
    expect(ready.detail.architecture).to.equal('llama');
    expect(ready.detail.weightBytes).to.be.greaterThan(10e6);
    expect(progress.length).to.be.greaterThan(2);
    expect([...progress].sort((a, b) => a - b)).to.deep.equal(progress);
    expect(el.status).to.equal('ready');
    await el.updateComplete;
    const text = el.shadowRoot!.querySelector('[part~="details"]')!.textContent!;
    expect(text).to.contain('llama').and.contain('cpu').and.contain('MiB');
    expect(el.shadowRoot!.querySelector('[part~="status"]')!.textContent).to.contain('ready on cpu');
    el.unload();
  });

  it('generates greedily with max-tokens and emits accel-token then accel-done', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="m2" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="m2" temperature="0" max-tokens="12"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    const tokens: string[] = [];
    stream.addEventListener('accel-token', (e) => tokens.push(e.detail.text));
    const result = await stream.generate('The meaning of life is');
    expect(result.usage.completionTokens).to.be.at.most(12);
    expect(result.text).to.equal(tokens.join(''));
    expect(result.text.length).to.be.greaterThan(0);
    expect(['length', 'eos', 'stop']).to.include(result.finishReason);
    await stream.updateComplete;
    expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(result.text);
    expect(stream.shadowRoot!.querySelector('[part~="metrics"]')!.textContent).to.match(/TTFT \d+ ms/);
    const again = await stream.generate('The meaning of life is');
    expect(again.text).to.equal(result.text);
  });

  it('renders generated text strictly as text', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="m3" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="m3" temperature="0" max-tokens="4"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const done = stream.generate(hostile);
    await done;
    (stream as unknown as { _output: string })._output = hostile;
    stream.requestUpdate();
    await stream.updateComplete;
    const out = stream.shadowRoot!.querySelector('[part~="output"]')!;
    expect(out.textContent).to.equal(hostile);
    expect(out.querySelector('img')).to.equal(null);
    expect((window as { __pwned?: number }).__pwned).to.equal(undefined);
  });

  it('stop() ends generation within one token with finishReason abort', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="m4" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="m4" temperature="0.8" seed="7" max-tokens="200"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    let seen = 0;
    let atStop = -1;
    stream.addEventListener('accel-token', () => {
      seen++;
      if (seen === 3) {
        atStop = seen;
        stream.stop();
      }
    });
    const result = await stream.generate('Once upon a time');
    expect(result.finishReason).to.equal('abort');
    expect(seen - atStop).to.be.at.most(1);
    expect(result.usage.completionTokens).to.be.at.most(4);
  });

  it('pause() holds tokens until resume()', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="m5" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="m5" temperature="0" max-tokens="10"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    let count = 0;
    let pausedAt!: () => void;
    const paused = new Promise<void>((r) => (pausedAt = r));
    stream.addEventListener('accel-token', () => {
      count++;
      if (count === 2) {
        stream.pause();
        pausedAt();
      }
    });
    const run = stream.generate('The sea');
    await paused;
    await new Promise((r) => setTimeout(r, 100));
    const whilePaused = count;
    expect(stream.paused).to.equal(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(count).to.equal(whilePaused);
    stream.resume();
    const result = await run;
    expect(result.usage.completionTokens).to.be.greaterThan(whilePaused);
  });

  it('a seeded sample is reproducible and honours stop strings', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="m6" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="m6" temperature="0.9" top-k="40" seed="1234" max-tokens="24"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    const a = await stream.generate('Love is');
    const b = await stream.generate('Love is');
    expect(b.text).to.equal(a.text);
    const word = a.text.trim().split(/\s+/)[1];
    if (word) {
      stream.setAttribute('stop', word);
      await stream.updateComplete;
      const c = await stream.generate('Love is');
      expect(c.finishReason).to.equal('stop');
      expect(c.text).to.not.contain(word);
      expect(a.text.startsWith(c.text)).to.equal(true);
    }
  });

  it('reports a missing model element and an empty prompt as accel-error', async () => {
    const stream = await fixture<AccelStream>(html`<accel-stream model="nope"></accel-stream>`);
    setTimeout(() => void stream.generate('hi').catch(() => undefined));
    const ev = await oneEvent(stream, 'accel-error');
    expect(ev.detail.code).to.equal('invalid-argument');
    expect(ev.detail.message).to.contain('no element with id "nope"');
    setTimeout(() => void stream.generate('   ').catch(() => undefined));
    const ev2 = await oneEvent(stream, 'accel-error');
    expect(ev2.detail.message).to.contain('prompt is empty');
  });

  it('a wrong src gives a typed accel-error, and changing src reloads cleanly', async () => {
    const el = await fixture<AccelModel>(html`<accel-model src="/models/does-not-exist/" backend="cpu"></accel-model>`);
    setTimeout(() => void el.load().catch(() => undefined));
    const ev = await oneEvent(el, 'accel-error');
    expect(ev.detail.code).to.equal('http-status');
    expect(el.status).to.equal('error');
    setTimeout(() => (el.src = MODEL));
    await oneEvent(el, 'accel-ready');
    expect(el.status).to.equal('ready');
    el.unload();
  });

  it('elements naming the same source share one loaded model', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="s1" src=${MODEL} backend="cpu"></accel-model>
      <accel-model id="s2" src=${MODEL} backend="cpu"></accel-model>
    </div>`);
    const [a, b] = [...root.querySelectorAll('accel-model')];
    const [ma, mb] = await Promise.all([a!.load(), b!.load()]);
    expect(ma.info.name).to.equal('tiny-llama');
    expect(ma).to.equal(mb);
    expect(getEngine().loadedModels().filter((m) => m === ma).length).to.equal(1);
    a!.unload();
    expect(getEngine().loadedModels()).to.include(mb);
    b!.unload();
    expect(getEngine().loadedModels()).to.not.include(mb);
  });

  it('is accessible', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="a11y" src=${MODEL} backend="cpu"></accel-model>
      <accel-stream model="a11y"></accel-stream>
    </div>`);
    await expect(root.querySelector('accel-model')).to.be.accessible();
    await expect(root.querySelector('accel-stream')).to.be.accessible();
  });
});

describe('<accel-stream> with the Worker engine', () => {
  after(() => configureElements({ engine: 'inline' }));

  it('loads and streams from a dedicated Worker, identical to the in-thread engine', async () => {
    configureElements({ engine: 'inline' });
    const inline = await getEngine().load(new URL(MODEL, location.href).href, { backend: 'cpu' });
    const expected = await inline.generate('The sea', { maxNewTokens: 8, temperature: 0 }).result;
    getEngine().unload(inline);
    configureElements({ engine: 'worker' });
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="w1" src=${MODEL} backend="cpu" preload></accel-model>
      <accel-stream model="w1" temperature="0" max-tokens="8"></accel-stream>
    </div>`);
    const stream = root.querySelector('accel-stream')!;
    const tokens: number[] = [];
    stream.addEventListener('accel-token', (e) => tokens.push(e.detail.token));
    const result = await stream.generate('The sea');
    expect(result.text).to.equal(expected.text);
    expect(result.tokens).to.deep.equal(expected.tokens);
    expect(tokens.length).to.be.greaterThan(0);
    root.querySelector('accel-model')!.unload();
  });
});

describe('<accel-model> + <accel-stream> reproduce the PyTorch greedy continuation', () => {
  before(() => configureElements({ engine: 'inline' }));

  for (const backend of ['wasm', 'webgpu'] as const) {
    it(`on ${backend}: same tokens and text as transformers' generate()`, async function () {
      if (backend === 'webgpu') await requireWebGPU(this);
      const ref = (await (await fetch('/test/fixtures/models/tiny-llama/reference.json')).json()) as { prompts: { name: string; input_ids: number[]; greedy: { hf_generate: number[] } }[] };
      const prompt = ref.prompts.find((p) => p.name === 'love-is')!;
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="ref-${backend}" src=${MODEL} backend=${backend} preload></accel-model>
        <accel-stream model="ref-${backend}" temperature="0" max-tokens="64"></accel-stream>
      </div>`);
      const modelEl = root.querySelector('accel-model')!;
      const handle = await modelEl.ready();
      expect(handle.info.backend).to.equal(backend);
      const stream = root.querySelector('accel-stream')!;
      const result = await stream.generate('Love is');
      expect(result.usage.promptTokens).to.equal(prompt.input_ids.length);
      expect(result.tokens).to.deep.equal(prompt.greedy.hf_generate);
      expect(result.finishReason).to.equal('eos');
      await stream.updateComplete;
      expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(result.text);
      modelEl.unload();
    });
  }
});

describe('<accel-stream ws-url> renders a remote stream (tools/ws-server.ts on loopback)', () => {
  it('streams the same greedy reply as the local engine, and stop() aborts it', async () => {
    const port = await (await fetch('/__ws-port')).text();
    const stream = await fixture<AccelStream>(html`<accel-stream ws-url="ws://127.0.0.1:${port}" temperature="0" max-tokens="64"></accel-stream>`);
    const tokens: string[] = [];
    stream.addEventListener('accel-token', (e) => tokens.push(e.detail.text));
    const result = await stream.generate('Love is');
    const ref = (await (await fetch('/test/fixtures/models/tiny-llama/reference.json')).json()) as { prompts: { name: string; greedy: { hf_generate: number[] } }[] };
    expect(result.tokens).to.deep.equal(ref.prompts.find((p) => p.name === 'love-is')!.greedy.hf_generate);
    expect(result.text).to.equal(tokens.join(''));
    await stream.updateComplete;
    expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(result.text);

    stream.setAttribute('temperature', '0.9');
    stream.setAttribute('max-tokens', '200');
    let n = 0;
    stream.addEventListener('accel-token', () => ++n === 2 && stream.stop());
    const aborted = await stream.generate('Once upon a time');
    expect(aborted.finishReason).to.equal('abort');
    expect(aborted.usage.completionTokens).to.be.lessThan(10);
  });

  it('a dead endpoint gives a typed network accel-error, not a hang', async () => {
    const stream = await fixture<AccelStream>(html`<accel-stream ws-url="ws://127.0.0.1:9" max-tokens="4"></accel-stream>`);
    setTimeout(() => void stream.generate('hi').catch(() => undefined));
    const ev = await oneEvent(stream, 'accel-error');
    expect(ev.detail.code).to.equal('network');
  });
});
