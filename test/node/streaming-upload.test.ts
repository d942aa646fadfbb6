import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { parseSafetensors, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { StreamingGgufUpload, StreamingSafetensorsUpload } from '../../engine/models/streaming-upload.js';
import { FormatError } from '../../engine/errors.js';
import { GgmlType, parseGguf } from '../../engine/formats/gguf.js';
import { ggufLlamaConfig, ggufTensorF32, ggufTensorPacked, ggufToHfName } from '../../engine/formats/gguf-llama.js';
import { disposeQuantized } from '../../engine/quant/quantized-tensor.js';
import { Gpt2Model, gpt2Tensors, transpose } from '../../engine/models/gpt2/gpt2.js';
import { parseModelConfig, type Gpt2Config } from '../../engine/formats/config.js';
import { safetensorsStore } from '../../engine/models/stores.js';
import { writeGguf } from '../fixtures/formats/gguf-writer.js';

const FILE = new Uint8Array(readFileSync(new URL('../../models/tiny-llama/model.safetensors', import.meta.url)));

test('tensors are uploaded as their bytes arrive, identical to parsing the whole file', async () => {
  const backend = await createCpuBackend();
  const up = new StreamingSafetensorsUpload(backend, 'model.safetensors');
  const header = parseSafetensors(FILE);
  const chunks = [1, 7, 100, 65_536, 3, 1_000_003];
  let offset = 0;
  let i = 0;
  const seen: number[] = [];
  while (offset < FILE.length) {
    const n = Math.min(chunks[i++ % chunks.length]!, FILE.length - offset);
    up.push(offset, FILE.subarray(offset, offset + n));
    offset += n;
    seen.push(up.progress.tensors);
  }
  assert.equal(up.progress.tensors, header.tensors.length);
  // uploads happened along the way, not all at the end
  assert.ok(seen.filter((n) => n > 0 && n < header.tensors.length).length > 10);
  for (const info of header.tensors) {
    const t = up.take(info.name)!;
    assert.deepEqual([...t.shape], [...info.shape]);
    const got = (await backend.download(t)) as Float32Array;
    assert.deepEqual(got, safetensorsToF32(info, FILE, 0));
    t.dispose();
  }
  assert.equal(up.take(header.tensors[0]!.name), null, 'taken once');
  assert.equal(backend.memory().allocatedBytes, 0);
});

test('a corrupt header fails on the first bytes; dispose frees what was uploaded', async () => {
  const backend = await createCpuBackend();
  const bad = new StreamingSafetensorsUpload(backend, 'bad.safetensors');
  const prefix = new Uint8Array(16);
  new DataView(prefix.buffer).setUint32(0, 4, true);
  prefix.set([0x5b, 0x5d, 0x20, 0x20], 8);
  assert.throws(() => bad.push(0, prefix), /does not start with "\{"/);

  const up = new StreamingSafetensorsUpload(backend, 'model.safetensors');
  up.push(0, FILE.subarray(0, 3_000_000));
  assert.ok(up.progress.tensors > 0);
  assert.ok(backend.memory().allocatedBytes > 0);
  up.dispose();
  assert.equal(backend.memory().allocatedBytes, 0);
});

const GGUF = new Uint8Array(readFileSync(new URL('../../models/tiny-llama/tiny-llama-q4_0.gguf', import.meta.url)));

test('GGUF: the header is read as soon as it is in; Q4_0 projections upload packed, the rest f32, as their bytes arrive', async () => {
  const backend = await createCpuBackend();
  const up = new StreamingGgufUpload(backend, 'tiny-llama-q4_0.gguf');
  const header = parseGguf(GGUF);
  const config = ggufLlamaConfig(header);
  const chunks = [5, 64, 4099, 65_536, 1, 250_001];
  let offset = 0;
  let i = 0;
  const seen: number[] = [];
  let headerAt = -1;
  while (offset < GGUF.length) {
    const n = Math.min(chunks[i++ % chunks.length]!, GGUF.length - offset);
    up.push(offset, GGUF.subarray(offset, offset + n));
    offset += n;
    if (headerAt < 0 && up.header) headerAt = offset;
    seen.push(up.progress.tensors);
  }
  assert.ok(headerAt > 0 && headerAt < GGUF.length / 4, `header parsed after ${headerAt} of ${GGUF.length} bytes`);
  assert.equal(up.config?.numHiddenLayers, config.numHiddenLayers);
  assert.equal(up.progress.tensors, header.tensors.length);
  assert.ok(seen.filter((n) => n > 0 && n < header.tensors.length).length > 10, 'uploads happened along the way');
  let packed = 0;
  for (const info of header.tensors) {
    const name = ggufToHfName(info.name)!;
    const q = up.takeQuantized(name);
    if (q) {
      packed++;
      const want = ggufTensorPacked(header, config, info, GGUF, 0);
      assert.deepEqual(await backend.download(q.data), want.data, `${name} codes`);
      assert.deepEqual(await backend.download(q.scales), want.scales, `${name} scales`);
      disposeQuantized(q);
    } else {
      const t = up.take(name)!;
      assert.ok(t, `${name} uploaded`);
      assert.deepEqual(await backend.download(t), ggufTensorF32(header, config, info, GGUF, 0), `${name} values`);
      t.dispose();
    }
  }
  assert.ok(packed >= 7 * config.numHiddenLayers, `${packed} projections stayed packed`);
  assert.equal(backend.memory().allocatedBytes, 0);
});

test('GGUF: an unsupported architecture fails with the header, before any tensor data; dispose frees uploads', async () => {
  const backend = await createCpuBackend();
  const file = writeGguf({ metadata: [['general.architecture', { t: 'str', v: 'mamba' }]], tensors: [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) }] });
  const bad = new StreamingGgufUpload(backend, 'mamba.gguf');
  assert.throws(() => bad.push(0, file), (e: unknown) => e instanceof FormatError && /architecture "mamba" is not supported/.test((e as Error).message));

  const up = new StreamingGgufUpload(backend, 'tiny-llama-q4_0.gguf');
  up.push(0, GGUF.subarray(0, Math.floor(GGUF.length / 2)));
  assert.ok(up.progress.tensors > 0);
  assert.ok(backend.memory().allocatedBytes > 0);
  up.dispose();
  assert.equal(backend.memory().allocatedBytes, 0);
});

