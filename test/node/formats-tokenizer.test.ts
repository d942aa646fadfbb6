import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../engine/errors.js';
import { parseGguf } from '../../engine/formats/gguf.js';
import { loadTokenizer, tokenizerFromGguf } from '../../engine/formats/tokenizer.js';
import { CHATML, SPECIALS, buildByteBpe } from '../fixtures/formats/byte-bpe.js';
import { type GgufMetaValue, writeGguf } from '../fixtures/formats/gguf-writer.js';

function expectFormatError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof FormatError && e.code === 'invalid-format' && pattern.test(e.message) ? true : assert.fail(`got ${String(e)}`));
}

const TEXTS = [
  'Hello, world! the and the ending.',
  'café naïve résumé é',
  'emoji 🦙 and family 👩‍👩‍👧 done',
  '模型很小 中文 日本語 한국어',
  'mixed  spaces\n\ttabs and newlines\n\n',
  '',
];

test('tokenizer.json: round-trips ASCII, accents, emoji and CJK; merges and specials apply', () => {
  const bpe = buildByteBpe();
  const tok = loadTokenizer(JSON.stringify(bpe.tokenizerJson), JSON.stringify(bpe.tokenizerConfig));
  for (const text of TEXTS) {
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.equal(tok.decode(ids), text, JSON.stringify(text));
    assert.ok(ids.every((id) => id >= 0 && id < tok.vocabSize));
  }
  const bos = tok.tokenToId('<|endoftext|>')!;
  assert.equal(tok.bosTokenId, bos);
  assert.equal(tok.eosTokenId, tok.tokenToId('<|im_end|>'));
  assert.equal(tok.padTokenId, bos);
  assert.equal(tok.vocabSize, bpe.tokens.length);
  // ' the' is one merged token ('Ġthe'), 'é' is one (its two bytes merged), '模型' is one
  assert.deepEqual(tok.encode(' the', { addSpecialTokens: false }), [tok.tokenToId('Ġthe')]);
  assert.equal(tok.encode('é', { addSpecialTokens: false }).length, 1);
  assert.equal(tok.encode('模型', { addSpecialTokens: false }).length, 1);
  assert.equal(tok.encode('🦙', { addSpecialTokens: false }).length, 4, 'unmerged emoji = its 4 bytes');
  // the post-processor adds BOS only when asked
  assert.deepEqual(tok.encode('the'), [bos, tok.tokenToId('the')]);
  assert.deepEqual(tok.encode('the', { addSpecialTokens: false }), [tok.tokenToId('the')]);
  // special tokens inside text are single ids; skipSpecialTokens drops them on decode
  const ids = tok.encode('<|im_start|>user the<|im_end|>', { addSpecialTokens: false });
  assert.equal(ids[0], tok.tokenToId('<|im_start|>'));
  assert.equal(ids.at(-1), tok.tokenToId('<|im_end|>'));
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'user the');
  assert.equal(tok.decode(ids), '<|im_start|>user the<|im_end|>');
  // no transformers-style clean-up: " ." survives
  assert.equal(tok.decode(tok.encode('a . b', { addSpecialTokens: false })), 'a . b');
});

