import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { FormatError, InvalidArgumentError } from '../../engine/errors.js';
import { parseModelConfig, type WhisperConfig } from '../../engine/formats/config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { Fft } from '../../engine/models/whisper/fft.js';
import { WhisperFeatureExtractor, parseWhisperFeatureConfig } from '../../engine/models/whisper/features.js';
import { WhisperModel } from '../../engine/models/whisper/whisper.js';
import { safetensorsStore } from '../../engine/models/stores.js';

// models/tiny-whisper (random weights) against transformers' WhisperFeatureExtractor and
// WhisperForConditionalGeneration on CPU in float32: tools/train/make_whisper.py.
const dir = new URL('../../models/tiny-whisper/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const config = parseModelConfig(read('config.json').toString('utf8')) as WhisperConfig;
const features = parseWhisperFeatureConfig(read('preprocessor_config.json').toString('utf8'));
interface Ref { input_features: number[][]; encoder_last_hidden_state: number[][]; prompt: number[]; greedy: { tokens: number[] }; argmax: number[]; logits_first16: number[][]; last_logits: number[] }
const reference = JSON.parse(readFileSync(new URL('../fixtures/models/tiny-whisper/reference.json', import.meta.url), 'utf8')) as Ref;

/** 16-bit mono PCM WAV (the fixture's 44-byte header) → samples in [−1, 1]. */
function readWav(path: URL): Float32Array {
  const b = readFileSync(path);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(b.toString('ascii', 0, 4), 'RIFF');
  assert.equal(view.getUint16(34, true), 16);
  const n = view.getUint32(40, true) / 2;
  return Float32Array.from({ length: n }, (_, i) => view.getInt16(44 + 2 * i, true) / 32768);
}
const audio = { samples: readWav(new URL('../fixtures/audio/chirp.wav', import.meta.url)), sampleRate: 16000 };
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('mixed-radix FFT equals the direct DFT (n = 400, 12, 7)', () => {
  for (const n of [400, 12, 7]) {
    const re = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) + 0.01 * i);
    const im = new Float64Array(n);
    const fr = re.slice();
    const fi = im.slice();
    new Fft(n).transform(fr, fi);
    for (const k of [0, 1, Math.floor(n / 3), n - 1]) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < n; j++) {
        sr += re[j]! * Math.cos((-2 * Math.PI * j * k) / n);
        si += re[j]! * Math.sin((-2 * Math.PI * j * k) / n);
      }
      assert.ok(Math.abs(sr - fr[k]!) < 1e-9 && Math.abs(si - fi[k]!) < 1e-9, `n ${n} bin ${k}`);
    }
  }
});

test('log-mel features equal transformers\' WhisperFeatureExtractor within 1e-4', () => {
  assert.deepEqual([features.featureSize, features.nFft, features.hopLength, features.nSamples, features.nbMaxFrames], [80, 400, 160, 48000, 300]);
  const got = new WhisperFeatureExtractor(features).extract(audio);
  const err = maxAbs(got, reference.input_features.flat());
  assert.ok(err <= 1e-4, `max |Δ| ${err}`);
});

test('bad audio and configs are refused with typed errors', () => {
  const fe = new WhisperFeatureExtractor(features);
  assert.throws(() => fe.extract({ samples: audio.samples, sampleRate: 44100 }), /44100 Hz; this model takes 16000 Hz/);
  assert.throws(() => fe.extract({ samples: new Float32Array(0), sampleRate: 16000 }), InvalidArgumentError);
  assert.throws(() => fe.extract({ samples: Float32Array.of(0, NaN), sampleRate: 16000 }), /NaN/);
  assert.throws(() => parseWhisperFeatureConfig('{"dither": 1.0}'), FormatError);
  const raw = JSON.parse(read('config.json').toString('utf8')) as Record<string, unknown>;
  assert.throws(() => parseModelConfig({ ...raw, decoder_start_token_id: null }), /decoder_start_token_id/);
  assert.throws(() => parseModelConfig({ ...raw, encoder_attention_heads: 5 }), FormatError);
});

test('tiny-whisper on cpu: encoder states and decoder logits within 1e-3 of PyTorch; greedy tokens through the KV cache', async () => {
  const bytes = new Uint8Array(read('model.safetensors'));
  const backend = new CpuBackend();
  const model = new WhisperModel(backend, config, safetensorsStore([{ header: parseSafetensors(bytes), bytes }]));
  try {
    assert.throws(() => model.forward(Int32Array.from(reference.prompt)), /encode/);
    const feats = Float32Array.from(reference.input_features.flat());
    const enc = model.encoderHidden(feats);
    const encErr = maxAbs((await backend.download(enc)) as Float32Array, reference.encoder_last_hidden_state.flat());
    enc.dispose();
    assert.ok(encErr <= 1e-3, `encoder max |Δ| ${encErr}`);
    model.encode(feats);
    const ids = [...reference.prompt, ...reference.greedy.tokens.slice(0, -1)];
    const all = model.forward(Int32Array.from(ids), { allLogits: true });
    const logits = (await backend.download(all)) as Float32Array;
    all.dispose();
    const v = config.vocabSize;
    let err16 = 0;
    ids.forEach((_, i) => (err16 = Math.max(err16, maxAbs(logits.subarray(i * v, i * v + 16), reference.logits_first16[i]!))));
    assert.ok(err16 <= 1e-3, `logits[:16] max |Δ| ${err16}`);
    const p = reference.prompt.length - 1;
    const lastErr = maxAbs(logits.subarray(p * v, (p + 1) * v), reference.last_logits);
    assert.ok(lastErr <= 1e-3, `prompt logits max |Δ| ${lastErr}`);
    const argmax = ids.map((_, i) => {
      let best = 0;
      for (let j = 1; j < v; j++) if (logits[i * v + j]! > logits[i * v + best]!) best = j;
      return best;
    });
    assert.deepEqual(argmax, reference.argmax);
    // token by token through the cache
    model.resetCache();
    let seq = [...reference.prompt];
    let out = model.forward(Int32Array.from(seq));
    const greedy: number[] = [];
    for (let i = 0; i < reference.greedy.tokens.length; i++) {
      const row = (await backend.download(out)) as Float32Array;
      out.dispose();
      let best = 0;
      for (let j = 1; j < v; j++) if (row[j]! > row[best]!) best = j;
      greedy.push(best);
      seq = [best];
      out = model.forward(Int32Array.from(seq));
    }
    out.dispose();
    assert.deepEqual(greedy, reference.greedy.tokens);
  } finally {
    model.dispose();
  }
  assert.equal(backend.memory().allocatedBytes, 0);
});
