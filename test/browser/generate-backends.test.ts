import { expect } from '@open-wc/testing';
import type { Backend } from '../../engine/backends/backend.js';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { createWasmBackend } from '../../engine/backends/wasm/index.js';
import { createWebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { generate, type GenerateOptions, type TokenEvent } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import type { WeightStore } from '../../engine/models/weights.js';
import { buildByteBpe } from '../fixtures/formats/byte-bpe.js';

/**
 * The generator on the browser's backends: the device argmax / top-k plans must give the cpu
 * reference's tokens on webgpu and wasm, and abort must hold while readbacks are truly asynchronous.
 */

const bpe = buildByteBpe();
const tokenizer = loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig);

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

const config = parseModelConfig({
  model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
  eos_token_id: tokenizer.eosTokenId,
}) as LlamaConfig;

function randomStore(c: LlamaConfig, seed: number): WeightStore {
  const next = mulberry(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    tensors.set(name, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + scale * (2 * next() - 1)) });
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
  const get = (n: string) => tensors.get(n)!;
  return { has: (n) => tensors.has(n), shape: (n) => get(n).shape, f32: (n) => get(n).data, packed: () => null };
}

const store = randomStore(config, 2024);
if (config.vocabSize <= 256) throw new Error('the nucleus plan needs a vocabulary over 256 tokens');
const PROMPT = 'the model and the ending';

async function tokensOn(backend: Backend, o: GenerateOptions): Promise<{ tokens: number[]; text: string }> {
  const model = new LlamaModel(backend, config, store, { maxSequence: 128 });
  try {
    const r = await generate(model, tokenizer, PROMPT, { ignoreEos: true, ...o }).result;
    return { tokens: r.tokens, text: r.text };
  } finally {
    model.dispose();
  }
}

const CASES: { name: string; o: GenerateOptions }[] = [
  { name: 'greedy (device argmax)', o: { temperature: 0, maxNewTokens: 16, prefillChunk: 3 } },
  { name: 'seeded top-k sampling (device top-k)', o: { temperature: 0.9, topK: 6, topP: 0.95, seed: 99, maxNewTokens: 16 } },
  { name: 'seeded top-p sampling (device softmax + top-256)', o: { temperature: 0.8, topP: 0.9, seed: 5, maxNewTokens: 16 } },
  { name: 'greedy + repetition penalty (device top-(1 + seen))', o: { temperature: 0, repetitionPenalty: 1.5, maxNewTokens: 16 } },
];

for (const [name, create] of [['webgpu', () => createWebGPUBackend()], ['wasm', () => createWasmBackend()]] as const) {
  describe(`generate() on ${name}`, function () {
    this.timeout(300_000);
    let backend: Backend;
    before(async () => { backend = await create(); });
    after(() => backend?.dispose());

    for (const c of CASES) {
      it(`${c.name}: the cpu reference's tokens`, async () => {
        const want = await tokensOn(new CpuBackend(), c.o);
        const got = await tokensOn(backend, c.o);
        expect(got.tokens).to.deep.equal(want.tokens);
        expect(got.text).to.equal(want.text);
      });
    }

    it('abort from a timer: nothing is shown after it', async () => {
      const model = new LlamaModel(backend, config, store, { maxSequence: 128 });
      const controller = new AbortController();
      const events: TokenEvent[] = [];
      let atAbort = -1;
      const r = await generate(model, tokenizer, PROMPT, {
        temperature: 0, maxNewTokens: 120, ignoreEos: true, signal: controller.signal,
        onToken: (e) => { events.push(e); if (e.index === 0) setTimeout(() => { atAbort = events.length; controller.abort(); }, 0); },
      }).result;
      model.dispose();
      expect(r.finishReason).to.equal('abort');
      expect(atAbort).to.be.greaterThan(0);
      expect(atAbort).to.be.lessThan(120);
      expect(events.length).to.equal(atAbort);
      expect(r.text).to.equal(events.map((e) => e.text).join(''));
    });
  });
}

describe('greedy run-ahead (the next step queued on the device before the token is read)', function () {
  this.timeout(300_000);
  const prompt = tokenizer.encode(PROMPT);
  const P = prompt.length;

  /** A model whose forwardIds calls are counted. */
  function counted(backend: Backend): { model: LlamaModel; queued: () => number } {
    const model = new LlamaModel(backend, config, store, { maxSequence: 128 });
    let n = 0;
    const own = model.forwardIds.bind(model);
    model.forwardIds = (ids, o) => { n++; return own(ids, o); };
    return { model, queued: () => n };
  }

  it('webgpu: every step after the first is queued; EOS and abort rewind the queued step, so the cache is reused right', async () => {
    const backend = await createWebGPUBackend();
    const { model, queued } = counted(backend);
    try {
      const full = await generate(model, tokenizer, { tokens: prompt }, { temperature: 0, maxNewTokens: 12, ignoreEos: true }).result;
      // the 12th token needs no next step: 11 queued, all fed
      expect(queued()).to.equal(11);
      expect(model.position).to.equal(P + 11);
      expect(full.tokens).to.deep.equal((await tokensOn(new CpuBackend(), { temperature: 0, maxNewTokens: 12 })).tokens);

      // EOS at index k: the step queued with it is dropped, the cache ends after token k − 1
      const k = full.tokens.findIndex((t, i) => i >= 3 && full.tokens.indexOf(t) === i);
      expect(k).to.be.greaterThan(0);
      const before = queued();
      const eos = await generate(model, tokenizer, { tokens: prompt }, { temperature: 0, maxNewTokens: 12, eosTokenIds: [full.tokens[k]!], reuseCache: false }).result;
      expect(eos.finishReason).to.equal('eos');
      expect(eos.tokens).to.deep.equal(full.tokens.slice(0, k + 1));
      expect(queued() - before).to.equal(k + 1);
      expect(model.position).to.equal(P + k);

      // continuing from that cache gives the rest of the uninterrupted run
      const cont = await generate(model, tokenizer, { tokens: [...prompt, ...full.tokens.slice(0, k)] }, { temperature: 0, maxNewTokens: 12 - k, ignoreEos: true }).result;
      expect(cont.metrics.reusedTokens).to.equal(P + k - 1);
      expect(cont.tokens).to.deep.equal(full.tokens.slice(k));

      // abort after the 3rd token: nothing queued is left in the cache
      const controller = new AbortController();
      const ab = await generate(model, tokenizer, { tokens: prompt }, {
        temperature: 0, maxNewTokens: 12, ignoreEos: true, reuseCache: false, signal: controller.signal,
        onToken: (e) => { if (e.index === 2) controller.abort(); },
      }).result;
      expect(ab.finishReason).to.equal('abort');
      expect(ab.tokens).to.deep.equal(full.tokens.slice(0, 3));
      expect(model.position).to.equal(P + 2);
    } finally {
      model.dispose();
      backend.dispose();
    }
  });

  it('cpu runs ops as they are called: nothing is queued ahead', async () => {
    const { model, queued } = counted(new CpuBackend());
    const r = await generate(model, tokenizer, { tokens: prompt }, { temperature: 0, maxNewTokens: 6, ignoreEos: true }).result;
    expect(r.tokens.length).to.equal(6);
    expect(queued()).to.equal(0);
    expect(model.position).to.equal(P + 5);
    model.dispose();
  });
});
