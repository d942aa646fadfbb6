import { AbortError, AccelError, NetworkError, type AccelErrorCode } from '../../engine/errors.js';
import type { GenerateInput, GenerateOptions, Generation, GenerationResult, TokenEvent } from '../../engine/generate/index.js';
import { PushedGeneration } from '../../engine/generate/pushed-generation.js';

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
  return webSocketGeneration(url, input, options);
}

function webSocketGeneration(url: string, input: GenerateInput, options: GenerateOptions): Generation {
  const { signal, onToken } = options;
  const wire: Record<string, unknown> = {};
  for (const k of SENT_OPTIONS) if (options[k] !== undefined) wire[k] = options[k];
  const message = Array.isArray(input) ? { messages: input } : typeof input === 'string' ? { prompt: input } : null;
  if (!message) throw new AccelError('invalid-argument', 'A remote stream takes a prompt or chat messages, not token ids.');
  const id = String(nextId++);
  const ws = new WebSocket(url);
  const send = (type: string) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type, id }));
  const gen = new PushedGeneration({ pause: () => send('pause'), resume: () => send('resume'), abort: () => send('abort') });
  const fail = (e: AccelError) => {
    gen.fail(e);
    ws.close();
  };
  if (signal?.aborted) {
    fail(new AbortError('Remote generation', { cause: signal.reason }));
    return gen;
  }
  signal?.addEventListener('abort', () => gen.abort(), { once: true });
  ws.addEventListener('error', () => fail(new NetworkError(url, 'the WebSocket connection failed')));
  ws.addEventListener('close', (e) => {
    if (!gen.done) fail(new NetworkError(url, `the stream closed before it finished (code ${e.code})`));
  });
  ws.addEventListener('message', (e: MessageEvent<string>) => {
    let m: ServerMessage;
    try {
      m = JSON.parse(e.data) as ServerMessage;
    } catch {
      return fail(new AccelError('bad-response', `${url} sent a frame that is not JSON.`));
    }
    if (m.type === 'ready') ws.send(JSON.stringify({ type: 'generate', id, ...message, options: wire }));
    else if (m.type === 'token' && m.id === id) {
      const ev = { token: m.token, text: m.text, index: m.index };
      onToken?.(ev);
      gen.push(ev);
    } else if (m.type === 'done' && m.id === id) {
      gen.finish(m.result);
      ws.close();
    } else if (m.type === 'error' && (m.id === undefined || m.id === id)) {
      fail(new AccelError(m.code as AccelErrorCode, `Remote engine: ${m.message}`));
    }
  });
  return gen;
}
