import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { generate, generationDefaults } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { safetensorsStore } from '../../engine/models/stores.js';

// The shipped trained model (models/tiny-llama: 4.4M-parameter Llama, BPE-4096 tokenizer, f16 safetensors).
const dir = new URL('../../models/tiny-llama/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const config = parseModelConfig(read('config.json').toString('utf8')) as LlamaConfig;
const bytes = new Uint8Array(read('model.safetensors'));
const store = safetensorsStore([{ header: parseSafetensors(bytes), bytes }]);
const tokenizer = loadTokenizer(read('tokenizer.json').toString('utf8'), read('tokenizer_config.json').toString('utf8'));
const defaults = generationDefaults(read('generation_config.json').toString('utf8'));

test('shipped tiny-llama: greedy generate() equals argmax decoding by hand, and the stream equals decode(tokens)', async () => {
  const prompt = 'And the Lord said unto Moses';
  const model = new LlamaModel(new CpuBackend(), config, store, { maxSequence: 512 });
  const pieces: string[] = [];
  const r = await generate(model, tokenizer, prompt, { temperature: 0, maxNewTokens: 32, ignoreEos: true, onToken: (e) => pieces.push(e.text) }).result;
  const oracle = new LlamaModel(new CpuBackend(), config, store, { maxSequence: 512 });
  let logits = oracle.forward(Int32Array.from(tokenizer.encode(prompt)));
  const want: number[] = [];
  for (let i = 0; i < 32; i++) {
    const row = (await oracle.backend.download(logits)) as Float32Array;
    logits.dispose();
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
    want.push(best);
    logits = oracle.forward(Int32Array.of(best));
  }
  logits.dispose();
  assert.deepEqual(r.tokens, want);
  assert.equal(pieces.join(''), r.text);
  assert.equal(r.text, tokenizer.decode(r.tokens, { skipSpecialTokens: true }));
  assert.match(r.text, /\w+ \w+/, 'words come out');
});

test('shipped tiny-llama: a chat turn through its template ends at an EOS from generation_config.json', async () => {
  assert.deepEqual(defaults.eosTokenIds, [2, 4]);
  const model = new LlamaModel(new CpuBackend(), config, store, { maxSequence: 512 });
  const r = await generate(model, tokenizer, [{ role: 'user', content: 'Tell me a fortune.' }], { ...defaults, temperature: 0, maxNewTokens: 128 }).result;
  assert.equal(r.finishReason, 'eos');
  assert.ok([2, 4].includes(r.tokens.at(-1)!));
  assert.ok(!r.text.includes('<|im_end|>') && !r.text.includes('</s>'), 'the EOS is not shown');
  assert.ok(r.text.length > 0);
});
