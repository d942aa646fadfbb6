import {
  AbortError,
  AccelError,
  BadResponseError,
  HttpError,
  NetworkError,
  StalledError,
  TruncatedError,
} from '../errors.js';

export interface HttpOptions {
  /** Injected fetch (tests, custom auth); defaults to globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
  /** Milliseconds without a single byte (or without response headers) before giving up on a request. */
  stallTimeoutMs?: number;
  /** Extra attempts after a 5xx/408/429, a network error, a stall or a body cut short. Shared by one download. */
  retries?: number;
  /** First backoff delay; doubles on every retry. */
  retryDelayMs?: number;
  /** Extra request headers (e.g. Authorization for gated hubs). */
  headers?: Record<string, string>;
  /**
   * Browser HTTP cache mode. Defaults to 'no-store' because verified files live in the model cache
   * already; letting the HTTP cache keep a second copy of a multi-GB file doubles the disk use.
   */
  httpCache?: RequestCache;
}

export interface RequestOptions extends HttpOptions {
  signal?: AbortSignal;
  /** Send no Range header (for servers or gateways that mishandle one); resumes then skip bytes instead. */
  noRange?: boolean;
}

export interface RangeBody {
  /** Exactly the requested bytes in order; errors are AccelErrors (TruncatedError, StalledError, AbortError...). */
  stream: ReadableStream<Uint8Array>;
  /** Number of bytes `stream` delivers, when the server told us before the body. */
  length: number | undefined;
  /** Size of the whole resource, when known. */
  fileSize: number | undefined;
  /** The URL as requested (redirects are followed by fetch). */
  url: string;
}

export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
export const DEFAULT_RETRY_DELAY_MS = 300;
const MAX_RETRY_AFTER_MS = 30_000;

const STALL = Symbol('stall');

function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function isRetryable(err: unknown): boolean {
  if (err instanceof HttpError) return retryableStatus(err.status);
  return err instanceof NetworkError || err instanceof StalledError || err instanceof TruncatedError;
}

/** Resolves after `ms`, or rejects with AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(what, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(what, { cause: signal!.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Races `p` against a timer; the timer's rejection is the STALL symbol. */
function withStallTimer<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(STALL), ms);
  });
  // The losing promise may reject later (aborted fetch); that rejection is expected and handled here.
  p.catch(() => {});
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

interface ContentRange {
  first: number;
  last: number;
  total: number | undefined;
}

function parseContentRange(h: string | null): ContentRange | undefined {
  if (!h) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h);
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (last < first || (total !== undefined && last >= total)) return undefined;
  return { first, last, total };
}

function parseUnsatisfiedTotal(h: string | null): number | undefined {
  const m = h ? /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(h) : null;
  return m ? Number(m[1]) : undefined;
}

function contentLength(res: Response): number | undefined {
  const enc = res.headers.get('content-encoding');
  // With a content coding Content-Length counts encoded bytes, not the ones we read.
  if (enc && enc.toLowerCase() !== 'identity') return undefined;
  const h = res.headers.get('content-length');
  if (h === null || !/^\d+$/.test(h.trim())) return undefined;
  return Number(h);
}

function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.min(s * 1000, MAX_RETRY_AFTER_MS);
  const d = Date.parse(h);
  return Number.isFinite(d) ? Math.min(Math.max(0, d - Date.now()), MAX_RETRY_AFTER_MS) : undefined;
}

/** One response being read: where its bytes start relative to what we deliver. */
interface Connection {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  controller: AbortController;
  /** Bytes at the front of this body that precede what we still need (server ignored Range). */
  skip: number;
  etag: string | null;
  unlink: () => void;
}

/**
 * A ranged download that validates what the server sent and resumes after network errors.
 * Byte positions: the caller wants [start, end) of the resource; `delivered` counts bytes handed out.
 */
class RangeDownload {
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly stallMs: number;
  private retriesLeft: number;
  private readonly retryDelayMs: number;
  private attempt = 0;
  private conn: Connection | undefined;
  delivered = 0;
  length: number | undefined;
  fileSize: number | undefined;
  private etag: string | null = null;
  private retryHint: number | undefined;

  constructor(
    readonly url: string,
    private readonly start: number,
    private end: number | undefined,
    private readonly opts: RequestOptions,
  ) {
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.stallMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.retriesLeft = opts.retries ?? DEFAULT_RETRIES;
    this.retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    if (end !== undefined) this.length = end - start;
  }

  private abortError(cause?: unknown): AbortError {
    return new AbortError(`Download of ${this.url}`, { cause: cause ?? this.opts.signal?.reason });
  }

