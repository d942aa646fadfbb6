// A scripted OpenAI-compatible server for the remote-model tests: each scenario answers the way a real
// server (or a broken one) does, byte for byte, so the client's SSE handling and typed errors can be
// checked without an inference engine. Routes: /<scenario>/v1/models, /<scenario>/v1/completions,
// /<scenario>/v1/chat/completions (CORS open, like llama-server's). The words streamed are fixed: WORDS.
//
// Scenarios: ok (CRLF line ends, comments, a data payload split over two `data:` lines, writes cut at
//   awkward bytes incl. inside a UTF-8 character, usage + llama-server timings, [DONE]) | lf (plain LF, one
//   write per event) | slow (one event per 40 ms, for abort; `stats.closedEarly` counts clients that hung up)
//   | auth (needs `Bearer sk-test-secret`; a wrong key is echoed in the 401 body like some servers do) |
//   ratelimit (429, Retry-After: 7) | ratelimit-date (429, Retry-After as an HTTP date 3 s ahead) | 503 |
//   400 | drop (two tokens, half an event, then the socket is destroyed) | malformed (data that is not JSON)
//   | stall (one token, then silence) | midstream-error (an {"error"} event after one token) | json (ignores
//   stream: true, answers one JSON completion) | html (200 text/html) | nomodels (/models is 404) |
//   echo-<hex> (/models lists one model named by the UTF-8 <hex>; a generation streams the prompt, or the
//   last message, back in three pieces; the prompt "fail" gets a 400 whose message is the model name).
import { createServer } from 'node:http';

export const WORDS = ['Hello', ',', ' wörld', ' 🌍', '!'];
export const API_KEY = 'sk-test-secret';
const MODELS = ['tiny-llama', 'other/model:7b'];

/** Requests seen, for assertions: bodies of generation requests, and clients that closed mid-stream. */
export const stats = { bodies: /** @type {Record<string, unknown>[]} */ ([]), closedEarly: 0, authHeaders: /** @type {(string | undefined)[]} */ ([]) };

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-expose-headers': 'retry-after',
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const echoName = (scenario) => Buffer.from(scenario.slice('echo-'.length), 'hex').toString('utf8');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function chunkJson(chat, i, text, finish = null, extra = {}) {
  const choice = chat ? { index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish } : { index: 0, text: text ?? '', finish_reason: finish };
  return { id: 'cmpl-1', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 1, model: 'tiny-llama', choices: [choice], ...extra };
}

function finalChunks(chat) {
  return [
    chunkJson(chat, WORDS.length, null, 'stop'),
    {
      id: 'cmpl-1', object: 'chat.completion.chunk', created: 1, model: 'tiny-llama', choices: [],
      usage: { prompt_tokens: 3, completion_tokens: WORDS.length, total_tokens: 3 + WORDS.length },
      timings: { prompt_n: 3, prompt_ms: 1.5, prompt_per_second: 2000, predicted_n: WORDS.length, predicted_ms: 10, predicted_per_second: 500, cache_n: 0 },
    },
  ];
}

