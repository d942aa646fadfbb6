import { expect, fixture, html } from '@open-wc/testing';
import '../../../components/accel-model/index.js';
import '../../../components/accel-stream/index.js';
import type { AccelStream } from '../../../components/accel-stream/accel-stream.js';

// <accel-stream> streaming from llama.cpp on loopback (test/remote-server/server.mjs, started by the
// plugin in ../web-test-runner.config.mjs) through <accel-model src="openai+http://127.0.0.1:PORT/v1#tiny-llama">.
describe('<accel-stream> from a real llama.cpp server', () => {
  let base = '';
  before(async () => {
    base = await (await fetch('/__llama-base-url')).text();
  });

  it('streams a greedy completion token by token; the text equals the server\'s own non-streamed answer', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="llama" src=${`openai+${base}#tiny-llama`} preload></accel-model>
      <accel-stream model="llama" temperature="0" max-tokens="20"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    const tokens: string[] = [];
    stream.addEventListener('accel-token', (e) => tokens.push(e.detail.text));
    const result = await stream.generate('Once upon a time');
    const direct = await (await fetch(`${base}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-llama', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 }),
    })).json() as { choices: { text: string }[]; usage: { completion_tokens: number } };
    expect(result.text).to.equal(direct.choices[0]!.text);
    expect(tokens.join('')).to.equal(result.text);
    expect(tokens.length).to.equal(direct.usage.completion_tokens);
    expect(result.usage.completionTokens).to.equal(direct.usage.completion_tokens);
    await stream.updateComplete;
    expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(result.text);
    expect(stream.shadowRoot!.querySelector('[part~="metrics"]')!.textContent).to.match(/^TTFT \d+ ms · prefill [\d.]+ tok\/s · decode [\d.]+ tok\/s · \d+ tokens$/);
    expect(result.metrics.server!.predictedTokensPerSecond).to.be.greaterThan(0);
  });

  it('stop() closes the remote stream with finishReason "abort" and the text so far', async () => {
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="llama2" src=${`openai+${base}#tiny-llama`} preload></accel-model>
      <accel-stream model="llama2" temperature="0.8" seed="3" max-tokens="2000"></accel-stream>
    </div>`);
    const stream = root.querySelector<AccelStream>('accel-stream')!;
    let seen = 0;
    stream.addEventListener('accel-token', () => ++seen === 5 && stream.stop());
    const result = await stream.generate('Once upon a time');
    expect(result.finishReason).to.equal('abort');
    expect(result.text.length).to.be.greaterThan(0);
    expect(result.usage.completionTokens).to.be.lessThan(100);
  });
});
