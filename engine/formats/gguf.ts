import { FormatError } from '../errors.js';

/**
 * GGUF (versions 2 and 3), all little-endian:
 *   "GGUF" · u32 version · u64 tensor_count · u64 kv_count
 *   kv_count × (string key · u32 value_type · value)
 *   tensor_count × (string name · u32 n_dims · u64 ne[n_dims] · u32 ggml_type · u64 offset)
 *   padding to general.alignment (default 32) · tensor data (offsets relative to its start)
 * with string = u64 length · UTF-8 bytes, array = u32 element type · u64 count · elements.
 * Every count and length is checked against the bytes the file can still hold before anything is
 * allocated for it, so a hostile header cannot ask for more memory than its own size.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as u32 LE
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const GgufValueType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;

export type GgufValue =
  | number | bigint | boolean | string
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GgufValue[];

/** ggml tensor types: [name, values per block, bytes per block] (ggml.c type traits). */
export const GGML_TYPES: Readonly<Record<number, readonly [string, number, number]>> = {
  0: ['F32', 1, 4], 1: ['F16', 1, 2], 2: ['Q4_0', 32, 18], 3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22], 7: ['Q5_1', 32, 24], 8: ['Q8_0', 32, 34], 9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84], 11: ['Q3_K', 256, 110], 12: ['Q4_K', 256, 144], 13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210], 15: ['Q8_K', 256, 292], 16: ['IQ2_XXS', 256, 66], 17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98], 19: ['IQ1_S', 256, 50], 20: ['IQ4_NL', 32, 18], 21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82], 23: ['IQ4_XS', 256, 136], 24: ['I8', 1, 1], 25: ['I16', 1, 2],
  26: ['I32', 1, 4], 27: ['I64', 1, 8], 28: ['F64', 1, 8], 29: ['IQ1_M', 256, 56], 30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54], 35: ['TQ2_0', 256, 66], 39: ['MXFP4', 32, 17],
};

export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30 } as const;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: ne[0] is the contiguous (innermost) dimension. */
  readonly dims: readonly number[];
  /** Row-major (PyTorch) order: dims reversed. A Linear weight [N, K] has dims [K, N]. */
  readonly shape: readonly number[];
  readonly type: number;
  readonly typeName: string;
  readonly size: number;
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

export interface GgufHeader {
  readonly fileName: string;
  readonly version: 2 | 3;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly byName: ReadonlyMap<string, GgufTensorInfo>;
  readonly alignment: number;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
}

export interface GgufParseOptions {
  fileName?: string;
  /** Total file size when known; without it the prefix is taken to be the whole file. */
  fileSize?: number;
}

/** Raised inside the reader when the prefix ends before the value does but the file goes on. */
class NeedMore {
  constructor(readonly needBytes: number) {}
}

const MAX_ARRAY_DEPTH = 8;
const MAX_DIMS = 4;
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, type, smallest value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // empty name, n_dims = 0, type, offset

class Reader {
  pos = 0;
  readonly view: DataView;
  readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  constructor(readonly bytes: Uint8Array, readonly fileSize: number, readonly fileName: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(problem: string, at = this.pos): never {
    throw new FormatError(this.fileName, problem, { byteOffset: at });
  }

  /** Bytes the file still holds after the cursor (the bound for every count and length). */
  get remaining(): number {
    return this.fileSize - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`${what} needs ${n} bytes but only ${this.remaining} remain in the ${this.fileSize}-byte file; it is truncated or corrupt.`);
    if (this.pos + n > this.bytes.length) throw new NeedMore(this.pos + n);
  }

  u8(): number { this.need(1, 'a u8'); return this.view.getUint8(this.pos++); }
  u32(): number { this.need(4, 'a u32'); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }

