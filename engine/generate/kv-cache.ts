import { InvalidArgumentError } from '../errors.js';
import type { ModelConfig } from '../formats/config.js';
import type { CausalLM } from '../models/model.js';

/**
 * KV-cache policy for generation. The cache itself lives in the model (one [Hkv, S, Dh] pair per
 * layer, S = maxSequence fixed at load); this module decides how long it is (memory profiles), how a
 * prompt is fed into it (chunked prefill), what it holds (so a follow-up call reuses the common
 * prefix), and what happens when it is full (sliding window).
 */

export type MemoryProfileName = 'low' | 'balanced' | 'max';

export interface MemoryProfile {
  readonly name: MemoryProfileName;
  /** KV-cache length to load the model with (LlamaOptions.maxSequence). */
  readonly maxSequence: number;
  /**
   * Prompt tokens per forward call. Prefill activations grow with it (T × intermediate for the MLP,
   * T × heads × S for attention scores), so small chunks cap peak memory; big ones run faster.
   */
  readonly prefillChunk: number;
  /** Bytes the KV cache takes at that length. */
  readonly kvCacheBytes: number;
}

const MiB = 1024 * 1024;

// Each profile caps the cache both in tokens and in bytes: a 2048-token cache is 64 MiB for a 135M
// SmolLM but 1 GiB for an 8B Llama, and the byte cap is what keeps a phone's tab alive.
const PROFILES: Record<MemoryProfileName, { tokens: number; kvBudget: number; prefillChunk: number }> = {
  low: { tokens: 512, kvBudget: 32 * MiB, prefillChunk: 32 },
  balanced: { tokens: 2048, kvBudget: 256 * MiB, prefillChunk: 128 },
  max: { tokens: Infinity, kvBudget: 2048 * MiB, prefillChunk: 512 },
};

/** Shortest cache a profile will give, whatever the budget says (a chat turn must fit). */
const MIN_SEQUENCE = 64;

export function isMemoryProfile(name: unknown): name is MemoryProfileName {
  return name === 'low' || name === 'balanced' || name === 'max';
}

/** f32 K and V for one position in every layer. */
export function kvBytesPerToken(config: ModelConfig): number {
  switch (config.architecture) {
    case 'llama': return 2 * config.numHiddenLayers * config.numKeyValueHeads * config.headDim * 4;
    case 'gpt2': return 2 * config.nLayer * config.nEmbd * 4;
    case 'whisper': return 2 * config.decoderLayers * config.dModel * 4;
    default: throw new InvalidArgumentError(`${config.architecture} is not a causal language model; it has no KV cache.`);
  }
}

function maxPositions(config: ModelConfig): number {
  if (config.architecture === 'vit') return (config.imageSize / config.patchSize) ** 2 + 1;
  if (config.architecture === 'whisper') return config.maxTargetPositions;
  return config.architecture === 'gpt2' ? config.nPositions : config.maxPositionEmbeddings;
}

export function memoryProfile(name: MemoryProfileName, config: ModelConfig): MemoryProfile {
  if (!isMemoryProfile(name)) throw new InvalidArgumentError(`Unknown memory profile "${String(name)}"; use "low", "balanced" or "max".`);
  const p = PROFILES[name];
  const perToken = kvBytesPerToken(config);
  const limit = maxPositions(config);
  const byBudget = Math.floor(p.kvBudget / perToken);
  const maxSequence = Math.min(limit, Math.max(MIN_SEQUENCE, Math.min(p.tokens, byBudget)));
  return { name, maxSequence, prefillChunk: Math.min(p.prefillChunk, maxSequence), kvCacheBytes: maxSequence * perToken };
}

export function prefillChunkFor(name: MemoryProfileName): number {
  if (!isMemoryProfile(name)) throw new InvalidArgumentError(`Unknown memory profile "${String(name)}"; use "low", "balanced" or "max".`);
  return PROFILES[name].prefillChunk;
}

/**
 * When the cache is full: keep the first `sink` positions (attention sinks: BOS and the system
 * prompt, which models attend to heavily) and the last `keep` tokens, re-prefilled right after the
 * sink at fresh positions. The KV values are recomputed, so attention over the kept tokens is exact;
 * the price is one prefill of `keep` tokens every (maxSequence − sink − keep) generated tokens.
 * With the default keep = half the free room that is about one prefill token per decoded token, and
 * prefill runs many tokens per forward, so it costs far less than the decoding it enables.
 */
export interface SlidingWindowOptions {
  /** Leading positions always kept; default 4 (StreamingLLM's choice). */
  sink?: number;
  /** Recent tokens re-prefilled after a shift; default ⌊(maxSequence − sink) / 2⌋. */
  keep?: number;
}

export interface SlidingWindow {
  readonly sink: number;
  readonly keep: number;
}

export function resolveSlidingWindow(option: boolean | SlidingWindowOptions | undefined, maxSequence: number): SlidingWindow | null {
  if (option === undefined || option === false) return null;
  const o = option === true ? {} : option;
  const sink = o.sink ?? Math.min(4, Math.floor(maxSequence / 4));
  const keep = o.keep ?? Math.floor((maxSequence - sink) / 2);
  if (!Number.isInteger(sink) || sink < 0) throw new InvalidArgumentError(`slidingWindow.sink must be an integer ≥ 0, got ${sink}.`);
  if (!Number.isInteger(keep) || keep < 1 || sink + keep >= maxSequence) {
    throw new InvalidArgumentError(`slidingWindow.keep must be an integer ≥ 1 with sink + keep < ${maxSequence} (the KV cache length), got sink ${sink}, keep ${keep}.`);
  }
  return { sink, keep };
}

/** The tokens a window holds after shifting over `tokens`: its first `sink` and its last `keep`. */
export function windowTokens(tokens: readonly number[], w: SlidingWindow): number[] {
  if (tokens.length <= w.sink + w.keep) return [...tokens];
  return [...tokens.slice(0, w.sink), ...tokens.slice(tokens.length - w.keep)];
}

// What each model's cache holds, as far as the generator knows; positions it did not write itself
// (someone else called forward) show up as a length mismatch and disable reuse.
const contents = new WeakMap<CausalLM, number[]>();

/** The token ids in `model`'s KV cache, or null when unknown. */
export function cachedTokens(model: CausalLM): readonly number[] | null {
  const c = contents.get(model);
  return c !== undefined && c.length === model.position ? c : null;
}

/** Records the cache's contents; `tokens` is kept by reference and must be updated with the cache. */
export function trackCache(model: CausalLM, tokens: number[] | null): void {
  if (tokens === null) contents.delete(model);
  else contents.set(model, tokens);
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
