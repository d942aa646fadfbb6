import { FormatError, InvalidArgumentError } from '../errors.js';
import { bf16ToF32Array, f16ToF32Array } from './half.js';

/**
 * safetensors: `u64 LE header length N` · `N bytes of JSON` · data area. The JSON maps tensor names to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data area) plus an optional
 * `__metadata__` string map. Everything is validated against the header and the file size before a
 * single tensor byte is touched, so a hostile header cannot make us allocate more than the file holds.
 */

export type SafetensorsDType =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2'
  | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** The reference implementation refuses headers above 100 MB; so do we (a JSON bomb guard). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Element count (product of shape). */
  readonly size: number;
  /** Byte range in the file (absolute: data offset already added). */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly fileName: string;
  /** 8 + header length: where the data area starts. */
  readonly dataOffset: number;
  /** dataOffset + the last tensor's end: the size the whole file must have. */
  readonly fileSize: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** In file order (sorted by begin). */
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly byName: ReadonlyMap<string, SafetensorsTensorInfo>;
}

export interface SafetensorsParseOptions {
  fileName?: string;
  /** Total file size when known (Content-Length, Blob.size): bounds the header and the offsets. */
  fileSize?: number;
}

function u64At(bytes: Uint8Array, offset: number, fileName: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi >= 2 ** 21) {
    throw new FormatError(fileName, `64-bit value ${hi} · 2^32 + ${lo} is beyond the safe integer range; the file is corrupt or not this format.`, { byteOffset: offset });
  }
  return hi * 2 ** 32 + lo;
}

/**
 * How many leading bytes of the file `parseSafetensorsHeader` needs: 8 until the length prefix has
 * arrived, then 8 + N. Throws when N is impossible (beyond the file size or the 100 MB bound).
 */
export function safetensorsHeaderBytes(prefix: Uint8Array, options: SafetensorsParseOptions = {}): number {
  const fileName = options.fileName ?? 'model.safetensors';
  if (options.fileSize !== undefined && options.fileSize < 8) {
    throw new FormatError(fileName, `the file has ${options.fileSize} bytes, fewer than the 8-byte header length; it is truncated or not a safetensors file.`);
  }
  if (prefix.length < 8) return 8;
  const n = u64At(prefix, 0, fileName);
  if (n < 2) throw new FormatError(fileName, `header length ${n} is too small for a JSON object; the file is not a safetensors file.`, { byteOffset: 0 });
  if (n > MAX_SAFETENSORS_HEADER_BYTES) {
    throw new FormatError(fileName, `header length ${n} exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit; the file is corrupt or not a safetensors file.`, { byteOffset: 0 });
  }
  if (options.fileSize !== undefined && 8 + n > options.fileSize) {
    throw new FormatError(fileName, `header length ${n} runs past the end of the ${options.fileSize}-byte file; the download is truncated or the file is corrupt.`, { byteOffset: 0 });
  }
  return 8 + n;
}

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, s);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isSafeNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses the header from a prefix of the file holding at least `safetensorsHeaderBytes(prefix)` bytes.
 * Checks: JSON shape, dtypes, shape × dtype size = offset span, offsets inside the data area, tensors
 * contiguous and non-overlapping from 0 (the format has no padding between tensors), and, when the
 * file size is known, that the data area ends exactly at the end of the file.
 */