  /** Waits before the next attempt, or rethrows `err` when the retry budget is spent. */
  private async backoff(err: unknown, hintMs?: number): Promise<void> {
    if (!isRetryable(err) || this.retriesLeft <= 0) throw err;
    this.retriesLeft--;
    const delay = hintMs ?? this.retryDelayMs * 2 ** this.attempt;
    this.attempt++;
    await sleep(delay, this.opts.signal, `Download of ${this.url}`);
  }

  /** Opens (or reopens after a failure) a response positioned at `start + delivered`. */
  async connect(): Promise<void> {
    for (;;) {
      try {
        this.conn = await this.request();
        return;
      } catch (err) {
        if (this.opts.signal?.aborted) throw this.abortError();
        const hint = this.retryHint;
        this.retryHint = undefined;
        await this.backoff(err, hint);
      }
    }
  }

  private async request(): Promise<Connection> {
    const signal = this.opts.signal;
    if (signal?.aborted) throw this.abortError();
    const from = this.start + this.delivered;
    const headers = new Headers(this.opts.headers);
    const wantsRange = !this.opts.noRange;
    if (wantsRange) headers.set('Range', `bytes=${from}-${this.end !== undefined ? this.end - 1 : ''}`);
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const unlink = () => signal?.removeEventListener('abort', onAbort);
    let res: Response;
    try {
      res = await withStallTimer(
        this.fetchFn(this.url, { headers, signal: controller.signal, cache: this.opts.httpCache ?? 'no-store', redirect: 'follow' }),
        this.stallMs,
      );
    } catch (err) {
      unlink();
      controller.abort();
      if (signal?.aborted) throw this.abortError();
      if (err === STALL) throw new StalledError(this.url, this.stallMs, this.delivered);
      throw new NetworkError(this.url, err instanceof Error ? err.message : String(err), { cause: err });
    }
    const fail = (err: AccelError): never => {
      unlink();
      controller.abort();
      throw err;
    };
    const etag = res.headers.get('etag');
    if (this.etag !== null && etag !== null && etag !== this.etag) {
      fail(new BadResponseError(this.url, `the file changed during the download (ETag ${this.etag} became ${etag})`));
    }
    let skip = 0;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      const cl = contentLength(res);
      if (!cr) {
        // Cross-origin servers that do not expose Content-Range still honour `bytes=0-`; for any other
        // start we cannot tell which bytes came back, so refuse rather than risk misplaced data.
        if (from !== 0 || this.delivered !== 0) {
          fail(new BadResponseError(this.url, `206 without a readable Content-Range for bytes=${from}- (a cross-origin server must expose it)`));
        }
        if (this.length === undefined && cl !== undefined && this.end === undefined) this.length = cl;
      } else {
        if (cr.first !== from) fail(new BadResponseError(this.url, `asked for bytes from ${from}, got Content-Range ${cr.first}-${cr.last}`));
        if (cr.total !== undefined) this.setFileSize(cr.total, fail);
        const want = this.end !== undefined ? this.end - 1 : undefined;
        if (want !== undefined && cr.last > want) fail(new BadResponseError(this.url, `asked for bytes ${from}-${want}, got ${cr.first}-${cr.last}`));
        if (want !== undefined && cr.last < want) {
          // A server may only shorten a range at the end of the file.
          if (cr.total === undefined || cr.last !== cr.total - 1) fail(new BadResponseError(this.url, `asked for bytes ${from}-${want}, got ${cr.first}-${cr.last}`));
          this.end = cr.last + 1;
          this.length = this.end - this.start;
        }
        if (this.end === undefined) {
          this.end = cr.last + 1;
          this.length = this.end - this.start;
        }
        if (cl !== undefined && cl > cr.last - cr.first + 1) fail(new BadResponseError(this.url, `Content-Length ${cl} exceeds the range ${cr.first}-${cr.last}`));
      }
    } else if (res.status === 200) {
      // The server ignored Range (or none was sent): the body is the whole file from byte 0.
      skip = from;
      const cl = contentLength(res);
      if (cl !== undefined) {
        this.setFileSize(cl, fail);
        if (this.end === undefined || this.end > cl) {
          if (this.end !== undefined && this.start > cl) fail(new HttpError(416, this.url, 'Range Not Satisfiable'));
          this.end = cl;
          this.length = Math.max(0, cl - this.start);
        }
      }
    } else if (res.status === 416) {
      const total = parseUnsatisfiedTotal(res.headers.get('content-range'));
      // Servers answer `bytes=0-` on an empty file with 416 */0: that is an empty body, not an error.
      if (total !== undefined && from === total && (this.end === undefined || this.end <= total)) {
        unlink();
        controller.abort();
        this.setFileSize(total, fail);
        this.end = from;
        this.length = this.end - this.start;
        return { reader: emptyReader(), controller, skip: 0, etag, unlink: () => {} };
      }
      fail(new HttpError(416, this.url, res.statusText));
    } else {
      this.retryHint = retryAfterMs(res);
      fail(new HttpError(res.status, this.url, res.statusText));
    }
    if (!res.body) fail(new BadResponseError(this.url, `status ${res.status} with no body`));
    if (this.etag === null) this.etag = etag;
    return { reader: res.body!.getReader(), controller, skip, etag, unlink };
  }

  private setFileSize(size: number, fail: (e: AccelError) => never): void {
    if (this.fileSize !== undefined && this.fileSize !== size) {
      fail(new BadResponseError(this.url, `the file size changed from ${this.fileSize} to ${size} during the download`));
    }
    this.fileSize = size;
  }

  private closeConn(): void {
    const c = this.conn;
    if (!c) return;
    this.conn = undefined;
    c.unlink();
    c.reader.cancel().catch(() => {});
    c.controller.abort();
  }

  /** Next chunk of the requested range, or undefined at the end. */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.length !== undefined && this.delivered >= this.length) {
        this.closeConn();
        return undefined;
      }
      if (!this.conn) await this.connect();
      const c = this.conn!;
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await withStallTimer(c.reader.read(), this.stallMs);
      } catch (err) {
        this.closeConn();
        if (this.opts.signal?.aborted) throw this.abortError();
        const typed = err === STALL
          ? new StalledError(this.url, this.stallMs, this.delivered)
          : this.length !== undefined
            ? new TruncatedError(this.url, this.length, this.delivered, { cause: err })
            : new NetworkError(this.url, `the connection failed after ${this.delivered} bytes`, { cause: err });
        await this.backoff(typed);
        continue;
      }
      if (r.done) {
        this.closeConn();
        if (this.length === undefined) {
          this.length = this.delivered;
          return undefined;
        }
        if (this.delivered < this.length) {
          await this.backoff(new TruncatedError(this.url, this.length, this.delivered));
          continue;
        }
        return undefined;
      }
      let chunk = r.value;
      if (c.skip > 0) {
        const n = Math.min(c.skip, chunk.byteLength);
        c.skip -= n;
        chunk = chunk.subarray(n);
      }
      if (this.length !== undefined && this.delivered + chunk.byteLength > this.length) {
        chunk = chunk.subarray(0, this.length - this.delivered);
      }
      if (chunk.byteLength === 0) continue;
      this.delivered += chunk.byteLength;
      return chunk;
    }
  }

  cancel(): void {
    this.closeConn();
  }
}

