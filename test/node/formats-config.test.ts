import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../engine/errors.js';
import { type BertConfig, type Gpt2Config, type LlamaConfig, parseModelConfig } from '../../engine/formats/config.js';

function expectFormatError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof FormatError && e.code === 'invalid-format' && pattern.test(e.message) ? true : assert.fail(`got ${String(e)}`));
}

const llama = {
  model_type: 'llama', vocab_size: 32000, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
  num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5,
  rope_theta: 100000, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu',
};

test('config: llama (SmolLM-like) with GQA, tied embeddings and defaults', () => {
  const c = parseModelConfig(JSON.stringify(llama)) as LlamaConfig;
  assert.equal(c.architecture, 'llama');
  assert.equal(c.headDim, 64);
  assert.equal(c.numKeyValueHeads, 3);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.ropeTheta, 100000);
  assert.equal(c.ropeScaling, null);
  assert.deepEqual(c.eosTokenIds, [2]);
  assert.equal(c.qkvBias, false);
  assert.equal(c.raw['rope_theta'], 100000);
  const { num_key_value_heads: _, rope_theta: __, tie_word_embeddings: ___, ...minimal } = llama;
  const d = parseModelConfig(minimal) as LlamaConfig;
  assert.equal(d.numKeyValueHeads, 9, 'num_key_value_heads defaults to num_attention_heads');
  assert.equal(d.ropeTheta, 10000);
  assert.equal(d.tieWordEmbeddings, false);
});

test('config: qwen2 bias, mistral sliding window, llama3 rope scaling, explicit head_dim, eos list', () => {
  const q = parseModelConfig({ ...llama, model_type: 'qwen2', use_sliding_window: false, sliding_window: 4096, eos_token_id: [151643, 151645] }) as LlamaConfig;
  assert.equal(q.modelType, 'qwen2');
  assert.equal(q.qkvBias, true);
  assert.equal(q.oBias, false);
  assert.equal(q.slidingWindow, null);
  assert.deepEqual(q.eosTokenIds, [151643, 151645]);
  const m = parseModelConfig({ ...llama, model_type: 'mistral', sliding_window: 4096 }) as LlamaConfig;
  assert.equal(m.slidingWindow, 4096);
  const l3 = parseModelConfig({
    ...llama, head_dim: 32, attention_bias: true,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  }) as LlamaConfig;
  assert.equal(l3.headDim, 32);
  assert.equal(l3.qkvBias && l3.oBias, true);
  assert.deepEqual({ ...l3.ropeScaling, raw: undefined }, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, raw: undefined });
  const lin = parseModelConfig({ ...llama, rope_scaling: { type: 'linear', factor: 2 } }) as LlamaConfig;
  assert.equal(lin.ropeScaling?.type, 'linear');
  assert.equal(lin.ropeScaling?.factor, 2);
});

test('config: transformers 5 rope_parameters (theta and scaling)', () => {
  const { rope_theta: _, ...noTheta } = llama;
  const v5 = parseModelConfig({ ...noTheta, rope_parameters: { rope_theta: 500000, rope_type: 'default' } }) as LlamaConfig;
  assert.equal(v5.ropeTheta, 500000);
  assert.equal(v5.ropeScaling, null);
  const scaled = parseModelConfig({ ...noTheta, rope_parameters: { rope_theta: 1e6, rope_type: 'linear', factor: 4 } }) as LlamaConfig;
  assert.equal(scaled.ropeTheta, 1e6);
  assert.equal(scaled.ropeScaling?.type, 'linear');
  assert.equal(scaled.ropeScaling?.factor, 4);
  expectFormatError(() => parseModelConfig({ ...noTheta, rope_parameters: { rope_type: 'yarn' } }), /"rope_parameters" of type "yarn" needs a "factor"/);
  expectFormatError(() => parseModelConfig({ ...noTheta, rope_parameters: { rope_theta: -1 } }), /"rope_theta" must be a positive number/);
  expectFormatError(() => parseModelConfig({ ...noTheta, rope_parameters: 7 }), /"rope_parameters" must be an object/);
});

test('config: gpt2 and bert', () => {
  const g = parseModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_embd: 64, n_layer: 2, n_head: 4, n_positions: 128, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 }) as Gpt2Config;
  assert.equal(g.architecture, 'gpt2');
  assert.equal(g.nInner, 256);
  assert.equal(g.tieWordEmbeddings, true);
  assert.equal(g.activationFunction, 'gelu_new');
  const b = parseModelConfig({ model_type: 'bert', vocab_size: 1000, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, max_position_embeddings: 64, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu' }) as BertConfig;
  assert.equal(b.architecture, 'bert');
  assert.equal(b.typeVocabSize, 2);
  assert.equal(b.layerNormEps, 1e-12);
  assert.equal(b.positionEmbeddingType, 'absolute');
});

test('config: missing and odd fields give clear errors', () => {
  expectFormatError(() => parseModelConfig('{'), /not valid JSON/);
  expectFormatError(() => parseModelConfig([]), /must hold a JSON object/);
  expectFormatError(() => parseModelConfig({}), /"model_type" is missing/);
  expectFormatError(() => parseModelConfig({ model_type: 't5' }), /model_type "t5" is not supported; supported: llama, mistral, qwen2, gpt2, bert/);
  const { hidden_size: _, ...noHidden } = llama;
  expectFormatError(() => parseModelConfig(noHidden), /"hidden_size" is missing/);
  expectFormatError(() => parseModelConfig({ ...llama, hidden_size: '576' }), /"hidden_size" must be a positive integer, got "576"/);
  expectFormatError(() => parseModelConfig({ ...llama, num_hidden_layers: 0 }), /"num_hidden_layers" must be a positive integer, got 0/);
  expectFormatError(() => parseModelConfig({ ...llama, vocab_size: -5 }), /"vocab_size" must be a positive integer/);
  expectFormatError(() => parseModelConfig({ ...llama, intermediate_size: 1.5 }), /"intermediate_size" must be a positive integer/);
  expectFormatError(() => parseModelConfig({ ...llama, num_attention_heads: 7, num_key_value_heads: 7 }), /"num_attention_heads" = 7 does not divide "hidden_size" = 576/);
  expectFormatError(() => parseModelConfig({ ...llama, num_key_value_heads: 2 }), /"num_key_value_heads" = 2 does not divide "num_attention_heads" = 9/);
  expectFormatError(() => parseModelConfig({ ...llama, rms_norm_eps: 0 }), /"rms_norm_eps" must be a positive number/);
  expectFormatError(() => parseModelConfig({ ...llama, tie_word_embeddings: 'yes' }), /"tie_word_embeddings" must be true or false/);
  expectFormatError(() => parseModelConfig({ ...llama, eos_token_id: [2, 'x'] }), /"eos_token_id" must be a token id or a list/);
  expectFormatError(() => parseModelConfig({ ...llama, rope_scaling: { factor: 2 } }), /needs a "rope_type"/);
  expectFormatError(() => parseModelConfig({ ...llama, rope_scaling: { rope_type: 'llama3', factor: 8 } }), /"llama3" needs "low_freq_factor"/);
  expectFormatError(() => parseModelConfig({ ...llama, head_dim: 33 }), /must be even/);
  expectFormatError(() => parseModelConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 10, n_layer: 1, n_head: 3 }), /"n_head" = 3 does not divide "n_embd" = 10/);
  expectFormatError(() => parseModelConfig({ model_type: 'bert', vocab_size: 10, hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4 }), /"intermediate_size" is missing/);
});
