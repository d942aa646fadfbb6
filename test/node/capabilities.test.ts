import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, globals } from 'webgpu';
import { Engine, getEngine, recommendBackend, type CapabilityReport } from '../../engine/index.js';

Object.assign(globalThis, globals);

test('getEngine() returns one engine per realm', () => {
  assert.equal(getEngine(), getEngine());
  assert.ok(getEngine() instanceof Engine);
});

test('capabilities() runs under Node with Dawn injected as the GPU', async () => {
  const engine = new Engine().configure({ gpu: create([]) });
  const r = await engine.capabilities();
  assert.equal(r.runtime, 'node');
  assert.equal(r.browser.name, 'Node.js');
  assert.equal(r.browser.version, process.versions.node);
  assert.equal(r.webgpu.api, true);
  // Dawn finds no adapter on a machine without a GPU driver; either way the outcome is recorded.
  if (!r.webgpu.available) assert.match(r.webgpu.error ?? '', /requestAdapter/);
  else assert.ok(r.webgpu.adapter && r.webgpu.adapter.limits.maxBufferSize > 0);
  assert.equal(r.webnn.api, false);
  assert.deepEqual(r.wasm.simd, true);
  assert.equal(r.wasm.threads, true, 'node shares memory between worker_threads');
  assert.ok(Number.isNaN(Date.parse(r.probedAt)) === false);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'the report is plain JSON');
});

test('capabilities() without any GPU says why', async () => {
  const r = await new Engine().configure({ gpu: null }).capabilities();
  assert.equal(r.webgpu.api, false);
  assert.match(r.webgpu.error ?? '', /navigator.gpu is not defined/);
});

function report(over: Partial<{ gpu: Partial<CapabilityReport['webgpu']>; fallback: boolean; wasm: Partial<CapabilityReport['wasm']>; memory: number | null }> = {}): CapabilityReport {
  return {
    probedAt: new Date(0).toISOString(),
    runtime: 'browser',
    browser: { name: 'Chromium', version: '156', platform: 'Linux', mobile: false, source: 'userAgentData' },
    webgpu: {
      api: true, available: true, deviceCreated: true, error: null,
      adapter: {
        vendor: 'nvidia', architecture: 'hopper', device: '', description: '', isFallbackAdapter: over.fallback ?? false,
        features: ['subgroups'], shaderF16: false, subgroups: true, timestampQuery: false,
        limits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 32, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024, maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 10, maxBindGroups: 4, minStorageBufferOffsetAlignment: 256, minUniformBufferOffsetAlignment: 256, subgroupMinSize: 32, subgroupMaxSize: 32 },
      },
      ...over.gpu,
    },
    webnn: { api: true, available: false, contexts: { cpu: { created: false, error: 'NotSupportedError: WebNN is not supported on this platform.' }, gpu: { created: false, error: 'x' }, npu: { created: false, error: 'y' } } },
    wasm: { supported: true, simd: true, relaxedSimd: true, threadsValidated: true, sharedArrayBuffer: true, crossOriginIsolated: true, threads: true, memory64: false, ...over.wasm },
    device: { hardwareConcurrency: 8, deviceMemoryGiB: over.memory === undefined ? 8 : over.memory, storage: null },
  };
}

test('recommendBackend puts a hardware GPU first, with the adapter in the reason', () => {
  const rec = recommendBackend(report(), { paramCount: 1.2e9, precision: 'q4' });
  assert.deepEqual(rec.map((c) => c.backend), ['webgpu', 'wasm', 'cpu', 'webnn']);
  assert.match(rec[0]!.reason, /^webgpu: hardware adapter nvidia hopper \(subgroups, no shader-f16\) — fastest for 1\.2B params at q4 ≈ 643\.7 MiB$/);
  assert.match(rec[3]!.reason, /NotSupportedError: WebNN is not supported on this platform/);
  assert.equal(rec[3]!.usable, false);
});

test('recommendBackend ranks wasm above a software adapter and explains threads', () => {
  const rec = recommendBackend(report({ fallback: true, wasm: { crossOriginIsolated: false, threads: false } }), { paramCount: 135e6 });
  assert.deepEqual(rec.slice(0, 2).map((c) => c.backend), ['wasm', 'webgpu']);
  assert.match(rec[0]!.reason, /single-threaded \(page is not cross-origin isolated: serve with COOP\/COEP headers for threads\)/);
  assert.match(rec[1]!.reason, /fallback adapter \(software: nvidia hopper\) — slower than wasm/);
});

test('recommendBackend rules out what cannot hold the model and keeps cpu last', () => {
  const rec = recommendBackend(report({ memory: 2 }), { paramCount: 7e9, precision: 'q4' });
  const by = Object.fromEntries(rec.map((c) => [c.backend, c]));
  assert.equal(by.webgpu!.usable, false);
  assert.match(by.webgpu!.reason, /needs ~4\.6 GiB, more than this device's 2 GiB allows/);
  assert.equal(by.wasm!.usable, false);
  assert.match(by.wasm!.reason, /beyond the 4 GiB of 32-bit WebAssembly memory/);
  assert.equal(rec[0]!.backend, 'cpu');
  assert.match(rec[0]!.reason, /impractical for 7\.0B params/);
});

test('recommendBackend explains a missing adapter and missing SIMD', () => {
  const rec = recommendBackend(report({ gpu: { available: false, adapter: null, deviceCreated: false, error: 'requestAdapter returned null' }, wasm: { simd: false } }));
  assert.deepEqual(rec.map((c) => [c.backend, c.usable]), [['cpu', true], ['webgpu', false], ['wasm', false], ['webnn', false]]);
  assert.equal(rec.find((c) => c.backend === 'wasm')!.reason, "wasm: no 128-bit SIMD, which the engine's wasm kernels require");
});
