import type { Backend } from '../backends/backend.js';
import { DTypeError, InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  MinPProcessor, PresenceFrequencyPenaltyProcessor, RepetitionPenaltyProcessor, TemperatureProcessor, TopKProcessor, TopPProcessor,
  sanitizeLogits, type LogitsProcessor, type LogitsRow, type TokenHistory,
} from './logits-processors.js';
import { Xoshiro128, randomSeed } from './prng.js';

export interface SamplingOptions {
  /** false = greedy. Default: true unless temperature is 0. */
  doSample?: boolean;
  /** Default 1; 0 = greedy. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 (default) = off. */
  topK?: number;
  /** Nucleus mass; 1 (default) = off. */
  topP?: number;
  /** Relative probability floor; 0 (default) = off. */
  minP?: number;
  /** HF repetition penalty over prompt + completion; 1 (default) = off. */
  repetitionPenalty?: number;
  /** OpenAI presence penalty over the completion; 0 (default) = off. */
  presencePenalty?: number;
  /** OpenAI frequency penalty over the completion; 0 (default) = off. */
  frequencyPenalty?: number;
  /** Same seed, model, prompt, options and backend → same tokens. Default: a random seed (reported in the result). */
  seed?: number;
  /**
   * Extra processors, run on the full row after the penalties and before temperature/top-k/top-p/min-p.
   * Their presence forces the full-row path (they may need every logit).
   */
  logitsProcessors?: readonly LogitsProcessor[];
}

/**
 * How much of the logits row must cross to the CPU for the next token:
 * - `argmax`: one i32 (greedy, nothing can change the winner);
 * - `topk`: k values + k ids, exact because the row's top k contains every token the processors can keep;
 * - `nucleus`: top-p / min-p without top-k: softmax(logits / T) on the device, then its k largest
 *   probabilities; exact whenever they cover the nucleus (else the full row is fetched after all);
 * - `full`: the whole row (custom processors, penalties that can raise a logit, plain sampling).
 */
export type LogitsPlan = { kind: 'argmax' } | { kind: 'topk'; k: number } | { kind: 'nucleus'; k: number } | { kind: 'full' };

/** Largest candidate set worth fetching with the device top-k instead of the whole row. */
export const MAX_DEVICE_CANDIDATES = 256;

/**
 * Turns one step's logits into a token: picks the cheapest exact plan, runs the processors, then
 * argmax (greedy) or a seeded draw. Draws walk the surviving tokens in ascending id order, so the
 * full-row and top-k paths give identical tokens for the same seed; the nucleus path draws from the
 * device's softmax, equal to the CPU's up to f32 rounding (a draw landing within ~1e-7 of a
 * boundary may differ between plans or backends; a given backend and plan always repeats itself).
 */
export class TokenSampler {
  readonly greedy: boolean;
  readonly seed: number;
  readonly #penalties: LogitsProcessor[] = [];
  readonly #custom: readonly LogitsProcessor[];
  readonly #warpers: LogitsProcessor[] = [];
  readonly #topK: number;
  readonly #temperature: number;
  readonly #topP: number;
  readonly #minP: number;
  /** Penalties only ever lower logits: then tokens outside the row's top-(k + penalised) cannot win. */
  readonly #penaltiesOnlyLower: boolean;
  readonly #repetition: boolean;
  readonly #rng: Xoshiro128;
  /** Token ids ≥ this are never picked (rows the model has but the tokenizer cannot decode). */
  readonly #limit: number;

  /**
   * `vocabLimit`: one past the largest id the tokenizer knows. Checkpoints often pad the embedding
   * (Qwen2: 151936 rows for 151665 tokens); those untrained ids cannot be decoded, so they are masked.
   */
  constructor(o: SamplingOptions = {}, vocabLimit = Infinity) {
    this.#limit = vocabLimit;
    const temperature = o.temperature ?? 1;
    if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new InvalidArgumentError(`temperature must be a finite number ≥ 0, got ${temperature}.`);
    const topK = o.topK ?? 0;
    if (!Number.isInteger(topK) || topK < 0) throw new InvalidArgumentError(`topK must be an integer ≥ 0, got ${topK}.`);
    const topP = o.topP ?? 1;
    const minP = o.minP ?? 0;
    const rep = o.repetitionPenalty ?? 1;
    const presence = o.presencePenalty ?? 0;
    const frequency = o.frequencyPenalty ?? 0;
    this.greedy = o.doSample === false || temperature === 0;
    this.seed = o.seed ?? randomSeed();
    this.#rng = new Xoshiro128(this.seed);
    this.#custom = o.logitsProcessors ?? [];

    if (rep !== 1) this.#penalties.push(new RepetitionPenaltyProcessor(rep));
    if (presence !== 0 || frequency !== 0) this.#penalties.push(new PresenceFrequencyPenaltyProcessor(presence, frequency));
    this.#repetition = rep !== 1;
    this.#penaltiesOnlyLower = rep >= 1 && presence >= 0 && frequency >= 0;

    // Validate even when greedy makes them irrelevant, so a bad value is reported, not ignored.
    const temp = temperature > 0 && temperature !== 1 ? new TemperatureProcessor(temperature) : null;
    const topKp = topK > 0 ? new TopKProcessor(topK) : null;
    const topPp = new TopPProcessor(topP);
    const minPp = new MinPProcessor(minP);
    this.#topK = topK;
    this.#temperature = temperature;
    this.#topP = topP;
    this.#minP = minP;
    // Warpers keep the most likely token, so greedy decoding skips them.
    if (!this.greedy) {
      if (temp) this.#warpers.push(temp);
      if (topKp) this.#warpers.push(topKp);
      if (topP < 1) this.#warpers.push(topPp);
      if (minP > 0) this.#warpers.push(minPp);
    }
  }

