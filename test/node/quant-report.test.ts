import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { LlamaConfig } from '../../engine/formats/config.js';
import { loadModel } from '../../engine/load-model.js';
import { compilePlan, planWeightBytes, PRESETS } from '../../engine/quant/plan.js';
import { formatQuantizationReport, quantizationReport } from '../../engine/quant/report.js';
import { createLoaderTestServer } from '../server/middleware.mjs';

// engine.quantizationReport on the shipped model, cpu backend (which stacks q/k/v and gate/up: the report then
// compares the stacked projections as forward() runs them)
const server = await createLoaderTestServer();
const backend = await createCpuBackend();
after(async () => {
  backend.dispose();
  await server.close();
});
const SRC = `${server.origin}/__models/tiny-llama/`;
const heldout = readFileSync(new URL('../../models/tiny-llama/heldout.txt', import.meta.url), 'utf8');

test('quantizationReport: per-layer SNR falls with the bits, q8 costs < 0.5 % perplexity, memory matches the plan', async () => {
  const float = await loadModel(SRC, backend, { maxSequence: 256, cache: false });
  const options = { calibrationText: heldout.slice(0, 4000), evaluationText: heldout.slice(4000, 12000), windowTokens: 192, maxWindows: 1, calibrationTokens: 96, decodeTokens: 4 };
  const reports = new Map<string, Awaited<ReturnType<typeof quantizationReport>>['report']>();
  for (const p of ['q8', 'q4', 'q2'] as const) reports.set(p, (await quantizationReport(float, p, options)).report);
  const q8 = reports.get('q8')!;
  const q4 = reports.get('q4')!;
  const q2 = reports.get('q2')!;
  // the cpu backend stacks q/k/v and gate/up (fuse): 4 projections a layer as forward() runs them; lm_head is tied
  assert.deepEqual(q8.layers.slice(0, 4).map((l) => l.name), ['qkv', 'o', 'gate_up', 'down'].map((n) => `model.layers.0.${n === 'gate_up' || n === 'down' ? 'mlp' : 'self_attn'}.${n}_proj.weight`));
  assert.equal(q8.layers.length, 6 * 4);
  assert.deepEqual(q8.layers.map((l) => l.layerClass), Array.from({ length: 6 }, () => ['attention', 'attention', 'ffn', 'ffn']).flat());
  assert.equal(q8.calibrationTokens, 96);
  for (const r of [q8, q4, q2]) assert.equal(r.perplexity.original, q8.perplexity.original, 'same float baseline');
  for (let i = 0; i < q8.layers.length; i++) {
    const [a, b, c] = [q8.layers[i]!, q4.layers[i]!, q2.layers[i]!];
    assert.ok(a.weightSnrDb > b.weightSnrDb && b.weightSnrDb > c.weightSnrDb, `${a.name}: weight SNR ${a.weightSnrDb} > ${b.weightSnrDb} > ${c.weightSnrDb}`);
    assert.ok(a.outputSnrDb > c.outputSnrDb, `${a.name}: output SNR`);
    // int8 g32: step ≤ max|w|/127 per group → SNR well above 35 dB on trained weights
    assert.ok(a.weightSnrDb > 35 && a.outputCosine > 0.999, `${a.name}: q8 ${a.weightSnrDb} dB, cos ${a.outputCosine}`);
  }
  assert.ok(Math.abs(q8.perplexity.deltaPercent) < 0.5, `q8 Δ perplexity ${q8.perplexity.deltaPercent} %`);
  assert.ok(q2.perplexity.deltaPercent > q4.perplexity.deltaPercent);
  const config = float.config as LlamaConfig;
  assert.equal(q4.memory.quantizedBytes, planWeightBytes(config, compilePlan(PRESETS.q4), true));
  assert.equal(q4.memory.originalBytes, planWeightBytes(config, null, true));
  assert.ok(q4.decode.originalTokensPerSecond > 0 && q4.decode.quantizedTokensPerSecond > 0);
  const md = formatQuantizationReport(q4);
  assert.match(md, /\| perplexity \| \d+\.\d{3} \| \d+\.\d{3} \| \+\d+\.\d\d % \|/);
  assert.equal(md.split('\n').filter((l) => l.startsWith('| model.layers.')).length, 24);
  await assert.rejects(quantizationReport(float, 'q4', { calibrationText: '' }), InvalidArgumentError);
  float.dispose();
});
