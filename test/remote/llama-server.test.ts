// The remote model against a real inference engine: llama.cpp (@fugood/llama.node, CPU) serving the shipped
// tiny-llama Q8_0 GGUF on loopback through test/remote-server/server.mjs. Run by `npm run test:remote`, which
// installs that package folder first (it is not part of the kit's own install).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import {
  Engine, RemoteAuthError, RemoteModelNotFoundError, ServerModel, loadServerModel, type GenerationMetrics, type TokenEvent,
} from '../../engine/index.js';
import { startLlamaServer, type StartedLlamaServer } from '../remote-server/server.mjs';

let server: StartedLlamaServer;
let locked: StartedLlamaServer;
const KEY = 'sk-loopback-7f3a';

before(async () => {
  server = await startLlamaServer({ port: 0 });
  locked = await startLlamaServer({ port: 0, apiKey: KEY });
});
after(async () => {
  await server?.close();
  await locked?.close();
});

const src = () => `openai+${server.baseUrl}#tiny-llama`;

/** models/tiny-llama served over loopback HTTP (the engine loads folders by URL). */
let statics: Server | null = null;
after(() => statics?.close());
async function startStatic(): Promise<{ port: number }> {
  const root = new URL('../../models/tiny-llama/', import.meta.url);
  statics = createServer((req, res) => {
    try {
      const body = readFileSync(new URL(`.${decodeURIComponent(new URL(req.url!, 'http://x').pathname)}`, root));
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => statics!.listen(0, '127.0.0.1', r));
  return { port: (statics.address() as { port: number }).port };
}

async function collect(gen: AsyncIterable<TokenEvent>): Promise<TokenEvent[]> {
  const out: TokenEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

test('llama.cpp: /v1/models validates the name; a wrong one lists what is served', async () => {
  const m = await loadServerModel(src());
  assert.equal(m.modelName, 'tiny-llama');
  await assert.rejects(loadServerModel(`openai+${server.baseUrl}#tiny-llamaX`), (e: unknown) => e instanceof RemoteModelNotFoundError && e.available.join() === 'tiny-llama');
  const implicit = await loadServerModel(`openai+${server.baseUrl}`);
  assert.equal(implicit.modelName, 'tiny-llama', 'a server with one model needs no #name');
});

test('llama.cpp: a greedy completion streams token by token and equals the server\'s own non-streamed answer', async () => {
  const m = await loadServerModel(src());
  const metrics: GenerationMetrics[] = [];
  const gen = m.generate('Once upon a time', { temperature: 0, maxNewTokens: 24, onMetrics: (x) => metrics.push(x) });
  const events = await collect(gen);
  const r = await gen.result;
  const whole = await fetch(`${server.baseUrl}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-llama', prompt: 'Once upon a time', max_tokens: 24, temperature: 0 }) }).then((x) => x.json()) as { choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
  assert.ok(r.text.length > 20, r.text);
  assert.equal(r.text, whole.choices[0]!.text);
  assert.equal(events.map((e) => e.text).join(''), r.text);
  assert.equal(r.finishReason, whole.choices[0]!.finish_reason === 'length' ? 'length' : 'eos');
  assert.deepEqual(r.usage, { promptTokens: whole.usage.prompt_tokens, completionTokens: whole.usage.completion_tokens });
  assert.equal(events.length, r.usage.completionTokens, 'one SSE chunk per sampled token');
  assert.ok(r.metrics.server && r.metrics.server.predictedTokensPerSecond! > 0 && r.metrics.server.promptTokens! > 0, JSON.stringify(r.metrics.server));
  assert.equal(r.metrics.prefillTokensPerSecond, r.metrics.server.promptTokensPerSecond);
  assert.ok(r.metrics.timeToFirstTokenMs > 0 && r.metrics.decodeTokensPerSecond > 0, JSON.stringify(r.metrics));
  assert.equal(metrics.length, events.length + 1);
});

test('llama.cpp: the remote model and accel\'s own engine give the same greedy text from the same Q8_0 GGUF', async () => {
  const bytes = readFileSync(new URL('../../models/tiny-llama/tiny-llama-q8_0.gguf', import.meta.url));
  const engine = new Engine();
  const local = await engine.load([new File([bytes], 'tiny-llama-q8_0.gguf')], { backend: 'cpu', file: 'tiny-llama-q8_0.gguf', maxSequence: 256 });
  const prompt = 'The Lord is my shepherd';
  const mine = await local.generate(prompt, { temperature: 0, maxNewTokens: 16 }).result;
  const theirs = await (await loadServerModel(src())).generate(prompt, { temperature: 0, maxNewTokens: 16 }).result;
  assert.equal(theirs.text, mine.text);
  assert.equal(theirs.usage.promptTokens, mine.usage.promptTokens, 'both tokenizers see the same prompt tokens');
  engine.unload(local);
});

test('llama.cpp runs the GGUF accel exports (engine.saveGguf of a q8 model): same prompt tokens, same greedy text until a near tie', async () => {
  const engine = new Engine();
  const base = `http://127.0.0.1:${(await startStatic()).port}/`;
  const float = await engine.load(`${base}`, { backend: 'cpu', maxSequence: 256 });
  const q8 = await engine.quantize(float, 'q8');
  const dir = mkdtempSync(join(tmpdir(), 'accel-gguf-'));
  const path = join(dir, 'tiny-llama-accel-q8.gguf');
  writeFileSync(path, await engine.saveGguf(q8));
  const exported = await startLlamaServer({ port: 0, modelPath: path, name: 'accel-q8' });
  try {
    const prompt = 'And God said, Let there be light';
    const mine = await q8.generate(prompt, { temperature: 0, maxNewTokens: 16 }).result;
    const theirs = await (await loadServerModel(`openai+${exported.baseUrl}#accel-q8`)).generate(prompt, { temperature: 0, maxNewTokens: 16 }).result;
    assert.ok(mine.text.length > 10, mine.text);
    // llama.cpp multiplies Q8_0 weights with 8-bit-quantized activations, accel with exact ones: greedy paths
    // agree until a near tie flips (here after about 7 tokens); a broken export (rows, scales, vocabulary)
    // would differ from the first token
    let same = 0;
    while (same < Math.min(mine.text.length, theirs.text.length) && mine.text[same] === theirs.text[same]) same++;
    assert.ok(same >= 20, `common prefix ${same} chars: accel ${JSON.stringify(mine.text)}, llama.cpp ${JSON.stringify(theirs.text)}`);
    assert.equal(theirs.usage.promptTokens, mine.usage.promptTokens, 'llama.cpp tokenizes the exported vocabulary as accel does');
  } finally {
    await exported.close();
    engine.unload(q8);
    engine.unload(float);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('llama.cpp: max tokens ends with "length", a stop string is never shown', async () => {
  const m = await loadServerModel(src());
  const r = await m.generate('Once upon a time', { temperature: 0, maxNewTokens: 5, ignoreEos: true }).result;
  assert.deepEqual([r.finishReason, r.usage.completionTokens], ['length', 5]);
  const full = await m.generate('Once upon a time', { temperature: 0, maxNewTokens: 24 }).result;
  const words = full.text.trim().split(/\s+/);
  const stop = ` ${words[3]}`;
  const cut = full.text.slice(0, full.text.indexOf(stop));
  const s = await m.generate('Once upon a time', { temperature: 0, maxNewTokens: 24, stop }).result;
  assert.equal(s.text, cut);
  assert.equal(s.finishReason, 'stop');
});

test('llama.cpp: chat messages go through the server\'s chat template', async () => {
  const m = await loadServerModel(src());
  const gen = m.generate([{ role: 'user', content: 'What is love?' }], { temperature: 0, maxNewTokens: 20 });
  const events = await collect(gen);
  const r = await gen.result;
  assert.ok(r.text.trim().length > 0);
  assert.equal(events.map((e) => e.text).join(''), r.text);
  assert.ok(!r.text.includes('<|im_start|>'), 'the template is applied, not echoed');
  assert.ok(r.usage.promptTokens > 10, `the template wraps the message (${r.usage.promptTokens} prompt tokens)`);
});

test('llama.cpp: the same seed samples the same text', async () => {
  const m = await loadServerModel(src());
  const a = await m.generate('Once upon a time', { temperature: 1, topK: 40, seed: 1234, maxNewTokens: 20 }).result;
  const b = await m.generate('Once upon a time', { temperature: 1, topK: 40, seed: 1234, maxNewTokens: 20 }).result;
  assert.equal(a.seed, 1234);
  assert.equal(b.text, a.text);
});

test('llama.cpp: aborting mid-stream stops the server\'s completion; the next request is served at once', async () => {
  const m = await loadServerModel(src());
  const ac = new AbortController();
  let n = 0;
  const r = await m.generate('Once upon a time', { temperature: 0.8, maxNewTokens: 4000, ignoreEos: true, signal: ac.signal, onToken: () => ++n === 3 && ac.abort() }).result;
  assert.equal(r.finishReason, 'abort');
  assert.ok(r.text.length > 0);
  const t0 = performance.now();
  const next = await m.generate('Once', { temperature: 0, maxNewTokens: 4 }).result;
  assert.equal(next.usage.completionTokens, 4);
  // 4000 tokens would take seconds on this CPU; a stopped completion frees the context at once.
  assert.ok(performance.now() - t0 < 2000, `the next request waited ${performance.now() - t0} ms`);
});

test('llama.cpp behind an API key: 401 without it (typed, key-free message), served with it', async () => {
  const source = `openai+${locked.baseUrl}#tiny-llama`;
  await assert.rejects(loadServerModel(source), (e: unknown) => e instanceof RemoteAuthError && e.status === 401);
  await assert.rejects(loadServerModel(source, { apiKey: 'sk-wrong' }), (e: unknown) => e instanceof RemoteAuthError && !e.message.includes('sk-wrong'));
  const m = await new Engine().load(source as `openai+${string}`, { apiKey: KEY });
  assert.ok(m instanceof ServerModel);
  const r = await m.generate('Once', { temperature: 0, maxNewTokens: 3 }).result;
  assert.equal(r.usage.completionTokens, 3);
});
