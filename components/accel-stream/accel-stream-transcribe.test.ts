import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../accel-model/index.js';
import './index.js';
import { configureElements } from '../../src/engine-client.js';

// <accel-stream transcribe()> with the random-weight tiny-whisper: the reference greedy tokens, streamed.
interface Ref { greedy: { tokens: number[]; text: string } }
const reference = async () => (await (await fetch('/test/fixtures/models/tiny-whisper/reference.json')).json()) as Ref;
const wav = async () => new File([await (await fetch('/test/fixtures/audio/chirp.wav')).blob()], 'chirp.wav', { type: 'audio/wav' });

for (const mode of ['inline', 'worker'] as const) {
  describe(`<accel-stream> transcribes a dropped file (${mode} engine)`, () => {
    before(() => configureElements({ engine: mode }));
    after(() => configureElements({ engine: 'inline' }));

    it('streams accel-token events and ends with the reference greedy transcript', async () => {
      const ref = await reference();
      const root = await fixture<HTMLDivElement>(html`<div>
        <accel-model id="asr-${mode}" src="/models/tiny-whisper/" backend="cpu" task="speech-recognition" preload></accel-model>
        <accel-stream model="asr-${mode}" temperature="0" max-tokens="12"></accel-stream>
      </div>`);
      const stream = root.querySelector('accel-stream')!;
      const tokens: number[] = [];
      stream.addEventListener('accel-token', (e) => tokens.push(e.detail.token));
      const done = oneEvent(stream, 'accel-done');
      const result = await stream.transcribe(await wav());
      expect((await done).detail.tokens).to.deep.equal(result.tokens);
      // EOS may end it early; whatever ran must be the reference prefix
      expect(result.tokens).to.deep.equal(ref.greedy.tokens.slice(0, result.tokens.length));
      expect(result.tokens.length).to.equal(12);
      expect(tokens).to.deep.equal(result.tokens);
      await stream.updateComplete;
      expect(stream.shadowRoot!.querySelector('[part~="output"]')!.textContent).to.equal(ref.greedy.text);
      await expect(stream).to.be.accessible();
      root.querySelector('accel-model')!.unload();
    });
  });
}

describe('<accel-stream transcribe()> errors', () => {
  before(() => configureElements({ engine: 'inline' }));

  it('a text model or a non-audio file gives accel-error (invalid-argument)', async () => {
    const stream = await fixture(html`<accel-stream src="/models/tiny-llama/"></accel-stream>`) as HTMLElementTagNameMap['accel-stream'];
    const e1 = oneEvent(stream, 'accel-error');
    await stream.transcribe(await wav()).catch(() => undefined);
    const d1 = (await e1).detail;
    expect(d1.code).to.equal('invalid-argument');
    expect(d1.message).to.contain('not a speech recognizer');
    const e2 = oneEvent(stream, 'accel-error');
    await stream.transcribe(new File(['x'], 'notes.txt', { type: 'text/plain' })).catch(() => undefined);
    expect((await e2).detail.message).to.contain('not audio');
  });
});