  /** The processors that will run, in order (no-ops left out). */
  get processors(): readonly LogitsProcessor[] {
    return [...this.#penalties, ...this.#custom, ...this.#warpers];
  }

  plan(history: TokenHistory, vocabSize: number): LogitsPlan {
    if (this.#custom.length > 0) return { kind: 'full' };
    const penalised = this.#penalties.length === 0 ? 0 : this.#repetition ? history.seen.size : history.counts.size;
    if (this.greedy) {
      if (penalised === 0) return { kind: 'argmax' };
      return this.#penaltiesOnlyLower ? this.#candidates(1 + penalised, vocabSize) : { kind: 'full' };
    }
    if (this.#topK === 0) {
      const truncates = this.#topP < 1 || this.#minP > 0;
      return truncates && penalised === 0 && vocabSize > MAX_DEVICE_CANDIDATES ? { kind: 'nucleus', k: MAX_DEVICE_CANDIDATES } : { kind: 'full' };
    }
    if (penalised > 0 && !this.#penaltiesOnlyLower) return { kind: 'full' };
    return this.#candidates(this.#topK + penalised, vocabSize);
  }

  #candidates(k: number, vocabSize: number): LogitsPlan {
    if (k >= vocabSize || k > MAX_DEVICE_CANDIDATES) return { kind: 'full' };
    return { kind: 'topk', k };
  }

  /** Runs the processors on a row (full or candidates) and picks a token. The row is modified. */
  pick(row: LogitsRow, history: TokenHistory): number {
    sanitizeLogits(row.logits);
    if (row.ids === null) row.logits.fill(-Infinity, Math.min(this.#limit, row.logits.length));
    else for (let i = 0; i < row.ids.length; i++) if (row.ids[i]! >= this.#limit) row.logits[i] = -Infinity;
    for (const p of this.#penalties) p.apply(row, history);
    for (const p of this.#custom) p.apply(row, history);
    if (this.greedy) return argmaxRow(row);
    for (const p of this.#warpers) p.apply(row, history);
    return this.#draw(row);
  }

  #draw(row: LogitsRow): number {
    const l = row.logits;
    // positions in ascending token id order
    let order: ArrayLike<number> | null = null;
    if (row.ids !== null) {
      const ids = row.ids;
      order = Array.from({ length: l.length }, (_, i) => i).sort((a, b) => ids[a]! - ids[b]!);
    }
    const n = l.length;
    const at = (j: number): number => (order === null ? j : order[j]!);
    let m = -Infinity;
    for (let i = 0; i < n; i++) if (l[i]! > m) m = l[i]!;
    if (m === -Infinity) throw new InvalidArgumentError('Every token was filtered out (all logits are −∞ or NaN); check the logits processors.');
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const v = l[at(j)]!;
      if (v !== -Infinity) sum += Math.exp(v - m);
    }
    const u = this.#rng.nextFloat() * sum;
    let acc = 0;
    let last = -1;
    for (let j = 0; j < n; j++) {
      const i = at(j);
      const v = l[i]!;
      if (v === -Infinity) continue;
      acc += Math.exp(v - m);
      last = i;
      if (u < acc) break;
    }
    return row.ids === null ? last : row.ids[last]!;
  }

  /** The k largest of softmax(logits / T) on the device: probabilities of the whole vocabulary. */
  #deviceProbabilities(backend: Backend, logits: Tensor, k: number): { values: Tensor; indices: Tensor } {
    let scaled: Tensor | null = null;
    if (this.#temperature !== 1) {
      const inv = backend.upload(Float32Array.of(1 / this.#temperature), [1]);
      scaled = backend.mul(logits, inv);
      inv.dispose();
    }
    const probs = backend.softmax(scaled ?? logits);
    scaled?.dispose();
    const top = backend.topk(probs, k);
    probs.dispose();
    return top;
  }

  /**
   * Top-p then min-p over the largest probabilities `p` (descending, ids `ids`) of the whole
   * vocabulary, then a draw. Returns null, without drawing, when tokens beyond these could survive
   * (the nucleus is wider than k) or a candidate is unusable; the caller then uses the full row.
   * `complete`: the candidates are the whole vocabulary.
   */
  pickNucleus(p: ArrayLike<number>, ids: ArrayLike<number>, complete = false): number | null {
    const k = p.length;
    for (let j = 0; j < k; j++) if (!Number.isFinite(p[j]!) || ids[j]! >= this.#limit) return null;
    let n = k;
    if (this.#topP < 1) {
      // keep token j iff the mass ranked above it is < topP (HF TopPLogitsWarper)
      let before = 0;
      n = 0;
      while (n < k && (n === 0 || before < this.#topP)) before += p[n++]!;
      if (n === k && before < this.#topP && !complete) return null;
    }
    const floor = this.#minP * p[0]!;
    if (this.#minP > 0) {
      if (n === k && !complete && p[k - 1]! >= floor) return null;
      while (n > 1 && p[n - 1]! < floor) n--;
    }
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => ids[a]! - ids[b]!);
    let sum = 0;
    for (const j of order) sum += p[j]!;
    const u = this.#rng.nextFloat() * sum;
    let acc = 0;
    for (const j of order) {
      acc += p[j]!;
      if (u < acc) return ids[j]!;
    }
    return ids[order[n - 1]!]!;
  }

  /**
   * Where the pick is a plain argmax (greedy, no penalties or custom processors): the argmax of logits [1, V] as
   * an i32 [1] tensor left on `backend` (the caller disposes it), so the next step can be queued before this
   * one is read back. Null when the pick needs the host (next() then).
   */
  deviceArgmax(backend: Backend, logits: Tensor, history: TokenHistory): Tensor | null {
    if (logits.dtype !== 'f32' || logits.size !== logits.shape[logits.shape.length - 1]) return null;
    return this.plan(history, logits.size).kind === 'argmax' ? backend.argmax(logits) : null;
  }

  /** Whether a device argmax may stand as the pick (a padded, undecodable id may not: next() looks further). */
  acceptsArgmax(id: number): boolean {
    return id < this.#limit;
  }

  /** Chooses the next token from logits [1, V] on `backend`; the caller keeps ownership of `logits`. */
  async next(backend: Backend, logits: Tensor, history: TokenHistory): Promise<number> {
    if (logits.dtype !== 'f32') throw new DTypeError('sampler', `logits must be f32, got ${logits.dtype}`);
    const vocab = logits.shape[logits.shape.length - 1]!;
    const plan = this.plan(history, vocab);
    if (plan.kind === 'argmax') {
      const idx = backend.argmax(logits);
      let id: number;
      try {
        id = (await backend.download(idx))[0] as number;
      } finally {
        idx.dispose();
      }
      // A padded, undecodable id won: the answer is elsewhere in the row.
      if (id < this.#limit) return id;
    } else if (plan.kind === 'topk') {
      const { values, indices } = backend.topk(logits, plan.k);
      let v: Float32Array;
      let i: Int32Array;
      try {
        const [dv, di] = await Promise.all([backend.download(values), backend.download(indices)]);
        v = Float32Array.from(dv as Float32Array);
        i = Int32Array.from(di as Int32Array);
      } finally {
        values.dispose();
        indices.dispose();
      }
      // Masking a candidate would leave fewer than the plan's k: exactness needs the full row then.
      if (i.every((id) => id < this.#limit)) return this.pick({ logits: v, ids: i }, history);
    } else if (plan.kind === 'nucleus') {
      const { values, indices } = this.#deviceProbabilities(backend, logits, plan.k);
      let p: Float32Array;
      let i: Int32Array;
      try {
        const [dv, di] = await Promise.all([backend.download(values), backend.download(indices)]);
        p = dv as Float32Array;
        i = di as Int32Array;
      } finally {
        values.dispose();
        indices.dispose();
      }
      const id = this.pickNucleus(p, i, plan.k >= vocab);
      if (id !== null) return id;
    }
    const row = (await backend.download(logits)) as Float32Array;
    return this.pick({ logits: row.length === vocab ? row : row.subarray(row.length - vocab), ids: null }, history);
  }
}

/** Highest logit, lowest token id on ties (the backends' argmax rule). */
export function argmaxRow(row: LogitsRow): number {
  const l = row.logits;
  let best = -1;
  for (let i = 0; i < l.length; i++) {
    const v = l[i]!;
    if (v === -Infinity) continue;
    if (best < 0 || v > l[best]! || (v === l[best]! && (row.ids === null ? false : row.ids[i]! < row.ids[best]!))) best = i;
  }
  if (best < 0) throw new InvalidArgumentError('Every token was filtered out (all logits are −∞ or NaN); check the logits processors.');
  return row.ids === null ? best : row.ids[best]!;
}
