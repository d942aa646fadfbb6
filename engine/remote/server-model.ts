import {
  AbortError, AccelError, InvalidArgumentError, NetworkError, RateLimitedError, RemoteAuthError, RemoteModelNotFoundError,
  RemoteProtocolError, RemoteRequestError, RemoteServerError, StreamInterruptedError, StreamStalledError,
} from '../errors.js';
import type { ChatMessage } from '../formats/tokenizer.js';
import type { GenerateInput, GenerateOptions, Generation, GenerationMetrics, GenerationResult, ServerTimings } from '../generate/generator.js';
import { randomSeed } from '../generate/prng.js';
import { PushedGeneration } from '../generate/pushed-generation.js';
import { StopStringMatcher, type FinishReason } from '../generate/stopping.js';
import type { ModelHandle, ModelInfo, ModelLoadProgress, TranscribeOptions } from '../load-model.js';
import type { AudioSamples } from '../models/whisper/features.js';
import type { BertOutput } from '../models/bert/bert.js';
import type { RgbaImage } from '../models/vit/image-processor.js';
import type { ClassifyOptions, ClassifyResult } from '../models/vit/vit.js';
import { parseRemoteSource, routeUrl, type RemoteSource } from './source.js';
import { sseEvents } from './sse.js';

export interface ServerModelOptions {
  /** Sent as `Authorization: Bearer …`; never logged, never put in a message, never part of `info`. */
  apiKey?: string;
  /** The model name when the source has no `#name`. */
  model?: string;
  /** Closes a request when nothing (headers, tokens, keep-alive comments) arrives for this long. Default 60 000 ms. */
  stallTimeoutMs?: number;
  /** Check the model name against GET /models before the first request. Default true. */
  validate?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ModelLoadProgress) => void;
  /** Another fetch (tests, proxies, a fetch with custom TLS under Node). */
  fetch?: typeof fetch;
}

const DEFAULT_STALL_MS = 60_000;
const DEFAULT_MAX_NEW_TOKENS = 256;
const now = (): number => performance.now();

/** One request to the server: route, JSON body, and what the client side keeps for itself. */
interface WireRequest {
  url: string;
  chat: boolean;
  body: Record<string, unknown>;
  stops: string[];
  seed: number;
}

/** A step of reading a body that gives up after `ms` of silence or when `signal` aborts. */
type Reader = () => Promise<ReadableStreamReadResult<Uint8Array>>;

/**
 * A model served by an OpenAI-compatible inference server (vLLM, llama.cpp's llama-server, TGI, Ollama,
 * OpenAI): generation happens there, streamed back as server-sent events, behind the same `ModelHandle`
 * as a local model so elements use it unchanged. Chat messages go to `/chat/completions` (the server applies
 * the chat template), prompts and token ids to `/completions`.
 *
 * Differences from a local model, by necessity: token ids are not known (`TokenEvent.token` is -1,
 * `result.tokens` is empty; `usage.completionTokens` counts them when the server reports usage); pause holds
 * the stream (the server may go on generating into its buffers); custom `logitsProcessors`, KV-cache options
 * and `eosTokenIds` do not apply.
 */
export class ServerModel implements ModelHandle {
  readonly baseUrl: string;
  readonly modelName: string;
  readonly stallTimeoutMs: number;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #running = new Set<AbortController>();
  #disposed = false;

