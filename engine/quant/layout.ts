/**
 * THE packed quantized weight layout — the one place it is defined. The quantizer (engine/quant)
 * writes it; every backend's quantized kernels read it directly, with no dequantized copy.
 *
 * A weight W has shape [N, K] (PyTorch `nn.Linear` order: N output features, K inputs) and is cut into
 * groups of `groupSize` consecutive values along K (groupSize ∈ {32, 64, 128}; K % groupSize === 0).
 *
 * Codes: each value becomes an unsigned code q ∈ [0, 2^bits − 1].
 *   symmetric:  w ≈ (q − 2^(bits−1)) · scale            (one scale per group)
 *   asymmetric: w ≈ q · scale + min                       (scale and min per group)
 *
 * `data` (u32 words, row-major: row n starts at word n · K · bits / 32):
 *   bits 8: 4 codes per word,  code j of a word at bits [8j, 8j+8)      (little-endian bytes)
 *   bits 4: 8 codes per word,  code j at bits [4j, 4j+4)
 *   bits 2: 16 codes per word, code j at bits [2j, 2j+2)
 *   bits 3: bit planes per 32 codes (3 words): words 0–1 hold the low 2 bits of codes 0–15 and 16–31
 *           (2-bit packing as above), word 2 holds bit 2 of code j at bit j. Exactly 3 bits a value.
 * `scales` (and `mins`): f16 per group, row-major [N, K / groupSize], two halves per u32 word
 *   (group g in word g >> 1, low half when g is even); the buffer is padded to a whole word.
 *
 * Bytes per weight: bits/8 + 2/groupSize (+ 2/groupSize asymmetric), e.g. int4 g32 sym = 0.5625.
 */
export type QuantBits = 8 | 4 | 3 | 2;
export type GroupSize = 32 | 64 | 128;

export interface QuantFormat {
  readonly bits: QuantBits;
  readonly groupSize: GroupSize;
  readonly symmetric: boolean;
}

export const QUANT_BITS: readonly QuantBits[] = [8, 4, 3, 2];
export const GROUP_SIZES: readonly GroupSize[] = [32, 64, 128];

/** u32 words of packed codes per row of K values. */
export function wordsPerRow(k: number, bits: QuantBits): number {
  return (k * bits) / 32;
}

export function groupsPerRow(k: number, groupSize: number): number {
  return k / groupSize;
}

/** u32 words holding `count` f16 values. */
export function f16Words(count: number): number {
  return Math.ceil(count / 2);
}

/** Symmetric zero code: 2^(bits−1). */
export function symmetricZero(bits: QuantBits): number {
  return 1 << (bits - 1);
}

/** Code `j` (0 ≤ j < K) of row `n` read from packed words — the reference every kernel mirrors. */
export function readCode(data: Uint32Array, n: number, j: number, k: number, bits: QuantBits): number {
  const row = n * wordsPerRow(k, bits);
  if (bits === 3) {
    const block = row + (j >> 5) * 3;
    const t = j & 31;
    const lo = (data[block + (t >> 4)]! >>> ((t & 15) * 2)) & 3;
    const hi = (data[block + 2]! >>> t) & 1;
    return lo | (hi << 2);
  }
  const perWord = 32 / bits;
  const word = data[row + Math.floor(j / perWord)]!;
  return (word >>> ((j % perWord) * bits)) & ((1 << bits) - 1);
}

/** Writes code `q` at (n, j); the inverse of readCode. `data` must start zeroed. */
export function writeCode(data: Uint32Array, n: number, j: number, k: number, bits: QuantBits, q: number): void {
  const row = n * wordsPerRow(k, bits);
  if (bits === 3) {
    const block = row + (j >> 5) * 3;
    const t = j & 31;
    data[block + (t >> 4)]! |= (q & 3) << ((t & 15) * 2);
    data[block + 2]! |= ((q >> 2) & 1) << t;
    return;
  }
  const perWord = 32 / bits;
  data[row + Math.floor(j / perWord)]! |= (q & ((1 << bits) - 1)) << ((j % perWord) * bits);
}

/** The f16 bits of value `i` in a packed half array. */
export function readHalf(words: Uint32Array, i: number): number {
  const w = words[i >> 1]!;
  return i & 1 ? w >>> 16 : w & 0xffff;
}

export function writeHalf(words: Uint32Array, i: number, half: number): void {
  const w = words[i >> 1]!;
  words[i >> 1] = i & 1 ? (w & 0xffff) | (half << 16) : (w & 0xffff0000) | half;
}

export function validateQuantShape(n: number, k: number, format: QuantFormat): string | null {
  if (!QUANT_BITS.includes(format.bits)) return `bits must be one of ${QUANT_BITS.join(', ')}`;
  if (!GROUP_SIZES.includes(format.groupSize)) return `groupSize must be one of ${GROUP_SIZES.join(', ')}`;
  if (!Number.isInteger(n) || n <= 0 || !Number.isInteger(k) || k <= 0) return `bad shape [${n}, ${k}]`;
  if (k % format.groupSize !== 0) return `K = ${k} is not a multiple of groupSize ${format.groupSize}`;
  return null;
}
