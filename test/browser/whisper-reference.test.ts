import { expect } from '@open-wc/testing';
import { getEngine, WorkerEngine, defaultWorkerUrl, type BackendName, type Model } from '../../engine/index.js';
import { toAudioSamples } from '../../src/audio-data.js';
import { maxAbsDiff } from '../helpers/compare.js';

// models/tiny-whisper (random weights) against transformers (tools/train/make_whisper.py, float32 CPU eager).
interface Ref { input_features: number[][]; prompt: number[]; greedy: { tokens: number[]; text: string }; argmax: number[]; logits_first16: number[][]; last_logits: number[] }

const LOGIT_TOLERANCE = 1e-3;
const src = new URL('/models/tiny-whisper/', location.href).href;
const reference = async () => (await (await fetch('/test/fixtures/models/tiny-whisper/reference.json')).json()) as Ref;
/** The fixture's exact samples (16-bit PCM / 32768, as the reference used), parsed from the WAV bytes. */
async function pcm(): Promise<{ samples: Float32Array; sampleRate: number }> {
  const view = new DataView(await (await wav()).arrayBuffer());
  const n = view.getUint32(40, true) / 2;
  return { samples: Float32Array.from({ length: n }, (_, i) => view.getInt16(44 + 2 * i, true) / 32768), sampleRate: view.getUint32(24, true) };
}
const wav = async () => new File([await (await fetch('/test/fixtures/audio/chirp.wav')).blob()], 'chirp.wav', { type: 'audio/wav' });

describe('audio input → 16 kHz samples', () => {
  it('decodes the 16 kHz WAV fixture with Web Audio to the PCM values (within 2e-5: decoders scale int16 slightly differently)', async () => {
    const a = await toAudioSamples(await wav());
    const exact = await pcm();
    expect(a.sampleRate).to.equal(16000);
    expect(a.samples.length).to.equal(32000);
    expect(maxAbsDiff(a.samples, exact.samples)).to.be.at.most(2e-5);
  });

  it('resamples 48 kHz audio to 16 kHz (a 440 Hz tone keeps its frequency)', async () => {
    const rate = 48000;
    const ctx = new OfflineAudioContext(1, rate, rate);
    const buf = ctx.createBuffer(1, rate, rate);
    buf.getChannelData(0).set(Float32Array.from({ length: rate }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / rate)));
    const a = await toAudioSamples(buf);
    expect(a.samples.length).to.equal(16000);
    let crossings = 0;
    for (let i = 1000; i < 15000; i++) if (a.samples[i - 1]! < 0 && a.samples[i]! >= 0) crossings++;
    expect(crossings).to.be.within(384, 386);
  });

  it('refuses a file that is not audio', async () => {
    const e = await toAudioSamples(new File(['x'], 'a.txt', { type: 'text/plain' })).catch((x: unknown) => x);
    expect((e as { code?: string }).code).to.equal('invalid-argument');
  });
});

