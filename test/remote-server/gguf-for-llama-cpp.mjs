// llama.cpp names the GPT-2 byte-level pre-tokenizer "gpt-2"; the shipped tiny-llama GGUFs say "gpt2",
// which llama.cpp refuses ("unknown pre-tokenizer type"). This rewrites that one metadata string into a
// copy of the file (tensor data untouched: offsets count from the aligned start of the data section).
import { readFileSync, writeFileSync } from 'node:fs';

const ALIGN_KEY = 'general.alignment';
const PRE_KEY = 'tokenizer.ggml.pre';
const SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Returns the bytes of `path` with tokenizer.ggml.pre = `pre`, and what it was before. */
export function withPreTokenizer(bytes, pre) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder();
  if (dec.decode(bytes.subarray(0, 4)) !== 'GGUF') throw new Error('not a GGUF file');
  let o = 8;
  const u64 = () => {
    const v = Number(view.getBigUint64(o, true));
    o += 8;
    return v;
  };
  const str = () => {
    const n = u64();
    const s = dec.decode(bytes.subarray(o, o + n));
    o += n;
    return s;
  };
  const skip = (type) => {
    if (type === 8) return void str();
    if (type === 9) {
      const inner = view.getUint32(o, true);
      o += 4;
      const n = u64();
      for (let i = 0; i < n; i++) skip(inner);
      return;
    }
    const size = SIZES[type];
    if (size === undefined) throw new Error(`unknown GGUF value type ${type}`);
    o += size;
  };
  const tensors = u64();
  const kvs = u64();
  let alignment = 32;
  let preAt = null;
  let old = null;
  for (let i = 0; i < kvs; i++) {
    const key = str();
    const type = view.getUint32(o, true);
    o += 4;
    if (key === PRE_KEY && type === 8) {
      const start = o;
      old = str();
      preAt = [start, o];
    } else if (key === ALIGN_KEY && type === 4) {
      alignment = view.getUint32(o, true);
      o += 4;
    } else skip(type);
  }
  for (let i = 0; i < tensors; i++) {
    str();
    const dims = view.getUint32(o, true);
    o += 4 + dims * 8 + 4 + 8;
  }
  const dataStart = Math.ceil(o / alignment) * alignment;
  if (preAt === null) throw new Error(`${PRE_KEY} is not in the file`);
  const enc = new TextEncoder().encode(pre);
  const value = new Uint8Array(8 + enc.length);
  new DataView(value.buffer).setBigUint64(0, BigInt(enc.length), true);
  value.set(enc, 8);
  const header = Buffer.concat([bytes.subarray(0, preAt[0]), value, bytes.subarray(preAt[1], o)]);
  const padded = Math.ceil(header.length / alignment) * alignment;
  return { bytes: Buffer.concat([header, Buffer.alloc(padded - header.length), bytes.subarray(dataStart)]), old };
}

/** Writes a llama.cpp-loadable copy of `src` to `dst`; returns the old pre-tokenizer name. */
export function writeLlamaCppGguf(src, dst) {
  const { bytes, old } = withPreTokenizer(readFileSync(src), 'gpt-2');
  writeFileSync(dst, bytes);
  return old;
}
