import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  AccelError, Engine, NetworkError, RateLimitedError, RemoteAuthError, RemoteModelNotFoundError, RemoteProtocolError, RemoteRequestError,
  RemoteServerError, ServerModel, StreamInterruptedError, StreamStalledError, SourceError, loadServerModel, parseRemoteSource, recommendBackend,
  retryAfterMs, type CapabilityReport, type GenerationMetrics, type TokenEvent,
} from '../../engine/index.js';
import { API_KEY, WORDS, createOpenAIFaultServer, stats } from '../server/openai-fault.mjs';

let origin = '';
let close: () => Promise<unknown> = async () => undefined;
before(async () => {
  ({ origin, close } = await createOpenAIFaultServer());
});
after(() => close());

const src = (scenario: string, model = 'tiny-llama') => `openai+${origin}/${scenario}/v1#${encodeURIComponent(model)}`;
const model = (scenario: string, options: { apiKey?: string; stallTimeoutMs?: number } = {}) => loadServerModel(src(scenario), options);
const lastBody = () => stats.bodies[stats.bodies.length - 1] as Record<string, unknown>;

async function collect(gen: AsyncIterable<TokenEvent>): Promise<TokenEvent[]> {
  const out: TokenEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

test('parseRemoteSource: base URL and the #model (slashes and colons kept), credentials refused', () => {
  assert.deepEqual(parseRemoteSource('openai+https://host:8443/v1#org%2Fmodel:7b'), { baseUrl: 'https://host:8443/v1', model: 'org/model:7b' });
  assert.deepEqual(parseRemoteSource('openai+http://127.0.0.1:8080/v1/#tiny-llama'), { baseUrl: 'http://127.0.0.1:8080/v1', model: 'tiny-llama' });
  assert.deepEqual(parseRemoteSource('https://host/v1'), { baseUrl: 'https://host/v1', model: null });
  assert.throws(() => parseRemoteSource('openai+https://user:sk-123@host/v1#m'), (e: unknown) => e instanceof SourceError && !e.message.includes('sk-123'));
  assert.throws(() => parseRemoteSource('openai+ftp://host/v1#m'), SourceError);
  assert.throws(() => parseRemoteSource('openai+not a url'), SourceError);
});

test('retryAfterMs reads seconds and HTTP dates', () => {
  assert.equal(retryAfterMs('7'), 7000);
  assert.equal(retryAfterMs('0.5'), 500);
  assert.equal(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30_000);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs('soon'), null);
});

for (const kind of ['completions', 'chat'] as const) {
  test(`${kind}: SSE with CRLF, comments, multi-line data and cuts inside UTF-8 streams the exact text, usage and server timings`, async () => {
    const m = await model('ok');
    assert.ok(m instanceof ServerModel);
    assert.deepEqual({ name: m.info.name, backend: m.info.backend, format: m.info.format, endpoint: m.info.endpoint }, { name: 'tiny-llama', backend: 'remote', format: 'openai', endpoint: `${origin}/ok/v1` });
    const metrics: GenerationMetrics[] = [];
    const gen = m.generate(kind === 'chat' ? [{ role: 'user', content: 'Hi' }] : 'Hi', { maxNewTokens: 9, temperature: 0, onMetrics: (x) => metrics.push(x) });
    const events = await collect(gen);
    const r = await gen.result;
    assert.deepEqual(events.map((e) => e.text), WORDS);
    assert.deepEqual(events.map((e) => e.index), [0, 1, 2, 3, 4]);
    assert.equal(r.text, 'Hello, wörld 🌍!');
    assert.equal(r.finishReason, 'eos');
    assert.deepEqual(r.usage, { promptTokens: 3, completionTokens: 5 });
    assert.equal(r.metrics.prefillTokensPerSecond, 2000);
    assert.deepEqual(r.metrics.server, { promptTokens: 3, promptMs: 1.5, promptTokensPerSecond: 2000, predictedTokens: 5, predictedMs: 10, predictedTokensPerSecond: 500, cachedTokens: 0 });
    assert.ok(r.metrics.timeToFirstTokenMs > 0 && r.metrics.timeToFirstTokenMs <= r.metrics.totalMs);
    assert.ok(r.metrics.decodeTokensPerSecond > 0, 'decode speed is measured on the client too');
    assert.equal(metrics.length, 6, 'running metrics after each token, then the final ones');
    const body = lastBody();
    assert.equal(body['model'], 'tiny-llama');
    assert.equal(body['stream'], true);
    assert.equal(body['max_tokens'], 9);
    assert.equal(body['temperature'], 0);
    assert.deepEqual(kind === 'chat' ? body['messages'] : body['prompt'], kind === 'chat' ? [{ role: 'user', content: 'Hi' }] : 'Hi');
  });
}