  constructor(source: RemoteSource & { model: string }, options: Omit<ServerModelOptions, 'signal' | 'onProgress' | 'validate' | 'model'> = {}) {
    this.baseUrl = source.baseUrl;
    this.modelName = source.model;
    this.#apiKey = options.apiKey || undefined;
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    if (!(this.stallTimeoutMs > 0)) throw new InvalidArgumentError(`stallTimeoutMs must be > 0, got ${this.stallTimeoutMs}.`);
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  get info(): ModelInfo {
    return {
      name: this.modelName,
      architecture: 'remote',
      task: 'text-generation',
      backend: 'remote',
      format: 'openai',
      source: `openai+${this.baseUrl}#${this.modelName}`,
      endpoint: this.baseUrl,
      vocabSize: 0,
      maxSequence: 0,
      // The server applies its own template to chat messages.
      hasChatTemplate: true,
      memory: { weightBytes: 0, kvCacheBytes: 0, totalBytes: 0 },
    };
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Streams a completion from the server; the same Generation as a local model's. */
  generate(input: GenerateInput, options: GenerateOptions = {}): Generation {
    if (this.#disposed) throw new AccelError('disposed', `The remote model "${this.modelName}" was unloaded; load it again.`);
    if (options.logitsProcessors?.length) throw new InvalidArgumentError('Custom logitsProcessors run on local models only; a remote server samples on its side.');
    const request = this.#request(input, options);
    const controller = new AbortController();
    let resume: (() => void) | null = null;
    let paused = false;
    let pauseStart = 0;
    let pausedMs = 0;
    const gen = new PushedGeneration({
      pause: () => {
        if (paused) return;
        paused = true;
        pauseStart = now();
      },
      resume: () => {
        if (!paused) return;
        paused = false;
        pausedMs += now() - pauseStart;
        resume?.();
        resume = null;
      },
      abort: () => controller.abort(new AbortError('Remote generation')),
    });
    const signal = options.signal;
    const onAbort = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    this.#running.add(controller);
    const waitWhilePaused = async (): Promise<void> => {
      while (paused && !controller.signal.aborted) {
        await new Promise<void>((r) => {
          resume = r;
          controller.signal.addEventListener('abort', () => r(), { once: true });
        });
      }
    };
    this.#stream(request, options, controller, gen, () => pausedMs + (paused ? now() - pauseStart : 0), waitWhilePaused)
      .then((r) => gen.finish(r), (e: unknown) => gen.fail(e))
      .finally(() => {
        this.#running.delete(controller);
        signal?.removeEventListener('abort', onAbort);
      });
    return gen;
  }

  embed(_text: string): Promise<BertOutput> {
    return Promise.reject(new InvalidArgumentError(`The remote model "${this.modelName}" is used for text generation here; embeddings from a server are not wired yet.`));
  }

  transcribe(_audio: AudioSamples, _options?: TranscribeOptions): Generation {
    throw new InvalidArgumentError(`The remote model "${this.modelName}" is used for text generation here; speech recognition on a server is not wired.`);
  }

  classify(_image: RgbaImage, _options?: ClassifyOptions): Promise<ClassifyResult> {
    return Promise.reject(new InvalidArgumentError(`The remote model "${this.modelName}" is used for text generation here; image classification on a server is not wired.`));
  }

  /** Aborts every generation in flight; the handle cannot generate afterwards. */
  dispose(): void {
    this.#disposed = true;
    for (const c of this.#running) c.abort(new AbortError('Remote generation (model unloaded)'));
  }

  #request(input: GenerateInput, o: GenerateOptions): WireRequest {
    const body: Record<string, unknown> = { model: this.modelName, stream: true, stream_options: { include_usage: true } };
    let chat: boolean;
    if (typeof input === 'string') {
      chat = false;
      body['prompt'] = input;
    } else if (Array.isArray(input)) {
      for (const m of input as unknown[]) {
        const msg = m as Partial<ChatMessage> | null;
        if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || typeof msg.content !== 'string') {
          throw new InvalidArgumentError(`Chat messages must be { role: string, content: string } objects, got ${JSON.stringify(m)}.`);
        }
      }
      chat = true;
      body['messages'] = (input as readonly ChatMessage[]).map((m) => ({ role: m.role, content: m.content }));
    } else {
      const tokens = (input as { tokens?: readonly number[] }).tokens;
      if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0)) throw new InvalidArgumentError('generate() input must be a string, an array of chat messages or { tokens: integer ids }.');
      chat = false;
      // OpenAI's /completions takes a prompt of token ids; they must be the server model's ids.
      body['prompt'] = [...tokens];
    }
    const max = o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError(`maxNewTokens must be an integer ≥ 1, got ${max}.`);
    body['max_tokens'] = max;
    const greedy = o.doSample === false || o.temperature === 0;
    const num = (name: string, v: number | undefined, ok: (v: number) => boolean, what: string): void => {
      if (v === undefined) return;
      if (typeof v !== 'number' || !ok(v)) throw new InvalidArgumentError(`${name} must be ${what}, got ${String(v)}.`);
    };
    num('temperature', o.temperature, (v) => v >= 0 && Number.isFinite(v), 'a number ≥ 0');
    num('topP', o.topP, (v) => v > 0 && v <= 1, 'in (0, 1]');
    num('topK', o.topK, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
    num('minP', o.minP, (v) => v >= 0 && v <= 1, 'in [0, 1]');
    num('repetitionPenalty', o.repetitionPenalty, (v) => v > 0 && Number.isFinite(v), 'a number > 0');
    body['temperature'] = greedy ? 0 : (o.temperature ?? 1);
    if (o.topP !== undefined && !greedy) body['top_p'] = o.topP;
    // Non-OpenAI fields go only when asked for: api.openai.com rejects unknown ones, the open servers read them.
    if (o.topK !== undefined && o.topK > 0 && !greedy) body['top_k'] = o.topK;
    if (o.minP !== undefined && o.minP > 0 && !greedy) body['min_p'] = o.minP;
    if (o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1) {
      // Multiplicative penalty: llama-server and Ollama call it repeat_penalty, vLLM and TGI repetition_penalty.
      body['repeat_penalty'] = o.repetitionPenalty;
      body['repetition_penalty'] = o.repetitionPenalty;
    }
    if (o.presencePenalty) body['presence_penalty'] = o.presencePenalty;
    if (o.frequencyPenalty) body['frequency_penalty'] = o.frequencyPenalty;
    if (o.ignoreEos) body['ignore_eos'] = true;
    const stops = o.stop === undefined ? [] : typeof o.stop === 'string' ? [o.stop] : [...o.stop];
    if (stops.some((s) => typeof s !== 'string' || s.length === 0)) throw new InvalidArgumentError('stop strings must be non-empty strings.');
    if (stops.length) body['stop'] = stops;
    if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0)) throw new InvalidArgumentError(`seed must be an integer ≥ 0, got ${o.seed}.`);
    // As locally: a drawn seed is reported, so a sampled run can be replayed (on servers that honour seed).
    const seed = o.seed ?? randomSeed();
    body['seed'] = seed;
    return { url: routeUrl(this.baseUrl, chat ? 'chat/completions' : 'completions'), chat, body, stops, seed };
  }

  #headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { accept: json ? 'application/json' : 'text/event-stream' };
    if (json) h['content-type'] = 'application/json';
    if (this.#apiKey) h['authorization'] = `Bearer ${this.#apiKey}`;
    return h;
  }

  async #stream(
    req: WireRequest, o: GenerateOptions, controller: AbortController, gen: PushedGeneration,
    pausedMs: () => number, waitWhilePaused: () => Promise<void>,
  ): Promise<GenerationResult> {
    const t0 = now();
    const matcher = new StopStringMatcher(req.stops);
    let text = '';
    let chunks = 0;
    let firstAt = 0;
    let lastAt = 0;
    let pausedBeforeFirst = 0;
    let usage: { prompt_tokens?: number; completion_tokens?: number } | null = null;
    let timings: Record<string, number> | null = null;
    let serverFinish: string | null = null;
    let finish: FinishReason | null = null;
    const partial = () => ({ partialText: text, receivedTokens: chunks });

    const metrics = (end: number): GenerationMetrics => {
      const completion = usage?.completion_tokens ?? chunks;
      const decodeMs = lastAt - firstAt - (pausedMs() - pausedBeforeFirst);
      const server: ServerTimings | null = timings ? serverTimings(timings) : null;
      return {
        timeToFirstTokenMs: chunks > 0 ? firstAt - t0 : 0,
        prefillTokensPerSecond: server?.promptTokensPerSecond ?? 0,
        decodeTokensPerSecond: completion > 1 && decodeMs > 0 ? ((completion - 1) * 1000) / decodeMs : 0,
        totalMs: end - t0,
        prefillTokens: usage?.prompt_tokens ?? server?.promptTokens ?? 0,
        reusedTokens: server?.cachedTokens ?? 0,
        pausedMs: pausedMs(),
        cacheShifts: 0,
        server,
      };
    };
    const result = (reason: FinishReason, detail: string | null = null): GenerationResult => {
      const m = metrics(now());
      o.onMetrics?.(m);
      return {
        text, tokens: [], finishReason: reason, stopString: matcher.stopped, seed: req.seed,
        detail,
        usage: { promptTokens: usage?.prompt_tokens ?? m.prefillTokens, completionTokens: usage?.completion_tokens ?? chunks },
        metrics: m,
      };
    };
    const push = (piece: string): void => {
      const at = now();
      if (chunks === 0) {
        firstAt = at;
        pausedBeforeFirst = pausedMs();
      }
      lastAt = at;
      const visible = matcher.push(piece);
      text += visible;
      const event = { token: -1, text: visible, index: chunks++ };
      o.onToken?.(event);
      gen.push(event);
      o.onMetrics?.(metrics(at));
    };
    const aborted = (): boolean => controller.signal.aborted && !(controller.signal.reason instanceof StreamStalledError);

    // Bounds every wait: a silent server past the stall timeout is closed with a typed error.
    let stallTimer: ReturnType<typeof setTimeout> | undefined;
    const armStall = (): Promise<never> => new Promise<never>((_, reject) => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        const e = new StreamStalledError(req.url, this.stallTimeoutMs, partial());
        controller.abort(e);
        reject(e);
      }, this.stallTimeoutMs);
    });
    const bounded = async <T>(p: Promise<T>): Promise<T> => {
      const stall = armStall();
      stall.catch(() => undefined);
      let onAbort: (() => void) | undefined;
      const abort = new Promise<never>((_, reject) => {
        onAbort = () => reject(controller.signal.reason);
        if (controller.signal.aborted) onAbort();
        else controller.signal.addEventListener('abort', onAbort, { once: true });
      });
      abort.catch(() => undefined);
      try {
        return await Promise.race([p, stall, abort]);
      } finally {
        clearTimeout(stallTimer);
        controller.signal.removeEventListener('abort', onAbort!);
      }
    };

    let response: Response;
    try {
      if (controller.signal.aborted) return result('abort');
      response = await bounded(this.#fetch(req.url, { method: 'POST', headers: this.#headers(true), body: JSON.stringify(req.body), signal: controller.signal }));
    } catch (e) {
      if (e instanceof StreamStalledError) throw e;
      if (aborted()) return result('abort');
      throw new NetworkError(req.url, `the request failed (${this.#redact(e instanceof Error ? e.message : String(e))})`, { cause: e });
    }
    if (!response.ok) throw await this.#httpError(response, req.url);
    const type = response.headers.get('content-type') ?? '';
    if (!response.body) throw new RemoteProtocolError(req.url, 'the response has no body');
    const reader = response.body.getReader();
    const read: Reader = async () => {
      await waitWhilePaused();
      return bounded(reader.read());
    };
    try {
      if (/application\/json/i.test(type)) {
        // A server that ignores stream: true answers with one JSON completion.
        const chunksIn: Uint8Array[] = [];
        for (let r = await read(); !r.done; r = await read()) chunksIn.push(r.value);
        const whole = new TextDecoder().decode(concat(chunksIn));
        const json = this.#json(whole, req.url, partial());
        const choice = (json['choices'] as Record<string, unknown>[] | undefined)?.[0];
        const content = req.chat ? ((choice?.['message'] as { content?: unknown } | undefined)?.content) : choice?.['text'];
        if (typeof content !== 'string') throw new RemoteProtocolError(req.url, 'the JSON completion has no choices[0] text');
        usage = (json['usage'] as { prompt_tokens?: number; completion_tokens?: number } | undefined) ?? null;
        timings = (json['timings'] as Record<string, number> | undefined) ?? null;
        serverFinish = typeof choice?.['finish_reason'] === 'string' ? (choice['finish_reason'] as string) : 'stop';
        push(content);
      } else {
        if (!/text\/event-stream/i.test(type)) throw new RemoteProtocolError(req.url, `the answer is ${type || 'untyped'}, not text/event-stream`);
        let sawDone = false;
        const state = { trailing: false };
        for await (const event of sseEvents(read, state)) {
          // Events already received wait too: pause holds the next token, as it does locally.
          await waitWhilePaused();
          if (controller.signal.aborted) break;
          const data = event.data;
          if (data.trim() === '[DONE]') {
            sawDone = true;
            break;
          }
          const json = this.#json(data, req.url, partial());
          if (event.event === 'error' || json['error'] !== undefined) {
            const err = json['error'] as { message?: unknown } | string | undefined;
            const msg = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : JSON.stringify(err ?? json);
            throw new RemoteServerError(500, req.url, `the server reported an error mid-stream: ${this.#redact(msg)}`);
          }
          if (json['usage'] && typeof json['usage'] === 'object') usage = json['usage'] as { prompt_tokens?: number; completion_tokens?: number };
          if (json['timings'] && typeof json['timings'] === 'object') timings = json['timings'] as Record<string, number>;
          const choices = json['choices'];
          if (choices !== undefined && !Array.isArray(choices)) throw new RemoteProtocolError(req.url, '"choices" is not an array', partial());
          const choice = (choices as Record<string, unknown>[] | undefined)?.[0];
          if (!choice) continue;
          const piece = req.chat ? (choice['delta'] as { content?: unknown } | undefined)?.content : choice['text'];
          if (piece !== undefined && piece !== null && typeof piece !== 'string') throw new RemoteProtocolError(req.url, 'a chunk\'s content is not a string', partial());
          if (typeof piece === 'string' && piece.length > 0) push(piece);
          if (typeof choice['finish_reason'] === 'string') serverFinish = choice['finish_reason'];
          if (matcher.stopped !== null) {
            finish = 'stop';
            break;
          }
        }
        if (finish === null && !sawDone && serverFinish === null) {
          throw new StreamInterruptedError(req.url, state.trailing ? 'broke off in the middle of an event' : 'ended before the server finished', partial());
        }
      }
    } catch (e) {
      if (aborted()) return result('abort');
      if (e instanceof AccelError) throw e;
      throw new StreamInterruptedError(req.url, `broke (${this.#redact(e instanceof Error ? e.message : String(e))})`, partial(), { cause: e });
    } finally {
      clearTimeout(stallTimer);
      // Stops the server's work too: closing the body closes the connection.
      reader.cancel().catch(() => undefined);
    }
    let detail: string | null = null;
    if (finish === null) {
      if (serverFinish === 'length') finish = 'length';
      else if (req.stops.length && serverFinish === 'stop') {
        finish = 'stop';
        detail = 'The server ended with finish_reason "stop": one of the stop strings or an end-of-sequence token (it does not say which).';
      } else finish = 'eos';
    }
    if (finish !== 'stop') {
      // The end is known: release what a possible stop string was holding back.
      const rest = matcher.flush();
      if (rest) {
        text += rest;
        const event = { token: -1, text: rest, index: chunks };
        o.onToken?.(event);
        gen.push(event);
      }
    }
    return result(finish, detail);
  }

  #json(data: string, url: string, partial: { partialText: string; receivedTokens: number }): Record<string, unknown> {
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      throw new RemoteProtocolError(url, `an event's data is not JSON (${JSON.stringify(this.#redact(data.slice(0, 80)))})`, partial);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RemoteProtocolError(url, 'an event\'s data is not a JSON object', partial);
    return v as Record<string, unknown>;
  }

  /** The server's words without the API key, should a server echo it. */
  #redact(text: string): string {
    return this.#apiKey ? text.split(this.#apiKey).join('[api key]') : text;
  }

  async #httpError(response: Response, url: string): Promise<AccelError> {
    let message = '';
    try {
      const body = await response.text();
      try {
        const j = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
        const m = typeof j.error === 'string' ? j.error : j.error?.message ?? j.message ?? j.detail;
        message = typeof m === 'string' ? m : body;
      } catch {
        message = body;
      }
    } catch {
      message = '';
    }
    message = this.#redact(message.replace(/\s+/g, ' ').trim().slice(0, 300));
    const s = response.status;
    if (s === 401 || s === 403) return new RemoteAuthError(s, url, message);
    if (s === 429) return new RateLimitedError(url, retryAfterMs(response.headers.get('retry-after')), message);
    if (s >= 500) return new RemoteServerError(s, url, message);
    return new RemoteRequestError(s, url, message);
  }

  /**
   * The names GET /models lists (OpenAI's `{ data: [{ id }] }`; Ollama's and llama-server's `models` too).
   * Null when the server has no such route (404/405), so a named model is then taken on trust.
   */
  async listModels(signal?: AbortSignal): Promise<string[] | null> {
    return listModels(this.baseUrl, this.#apiKey, this.#fetch, this.stallTimeoutMs, signal, (r, u) => this.#httpError(r, u));
  }
}

