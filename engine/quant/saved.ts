import { FormatError } from '../errors.js';
import { safetensorsView, type SafetensorsHeader } from '../formats/safetensors.js';
import type { PackedWeightData } from '../models/weights.js';
import { f16Words, validateQuantShape, wordsPerRow, type QuantFormat } from './layout.js';

/**
 * Quantized weights saved by accel in safetensors: a packed weight `W` is stored as three U32 tensors in the
 * layout of ./layout.ts — `W.qdata` (codes), `W.scales` (f16 pairs), `W.mins` (asymmetric only) — and
 * `__metadata__["accel.quantization"]` describes each one (JSON: { version: 1, plan, tensors: { W: { shape,
 * bits, groupSize, symmetric } } }). Float tensors are plain F32 tensors beside them.
 */
export const QUANT_METADATA_KEY = 'accel.quantization';
export const PART_SUFFIXES = ['.qdata', '.scales', '.mins'] as const;

export interface SavedQuantEntry extends QuantFormat {
  readonly shape: readonly [number, number];
}

export interface SavedQuantization {
  readonly version: 1;
  readonly plan: Record<string, unknown> | null;
  readonly tensors: Readonly<Record<string, SavedQuantEntry>>;
}

/** The packed weights a file declares, validated against its tensors; null when the file has none. */
export function savedQuantization(header: SafetensorsHeader): Map<string, SavedQuantEntry> | null {
  const raw = header.metadata[QUANT_METADATA_KEY];
  if (raw === undefined) return null;
  const file = header.fileName;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new FormatError(file, `__metadata__["${QUANT_METADATA_KEY}"] is not valid JSON (${(cause as Error).message}).`, { cause });
  }
  const j = json as Partial<SavedQuantization> | null;
  if (!j || typeof j !== 'object' || j.version !== 1 || !j.tensors || typeof j.tensors !== 'object') {
    throw new FormatError(file, `__metadata__["${QUANT_METADATA_KEY}"] must be { version: 1, tensors: {…} }; this file was written by an unknown version.`);
  }
  const out = new Map<string, SavedQuantEntry>();
  for (const [name, e] of Object.entries(j.tensors)) {
    const shape = e?.shape;
    if (!Array.isArray(shape) || shape.length !== 2) throw new FormatError(file, `quantized tensor "${name}" needs a shape [N, K].`);
    const [n, k] = shape as [number, number];
    const format: QuantFormat = { bits: e.bits, groupSize: e.groupSize, symmetric: e.symmetric };
    const problem = validateQuantShape(n, k, format);
    if (problem !== null || typeof e.symmetric !== 'boolean') throw new FormatError(file, `quantized tensor "${name}": ${problem ?? 'symmetric must be true or false'}.`);
    const words = n * wordsPerRow(k, format.bits);
    const halves = f16Words((n * k) / format.groupSize);
    const parts: [string, number][] = [[`${name}.qdata`, words], [`${name}.scales`, halves]];
    if (!format.symmetric) parts.push([`${name}.mins`, halves]);
    for (const [part, size] of parts) {
      const info = header.byName.get(part);
      if (!info || info.dtype !== 'U32' || info.size !== size) {
        throw new FormatError(file, `quantized tensor "${name}" needs "${part}" as U32 [${size}]${info ? `, found ${info.dtype} [${info.shape.join(', ')}]` : ', which is missing'}.`);
      }
    }
    out.set(name, { shape: [n, k], ...format });
  }
  return out;
}

/** A saved packed weight read from the file's bytes (`bytes` starts at file offset `bytesFileOffset`). */
export function savedPacked(header: SafetensorsHeader, bytes: Uint8Array, name: string, e: SavedQuantEntry, bytesFileOffset = 0): PackedWeightData {
  const part = (suffix: string) => safetensorsView(header.byName.get(`${name}${suffix}`)!, bytes, bytesFileOffset, header.fileName) as Uint32Array;
  return { shape: e.shape, format: { bits: e.bits, groupSize: e.groupSize, symmetric: e.symmetric }, data: part('.qdata'), scales: part('.scales'), mins: e.symmetric ? null : part('.mins') };
}

/** Whether `tensor` is one of the parts of a saved packed weight (the streaming upload leaves those alone). */
export function isSavedPart(saved: ReadonlyMap<string, SavedQuantEntry>, tensor: string): boolean {
  for (const s of PART_SUFFIXES) if (tensor.endsWith(s) && saved.has(tensor.slice(0, -s.length))) return true;
  return false;
}
