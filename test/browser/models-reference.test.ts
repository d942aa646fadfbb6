import { expect } from '@open-wc/testing';
import { getEngine, type BackendName, type Model } from '../../engine/index.js';
import { cosine, maxAbsDiff } from '../helpers/compare.js';

// PyTorch float32 CPU references (tools/train/make_references.py) for the shipped models, checked on
// every backend. Greedy continuations are checked by teacher forcing (one forward pass over prompt +
// reference tokens; the argmax at each position must be the next reference token), which is exactly
// the condition for greedy decoding to reproduce them, plus a real incremental decode through the KV
// cache.

interface Greedy { tokens: number[] }
interface LmPrompt { name: string; input_ids: number[]; argmax: number[]; logits_first16?: number[][]; last_logits: number[]; greedy: Greedy }
interface LmReference { prompts: LmPrompt[]; tokenizer?: { text: string; ids: number[]; decoded: string }[]; gguf?: Record<'q8_0' | 'q4_0', { file: string; prompts: LmPrompt[] }> }
interface BertInput { name: string; text: string; input_ids: number[]; token_type_ids: number[]; last_hidden_state: number[][]; cls: number[]; mean_pooled: number[] }

const abs = (path: string) => new URL(path, location.href).href;
const fixture = async <T>(name: string): Promise<T> => (await fetch(`/test/fixtures/models/${name}/reference.json`)).json() as Promise<T>;

const LOGIT_TOLERANCE = 1e-3;
const BACKENDS: BackendName[] = ['cpu', 'wasm', 'webgpu'];
// SwiftShader decodes this model at about 1 token/s, so the incremental decode there is shorter.
const DECODE_STEPS: Record<BackendName, number> = { cpu: 64, wasm: 64, webgpu: 6, webnn: 64 };



function argmaxRow(x: Float32Array, row: number, v: number): number {
  let best = 0;
  for (let j = 1; j < v; j++) if (x[row * v + j]! > x[row * v + best]!) best = j;
  return best;
}

async function logitsOf(model: Model, ids: number[]): Promise<Float32Array> {
  model.lm!.resetCache();
  const t = model.forward(Int32Array.from(ids), { allLogits: true });
  const out = (await model.backend.download(t)) as Float32Array;
  t.dispose();
  return out;
}

function checkLm(label: string, src: () => string, backend: BackendName, ref: () => Promise<LmReference>, pick: (r: LmReference) => LmPrompt[], opts: { file?: string; logits16?: boolean } = {}) {
  describe(`${label} on ${backend}`, function () {
    let model: Model;
    let prompts: LmPrompt[];
    before(async () => {
      prompts = pick(await ref());
      model = await getEngine().load(src(), { backend, maxSequence: 128, ...(opts.file ? { file: opts.file } : {}) });
      expect(model.backend.name).to.equal(backend);
    });
    after(() => getEngine().unload(model));

    it(`logits match PyTorch within ${LOGIT_TOLERANCE} at every position`, async () => {
      const v = model.lm!.vocabSize;
      for (const p of prompts) {
        const logits = await logitsOf(model, p.input_ids);
        const t = p.input_ids.length;
        const last = logits.subarray((t - 1) * v, t * v);
        const err = maxAbsDiff(last, p.last_logits);
        expect(err, `${p.name}: last-position logits max |error|`).to.be.at.most(LOGIT_TOLERANCE);
        if (opts.logits16 && p.logits_first16) {
          for (let i = 0; i < t; i++) expect(maxAbsDiff(logits.subarray(i * v, i * v + 16), p.logits_first16[i]!), `${p.name} position ${i}`).to.be.at.most(LOGIT_TOLERANCE);
        }
        expect(Array.from({ length: t }, (_, i) => argmaxRow(logits, i, v)), `${p.name} argmax`).to.deep.equal(p.argmax);
      }
    });

    it('reproduces the 64-token greedy continuations (teacher forcing)', async () => {
      const v = model.lm!.vocabSize;
      for (const p of prompts) {
        const g = p.greedy.tokens;
        expect(g.length).to.equal(64);
        const ids = [...p.input_ids, ...g.slice(0, -1)];
        const logits = await logitsOf(model, ids);
        const t0 = p.input_ids.length - 1;
        const picked = g.map((_, i) => argmaxRow(logits, t0 + i, v));
        expect(picked, `${p.name} greedy tokens`).to.deep.equal(g);
      }
    });

    it(`decodes greedily through the KV cache (${DECODE_STEPS[backend]} tokens, token by token)`, async () => {
      const p = prompts[0]!;
      model.lm!.resetCache();
      const result = await model.generate({ tokens: p.input_ids }, { maxNewTokens: DECODE_STEPS[backend], temperature: 0, ignoreEos: true, reuseCache: false }).result;
      expect(result.tokens).to.deep.equal(p.greedy.tokens.slice(0, DECODE_STEPS[backend]));
    });
  });
}