  /** u64 as a number; values beyond 2^53 cannot be valid counts or offsets in a file we can hold. */
  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi >= 2 ** 21) this.fail(`${what} = ${hi} · 2^32 + ${lo} is beyond any possible file size; the file is corrupt.`);
    this.pos += 8;
    return hi * 2 ** 32 + lo;
  }

  string(what: string): string {
    const at = this.pos;
    const n = this.u64(`${what} length`);
    if (n > this.remaining) this.fail(`${what} claims ${n} bytes but only ${this.remaining} remain in the file; it is truncated or corrupt.`, at);
    this.need(n, what);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return this.utf8.decode(s);
    } catch {
      return this.fail(`${what} is not valid UTF-8.`, at);
    }
  }

  value(type: number, depth: number): GgufValue {
    const v = this.view;
    switch (type) {
      case GgufValueType.UINT8: return this.u8();
      case GgufValueType.INT8: { this.need(1, 'an i8'); return v.getInt8(this.pos++); }
      case GgufValueType.UINT16: { this.need(2, 'a u16'); const x = v.getUint16(this.pos, true); this.pos += 2; return x; }
      case GgufValueType.INT16: { this.need(2, 'an i16'); const x = v.getInt16(this.pos, true); this.pos += 2; return x; }
      case GgufValueType.UINT32: return this.u32();
      case GgufValueType.INT32: { this.need(4, 'an i32'); const x = v.getInt32(this.pos, true); this.pos += 4; return x; }
      case GgufValueType.FLOAT32: { this.need(4, 'an f32'); const x = v.getFloat32(this.pos, true); this.pos += 4; return x; }
      case GgufValueType.FLOAT64: { this.need(8, 'an f64'); const x = v.getFloat64(this.pos, true); this.pos += 8; return x; }
      case GgufValueType.BOOL: {
        const b = this.u8();
        if (b > 1) this.fail(`bool value ${b} is neither 0 nor 1.`, this.pos - 1);
        return b === 1;
      }
      case GgufValueType.UINT64: case GgufValueType.INT64: {
        this.need(8, 'a 64-bit integer');
        const x = type === GgufValueType.UINT64 ? v.getBigUint64(this.pos, true) : v.getBigInt64(this.pos, true);
        this.pos += 8;
        return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
      }
      case GgufValueType.STRING: return this.string('string value');
      case GgufValueType.ARRAY: return this.array(depth + 1);
      default: return this.fail(`unknown metadata value type ${type}; expected 0–12.`, this.pos - 4);
    }
  }

  array(depth: number): GgufValue {
    const at = this.pos;
    if (depth > MAX_ARRAY_DEPTH) this.fail(`arrays nested deeper than ${MAX_ARRAY_DEPTH} levels; the file is corrupt.`, at);
    const type = this.u32();
    const n = this.u64('array length');
    const elemBytes = fixedSize(type);
    const minBytes = elemBytes ?? (type === GgufValueType.STRING ? 8 : type === GgufValueType.ARRAY ? 12 : -1);
    if (minBytes < 0) this.fail(`array of unknown value type ${type}.`, at);
    if (n * minBytes > this.remaining) {
      this.fail(`array of ${n} × type ${type} needs at least ${n * minBytes} bytes but only ${this.remaining} remain; the file is corrupt.`, at);
    }
    if (elemBytes !== undefined) {
      this.need(n * elemBytes, 'array');
      const out = readNumericArray(this.view, this.pos, type, n);
      this.pos += n * elemBytes;
      return out;
    }
    const out: GgufValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(type, depth));
    return out as GgufValue;
  }
}

function fixedSize(type: number): number | undefined {
  switch (type) {
    case GgufValueType.UINT8: case GgufValueType.INT8: case GgufValueType.BOOL: return 1;
    case GgufValueType.UINT16: case GgufValueType.INT16: return 2;
    case GgufValueType.UINT32: case GgufValueType.INT32: case GgufValueType.FLOAT32: return 4;
    case GgufValueType.UINT64: case GgufValueType.INT64: case GgufValueType.FLOAT64: return 8;
    default: return undefined;
  }
}