export function parseSafetensorsHeader(prefix: Uint8Array, options: SafetensorsParseOptions = {}): SafetensorsHeader {
  const fileName = options.fileName ?? 'model.safetensors';
  const need = safetensorsHeaderBytes(prefix, options);
  if (prefix.length < need) {
    throw new FormatError(fileName, `the header needs ${need} bytes but only ${prefix.length} are available; the file is truncated (or pass a longer prefix).`, { byteOffset: prefix.length });
  }
  const n = need - 8;
  const jsonBytes = prefix.subarray(8, need);
  if (jsonBytes[0] !== 0x7b) {
    throw new FormatError(fileName, `the header does not start with "{"; this is not a safetensors file.`, { byteOffset: 8 });
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes));
  } catch (cause) {
    throw new FormatError(fileName, `the ${n}-byte header is not valid UTF-8 JSON (${(cause as Error).message}); the file is corrupt.`, { byteOffset: 8, cause });
  }
  if (!isPlainObject(json)) throw new FormatError(fileName, 'the header is not a JSON object; the file is corrupt.', { byteOffset: 8 });

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new FormatError(fileName, '__metadata__ must be an object of strings.', { byteOffset: 8 });
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new FormatError(fileName, `__metadata__["${k}"] must be a string, got ${typeof v}.`, { byteOffset: 8 });
      }
      // fromEntries defines own properties, so a "__proto__" key stays data
      metadata = Object.fromEntries(Object.entries(entry) as [string, string][]);
      continue;
    }
    if (!isPlainObject(entry)) throw new FormatError(fileName, `tensor "${name}" must be an object with dtype, shape and data_offsets.`, { byteOffset: 8 });
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDType(dtype)) {
      throw new FormatError(fileName, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}.`, { byteOffset: 8 });
    }
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegInt)) {
      throw new FormatError(fileName, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}; dimensions must be non-negative integers.`, { byteOffset: 8 });
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegInt) || offsets[0] > offsets[1]) {
      throw new FormatError(fileName, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 ≤ begin ≤ end.`, { byteOffset: 8 });
    }
    let size = 1;
    for (const d of shape as number[]) {
      size *= d;
      if (!Number.isSafeInteger(size)) throw new FormatError(fileName, `tensor "${name}" shape [${shape.join(', ')}] has more elements than can be addressed.`, { byteOffset: 8 });
    }
    const bytes = size * SAFETENSORS_DTYPE_BYTES[dtype];
    const [begin, end] = offsets as [number, number];
    if (end - begin !== bytes) {
      throw new FormatError(fileName, `tensor "${name}" is ${dtype} [${shape.join(', ')}] = ${bytes} bytes but its data_offsets span ${end - begin} bytes; the file is corrupt.`, { byteOffset: 8 });
    }
    tensors.push({ name, dtype, shape: Object.freeze([...(shape as number[])]), size, begin: need + begin, end: need + end });
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = need;
  for (const t of tensors) {
    if (t.begin !== cursor) {
      const what = t.begin < cursor ? 'overlaps the previous tensor' : `leaves a gap of ${t.begin - cursor} bytes after the previous tensor`;
      throw new FormatError(fileName, `tensor "${t.name}" [${t.begin - need}, ${t.end - need}) ${what}; the data area must be packed without gaps or overlaps.`, { byteOffset: t.begin });
    }
    cursor = t.end;
  }
  if (options.fileSize !== undefined && cursor !== options.fileSize) {
    const what = cursor > options.fileSize ? `ends at byte ${cursor}, past the end of the ${options.fileSize}-byte file (truncated download?)` : `ends at byte ${cursor} but the file has ${options.fileSize} bytes (trailing garbage)`;
    throw new FormatError(fileName, `the data area ${what}.`, { byteOffset: Math.min(cursor, options.fileSize) });
  }

  return {
    fileName,
    dataOffset: need,
    fileSize: cursor,
    metadata: Object.freeze(metadata),
    tensors: Object.freeze(tensors),
    byName: new Map(tensors.map((t) => [t.name, t])),
  };
}

/** Parses a complete file in memory. */
export function parseSafetensors(file: Uint8Array | ArrayBuffer, fileName = 'model.safetensors'): SafetensorsHeader {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  return parseSafetensorsHeader(bytes, { fileName, fileSize: bytes.length });
}

export type SafetensorsArray =
  | Float64Array | Float32Array | Uint16Array | Uint8Array | Int8Array | Int16Array | Int32Array
  | Uint32Array | BigInt64Array | BigUint64Array;

/** The typed array a dtype's raw elements are read as (f16/bf16: their 16-bit patterns). */
function arrayCtor(dtype: SafetensorsDType) {
  switch (dtype) {
    case 'F64': return Float64Array;
    case 'F32': return Float32Array;
    case 'F16': case 'BF16': case 'U16': return Uint16Array;
    case 'I16': return Int16Array;
    case 'I32': return Int32Array;
    case 'U32': return Uint32Array;
    case 'I64': return BigInt64Array;
    case 'U64': return BigUint64Array;
    case 'I8': return Int8Array;
    case 'U8': case 'BOOL': case 'F8_E4M3': case 'F8_E5M2': return Uint8Array;
  }
}

/**
 * A typed-array view of one tensor's elements. `bytes` holds the file (or any part of it that covers
 * the tensor) starting at file offset `bytesFileOffset`. Zero-copy when the tensor's bytes sit at a
 * multiple of the element size in their ArrayBuffer (current writers pad the header to 8 bytes, so a
 * whole file in a fresh buffer always is); copied otherwise. Little-endian hosts only (every browser and Node target is).
 */
export function safetensorsView(info: SafetensorsTensorInfo, bytes: Uint8Array, bytesFileOffset = 0, fileName = 'model.safetensors'): SafetensorsArray {
  const start = info.begin - bytesFileOffset;
  const byteLength = info.end - info.begin;
  if (start < 0 || start + byteLength > bytes.length) {
    throw new FormatError(fileName, `tensor "${info.name}" bytes [${info.begin}, ${info.end}) are not inside the ${bytes.length} bytes given from offset ${bytesFileOffset}; load the whole range first.`, { byteOffset: info.begin });
  }
  const Ctor = arrayCtor(info.dtype);
  const abs = bytes.byteOffset + start;
  if (abs % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer as ArrayBuffer, abs, info.size);
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(start, start + byteLength));
  return new Ctor(copy.buffer, 0, info.size);
}

/** One tensor's values as f32 (a new array, except F32 which is returned as the view itself). */
export function safetensorsToF32(info: SafetensorsTensorInfo, bytes: Uint8Array, bytesFileOffset = 0, fileName = 'model.safetensors'): Float32Array {
  const view = safetensorsView(info, bytes, bytesFileOffset, fileName);
  switch (info.dtype) {
    case 'F32': return view as Float32Array;
    case 'F16': return f16ToF32Array(view as Uint16Array);
    case 'BF16': return bf16ToF32Array(view as Uint16Array);
    case 'F64': case 'I8': case 'U8': case 'I16': case 'U16': case 'I32': case 'U32': case 'BOOL':
      return Float32Array.from(view as ArrayLike<number>);
    case 'I64': case 'U64': {
      const out = new Float32Array(info.size);
      const v = view as BigInt64Array | BigUint64Array;
      for (let i = 0; i < v.length; i++) out[i] = Number(v[i]!);
      return out;
    }
    case 'F8_E4M3': case 'F8_E5M2':
      throw new FormatError(fileName, `tensor "${info.name}" is ${info.dtype}; 8-bit float weights are not supported. Use an F32, F16 or BF16 checkpoint.`, { byteOffset: info.begin });
  }
}

export interface SafetensorsIndex {
  readonly metadata: Readonly<Record<string, unknown>>;
  /** tensor name → shard file name */
  readonly weightMap: ReadonlyMap<string, string>;
  /** Shard file names, each once, in first-mention order. */
  readonly files: readonly string[];
}

/** Shard names are fetched relative to the model folder: anything that could escape it is refused. */
function isSafeShardName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[/\\:?#%]/.test(name) && name !== '.' && name !== '..' && !/[\u0000-\u001f]/.test(name);
}

/** `model.safetensors.index.json`: `{metadata?, weight_map: {tensor: file}}`. Accepts text or parsed JSON. */
export function parseSafetensorsIndex(input: string | unknown, fileName = 'model.safetensors.index.json'): SafetensorsIndex {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `the file is not valid JSON (${(cause as Error).message}); it is truncated or corrupt.`, { cause });
    }
  }
  if (!isPlainObject(json)) throw new FormatError(fileName, 'the file must hold a JSON object with a "weight_map".');
  const { weight_map: wm, metadata } = json;
  if (metadata !== undefined && !isPlainObject(metadata)) throw new FormatError(fileName, '"metadata" must be an object.');
  if (!isPlainObject(wm)) throw new FormatError(fileName, '"weight_map" must be an object mapping tensor names to shard file names.');
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  const seen = new Set<string>();
  for (const [tensor, file] of Object.entries(wm)) {
    if (typeof file !== 'string') throw new FormatError(fileName, `weight_map["${tensor}"] must be a file name string, got ${JSON.stringify(file)}.`);
    if (!isSafeShardName(file)) throw new FormatError(fileName, `weight_map["${tensor}"] = ${JSON.stringify(file)} is not a plain file name in the model folder; refusing to follow it.`);
    if (!file.endsWith('.safetensors')) throw new FormatError(fileName, `weight_map["${tensor}"] = "${file}" is not a .safetensors file.`);
    weightMap.set(tensor, file);
    if (!seen.has(file)) { seen.add(file); files.push(file); }
  }
  if (weightMap.size === 0) throw new FormatError(fileName, '"weight_map" is empty; the checkpoint lists no tensors.');
  return { metadata: Object.freeze({ ...(metadata as Record<string, unknown> | undefined) }), weightMap, files: Object.freeze(files) };
}

/** A tensor to write: F32, U32 or I32 values in a typed array of that element type. */
export interface SafetensorsOutput {
  readonly name: string;
  readonly dtype: 'F32' | 'U32' | 'I32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Uint32Array | Int32Array;
}

/**
 * A safetensors file: header padded with spaces to 8 bytes (as the reference writer does), tensors packed
 * in the order given, no gaps. Every dtype written here is 4 bytes wide, so each tensor stays 4-byte aligned.
 */
export function writeSafetensors(tensors: readonly SafetensorsOutput[], metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (size !== t.data.length) throw new InvalidArgumentError(`writeSafetensors: tensor "${t.name}" has ${t.data.length} values for shape [${t.shape.join(', ')}].`);
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name)) throw new InvalidArgumentError(`writeSafetensors: duplicate or reserved tensor name "${t.name}".`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.fill(0x20, 8, 8 + headerBytes);
  out.set(json, 8);
  let at = 8 + headerBytes;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