for (const backend of BACKENDS) {
  checkLm('tiny-llama (safetensors)', () => abs('/models/tiny-llama/'), backend, () => fixture<LmReference>('tiny-llama'), (r) => r.prompts, { logits16: true });
  checkLm('tiny-gpt2', () => abs('/models/tiny-gpt2/'), backend, () => fixture<LmReference>('tiny-gpt2'), (r) => r.prompts, { logits16: true });
  // Llama-3 rope scaling (original context 16 positions): the prompt and its continuation run far past it
  checkLm('tiny-llama3-rope (llama3 rope_scaling)', () => abs('/test/fixtures/models/tiny-llama3-rope/'), backend, () => fixture<LmReference>('tiny-llama3-rope'), (r) => r.prompts, { logits16: true });
}
for (const backend of ['cpu', 'wasm', 'webgpu'] as BackendName[]) {
  for (const q of ['q8_0', 'q4_0'] as const) {
    checkLm(`tiny-llama GGUF ${q}`, () => abs('/models/tiny-llama/'), backend, () => fixture<LmReference>('tiny-llama'), (r) => r.gguf![q].prompts, { file: `tiny-llama-${q}.gguf` });
  }
}

describe('tokenizer of the shipped model', () => {
  it('gives the reference ids and decodes round-trip', async () => {
    const ref = await fixture<LmReference>('tiny-llama');
    const model = await getEngine().load(abs('/models/tiny-llama/'), { backend: 'cpu', maxSequence: 128 });
    try {
      for (const t of ref.tokenizer!) {
        expect(model.tokenizer.encode(t.text), t.text).to.deep.equal(t.ids);
        expect(model.tokenizer.decode(t.ids, { skipSpecialTokens: true }), t.text).to.equal(t.decoded);
      }
    } finally {
      getEngine().unload(model);
    }
  });
});

for (const backend of BACKENDS) {
  describe(`tiny-bert on ${backend}`, () => {
    it('last hidden state within 1e-3 and CLS / mean embeddings with cosine ≥ 0.9999', async () => {
      const ref = await fixture<{ inputs: BertInput[] }>('tiny-bert');
      const model = await getEngine().load(abs('/models/tiny-bert/'), { backend });
      try {
        for (const input of ref.inputs) {
          // Sentence pairs (token type 1 present) are encoded by the fixture script as two texts.
          if (input.token_type_ids.every((x) => x === 0)) expect(model.tokenizer.encode(input.text, { addSpecialTokens: true }), `${input.name} ids`).to.deep.equal(input.input_ids);
          const out = await model.encoder!.embed(Int32Array.from(input.input_ids), Int32Array.from(input.token_type_ids));
          const d = out.hiddenSize;
          input.last_hidden_state.forEach((row, i) => expect(maxAbsDiff(out.lastHiddenState.subarray(i * d, (i + 1) * d), row), `${input.name} token ${i}`).to.be.at.most(LOGIT_TOLERANCE));
          expect(cosine(out.cls, input.cls), `${input.name} CLS cosine`).to.be.at.least(0.9999);
          expect(cosine(out.mean, input.mean_pooled), `${input.name} mean cosine`).to.be.at.least(0.9999);
        }
      } finally {
        getEngine().unload(model);
      }
    });
  });
}
