import type { Backend } from '../backends/backend.js';
import type { LlamaConfig } from '../formats/config.js';
import { GgmlType, tryParseGgufHeader, type GgufHeader, type GgufTensorInfo } from '../formats/gguf.js';
import { ggufLlamaConfig, ggufTensorF32, ggufTensorPacked, ggufToHfName } from '../formats/gguf-llama.js';
import { parseSafetensorsHeader, safetensorsHeaderBytes, safetensorsToF32, type SafetensorsHeader, type SafetensorsTensorInfo } from '../formats/safetensors.js';
import { disposeQuantized, type QuantizedTensor } from '../quant/quantized-tensor.js';
import type { TensorPlan } from '../quant/plan.js';
import { isSavedPart, savedQuantization } from '../quant/saved.js';
import { quantizeWeight } from '../quant/quantize.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Uploads the tensors of a checkpoint file to a backend while the file is still arriving: the header is parsed
 * (and validated) as soon as its bytes are in, and each tensor is converted and uploaded the moment its last
 * byte lands, so conversion and upload overlap the download. Models then `take()` the uploaded tensors instead
 * of uploading again. Whatever is not taken is freed by `dispose()`, which the loader also calls when the
 * download fails or is aborted. Subclasses know the format: where its header ends, where each tensor lies,
 * and how a tensor becomes backend storage.
 */
/** Header bytes buffered at most while waiting to parse it (GGUF vocabularies make headers of a few MB). */
const MAX_STREAMED_HEADER = 64 * 2 ** 20;

abstract class StreamingUpload<Info extends { readonly name: string; readonly begin: number; readonly end: number }> {
  readonly fileName: string;
  protected readonly backend: Backend;
  protected readonly fileSize: number | undefined;
  /** Bytes before the header is parsed, joined only once `want` of them are in. */
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #gaveUp = false;
  /** How many bytes the header needs at least, as far as the subclass knows yet. */
  protected want = 0;
  #tensors: readonly Info[] | null = null;
  #next = 0;
  #partial: { info: Info; bytes: Uint8Array; filled: number } | null = null;
  #uploaded = new Map<string, Tensor>();
  #quantized = new Map<string, QuantizedTensor>();
  #count = 0;
  #uploadedBytes = 0;

  constructor(backend: Backend, fileName: string, fileSize?: number) {
    this.backend = backend;
    this.fileName = fileName;
    this.fileSize = fileSize;
  }

  /**
   * The tensors (sorted by `begin`) and the header's length once `prefix` holds the whole header; null while
   * more bytes are needed. Throws the format's error for a malformed header.
   */
  protected abstract parseHeader(prefix: Uint8Array): { tensors: readonly Info[]; headerBytes: number } | null;

  /** Converts and uploads one complete tensor (its bytes start at file offset info.begin). */
  protected abstract uploadTensor(info: Info, bytes: Uint8Array): void;

  protected keep(name: string, t: Tensor): void {
    this.#uploaded.set(name, t);
    this.#uploadedBytes += t.byteLength;
    this.#count++;
  }

  protected keepQuantized(name: string, q: QuantizedTensor): void {
    this.#quantized.set(name, q);
    this.#uploadedBytes += q.data.byteLength + q.scales.byteLength + (q.mins?.byteLength ?? 0);
    this.#count++;
  }

