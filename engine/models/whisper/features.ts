import { FormatError, InvalidArgumentError } from '../../errors.js';
import { Fft } from './fft.js';

/** `preprocessor_config.json` of a WhisperFeatureExtractor. */
export interface WhisperFeatureConfig {
  /** Mel bins (feature_size), e.g. 80 or 128. */
  readonly featureSize: number;
  readonly samplingRate: number;
  readonly hopLength: number;
  readonly nFft: number;
  /** Samples per window (chunk_length · sampling_rate): audio is zero-padded or cut to this. */
  readonly nSamples: number;
  /** Mel frames per window (nSamples / hopLength). */
  readonly nbMaxFrames: number;
}

/** Mono PCM samples in [−1, 1] (what AudioBuffer.getChannelData gives) and their rate. */
export interface AudioSamples {
  readonly samples: Float32Array;
  readonly sampleRate: number;
}

export function parseWhisperFeatureConfig(input: string | unknown, fileName = 'preprocessor_config.json'): WhisperFeatureConfig {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `the file is not valid JSON (${(cause as Error).message}); it is truncated or corrupt.`, { cause });
    }
  }
  const fail = (problem: string): never => { throw new FormatError(fileName, `${problem} Fix the file or use the one the checkpoint was saved with.`); };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the file must hold a JSON object.');
  const o = json as Record<string, unknown>;
  const int = (key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}.`);
    return v as number;
  };
  const samplingRate = int('sampling_rate', 16000);
  const hopLength = int('hop_length', 160);
  const chunk = int('chunk_length', 30);
  const nFft = int('n_fft', 400);
  if (typeof o['dither'] === 'number' && o['dither'] !== 0) fail(`"dither" = ${o['dither']}: random dither is not supported (it makes features non-deterministic); set it to 0.`);
  const nSamples = int('n_samples', chunk * samplingRate);
  return { featureSize: int('feature_size', 80), samplingRate, hopLength, nFft, nSamples, nbMaxFrames: int('nb_max_frames', nSamples / hopLength) };
}

const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = 15;
const LOGSTEP = 27 / Math.log(6.4);
const hzToMel = (f: number): number => (f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) * LOGSTEP : (3 * f) / 200);
const melToHz = (m: number): number => (m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp((m - MIN_LOG_MEL) / LOGSTEP) : (200 * m) / 3);

/**
 * Triangular filters on the Slaney mel scale with Slaney area normalisation (librosa's default, and what
 * transformers' WhisperFeatureExtractor builds): f64 [nMels, nFreq] over FFT bins 0 … sr/2.
 */
export function melFilterBank(nFreq: number, nMels: number, fMin: number, fMax: number, sampleRate: number): Float64Array {
  const mMin = hzToMel(fMin);
  const mMax = hzToMel(fMax);
  const edges = Array.from({ length: nMels + 2 }, (_, i) => melToHz(mMin + ((mMax - mMin) * i) / (nMels + 1)));
  const half = Math.floor(sampleRate / 2);
  const out = new Float64Array(nMels * nFreq);
  for (let m = 0; m < nMels; m++) {
    const lo = edges[m]!;
    const mid = edges[m + 1]!;
    const hi = edges[m + 2]!;
    const norm = 2 / (hi - lo);
    for (let k = 0; k < nFreq; k++) {
      const f = (half * k) / (nFreq - 1);
      const down = (f - lo) / (mid - lo);
      const up = (hi - f) / (hi - mid);
      out[m * nFreq + k] = Math.max(0, Math.min(down, up)) * norm;
    }
  }
  return out;
}

/**
 * Whisper's log-mel spectrogram, as transformers' WhisperFeatureExtractor: audio zero-padded (or cut) to
 * nSamples; STFT with a periodic Hann window of nFft, hop hopLength, centred with reflect padding; power
 * spectrum; mel filters; log10 with floor 1e-10; the last frame dropped; clamped to (max − 8); (x + 4) / 4.
 * → f32 [featureSize, nbMaxFrames].
 */
export class WhisperFeatureExtractor {
  readonly config: WhisperFeatureConfig;
  #fft: Fft;
  #window: Float64Array;
  #filters: Float64Array;

  constructor(config: WhisperFeatureConfig) {
    this.config = config;
    this.#fft = new Fft(config.nFft);
    this.#window = Float64Array.from({ length: config.nFft }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / config.nFft));
    this.#filters = melFilterBank(Math.floor(config.nFft / 2) + 1, config.featureSize, 0, 8000, config.samplingRate);
  }

  extract(audio: AudioSamples): Float32Array {
    const c = this.config;
    if (typeof audio !== 'object' || audio === null || !(audio.samples instanceof Float32Array)) throw new InvalidArgumentError('Audio must be {samples: Float32Array, sampleRate} (mono PCM in [−1, 1], as AudioBuffer.getChannelData gives).');
    if (audio.sampleRate !== c.samplingRate) throw new InvalidArgumentError(`The audio is sampled at ${audio.sampleRate} Hz; this model takes ${c.samplingRate} Hz. Resample it first (decode it with an OfflineAudioContext at ${c.samplingRate} Hz).`);
    if (audio.samples.length === 0) throw new InvalidArgumentError('The audio has no samples.');
    for (const s of audio.samples) if (!Number.isFinite(s)) throw new InvalidArgumentError('The audio has NaN or infinite samples.');
    const n = c.nSamples;
    const x = new Float64Array(n);
    x.set(audio.samples.subarray(0, n));
    const nFft = c.nFft;
    const half = nFft / 2;
    const nFreq = Math.floor(nFft / 2) + 1;
    const frames = c.nbMaxFrames;
    // centred frames: padded[j] = x[j − half], reflected at both ends
    const at = (j: number): number => {
      let i = j - half;
      if (i < 0) i = -i;
      if (i >= n) i = 2 * (n - 1) - i;
      return x[i]!;
    };
    const re = new Float64Array(nFft);
    const im = new Float64Array(nFft);
    const power = new Float64Array(nFreq);
    const mel = new Float64Array(c.featureSize * frames);
    for (let t = 0; t < frames; t++) {
      for (let i = 0; i < nFft; i++) {
        re[i] = at(t * c.hopLength + i) * this.#window[i]!;
        im[i] = 0;
      }
      this.#fft.transform(re, im);
      for (let k = 0; k < nFreq; k++) power[k] = re[k]! * re[k]! + im[k]! * im[k]!;
      for (let m = 0; m < c.featureSize; m++) {
        let s = 0;
        const row = m * nFreq;
        for (let k = 0; k < nFreq; k++) s += this.#filters[row + k]! * power[k]!;
        mel[m * frames + t] = Math.log10(Math.max(s, 1e-10));
      }
    }
    let max = -Infinity;
    for (const v of mel) max = Math.max(max, v);
    const out = new Float32Array(mel.length);
    for (let i = 0; i < mel.length; i++) out[i] = (Math.max(mel[i]!, max - 8) + 4) / 4;
    return out;
  }
}
