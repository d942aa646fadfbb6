import { InvalidArgumentError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { f16Words, validateQuantShape, wordsPerRow, type QuantFormat } from './layout.js';

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

/**
 * Validates packed weights against their format and shape and uploads them as one QuantizedTensor: the
 * checks every backend's `uploadQuantized` needs, written once.
 */
export function uploadPacked(
  backend: { upload(data: Uint32Array, shape: readonly number[], dtype: 'u32'): Tensor },
  format: QuantFormat,
  shape: readonly [number, number],
  data: Uint32Array,
  scales: Uint32Array,
  mins: Uint32Array | null,
): QuantizedTensor {
  const [n, k] = shape;
  const problem = validateQuantShape(n, k, format);
  if (problem !== null) throw new InvalidArgumentError(`uploadQuantized: ${problem}`);
  const words = n * wordsPerRow(k, format.bits);
  const halfWords = f16Words((n * k) / format.groupSize);
  if (data.length !== words) throw new ShapeError('uploadQuantized', `[${n}, ${k}] at ${format.bits} bits needs ${words} data words, got ${data.length}`);
  if (scales.length !== halfWords) throw new ShapeError('uploadQuantized', `[${n}, ${k}] group ${format.groupSize} needs ${halfWords} scale words, got ${scales.length}`);
  if (format.symmetric !== (mins === null)) throw new InvalidArgumentError(`uploadQuantized: ${format.symmetric ? 'symmetric formats take no mins' : 'asymmetric formats need mins'}`);
  if (mins !== null && mins.length !== halfWords) throw new ShapeError('uploadQuantized', `needs ${halfWords} min words, got ${mins.length}`);
  return {
    kind: 'quantized',
    bits: format.bits,
    groupSize: format.groupSize,
    symmetric: format.symmetric,
    shape: [n, k],
    data: backend.upload(data, [words], 'u32'),
    scales: backend.upload(scales, [halfWords], 'u32'),
    mins: mins === null ? null : backend.upload(mins, [halfWords], 'u32'),
  };
}
