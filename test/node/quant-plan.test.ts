import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { InvalidArgumentError, OutOfMemoryError } from '../../engine/errors.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { loadModel } from '../../engine/load-model.js';
import { AUTO_LADDER, autoPlan, compilePlan, describePlan, layerClass, packedBytes, planWeightBytes, PRESETS, resolvePlan } from '../../engine/quant/plan.js';
import { createLoaderTestServer } from '../server/middleware.mjs';

const config = parseModelConfig(readFileSync(new URL('../../models/tiny-llama/config.json', import.meta.url), 'utf8'), 'config.json') as LlamaConfig;
const Q = 'model.layers.3.self_attn.q_proj.weight';
const DOWN = 'model.layers.3.mlp.down_proj.weight';

test('layer classes by Hugging Face name; norms and biases have none', () => {
  assert.equal(layerClass(Q), 'attention');
  assert.equal(layerClass('model.layers.0.self_attn.o_proj.weight'), 'attention');
  assert.equal(layerClass(DOWN), 'ffn');
  assert.equal(layerClass('lm_head.weight'), 'lmHead');
  assert.equal(layerClass('model.embed_tokens.weight'), 'embedding');
  for (const n of ['model.norm.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.0.self_attn.q_proj.bias']) assert.equal(layerClass(n), null, n);
});

test('presets: the seeds’ mixed plan is embedding 8-bit, attention 3-bit, ffn 2-bit (g128 asymmetric, clip search), lm_head 4-bit g32 symmetric', () => {
  const p = compilePlan(PRESETS.mixed);
  assert.deepEqual(p(Q, [256, 256]), { format: { bits: 3, groupSize: 128, symmetric: false }, clipSearch: true });
  assert.deepEqual(p(DOWN, [256, 512]), { format: { bits: 2, groupSize: 128, symmetric: false }, clipSearch: true });
  assert.deepEqual(p('lm_head.weight', [4096, 256]), { format: { bits: 4, groupSize: 32, symmetric: true }, clipSearch: false });
  assert.deepEqual(p('model.embed_tokens.weight', [4096, 256]), { format: { bits: 8, groupSize: 32, symmetric: true }, clipSearch: false });
  assert.equal(p('model.norm.weight', [256]), null);
  assert.equal(p(Q, [256]), null, 'not a matrix');
  assert.equal(compilePlan(PRESETS.q4)(Q, [256, 100]), null, 'K not a multiple of the group stays float');
});

test('exclusions (globs and RegExps) keep tensors float; layer overrides win over the class, first match first', () => {
  const p = compilePlan({
    attention: { bits: 4 },
    ffn: { bits: 4, groupSize: 64, symmetric: false },
    exclude: ['model.layers.0.*', /layers\.5\.mlp\.up/],
    layers: [
      { match: '*.down_proj.weight', spec: { bits: 8 } },
      { match: 'model.layers.3.*', spec: null },
      { match: '*.down_proj.weight', spec: { bits: 2 } },
    ],
  });
  assert.equal(p('model.layers.0.self_attn.q_proj.weight', [256, 256]), null);
  assert.equal(p('model.layers.5.mlp.up_proj.weight', [512, 256]), null);
  assert.deepEqual(p('model.layers.5.mlp.gate_proj.weight', [512, 256])?.format, { bits: 4, groupSize: 64, symmetric: false });
  assert.deepEqual(p(DOWN, [256, 512])?.format, { bits: 8, groupSize: 32, symmetric: true });
  assert.equal(p('model.layers.3.mlp.gate_proj.weight', [512, 256]), null, 'override to float');
  assert.equal(p('model.layers.10.self_attn.q_proj.weight', [256, 256])?.format.bits, 4, 'globs are anchored: layers.1 does not match layers.10');
  assert.equal(compilePlan({ exclude: ['model.layers.1.*'], attention: { bits: 8 } })('model.layers.10.self_attn.q_proj.weight', [256, 256])?.format.bits, 8);
});