test('sampling options map to the OpenAI fields (and the open servers\' extras only when set)', async () => {
  const m = await model('lf');
  await m.generate('x', { temperature: 0.7, topP: 0.9, topK: 40, minP: 0.05, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.25, seed: 42, stop: ['###'], maxNewTokens: 12, ignoreEos: true }).result;
  const b = lastBody();
  assert.deepEqual(
    { t: b['temperature'], p: b['top_p'], k: b['top_k'], minp: b['min_p'], rp: b['repeat_penalty'], rp2: b['repetition_penalty'], pp: b['presence_penalty'], fp: b['frequency_penalty'], seed: b['seed'], stop: b['stop'], max: b['max_tokens'], ie: b['ignore_eos'] },
    { t: 0.7, p: 0.9, k: 40, minp: 0.05, rp: 1.1, rp2: 1.1, pp: 0.5, fp: 0.25, seed: 42, stop: ['###'], max: 12, ie: true },
  );
  const r = await m.generate('x', { temperature: 0.7 }).result;
  const plain = lastBody();
  for (const k of ['top_k', 'min_p', 'repeat_penalty', 'repetition_penalty', 'presence_penalty', 'stop', 'ignore_eos']) assert.equal(k in plain, false, `${k} is not sent unless asked for`);
  assert.equal(plain['seed'], r.seed, 'a drawn seed is sent and reported, so the run can be replayed');
  await m.generate('x', { doSample: false, topK: 5, topP: 0.5 }).result;
  assert.deepEqual([lastBody()['temperature'], 'top_k' in lastBody(), 'top_p' in lastBody()], [0, false, false], 'greedy sends temperature 0 only');
  assert.throws(() => m.generate('x', { topP: 1.5 }), /topP must be in \(0, 1\]/);
  assert.throws(() => m.generate('x', { logitsProcessors: [{ process: () => undefined } as never] }), /logitsProcessors run on local models only/);
});

test('a stop string is cut on the client even if the server streams past it, and the stream is closed', async () => {
  const m = await model('slow');
  const before = stats.closedEarly;
  const gen = m.generate('x', { stop: ' w3' });
  const events = await collect(gen);
  const r = await gen.result;
  assert.equal(r.text, ' w0 w1 w2');
  assert.equal(events.map((e) => e.text).join(''), r.text);
  assert.deepEqual([r.finishReason, r.stopString], ['stop', ' w3']);
  await waitFor(() => stats.closedEarly > before);
});

test('a non-streaming JSON answer (server ignored stream: true) is one event', async () => {
  const m = await model('json');
  const gen = m.generate([{ role: 'user', content: 'Hi' }]);
  const events = await collect(gen);
  const r = await gen.result;
  assert.deepEqual([events.length, r.text, r.finishReason, r.usage.completionTokens], [1, WORDS.join(''), 'length', 5]);
});

test('load checks the model name against /models', async () => {
  await assert.rejects(loadServerModel(src('lf', 'nope')), (e: unknown) => e instanceof RemoteModelNotFoundError && /has no model "nope": it serves "tiny-llama", "other\/model:7b"/.test(e.message) && e.available.length === 2);
  const slash = await loadServerModel(src('lf', 'other/model:7b'));
  assert.equal(slash.modelName, 'other/model:7b');
  await assert.rejects(loadServerModel(`openai+${origin}/lf/v1`), RemoteModelNotFoundError, 'two models and no name');
  const trusted = await loadServerModel(src('nomodels', 'whatever'));
  assert.equal(trusted.modelName, 'whatever', 'a server without /models takes the name on trust');
});

test('401: typed error, and the key never appears in the message (even when the server echoes it)', async () => {
  await assert.rejects(model('auth'), (e: unknown) => e instanceof RemoteAuthError && e.status === 401 && /set the apiKey property/.test(e.message));
  const wrong = 'sk-WRONG-0123456789';
  await assert.rejects(model('auth', { apiKey: wrong }), (e: unknown) => e instanceof RemoteAuthError && !e.message.includes(wrong) && e.message.includes('[api key]'));
  const m = await model('auth', { apiKey: API_KEY });
  const r = await m.generate('x').result;
  assert.equal(r.text, WORDS.join(''));
  assert.equal(stats.authHeaders[stats.authHeaders.length - 1], `Bearer ${API_KEY}`);
  assert.equal(JSON.stringify(m.info).includes(API_KEY), false, 'info carries no key');
  assert.equal(JSON.stringify(m).includes(API_KEY), false, 'nor does serialising the handle');
});