for (const backend of ['cpu', 'wasm', 'webgpu'] as BackendName[]) {
  describe(`tiny-whisper on ${backend}`, () => {
    let model: Model;
    before(async () => {
      model = await getEngine().load(src, { backend });
      expect(model.backend.name).to.equal(backend);
    });
    after(() => getEngine().unload(model));

    it(`features within 1e-4 and decoder logits within ${LOGIT_TOLERANCE} of PyTorch at every position`, async () => {
      const ref = await reference();
      expect(model.info.task).to.equal('speech-recognition');
      const audio = await pcm();
      const feats = model.speech!.extract(audio);
      const fErr = maxAbsDiff(feats, ref.input_features.flat());
      expect(fErr, 'mel max |Δ|').to.be.at.most(1e-4);
      const lm = model.lm as unknown as { encode(f: Float32Array): void };
      lm.encode(feats);
      const ids = [...ref.prompt, ...ref.greedy.tokens.slice(0, -1)];
      const t = model.forward(Int32Array.from(ids), { allLogits: true });
      const logits = (await model.backend.download(t)) as Float32Array;
      t.dispose();
      const v = model.lm!.vocabSize;
      let err = 0;
      ids.forEach((_, i) => (err = Math.max(err, maxAbsDiff(logits.subarray(i * v, i * v + 16), ref.logits_first16[i]!))));
      const p = ref.prompt.length - 1;
      err = Math.max(err, maxAbsDiff(logits.subarray(p * v, (p + 1) * v), ref.last_logits));
      console.log(`tiny-whisper ${backend}: mel max |Δ| ${fErr.toExponential(2)}, logits max |Δ| ${err.toExponential(2)}`);
      expect(err, 'logits max |Δ|').to.be.at.most(LOGIT_TOLERANCE);
    });

    it('transcribe() streams the reference greedy tokens through the KV cache', async () => {
      const ref = await reference();
      const n = backend === 'webgpu' ? 6 : ref.greedy.tokens.length;
      const gen = model.transcribe(await pcm(), { maxNewTokens: n, ignoreEos: true });
      const streamed: number[] = [];
      for await (const e of gen) streamed.push(e.token);
      const result = await gen.result;
      expect(result.tokens).to.deep.equal(ref.greedy.tokens.slice(0, n));
      expect(streamed).to.deep.equal(result.tokens);
      if (n === ref.greedy.tokens.length) expect(result.text).to.equal(ref.greedy.text);
    });
  });
}

describe('tiny-whisper through the engine Worker', () => {
  it('transcribe() across postMessage gives the same tokens; errors stay typed', async () => {
    const ref = await reference();
    const engine = WorkerEngine.start(defaultWorkerUrl());
    try {
      const m = await engine.load(src, { backend: 'cpu' });
      expect(m.info.task).to.equal('speech-recognition');
      const result = await m.transcribe(await toAudioSamples(await wav()), { maxNewTokens: 4, ignoreEos: true }).result;
      expect(result.tokens).to.deep.equal(ref.greedy.tokens.slice(0, 4));
      const long = { samples: new Float32Array(16000 * 4), sampleRate: 16000 };
      const e = await m.transcribe(long).result.catch((x: unknown) => x);
      expect((e as { code?: string }).code).to.equal('invalid-argument');
      expect((e as Error).message).to.contain('transcribes 3 s per call');
    } finally {
      engine.terminate();
    }
  });
});

describe('tiny-whisper refuses text generation', () => {
  it('generate() says to use transcribe()', async () => {
    const model = await getEngine().load(src, { backend: 'cpu' });
    try {
      expect(() => model.generate('hello')).to.throw(/not a text generator; use transcribe\(\)/);
    } finally {
      getEngine().unload(model);
    }
  });
});

describe('tiny-whisper transcriptions take turns', () => {
  it('two overlapping transcribe() calls each get their own audio\'s tokens; an aborted one ends with finishReason abort', async () => {
    const ref = await reference();
    const model = await getEngine().load(src, { backend: 'cpu' });
    try {
      const audio = await pcm();
      const silence = { samples: new Float32Array(16000), sampleRate: 16000 };
      const alone = await model.transcribe(silence, { maxNewTokens: 6, ignoreEos: true }).result;
      const a = model.transcribe(audio, { maxNewTokens: 6, ignoreEos: true });
      const b = model.transcribe(silence, { maxNewTokens: 6, ignoreEos: true });
      const c = model.transcribe(audio, { maxNewTokens: 6, ignoreEos: true });
      c.abort();
      const [ra, rb, rc] = await Promise.all([a.result, b.result, c.result]);
      expect(ra.tokens).to.deep.equal(ref.greedy.tokens.slice(0, 6));
      expect(rb.tokens).to.deep.equal(alone.tokens);
      expect(rb.tokens).to.not.deep.equal(ra.tokens);
      expect(rc.finishReason).to.equal('abort');
      expect((await model.transcribe(audio, { maxNewTokens: 3, ignoreEos: true }).result).tokens).to.deep.equal(ref.greedy.tokens.slice(0, 3));
    } finally {
      getEngine().unload(model);
    }
  });
});
