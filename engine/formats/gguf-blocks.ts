import { FormatError } from '../errors.js';
import { type QuantFormat, f16Words, wordsPerRow } from '../quant/layout.js';
import { GgmlType, type GgufTensorInfo } from './gguf.js';
import { bf16ToF32Array, f16Table, f16ToF32Array } from './half.js';
import { f32ToF16 } from '../tensor/dtype.js';

/**
 * ggml block decoders (→ f32) and repackers into the engine's packed layout (engine/quant/layout.ts).
 * Block layouts (ggml-common.h), all little-endian:
 *   Q8_0 (32 values, 34 B): f16 d · i8 qs[32]                      w = d · qs[i]
 *   Q4_0 (32 values, 18 B): f16 d · u8 qs[16]                      w = d · (nibble − 8); values 0–15 are
 *                           the low nibbles of qs[0..15], values 16–31 the high nibbles
 *   Q4_K (256 values, 144 B): f16 d · f16 dmin · u8 scales[12] · u8 qs[128]; eight sub-blocks of 32 with
 *                           6-bit scale sc and min m each: w = d·sc · nibble − dmin·m. Each 32 bytes of
 *                           qs hold two sub-blocks: low nibbles the first, high nibbles the second.
 *   Q6_K (256 values, 210 B): u8 ql[128] · u8 qh[64] · i8 scales[16] · f16 d; two halves of 128, each
 *                           from 64 bytes of ql (low 4 bits) and 32 of qh (2 high bits, 4 values a
 *                           byte), 16 values per scale: w = d · scale · (q − 32). llama.cpp keeps
 *                           output.weight in Q6_K even in "Q4_0" files, hence this decoder.
 */

/** The tensor's bytes as a Uint8Array, checked to lie inside `bytes` (which starts at file offset `fileOffset`). */
function tensorBytes(info: GgufTensorInfo, bytes: Uint8Array, fileOffset: number, fileName: string): Uint8Array {
  const start = info.begin - fileOffset;
  if (start < 0 || start + (info.end - info.begin) > bytes.length) {
    throw new FormatError(fileName, `tensor "${info.name}" bytes [${info.begin}, ${info.end}) are not inside the ${bytes.length} bytes given from offset ${fileOffset}; load the whole range first.`, { byteOffset: info.begin });
  }
  return bytes.subarray(start, start + (info.end - info.begin));
}

function u16Array(src: Uint8Array, count: number): Uint16Array {
  if (src.byteOffset % 2 === 0) return new Uint16Array(src.buffer as ArrayBuffer, src.byteOffset, count);
  return new Uint16Array(src.slice(0, count * 2).buffer);
}

function half(src: Uint8Array, at: number): number {
  return src[at]! | (src[at + 1]! << 8);
}

export function dequantizeQ8_0(src: Uint8Array, count: number, out = new Float32Array(count)): Float32Array {
  const t = f16Table();
  for (let b = 0, o = 0; o < count; b += 34) {
    const d = t[half(src, b)]!;
    for (let i = 0; i < 32; i++, o++) out[o] = d * ((src[b + 2 + i]! << 24) >> 24);
  }
  return out;
}