test('GPT-2: Conv1D weights stream in transposed, c_attn split into q, k and v, as Gpt2Model uses them', async () => {
  const file = new Uint8Array(readFileSync(new URL('../../models/tiny-gpt2/model.safetensors', import.meta.url)));
  const backend = await createCpuBackend();
  const up = new StreamingSafetensorsUpload(backend, 'model.safetensors', undefined, gpt2Tensors);
  for (let offset = 0; offset < file.length; offset += 50_000) up.push(offset, file.subarray(offset, Math.min(file.length, offset + 50_000)));
  const header = parseSafetensors(file);
  const info = header.tensors.find((t) => t.name.endsWith('h.0.attn.c_attn.weight'))!;
  const [inDim, outDim] = info.shape as [number, number];
  const full = transpose(safetensorsToF32(info, file, 0), inDim, outDim);
  const d = outDim / 3;
  for (const [i, part] of ['q', 'k', 'v'].entries()) {
    const t = up.take(`${info.name}#${part}`)!;
    assert.deepEqual([...t.shape], [d, inDim]);
    assert.deepEqual(await backend.download(t), full.slice(i * d * inDim, (i + 1) * d * inDim));
    t.dispose();
  }
  assert.equal(up.take(info.name), null, 'the fused tensor itself is not uploaded');
  const fc = header.tensors.find((t) => t.name.endsWith('h.1.mlp.c_fc.weight'))!;
  const fcT = up.take(`${fc.name}#T`)!;
  assert.deepEqual([...fcT.shape], [fc.shape[1], fc.shape[0]]);
  fcT.dispose();
  up.dispose();
  assert.equal(backend.memory().allocatedBytes, 0);
});

test('GPT-2 gives the same logits whether its weights streamed in or were read from the complete file', async () => {
  const dir = new URL('../../models/tiny-gpt2/', import.meta.url);
  const file = new Uint8Array(readFileSync(new URL('model.safetensors', dir)));
  const config = parseModelConfig(readFileSync(new URL('config.json', dir), 'utf8')) as Gpt2Config;
  const backend = await createCpuBackend();
  const files = [{ header: parseSafetensors(file), bytes: file }];
  const up = new StreamingSafetensorsUpload(backend, 'model.safetensors', undefined, gpt2Tensors);
  for (let offset = 0; offset < file.length; offset += 100_000) up.push(offset, file.subarray(offset, Math.min(file.length, offset + 100_000)));
  const ids = Int32Array.of(464, 3797, 3332, 319, 262);
  const logits = async (m: Gpt2Model) => {
    const t = m.forward(ids);
    const out = await backend.download(t);
    t.dispose();
    m.dispose();
    return out;
  };
  const streamed = await logits(new Gpt2Model(backend, config, safetensorsStore(files, [up]), { maxSequence: 16 }));
  up.dispose();
  const whole = await logits(new Gpt2Model(backend, config, safetensorsStore(files), { maxSequence: 16 }));
  assert.deepEqual(streamed, whole);
  assert.equal(backend.memory().allocatedBytes, 0);
});