  /** Tensors uploaded so far, and their bytes on the backend. */
  get progress(): { tensors: number; bytes: number } {
    return { tensors: this.#count, bytes: this.#uploadedBytes };
  }

  /**
   * Feeds the next bytes of the file (chunks arrive in order: `offset` is where this one starts). A header not
   * parsed within MAX_STREAMED_HEADER bytes stops the streaming: the loader then reads the complete file.
   */
  push(offset: number, chunk: Uint8Array): void {
    if (this.#gaveUp) return;
    let start = offset;
    let bytes = chunk;
    if (!this.#tensors) {
      this.#chunks.push(chunk.slice());
      this.#buffered += chunk.length;
      if (this.#buffered < this.want) return;
      if (this.#buffered > MAX_STREAMED_HEADER) {
        this.#gaveUp = true;
        this.#chunks = [];
        return;
      }
      const joined = new Uint8Array(this.#buffered);
      let at = 0;
      for (const c of this.#chunks) {
        joined.set(c, at);
        at += c.length;
      }
      this.#chunks = [joined];
      const parsed = this.parseHeader(joined);
      if (!parsed) return;
      this.#tensors = parsed.tensors;
      this.#chunks = [];
      // What followed the header in the buffered bytes is tensor data.
      bytes = joined.subarray(parsed.headerBytes);
      start = parsed.headerBytes;
    }
    this.#consume(start, bytes);
  }

  #consume(offset: number, bytes: Uint8Array): void {
    const tensors = this.#tensors!;
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
        this.uploadTensor(info, p.bytes);
        this.#partial = null;
        this.#next++;
      }
    }
  }

  /** Hands over the uploaded f32 tensor of that name (the caller owns it), or null. */
  take(name: string): Tensor | null {
    const t = this.#uploaded.get(name);
    if (!t) return null;
    this.#uploaded.delete(name);
    return t;
  }

  /** Hands over the uploaded packed weight of that name (the caller owns it), or null. */
  takeQuantized(name: string): QuantizedTensor | null {
    const q = this.#quantized.get(name);
    if (!q) return null;
    this.#quantized.delete(name);
    return q;
  }

  dispose(): void {
    for (const t of this.#uploaded.values()) t.dispose();
    for (const q of this.#quantized.values()) disposeQuantized(q);
    this.#uploaded.clear();
    this.#quantized.clear();
    this.#partial = null;
  }
}

/**
 * What a model makes of one checkpoint tensor before upload: the tensors to upload under their names (e.g.
 * GPT-2's Conv1D weights transposed, its fused c_attn split into q, k and v). The default keeps it as it is.
 */
export type TensorTransform = (name: string, values: Float32Array, shape: readonly number[]) => { name: string; values: Float32Array; shape: readonly number[] }[];

/**
 * A safetensors file: every tensor becomes f32 on the backend (through `transform` when given), or packed when
 * `quantize` names a format for it — then no f32 copy of that weight ever reaches the backend.
 */
export class StreamingSafetensorsUpload extends StreamingUpload<SafetensorsTensorInfo> {
  #header: SafetensorsHeader | null = null;
  #transform: TensorTransform | undefined;
  #quantize: TensorPlan | undefined;

  constructor(backend: Backend, fileName: string, fileSize?: number, transform?: TensorTransform, quantize?: TensorPlan) {
    super(backend, fileName, fileSize);
    this.#transform = transform;
    this.#quantize = quantize;
  }

  get header(): SafetensorsHeader | null {
    return this.#header;
  }

  protected parseHeader(prefix: Uint8Array): { tensors: readonly SafetensorsTensorInfo[]; headerBytes: number } | null {
    const options = { fileName: this.fileName, ...(this.fileSize !== undefined ? { fileSize: this.fileSize } : {}) };
    const need = safetensorsHeaderBytes(prefix, options);
    this.want = need;
    if (prefix.length < need) return null;
    this.#header = parseSafetensorsHeader(prefix, options);
    // a file saved packed by accel: its packed parts are read by the store once the file is in
    const saved = savedQuantization(this.#header);
    return { tensors: saved ? this.#header.tensors.filter((t) => !isSavedPart(saved, t.name)) : this.#header.tensors, headerBytes: need };
  }

  protected uploadTensor(info: SafetensorsTensorInfo, bytes: Uint8Array): void {
    const values = safetensorsToF32(info, bytes, info.begin, this.fileName);
    const choice = this.#quantize?.(info.name, info.shape) ?? null;
    if (choice && info.shape.length === 2) {
      const q = quantizeWeight(values, info.shape[0]!, info.shape[1]!, choice.format, { clipSearch: choice.clipSearch });
      this.keepQuantized(info.name, this.backend.uploadQuantized(choice.format, q.shape, q.data, q.scales, q.mins));
      return;
    }
    const parts = this.#transform ? this.#transform(info.name, values, info.shape) : [{ name: info.name, values, shape: info.shape }];
    for (const p of parts) this.keep(p.name, this.backend.upload(p.values, p.shape, 'f32'));
  }
}

// GGUF types that stay packed on the backend (the kernels read them directly); others become f32.
export const GGUF_KEEP_PACKED: ReadonlySet<number> = new Set<number>([GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K]);

/**
 * A Llama-family GGUF file, tensors under their Hugging Face names: Q8_0/Q4_0/Q4_K projections are repacked into
 * the engine's layout and uploaded packed, everything else (embeddings, norms, biases, other block types) as
 * f32 — what LlamaModel asks the store for. The config is read from the header as soon as it is in, so a file
 * of an unsupported architecture fails before its weights download.
 */
export class StreamingGgufUpload extends StreamingUpload<GgufTensorInfo> {
  #header: GgufHeader | null = null;
  #config: LlamaConfig | null = null;

  get header(): GgufHeader | null {
    return this.#header;
  }

  get config(): LlamaConfig | null {
    return this.#config;
  }

  protected parseHeader(prefix: Uint8Array): { tensors: readonly GgufTensorInfo[]; headerBytes: number } | null {
    // the header's length is only known by parsing: retried when the bytes tryParseGgufHeader asked for are in
    // with the size unknown, the prefix must not be taken for the whole file (bounds are checked again by the
    // loader's parse of the complete file)
    const r = tryParseGgufHeader(prefix, { fileName: this.fileName, fileSize: this.fileSize ?? Number.MAX_SAFE_INTEGER });
    if (!('header' in r)) {
      this.want = r.needBytes;
      return null;
    }
    this.#header = r.header;
    this.#config = ggufLlamaConfig(r.header);
    return { tensors: [...r.header.tensors].sort((a, b) => a.begin - b.begin), headerBytes: r.header.dataOffset };
  }

  protected uploadTensor(info: GgufTensorInfo, bytes: Uint8Array): void {
    const name = ggufToHfName(info.name);
    if (!name) return;
    const h = this.#header!;
    const c = this.#config!;
    const float = name.endsWith('embed_tokens.weight') || name.endsWith('norm.weight') || name.endsWith('.bias');
    if (!float && GGUF_KEEP_PACKED.has(info.type) && info.shape.length === 2) {
      const p = ggufTensorPacked(h, c, info, bytes, info.begin);
      this.keepQuantized(name, this.backend.uploadQuantized(p.format, p.shape, p.data, p.scales, p.mins ?? null));
    } else {
      this.keep(name, this.backend.upload(ggufTensorF32(h, c, info, bytes, info.begin), info.shape, 'f32'));
    }
  }
}
