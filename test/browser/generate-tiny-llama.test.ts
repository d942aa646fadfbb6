import { expect } from '@open-wc/testing';
import type { Backend } from '../../engine/backends/backend.js';
import { createWasmBackend } from '../../engine/backends/wasm/index.js';
import { createWebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { loadTokenizer, type ChatMessage, type Tokenizer } from '../../engine/formats/tokenizer.js';
import { generate, type GenerateInput } from '../../engine/generate/index.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { safetensorsStore } from '../../engine/models/stores.js';
import type { WeightStore } from '../../engine/models/weights.js';

/** The shipped model streamed on the browser backends must give the PyTorch reference's greedy text. */

interface ReferencePrompt {
  name: string;
  input_ids: number[];
  greedy: { tokens: number[]; text: string };
}
interface Reference {
  prompts: ReferencePrompt[];
  chat_template_render: { messages: ChatMessage[]; text: string };
}

const fetchText = async (path: string): Promise<string> => (await fetch(path)).text();

let config: LlamaConfig;
let store: WeightStore;
let tokenizer: Tokenizer;
let reference: Reference;

before(async function () {
  this.timeout(120_000);
  const dir = '/models/tiny-llama/';
  config = parseModelConfig(await fetchText(`${dir}config.json`)) as LlamaConfig;
  const bytes = new Uint8Array(await (await fetch(`${dir}model.safetensors`)).arrayBuffer());
  store = safetensorsStore([{ header: parseSafetensors(bytes), bytes }]);
  tokenizer = loadTokenizer(await fetchText(`${dir}tokenizer.json`), await fetchText(`${dir}tokenizer_config.json`));
  reference = JSON.parse(await fetchText('/test/fixtures/models/tiny-llama/reference.json')) as Reference;
});

// SwiftShader runs this model at about 0.5 token/s, so webgpu checks the first tokens of the first
// prompt and of the chat prompt (through the template); wasm runs every prompt to the end.
const PLANS = [
  { name: 'webgpu', create: () => createWebGPUBackend(), some: true, tokens: 6 },
  { name: 'wasm', create: () => createWasmBackend(), some: false, tokens: Infinity },
] as const;

for (const plan of PLANS) {
  describe(`shipped tiny-llama streamed on ${plan.name}`, function () {
    this.timeout(600_000);
    let backend: Backend;
    before(async () => { backend = await plan.create(); });
    after(() => backend?.dispose());

    it('reference prompts: the greedy tokens and text PyTorch gives', async () => {
      const model = new LlamaModel(backend, config, store, { maxSequence: 256 });
      const chat = reference.chat_template_render;
      const chatIds = tokenizer.encode(chat.text, { addSpecialTokens: false }).join();
      const isChat = (p: ReferencePrompt) => chatIds === p.input_ids.join();
      const prompts = plan.some ? [reference.prompts[0]!, reference.prompts.find(isChat)!] : reference.prompts;
      expect(prompts.filter((p) => p !== undefined && isChat(p)).length, 'the chat prompt is among them').to.equal(1);
      try {
        for (const p of prompts) {
          const input: GenerateInput = isChat(p) ? chat.messages : { tokens: p.input_ids };
          const want = p.greedy.tokens.slice(0, plan.tokens);
          let streamed = '';
          const r = await generate(model, tokenizer, input, {
            temperature: 0, maxNewTokens: want.length, ignoreEos: true, skipSpecialTokens: false, onToken: (e) => { streamed += e.text; },
          }).result;
          expect(r.tokens, p.name).to.deep.equal(want);
          expect(streamed, p.name).to.equal(r.text);
          if (want.length === p.greedy.tokens.length) expect(streamed, p.name).to.equal(p.greedy.text);
          else expect(p.greedy.text.startsWith(streamed), `${p.name}: ${JSON.stringify(streamed)}`).to.equal(true);
          console.log(`${plan.name} ${p.name}: ${r.tokens.length} tokens, ttft ${r.metrics.timeToFirstTokenMs.toFixed(1)} ms, prefill ${r.metrics.prefillTokensPerSecond.toFixed(0)} tok/s, decode ${r.metrics.decodeTokensPerSecond.toFixed(1)} tok/s`);
        }
      } finally {
        model.dispose();
      }
    });
  });
}
