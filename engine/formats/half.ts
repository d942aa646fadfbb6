import { f16ToF32 } from '../tensor/dtype.js';

/** bf16 is the high half of an f32: shift the bits into place. */
export function bf16ToF32Array(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  return out;
}

let table: Float32Array | null = null;

/** Every half's f32 value (256 KiB, built on first use): converting big weights is one lookup each. */
export function f16Table(): Float32Array {
  if (table === null) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16ToF32(h);
  }
  return table;
}

export function f16ToF32Array(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const t = f16Table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}
