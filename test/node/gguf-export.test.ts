import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import { GgmlType, parseGguf } from '../../engine/formats/gguf.js';
import { loadModel, type Model } from '../../engine/load-model.js';
import { quantizeModel, saveGguf } from '../../engine/quant/model-quant.js';
import { createLoaderTestServer } from '../server/middleware.mjs';

const server = await createLoaderTestServer();
const backend = await createCpuBackend();
after(async () => {
  backend.dispose();
  await server.close();
});
const SRC = `${server.origin}/__models/tiny-llama/`;
const heldout = readFileSync(new URL('../../models/tiny-llama/heldout.txt', import.meta.url), 'utf8');

async function logits(m: Model, ids: number[]): Promise<Float32Array> {
  m.lm!.resetCache();
  const t = m.forward(Int32Array.from(ids), { allLogits: true });
  const v = (await backend.download(t)) as Float32Array;
  t.dispose();
  m.lm!.resetCache();
  return v;
}

test('saveGguf: a q4 model written as GGUF (Q4_0 projections, Q8_0 embedding) loads back with the same tokenizer, weights and logits', async () => {
  const float = await loadModel(SRC, backend, { maxSequence: 64, cache: false });
  const q4 = await quantizeModel(float, 'q4');
  const file = await saveGguf(q4);
  const h = parseGguf(file, 'tiny-llama-q4.gguf');
  const type = (n: string) => h.byName.get(n)!.typeName;
  assert.equal(type('blk.0.attn_q.weight'), 'Q4_0');
  assert.equal(type('blk.5.ffn_down.weight'), 'Q4_0');
  assert.equal(type('token_embd.weight'), 'Q8_0');
  assert.equal(type('output_norm.weight'), 'F32');
  assert.equal(h.byName.has('output.weight'), false, 'tied: no output.weight');
  assert.equal(h.metadata.get('tokenizer.ggml.pre'), 'gpt-2');
  assert.equal(h.metadata.get('general.file_type'), 2);
  const back = await loadModel([new File([file as BlobPart], 'tiny-llama-q4.gguf')], backend, { maxSequence: 64, cache: false, file: 'tiny-llama-q4.gguf' });
  // the GGUF tokenizer (rebuilt from tokenizer.ggml.*) encodes exactly as tokenizer.json does
  const sample = heldout.slice(0, 3000);
  assert.deepEqual(back.tokenizer.encode(sample), q4.tokenizer.encode(sample));
  assert.equal(back.tokenizer.decode(q4.tokenizer.encode(sample), { skipSpecialTokens: true }), sample);
  const ids = q4.tokenizer.encode('And God said, Let there be light');
  const [a, b] = [await logits(q4, ids), await logits(back, ids)];
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  // the same packed values; only the tied lm_head's summation order differs (f32 table vs packed 8-bit rows)
  assert.ok(max < 1e-4, `max |Δ logits| ${max}`);
  const text = (m: Model) => m.generate('The LORD is', { maxNewTokens: 16, temperature: 0 }).result.then((r) => r.tokens);
  assert.deepEqual(await text(back), await text(q4));
  back.dispose();
  // q3 weights have no lossless ggml type: a typed error naming the tensor
  const q3 = await quantizeModel(float, 'q3');
  await assert.rejects(saveGguf(q3), (e: unknown) => e instanceof InvalidArgumentError && /self_attn\.q_proj\.weight" is packed int3 g128 asymmetric/.test((e as Error).message));
  q3.dispose();
  // a float model is written as F32 and loads back exactly
  const f = await saveGguf(float);
  assert.equal(parseGguf(f).byName.get('blk.0.attn_k.weight')!.type, GgmlType.F32);
  const fb = await loadModel([new File([f as BlobPart], 'f.gguf')], backend, { maxSequence: 64, cache: false, file: 'f.gguf' });
  // not bit-exact: GGUF stores rms_norm_eps as f32 (1e-5 → 9.99999975e-6)
  const [x, y] = [await logits(fb, ids), await logits(float, ids)];
  assert.ok(x.every((v, i) => Math.abs(v - y[i]!) < 1e-4));
  fb.dispose();
  q4.dispose();
  float.dispose();
});
