import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import type { Backend } from '../../engine/backends/backend.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { loadTokenizer, type Tokenizer } from '../../engine/formats/tokenizer.js';
import { generate, type GenerateOptions, type GenerationResult, type LogitsProcessor, type TokenEvent } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import type { WeightStore } from '../../engine/models/weights.js';

// ---- a real byte-level BPE tokenizer (GPT-2 byte alphabet, a few merges, ChatML specials) ----------

function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  return out;
}

const SPECIAL = { bos: '<|endoftext|>', start: '<|im_start|>', end: '<|im_end|>' };
const TEMPLATE = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function buildTokenizer(): Tokenizer {
  const b2u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((s, i) => { vocab[s] = i; });
  const merges: string[] = [];
  for (const word of [' the', 'he', ' world', 'Hello', ' END', 'é']) {
    const syms = [...new TextEncoder().encode(word)].map((b) => b2u[b]!);
    let cur = syms[0]!;
    for (const s of syms.slice(1)) {
      if (vocab[cur + s] === undefined) {
        merges.push(`${cur} ${s}`);
        vocab[cur + s] = Object.keys(vocab).length;
      }
      cur += s;
    }
  }
  const first = Object.keys(vocab).length;
  const specials = [SPECIAL.bos, SPECIAL.start, SPECIAL.end];
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials.map((content, i) => ({ id: first + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: SPECIAL.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: SPECIAL.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }],
      special_tokens: { [SPECIAL.bos]: { id: SPECIAL.bos, ids: [first], tokens: [SPECIAL.bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  return loadTokenizer(json, { bos_token: SPECIAL.bos, eos_token: SPECIAL.end, chat_template: TEMPLATE });
}

// ---- a real Llama with small seeded random weights ------------------------------------------------

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tinyConfig(vocab: number, eos: number[]): LlamaConfig {
  const c = parseModelConfig({
    model_type: 'llama', vocab_size: vocab, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
    bos_token_id: vocab - 3, eos_token_id: eos,
  });
  assert.equal(c.architecture, 'llama');
  return c as LlamaConfig;
}

/** Uniform weights scaled by 1/√fan_in; lm_head is sharper so that greedy picks are clear-cut. */
function randomStore(c: LlamaConfig, seed: number): WeightStore {
  const next = mulberry(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + scale * (2 * next() - 1));
    tensors.set(name, { shape, data });
  };
  const d = c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  add('model.embed_tokens.weight', [c.vocabSize, d], 1);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [d], 0.1, 1);
    add(`${p}post_attention_layernorm.weight`, [d], 0.1, 1);
    add(`${p}self_attn.q_proj.weight`, [q, d], 1 / Math.sqrt(d));
    add(`${p}self_attn.k_proj.weight`, [kv, d], 1 / Math.sqrt(d));
    add(`${p}self_attn.v_proj.weight`, [kv, d], 1 / Math.sqrt(d));
    add(`${p}self_attn.o_proj.weight`, [d, q], 1 / Math.sqrt(q));
    add(`${p}mlp.gate_proj.weight`, [c.intermediateSize, d], 1 / Math.sqrt(d));
    add(`${p}mlp.up_proj.weight`, [c.intermediateSize, d], 1 / Math.sqrt(d));
    add(`${p}mlp.down_proj.weight`, [d, c.intermediateSize], 1 / Math.sqrt(c.intermediateSize));
  }
  add('model.norm.weight', [d], 0.1, 1);
  add('lm_head.weight', [c.vocabSize, d], 3 / Math.sqrt(d));
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  };
  return { has: (n) => tensors.has(n), shape: (n) => get(n).shape, f32: (n) => get(n).data, packed: () => null };
}