export function dequantizeQ4_0(src: Uint8Array, count: number, out = new Float32Array(count)): Float32Array {
  const t = f16Table();
  for (let b = 0, o = 0; o < count; b += 18, o += 32) {
    const d = t[half(src, b)]!;
    for (let i = 0; i < 16; i++) {
      const q = src[b + 2 + i]!;
      out[o + i] = d * ((q & 15) - 8);
      out[o + i + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

/** The 6-bit (scale, min) of sub-block j of a Q4_K super-block, from its 12 packed bytes at `s`. */
function scaleMinK4(src: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [src[s + j]! & 63, src[s + j + 4]! & 63];
  return [
    (src[s + j + 4]! & 15) | ((src[s + j - 4]! >> 6) << 4),
    (src[s + j + 4]! >> 4) | ((src[s + j]! >> 6) << 4),
  ];
}

export function dequantizeQ4_K(src: Uint8Array, count: number, out = new Float32Array(count)): Float32Array {
  const t = f16Table();
  for (let b = 0, o = 0; o < count; b += 144) {
    const d = t[half(src, b)]!;
    const dmin = t[half(src, b + 2)]!;
    const qs = b + 16;
    for (let g = 0; g < 4; g++) {
      const [sc1, m1] = scaleMinK4(src, b + 4, 2 * g);
      const [sc2, m2] = scaleMinK4(src, b + 4, 2 * g + 1);
      const d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
      const q = qs + 32 * g;
      for (let l = 0; l < 32; l++) out[o + l] = d1 * (src[q + l]! & 15) - mm1;
      for (let l = 0; l < 32; l++) out[o + 32 + l] = d2 * (src[q + l]! >> 4) - mm2;
      o += 64;
    }
  }
  return out;
}

export function dequantizeQ6_K(src: Uint8Array, count: number, out = new Float32Array(count)): Float32Array {
  const t = f16Table();
  for (let b = 0, o = 0; o < count; b += 210) {
    const d = t[half(src, b + 208)]!;
    for (let h = 0; h < 2; h++, o += 128) {
      const ql = b + 64 * h;
      const qh = b + 128 + 32 * h;
      const sc = b + 192 + 8 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const hb = src[qh + l]!;
        const lo = src[ql + l]!, lo2 = src[ql + l + 32]!;
        out[o + l] = d * ((src[sc + is]! << 24) >> 24) * (((lo & 15) | ((hb & 3) << 4)) - 32);
        out[o + l + 32] = d * ((src[sc + is + 2]! << 24) >> 24) * (((lo2 & 15) | (((hb >> 2) & 3) << 4)) - 32);
        out[o + l + 64] = d * ((src[sc + is + 4]! << 24) >> 24) * (((lo >> 4) | (((hb >> 4) & 3) << 4)) - 32);
        out[o + l + 96] = d * ((src[sc + is + 6]! << 24) >> 24) * (((lo2 >> 4) | (((hb >> 6) & 3) << 4)) - 32);
      }
    }
  }
  return out;
}

/** Any supported GGUF tensor as f32 (F32 is copied so the result never aliases the file). */
export function dequantizeGgufTensor(info: GgufTensorInfo, bytes: Uint8Array, fileOffset = 0, fileName = 'model.gguf'): Float32Array {
  const src = tensorBytes(info, bytes, fileOffset, fileName);
  switch (info.type) {
    case GgmlType.F32: {
      const out = new Float32Array(info.size);
      new Uint8Array(out.buffer).set(src);
      return out;
    }
    case GgmlType.F16: return f16ToF32Array(u16Array(src, info.size));
    case GgmlType.BF16: return bf16ToF32Array(u16Array(src, info.size));
    case GgmlType.Q8_0: return dequantizeQ8_0(src, info.size);
    case GgmlType.Q4_0: return dequantizeQ4_0(src, info.size);
    case GgmlType.Q4_K: return dequantizeQ4_K(src, info.size);
    case GgmlType.Q6_K: return dequantizeQ6_K(src, info.size);
    default:
      throw new FormatError(fileName, `tensor "${info.name}" is ${info.typeName}, which this engine cannot decode; use a GGUF with F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K weights.`, { byteOffset: info.begin });
  }
}

/** A weight W [N, K] in the packed layout of engine/quant/layout.ts, on the CPU, ready to upload. */
export interface PackedWeight {
  readonly shape: readonly [number, number];
  readonly format: QuantFormat;
  /** u32 [N · K · bits / 32] */
  readonly data: Uint32Array;
  /** u32 [ceil(N · K / groupSize / 2)]: f16 pairs */
  readonly scales: Uint32Array;
  /** Asymmetric formats (repacked Q4_K): f16 pairs like scales. */
  readonly mins?: Uint32Array;
}

/** Q8_0 → 8 bits g32 symmetric: code = qs + 128 (flip the sign bit), scale = the block's d, verbatim. */
export function repackQ8_0(src: Uint8Array, n: number, k: number): PackedWeight {
  const blocks = (n * k) / 32;
  const data = new Uint32Array(n * wordsPerRow(k, 8));
  const scales = new Uint32Array(f16Words(blocks));
  // data as bytes: code j of the row at byte j (8-bit codes are little-endian bytes of the words)
  const codes = new Uint8Array(data.buffer);
  const halves = new Uint16Array(scales.buffer);
  for (let b = 0; b < blocks; b++) {
    const s = b * 34;
    halves[b] = half(src, s);
    codes.set(src.subarray(s + 2, s + 34), b * 32);
  }
  // i8 → i8 + 128 is a flip of each byte's top bit, four codes per word at once
  for (let i = 0; i < data.length; i++) data[i] = (data[i]! ^ 0x80808080) >>> 0;
  return { shape: [n, k], format: { bits: 8, groupSize: 32, symmetric: true }, data, scales };
}

/**
 * Q4_0 → 4 bits g32 symmetric (zero code 8, same as Q4_0's): code = nibble. A block's 32 codes fill
 * 4 words, code j at bits 4·(j % 8) of word j / 8; Q4_0 keeps values 0–15 in low nibbles and 16–31
 * in high nibbles of its 16 bytes, so words 0–1 come from low nibbles and words 2–3 from high ones.
 */
export function repackQ4_0(src: Uint8Array, n: number, k: number): PackedWeight {
  const blocks = (n * k) / 32;
  const data = new Uint32Array(n * wordsPerRow(k, 4));
  const scales = new Uint32Array(f16Words(blocks));
  const halves = new Uint16Array(scales.buffer);
  for (let b = 0; b < blocks; b++) {
    const s = b * 18;
    halves[b] = half(src, s);
    const q = s + 2;
    for (let w = 0; w < 2; w++) {
      let lo = 0, hi = 0;
      for (let j = 0; j < 8; j++) {
        const byte = src[q + 8 * w + j]!;
        lo |= (byte & 15) << (4 * j);
        hi |= (byte >> 4) << (4 * j);
      }
      data[b * 4 + w] = lo >>> 0;
      data[b * 4 + 2 + w] = hi >>> 0;
    }
  }
  return { shape: [n, k], format: { bits: 4, groupSize: 32, symmetric: true }, data, scales };
}

/**
 * Q4_K → 4 bits g32 asymmetric: each sub-block of 32 keeps its nibbles as codes, with scale = d·sc and
 * min = −dmin·m rounded to f16 (the layout stores f16; Q4_K stores d and dmin as f16 and 6-bit multipliers,
 * whose products need up to 17 significant bits). So a value moves by at most 15·|scale|·2⁻¹¹ + |min|·2⁻¹¹ from
 * llama.cpp's dequantization: under 1 % of a quantization step. Sub-block j covers values 32j … 32j + 31 of
 * its super-block; qs byte l of pair g holds value 64g + l (low nibble) and 64g + 32 + l (high nibble).
 */
export function repackQ4_K(src: Uint8Array, n: number, k: number): PackedWeight {
  const supers = (n * k) / 256;
  const data = new Uint32Array(n * wordsPerRow(k, 4));
  const scales = new Uint32Array(f16Words(supers * 8));
  const mins = new Uint32Array(f16Words(supers * 8));
  const sh = new Uint16Array(scales.buffer);
  const mh = new Uint16Array(mins.buffer);
  const t = f16Table();
  for (let b = 0; b < supers; b++) {
    const s = b * 144;
    const d = t[half(src, s)]!;
    const dmin = t[half(src, s + 2)]!;
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(src, s + 4, j);
      const scale = d * sc;
      const min = -dmin * m;
      if (!(Math.abs(scale) <= 65504 && Math.abs(min) <= 65504)) throw new FormatError('model.gguf', `a Q4_K sub-block scale (${scale}) or min (${min}) is outside the f16 range of the packed layout.`);
      sh[b * 8 + j] = f32ToF16(scale);
      mh[b * 8 + j] = f32ToF16(min);
      const q = s + 16 + 32 * (j >> 1);
      const shift = j & 1 ? 4 : 0;
      for (let w = 0; w < 4; w++) {
        let word = 0;
        for (let i = 0; i < 8; i++) word |= ((src[q + 8 * w + i]! >> shift) & 15) << (4 * i);
        data[(b * 8 + j) * 4 + w] = word >>> 0;
      }
    }
  }
  return { shape: [n, k], format: { bits: 4, groupSize: 32, symmetric: false }, data, scales, mins };
}

/** A 2-D Q8_0, Q4_0 or Q4_K GGUF tensor (dims [K, N]) in the engine's packed layout, with no f32 copy. */
export function repackGgufTensor(info: GgufTensorInfo, bytes: Uint8Array, fileOffset = 0, fileName = 'model.gguf'): PackedWeight {
  if (info.dims.length !== 2) {
    throw new FormatError(fileName, `tensor "${info.name}" has ${info.dims.length} dimensions; only 2-D weights can be repacked.`, { byteOffset: info.begin });
  }
  const [k, n] = info.dims as [number, number];
  const src = tensorBytes(info, bytes, fileOffset, fileName);
  if (info.type === GgmlType.Q8_0) return repackQ8_0(src, n, k);
  if (info.type === GgmlType.Q4_0) return repackQ4_0(src, n, k);
  if (info.type === GgmlType.Q4_K) return repackQ4_K(src, n, k);
  throw new FormatError(fileName, `tensor "${info.name}" is ${info.typeName}; only Q8_0, Q4_0 and Q4_K repack to the packed layout (dequantize the others).`, { byteOffset: info.begin });
}

/**
 * llama.cpp's converter interleaves the two rotary halves of every q/k head (its rope rotates adjacent
 * pairs; HF's rotate_half rotates x[i] with x[i + d/2]): within a head of d rows it stores HF row
 * t·d/2 + i at row 2i + t. `order[hfRow]` = the GGUF row holding it; `heads` is n_head for attn_q
 * and n_head_kv for attn_k.
 */
export function llamaRopeRowOrder(rows: number, heads: number): Int32Array {
  const d = rows / heads;
  if (!Number.isInteger(d) || d % 2 !== 0) {
    throw new FormatError('model.gguf', `cannot undo the rotary permutation: ${rows} rows do not split into ${heads} heads of even size.`);
  }
  const order = new Int32Array(rows);
  for (let h = 0; h < heads; h++) {
    for (let t = 0; t < 2; t++) {
      for (let i = 0; i < d / 2; i++) order[h * d + t * (d / 2) + i] = h * d + 2 * i + t;
    }
  }
  return order;
}

/** Rows of a row-major [rows, rowLength] array reordered: out row r = in row order[r]. */
export function reorderRows<T extends Float32Array | Uint32Array | Uint16Array>(x: T, rowLength: number, order: Int32Array): T {
  const out = new (x.constructor as { new (n: number): T })(x.length);
  for (let r = 0; r < order.length; r++) out.set(x.subarray(order[r]! * rowLength, (order[r]! + 1) * rowLength), r * rowLength);
  return out;
}

/** The same row reordering on a packed weight: code rows and their scale rows move together. */
export function reorderPackedRows(p: PackedWeight, order: Int32Array): PackedWeight {
  const [n, k] = p.shape;
  if (order.length !== n) throw new FormatError('model.gguf', `row order has ${order.length} rows, the weight ${n}.`);
  const groups = k / p.format.groupSize;
  const reorderHalves = (words: Uint32Array) => {
    const out = new Uint32Array(words.length);
    new Uint16Array(out.buffer).set(reorderRows(new Uint16Array(words.buffer, words.byteOffset, n * groups), groups, order));
    return out;
  };
  const data = reorderRows(p.data, wordsPerRow(k, p.format.bits), order);
  return { shape: p.shape, format: p.format, data, scales: reorderHalves(p.scales), ...(p.mins ? { mins: reorderHalves(p.mins) } : {}) };
}

/** The inverse of repackQ8_0: an 8-bit g32 symmetric packed weight as Q8_0 blocks (lossless). */
export function packedToQ8_0(p: { data: Uint32Array; scales: Uint32Array; shape: readonly [number, number] }): Uint8Array {
  const blocks = (p.shape[0] * p.shape[1]) / 32;
  const out = new Uint8Array(blocks * 34);
  const codes = new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength);
  const halves = new Uint16Array(p.scales.buffer, p.scales.byteOffset, blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * 34;
    out[o] = halves[b]! & 255;
    out[o + 1] = halves[b]! >> 8;
    // code + 128 stored; int8 = code − 128 is a flip of the top bit
    for (let i = 0; i < 32; i++) out[o + 2 + i] = codes[b * 32 + i]! ^ 0x80;
  }
  return out;
}

/** The inverse of repackQ4_0: a 4-bit g32 symmetric packed weight as Q4_0 blocks (lossless). */
export function packedToQ4_0(p: { data: Uint32Array; scales: Uint32Array; shape: readonly [number, number] }): Uint8Array {
  const blocks = (p.shape[0] * p.shape[1]) / 32;
  const out = new Uint8Array(blocks * 18);
  const halves = new Uint16Array(p.scales.buffer, p.scales.byteOffset, blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * 18;
    out[o] = halves[b]! & 255;
    out[o + 1] = halves[b]! >> 8;
    for (let w = 0; w < 2; w++) {
      const lo = p.data[b * 4 + w]!;
      const hi = p.data[b * 4 + 2 + w]!;
      for (let j = 0; j < 8; j++) out[o + 2 + 8 * w + j] = ((lo >>> (4 * j)) & 15) | (((hi >>> (4 * j)) & 15) << 4);
    }
  }
  return out;
}