function emptyReader(): ReadableStreamDefaultReader<Uint8Array> {
  return new ReadableStream<Uint8Array>({ start: (c) => c.close() }).getReader();
}

/**
 * Fetches bytes [start, end) of `url` (end exclusive; omitted = to the end of the file) and checks that
 * the server honoured the range: 206 with a matching Content-Range, or 200 whose leading bytes are
 * skipped. Resolves once the headers are validated; the body then streams with stall detection,
 * truncation checks and resumption from the last byte received.
 */
export async function fetchRange(url: string, start = 0, end?: number, opts: RequestOptions = {}): Promise<RangeBody> {
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new BadResponseError(url, `invalid byte range [${start}, ${end})`);
  }
  const dl = new RangeDownload(url, start, end, opts);
  if (end === start) {
    return { stream: new ReadableStream({ start: (c) => c.close() }), length: 0, fileSize: undefined, url };
  }
  await dl.connect();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await dl.next();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        } catch (err) {
          dl.cancel();
          controller.error(err);
        }
      },
      cancel() {
        dl.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, length: dl.length, fileSize: dl.fileSize, url };
}

/** Reads a whole stream into one buffer, refusing to grow past `maxBytes`. */
export async function readAll(stream: ReadableStream<Uint8Array>, length: number | undefined, maxBytes = Infinity, what = 'response'): Promise<Uint8Array> {
  if (length !== undefined && length > maxBytes) {
    await stream.cancel().catch(() => {});
    throw new BadResponseError(what, `${length} bytes exceed the limit of ${maxBytes}`);
  }
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      n += r.value.byteLength;
      if (n > maxBytes) throw new BadResponseError(what, `more than ${maxBytes} bytes`);
      parts.push(r.value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
