// A small OpenAI-compatible HTTP server on llama.cpp (@fugood/llama.node, CPU) for accel's remote-model
// tests and demo: GET /v1/models, POST /v1/completions and /v1/chat/completions (stream or not), SSE
// chunks one per token, usage and llama-server-style `timings` in the last chunk, CORS open, an optional
// API key. One completion runs at a time (one llama context); a client that hangs up stops its completion.
//
//   node test/remote-server/server.mjs [--port 8089] [--host 127.0.0.1] [--model models/tiny-llama/tiny-llama-q8_0.gguf]
//   (set ACCEL_REMOTE_API_KEY to require that key)
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, toggleNativeLog } from '@fugood/llama.node';
import { writeLlamaCppGguf } from './gguf-for-llama-cpp.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_MODEL = join(repo, 'models', 'tiny-llama', 'tiny-llama-q8_0.gguf');

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};

function sendJson(res, status, body) {
  res.writeHead(status, { ...CORS, 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const apiError = (res, status, message, type = 'invalid_request_error') => sendJson(res, status, { error: { message, type, code: status } });

function readJson(req) {
  return new Promise((resolveBody, reject) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      try {
        resolveBody(JSON.parse(Buffer.concat(parts).toString('utf8') || '{}'));
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

/** OpenAI / llama-server request fields → llama.node completion options. */
function completionOptions(body, chat) {
  const o = {
    n_predict: Number.isInteger(body.max_tokens) ? body.max_tokens : Number.isInteger(body.max_completion_tokens) ? body.max_completion_tokens : 256,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
  };
  // llama.node still samples at temperature 0; llama-server decodes greedily there, so this does too.
  if (o.temperature <= 0) o.top_k = 1;
  if (typeof body.top_p === 'number') o.top_p = body.top_p;
  if (typeof body.top_k === 'number' && o.temperature > 0) o.top_k = body.top_k;
  if (typeof body.min_p === 'number') o.min_p = body.min_p;
  const repeat = body.repeat_penalty ?? body.repetition_penalty;
  if (typeof repeat === 'number') o.penalty_repeat = repeat;
  if (typeof body.frequency_penalty === 'number') o.penalty_freq = body.frequency_penalty;
  if (typeof body.presence_penalty === 'number') o.penalty_present = body.presence_penalty;
  if (Number.isInteger(body.seed)) o.seed = body.seed;
  if (body.ignore_eos === true) o.ignore_eos = true;
  if (typeof body.stop === 'string') o.stop = [body.stop];
  else if (Array.isArray(body.stop)) o.stop = body.stop;
  if (chat) {
    o.messages = body.messages;
    o.jinja = true;
  } else o.prompt = body.prompt;
  return o;
}

/**
 * Starts the server. `modelPath` is a GGUF file; the shipped tiny-llama files are first copied with the
 * pre-tokenizer name llama.cpp knows (see gguf-for-llama-cpp.mjs).
 */
export async function startLlamaServer({ modelPath = DEFAULT_MODEL, name = 'tiny-llama', port = 0, host = '127.0.0.1', apiKey = '', nCtx = 1024, threads = 2 } = {}) {
  const tmp = mkdtempSync(join(tmpdir(), 'accel-llama-'));
  const fixed = join(tmp, basename(modelPath));
  writeLlamaCppGguf(modelPath, fixed);
  // llama.cpp's own log is loud; ACCEL_LLAMA_LOG=1 keeps it.
  const quiet = !process.env.ACCEL_LLAMA_LOG;
  if (quiet) await toggleNativeLog(false);
  const context = await loadModel({ model: fixed, n_ctx: nCtx, n_gpu_layers: 0, n_threads: threads });
  if (quiet) await toggleNativeLog(false);
  let queue = Promise.resolve();
  let created = Math.floor(Date.now() / 1000);

  const handle = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      return res.end();
    }
    if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) return apiError(res, 401, 'Invalid API Key', 'authentication_error');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: name, object: 'model', created, owned_by: 'llama.cpp' }] });
    }
    const chat = url.pathname === '/v1/chat/completions';
    if (req.method !== 'POST' || (!chat && url.pathname !== '/v1/completions')) return apiError(res, 404, `no route ${req.method} ${url.pathname}`);
    let body;
    try {
      body = await readJson(req);
    } catch {
      return apiError(res, 400, 'the body is not JSON');
    }
    if (body.model !== undefined && body.model !== name) return apiError(res, 404, `The model \`${body.model}\` does not exist`, 'model_not_found');
    if (chat ? !Array.isArray(body.messages) : typeof body.prompt !== 'string') return apiError(res, 400, chat ? '"messages" must be an array' : '"prompt" must be a string (token-id prompts are not supported here)');
    const options = completionOptions(body, chat);
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${++created}`;
    const stream = body.stream === true;
    let closed = false;
    let running = false;
    res.on('close', () => {
      closed = true;
      if (running && !res.writableFinished) context.stopCompletion();
    });
    const turn = queue.then(async () => {
      if (closed) return;
      running = true;
      const chunk = (text, finish = null, extra = {}) => ({
        id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: name,
        choices: [chat ? { index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish } : { index: 0, text: text ?? '', finish_reason: finish }],
        ...extra,
      });
      if (stream) {
        res.writeHead(200, { ...CORS, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        if (chat) res.write(`data: ${JSON.stringify({ ...chunk(null), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
      }
      let sampled = 0;
      let streamed = '';
      const result = await context.completion(options, (t) => {
        sampled++;
        streamed += t.token ?? '';
        if (stream && !closed && t.token) res.write(`data: ${JSON.stringify(chunk(t.token))}\n\n`);
      });
      // llama.node delivers token callbacks through a thread-safe queue: the last ones can land after the
      // completion resolved. Wait for them (the text they carry covers the final text), or 2 s at most.
      for (const end = Date.now() + 2000; streamed.length < result.text.length && Date.now() < end;) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setImmediate(r));
      running = false;
      if (closed) return;
      // llama.node's tokens_predicted counts tokens fed back (the last sampled one is not), tokens_evaluated
      // the prompt plus those: usage counts what was sampled, as llama-server does.
      const finish = sampled >= options.n_predict ? 'length' : 'stop';
      const promptTokens = result.tokens_evaluated - result.tokens_predicted;
      const usage = { prompt_tokens: promptTokens, completion_tokens: sampled, total_tokens: promptTokens + sampled };
      const timings = result.timings;
      if (stream) {
        res.write(`data: ${JSON.stringify(chunk(null, finish))}\n\n`);
        res.write(`data: ${JSON.stringify({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: name, choices: [], usage, timings })}\n\n`);
        res.end('data: [DONE]\n\n');
      } else {
        const text = chat ? (result.content ?? result.text) : result.text;
        sendJson(res, 200, {
          id, object: chat ? 'chat.completion' : 'text_completion', created, model: name,
          choices: [chat ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish } : { index: 0, text, finish_reason: finish }],
          usage, timings,
        });
      }
    });
    queue = turn.catch(() => undefined);
    try {
      await turn;
    } catch (e) {
      running = false;
      if (!res.headersSent) apiError(res, 500, String(e instanceof Error ? e.message : e), 'server_error');
      else res.end(`data: ${JSON.stringify({ error: { message: String(e), type: 'server_error' } })}\n\n`);
    }
  };

  const server = createServer((req, res) => void handle(req, res).catch((e) => {
    if (!res.headersSent) apiError(res, 500, String(e), 'server_error');
    else res.destroy();
  }));
  await new Promise((r) => server.listen(port, host, r));
  const address = server.address();
  const origin = `http://${host}:${address.port}`;
  return {
    origin,
    baseUrl: `${origin}/v1`,
    name,
    context,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await queue;
      await context.release();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (flag, fallback) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const s = await startLlamaServer({
    port: Number(arg('--port', '8089')),
    host: arg('--host', '127.0.0.1'),
    modelPath: resolve(arg('--model', DEFAULT_MODEL)),
    apiKey: process.env.ACCEL_REMOTE_API_KEY ?? '',
  });
  console.log(`llama.cpp (OpenAI-compatible) listening on ${s.baseUrl} — model "${s.name}"; source: openai+${s.baseUrl}#${s.name}`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
