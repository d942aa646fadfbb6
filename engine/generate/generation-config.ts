import { FormatError } from '../errors.js';
import type { SamplingOptions } from './sampler.js';

/** The fields of a Hugging Face generation_config.json that generate() understands, as its options. */
export interface GenerationDefaults extends SamplingOptions {
  maxNewTokens?: number;
  eosTokenIds?: readonly number[];
}

/**
 * generation_config.json (text or parsed) → defaults to spread under the caller's options:
 * `generate(model, tok, prompt, { ...generationDefaults(json), ...userOptions })`. It matters for
 * chat models, whose end-of-turn token (e.g. <|im_end|>) is often listed only here. Only fields
 * present in the file are returned, so generate()'s own defaults apply to the rest (HF's implicit
 * top_k = 50 is not imitated).
 */
export function generationDefaults(input: string | unknown, fileName = 'generation_config.json'): GenerationDefaults {
  let json: unknown = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `is not valid JSON (${(cause as Error).message}).`, { cause });
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(fileName, 'must be a JSON object.');
  const j = json as Record<string, unknown>;
  const out: GenerationDefaults = {};
  const num = (key: string, ok: (v: number) => boolean, what: string): number | undefined => {
    const v = j[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !ok(v)) throw new FormatError(fileName, `"${key}" must be ${what}, got ${JSON.stringify(v)}.`);
    return v;
  };
  const id = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const eos = j['eos_token_id'];
  if (eos !== undefined && eos !== null) {
    const ids = Array.isArray(eos) ? eos : [eos];
    if (!ids.every(id)) throw new FormatError(fileName, `"eos_token_id" must be a token id or a list of them, got ${JSON.stringify(eos)}.`);
    out.eosTokenIds = ids;
  }
  const maxNew = num('max_new_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  if (maxNew !== undefined) out.maxNewTokens = maxNew;
  const doSample = j['do_sample'];
  if (doSample !== undefined && doSample !== null) {
    if (typeof doSample !== 'boolean') throw new FormatError(fileName, `"do_sample" must be true or false, got ${JSON.stringify(doSample)}.`);
    out.doSample = doSample;
  }
  const temperature = num('temperature', (v) => v >= 0 && Number.isFinite(v), 'a number ≥ 0');
  if (temperature !== undefined) out.temperature = temperature;
  const topK = num('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  if (topK !== undefined) out.topK = topK;
  const topP = num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  if (topP !== undefined) out.topP = topP;
  const minP = num('min_p', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  if (minP !== undefined) out.minP = minP;
  const rep = num('repetition_penalty', (v) => v > 0 && Number.isFinite(v), 'a number > 0');
  if (rep !== undefined) out.repetitionPenalty = rep;
  return out;
}