/** Handles one request; resolves when the answer is complete (or the socket was dropped on purpose). */
export async function handleOpenAIFault(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  const m = /^\/([a-z0-9-]+)\/v1\/(models|completions|chat\/completions)$/.exec(url.pathname);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors);
    return res.end();
  }
  if (!m) {
    res.writeHead(404, { ...cors, 'content-type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: `no route ${url.pathname}` } }));
  }
  const [, scenario, route] = m;
  const auth = req.headers.authorization;
  if (scenario === 'auth' && auth !== `Bearer ${API_KEY}`) {
    const given = auth?.replace(/^Bearer /, '') ?? '';
    res.writeHead(401, { ...cors, 'content-type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${given}`, type: 'invalid_request_error' } }));
  }
  if (route === 'models') {
    if (scenario === 'nomodels') {
      res.writeHead(404, cors);
      return res.end();
    }
    const served = scenario.startsWith('echo-') ? [echoName(scenario)] : MODELS;
    res.writeHead(200, { ...cors, 'content-type': 'application/json' });
    return res.end(JSON.stringify({ object: 'list', data: served.map((id) => ({ id, object: 'model', owned_by: 'test' })) }));
  }
  const raw = await readBody(req);
  const body = JSON.parse(raw);
  stats.bodies.push(body);
  stats.authHeaders.push(auth);
  const chat = route === 'chat/completions';
  if (scenario === 'ratelimit' || scenario === 'ratelimit-date') {
    const retry = scenario === 'ratelimit' ? '7' : new Date(Date.now() + 3000).toUTCString();
    res.writeHead(429, { ...cors, 'content-type': 'application/json', 'retry-after': retry });
    return res.end(JSON.stringify({ error: { message: 'Too many requests', type: 'rate_limit' } }));
  }
  if (scenario === '503') {
    res.writeHead(503, { ...cors, 'content-type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: 'Model is loading', code: 503 } }));
  }
  if (scenario === '400') {
    res.writeHead(400, { ...cors, 'content-type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: "Unrecognized request argument supplied: top_k" } }));
  }
  if (scenario === 'html') {
    res.writeHead(200, { ...cors, 'content-type': 'text/html' });
    return res.end('<html><body>Login</body></html>');
  }
  if (scenario === 'json') {
    res.writeHead(200, { ...cors, 'content-type': 'application/json' });
    const choice = chat ? { index: 0, message: { role: 'assistant', content: WORDS.join('') }, finish_reason: 'length' } : { index: 0, text: WORDS.join(''), finish_reason: 'length' };
    return res.end(JSON.stringify({ id: 'cmpl-1', choices: [choice], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } }));
  }
  res.writeHead(200, { ...cors, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  let finished = false;
  res.on('close', () => {
    if (!finished) stats.closedEarly++;
  });
  const send = async (bytes) => {
    if (res.destroyed) return;
    res.write(bytes);
    await sleep(2);
  };
  const flushed = () => new Promise((r) => (res.destroyed ? r() : res.write('', () => r())));
  const event = (obj, eol = '\n') => `data: ${JSON.stringify(obj)}${eol}${eol}`;

  if (scenario.startsWith('echo-')) {
    const text = chat ? String(body.messages?.at(-1)?.content ?? '') : String(body.prompt ?? '');
    if (text === 'fail') {
      await send(event({ error: { message: echoName(scenario), type: 'server_error' } }));
      finished = true;
      return res.end();
    }
    // Three pieces cut between code points, so the client joins them.
    const chars = [...text];
    const third = Math.ceil(chars.length / 3);
    for (let i = 0; i < 3; i++) await send(event(chunkJson(chat, i, chars.slice(i * third, (i + 1) * third).join(''))));
    for (const c of finalChunks(chat)) await send(event(c));
    await send('data: [DONE]\n\n');
  } else if (scenario === 'ok') {
    // CRLF everywhere, a comment, one payload split over two data lines, and writes cut at awkward places.
    let stream = ': keep-alive\r\n\r\n';
    WORDS.forEach((w, i) => {
      const json = JSON.stringify(chunkJson(chat, i, w));
      if (i === 1) {
        const cut = json.indexOf(',"created"');
        stream += `data: ${json.slice(0, cut)}\r\ndata: ${json.slice(cut)}\r\n\r\n`;
      } else stream += `data: ${json}\r\n\r\n`;
    });
    for (const c of finalChunks(chat)) stream += `data: ${JSON.stringify(c)}\r\n\r\n`;
    stream += 'data: [DONE]\r\n\r\n';
    const bytes = Buffer.from(stream, 'utf8');
    // Cut inside the multi-byte 'ö' and '🌍', between \r and \n, and every 7 bytes elsewhere.
    const cuts = new Set([bytes.indexOf(Buffer.from('ö')) + 1, bytes.indexOf(Buffer.from('🌍')) + 2, bytes.indexOf(Buffer.from('\r\n')) + 1]);
    for (let i = 7; i < bytes.length; i += 7) cuts.add(i);
    let at = 0;
    for (const c of [...cuts].sort((a, b) => a - b)) {
      await send(bytes.subarray(at, c));
      at = c;
    }
    await send(bytes.subarray(at));
  } else if (scenario === 'lf' || scenario === 'slow' || scenario === 'auth') {
    const n = scenario === 'slow' ? 200 : WORDS.length;
    for (let i = 0; i < n && !res.destroyed; i++) {
      await send(event(chunkJson(chat, i, scenario === 'slow' ? ` w${i}` : WORDS[i])));
      if (scenario === 'slow') await sleep(40);
    }
    if (res.destroyed) return;
    for (const c of finalChunks(chat)) await send(event(c));
    await send('data: [DONE]\n\n');
  } else if (scenario === 'drop') {
    await send(event(chunkJson(chat, 0, WORDS[0])));
    await send(event(chunkJson(chat, 1, WORDS[1])));
    // A browser errors the body stream on the drop and discards chunks it had queued but not yet handed to
    // the reader (Streams spec, controller.error), so the two whole events get time to be read first.
    await flushed();
    await sleep(150);
    const next = event(chunkJson(chat, 2, WORDS[2]));
    await send(next.slice(0, 25));
    await flushed();
    finished = true;
    res.socket?.destroy();
    return;
  } else if (scenario === 'malformed') {
    await send(event(chunkJson(chat, 0, WORDS[0])));
    await send('data: {"choices": [{"delta": {"content": "x"\n\n');
  } else if (scenario === 'stall') {
    await send(event(chunkJson(chat, 0, WORDS[0])));
    // Silence until the client gives up (the test's stall timeout is far shorter).
    await new Promise((r) => res.on('close', r));
    return;
  } else if (scenario === 'midstream-error') {
    await send(event(chunkJson(chat, 0, WORDS[0])));
    await send(event({ error: { message: 'CUDA out of memory', type: 'server_error' } }));
  } else {
    await send(event({ error: { message: `unknown scenario ${scenario}` } }));
  }
  finished = true;
  res.end();
}

/** A loopback server running handleOpenAIFault; `origin` has no trailing slash. */
export async function createOpenAIFaultServer() {
  const server = createServer((req, res) => {
    handleOpenAIFault(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r(undefined));
    }),
  };
}

/** web-test-runner plugin: GET /__openai-fault-origin starts the server once and answers its origin. */
export function openAIFaultServer() {
  let started = null;
  return {
    name: 'accel-openai-fault',
    async serve(context) {
      if (context.path !== '/__openai-fault-origin') return undefined;
      started ??= createOpenAIFaultServer();
      return { body: (await started).origin, type: 'text/plain' };
    },
    async serverStop() {
      if (started) await (await started).close();
    },
  };
}
