import { InvalidArgumentError } from '../engine/errors.js';
import type { AudioSamples } from '../engine/models/whisper/features.js';

/** What a page can hand to a speech model: a decoded AudioBuffer, samples it already has, or a file. */
export type AudioInput = AudioSamples | AudioBuffer | Blob;

/**
 * Any audio input → mono samples at `sampleRate` (16 kHz for Whisper): files are decoded and resampled by
 * an OfflineAudioContext running at that rate; channels are averaged.
 */
export async function toAudioSamples(input: AudioInput, sampleRate = 16000): Promise<AudioSamples> {
  if (typeof input === 'object' && input !== null && 'samples' in input && input.samples instanceof Float32Array) return input;
  let buffer: AudioBuffer;
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    if (input.type && !input.type.startsWith('audio/') && !input.type.startsWith('video/')) throw new InvalidArgumentError(`The file is "${input.type}", not audio; give a WAV, MP3, OGG, FLAC or WebM file.`);
    if (typeof OfflineAudioContext === 'undefined') throw new InvalidArgumentError('Web Audio is not available here, so the file cannot be decoded; pass {samples, sampleRate} instead.');
    const bytes = await input.arrayBuffer();
    try {
      buffer = await new OfflineAudioContext(1, 1, sampleRate).decodeAudioData(bytes);
    } catch (cause) {
      throw new InvalidArgumentError(`The file could not be decoded as audio (${(cause as Error).message || 'unknown format'}); give a WAV, MP3, OGG, FLAC or WebM file.`);
    }
  } else if (typeof AudioBuffer !== 'undefined' && input instanceof AudioBuffer) {
    buffer = input;
  } else {
    throw new InvalidArgumentError('Unsupported audio input: give {samples, sampleRate}, an AudioBuffer, a File or a Blob.');
  }
  if (buffer.sampleRate !== sampleRate) {
    const ctx = new OfflineAudioContext(buffer.numberOfChannels, Math.max(1, Math.ceil(buffer.duration * sampleRate)), sampleRate);
    const node = ctx.createBufferSource();
    node.buffer = buffer;
    node.connect(ctx.destination);
    node.start();
    buffer = await ctx.startRendering();
  }
  const samples = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const ch = buffer.getChannelData(c);
    for (let i = 0; i < samples.length; i++) samples[i]! += ch[i]! / buffer.numberOfChannels;
  }
  return { samples, sampleRate };
}
