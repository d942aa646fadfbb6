import { InvalidArgumentError } from '../errors.js';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from '../formats/tokenizer.js';
import type { CausalLM } from '../models/model.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  cachedTokens, commonPrefix, prefillChunkFor, resolveSlidingWindow, trackCache, windowTokens,
  type MemoryProfileName, type SlidingWindow, type SlidingWindowOptions,
} from './kv-cache.js';
import { TokenHistory } from './logits-processors.js';
import { TokenSampler, type SamplingOptions } from './sampler.js';
import { StopCriteria, StopStringMatcher, type FinishReason } from './stopping.js';

/** One generated token. `text` is the new visible text ('' while held back by UTF-8 or a possible stop string). */
export interface TokenEvent {
  token: number;
  text: string;
  /** 0-based position in the completion. */
  index: number;
}

export interface GenerationMetrics {
  /** From the generate() call to the first token (tokenisation, waiting for the model, prefill, first pick). */
  timeToFirstTokenMs: number;
  /** Prompt tokens run through the model / prefill time (reused cache positions are not counted). */
  prefillTokensPerSecond: number;
  /** Tokens after the first / time from first to last token, pauses excluded; 0 with fewer than 2 tokens. */
  decodeTokensPerSecond: number;
  totalMs: number;
  /** Prompt tokens actually run (the rest came from the cache of the previous call). */
  prefillTokens: number;
  reusedTokens: number;
  pausedMs: number;
  /** Sliding-window shifts (each re-prefills `keep` tokens). */
  cacheShifts: number;
  /** A remote model's own figures, as its server reported them (llama-server's `timings`); absent for local models. */
  server?: ServerTimings | null;
}

/** Timings an inference server measured itself (null fields: the server did not say). */
export interface ServerTimings {
  promptTokens: number | null;
  promptMs: number | null;
  promptTokensPerSecond: number | null;
  predictedTokens: number | null;
  predictedMs: number | null;
  predictedTokensPerSecond: number | null;
  /** Prompt tokens the server took from its cache. */
  cachedTokens: number | null;
}

export interface GenerationResult {
  /** The visible completion: exactly the concatenation of every event's text. */
  text: string;
  /** Every sampled token, the EOS or stop-completing one included. */
  tokens: number[];
  finishReason: FinishReason;
  /** The stop string that ended it (finishReason 'stop'). */
  stopString: string | null;
  /** Why, in words, when it is not obvious (cache full, prompt truncated by the sliding window). */
  detail: string | null;
  usage: { promptTokens: number; completionTokens: number };
  metrics: GenerationMetrics;
  /** The seed used (given or drawn), to replay a sampled run. */
  seed: number;
}

export type GenerateInput = string | readonly ChatMessage[] | { readonly tokens: readonly number[] };

export interface GenerateOptions extends SamplingOptions {
  /** Default 256. */
  maxNewTokens?: number;
  /** Text that ends generation; never shown, not even in part. */
  stop?: string | readonly string[];
  /** Default: the model config's eos_token_id(s) plus the tokenizer's eos token. */
  eosTokenIds?: readonly number[];
  /** Keep going past EOS (benchmarks). */
  ignoreEos?: boolean;
  /** Cancels within one token; the result resolves with finishReason 'abort' and the text so far. */
  signal?: AbortSignal;
  onToken?: (event: TokenEvent) => void;
  /** Running metrics after every token, and the final ones once more at the end. */
  onMetrics?: (metrics: GenerationMetrics) => void;
  /** Sets the prefill chunk (the cache length is fixed when the model is loaded: see memoryProfile()). Default 'balanced'. */
  profile?: MemoryProfileName;
  /** Prompt tokens per forward call; overrides the profile. */
  prefillChunk?: number;
  /** What to do when the KV cache is full: false (default) ends with 'length'; true or options slide. */
  slidingWindow?: boolean | SlidingWindowOptions;
  /** Reuse the KV cache of the previous call on this model for the common prefix. Default true. */
  reuseCache?: boolean;
  /** Default true: control tokens are not shown. */
  skipSpecialTokens?: boolean;
  /** For string prompts: let the tokenizer add BOS etc. Default true (chat templates carry their own). */
  addSpecialTokens?: boolean;
  /** Extra chat-template variables (tools, enable_thinking…). */
  chatTemplateExtra?: ChatTemplateOptions['extra'];
}

/** A running generation: iterate it for token events, await `.result` for the whole. */
export interface Generation extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerationResult>;
  readonly paused: boolean;
  /** Generation waits before the next token until resume(). */
  pause(): void;
  resume(): void;
  /** Same as aborting the `signal` option. */
  abort(): void;
}

const DEFAULT_MAX_NEW_TOKENS = 256;

const now = (): number => performance.now();

