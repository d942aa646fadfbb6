/**
 * Every failure the engine reports is an `AccelError` with a stable `code` that callers can switch on
 * and a message that says what to do next. Elements turn these into `accel-error` events.
 */
export type AccelErrorCode =
  | 'webgpu-unavailable'
  | 'device-lost'
  | 'out-of-memory'
  | 'backend-unavailable'
  | 'unsupported-op'
  | 'shape-mismatch'
  | 'dtype-mismatch'
  | 'invalid-argument'
  | 'disposed'
  | 'capabilities-failed'
  | 'wasm-unavailable'
  | 'invalid-format'
  | 'network'
  | 'http-status'
  | 'bad-response'
  | 'truncated'
  | 'stalled'
  | 'integrity'
  | 'aborted'
  | 'quota-exceeded'
  | 'storage-failed'
  | 'bad-source'
  | 'file-not-found'
  | 'unauthorized'
  | 'rate-limited'
  | 'remote-server'
  | 'remote-request'
  | 'model-not-found'
  | 'stream-interrupted';

export interface AccelErrorOptions {
  cause?: unknown;
}

export class AccelError extends Error {
  readonly code: AccelErrorCode;

  constructor(code: AccelErrorCode, message: string, options: AccelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

export class WebGPUUnavailableError extends AccelError {
  constructor(reason: string, options?: AccelErrorOptions) {
    super('webgpu-unavailable', `WebGPU is not available: ${reason}. Use backend "wasm" or "cpu", or a browser with WebGPU enabled.`, options);
  }
}

export class DeviceLostError extends AccelError {
  readonly reason: string;
  constructor(reason: string, detail: string, options?: AccelErrorOptions) {
    super('device-lost', `The GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). Reload the model to continue; the engine creates a new device on the next request.`, options);
    this.reason = reason;
  }
}

export class OutOfMemoryError extends AccelError {
  readonly requestedBytes: number;
  constructor(requestedBytes: number, where: string, options?: AccelErrorOptions) {
    super('out-of-memory', `Out of memory allocating ${requestedBytes} bytes on ${where}. Use a smaller model or a lower precision.`, options);
    this.requestedBytes = requestedBytes;
  }
}

export class BackendUnavailableError extends AccelError {
  constructor(backend: string, reason: string, options?: AccelErrorOptions) {
    super('backend-unavailable', `Backend "${backend}" is not available here: ${reason}.`, options);
  }
}

export class ShapeError extends AccelError {
  constructor(op: string, detail: string) {
    super('shape-mismatch', `${op}: ${detail}`);
  }
}

export class DTypeError extends AccelError {
  constructor(op: string, detail: string) {
    super('dtype-mismatch', `${op}: ${detail}`);
  }
}

export class InvalidArgumentError extends AccelError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

export class DisposedError extends AccelError {
  constructor(what: string) {
    super('disposed', `${what} was used after dispose().`);
  }
}

/**
 * A model file (safetensors, GGUF, config.json, tokenizer files…) that is malformed or unsupported.
 * `byteOffset` points at the offending bytes when the problem has a position in the file.
 */
export class FormatError extends AccelError {
  readonly fileName: string;
  readonly byteOffset: number | undefined;
  constructor(fileName: string, problem: string, options: AccelErrorOptions & { byteOffset?: number } = {}) {
    const at = options.byteOffset === undefined ? '' : ` at byte ${options.byteOffset}`;
    super('invalid-format', `${fileName}${at}: ${problem}`, options);
    this.fileName = fileName;
    this.byteOffset = options.byteOffset;
  }
}

/** The request never produced a response (DNS, connection reset, CORS, offline). */
export class NetworkError extends AccelError {
  readonly url: string;
  constructor(url: string, detail: string, options?: AccelErrorOptions) {
    super('network', `Could not fetch ${url}: ${detail}. Check the address and your connection, then retry.`, options);
    this.url = url;
  }
}

/** The server answered with an HTTP status that is not a success. */
export class HttpError extends AccelError {
  readonly status: number;
  readonly url: string;
  constructor(status: number, url: string, statusText = '', options?: AccelErrorOptions) {
    const hint = status === 404 ? 'the file does not exist there; check the source and file name'
      : status === 416 ? 'the server refused the byte range; the file may have changed since it was cached or listed'
      : status >= 500 ? 'the server failed; retry later or use another source'
      : 'check the address and your access rights';
    super('http-status', `HTTP ${status}${statusText ? ` ${statusText}` : ''} for ${url}: ${hint}.`, options);
    this.status = status;
    this.url = url;
  }
}

/** The server's answer contradicts the request (wrong Content-Range, impossible lengths). */
export class BadResponseError extends AccelError {
  readonly url: string;
  constructor(url: string, detail: string, options?: AccelErrorOptions) {
    super('bad-response', `Unexpected response from ${url}: ${detail}. The server or a proxy mishandles byte ranges; try another source.`, options);
    this.url = url;
  }
}

/** The body ended before the announced number of bytes arrived. */
export class TruncatedError extends AccelError {
  readonly url: string;
  readonly expectedBytes: number;
  readonly receivedBytes: number;
  constructor(url: string, expectedBytes: number, receivedBytes: number, options?: AccelErrorOptions) {
    super('truncated', `Download of ${url} was cut short: ${receivedBytes} of ${expectedBytes} bytes arrived. Retry; if it persists the server is sending a broken file.`, options);
    this.url = url;
    this.expectedBytes = expectedBytes;
    this.receivedBytes = receivedBytes;
  }
}

/** No byte arrived for longer than the stall timeout. */
export class StalledError extends AccelError {
  readonly url: string;
  readonly timeoutMs: number;
  readonly receivedBytes: number;
  constructor(url: string, timeoutMs: number, receivedBytes: number, options?: AccelErrorOptions) {
    super('stalled', `Download of ${url} stalled: no data for ${timeoutMs} ms after ${receivedBytes} bytes. Retry, or raise the stall timeout on a slow connection.`, options);
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.receivedBytes = receivedBytes;
  }
}

/** Bytes do not match the hash the user or the CID promised. */
export class IntegrityError extends AccelError {
  readonly algorithm: string;
  readonly expected: string;
  readonly actual: string;
  /** The IPFS CID whose block failed, when the check was content addressing. */
  readonly cid: string | undefined;
  constructor(what: string, algorithm: string, expected: string, actual: string, cid?: string) {
    super('integrity', `${what} failed its ${algorithm} check${cid ? ` for CID ${cid}` : ''}: expected ${expected}, got ${actual}. The bytes were not used or cached; try another source or gateway.`);
    this.algorithm = algorithm;
    this.expected = expected;
    this.actual = actual;
    this.cid = cid;
  }
}

/** The caller aborted; `name` is 'AbortError' like the DOM's so generic abort checks work too. */
export class AbortError extends AccelError {
  constructor(what: string, options?: AccelErrorOptions) {
    super('aborted', `${what} was aborted.`, options);
  }
}

/** Storage is full (QuotaExceededError); the work goes on without caching. */
export class QuotaError extends AccelError {
  readonly bytes: number;
  constructor(what: string, bytes: number, options?: AccelErrorOptions) {
    super('quota-exceeded', `Not enough storage to cache ${what} (${bytes} bytes); it was loaded without caching. Free space with cache.clear() or delete old models.`, options);
    this.bytes = bytes;
  }
}

/** The cache store failed for a reason other than quota (blocked upgrade, private mode, I/O). */
export class StorageError extends AccelError {
  constructor(detail: string, options?: AccelErrorOptions) {
    super('storage-failed', `Model cache unavailable: ${detail}. Loading continues without the cache.`, options);
  }
}

/** The model source string or object cannot be used. */
export class SourceError extends AccelError {
  constructor(detail: string, options?: AccelErrorOptions) {
    super('bad-source', `Invalid model source: ${detail}.`, options);
  }
}

/** A file asked for is not part of a local or content-addressed source. */
export class FileNotFoundError extends AccelError {
  readonly file: string;
  constructor(file: string, where: string) {
    super('file-not-found', `"${file}" is not in ${where}. Check the file name or add the file to the selection.`);
    this.file = file;
  }
}

/** The benchmark result store (IndexedDB) cannot be opened or written; results stay in memory only. */
export class BenchmarkStorageError extends AccelError {
  constructor(detail: string, options?: AccelErrorOptions) {
    super('storage-failed', `Benchmark results cannot be stored: ${detail}. The results of this run are still shown and can be exported.`, options);
  }
}

/** What a remote generation had produced when it failed: the text is kept so a UI can show it. */
export interface PartialOutput {
  partialText?: string;
  /** Content chunks received (≈ tokens) before the failure. */
  receivedTokens?: number;
}

/** The inference server refused the credentials (HTTP 401 / 403). The API key is never part of the message. */
export class RemoteAuthError extends AccelError {
  readonly status: number;
  readonly url: string;
  constructor(status: number, url: string, serverMessage: string, options?: AccelErrorOptions) {
    super('unauthorized', `HTTP ${status} from ${url}: ${serverMessage ? `${serverMessage} — ` : ''}${status === 401 ? 'the server wants a valid API key; set the apiKey property (or option)' : 'this API key may not use this model or route'}.`, options);
    this.status = status;
    this.url = url;
  }
}

/** HTTP 429: too many requests. `retryAfterMs` comes from the Retry-After header (null when the server gave none). */
export class RateLimitedError extends AccelError {
  readonly url: string;
  readonly retryAfterMs: number | null;
  constructor(url: string, retryAfterMs: number | null, serverMessage: string, options?: AccelErrorOptions) {
    const wait = retryAfterMs === null ? 'wait a little' : `wait ${Math.ceil(retryAfterMs / 1000)} s`;
    super('rate-limited', `HTTP 429 from ${url}: ${serverMessage ? `${serverMessage} — ` : ''}rate limited; ${wait} before retrying.`, options);
    this.url = url;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The inference server failed (HTTP 5xx). */
export class RemoteServerError extends AccelError {
  readonly status: number;
  readonly url: string;
  readonly serverMessage: string;
  constructor(status: number, url: string, serverMessage: string, options?: AccelErrorOptions) {
    super('remote-server', `HTTP ${status} from ${url}: ${serverMessage || 'the inference server failed'}. Retry later or use another endpoint.`, options);
    this.status = status;
    this.url = url;
    this.serverMessage = serverMessage;
  }
}

/** The inference server rejected the request (HTTP 4xx other than 401/403/429: bad option, unknown route…). */
export class RemoteRequestError extends AccelError {
  readonly status: number;
  readonly url: string;
  readonly serverMessage: string;
  constructor(status: number, url: string, serverMessage: string, options?: AccelErrorOptions) {
    super('remote-request', `HTTP ${status} from ${url}: ${serverMessage || 'the request was rejected'}. Check the endpoint URL, the model name and the sampling options.`, options);
    this.status = status;
    this.url = url;
    this.serverMessage = serverMessage;
  }
}

/** The endpoint's /models list does not name the model asked for. */
export class RemoteModelNotFoundError extends AccelError {
  readonly model: string;
  readonly available: readonly string[];
  constructor(model: string, url: string, available: readonly string[]) {
    const list = available.length ? `it serves ${available.slice(0, 10).map((m) => `"${m}"`).join(', ')}${available.length > 10 ? ` and ${available.length - 10} more` : ''}` : 'it lists no models';
    super('model-not-found', `${url} has no model "${model}": ${list}. Put the name after # in the source (openai+https://host/v1#name).`);
    this.model = model;
    this.available = available;
  }
}

/** The response stream ended or broke before the server said it was done; what arrived is kept. */
export class StreamInterruptedError extends AccelError {
  readonly url: string;
  readonly partialText: string;
  readonly receivedTokens: number;
  constructor(url: string, detail: string, partial: PartialOutput = {}, options?: AccelErrorOptions) {
    const n = partial.receivedTokens ?? 0;
    super('stream-interrupted', `The stream from ${url} ${detail} after ${n} token${n === 1 ? '' : 's'}; the partial text is kept (error.partialText). Retry to get a complete answer.`, options);
    this.url = url;
    this.partialText = partial.partialText ?? '';
    this.receivedTokens = n;
  }
}

/** The server sent something that is not the OpenAI streaming format (broken SSE, data that is not JSON). */
export class RemoteProtocolError extends AccelError {
  readonly url: string;
  readonly partialText: string;
  readonly receivedTokens: number;
  constructor(url: string, detail: string, partial: PartialOutput = {}, options?: AccelErrorOptions) {
    super('bad-response', `Unexpected response from ${url}: ${detail}. Is this an OpenAI-compatible endpoint (vLLM, llama-server, TGI, Ollama)?`, options);
    this.url = url;
    this.partialText = partial.partialText ?? '';
    this.receivedTokens = partial.receivedTokens ?? 0;
  }
}

/** Nothing arrived from the inference server for longer than the stall timeout; the request was closed. */
export class StreamStalledError extends AccelError {
  readonly url: string;
  readonly timeoutMs: number;
  readonly partialText: string;
  readonly receivedTokens: number;
  constructor(url: string, timeoutMs: number, partial: PartialOutput = {}, options?: AccelErrorOptions) {
    const n = partial.receivedTokens ?? 0;
    super('stalled', `${url} sent nothing for ${timeoutMs} ms (after ${n} token${n === 1 ? '' : 's'}); the request was closed. Retry, or raise stallTimeoutMs for a slow server.`, options);
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.partialText = partial.partialText ?? '';
    this.receivedTokens = n;
  }
}
