import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { loadTokenizer, type ChatMessage } from '../../engine/formats/tokenizer.js';
import { generate, generationDefaults, type GenerateInput } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { safetensorsStore } from '../../engine/models/stores.js';

// The shipped trained model (models/tiny-llama: 4.4M-parameter Llama, BPE-4096 tokenizer, f16 safetensors)
// against the PyTorch/transformers fixture (tools/train/make_references.py, float32, eager attention).
const dir = new URL('../../models/tiny-llama/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const config = parseModelConfig(read('config.json').toString('utf8')) as LlamaConfig;
const bytes = new Uint8Array(read('model.safetensors'));
const store = safetensorsStore([{ header: parseSafetensors(bytes), bytes }]);
const tokenizer = loadTokenizer(read('tokenizer.json').toString('utf8'), read('tokenizer_config.json').toString('utf8'));
const defaults = generationDefaults(read('generation_config.json').toString('utf8'));

interface ReferencePrompt {
  name: string;
  input_ids: number[];
  /** 64 greedy tokens past any EOS, their decoded text (special tokens shown), and transformers' generate() output. */
  greedy: { tokens: number[]; text: string; min_margin: number; hf_generate: number[] };
}
const reference = JSON.parse(readFileSync(new URL('../fixtures/models/tiny-llama/reference.json', import.meta.url), 'utf8')) as {
  prompts: ReferencePrompt[];
  chat_template_render: { messages: ChatMessage[]; text: string };
};

test('shipped tiny-llama: streamed greedy continuations equal the PyTorch reference, token for token and character for character', async () => {
  const model = new LlamaModel(new CpuBackend(), config, store, { maxSequence: 512 });
  const chat = reference.chat_template_render;
  assert.equal(tokenizer.applyChatTemplate(chat.messages, { addGenerationPrompt: true }), chat.text);
  assert.ok(reference.prompts.length >= 4);
  let chats = 0;
  for (const p of reference.prompts) {
    // the chat prompt goes in as messages, through the template and the tokenizer
    const isChat = tokenizer.encode(chat.text, { addSpecialTokens: false }).join() === p.input_ids.join();
    const input: GenerateInput = isChat ? chat.messages : { tokens: p.input_ids };
    if (isChat) chats++;
    let streamed = '';
    const r = await generate(model, tokenizer, input, {
      temperature: 0, maxNewTokens: p.greedy.tokens.length, ignoreEos: true, skipSpecialTokens: false, onToken: (e) => { streamed += e.text; },
    }).result;
    assert.equal(r.usage.promptTokens, p.input_ids.length, p.name);
    assert.deepEqual(r.tokens, p.greedy.tokens, `${p.name} (smallest top-1 margin ${p.greedy.min_margin})`);
    assert.equal(streamed, p.greedy.text, p.name);
    assert.equal(r.text, p.greedy.text, p.name);
    // transformers' generate() with the model's generation_config EOS ids stops where we stop
    const e = await generate(model, tokenizer, input, { ...defaults, temperature: 0, maxNewTokens: p.greedy.tokens.length }).result;
    assert.deepEqual(e.tokens, p.greedy.hf_generate, `${p.name}: generate with EOS ${defaults.eosTokenIds}`);
    assert.equal(e.finishReason, e.tokens.length < p.greedy.tokens.length ? 'eos' : 'length', p.name);
    assert.equal(e.text, tokenizer.decode(e.tokens.filter((t) => !defaults.eosTokenIds!.includes(t)), { skipSpecialTokens: true }), p.name);
    assert.ok(e.metrics.reusedTokens === p.input_ids.length - 1, `${p.name}: the second call reuses the cached prompt`);
  }
  assert.equal(chats, 1, 'the chat prompt went through the chat template');
});
