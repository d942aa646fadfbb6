import { InvalidArgumentError } from '../errors.js';

/**
 * Logits processors: small in-place transforms of one row of next-token logits, composed in a list
 * (transformers.js / HF `LogitsProcessorList` style). A filtered-out token gets −Infinity, as in HF.
 *
 * A row is either the whole vocabulary (`ids === null`: logits[i] belongs to token i) or a candidate
 * subset fetched with the backend's on-device top-k (`ids[i]` is the token of logits[i]); every
 * processor here gives the same values for a token in both forms, so the generator may pick the
 * cheaper form (see sampler.ts for when a subset is exact).
 */
export interface LogitsRow {
  logits: Float32Array;
  ids: Int32Array | null;
}

/** What the penalties look at: every token of the prompt and of the completion so far. */
export class TokenHistory {
  /** Prompt and generated tokens (HF repetition penalty looks at both). */
  readonly seen = new Set<number>();
  /** Generated tokens only, with counts (OpenAI presence/frequency penalties look at the completion). */
  readonly counts = new Map<number, number>();

  constructor(prompt: Iterable<number> = []) {
    for (const t of prompt) this.seen.add(t);
  }

  push(token: number): void {
    this.seen.add(token);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
  }
}

export interface LogitsProcessor {
  readonly name: string;
  apply(row: LogitsRow, history: TokenHistory): void;
}

function tokenAt(row: LogitsRow, i: number): number {
  return row.ids === null ? i : row.ids[i]!;
}

/** Positions of the `k` best entries, best first; order: higher logit, then lower token id. −∞ never counts. */
export function topPositions(row: LogitsRow, k: number): Int32Array {
  const { logits } = row;
  const n = logits.length;
  const better = (a: number, b: number): boolean => {
    const va = logits[a]!;
    const vb = logits[b]!;
    return va > vb || (va === vb && tokenAt(row, a) < tokenAt(row, b));
  };
  if (k <= 64) {
    // One pass with a small sorted buffer: most entries fail the comparison with the current k-th.
    const buf = new Int32Array(k);
    let len = 0;
    for (let i = 0; i < n; i++) {
      if (logits[i] === -Infinity) continue;
      if (len === k && !better(i, buf[k - 1]!)) continue;
      let j = len < k ? len++ : k - 1;
      while (j > 0 && better(i, buf[j - 1]!)) {
        buf[j] = buf[j - 1]!;
        j--;
      }
      buf[j] = i;
    }
    return buf.slice(0, len);
  }
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (logits[i] !== -Infinity) idx.push(i);
  idx.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  return Int32Array.from(idx.slice(0, k));
}

/** Keeps only the positions listed; everything else becomes −∞. */
function keepOnly(row: LogitsRow, keep: ArrayLike<number>): void {
  const mask = new Uint8Array(row.logits.length);
  for (let i = 0; i < keep.length; i++) mask[keep[i]!] = 1;
  for (let i = 0; i < mask.length; i++) if (!mask[i]) row.logits[i] = -Infinity;
}

function finiteMax(logits: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  return m;
}

/** logits / T. T < 1 sharpens, T > 1 flattens; T = 0 is greedy and never reaches a processor. */
export class TemperatureProcessor implements LogitsProcessor {
  readonly name = 'temperature';
  constructor(readonly temperature: number) {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new InvalidArgumentError(`temperature must be a finite number > 0 here (0 means greedy), got ${temperature}.`);
  }
  apply(row: LogitsRow): void {
    const l = row.logits;
    for (let i = 0; i < l.length; i++) l[i] = l[i]! / this.temperature;
  }
}

/**
 * Keeps exactly the k highest logits; ties at the boundary go to the lower token id (the order of
 * the backends' top-k). HF keeps every token tied with the k-th; exact ties of float logits are rare
 * and this choice makes the on-device path and the full-row path agree.
 */
export class TopKProcessor implements LogitsProcessor {
  readonly name = 'top-k';
  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`topK must be an integer ≥ 1 (0 turns it off), got ${k}.`);
  }
  apply(row: LogitsRow): void {
    if (row.logits.length <= this.k) return;
    keepOnly(row, topPositions(row, this.k));
  }
}

/**
 * Nucleus sampling (HF TopPLogitsWarper): keeps the most probable tokens until their probability
 * reaches p (a token is kept iff the mass of the tokens ranked above it is < p); at least one stays.
 */