/**
 * Streams a completion of `input` (a prompt, chat messages rendered with the tokenizer's chat template,
 * or token ids) from `model`. Invalid options or a prompt that cannot fit throw here; failures while
 * running reject `.result` and the iteration. Generations on the same model run one after the other
 * (they share its KV cache). Breaking out of a `for await` over it aborts it.
 */
export function generate(model: CausalLM, tokenizer: Tokenizer, input: GenerateInput, options: GenerateOptions = {}): Generation {
  return new GenerationRun(model, tokenizer, input, options);
}

function toPromptIds(tokenizer: Tokenizer, input: GenerateInput, o: GenerateOptions): number[] {
  if (typeof input === 'string') {
    const ids = tokenizer.encode(input, { addSpecialTokens: o.addSpecialTokens ?? true });
    if (ids.length === 0 && tokenizer.bosTokenId !== null) return [tokenizer.bosTokenId];
    return ids;
  }
  if (Array.isArray(input)) {
    for (const m of input as unknown[]) {
      const msg = m as Partial<ChatMessage> | null;
      if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || typeof msg.content !== 'string') {
        throw new InvalidArgumentError(`Chat messages must be { role: string, content: string } objects, got ${JSON.stringify(m)}; pass token ids as { tokens }.`);
      }
    }
    const text = tokenizer.applyChatTemplate(input as readonly ChatMessage[], { addGenerationPrompt: true, ...(o.chatTemplateExtra ? { extra: o.chatTemplateExtra } : {}) });
    // As transformers' apply_chat_template(tokenize=True): the template already holds the special tokens.
    return tokenizer.encode(text, { addSpecialTokens: false });
  }
  const tokens = (input as { tokens: readonly number[] }).tokens;
  if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) throw new InvalidArgumentError('generate() input must be a string, an array of chat messages or { tokens }.');
  return Array.from(tokens);
}

