import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { GgmlType, parseGguf, tryParseGgufHeader } from '../../engine/formats/gguf.js';
import { dequantizeGgufTensor } from '../../engine/formats/gguf-blocks.js';
import { ggufLlamaConfig, ggufTensorF32, ggufTensorPacked, ggufToHfName } from '../../engine/formats/gguf-llama.js';
import { parseSafetensorsHeader, safetensorsHeaderBytes, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { loadTokenizer, tokenizerFromGguf } from '../../engine/formats/tokenizer.js';
import { readCode, readHalf, symmetricZero } from '../../engine/quant/layout.js';
import { f16ToF32 } from '../../engine/tensor/dtype.js';

// The shipped model (models/tiny-llama, trained by tools/train/train_tiny.py) read through every parser.
const DIR = new URL('../../models/tiny-llama/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, DIR)));
const text = (name: string) => readFileSync(new URL(name, DIR), 'utf8');

const config = parseModelConfig(text('config.json')) as LlamaConfig;
const st = read('model.safetensors');
const stHeader = parseSafetensorsHeader(st.subarray(0, safetensorsHeaderBytes(st.subarray(0, 8), { fileSize: st.length })), { fileSize: st.length, fileName: 'model.safetensors' });

test('tiny-llama: config.json and the safetensors header agree', () => {
  assert.equal(config.modelType, 'llama');
  assert.equal(config.tieWordEmbeddings, true);
  assert.ok(config.numKeyValueHeads < config.numAttentionHeads, 'GQA');
  const layers = config.numHiddenLayers;
  // embed + final norm + 9 per layer (no lm_head: tied)
  assert.equal(stHeader.tensors.length, 2 + 9 * layers);
  const shape = (n: string) => stHeader.byName.get(n)?.shape;
  const { hiddenSize: h, headDim: d, numAttentionHeads: nh, numKeyValueHeads: kv, intermediateSize: ff, vocabSize: v } = config;
  assert.deepEqual(shape('model.embed_tokens.weight'), [v, h]);
  assert.deepEqual(shape('model.norm.weight'), [h]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    assert.deepEqual(shape(p + 'self_attn.q_proj.weight'), [nh * d, h]);
    assert.deepEqual(shape(p + 'self_attn.k_proj.weight'), [kv * d, h]);
    assert.deepEqual(shape(p + 'self_attn.v_proj.weight'), [kv * d, h]);
    assert.deepEqual(shape(p + 'self_attn.o_proj.weight'), [h, nh * d]);
    assert.deepEqual(shape(p + 'mlp.gate_proj.weight'), [ff, h]);
    assert.deepEqual(shape(p + 'mlp.down_proj.weight'), [h, ff]);
    assert.deepEqual(shape(p + 'input_layernorm.weight'), [h]);
  }
  assert.equal(stHeader.fileSize, st.length);
  for (const t of stHeader.tensors) {
    const x = safetensorsToF32(t, st);
    assert.ok(x.every(Number.isFinite), `${t.name} is finite`);
  }
});

for (const [file, weightType, bound] of [['tiny-llama-q8_0.gguf', GgmlType.Q8_0, 1 / 120], ['tiny-llama-q4_0.gguf', GgmlType.Q4_0, 1 / 7]] as const) {
  test(`tiny-llama: ${file} metadata, tensor infos and weights match the safetensors checkpoint`, () => {
    const bytes = read(file);
    // the header also parses from a growing prefix, as the loader streams it
    let prefix = 64;
    for (let r = tryParseGgufHeader(bytes.subarray(0, prefix), { fileSize: bytes.length }); !('header' in r); r = tryParseGgufHeader(bytes.subarray(0, prefix), { fileSize: bytes.length })) prefix = r.needBytes;
    const h = parseGguf(bytes, file);
    assert.ok(prefix <= h.dataOffset + 4096, `header parsed from a ${prefix}-byte prefix`);
    assert.equal(h.version, 3);
    assert.equal(h.metadata.get('general.architecture'), 'llama');
    const c = ggufLlamaConfig(h);
    for (const key of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', 'headDim', 'maxPositionEmbeddings', 'ropeTheta', 'tieWordEmbeddings', 'bosTokenId', 'padTokenId', 'qkvBias'] as const) {
      assert.deepEqual(c[key], config[key], key);
    }
    assert.deepEqual(c.eosTokenIds, config.eosTokenIds);
    assert.ok(Math.abs(c.rmsNormEps - config.rmsNormEps) < 1e-9, 'eps (stored as f32 in GGUF)');
    assert.equal(h.tensors.length, stHeader.tensors.length);
    for (const info of h.tensors) {
      const hf = ggufToHfName(info.name);
      assert.ok(hf && stHeader.byName.has(hf), `${info.name} → ${hf}`);
      const ref = stHeader.byName.get(hf)!;
      assert.deepEqual(info.shape, ref.shape, info.name);
      if (info.dims.length === 1) {
        assert.equal(info.type, GgmlType.F32);
        assert.deepEqual(ggufTensorF32(h, c, info, bytes), safetensorsToF32(ref, st), info.name);
        continue;
      }
      assert.equal(info.type, info.name === 'token_embd.weight' ? GgmlType.Q8_0 : weightType, info.name);
      // Dequantized (q/k un-permuted) weights are within quantization error of the HF weights.
      const w = safetensorsToF32(ref, st);
      const x = ggufTensorF32(h, c, info, bytes);
      let amax = 0, err = 0;
      for (let i = 0; i < w.length; i++) { amax = Math.max(amax, Math.abs(w[i]!)); err = Math.max(err, Math.abs(x[i]! - w[i]!)); }
      const b = info.type === GgmlType.Q8_0 ? 1 / 120 : bound;
      assert.ok(err <= amax * b, `${info.name}: max error ${err} > ${amax} × ${b.toFixed(4)}`);
      if (/attn_[qk]\.weight$/.test(info.name)) {
        // without the un-permute the rows would not line up (proves the files carry llama.cpp's permutation)
        const raw = dequantizeGgufTensor(info, bytes);
        let rawErr = 0;
        for (let i = 0; i < w.length; i++) rawErr = Math.max(rawErr, Math.abs(raw[i]! - w[i]!));
        assert.ok(rawErr > 10 * err, `${info.name}: permuted ${rawErr} vs un-permuted ${err}`);
      }
      // The packed weights read back through readCode equal the dequantized ones exactly.
      const p = ggufTensorPacked(h, c, info, bytes);
      const [n, k] = p.shape;
      const zero = symmetricZero(p.format.bits);
      for (let r = 0; r < n; r++) {
        for (let j = 0; j < k; j++) {
          const v = (readCode(p.data, r, j, k, p.format.bits) - zero) * f16ToF32(readHalf(p.scales, r * (k / 32) + (j >> 5)));
          if (v !== x[r * k + j]) assert.fail(`${info.name} packed (${r}, ${j}) = ${v}, dequantized ${x[r * k + j]}`);
        }
      }
    }
  });
}

test('tiny-llama: tokenizer.json and the GGUF vocabulary give the same ids; round trips; chat template', () => {
  const tok = loadTokenizer(text('tokenizer.json'), text('tokenizer_config.json'));
  const fromGguf = tokenizerFromGguf(parseGguf(read('tiny-llama-q8_0.gguf'), 'tiny-llama-q8_0.gguf'));
  assert.equal(tok.vocabSize, config.vocabSize);
  assert.equal(fromGguf.vocabSize, config.vocabSize);
  assert.equal(tok.bosTokenId, config.bosTokenId);
  assert.equal(tok.eosTokenId, config.eosTokenIds[0]);
  assert.equal(tok.padTokenId, config.padTokenId);
  assert.equal(fromGguf.bosTokenId, tok.bosTokenId);
  assert.equal(fromGguf.eosTokenId, tok.eosTokenId);
  const heldout = text('heldout.txt').slice(0, 20000);
  const samples = [
    'The quick brown fox jumps over the lazy dog.', 'café naïve résumé', '🦙 llamas 👩‍👩‍👧', '模型很小', '  spaces\tand\nnewlines\n\n',
    '<|im_start|>user\nHello<|im_end|>\n', heldout,
  ];
  for (const s of samples) {
    const ids = tok.encode(s);
    assert.equal(ids[0], config.bosTokenId, 'BOS is prepended');
    assert.deepEqual(fromGguf.encode(s), ids, JSON.stringify(s.slice(0, 40)));
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), s.replace(/<\|im_(start|end)\|>/g, ''));
    assert.equal(tok.decode(tok.encode(s, { addSpecialTokens: false })), s);
    const stream = tok.decodeStream();
    const pieces = tok.encode(s, { addSpecialTokens: false }).map((id) => stream.push(id));
    pieces.push(stream.flush());
    assert.equal(pieces.join(''), s);
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
  }
  const messages = [{ role: 'user', content: 'Tell me about llamas.' }];
  const rendered = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  assert.equal(rendered, '<s><|im_start|>user\nTell me about llamas.<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(fromGguf.applyChatTemplate(messages, { addGenerationPrompt: true }), rendered);
  const ids = tok.encode(rendered, { addSpecialTokens: false });
  assert.deepEqual(ids.slice(0, 2), [config.bosTokenId, tok.tokenToId('<|im_start|>')]);
});
