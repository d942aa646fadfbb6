import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketSize } from '../../engine/backends/webgpu/buffer-pool.js';

const MAX_BINDING = 2 ** 31 - 4; // maxStorageBufferBindingSize of NVIDIA's Vulkan driver under Dawn

test('bucketSize: powers of two to 64 KiB, then 16 steps per doubling, multiples of 256', () => {
  assert.equal(bucketSize(1), 256);
  assert.equal(bucketSize(257), 512);
  assert.equal(bucketSize(65536), 65536);
  assert.equal(bucketSize(65537), 69632);
  for (const b of [70_000, 1_000_000, 123_456_789]) {
    const s = bucketSize(b);
    assert.ok(s >= b && s <= b * 1.0625 + 256 && s % 256 === 0, `${b} → ${s}`);
  }
});

test('bucketSize never rounds a bindable request past the binding limit (a 128256×4096 f32 embedding table)', () => {
  const embed = 128256 * 4096 * 4; // 2 101 346 304 bytes: its plain class is 2 GiB, 4 bytes too many to bind
  assert.equal(bucketSize(embed), 2 ** 31);
  const capped = bucketSize(embed, MAX_BINDING);
  assert.ok(capped >= embed && capped <= MAX_BINDING && capped % 256 === 0, String(capped));
  assert.equal(capped, 2147483392);
  // below the cap nothing changes; above it the request is not bindable anyway (the backend throws first)
  assert.equal(bucketSize(1_000_000, MAX_BINDING), bucketSize(1_000_000));
  assert.equal(bucketSize(2 ** 31, MAX_BINDING), 2 ** 31);
});