/** Counts what crosses from the backend to the CPU (the plan the generator chose). */
interface Traffic { argmax: number; topk: number; downloads: number[] }
function countingBackend(inner: Backend, traffic: Traffic): Backend {
  return new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'argmax') return (x: never) => { traffic.argmax++; return target.argmax(x); };
      if (prop === 'topk') return (x: never, k: number) => { traffic.topk++; return target.topk(x, k); };
      if (prop === 'download') return async (t: { size: number }) => { traffic.downloads.push(t.size); return target.download(t as never); };
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

const tokenizer = buildTokenizer();
const EOS = tokenizer.eosTokenId!;
const config = tinyConfig(tokenizer.vocabSize, [EOS]);
const store = randomStore(config, 2024);
const makeModel = (maxSequence = 256, backend: Backend = new CpuBackend()) => new LlamaModel(backend, config, store, { maxSequence });

async function argmaxOf(b: Backend, logits: { dispose(): void }, row = 0): Promise<number> {
  const data = (await b.download(logits as never)) as Float32Array;
  const v = config.vocabSize;
  let best = 0;
  for (let i = 1; i < v; i++) if (data[row * v + i]! > data[row * v + best]!) best = i;
  return best;
}

/** Greedy decoding written out by hand over forward(), the oracle for the generator. */
async function manualGreedy(prompt: number[], steps: number): Promise<number[]> {
  const m = makeModel();
  let logits = m.forward(Int32Array.from(prompt));
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = await argmaxOf(m.backend, logits);
    logits.dispose();
    out.push(t);
    logits = m.forward(Int32Array.of(t));
  }
  logits.dispose();
  m.dispose();
  return out;
}

/** A user processor that forces a scripted sequence (to steer a random model through exact bytes). */
function script(ids: number[]): LogitsProcessor {
  let i = 0;
  return {
    name: 'script',
    apply(row) {
      const want = ids[Math.min(i++, ids.length - 1)]!;
      row.logits.fill(-Infinity);
      row.logits[want] = 0;
    },
  };
}

async function run(model: LlamaModel, input: Parameters<typeof generate>[2], o: GenerateOptions = {}): Promise<{ events: TokenEvent[]; result: GenerationResult }> {
  const events: TokenEvent[] = [];
  const result = await generate(model, tokenizer, input, { ...o, onToken: (e) => { events.push(e); o.onToken?.(e); } }).result;
  return { events, result };
}

const PROMPT = 'Hello the world';

