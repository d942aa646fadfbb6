import type { Tensor } from '../tensor/tensor.js';
import type { QuantFormat } from './layout.js';

/**
 * A packed weight W [N, K] on one backend, in the layout of ./layout.ts. The three tensors belong to
 * the same backend; `dispose()` frees all of them.
 */
export interface QuantizedTensor extends QuantFormat {
  readonly kind: 'quantized';
  /** [N, K] of the logical (dequantized) weight. */
  readonly shape: readonly [number, number];
  /** u32 [N · K · bits / 32] */
  readonly data: Tensor;
  /** u32 [ceil(N · K / groupSize / 2)]: f16 pairs */
  readonly scales: Tensor;
  /** u32, same size as scales; present when !symmetric */
  readonly mins: Tensor | null;
}

export function disposeQuantized(q: QuantizedTensor): void {
  q.data.dispose();
  q.scales.dispose();
  q.mins?.dispose();
}
