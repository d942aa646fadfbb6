/**
 * Element types a tensor's storage can hold. `f16` is storage only (16-bit halves, two per 32-bit word
 * on the GPU, read with `unpack2x16float`, so no `shader-f16` is needed); arithmetic is f32. `u8`/`u32`
 * hold packed quantized weights (layout: engine/quant/layout.ts).
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u8' | 'u32';

export type TypedArrayFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f16'
    ? Uint16Array
    : D extends 'i32'
      ? Int32Array
      : D extends 'u8'
        ? Uint8Array
        : Uint32Array;

export type AnyTypedArray = Float32Array | Uint16Array | Int32Array | Uint8Array | Uint32Array;

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { f32: 4, f16: 2, i32: 4, u8: 1, u32: 4 };

export function typedArrayFor(dtype: DType, length: number): AnyTypedArray {
  switch (dtype) {
    case 'f32': return new Float32Array(length);
    case 'f16': return new Uint16Array(length);
    case 'i32': return new Int32Array(length);
    case 'u8': return new Uint8Array(length);
    case 'u32': return new Uint32Array(length);
  }
}

export function dtypeOf(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Uint16Array) return 'f16';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint8Array) return 'u8';
  return 'u32';
}

/** IEEE 754 half → float, exact. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float → IEEE 754 half, round to nearest even, with subnormals and overflow to ±Inf. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 31) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}