/** A macrotask boundary, so abort/pause requests from timers and messages get a chance to run. */
let channel: { port: MessagePort; queue: (() => void)[] } | null = null;
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel === 'function') {
    if (channel === null) {
      const mc = new MessageChannel();
      const queue: (() => void)[] = [];
      mc.port1.onmessage = () => queue.shift()?.();
      channel = { port: mc.port2, queue };
    }
    const c = channel;
    return new Promise((r) => {
      c.queue.push(r);
      c.port.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

// Generations on one model run in turn: each waits for the previous one's release.
const queues = new WeakMap<CausalLM, Promise<void>>();

class GenerationRun implements Generation {
  readonly result: Promise<GenerationResult>;
  readonly #model: CausalLM;
  readonly #tokenizer: Tokenizer;
  readonly #o: GenerateOptions;
  readonly #prompt: number[];
  readonly #sampler: TokenSampler;
  readonly #criteria: StopCriteria;
  readonly #matcher: StopStringMatcher;
  readonly #window: SlidingWindow | null;
  readonly #chunk: number;
  readonly #t0: number;
  #events: TokenEvent[] = [];
  #wakers: (() => void)[] = [];
  #finished = false;
  #error: unknown = null;
  #failed = false;
  #paused = false;
  #pauseStart = 0;
  #pausedMs = 0;
  #resumers: (() => void)[] = [];
  #aborted = false;
  #abortWaiters: (() => void)[] = [];
  #unlinkSignal: (() => void) | null = null;

  constructor(model: CausalLM, tokenizer: Tokenizer, input: GenerateInput, o: GenerateOptions) {
    this.#t0 = now();
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#o = o;
    this.#sampler = new TokenSampler(o, tokenizer.vocabSize);
    const config = model.config as { eosTokenIds?: readonly number[] };
    const eos = o.eosTokenIds ?? [...(config.eosTokenIds ?? []), ...(tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId])];
    this.#criteria = new StopCriteria({ maxNewTokens: o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, eosTokenIds: o.ignoreEos ? [] : eos });
    this.#matcher = new StopStringMatcher(o.stop === undefined ? [] : typeof o.stop === 'string' ? [o.stop] : o.stop);
    this.#window = resolveSlidingWindow(o.slidingWindow, model.maxSequence);
    this.#chunk = o.prefillChunk ?? prefillChunkFor(o.profile ?? 'balanced');
    if (!Number.isInteger(this.#chunk) || this.#chunk < 1) throw new InvalidArgumentError(`prefillChunk must be an integer ≥ 1, got ${this.#chunk}.`);
    this.#prompt = toPromptIds(tokenizer, input, o);
    if (this.#prompt.length === 0) throw new InvalidArgumentError('The prompt is empty and the tokenizer has no BOS token to start from; give at least one token.');
    for (const t of this.#prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= model.vocabSize) throw new InvalidArgumentError(`Prompt token ${t} is outside the model's vocabulary (0…${model.vocabSize - 1}); are the tokenizer and model from the same checkpoint?`);
    }
    if (this.#prompt.length > model.maxSequence && this.#window === null) {
      throw new InvalidArgumentError(`The prompt is ${this.#prompt.length} tokens but the KV cache holds ${model.maxSequence}; shorten it, load the model with a longer cache (memory profile "max"), or pass slidingWindow: true to keep its start and end.`);
    }
    if (o.signal) {
      const signal = o.signal;
      if (signal.aborted) this.abort();
      const onAbort = (): void => this.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlinkSignal = () => signal.removeEventListener('abort', onAbort);
    }
    this.result = this.#start();
    // A caller who only iterates still sees failures there; this keeps the unread promise quiet.
    this.result.catch(() => undefined);
  }

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    if (this.#paused || this.#finished) return;
    this.#paused = true;
    this.#pauseStart = now();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#pausedMs += now() - this.#pauseStart;
    for (const r of this.#resumers.splice(0)) r();
  }

  abort(): void {
    if (this.#aborted || this.#finished) return;
    this.#aborted = true;
    for (const r of this.#abortWaiters.splice(0)) r();
    for (const r of this.#resumers.splice(0)) r();
  }

  [Symbol.asyncIterator](): AsyncIterator<TokenEvent> {
    let i = 0;
    return {
      next: async (): Promise<IteratorResult<TokenEvent>> => {
        for (;;) {
          if (i < this.#events.length) return { value: this.#events[i++]!, done: false };
          if (this.#finished) {
            if (this.#failed) throw this.#error;
            return { value: undefined, done: true };
          }
          await new Promise<void>((r) => this.#wakers.push(r));
        }
      },
      return: async (): Promise<IteratorResult<TokenEvent>> => {
        i = Infinity;
        this.abort();
        return { value: undefined, done: true };
      },
    };
  }

  #emit(e: TokenEvent): void {
    this.#events.push(e);
    for (const w of this.#wakers.splice(0)) w();
    this.#o.onToken?.(e);
  }

  #finish(): void {
    this.#finished = true;
    if (this.#paused) this.resume();
    this.#unlinkSignal?.();
    for (const w of this.#wakers.splice(0)) w();
  }

  async #start(): Promise<GenerationResult> {
    const model = this.#model;
    const previous = queues.get(model) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    queues.set(model, previous.then(() => mine));
    try {
      await Promise.race([previous, new Promise<void>((r) => { if (this.#aborted) r(); else this.#abortWaiters.push(r); })]);
      return await this.#run();
    } catch (e) {
      this.#failed = true;
      this.#error = e;
      trackCache(model, null);
      throw e;
    } finally {
      release();
      this.#finish();
    }
  }

  /** Waits out a pause, then lets other tasks run; true when generation should go on. */
  async #between(): Promise<boolean> {
    while (this.#paused && !this.#aborted) await new Promise<void>((r) => this.#resumers.push(r));
    if (!this.#aborted) await yieldToEventLoop();
    return !this.#aborted;
  }

  /** Feeds `tokens` in chunks after what `cache` holds; the last chunk's logits [1, V], or null if aborted. */
  async #prefill(tokens: readonly number[], cache: number[]): Promise<Tensor | null> {
    const model = this.#model;
    let logits: Tensor | null = null;
    for (let i = 0; i < tokens.length; i += this.#chunk) {
      if (i > 0) {
        // Only the last chunk's logits matter; earlier ones are dropped unread.
        logits!.dispose();
        logits = null;
        model.backend.flush();
        if (!(await this.#between())) return null;
      }
      const chunk = tokens.slice(i, i + this.#chunk);
      logits = model.forward(Int32Array.from(chunk));
      cache.push(...chunk);
    }
    return logits;
  }

  async #run(): Promise<GenerationResult> {
    const model = this.#model;
    const o = this.#o;
    const maxSeq = model.maxSequence;
    const w = this.#window;
    let detail: string | null = null;
    const tokens: number[] = [];
    let text = '';
    let finish: FinishReason | null = null;
    let firstAt = 0;
    let lastAt = 0;
    let pausedBeforeFirst = 0;
    let prefillMs = 0;
    let prefillTokens = 0;
    let reused = 0;
    let shifts = 0;

    const metrics = (end: number): GenerationMetrics => {
      const decodeMs = lastAt - firstAt - (this.#pausedMs - pausedBeforeFirst);
      return {
        timeToFirstTokenMs: tokens.length > 0 ? firstAt - this.#t0 : 0,
        prefillTokensPerSecond: prefillMs > 0 ? (prefillTokens * 1000) / prefillMs : 0,
        decodeTokensPerSecond: tokens.length > 1 && decodeMs > 0 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
        totalMs: end - this.#t0,
        prefillTokens,
        reusedTokens: reused,
        pausedMs: this.#pausedMs,
        cacheShifts: shifts,
      };
    };
    const done = (reason: FinishReason): GenerationResult => {
      const m = metrics(now());
      o.onMetrics?.(m);
      return {
        text, tokens, finishReason: reason, stopString: this.#matcher.stopped, detail, seed: this.#sampler.seed,
        usage: { promptTokens: this.#prompt.length, completionTokens: tokens.length }, metrics: m,
      };
    };
    if (this.#aborted) return done('abort');

    let context = this.#prompt;
    if (context.length > maxSeq && w !== null) {
      context = windowTokens(context, w);
      detail = `The prompt (${this.#prompt.length} tokens) did not fit the ${maxSeq}-token KV cache; its first ${w.sink} and last ${w.keep} tokens were kept.`;
    }
    const history = new TokenHistory(this.#prompt);
    const known = o.reuseCache === false ? null : cachedTokens(model);
    // At least one prompt token must run to produce the logits of the next position.
    reused = known === null ? 0 : Math.min(commonPrefix(known, context), context.length - 1);
    model.resetCache(reused);
    const cache = context.slice(0, reused);
    trackCache(model, cache);
    const prefillStart = now();
    prefillTokens = context.length - reused;
    let logits = await this.#prefill(context.slice(reused), cache);
    const decoder = this.#tokenizer.decodeStream({ skipSpecialTokens: o.skipSpecialTokens ?? true });

    // Run-ahead: where the pick is an argmax on a backend that records work (webgpu), the argmax stays on the
    // device and feeds the next step, which is recorded and queued before this token is read back, so the host
    // records step n + 1 while the device runs step n. A queued step that turns out unwanted (EOS, a stop
    // string, abort, a padded id) is dropped by rewinding the KV cache one position.
    const runAhead = model.forwardIds !== undefined && model.backend.deferred === true;
    let queued: Tensor | null = null;
    const dropQueued = (): void => {
      if (queued === null) return;
      queued.dispose();
      queued = null;
      model.resetCache(cache.length);
    };

    while (logits !== null) {
      let token = -1;
      try {
        const room = cache.length + 1 <= maxSeq && !this.#criteria.reachedLength(tokens.length + 1);
        const idT = runAhead && room ? this.#sampler.deviceArgmax(model.backend, logits, history) : null;
        if (idT !== null) {
          try {
            const read = model.backend.download(idT);
            queued = model.forwardIds!(idT);
            model.backend.flush();
            const id = (await read)[0] as number;
            if (this.#sampler.acceptsArgmax(id)) token = id;
            else dropQueued();
          } finally {
            idT.dispose();
          }
        }
        if (token < 0) token = await this.#sampler.next(model.backend, logits, history);
      } catch (e) {
        dropQueued();
        throw e;
      } finally {
        logits.dispose();
        logits = null;
      }
      const at = now();
      if (this.#aborted) break;
      if (tokens.length === 0) {
        firstAt = at;
        pausedBeforeFirst = this.#pausedMs;
        prefillMs = at - prefillStart - pausedBeforeFirst;
      }
      lastAt = at;
      tokens.push(token);
      history.push(token);

      let piece = '';
      if (this.#criteria.isEos(token)) finish = 'eos';
      else {
        piece = this.#matcher.push(decoder.push(token));
        if (this.#matcher.stopped !== null) finish = 'stop';
      }
      if (finish === null && this.#criteria.reachedLength(tokens.length)) finish = 'length';
      if (finish === null && cache.length + 1 > maxSeq && w === null) {
        finish = 'length';
        detail = `The KV cache is full (${maxSeq} positions). Load the model with a longer cache (memory profile "max") or pass slidingWindow: true to keep generating.`;
      }
      if (finish === 'eos' || finish === 'length') {
        // The end is known: release what UTF-8 or a possible stop string was holding back.
        piece += this.#matcher.push(decoder.flush());
        if (this.#matcher.stopped !== null) finish = 'stop';
        else piece += this.#matcher.flush();
      }
      text += piece;
      this.#emit({ token, text: piece, index: tokens.length - 1 });
      o.onMetrics?.(metrics(at));
      if (finish !== null) {
        dropQueued();
        return done(finish);
      }

      if (!(await this.#between())) break;
      if (queued !== null) {
        logits = queued;
        queued = null;
        cache.push(token);
      } else if (cache.length + 1 > maxSeq) {
        const kept = windowTokens([...cache, token], w!);
        const refill = kept.slice(w!.sink);
        model.resetCache(w!.sink);
        cache.length = w!.sink;
        shifts++;
        logits = await this.#prefill(refill, cache);
      } else {
        logits = model.forward(Int32Array.of(token));
        cache.push(token);
      }
    }
    dropQueued();
    return done('abort');
  }
}
