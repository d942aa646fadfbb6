import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import '../../components/accel-stream/index.js';
import '../../components/accel-capabilities/index.js';
import type { AccelCapabilities } from '../../components/accel-capabilities/accel-capabilities.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import type { AccelStream } from '../../components/accel-stream/accel-stream.js';
import { StreamInterruptedError } from '../../engine/index.js';

// <accel-model src="openai+…"> and <accel-stream> against the scripted OpenAI-compatible server of
// test/server/openai-fault.mjs (another origin, so CORS and the Authorization preflight are exercised).
// The real-engine version (llama.cpp) is test/remote/browser/remote-stream.test.ts, run by `npm run test:remote`.
const WORDS = ['Hello', ',', ' wörld', ' 🌍', '!'];
let origin = '';

describe('remote models behind the same elements (scripted server)', () => {
  before(async () => {
    origin = await (await fetch('/__openai-fault-origin')).text();
  });

  it('<accel-model src="openai+…#model"> connects, fires accel-ready with backend "remote", and <accel-stream> streams from it', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="r1" src=${`openai+${origin}/ok/v1#tiny-llama`}></accel-model>
      <accel-stream model="r1" temperature="0" max-tokens="8"></accel-stream>
    </div>`);
    const model = root.querySelector<AccelModel>('accel-model')!;
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    setTimeout(() => void model.load());
    const ready = await oneEvent(model, 'accel-ready');
    expect([ready.detail.name, ready.detail.backend, ready.detail.format]).to.deep.equal(['tiny-llama', 'remote', 'openai']);
    await model.updateComplete;
    expect(model.shadowRoot!.querySelector('[part~="status"]')!.textContent).to.equal(`tiny-llama is ready on ${new URL(origin).host} (remote).`);
    const tokens: string[] = [];
    stream.addEventListener('accel-token', (e) => tokens.push(e.detail.text));
    const done = oneEvent(stream, 'accel-done');
    const result = await stream.generate('Hi');
    expect((await done).detail.text).to.equal(WORDS.join(''));
    expect(tokens).to.deep.equal(WORDS);
    expect(result.usage).to.deep.equal({ promptTokens: 3, completionTokens: 5 });
    await stream.updateComplete;
    expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(WORDS.join(''));
    expect(stream.shadowRoot!.querySelector('[part~="metrics"]')!.textContent).to.match(/^TTFT \d+ ms · prefill 2000\.0 tok\/s · decode [\d.]+ tok\/s · 5 tokens$/);
  });

  it('backend="remote" takes a plain https URL; chat mode sends messages to /chat/completions', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="r2" backend="remote" src=${`${origin}/lf/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="r2" chat system="Be brief." temperature="0"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    const result = await stream.generate('Hi there');
    expect(result.text).to.equal(WORDS.join(''));
    expect(stream.messages.map((m) => m.role)).to.deep.equal(['user', 'assistant']);
  });

  it('the apiKey property (never an attribute) authenticates; a wrong key gives accel-error "unauthorized" without the key in it', async () => {
    const model = await fixture<AccelModel>(html`<accel-model src=${`openai+${origin}/auth/v1#tiny-llama`}></accel-model>`);
    model.apiKey = 'sk-wrong-key-42';
    const error = oneEvent(model, 'accel-error');
    void model.load().catch(() => undefined);
    const e = await error;
    expect(e.detail.code).to.equal('unauthorized');
    expect(e.detail.message).not.to.contain('sk-wrong-key-42');
    await model.updateComplete;
    expect(model.shadowRoot!.innerHTML).not.to.contain('sk-wrong-key-42');
    const ready = oneEvent(model, 'accel-ready');
    model.apiKey = 'sk-test-secret';
    await ready;
    expect(model.status).to.equal('ready');
    expect(model.hasAttribute('api-key') || model.hasAttribute('apikey')).to.equal(false);
    expect(model.outerHTML).not.to.contain('sk-test-secret');
  });

  it('a stream dropped mid-token keeps the partial text on screen next to the error', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="r3" src=${`openai+${origin}/drop/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="r3"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    const errored = oneEvent(stream, 'accel-error');
    const failure = await stream.generate('Hi').catch((x: unknown) => x);
    expect(failure).to.be.instanceOf(StreamInterruptedError);
    expect((failure as StreamInterruptedError).partialText).to.equal('Hello,');
    expect((await errored).detail.code).to.equal('stream-interrupted');
    await stream.updateComplete;
    expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal('Hello,');
    expect(stream.shadowRoot!.querySelector('[part~="error"]')!.textContent).to.contain('the partial text is kept');
  });

  it('a rate-limited server surfaces as accel-error "rate-limited" with the wait in words', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="r4" src=${`openai+${origin}/ratelimit/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="r4"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    const errored = oneEvent(stream, 'accel-error');
    void stream.generate('Hi').catch(() => undefined);
    const e = await errored;
    expect(e.detail.code).to.equal('rate-limited');
    expect((e.detail.error as { retryAfterMs: number }).retryAfterMs).to.equal(7000);
    expect(e.detail.message).to.contain('wait 7 s');
  });

  it('an unknown model name is an accel-error listing what the server has', async () => {
    const model = await fixture<AccelModel>(html`<accel-model src=${`openai+${origin}/ok/v1#nope`}></accel-model>`);
    const error = oneEvent(model, 'accel-error');
    void model.load().catch(() => undefined);
    const e = await error;
    expect(e.detail.code).to.equal('model-not-found');
    expect(e.detail.message).to.contain('"tiny-llama"');
  });

  it('is accessible while showing a remote model and its stream', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="r5" src=${`openai+${origin}/lf/v1#tiny-llama`} preload></accel-model>
      <accel-stream model="r5"></accel-stream>
    </div>`);
    await root.querySelector<AccelStream>('accel-stream')!.generate('Hi');
    await expect(root).to.be.accessible();
  });

  it('<accel-capabilities remote="…"> lists the endpoint with its reason; a 70B model goes there before the CPU', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities param-count="70e9" precision="q4" remote="openai+https://gpu.example.com/v1#big"></accel-capabilities>`);
    await oneEvent(el, 'accel-capabilities-ready');
    await el.updateComplete;
    const order = el.recommendation.map((c) => c.backend);
    expect(order.indexOf('remote')).to.be.lessThan(order.indexOf('cpu'));
    expect(el.recommendation.find((c) => c.backend === 'wasm')!.usable, '39 GiB is past 32-bit WebAssembly').to.equal(false);
    // No hardware GPU here (SwiftShader): the endpoint is the recommendation, and says why.
    if (!el.report!.webgpu.adapter || el.report!.webgpu.adapter.isFallbackAdapter) {
      expect(order[0]).to.equal('remote');
      expect(el.recommendation[0]!.reason).to.match(/so the configured endpoint runs it$/);
    }
    const li = el.shadowRoot!.querySelector('li[data-backend="remote"]')!;
    expect(li.textContent).to.contain('big on gpu.example.com');
    expect(el.getAttribute('remote')).to.equal('openai+https://gpu.example.com/v1#big');
  });
});
