import type { Backend } from '../backends/backend.js';
import { parseSafetensorsHeader, safetensorsHeaderBytes, safetensorsToF32, type SafetensorsHeader, type SafetensorsTensorInfo } from '../formats/safetensors.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Uploads the tensors of a safetensors file to a backend while the file is still arriving: the header is
 * parsed (and validated) as soon as its bytes are in, and each tensor is converted to f32 and uploaded the
 * moment its last byte lands, so conversion and upload overlap the download. Models then `take()` the
 * uploaded tensors instead of uploading again. Whatever is not taken is freed by `dispose()`, which the
 * loader also calls when the download fails or is aborted.
 */
export class StreamingSafetensorsUpload {
  readonly fileName: string;
  #backend: Backend;
  #fileSize: number | undefined;
  #prefix: Uint8Array = new Uint8Array(0);
  #header: SafetensorsHeader | null = null;
  #next = 0;
  #partial: { info: SafetensorsTensorInfo; bytes: Uint8Array; filled: number } | null = null;
  #uploaded = new Map<string, Tensor>();
  #uploadedBytes = 0;

  constructor(backend: Backend, fileName: string, fileSize?: number) {
    this.#backend = backend;
    this.fileName = fileName;
    this.#fileSize = fileSize;
  }

  get header(): SafetensorsHeader | null {
    return this.#header;
  }

  /** Tensors uploaded so far, and their f32 bytes on the backend. */
  get progress(): { tensors: number; bytes: number } {
    return { tensors: this.#uploaded.size, bytes: this.#uploadedBytes };
  }

  /** Feeds the next bytes of the file (chunks arrive in order: `offset` is where this one starts). */
  push(offset: number, chunk: Uint8Array): void {
    let start = offset;
    let bytes = chunk;
    if (!this.#header) {
      const joined = new Uint8Array(this.#prefix.length + bytes.length);
      joined.set(this.#prefix);
      joined.set(bytes, this.#prefix.length);
      this.#prefix = joined;
      const options = { fileName: this.fileName, ...(this.#fileSize !== undefined ? { fileSize: this.#fileSize } : {}) };
      const need = safetensorsHeaderBytes(joined, options);
      if (joined.length < need) return;
      this.#header = parseSafetensorsHeader(joined, options);
      this.#prefix = new Uint8Array(0);
      // What followed the header in the buffered bytes is tensor data.
      bytes = joined.subarray(need);
      start = need;
    }
    this.#consume(start, bytes);
  }

  #consume(offset: number, bytes: Uint8Array): void {
    const tensors = this.#header!.tensors;
    let pos = offset;
    let rest = bytes;
    while (rest.length > 0 && this.#next < tensors.length) {
      const info = tensors[this.#next]!;
      if (pos + rest.length <= info.begin) return;
      if (pos < info.begin) {
        rest = rest.subarray(info.begin - pos);
        pos = info.begin;
      }
      const span = info.end - info.begin;
      const p = (this.#partial ??= { info, bytes: new Uint8Array(span), filled: 0 });
      const take = Math.min(span - p.filled, rest.length);
      p.bytes.set(rest.subarray(0, take), p.filled);
      p.filled += take;
      pos += take;
      rest = rest.subarray(take);
      if (p.filled === span) {
        this.#upload(info, p.bytes);
        this.#partial = null;
        this.#next++;
      }
    }
  }

  #upload(info: SafetensorsTensorInfo, bytes: Uint8Array): void {
    const values = safetensorsToF32(info, bytes, info.begin, this.fileName);
    const t = this.#backend.upload(values, info.shape, 'f32');
    this.#uploaded.set(info.name, t);
    this.#uploadedBytes += t.byteLength;
  }

  /** Hands over the uploaded f32 tensor of that name (the caller owns it), or null. */
  take(name: string): Tensor | null {
    const t = this.#uploaded.get(name);
    if (!t) return null;
    this.#uploaded.delete(name);
    return t;
  }

  dispose(): void {
    for (const t of this.#uploaded.values()) t.dispose();
    this.#uploaded.clear();
    this.#partial = null;
  }
}