test('429 gives RateLimitedError with retryAfterMs from seconds or a date', async () => {
  const m = await model('ratelimit');
  await assert.rejects(m.generate('x').result, (e: unknown) => e instanceof RateLimitedError && e.code === 'rate-limited' && e.retryAfterMs === 7000 && /wait 7 s/.test(e.message));
  const d = await model('ratelimit-date');
  const e = await d.generate('x').result.catch((x: unknown) => x);
  assert.ok(e instanceof RateLimitedError && e.retryAfterMs !== null && e.retryAfterMs > 1000 && e.retryAfterMs <= 3000, String((e as RateLimitedError).retryAfterMs));
});

test('5xx, other 4xx, an error event mid-stream and a non-SSE answer are typed', async () => {
  await assert.rejects((await model('503')).generate('x').result, (e: unknown) => e instanceof RemoteServerError && e.status === 503 && /Model is loading/.test(e.message));
  await assert.rejects((await model('400')).generate('x').result, (e: unknown) => e instanceof RemoteRequestError && e.status === 400 && /Unrecognized request argument/.test(e.message));
  await assert.rejects((await model('midstream-error')).generate('x').result, (e: unknown) => e instanceof RemoteServerError && /CUDA out of memory/.test(e.message));
  await assert.rejects((await model('html')).generate('x').result, (e: unknown) => e instanceof RemoteProtocolError && /text\/html, not text\/event-stream/.test(e.message));
});

test('a stream dropped mid-event fails with StreamInterruptedError and keeps the partial text', async () => {
  const m = await model('drop');
  const seen: string[] = [];
  const gen = m.generate('x', { onToken: (e) => seen.push(e.text) });
  const e = await gen.result.catch((x: unknown) => x);
  assert.ok(e instanceof StreamInterruptedError, String(e));
  assert.equal(e.partialText, 'Hello,');
  assert.equal(e.receivedTokens, 2);
  assert.deepEqual(seen, ['Hello', ',']);
  await assert.rejects(collect(gen), StreamInterruptedError, 'iterating sees the same failure after the tokens');
});

test('malformed SSE data is RemoteProtocolError with the partial text', async () => {
  const e = await (await model('malformed')).generate('x').result.catch((x: unknown) => x);
  assert.ok(e instanceof RemoteProtocolError && e.code === 'bad-response', String(e));
  assert.equal(e.partialText, 'Hello');
});

test('a stalled stream is closed after stallTimeoutMs, not left hanging', async () => {
  const m = await model('stall', { stallTimeoutMs: 300 });
  const t0 = performance.now();
  const e = await m.generate('x').result.catch((x: unknown) => x);
  const took = performance.now() - t0;
  assert.ok(e instanceof StreamStalledError && e.code === 'stalled', String(e));
  assert.equal(e.partialText, 'Hello');
  assert.ok(took >= 300 && took < 3000, `gave up after ${took} ms`);
});

test('abort (signal, abort(), leaving for-await) ends with finishReason "abort", the text so far, and closes the connection', async () => {
  const m = await model('slow');
  const before = stats.closedEarly;
  const ac = new AbortController();
  let n = 0;
  const gen = m.generate('x', { signal: ac.signal, onToken: () => ++n === 3 && ac.abort() });
  const r = await gen.result;
  assert.equal(r.finishReason, 'abort');
  assert.equal(r.text, ' w0 w1 w2');
  await waitFor(() => stats.closedEarly >= before + 1);
  const gen2 = m.generate('x');
  for await (const e of gen2) if (e.index === 1) break;
  assert.equal((await gen2.result).finishReason, 'abort');
  await waitFor(() => stats.closedEarly >= before + 2);
  const gen3 = m.generate('x');
  gen3.abort();
  assert.deepEqual([(await gen3.result).finishReason, (await gen3.result).text], ['abort', '']);
});

test('pause holds the stream; resume goes on; paused time is not decode time', async () => {
  const m = await model('slow');
  const gen = m.generate('x', { stop: ' w6' });
  let paused = false;
  const t: number[] = [];
  for await (const e of gen) {
    t.push(performance.now());
    if (e.index === 1 && !paused) {
      paused = true;
      gen.pause();
      setTimeout(() => gen.resume(), 400);
    }
  }
  const r = await gen.result;
  assert.equal(r.text, ' w0 w1 w2 w3 w4 w5');
  assert.ok(t[2]! - t[1]! >= 380, `the third token waited for resume (${t[2]! - t[1]!} ms)`);
  assert.ok(r.metrics.pausedMs >= 380 && r.metrics.pausedMs < 1000, `pausedMs ${r.metrics.pausedMs}`);
});

