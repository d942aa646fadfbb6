#!/usr/bin/env -S node --import tsx
// Streams tokens from the engine under Node.js to WebSocket clients (e.g. <accel-stream ws-url>).
// Usage: node --import tsx tools/ws-server.ts [--model models/tiny-llama] [--port 8765] [--host 127.0.0.1] [--backend cpu|wasm]
//
// Protocol (JSON text frames). Client → server:
//   { "type": "generate", "id": "1", "prompt": "…" | "messages": [{role, content}…], "options": { maxNewTokens, temperature, topK, topP, minP, seed, stop, repetitionPenalty } }
//   { "type": "abort" | "pause" | "resume", "id": "1" }
// Server → client:
//   { "type": "ready", "model": ModelInfo }                       once, after connecting
//   { "type": "token", "id", "token", "text", "index" }           per token
//   { "type": "done", "id", "result": GenerationResult }         at the end (finishReason abort after an abort)
//   { "type": "error", "id"?, "code", "message" }
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { AccelError, getEngine, type GenerateOptions, type Generation, type Model } from '../engine/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/tiny-llama' },
    port: { type: 'string', default: '8765' },
    host: { type: 'string', default: '127.0.0.1' },
    backend: { type: 'string', default: 'wasm' },
  },
});

const ALLOWED_OPTIONS = ['maxNewTokens', 'temperature', 'topK', 'topP', 'minP', 'seed', 'stop', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'doSample'] as const;

async function loadFolder(dir: string): Promise<Model> {
  const names = (await readdir(dir)).filter((n) => /\.(json|safetensors)$/.test(n));
  const files = await Promise.all(names.map(async (n) => new File([await readFile(join(dir, n))], n)));
  return getEngine().configure({ gpu: null }).load(files, { backend: values.backend as 'cpu' | 'wasm', cache: false });
}

function send(ws: WebSocket, message: object): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

function sanitize(options: unknown): GenerateOptions {
  const out: Record<string, unknown> = {};
  if (options && typeof options === 'object') for (const k of ALLOWED_OPTIONS) if (k in options) out[k] = (options as Record<string, unknown>)[k];
  return out as GenerateOptions;
}

const model = await loadFolder(resolve(values.model));
const server = new WebSocketServer({ host: values.host, port: Number(values.port), maxPayload: 1 << 20 });

server.on('connection', (ws) => {
  const running = new Map<string, { gen: Generation; abort: AbortController }>();
  send(ws, { type: 'ready', model: model.info });
  ws.on('message', async (data) => {
    let msg: { type?: string; id?: unknown; prompt?: unknown; messages?: unknown; options?: unknown };
    try {
      msg = JSON.parse(String(data));
    } catch {
      return send(ws, { type: 'error', code: 'invalid-argument', message: 'Frames must be JSON objects.' });
    }
    const id = String(msg.id ?? '');
    const current = running.get(id);
    if (msg.type === 'abort') return current?.abort.abort();
    if (msg.type === 'pause') return current?.gen.pause();
    if (msg.type === 'resume') return current?.gen.resume();
    if (msg.type !== 'generate') return send(ws, { type: 'error', id, code: 'invalid-argument', message: `Unknown message type "${String(msg.type)}".` });
    const abort = new AbortController();
    try {
      const input = Array.isArray(msg.messages) ? msg.messages : typeof msg.prompt === 'string' ? msg.prompt : null;
      if (input === null) throw new AccelError('invalid-argument', 'A generate message needs a "prompt" string or a "messages" array.');
      const gen = model.generate(input, { ...sanitize(msg.options), signal: abort.signal });
      running.set(id, { gen, abort });
      for await (const ev of gen) send(ws, { type: 'token', id, ...ev });
      send(ws, { type: 'done', id, result: await gen.result });
    } catch (e) {
      send(ws, { type: 'error', id, code: e instanceof AccelError ? e.code : 'unknown', message: e instanceof Error ? e.message : String(e) });
    } finally {
      running.delete(id);
    }
  });
  ws.on('close', () => {
    for (const r of running.values()) r.abort.abort();
  });
});

server.on('listening', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : values.port;
  console.log(`accel token stream: ws://${values.host}:${port} (model ${values.model} on ${model.info.backend})`);
});