describe('generate() on a real Llama (cpu backend, seeded random weights) with a real BPE tokenizer', () => {
  test('greedy equals argmax decoding by hand; chunked prefill changes nothing; only argmax ids cross to the CPU', async () => {
    const prompt = tokenizer.encode(PROMPT);
    assert.equal(prompt[0], tokenizer.bosTokenId);
    const expected = await manualGreedy(prompt, 24);
    const traffic: Traffic = { argmax: 0, topk: 0, downloads: [] };
    const model = makeModel(256, countingBackend(new CpuBackend(), traffic));
    const whole = await run(model, PROMPT, { temperature: 0, maxNewTokens: 24, ignoreEos: true, prefillChunk: 1000, reuseCache: false });
    assert.deepEqual(whole.result.tokens, expected);
    assert.equal(whole.result.finishReason, 'length');
    assert.deepEqual(whole.events.map((e) => e.token), expected);
    assert.deepEqual(whole.events.map((e) => e.index), expected.map((_, i) => i));
    assert.equal(whole.events.map((e) => e.text).join(''), whole.result.text);
    assert.deepEqual(whole.result.usage, { promptTokens: prompt.length, completionTokens: 24 });
    assert.equal(traffic.argmax, 24);
    assert.equal(traffic.topk, 0);
    assert.ok(traffic.downloads.every((n) => n === 1), `downloads ${traffic.downloads}`);
    for (const chunk of [1, 2, 3]) {
      const chunked = await run(model, PROMPT, { temperature: 0, maxNewTokens: 24, ignoreEos: true, prefillChunk: chunk, reuseCache: false });
      assert.deepEqual(chunked.result.tokens, expected, `prefill chunk ${chunk}`);
    }
    // the whole sequence in one forward pass agrees position by position (cache vs no cache)
    const fresh = makeModel();
    const all = [...prompt, ...expected];
    const logits = fresh.forward(Int32Array.from(all.slice(0, -1)), { allLogits: true });
    for (let i = 0; i < expected.length; i++) assert.equal(await argmaxOf(fresh.backend, logits, prompt.length - 1 + i), expected[i], `position ${i}`);
    logits.dispose();
    const m = whole.result.metrics;
    assert.ok(m.timeToFirstTokenMs > 0 && m.totalMs >= m.timeToFirstTokenMs, JSON.stringify(m));
    assert.ok(m.prefillTokensPerSecond > 0 && m.decodeTokensPerSecond > 0, JSON.stringify(m));
    assert.equal(m.prefillTokens, prompt.length);
  });

  test('seeded sampling is reproducible; top-k on the device and the full row give the same tokens', async () => {
    const traffic: Traffic = { argmax: 0, topk: 0, downloads: [] };
    const model = makeModel(256, countingBackend(new CpuBackend(), traffic));
    const o = { temperature: 1.3, topK: 8, seed: 31337, maxNewTokens: 30, ignoreEos: true } as const;
    const a = await run(model, PROMPT, o);
    assert.equal(traffic.topk, 30);
    assert.ok(traffic.downloads.every((n) => n === 8), `only k values and ids cross: ${traffic.downloads}`);
    const b = await run(model, PROMPT, o);
    assert.deepEqual(b.result.tokens, a.result.tokens);
    assert.equal(b.result.text, a.result.text);
    assert.equal(a.result.seed, 31337);
    traffic.downloads.length = 0;
    // a no-op user processor forces the full-row path: same seed, same draws
    const full = await run(model, PROMPT, { ...o, logitsProcessors: [{ name: 'noop', apply: () => undefined }] });
    assert.ok(traffic.downloads.every((n) => n === config.vocabSize));
    assert.deepEqual(full.result.tokens, a.result.tokens);
    const others = await Promise.all([1, 2, 3].map((seed) => run(model, PROMPT, { ...o, seed })));
    assert.ok(others.some((r) => r.result.tokens.join() !== a.result.tokens.join()), 'other seeds give other samples');
    const greedy = await run(model, PROMPT, { temperature: 0, maxNewTokens: 30, ignoreEos: true });
    assert.notDeepEqual(a.result.tokens, greedy.result.tokens, 'sampling at T = 1.3 departs from greedy');
  });

  test('top-p without top-k: device softmax + top-256 probabilities, same tokens as the full row', async () => {
    assert.ok(config.vocabSize > 256, 'the vocabulary is larger than the candidate set');
    const traffic: Traffic = { argmax: 0, topk: 0, downloads: [] };
    const model = makeModel(256, countingBackend(new CpuBackend(), traffic));
    const o = { temperature: 0.7, topP: 0.8, seed: 4242, maxNewTokens: 30, ignoreEos: true } as const;
    const dev = await run(model, PROMPT, o);
    assert.equal(traffic.topk, 30);
    const fallbacks = traffic.downloads.filter((n) => n === config.vocabSize).length;
    assert.ok(traffic.downloads.filter((n) => n === 256).length === 60 && fallbacks < 30, `downloads ${traffic.downloads}`);
    const full = await run(model, PROMPT, { ...o, logitsProcessors: [{ name: 'noop', apply: () => undefined }] });
    assert.deepEqual(dev.result.tokens, full.result.tokens);
    // a nucleus wider than 256 tokens falls back to the full row and still agrees
    traffic.downloads.length = 0;
    const wide = { temperature: 5, topP: 0.999, seed: 9, maxNewTokens: 10, ignoreEos: true } as const;
    const w1 = await run(model, PROMPT, wide);
    assert.equal(traffic.downloads.filter((n) => n === config.vocabSize).length, 10, 'every step fell back');
    const w2 = await run(model, PROMPT, { ...wide, logitsProcessors: [{ name: 'noop', apply: () => undefined }] });
    assert.deepEqual(w1.result.tokens, w2.result.tokens);
  });

  test('repetition penalty: the top-(1 + seen) candidates on the device give the full-row answer', async () => {
    const traffic: Traffic = { argmax: 0, topk: 0, downloads: [] };
    const model = makeModel(256, countingBackend(new CpuBackend(), traffic));
    const o = { temperature: 0, repetitionPenalty: 1.8, maxNewTokens: 80, ignoreEos: true } as const;
    const dev = await run(model, PROMPT, o);
    assert.equal(traffic.topk, 80);
    assert.equal(traffic.argmax, 0);
    const full = await run(model, PROMPT, { ...o, logitsProcessors: [{ name: 'noop', apply: () => undefined }] });
    assert.deepEqual(dev.result.tokens, full.result.tokens);
    const plain = await run(model, PROMPT, { temperature: 0, maxNewTokens: 80, ignoreEos: true });
    assert.ok(new Set(plain.result.tokens).size < 80, 'the plain greedy run repeats itself');
    assert.notDeepEqual(dev.result.tokens, plain.result.tokens, 'the penalty changes greedy output');
  });

  test('chat messages go through the chat template', async () => {
    const model = makeModel();
    const messages = [{ role: 'user', content: 'Hello the world' }];
    const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
    assert.equal(ids[0], tokenizer.tokenToId(SPECIAL.start));
    const chat = await run(model, messages, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    const direct = await run(model, { tokens: ids }, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    assert.equal(chat.result.usage.promptTokens, ids.length);
    assert.deepEqual(chat.result.tokens, direct.result.tokens);
  });

  test('a stop string spanning several tokens ends generation and is never shown, not even in part', async () => {
    const model = makeModel();
    const text = 'Hello the world END of it';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    const pieces = ids.map((id) => tokenizer.decode([id]));
    // ' END' is one merged token: stop on 'd EN' spans ' world' and ' END'
    assert.ok(pieces.includes(' world') && pieces.includes(' END'), JSON.stringify(pieces));
    const seen: string[] = [];
    let shown = '';
    const { events, result } = await run(model, PROMPT, { temperature: 0, stop: ['zzz', 'd EN'], maxNewTokens: 40, logitsProcessors: [script(ids)], onToken: (e) => { shown += e.text; seen.push(shown); } });
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.stopString, 'd EN');
    assert.equal(result.text, 'Hello the worl');
    for (const s of seen) assert.ok('Hello the worl'.startsWith(s), `shown so far: ${JSON.stringify(s)}`);
    assert.equal(events.length, ids.indexOf(tokenizer.tokenToId('ĠEND')!) + 1, 'stops at the token that completes the stop string');
    assert.equal(events.at(-1)!.text, '');
    // on the random model's own greedy text: pick a stop string across a token boundary
    const free = await run(model, PROMPT, { temperature: 0, maxNewTokens: 30, ignoreEos: true });
    const texts = free.events.map((e) => e.text);
    const j = texts.findIndex((t, i) => i > 2 && t.length > 0 && texts[i + 1]!.length > 0);
    assert.ok(j > 0, 'two visible pieces in a row');
    const before = texts.slice(0, j).join('');
    const stop = texts[j]!.slice(-1) + texts[j + 1]!.slice(0, 1);
    const cut = free.result.text.indexOf(stop);
    const stopped = await run(model, PROMPT, { temperature: 0, maxNewTokens: 30, stop });
    assert.equal(stopped.result.finishReason, 'stop');
    assert.equal(stopped.result.text, free.result.text.slice(0, cut));
    assert.ok(cut <= before.length + texts[j]!.length - 1);
  });

  test('EOS (any of several ids) ends generation; the held-back text is released, the EOS is not shown', async () => {
    const model = makeModel();
    const ids = [...tokenizer.encode('Hello', { addSpecialTokens: false }), EOS, ...tokenizer.encode(' more', { addSpecialTokens: false })];
    const { events, result } = await run(model, PROMPT, { temperature: 0, maxNewTokens: 40, logitsProcessors: [script(ids)] });
    assert.equal(result.finishReason, 'eos');
    assert.equal(result.text, 'Hello');
    assert.equal(result.tokens.at(-1), EOS);
    assert.equal(events.at(-1)!.token, EOS);
    // eosTokenIds replaces the defaults: another id ends it, the tokenizer's EOS no longer does
    const bytes = [...'Hello'].map((ch) => tokenizer.tokenToId(ch)!);
    const r2 = await run(model, PROMPT, { temperature: 0, maxNewTokens: 40, eosTokenIds: [bytes[2]!, 9999], logitsProcessors: [script([...bytes, EOS])] });
    assert.equal(r2.result.finishReason, 'eos');
    assert.equal(r2.result.text, 'He');
    // a stop string's prefix held at EOS is released: it was not a stop string
    const r3 = await run(model, PROMPT, { temperature: 0, maxNewTokens: 40, stop: 'lox', logitsProcessors: [script(ids)] });
    assert.equal(r3.result.finishReason, 'eos');
    assert.equal(r3.result.text, 'Hello');
    assert.equal(r3.events.at(-2)!.text, 'Hel', "'lo' was held back");
    assert.equal(r3.events.at(-1)!.text, 'lo');
  });

  test('max new tokens ends with "length"', async () => {
    const model = makeModel();
    const { events, result } = await run(model, PROMPT, { temperature: 0, maxNewTokens: 5, ignoreEos: true });
    assert.equal(result.finishReason, 'length');
    assert.equal(events.length, 5);
    assert.equal(result.usage.completionTokens, 5);
    assert.equal(model.position, tokenizer.encode(PROMPT).length + 4, 'the last token is never run');
  });

  test('multi-byte UTF-8 split across tokens comes out whole, never as U+FFFD', async () => {
    const model = makeModel();
    const text = 'a🦙é中b';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(ids.length >= 9, `byte tokens: ${ids.length}`);
    const { events, result } = await run(model, PROMPT, { temperature: 0, maxNewTokens: ids.length, logitsProcessors: [script(ids)] });
    assert.equal(result.text, text);
    assert.deepEqual(events.map((e) => e.text).filter((t) => t !== ''), ['a', '🦙', 'é', '中', 'b']);
    assert.deepEqual(events.map((e) => e.text), ['a', '', '', '', '🦙', 'é', '', '', '中', 'b']);
    assert.ok(events.every((e) => !e.text.includes('\uFFFD')));
  });

  test('abort: from a callback, from a timer, before the start, while paused — within one token, with the text so far', async () => {
    const model = makeModel();
    const c1 = new AbortController();
    const r1 = await run(model, PROMPT, { temperature: 0, maxNewTokens: 50, ignoreEos: true, signal: c1.signal, onToken: (e) => { if (e.index === 3) c1.abort(); } });
    assert.equal(r1.result.finishReason, 'abort');
    assert.equal(r1.events.length, 4);
    assert.equal(r1.result.text, r1.events.map((e) => e.text).join(''));
    assert.equal(r1.result.usage.completionTokens, 4);

    // Timers start with the first token, so a loaded machine cannot make them fire before any.
    const c2 = new AbortController();
    let atAbort = -1;
    const events: TokenEvent[] = [];
    const r2 = await generate(model, tokenizer, PROMPT, {
      temperature: 0, maxNewTokens: 200, ignoreEos: true, signal: c2.signal,
      onToken: (e) => { events.push(e); if (e.index === 0) setTimeout(() => { atAbort = events.length; c2.abort(); }, 20); },
    }).result;
    assert.equal(r2.finishReason, 'abort');
    assert.ok(atAbort > 0 && atAbort < 200, `aborted after ${atAbort} tokens`);
    assert.ok(events.length - atAbort <= 1, `${events.length - atAbort} tokens after abort`);
    assert.equal(r2.text, events.map((e) => e.text).join(''));

    // A backend whose readback takes time (as a GPU map does): the abort lands during a download and
    // that token is dropped, so nothing at all is shown after the abort.
    const slow = makeModel(256, new Proxy(new CpuBackend(), {
      get(target, prop) {
        if (prop === 'download') return async (t: never) => { await new Promise((r) => setTimeout(r, 10)); return target.download(t); };
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }));
    const c5 = new AbortController();
    const slowEvents: TokenEvent[] = [];
    let atSlowAbort = -1;
    const r5 = await generate(slow, tokenizer, PROMPT, {
      temperature: 0, maxNewTokens: 200, ignoreEos: true, signal: c5.signal,
      onToken: (e) => { slowEvents.push(e); if (e.index === 0) setTimeout(() => { atSlowAbort = slowEvents.length; c5.abort(); }, 35); },
    }).result;
    assert.equal(r5.finishReason, 'abort');
    assert.ok(atSlowAbort > 0 && atSlowAbort < 200, `aborted after ${atSlowAbort} tokens`);
    assert.equal(slowEvents.length, atSlowAbort);
    assert.equal(r5.text, slowEvents.map((e) => e.text).join(''));

    const c3 = new AbortController();
    c3.abort();
    const r3 = await run(model, PROMPT, { signal: c3.signal });
    assert.equal(r3.result.finishReason, 'abort');
    assert.equal(r3.events.length, 0);

    let onPaused!: () => void;
    const pausedNow = new Promise<void>((r) => { onPaused = r; });
    const g4 = generate(model, tokenizer, PROMPT, { temperature: 0, maxNewTokens: 50, ignoreEos: true, onToken: (e) => { if (e.index === 1) { g4.pause(); onPaused(); } } });
    await pausedNow;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(g4.paused, true);
    g4.abort();
    const r4 = await g4.result;
    assert.equal(r4.finishReason, 'abort');
    assert.equal(r4.usage.completionTokens, 2);
  });

  test('pause/resume: nothing runs while paused, the order and the tokens are those of an uninterrupted run', async () => {
    const model = makeModel();
    const straight = await run(model, PROMPT, { temperature: 0, maxNewTokens: 12, ignoreEos: true });
    const log: string[] = [];
    let onPaused!: () => void;
    const pausedNow = new Promise<void>((r) => { onPaused = r; });
    const g = generate(model, tokenizer, PROMPT, {
      temperature: 0, maxNewTokens: 12, ignoreEos: true,
      onToken: (e) => { log.push(`token ${e.index}`); if (e.index === 4) { g.pause(); log.push('paused'); onPaused(); } },
    });
    await pausedNow;
    const pausedAt = performance.now();
    assert.equal(g.paused, true);
    const position = model.position;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(model.position, position, 'no forward pass while paused');
    assert.equal(log.at(-1), 'paused');
    log.push('resume');
    g.resume();
    const waited = performance.now() - pausedAt;
    const result = await g.result;
    assert.deepEqual(log, ['token 0', 'token 1', 'token 2', 'token 3', 'token 4', 'paused', 'resume', ...Array.from({ length: 7 }, (_, i) => `token ${i + 5}`)]);
    assert.deepEqual(result.tokens, straight.result.tokens);
    assert.ok(result.metrics.pausedMs >= waited - 1, `paused ${result.metrics.pausedMs} ms, waited ${waited} ms`);
  });

  test('async iteration yields the same events; breaking out aborts', async () => {
    const model = makeModel();
    const g = generate(model, tokenizer, PROMPT, { temperature: 0, maxNewTokens: 10, ignoreEos: true });
    const got: TokenEvent[] = [];
    for await (const e of g) got.push(e);
    const result = await g.result;
    assert.deepEqual(got.map((e) => e.token), result.tokens);
    assert.equal(got.map((e) => e.text).join(''), result.text);
    const g2 = generate(model, tokenizer, PROMPT, { temperature: 0, maxNewTokens: 100, ignoreEos: true });
    let n = 0;
    for await (const e of g2) { n++; if (e.index === 2) break; }
    const r2 = await g2.result;
    assert.equal(r2.finishReason, 'abort');
    assert.ok(r2.usage.completionTokens <= n + 1, `${r2.usage.completionTokens} tokens after a break at ${n}`);
  });

  test('KV cache: the next call reuses the common prefix and gets the same tokens as a fresh run', async () => {
    const model = makeModel();
    const first = await run(model, PROMPT, { temperature: 0, maxNewTokens: 6, ignoreEos: true });
    const follow = { tokens: [...tokenizer.encode(PROMPT), ...first.result.tokens, ...tokenizer.encode(' the', { addSpecialTokens: false })] };
    const reused = await run(model, follow, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    assert.equal(reused.result.metrics.reusedTokens, tokenizer.encode(PROMPT).length + 5);
    assert.equal(reused.result.metrics.prefillTokens, follow.tokens.length - reused.result.metrics.reusedTokens);
    const fresh = await run(makeModel(), follow, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    assert.deepEqual(reused.result.tokens, fresh.result.tokens);
    // the same prompt again: all but its last token come from the cache
    const again = await run(model, follow, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    assert.equal(again.result.metrics.prefillTokens, 1);
    assert.deepEqual(again.result.tokens, fresh.result.tokens);
  });

  test('full cache: "length" with a message, or a sliding window that re-prefills sink + recent tokens', async () => {
    const prompt = tokenizer.encode(PROMPT);
    const small = makeModel(24);
    const capped = await run(small, PROMPT, { temperature: 0, maxNewTokens: 100, ignoreEos: true });
    assert.equal(capped.result.finishReason, 'length');
    assert.equal(capped.result.tokens.length, 24 - prompt.length + 1);
    assert.match(capped.result.detail ?? '', /KV cache is full \(24 positions\)/);
    assert.throws(() => generate(small, tokenizer, { tokens: Array.from({ length: 30 }, () => 65) }), InvalidArgumentError);

    const w = { sink: 2, keep: 8 };
    const slid = await run(makeModel(24), PROMPT, { temperature: 0, maxNewTokens: 60, ignoreEos: true, slidingWindow: w });
    assert.equal(slid.result.finishReason, 'length');
    assert.equal(slid.result.tokens.length, 60);
    assert.deepEqual(slid.result.tokens.slice(0, capped.result.tokens.length), capped.result.tokens, 'identical until the first shift');
    // first shift when the cache (24) is full: then every 24 − 2 − 8 = 14 tokens
    const firstShiftAt = capped.result.tokens.length;
    assert.equal(slid.result.metrics.cacheShifts, 1 + Math.floor((60 - 1 - firstShiftAt) / 14));
    // the token after the shift is the greedy pick of a fresh model on sink + last `keep` tokens
    const seq = [...prompt, ...slid.result.tokens.slice(0, firstShiftAt)];
    const kept = [...seq.slice(0, 2), ...seq.slice(-8)];
    const fresh = makeModel(24);
    const logits = fresh.forward(Int32Array.from(kept));
    assert.equal(await argmaxOf(fresh.backend, logits), slid.result.tokens[firstShiftAt]);
    logits.dispose();
    // a prompt longer than the cache keeps its start and its end
    const long = { tokens: [...prompt, ...Array.from({ length: 40 }, (_, i) => 70 + (i % 20))] };
    const lr = await run(makeModel(24), long, { temperature: 0, maxNewTokens: 5, ignoreEos: true, slidingWindow: w });
    assert.equal(lr.result.tokens.length, 5);
    assert.match(lr.result.detail ?? '', /first 2 and last 8 tokens were kept/);
  });

  test('generations on one model run one after the other', async () => {
    const model = makeModel();
    const solo = await run(makeModel(), PROMPT, { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    const solo2 = await run(makeModel(), 'the world', { temperature: 0, maxNewTokens: 8, ignoreEos: true });
    const order: string[] = [];
    const a = generate(model, tokenizer, PROMPT, { temperature: 0, maxNewTokens: 8, ignoreEos: true, onToken: () => order.push('a') });
    const b = generate(model, tokenizer, 'the world', { temperature: 0, maxNewTokens: 8, ignoreEos: true, onToken: () => order.push('b') });
    const [ra, rb] = await Promise.all([a.result, b.result]);
    assert.equal(order.join(''), 'a'.repeat(8) + 'b'.repeat(8));
    assert.deepEqual(ra.tokens, solo.result.tokens);
    assert.deepEqual(rb.tokens, solo2.result.tokens);
  });

  test('ids the model has but the tokenizer lacks (padded embeddings) are never picked', async () => {
    const padded = tinyConfig(tokenizer.vocabSize + 20, [EOS]);
    const base = randomStore(padded, 7);
    // the padded rows of lm_head are made to dominate, so a plain argmax would pick them
    const head = base.f32('lm_head.weight').slice();
    const wanted = head.subarray(0, tokenizer.vocabSize * padded.hiddenSize);
    for (let i = tokenizer.vocabSize * padded.hiddenSize; i < head.length; i++) head[i] = head[i]! * 20;
    const padStore: WeightStore = { ...base, f32: (n) => (n === 'lm_head.weight' ? head : base.f32(n)) };
    assert.ok(wanted.length < head.length);
    const model = new LlamaModel(new CpuBackend(), padded, padStore, { maxSequence: 128 });
    const greedy = await run(model, PROMPT, { temperature: 0, maxNewTokens: 12, ignoreEos: true });
    const sampled = await run(model, PROMPT, { temperature: 1, topK: 5, seed: 3, maxNewTokens: 12, ignoreEos: true });
    for (const t of [...greedy.result.tokens, ...sampled.result.tokens]) assert.ok(t < tokenizer.vocabSize, `token ${t}`);
    // greedy by hand over the decodable ids only
    const oracle = new LlamaModel(new CpuBackend(), padded, padStore, { maxSequence: 128 });
    let logits = oracle.forward(Int32Array.from(tokenizer.encode(PROMPT)));
    const want: number[] = [];
    let paddedWins = 0;
    for (let i = 0; i < 12; i++) {
      const row = (await oracle.backend.download(logits)) as Float32Array;
      logits.dispose();
      let best = 0;
      let bestAll = 0;
      for (let j = 1; j < row.length; j++) {
        if (j < tokenizer.vocabSize && row[j]! > row[best]!) best = j;
        if (row[j]! > row[bestAll]!) bestAll = j;
      }
      if (bestAll >= tokenizer.vocabSize) paddedWins++;
      want.push(best);
      logits = oracle.forward(Int32Array.of(best));
    }
    logits.dispose();
    assert.ok(paddedWins > 0, 'the padded rows do win a plain argmax sometimes');
    assert.deepEqual(greedy.result.tokens, want);
  });

  test('bad requests throw at once', () => {
    const model = makeModel();
    assert.throws(() => generate(model, tokenizer, PROMPT, { maxNewTokens: 0 }), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, PROMPT, { stop: [''] }), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, PROMPT, { prefillChunk: 0 }), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, { tokens: [config.vocabSize] }), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, { tokens: [] }), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, [1, 2, 3] as never), InvalidArgumentError);
    assert.throws(() => generate(model, tokenizer, [{ role: 'user' }] as never), InvalidArgumentError);
  });
});