test('bad plans are typed errors that say what is wrong', () => {
  const bad: [unknown, RegExp][] = [
    [{ attention: { bits: 5 } }, /plan\.attention: bits must be one of 8, 4, 3, 2/],
    [{ ffn: { bits: 4, groupSize: 16 } }, /plan\.ffn: groupSize must be one of 32, 64, 128/],
    [{ norms: { bits: 8 } }, /Unknown quantization plan field "norms"/],
    [{ embedding: { bits: 6 } }, /plan\.embedding: bits must be one of/],
    [{ exclude: [''] }, /plan\.exclude\[0\]/],
    [null, /must be an object/],
  ];
  for (const [plan, message] of bad) assert.throws(() => compilePlan(plan as never), (e: unknown) => e instanceof InvalidArgumentError && message.test((e as Error).message), JSON.stringify(plan));
  assert.throws(() => resolvePlan('q5' as never), /not one of original, auto, q8, q4, q3, q2, mixed/);
  assert.equal(resolvePlan('original').plan, null);
});

test('packed bytes: int4 g32 symmetric is 0.5625 bytes a weight, 2-bit g128 asymmetric 0.28125', () => {
  assert.equal(packedBytes(4096, 4096, { bits: 4, groupSize: 32, symmetric: true }), 4096 * 4096 * 0.5625);
  assert.equal(packedBytes(4096, 4096, { bits: 2, groupSize: 128, symmetric: false }), 4096 * 4096 * 0.28125);
});

test("'auto' picks the first ladder step that fits the budget; nothing fitting is an OutOfMemoryError naming the smallest size", () => {
  const original = planWeightBytes(config, null, true);
  const sizes = AUTO_LADDER.map((p) => planWeightBytes(config, compilePlan(p), true));
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i]! <= sizes[i - 1]!, `ladder step ${i} is not smaller`);
  assert.deepEqual(autoPlan(config, original, true).plan, {}, 'fits as it is');
  assert.equal(autoPlan(config, sizes[0]!, true).plan, PRESETS.q8);
  assert.equal(autoPlan(config, sizes[2]! + 1, true).plan, PRESETS.q4);
  assert.equal(autoPlan(config, sizes[2]! - 1, true).plan, AUTO_LADDER[3]);
  assert.throws(() => autoPlan(config, sizes.at(-1)! - 1, true), (e: unknown) => e instanceof OutOfMemoryError && e.requestedBytes === sizes.at(-1));
  assert.throws(() => resolvePlan('auto', { config, budgetBytes: undefined, tiedEmbeddings: true }), /needs memoryBudget/);
});

test('describePlan is plain JSON with the defaults filled in', () => {
  const d = describePlan({ ffn: { bits: 3 }, exclude: [/lm_head/, 'model.layers.0.*'] });
  assert.deepEqual(JSON.parse(JSON.stringify(d)), {
    attention: null,
    ffn: { bits: 3, groupSize: 128, symmetric: false, clipSearch: true },
    lmHead: null,
    embedding: null,
    norms: null,
    exclude: ['/lm_head/', 'model.layers.0.*'],
    layers: [],
  });
});

const server = await createLoaderTestServer();
after(() => server.close());

test('the estimate of planWeightBytes is exactly what a load with that plan holds on the backend', async () => {
  const backend = await createCpuBackend();
  for (const precision of ['original', 'q8', 'q4', 'mixed', { ffn: { bits: 4 as const }, exclude: ['model.layers.2.*'] }] as const) {
    const m = await loadModel(`${server.origin}/__models/tiny-llama/`, backend, { precision, maxSequence: 16, cache: false });
    const want = planWeightBytes(config, resolvePlan(precision).plan, true);
    assert.equal(m.lm!.memory().weightBytes, want, JSON.stringify(precision));
    m.dispose();
  }
  // 'auto' under a budget between q4 and q8 loads the q4 step
  const budget = planWeightBytes(config, compilePlan(PRESETS.q4), true) + 1000;
  const m = await loadModel(`${server.origin}/__models/tiny-llama/`, backend, { precision: 'auto', memoryBudget: budget, maxSequence: 16, cache: false });
  assert.ok(m.lm!.memory().weightBytes <= budget);
  assert.equal(m.lm!.memory().weightBytes, planWeightBytes(config, compilePlan(PRESETS.q4), true));
  m.dispose();
  await assert.rejects(loadModel(`${server.origin}/__models/tiny-llama/`, backend, { precision: 'auto', memoryBudget: 1000, cache: false }), OutOfMemoryError);
  backend.dispose();
});
