import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { FormatError, InvalidArgumentError } from '../../engine/errors.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { loadModel, type Model } from '../../engine/load-model.js';
import { quantizeModel, saveModel } from '../../engine/quant/model-quant.js';
import { compilePlan, planWeightBytes, PRESETS } from '../../engine/quant/plan.js';
import { snrAndCosine } from '../../engine/quant/report.js';
import { QUANT_METADATA_KEY } from '../../engine/quant/saved.js';
import type { LlamaConfig } from '../../engine/formats/config.js';
import { createLoaderTestServer } from '../server/middleware.mjs';

const server = await createLoaderTestServer();
const backend = await createCpuBackend();
after(async () => {
  backend.dispose();
  await server.close();
});
const SRC = `${server.origin}/__models/tiny-llama/`;

async function logits(m: Model): Promise<Float32Array> {
  const ids = Int32Array.from(m.tokenizer.encode('And God said, Let there be light'));
  m.lm!.resetCache();
  const t = m.forward(ids, { allLogits: true });
  const v = (await backend.download(t)) as Float32Array;
  t.dispose();
  m.lm!.resetCache();
  return v;
}

test('snrAndCosine on known vectors', () => {
  assert.deepEqual(snrAndCosine([1, 2], [1, 2]), { snrDb: Infinity, cosine: 1 });
  // signal 1 + 4 + 4 = 9, noise 0.01 → 10·log10(900)
  const r = snrAndCosine([1, 2, 2], [1, 2, 2.1]);
  assert.ok(Math.abs(r.snrDb - 10 * Math.log10(900)) < 1e-9);
  assert.ok(Math.abs(r.cosine - (1 + 4 + 4.2) / Math.sqrt(9 * (1 + 4 + 4.41))) < 1e-12);
  assert.equal(snrAndCosine([1, 0], [-1, 0]).cosine, -1);
});

test('engine.quantize of a loaded float model equals quantizing at load time (same packed weights, same logits); the original keeps working', async () => {
  const float = await loadModel(SRC, backend, { maxSequence: 64, cache: false });
  const before = await logits(float);
  for (const precision of ['q4', 'mixed'] as const) {
    const atLoad = await loadModel(SRC, backend, { precision, maxSequence: 64, cache: false });
    const later = await quantizeModel(float, precision);
    assert.deepEqual(await logits(later), await logits(atLoad), precision);
    assert.equal(later.lm!.memory().weightBytes, atLoad.lm!.memory().weightBytes);
    assert.deepEqual(later.quantization, atLoad.quantization);
    atLoad.dispose();
    later.dispose();
  }
  assert.deepEqual(await logits(float), before, 'the float model is untouched');
  // 'auto' under a budget, and re-quantizing an already packed model to another format
  const config = float.config as LlamaConfig;
  const auto = await quantizeModel(float, 'auto', { memoryBudget: planWeightBytes(config, compilePlan(PRESETS.q8), true) });
  assert.equal(auto.lm!.memory().weightBytes, planWeightBytes(config, compilePlan(PRESETS.q8), true));
  const q2 = await quantizeModel(auto, 'q2');
  assert.equal(q2.lm!.memory().weightBytes, planWeightBytes(config, compilePlan(PRESETS.q2), true));
  auto.dispose();
  q2.dispose();
  await assert.rejects(quantizeModel(float, { attention: { bits: 7 as 8 } }), InvalidArgumentError);
  float.dispose();
  await assert.rejects(quantizeModel(float, 'q4'), /disposed/);
});

test('save → load: the folder written by engine.save loads back packed, byte for byte the same weights and logits', async () => {
  const float = await loadModel(SRC, backend, { maxSequence: 64, cache: false });
  const mixed = await quantizeModel(float, { attention: { bits: 4 }, ffn: { bits: 3 }, exclude: ['model.layers.5.*'] });
  const files = await saveModel(mixed);
  assert.deepEqual([...files.keys()].sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'quantization.json', 'tokenizer.json', 'tokenizer_config.json'].filter((n) => n !== 'generation_config.json' || float.files.has(n)).sort());
  const header = parseSafetensors(files.get('model.safetensors')!);
  const description = JSON.parse(header.metadata[QUANT_METADATA_KEY]!);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(files.get('quantization.json'))), description);
  assert.deepEqual(description.tensors['model.layers.0.mlp.down_proj.weight'], { shape: [256, 512], bits: 3, groupSize: 128, symmetric: false });
  assert.equal(description.tensors['model.layers.5.mlp.down_proj.weight'], undefined, 'excluded layer saved float');
  assert.equal(header.byName.get('model.layers.5.mlp.down_proj.weight')!.dtype, 'F32');
  assert.equal(description.plan.exclude[0], 'model.layers.5.*');
  // read back as local files (File objects: what a user's file picker gives)
  const back = await loadModel([...files].map(([name, bytes]) => new File([bytes as BlobPart], name)), backend, { maxSequence: 64, cache: false });
  assert.equal(back.lm!.memory().weightBytes, mixed.lm!.memory().weightBytes);
  assert.deepEqual(await logits(back), await logits(mixed));
  const text = (m: Model) => m.generate('The LORD is', { maxNewTokens: 12, temperature: 0 }).result.then((r) => r.tokens);
  assert.deepEqual(await text(back), await text(mixed));
  back.dispose();
  // a file whose description does not match its tensors is a typed error, not garbage weights
  const broken = new Map(files);
  const bad = { ...description, tensors: { ...description.tensors, 'model.layers.0.mlp.up_proj.weight': { shape: [512, 256], bits: 2, groupSize: 128, symmetric: false } } };
  const st = files.get('model.safetensors')!;
  const headerLen = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
  const json = JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + headerLen)));
  json.__metadata__[QUANT_METADATA_KEY] = JSON.stringify(bad);
  let enc = new TextEncoder().encode(JSON.stringify(json));
  enc = Uint8Array.from([...enc, ...new Array((8 - (enc.length % 8)) % 8).fill(0x20)]);
  const rebuilt = new Uint8Array(8 + enc.length + st.length - 8 - headerLen);
  new DataView(rebuilt.buffer).setBigUint64(0, BigInt(enc.length), true);
  rebuilt.set(enc, 8);
  rebuilt.set(st.subarray(8 + headerLen), 8 + enc.length);
  broken.set('model.safetensors', rebuilt);
  await assert.rejects(loadModel([...broken].map(([name, bytes]) => new File([bytes as BlobPart], name)), backend, { cache: false }), (e: unknown) => e instanceof FormatError && /up_proj\.weight.*needs.*U32/.test((e as Error).message));
  mixed.dispose();
  float.dispose();
});
