import { InvalidArgumentError } from '../errors.js';

/** Why generation ended. */
export type FinishReason = 'stop' | 'length' | 'eos' | 'abort';

/**
 * Watches streamed text for stop strings that may span tokens. Text is held back while its end could
 * still be the start of a stop string; when a stop string completes, only the text before it is
 * released, so no part of a stop string ever reaches the caller.
 *
 * Why holding back the longest suffix that is a prefix of some stop string is enough: any later
 * occurrence starts inside the held text, because the part of it seen so far is exactly such a suffix.
 */
export class StopStringMatcher {
  readonly #stops: readonly string[];
  readonly #longest: number;
  #held = '';
  #stopped: string | null = null;

  constructor(stops: readonly string[]) {
    for (const s of stops) if (typeof s !== 'string' || s.length === 0) throw new InvalidArgumentError(`Stop strings must be non-empty strings, got ${JSON.stringify(s)}.`);
    this.#stops = [...new Set(stops)];
    this.#longest = Math.max(0, ...this.#stops.map((s) => s.length));
  }

  /** The stop string that ended the text, once one has. */
  get stopped(): string | null {
    return this.#stopped;
  }

  /** Characters currently held back. */
  get held(): string {
    return this.#held;
  }

  /** Feeds new text; returns what may be shown now. After a stop, returns '' for anything more. */
  push(text: string): string {
    if (this.#stopped !== null) return '';
    if (this.#stops.length === 0) return text;
    const buf = this.#held + text;
    let at = -1;
    let which: string | null = null;
    for (const s of this.#stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        which = s;
      }
    }
    if (which !== null) {
      this.#stopped = which;
      this.#held = '';
      return buf.slice(0, at);
    }
    let hold = Math.min(buf.length, this.#longest - 1);
    for (; hold > 0; hold--) {
      const tail = buf.slice(buf.length - hold);
      if (this.#stops.some((s) => s.startsWith(tail))) break;
    }
    this.#held = buf.slice(buf.length - hold);
    return buf.slice(0, buf.length - hold);
  }

  /** Releases the held text: generation ended for another reason, so it was not a stop string. */
  flush(): string {
    const out = this.#stopped === null ? this.#held : '';
    this.#held = '';
    return out;
  }
}

export interface StopCriteriaOptions {
  maxNewTokens: number;
  eosTokenIds: readonly number[];
}

/** Token-level criteria (the text-level one is StopStringMatcher). */
export class StopCriteria {
  readonly maxNewTokens: number;
  readonly eos: ReadonlySet<number>;

  constructor(o: StopCriteriaOptions) {
    if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new InvalidArgumentError(`maxNewTokens must be an integer ≥ 1, got ${o.maxNewTokens}.`);
    for (const id of o.eosTokenIds) if (!Number.isInteger(id) || id < 0) throw new InvalidArgumentError(`EOS token ids must be integers ≥ 0, got ${id}.`);
    this.maxNewTokens = o.maxNewTokens;
    this.eos = new Set(o.eosTokenIds);
  }

  isEos(token: number): boolean {
    return this.eos.has(token);
  }

  reachedLength(completionTokens: number): boolean {
    return completionTokens >= this.maxNewTokens;
  }
}