test('decodeStream emits only complete UTF-8, whatever the token boundaries', () => {
  const bpe = buildByteBpe();
  const tok = loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig);
  for (const text of TEXTS) {
    const ids = tok.encode(text, { addSpecialTokens: false });
    const stream = tok.decodeStream();
    const pieces = ids.map((id) => stream.push(id));
    pieces.push(stream.flush());
    for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} of ${JSON.stringify(text)}`);
    assert.equal(pieces.join(''), text);
  }
  // the llama emoji is 4 byte tokens: nothing comes out until the 4th
  const s = tok.decodeStream();
  const llama = tok.encode('a🦙', { addSpecialTokens: false });
  assert.deepEqual(llama.map((id) => s.push(id)), ['a', '', '', '', '🦙']);
  // specials are skipped when asked, and the stream goes on
  const sk = tok.decodeStream({ skipSpecialTokens: true });
  const withSpecial = tok.encode('the<|im_end|> é', { addSpecialTokens: false });
  assert.equal(withSpecial.map((id) => sk.push(id)).join('') + sk.flush(), 'the é');
  // a byte sequence that never completes is released (as U+FFFD) instead of being held forever
  const bad = tok.decodeStream();
  const lead = tok.tokenToId('ð')!; // 0xF0: a 4-byte lead with no continuation
  const out = [bad.push(lead), bad.push(lead)].join('') + Array.from({ length: 8 }, () => bad.push(lead)).join('') + bad.flush();
  assert.equal(out, '\uFFFD'.repeat(10));
});

test('chat template (jinja) from tokenizer_config.json', () => {
  const bpe = buildByteBpe();
  const tok = loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig);
  assert.equal(tok.chatTemplate, CHATML);
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi 🦙' }];
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }),
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 🦙<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(tok.applyChatTemplate(messages), '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 🦙<|im_end|>\n');
  // bos_token and raise_exception reach the template
  const strict = loadTokenizer(bpe.tokenizerJson, {
    ...bpe.tokenizerConfig,
    chat_template: [{ name: 'default', template: "{{ bos_token }}{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}{{ messages[0]['content'] }}" }],
  });
  assert.equal(strict.applyChatTemplate([{ role: 'user', content: 'x' }]), '<|endoftext|>x');
  expectFormatError(() => strict.applyChatTemplate(messages), /failed to render: .*first message must be from the user/);
  const none = loadTokenizer(bpe.tokenizerJson, {});
  expectFormatError(() => none.applyChatTemplate(messages), /has no "chat_template"/);
  const broken = loadTokenizer(bpe.tokenizerJson, { chat_template: '{% for x in %}' });
  expectFormatError(() => broken.applyChatTemplate(messages), /does not parse/);
});

test('tokenizer files: malformed input gives FormatError', () => {
  const bpe = buildByteBpe();
  expectFormatError(() => loadTokenizer('{', {}), /tokenizer.json: the file is not valid JSON/);
  expectFormatError(() => loadTokenizer({}, {}), /"model" must be an object/);
  expectFormatError(() => loadTokenizer({ model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }), /ids must be non-negative integers/);
  expectFormatError(() => loadTokenizer({ model: { type: 'BPE', vocab: {}, merges: [3] } }), /"model.merges" must be a list/);
  expectFormatError(() => loadTokenizer({ ...bpe.tokenizerJson, added_tokens: [{ id: 'x' }] }), /added token/);
  expectFormatError(() => loadTokenizer({ ...bpe.tokenizerJson, decoder: 3 }), /"decoder" must be an object or null/);
  expectFormatError(() => loadTokenizer(bpe.tokenizerJson, '[]'), /tokenizer_config.json: the file must hold a JSON object/);
  expectFormatError(() => loadTokenizer({ model: { type: 'Nope', vocab: {} } }), /could not be loaded/);
  expectFormatError(() => loadTokenizer(bpe.tokenizerJson, { chat_template: 5 }), /"chat_template" must be a string/);
});

function ggufTokenizerFile(bpe: ReturnType<typeof buildByteBpe>, extra: [string, GgufMetaValue][] = []): Uint8Array {
  const types = bpe.tokens.map((t) => (SPECIALS.includes(t) ? 3 : 1));
  const first = bpe.tokens.indexOf(SPECIALS[0]!);
  return writeGguf({
    metadata: [
      ['general.architecture', { t: 'str', v: 'llama' }],
      ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }],
      ['tokenizer.ggml.pre', { t: 'str', v: 'gpt-2' }],
      ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: bpe.tokens }],
      ['tokenizer.ggml.token_type', { t: 'arr', of: 'i32', v: types }],
      ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: bpe.merges }],
      ['tokenizer.ggml.bos_token_id', { t: 'u32', v: first }],
      ['tokenizer.ggml.eos_token_id', { t: 'u32', v: first + 2 }],
      ['tokenizer.ggml.add_bos_token', { t: 'bool', v: true }],
      ['tokenizer.chat_template', { t: 'str', v: CHATML }],
      ...extra,
    ],
  });
}

test('tokenizer from GGUF metadata (gpt2 BPE) matches the tokenizer.json it came from', () => {
  const bpe = buildByteBpe();
  const ref = loadTokenizer(bpe.tokenizerJson, bpe.tokenizerConfig);
  const h = parseGguf(ggufTokenizerFile(bpe), 'tok.gguf');
  const tok = tokenizerFromGguf(h);
  for (const text of [...TEXTS, '<|im_start|>user\nthe<|im_end|>']) {
    assert.deepEqual(tok.encode(text), ref.encode(text), JSON.stringify(text));
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), ref.encode(text, { addSpecialTokens: false }));
    assert.equal(tok.decode(tok.encode(text, { addSpecialTokens: false })), text);
  }
  assert.equal(tok.bosTokenId, ref.bosTokenId);
  assert.equal(tok.eosTokenId, ref.eosTokenId);
  assert.equal(tok.vocabSize, bpe.tokens.length);
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: true }), '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n');
});

test('tokenizer from GGUF: tokenizer.ggml.pre selects the pre-tokenizer split', () => {
  // merges "1 2" and "3 4": how digits are split before BPE decides which merges can apply
  const bpe = buildByteBpe(['12', '34']);
  const pieces = (pre: string, text: string) => {
    const tok = tokenizerFromGguf(parseGguf(ggufTokenizerFile(bpe, []).slice(), 'tok.gguf'));
    const t = pre === 'gpt-2' ? tok : tokenizerFromGguf(parseGguf(writeGguf({
      metadata: [
        ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }], ['tokenizer.ggml.pre', { t: 'str', v: pre }],
        ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: bpe.tokens }], ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: bpe.merges }],
      ],
    })));
    const ids = t.encode(text, { addSpecialTokens: false });
    assert.equal(t.decode(ids), text);
    return ids.map((id) => t.idToToken(id));
  };
  assert.deepEqual(pieces('gpt-2', '1234'), ['12', '34'], 'GPT-2 keeps digit runs together');
  assert.deepEqual(pieces('llama-bpe', '1234'), ['12', '3', '4'], 'Llama 3 splits digits in threes: 123 | 4');
  assert.deepEqual(pieces('qwen2', '1234'), ['1', '2', '3', '4'], 'Qwen2 splits every digit');
  assert.deepEqual(pieces('smollm', '1234'), ['1', '2', '3', '4'], 'SmolLM splits every digit');
  // the case-insensitive contraction group of the Llama 3 / Qwen2 patterns compiles and round-trips
  assert.deepEqual(pieces('llama-bpe', "it's HE'LL"), ['i', 't', "'", 's', 'Ġ', 'H', 'E', "'", 'L', 'L']);
  const qwen = pieces('qwen2', "HE'LL 模型");
  assert.deepEqual(qwen.slice(0, 6), ['H', 'E', "'", 'L', 'L', 'Ġ']);
  assert.equal(qwen.length, 12, 'this vocabulary has no CJK merges: 模型 is its 6 bytes');
});

test('tokenizer from GGUF: unsupported or inconsistent metadata', () => {
  const bpe = buildByteBpe();
  const spm = parseGguf(writeGguf({ metadata: [['tokenizer.ggml.model', { t: 'str', v: 'llama' }]] }));
  expectFormatError(() => tokenizerFromGguf(spm), /"llama" is not supported from GGUF/);
  expectFormatError(() => tokenizerFromGguf(parseGguf(writeGguf({}))), /has no tokenizer/);
  const noMerges = parseGguf(writeGguf({ metadata: [['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }], ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: ['a'] }]] }));
  expectFormatError(() => tokenizerFromGguf(noMerges), /merges is missing/);
  const badPre = parseGguf(ggufTokenizerFile(bpe).slice()); // baseline parses
  assert.ok(tokenizerFromGguf(badPre));
  const withBadBos = writeGguf({
    metadata: [
      ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }], ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: ['a', 'b'] }],
      ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: ['a b'] }], ['tokenizer.ggml.bos_token_id', { t: 'u32', v: 7 }],
    ],
  });
  expectFormatError(() => tokenizerFromGguf(parseGguf(withBadBos)), /bos_token_id = 7 is not a token id below 2/);
  const unknownPre = writeGguf({
    metadata: [
      ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }], ['tokenizer.ggml.pre', { t: 'str', v: 'klingon' }],
      ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: ['a'] }], ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: [] }],
    ],
  });
  expectFormatError(() => tokenizerFromGguf(parseGguf(unknownPre)), /tokenizer.ggml.pre = "klingon"/);
});
