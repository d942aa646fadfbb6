import { InvalidArgumentError } from '../errors.js';
import type { LlamaConfig } from '../formats/config.js';
import type { GgufHeader, GgufTensorInfo } from '../formats/gguf.js';
import { ggufTensorF32, ggufTensorPacked, ggufToHfName } from '../formats/gguf-llama.js';
import { safetensorsToF32, type SafetensorsHeader, type SafetensorsTensorInfo } from '../formats/safetensors.js';
import type { PackedWeightData, WeightStore } from './weights.js';
import { GGUF_KEEP_PACKED, type StreamingGgufUpload, type StreamingSafetensorsUpload } from './streaming-upload.js';
import type { TensorPlan } from '../quant/plan.js';
import { dequantizeWeight, quantizeWeight } from '../quant/quantize.js';
import { isSavedPart, savedPacked, savedQuantization, type SavedQuantEntry } from '../quant/saved.js';

/** One safetensors file: its parsed header and the whole file's bytes. */
export interface SafetensorsFile {
  header: SafetensorsHeader;
  bytes: Uint8Array;
}

/**
 * Tensors of one or more safetensors shards, by name; `uploads` hold tensors already on the backend; `quantize`
 * packs the weights it names (when they were not packed while streaming).
 */
export function safetensorsStore(files: readonly SafetensorsFile[], uploads: readonly StreamingSafetensorsUpload[] = [], quantize?: TensorPlan): WeightStore {
  const byName = new Map<string, { info: SafetensorsTensorInfo; file: SafetensorsFile }>();
  // weights saved packed by accel (quant/saved.ts): name → entry and file
  const saved = new Map<string, { entry: SavedQuantEntry; file: SafetensorsFile }>();
  for (const file of files) {
    const declared = savedQuantization(file.header);
    for (const [name, entry] of declared ?? []) saved.set(name, { entry, file });
    for (const info of file.header.tensors) if (!declared || !isSavedPart(declared, info.name)) byName.set(info.name, { info, file });
  }
  const get = (name: string) => {
    const e = byName.get(name);
    if (!e) throw new InvalidArgumentError(`No tensor "${name}" in ${files.map((f) => f.header.fileName).join(', ')}.`);
    return e;
  };
  const savedPackedWeight = (name: string): PackedWeightData | null => {
    const s = saved.get(name);
    return s ? savedPacked(s.file.header, s.file.bytes, name, s.entry) : null;
  };
  return {
    has: (name) => byName.has(name) || saved.has(name),
    shape: (name) => saved.get(name)?.entry.shape ?? get(name).info.shape,
    f32: (name) => {
      const p = savedPackedWeight(name);
      if (p) return dequantizeWeight(p);
      const { info, file } = get(name);
      return safetensorsToF32(info, file.bytes, 0, file.header.fileName);
    },
    packed: (name) => {
      const p = savedPackedWeight(name);
      if (p) return p;
      const { info, file } = get(name);
      const choice = quantize?.(name, info.shape) ?? null;
      if (!choice || info.shape.length !== 2) return null;
      return quantizeWeight(safetensorsToF32(info, file.bytes, 0, file.header.fileName), info.shape[0]!, info.shape[1]!, choice.format, { clipSearch: choice.clipSearch });
    },
    take: (name) => {
      for (const u of uploads) {
        const t = u.take(name);
        if (t) return t;
      }
      return null;
    },
    takeQuantized: (name) => {
      for (const u of uploads) {
        const q = u.takeQuantized(name);
        if (q) return q;
      }
      return null;
    },
  };
}

/**
 * Tensors of a Llama-family GGUF file under their Hugging Face names; Q8_0/Q4_0/Q4_K stay packed. `upload` holds
 * the tensors already uploaded while the file streamed in.
 */
export function ggufStore(header: GgufHeader, bytes: Uint8Array, config: LlamaConfig, upload?: StreamingGgufUpload): WeightStore {
  const byName = new Map<string, GgufTensorInfo>();
  for (const info of header.tensors) {
    const hf = ggufToHfName(info.name);
    if (hf) byName.set(hf, info);
  }
  const get = (name: string): GgufTensorInfo => {
    const info = byName.get(name);
    if (!info) throw new InvalidArgumentError(`No tensor for "${name}" in ${header.fileName}.`);
    return info;
  };
  return {
    has: (name) => byName.has(name),
    shape: (name) => get(name).shape,
    f32: (name) => ggufTensorF32(header, config, get(name), bytes, 0),
    packed: (name): PackedWeightData | null => {
      const info = get(name);
      if (!GGUF_KEEP_PACKED.has(info.type) || info.shape.length !== 2) return null;
      return ggufTensorPacked(header, config, info, bytes, 0);
    },
    take: (name) => upload?.take(name) ?? null,
    takeQuantized: (name) => upload?.takeQuantized(name) ?? null,
  };
}
