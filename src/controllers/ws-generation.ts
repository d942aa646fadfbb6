import { AbortError, AccelError, NetworkError, type AccelErrorCode, type GenerateInput, type GenerateOptions, type Generation, type GenerationResult, type TokenEvent } from '../../engine/index.js';

type ServerMessage =
  | { type: 'ready' }
  | ({ type: 'token'; id: string } & TokenEvent)
  | { type: 'done'; id: string; result: GenerationResult }
  | { type: 'error'; id?: string; code: string; message: string };

const SENT_OPTIONS = ['maxNewTokens', 'temperature', 'topK', 'topP', 'minP', 'seed', 'stop', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'doSample'] as const;

let nextId = 1;

/**
 * A generation streamed from a remote engine over WebSocket (tools/ws-server.ts speaks the protocol):
 * the same Generation interface as a local one, so `<accel-stream ws-url>` renders it unchanged.
 */
export function generateOverWebSocket(url: string, input: GenerateInput, options: GenerateOptions = {}): Generation {
  return new WebSocketGeneration(url, input, options);
}

class WebSocketGeneration implements Generation {
  readonly result: Promise<GenerationResult>;
  #ws: WebSocket;
  #id = String(nextId++);
  #queue: TokenEvent[] = [];
  #wake: (() => void) | null = null;
  #done = false;
  #paused = false;

  constructor(url: string, input: GenerateInput, options: GenerateOptions) {
    const { signal, onToken } = options;
    const wire: Record<string, unknown> = {};
    for (const k of SENT_OPTIONS) if (options[k] !== undefined) wire[k] = options[k];
    const message = Array.isArray(input) ? { messages: input } : typeof input === 'string' ? { prompt: input } : null;
    if (!message) throw new AccelError('invalid-argument', 'A remote stream takes a prompt or chat messages, not token ids.');
    this.#ws = new WebSocket(url);
    this.result = new Promise<GenerationResult>((resolve, reject) => {
      const fail = (e: AccelError) => {
        reject(e);
        this.#ws.close();
      };
      if (signal?.aborted) return fail(new AbortError('Remote generation', { cause: signal.reason }));
      signal?.addEventListener('abort', () => this.abort(), { once: true });
      this.#ws.addEventListener('error', () => fail(new NetworkError(url, 'the WebSocket connection failed')));
      this.#ws.addEventListener('close', (e) => {
        if (!this.#done) fail(new NetworkError(url, `the stream closed before it finished (code ${e.code})`));
      });
      this.#ws.addEventListener('message', (e: MessageEvent<string>) => {
        let m: ServerMessage;
        try {
          m = JSON.parse(e.data) as ServerMessage;
        } catch {
          return fail(new AccelError('bad-response', `${url} sent a frame that is not JSON.`));
        }
        if (m.type === 'ready') this.#ws.send(JSON.stringify({ type: 'generate', id: this.#id, ...message, options: wire }));
        else if (m.type === 'token' && m.id === this.#id) {
          const ev = { token: m.token, text: m.text, index: m.index };
          onToken?.(ev);
          this.#queue.push(ev);
          this.#wake?.();
        } else if (m.type === 'done' && m.id === this.#id) {
          this.#done = true;
          resolve(m.result);
          this.#ws.close();
        } else if (m.type === 'error' && (m.id === undefined || m.id === this.#id)) {
          this.#done = true;
          fail(new AccelError(m.code as AccelErrorCode, `Remote engine: ${m.message}`));
        }
      });
    }).finally(() => {
      this.#done = true;
      this.#wake?.();
    });
    this.result.catch(() => undefined);
  }

  get paused(): boolean {
    return this.#paused;
  }

  #send(type: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type, id: this.#id }));
  }

  pause(): void {
    this.#paused = true;
    this.#send('pause');
  }

  resume(): void {
    this.#paused = false;
    this.#send('resume');
  }

  abort(): void {
    this.#send('abort');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TokenEvent> {
    for (;;) {
      if (this.#queue.length) {
        yield this.#queue.shift()!;
        continue;
      }
      if (this.#done) break;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = null;
    }
    await this.result;
  }
}
