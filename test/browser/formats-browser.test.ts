import { expect } from '@open-wc/testing';
import { FormatError } from '../../engine/errors.js';
import { parseGguf, GgmlType } from '../../engine/formats/gguf.js';
import { dequantizeGgufTensor, dequantizeQ8_0, repackGgufTensor } from '../../engine/formats/gguf-blocks.js';
import { parseSafetensors, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { parseModelConfig } from '../../engine/formats/config.js';
import { loadTokenizer, tokenizerFromGguf } from '../../engine/formats/tokenizer.js';
import { readCode, readHalf } from '../../engine/quant/layout.js';
import { f16ToF32 } from '../../engine/tensor/dtype.js';
import { buildByteBpe, SPECIALS } from '../fixtures/formats/byte-bpe.js';
import { f32Bytes, quantizeQ8_0, randomFloats, writeGguf } from '../fixtures/formats/gguf-writer.js';
import { buildSafetensors } from '../fixtures/formats/safetensors-writer.js';

// The parsers and the tokenizer are plain ES modules over typed arrays: this proves they load and
// give the same answers in Chromium as under Node (TextDecoder, BigInt DataView, jinja, tokenizers).
describe('formats in the browser', () => {
  it('parses safetensors and refuses a corrupt header', () => {
    const w = randomFloats(12, 5);
    const file = buildSafetensors([{ name: 'w', dtype: 'F32', shape: [3, 4], bytes: f32Bytes(w) }]);
    const h = parseSafetensors(file);
    expect([...safetensorsToF32(h.byName.get('w')!, file)]).to.deep.equal([...w]);
    const bad = file.slice(0, file.length - 4);
    expect(() => parseSafetensors(bad)).to.throw(FormatError, /past the end/);
  });

  it('parses GGUF, decodes Q8_0 and repacks it to the packed layout', () => {
    const w = randomFloats(2 * 64, 9);
    const q = quantizeQ8_0(w);
    const file = writeGguf({
      metadata: [['general.name', { t: 'str', v: 'tïny 🦙' }], ['n', { t: 'u64', v: 1n << 60n }]],
      tensors: [{ name: 'w', dims: [64, 2], type: GgmlType.Q8_0, data: q }],
    });
    const h = parseGguf(file);
    expect(h.metadata.get('general.name')).to.equal('tïny 🦙');
    expect(h.metadata.get('n')).to.equal(1n << 60n);
    const ref = dequantizeQ8_0(q, 128);
    expect([...dequantizeGgufTensor(h.byName.get('w')!, file)]).to.deep.equal([...ref]);
    const p = repackGgufTensor(h.byName.get('w')!, file);
    for (let r = 0; r < 2; r++) {
      for (let j = 0; j < 64; j++) {
        const v = (readCode(p.data, r, j, 64, 8) - 128) * f16ToF32(readHalf(p.scales, r * 2 + (j >> 5)));
        expect(v).to.equal(ref[r * 64 + j]);
      }
    }
    const evil = file.slice();
    new DataView(evil.buffer).setBigUint64(8, 1n << 40n, true);
    expect(() => parseGguf(evil)).to.throw(FormatError, /tensor count/);
  });

  it('parses config.json', () => {
    const c = parseModelConfig({ model_type: 'gpt2', vocab_size: 100, n_embd: 32, n_layer: 2, n_head: 4 });
    expect(c.architecture).to.equal('gpt2');
    expect(() => parseModelConfig({ model_type: 'gpt2', vocab_size: 100, n_embd: 30, n_layer: 2, n_head: 4 })).to.throw(FormatError, /does not divide/);
  });

  it('tokenizes, streams UTF-8 safely, renders chat templates, and loads a GGUF vocabulary', () => {
    const bpe = buildByteBpe();
    const tok = loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig);
    for (const text of ['plain ascii', 'café', '🦙 emoji 👩‍👩‍👧', '模型很小']) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(tok.decode(ids)).to.equal(text);
      const s = tok.decodeStream();
      const pieces = ids.map((id) => s.push(id)).concat(s.flush());
      expect(pieces.join('')).to.equal(text);
      expect(pieces.some((p) => p.includes('\uFFFD'))).to.equal(false);
    }
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }))
      .to.equal('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const gguf = parseGguf(writeGguf({
      metadata: [
        ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }],
        ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: bpe.tokens }],
        ['tokenizer.ggml.token_type', { t: 'arr', of: 'i32', v: bpe.tokens.map((t) => (SPECIALS.includes(t) ? 3 : 1)) }],
        ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: bpe.merges }],
      ],
    }));
    const fromGguf = tokenizerFromGguf(gguf);
    const text = ' the model 模型 é<|im_end|>';
    expect(fromGguf.encode(text, { addSpecialTokens: false })).to.deep.equal(tok.encode(text, { addSpecialTokens: false }));
  });
});