export class TopPProcessor implements LogitsProcessor {
  readonly name = 'top-p';
  constructor(readonly p: number) {
    if (!(p > 0 && p <= 1)) throw new InvalidArgumentError(`topP must be in (0, 1] (1 turns it off), got ${p}.`);
  }
  apply(row: LogitsRow): void {
    const l = row.logits;
    const m = finiteMax(l);
    if (m === -Infinity) return;
    let sum = 0;
    let finite = 0;
    for (let i = 0; i < l.length; i++) {
      if (l[i] === -Infinity) continue;
      sum += Math.exp(l[i]! - m);
      finite++;
    }
    // Tokens with probability < (1 − p) / n together hold < 1 − p, so the kept prefix (mass ≥ p)
    // ends before any of them: only the others need sorting. Half that bound keeps rounding safe.
    const floor = ((1 - this.p) / finite) * 0.5 * sum;
    const cand: number[] = [];
    for (let i = 0; i < l.length; i++) if (l[i] !== -Infinity && Math.exp(l[i]! - m) >= floor) cand.push(i);
    cand.sort((a, b) => l[b]! - l[a]! || tokenAt(row, a) - tokenAt(row, b));
    const keep: number[] = [];
    let before = 0;
    for (const i of cand) {
      if (before >= this.p && keep.length > 0) break;
      keep.push(i);
      before += Math.exp(l[i]! - m) / sum;
    }
    keepOnly(row, keep);
  }
}

/** min-p (HF MinPLogitsWarper): drops tokens whose probability is below p × the top token's. */
export class MinPProcessor implements LogitsProcessor {
  readonly name = 'min-p';
  constructor(readonly p: number) {
    if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError(`minP must be in [0, 1] (0 turns it off), got ${p}.`);
  }
  apply(row: LogitsRow): void {
    const l = row.logits;
    const m = finiteMax(l);
    if (m === -Infinity) return;
    // p_i / p_max = exp(l_i − l_max)
    for (let i = 0; i < l.length; i++) if (l[i] !== -Infinity && Math.exp(l[i]! - m) < this.p) l[i] = -Infinity;
  }
}

/**
 * HF repetition penalty (CTRL paper): every token already in the prompt or the completion has its
 * logit divided by the penalty when positive and multiplied by it when negative, so a penalty > 1
 * always makes it less likely.
 */
export class RepetitionPenaltyProcessor implements LogitsProcessor {
  readonly name = 'repetition-penalty';
  constructor(readonly penalty: number) {
    if (!(penalty > 0) || !Number.isFinite(penalty)) throw new InvalidArgumentError(`repetitionPenalty must be a finite number > 0 (1 turns it off), got ${penalty}.`);
  }
  apply(row: LogitsRow, history: TokenHistory): void {
    const l = row.logits;
    const p = this.penalty;
    const hit = (i: number): void => {
      const v = l[i]!;
      l[i] = v < 0 ? v * p : v / p;
    };
    if (row.ids === null) {
      for (const t of history.seen) if (t >= 0 && t < l.length) hit(t);
    } else {
      for (let i = 0; i < l.length; i++) if (history.seen.has(row.ids[i]!)) hit(i);
    }
  }
}

/**
 * OpenAI presence / frequency penalties over the completion so far:
 * logit −= count · frequency + (count > 0 ? presence : 0).
 */
export class PresenceFrequencyPenaltyProcessor implements LogitsProcessor {
  readonly name = 'presence-frequency-penalty';
  constructor(readonly presence: number, readonly frequency: number) {
    if (!Number.isFinite(presence) || !Number.isFinite(frequency)) throw new InvalidArgumentError(`presencePenalty and frequencyPenalty must be finite numbers, got ${presence} and ${frequency}.`);
  }
  apply(row: LogitsRow, history: TokenHistory): void {
    const l = row.logits;
    const penalty = (count: number): number => count * this.frequency + this.presence;
    if (row.ids === null) {
      for (const [t, count] of history.counts) if (t >= 0 && t < l.length) l[t] = l[t]! - penalty(count);
    } else {
      for (let i = 0; i < l.length; i++) {
        const count = history.counts.get(row.ids[i]!);
        if (count !== undefined) l[i] = l[i]! - penalty(count);
      }
    }
  }
}

/** NaN never wins (as in the backends' argmax): it becomes −∞ before any processor runs. */
export function sanitizeLogits(logits: Float32Array): void {
  for (let i = 0; i < logits.length; i++) if (Number.isNaN(logits[i]!)) logits[i] = -Infinity;
}