/** Elements sit unaligned in the file, so they are read one by one (LE) into a fresh typed array. */
function readNumericArray(v: DataView, at: number, type: number, n: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return new Uint8Array(v.buffer, v.byteOffset + at, n).slice();
    case GgufValueType.INT8: return new Int8Array(v.buffer, v.byteOffset + at, n).slice();
    case GgufValueType.BOOL: {
      const out = new Array<boolean>(n);
      for (let i = 0; i < n; i++) out[i] = v.getUint8(at + i) !== 0;
      return out;
    }
    case GgufValueType.UINT16: { const o = new Uint16Array(n); for (let i = 0; i < n; i++) o[i] = v.getUint16(at + 2 * i, true); return o; }
    case GgufValueType.INT16: { const o = new Int16Array(n); for (let i = 0; i < n; i++) o[i] = v.getInt16(at + 2 * i, true); return o; }
    case GgufValueType.UINT32: { const o = new Uint32Array(n); for (let i = 0; i < n; i++) o[i] = v.getUint32(at + 4 * i, true); return o; }
    case GgufValueType.INT32: { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = v.getInt32(at + 4 * i, true); return o; }
    case GgufValueType.FLOAT32: { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = v.getFloat32(at + 4 * i, true); return o; }
    case GgufValueType.FLOAT64: { const o = new Float64Array(n); for (let i = 0; i < n; i++) o[i] = v.getFloat64(at + 8 * i, true); return o; }
    case GgufValueType.UINT64: { const o = new BigUint64Array(n); for (let i = 0; i < n; i++) o[i] = v.getBigUint64(at + 8 * i, true); return o; }
    default: { const o = new BigInt64Array(n); for (let i = 0; i < n; i++) o[i] = v.getBigInt64(at + 8 * i, true); return o; }
  }
}

function parse(r: Reader): GgufHeader {
  const fileName = r.fileName;
  if (r.fileSize < 24) r.fail(`the file has ${r.fileSize} bytes, fewer than a GGUF header (24); it is truncated or not a GGUF file.`, 0);
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) r.fail(`bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "GGUF"); this is not a GGUF file.`, 0);
  const version = r.u32();
  if (version !== 2 && version !== 3) {
    r.fail(`GGUF version ${version} is not supported (only 2 and 3)${version === 1 ? '; convert the file again with a current llama.cpp' : ''}.`, 4);
  }
  const tensorCount = r.u64('tensor count');
  const kvCount = r.u64('metadata count');
  if (kvCount * MIN_KV_BYTES > r.remaining) r.fail(`metadata count ${kvCount} cannot fit in the ${r.fileSize}-byte file; it is corrupt.`, 16);
  if (tensorCount * MIN_TENSOR_INFO_BYTES > r.remaining - kvCount * MIN_KV_BYTES) {
    r.fail(`tensor count ${tensorCount} cannot fit in the ${r.fileSize}-byte file; it is corrupt.`, 8);
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const at = r.pos;
    const key = r.string('metadata key');
    if (metadata.has(key)) r.fail(`duplicate metadata key "${key}".`, at);
    const type = r.u32();
    metadata.set(key, r.value(type, 0));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (typeof al !== 'number' || !Number.isInteger(al) || al <= 0 || (al & (al - 1)) !== 0 || al > 1 << 20) {
      r.fail(`general.alignment = ${String(al)} must be a power of two.`, 0);
    }
    alignment = al;
  }

  interface RawInfo { name: string; dims: number[]; type: number; offset: number; at: number }
  const raw: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = r.pos;
    const name = r.string('tensor name');
    if (names.has(name)) r.fail(`duplicate tensor name "${name}".`, at);
    names.add(name);
    const nDims = r.u32();
    if (nDims > MAX_DIMS) r.fail(`tensor "${name}" has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}.`, at);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(r.u64(`tensor "${name}" dimension ${d}`));
    const type = r.u32();
    const offset = r.u64(`tensor "${name}" offset`);
    raw.push({ name, dims, type, offset, at });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  if (dataOffset > r.fileSize && raw.length > 0) r.fail(`the tensor data section would start at ${dataOffset}, past the end of the ${r.fileSize}-byte file.`, r.pos);
  const dataBytes = Math.max(0, r.fileSize - dataOffset);

  const tensors: GgufTensorInfo[] = raw.map(({ name, dims, type, offset, at }) => {
    const traits = GGML_TYPES[type];
    if (!traits) r.fail(`tensor "${name}" has unknown ggml type ${type}.`, at);
    const [typeName, block, blockBytes] = traits;
    let size = 1;
    for (const d of dims) {
      size *= d;
      if (!Number.isSafeInteger(size)) r.fail(`tensor "${name}" [${dims.join(', ')}] has more elements than can be addressed.`, at);
    }
    if ((dims[0] ?? 1) % block !== 0) r.fail(`tensor "${name}" is ${typeName} but its row length ${dims[0] ?? 1} is not a multiple of the block size ${block}.`, at);
    const byteLength = (size / block) * blockBytes;
    if (offset % alignment !== 0) r.fail(`tensor "${name}" offset ${offset} is not a multiple of the alignment ${alignment}.`, at);
    if (offset + byteLength > dataBytes) {
      r.fail(`tensor "${name}" [${offset}, ${offset + byteLength}) lies outside the ${dataBytes}-byte data section; the file is truncated or corrupt.`, at);
    }
    return {
      name, dims: Object.freeze(dims), shape: Object.freeze([...dims].reverse()), type, typeName, size,
      begin: dataOffset + offset, end: dataOffset + offset + byteLength,
    };
  });
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const t = sorted[i]!;
    if (t.begin < prev.end) r.fail(`tensor "${t.name}" overlaps tensor "${prev.name}" in the data section; the file is corrupt.`, t.begin);
  }

  return {
    fileName, version: version as 2 | 3, metadata, tensors: Object.freeze(tensors),
    byName: new Map(tensors.map((t) => [t.name, t])), alignment, dataOffset,
  };
}

