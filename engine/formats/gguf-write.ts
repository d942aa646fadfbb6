import { InvalidArgumentError } from '../errors.js';
import { GgmlType } from './gguf.js';

/** A metadata value of a GGUF file as accel writes it. */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'str'; value: string }
  | { type: 'str[]'; value: readonly string[] }
  | { type: 'i32[]'; value: readonly number[] | Int32Array };

/** A tensor to write: `dims` in ggml order (ne0 = the row length first), `data` the encoded blocks. */
export interface GgufOutputTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: number;
  readonly data: Uint8Array;
}

const ALIGNMENT = 32;
const T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9;

/** Bytes grown in place as the file is written (the header's size is only known at the end). */
class Writer {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  length = 0;
  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  u32(v: number): void { this.#room(4); this.#view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.#room(4); this.#view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.#room(4); this.#view.setFloat32(this.length, v, true); this.length += 4; }
  u64(v: number): void { this.#room(8); this.#view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  u8(v: number): void { this.#room(1); this.#buf[this.length++] = v; }
  bytes(b: Uint8Array): void { this.#room(b.length); this.#buf.set(b, this.length); this.length += b.length; }
  str(s: string): void { const b = new TextEncoder().encode(s); this.u64(b.length); this.bytes(b); }
  pad(to: number): void { while (this.length % to !== 0) this.u8(0); }
  done(): Uint8Array { return this.#buf.slice(0, this.length); }
}

/**
 * A GGUF v3 file: metadata, tensor infos, then the tensors' data, each aligned to 32 bytes (the
 * `general.alignment` default, so it is not written). The caller encodes tensors in their ggml block type.
 */
export function writeGguf(metadata: readonly (readonly [string, GgufValue])[], tensors: readonly GgufOutputTensor[]): Uint8Array {
  const w = new Writer();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, v] of metadata) {
    w.str(key);
    switch (v.type) {
      case 'u32': w.u32(T_U32); w.u32(v.value); break;
      case 'f32': w.u32(T_F32); w.f32(v.value); break;
      case 'bool': w.u32(T_BOOL); w.u8(v.value ? 1 : 0); break;
      case 'str': w.u32(T_STR); w.str(v.value); break;
      case 'str[]': w.u32(T_ARR); w.u32(T_STR); w.u64(v.value.length); for (const s of v.value) w.str(s); break;
      case 'i32[]': w.u32(T_ARR); w.u32(T_I32); w.u64(v.value.length); for (const x of v.value) w.i32(x); break;
    }
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.dims.length === 0 || t.dims.length > 4) throw new InvalidArgumentError(`writeGguf: tensor "${t.name}" has ${t.dims.length} dimensions.`);
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offset += Math.ceil(t.data.length / ALIGNMENT) * ALIGNMENT;
  }
  w.pad(ALIGNMENT);
  for (const t of tensors) {
    w.bytes(t.data);
    w.pad(ALIGNMENT);
  }
  return w.done();
}

/** f32 values as a GGML F32 tensor's bytes. */
export function f32Tensor(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

export { GgmlType };