async function listModels(
  baseUrl: string, apiKey: string | undefined, fetchFn: typeof fetch, timeoutMs: number, signal: AbortSignal | undefined,
  httpError: (r: Response, url: string) => Promise<AccelError>,
): Promise<string[] | null> {
  const url = routeUrl(baseUrl, 'models');
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) throw new AbortError('Loading the remote model', { cause: signal.reason });
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new StreamStalledError(url, timeoutMs)), timeoutMs);
  try {
    let response: Response;
    let body: string;
    try {
      response = await fetchFn(url, { headers: apiKey ? { accept: 'application/json', authorization: `Bearer ${apiKey}` } : { accept: 'application/json' }, signal: controller.signal });
      if (response.status === 404 || response.status === 405) return null;
      if (!response.ok) throw await httpError(response, url);
      body = await response.text();
    } catch (e) {
      if (e instanceof AccelError) throw e;
      if (signal?.aborted) throw new AbortError('Loading the remote model', { cause: signal.reason });
      if (controller.signal.reason instanceof StreamStalledError) throw controller.signal.reason;
      const detail = e instanceof Error ? e.message : String(e);
      throw new NetworkError(url, `the server did not answer (${apiKey ? detail.split(apiKey).join('[api key]') : detail})`, { cause: e });
    }
    let j: { data?: { id?: unknown }[]; models?: { id?: unknown; name?: unknown; model?: unknown }[] };
    try {
      j = JSON.parse(body) as typeof j;
    } catch {
      throw new RemoteProtocolError(url, 'GET /models did not return JSON');
    }
    const names = new Set<string>();
    for (const m of Array.isArray(j.data) ? j.data : []) if (typeof m?.id === 'string') names.add(m.id);
    for (const m of Array.isArray(j.models) ? j.models : []) for (const k of ['id', 'name', 'model'] as const) if (typeof m?.[k] === 'string') names.add(m[k] as string);
    if (!Array.isArray(j.data) && !Array.isArray(j.models)) throw new RemoteProtocolError(url, 'GET /models has neither "data" nor "models"');
    return [...names];
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Retry-After: delta-seconds or an HTTP date → milliseconds from now (null when absent or unreadable). */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | null {
  if (header === null) return null;
  const v = header.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** llama-server's `timings` (prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n) in the metrics' words. */
function serverTimings(t: Record<string, number>): ServerTimings {
  const n = (k: string): number | null => (typeof t[k] === 'number' && Number.isFinite(t[k]) ? t[k] : null);
  const promptMs = n('prompt_ms');
  const promptTokens = n('prompt_n');
  const predictedMs = n('predicted_ms');
  const predictedTokens = n('predicted_n');
  return {
    promptTokens,
    promptMs,
    promptTokensPerSecond: n('prompt_per_second') ?? (promptMs && promptTokens !== null ? (promptTokens * 1000) / promptMs : null),
    predictedTokens,
    predictedMs,
    predictedTokensPerSecond: n('predicted_per_second') ?? (predictedMs && predictedTokens !== null ? (predictedTokens * 1000) / predictedMs : null),
    cachedTokens: n('cache_n'),
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/**
 * Connects to `openai+https://host/v1#model` (or `https://host/v1#model`): checks the model against
 * GET /models (a missing name is taken from a server that serves exactly one), then returns the handle.
 * Nothing is downloaded; generation happens on the server.
 */
export async function loadServerModel(src: string, options: ServerModelOptions = {}): Promise<ServerModel> {
  const source = parseRemoteSource(src);
  const wanted = source.model ?? options.model ?? null;
  const fetchFn = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const probe = new ServerModel({ ...source, model: wanted ?? '' }, options);
  let model = wanted;
  if (options.validate !== false || wanted === null) {
    const names = await probe.listModels(options.signal);
    if (names === null) {
      if (wanted === null) throw new RemoteModelNotFoundError('', source.baseUrl, []);
    } else if (wanted === null) {
      if (names.length !== 1) throw new RemoteModelNotFoundError('(none given)', source.baseUrl, names);
      model = names[0]!;
    } else if (!names.includes(wanted)) {
      throw new RemoteModelNotFoundError(wanted, source.baseUrl, names);
    }
  }
  const handle = new ServerModel({ ...source, model: model! }, { ...options, fetch: fetchFn });
  options.onProgress?.({ phase: 'ready', file: handle.modelName, fileLoaded: 0, fileTotal: 0, loaded: 0, progress: 1 });
  return handle;
}