/**
 * Parses the header from a prefix of the file. Returns `{ needBytes }` (a prefix length that lets the
 * parse progress) when the prefix ends inside the header but `fileSize` says more is coming.
 */
export function tryParseGgufHeader(prefix: Uint8Array, options: GgufParseOptions = {}): { header: GgufHeader } | { needBytes: number } {
  const fileName = options.fileName ?? 'model.gguf';
  const fileSize = options.fileSize ?? prefix.length;
  if (prefix.length > fileSize) throw new FormatError(fileName, `got ${prefix.length} bytes for a file declared as ${fileSize} bytes.`);
  try {
    return { header: parse(new Reader(prefix, fileSize, fileName)) };
  } catch (e) {
    if (e instanceof NeedMore) return { needBytes: Math.min(fileSize, Math.max(e.needBytes, prefix.length * 2)) };
    throw e;
  }
}

/** Parses a complete file held in memory. */
export function parseGguf(file: Uint8Array | ArrayBuffer, fileName = 'model.gguf'): GgufHeader {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  const r = tryParseGgufHeader(bytes, { fileName, fileSize: bytes.length });
  if ('header' in r) return r.header;
  throw new FormatError(fileName, 'the header is truncated.', { byteOffset: bytes.length });
}

/** Typed metadata access: throws FormatError naming the key when it is missing or of another type. */
export function ggufNumber(h: GgufHeader, key: string): number;
export function ggufNumber(h: GgufHeader, key: string, fallback: number): number;
export function ggufNumber(h: GgufHeader, key: string, fallback?: number): number {
  const v = h.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FormatError(h.fileName, `metadata key "${key}" is missing; the file was not converted for this architecture.`);
  }
  if (typeof v !== 'number') throw new FormatError(h.fileName, `metadata key "${key}" must be a number, got ${typeof v}.`);
  return v;
}

export function ggufString(h: GgufHeader, key: string): string | undefined {
  const v = h.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new FormatError(h.fileName, `metadata key "${key}" must be a string, got ${typeof v}.`);
  return v;
}

export function ggufStringArray(h: GgufHeader, key: string): string[] | undefined {
  const v = h.metadata.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FormatError(h.fileName, `metadata key "${key}" must be an array of strings.`);
  return v as string[];
}
