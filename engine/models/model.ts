import type { Backend } from '../backends/backend.js';
import type { ModelConfig } from '../formats/config.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ForwardOptions {
  /** Return logits for every position ([T, V]) instead of only the last one ([1, V]). */
  allLogits?: boolean;
  /**
   * Called with each projection's Hugging Face weight name and its input [T, K] just before it runs (calibration
   * and quality reports). The tensor is borrowed: record ops on it now, do not dispose it.
   */
  onLinearInput?: (name: string, x: Tensor) => void;
}

/** A decoder-only language model with its own KV cache on one backend. */
export interface CausalLM {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly vocabSize: number;
  /** Longest sequence the KV cache holds. */
  readonly maxSequence: number;
  /** Tokens already in the KV cache; the next forward continues from here. */
  readonly position: number;
  /**
   * Runs `ids` (i32 values) through the model after the cached positions and appends them to the cache.
   * Returns logits f32 [1, V] (last position) or [T, V] with allLogits. The caller disposes the result.
   */
  forward(ids: Int32Array, options?: ForwardOptions): Tensor;
  /**
   * forward() with the ids already on the model's backend (i32 [T]), e.g. the argmax of the previous step: a
   * greedy decoder queues the next step before reading this one back. Optional; the generator uses it on
   * backends that record work (Backend.deferred).
   */
  forwardIds?(ids: Tensor, options?: ForwardOptions): Tensor;
  /** Forgets the cache (or keeps its first `keep` positions). */
  resetCache(keep?: number): void;
  /** Bytes of weights and of the KV cache on the backend. */
  memory(): { weightBytes: number; kvCacheBytes: number };
  dispose(): void;
}
