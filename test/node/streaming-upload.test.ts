import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import { parseSafetensors, safetensorsToF32 } from '../../engine/formats/safetensors.js';
import { StreamingSafetensorsUpload } from '../../engine/models/streaming-upload.js';

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
