import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { RopeScaling } from '../../engine/formats/config.js';
import { ropePlan } from '../../engine/models/rope-scaling.js';

const llama3 = (over: Partial<RopeScaling> = {}): RopeScaling => ({
  type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, raw: {}, ...over,
});

test('llama3 rope scaling: high frequencies kept, low ones divided by factor, the band between blended', () => {
  // Llama 3.1 8B: θ 500000, head dim 128
  const { scale, invFreq } = ropePlan(llama3(), 500000, 128);
  assert.equal(scale, 1);
  assert.ok(invFreq && invFreq.length === 64);
  for (let p = 0; p < 64; p++) {
    const f = 500000 ** (-(2 * p) / 128);
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < 8192 / 4) assert.equal(invFreq[p], f, `pair ${p} kept`);
    else if (wavelen > 8192) assert.ok(Math.abs(invFreq[p]! - f / 8) <= 1e-18 + 1e-15 * f, `pair ${p} divided by 8`);
    else assert.ok(invFreq[p]! < f && invFreq[p]! > f / 8, `pair ${p} blended`);
  }
  // transformers' values at the band edges for this config (computed with _compute_llama3_parameters, f64)
  assert.ok(Math.abs(invFreq[0]! - 1) < 1e-15);
  assert.ok(Math.abs(invFreq[63]! - 500000 ** (-126 / 128) / 8) < 1e-18);
});

test('linear, default and unsupported rope scaling', () => {
  assert.deepEqual(ropePlan(null, 10000, 64), { scale: 1, invFreq: undefined });
  assert.deepEqual(ropePlan({ type: 'linear', factor: 4, lowFreqFactor: undefined, highFreqFactor: undefined, originalMaxPositionEmbeddings: undefined, raw: {} }, 10000, 64), { scale: 4, invFreq: undefined });
  assert.throws(() => ropePlan({ ...llama3(), type: 'yarn' }, 10000, 64), (e: unknown) => e instanceof InvalidArgumentError && /yarn.*not supported/.test((e as Error).message));
  assert.throws(() => ropePlan(llama3({ lowFreqFactor: undefined }), 10000, 64), InvalidArgumentError);
  assert.throws(() => ropePlan(llama3({ highFreqFactor: 1 }), 10000, 64), InvalidArgumentError);
});

test('rope with invFreq equal to θ^(−2p/d) matches rope without it; bad invFreq is a typed error', async () => {
  const b = new CpuBackend();
  const x = b.upload(Float32Array.from({ length: 3 * 2 * 8 }, (_, i) => Math.sin(i)), [3, 2, 8]);
  const inv = Float64Array.from({ length: 4 }, (_, p) => 10000 ** (-(2 * p) / 8));
  const a = await b.download(b.rope(x, { pos0: 5, theta: 10000 }));
  const c = await b.download(b.rope(x, { pos0: 5, theta: 10000, invFreq: inv }));
  assert.deepEqual(Array.from(c), Array.from(a));
  assert.throws(() => b.rope(x, { pos0: 0, theta: 10000, invFreq: new Float64Array(3) }), InvalidArgumentError);
  assert.throws(() => b.rope(x, { pos0: 0, theta: 10000, invFreq: Float64Array.of(1, 1, 0, 1) }), InvalidArgumentError);
});