test('an endpoint that does not answer is a NetworkError', async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const { port } = dead.address() as { port: number };
  await new Promise((r) => dead.close(r));
  await assert.rejects(loadServerModel(`openai+http://127.0.0.1:${port}/v1#m`), NetworkError);
});

test('engine.load("openai+…") returns a remote handle; unload aborts its generations', async () => {
  const engine = new Engine();
  const m = await engine.load(src('slow'));
  assert.ok(m instanceof ServerModel);
  const gen = m.generate('x');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(engine.unload(m), true);
  assert.equal((await gen.result).finishReason, 'abort');
  assert.throws(() => m.generate('x'), (e: unknown) => e instanceof AccelError && e.code === 'disposed');
  const viaBackend = await engine.load(`${origin}/lf/v1#tiny-llama`, { backend: 'remote' });
  assert.equal(viaBackend.info.backend, 'remote');
  await assert.rejects(engine.load(src('lf'), { backend: 'webgpu' }), /runs on backend "remote"/);
  await assert.rejects(engine.load(src('lf'), { precision: 'q4' }), /applies to local loads/);
});

function report(over: { gpu?: boolean; memory?: number | null; simd?: boolean } = {}): CapabilityReport {
  const gpu = over.gpu ?? true;
  return {
    probedAt: new Date(0).toISOString(), runtime: 'browser',
    browser: { name: 'Chromium', version: '156', platform: 'Linux', mobile: false, source: 'userAgentData' },
    webgpu: gpu
      ? {
        api: true, available: true, deviceCreated: true, error: null,
        adapter: {
          vendor: 'intel', architecture: 'gen-12lp', device: '', description: '', isFallbackAdapter: false, features: [], shaderF16: false, subgroups: false, timestampQuery: false,
          limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 8, maxBindGroups: 4, minStorageBufferOffsetAlignment: 256, minUniformBufferOffsetAlignment: 256, subgroupMinSize: null, subgroupMaxSize: null },
        },
      }
      : { api: false, available: false, deviceCreated: false, error: 'navigator.gpu is not defined', adapter: null },
    webnn: { api: false, available: false, contexts: { cpu: { created: false, error: null }, gpu: { created: false, error: null }, npu: { created: false, error: null } } },
    wasm: { supported: true, simd: over.simd ?? true, relaxedSimd: false, threadsValidated: true, sharedArrayBuffer: true, crossOriginIsolated: true, threads: true, memory64: false },
    device: { hardwareConcurrency: 4, deviceMemoryGiB: over.memory === undefined ? 4 : over.memory, storage: null },
  };
}

test('recommendBackend: a configured endpoint comes first when the model is too big for the device, with the reason', () => {
  const remote = 'openai+https://gpu.example.com/v1#llama-3-8b';
  const big = recommendBackend(report(), { paramCount: 8e9, precision: 'q4', remote });
  assert.equal(big[0]!.backend, 'remote');
  assert.equal(big[0]!.reason, "remote: llama-3-8b on gpu.example.com — 8.0B params at q4 ≈ 4.2 GiB needs ~5.2 GiB, more than this device's 4 GiB allows, so the configured endpoint runs it");
  const measured = recommendBackend(report(), { memoryBytes: 3.5 * 2 ** 30, remote });
  assert.equal(measured[0]!.backend, 'remote', 'a measured need over 75 % of device memory sends it away');
  assert.match(measured[0]!.reason, /measured 3\.5 GiB/);
  const noLocal = recommendBackend(report({ gpu: false, simd: false, memory: null }), { paramCount: 135e6, remote });
  assert.equal(noLocal[0]!.backend, 'remote');
  assert.match(noLocal[0]!.reason, /navigator\.gpu is not defined, so the configured endpoint runs it/);
  const small = recommendBackend(report(), { paramCount: 135e6, precision: 'q4', remote });
  assert.deepEqual(small.map((c) => c.backend), ['webgpu', 'wasm', 'remote', 'cpu', 'webnn']);
  assert.match(small[2]!.reason, /^remote: llama-3-8b on gpu\.example\.com — configured, but webgpu runs 135M params/);
  assert.equal(recommendBackend(report(), { paramCount: 8e9 }).some((c) => c.backend === 'remote'), false, 'no endpoint, no remote choice');
});

async function waitFor(ok: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
