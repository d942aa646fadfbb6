import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WebNNBackend } from '../../engine/backends/webnn/index.js';
import { probeCapabilities } from '../../engine/capabilities/probe.js';
import { Engine, recommendBackend, type CapabilityReport, type WebNNDeviceType } from '../../engine/index.js';
import { createWebNNDouble } from '../helpers/webnn-double.js';

// How the capability probe records WebNN operator support and how recommendBackend places WebNN.

async function probe(options: Parameters<typeof createWebNNDouble>[0] = {}): Promise<CapabilityReport> {
  return probeCapabilities({ ml: createWebNNDouble(options).ml, gpu: null });
}

function withGpu(r: CapabilityReport, hardware: boolean): CapabilityReport {
  return {
    ...r,
    webgpu: {
      api: true, available: true, deviceCreated: true, error: null,
      adapter: {
        vendor: 'acme', architecture: 'x', device: '', description: '', isFallbackAdapter: !hardware, features: [], shaderF16: false, subgroups: false, timestampQuery: false,
        limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 8, maxBindGroups: 4, minStorageBufferOffsetAlignment: 256, minUniformBufferOffsetAlignment: 256, subgroupMinSize: null, subgroupMaxSize: null },
      },
    },
  };
}

const only = (r: CapabilityReport, keep: WebNNDeviceType[]): CapabilityReport => ({
  ...r,
  webnn: { ...r.webnn, contexts: Object.fromEntries(Object.entries(r.webnn.contexts).map(([d, c]) => [d, keep.includes(d as WebNNDeviceType) ? c : { created: false, error: 'NotSupportedError: no such device' }])) as CapabilityReport['webnn']['contexts'] },
});

test('the probe records, per created context, the ops that would fall back and why', async () => {
  const r = await probe({ unsupported: ['scatterND'], failDevices: { npu: 'No NPU here.' } });
  assert.equal(r.webnn.available, true);
  assert.deepEqual(r.webnn.contexts.npu, { created: false, error: 'NotSupportedError: No NPU here.' });
  for (const d of ['cpu', 'gpu'] as const) {
    assert.deepEqual(r.webnn.contexts[d].fallbacks, [
      { op: 'kvWrite', reason: 'operator scatterND is not supported by this context' },
      { op: 'topk', reason: 'WebNN has no top-k operator' },
    ]);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(r.webnn)), r.webnn, 'plain JSON');
});

test('an NPU context that runs every op of the model comes first, ahead of a hardware GPU', async () => {
  const r = withGpu(await probe(), true);
  const rec = recommendBackend(r, { modelType: 'text-generation', paramCount: 135e6, precision: 'q8' });
  assert.equal(rec[0]!.backend, 'webnn');
  assert.equal(rec[0]!.webnnDevice, 'npu');
  assert.match(rec[0]!.reason, /^webnn: NPU context runs every op of 135M params at q8 ≈ 136\.8 MiB natively — offloads the GPU and CPU \(real-device WebNN runs are not yet verified\)$/);
  assert.equal(rec[1]!.backend, 'webgpu');
});

test('a GPU context ranks below hardware WebGPU and above it when WebGPU is software only', async () => {
  const gpuOnly = only(await probe(), ['gpu']);
  const hw = recommendBackend(withGpu(gpuOnly, true), { modelType: 'text-generation', precision: 'f32' });
  assert.deepEqual(hw.slice(0, 3).map((c) => c.backend), ['webgpu', 'webnn', 'wasm']);
  assert.match(hw[1]!.reason, /GPU context runs every op natively, but the WebGPU kernels are tuned/);
  const sw = recommendBackend(withGpu(gpuOnly, false), { modelType: 'text-generation', precision: 'f32' });
  assert.deepEqual(sw.slice(0, 2).map((c) => [c.backend, c.webnnDevice]), [['webnn', 'gpu'], ['wasm', undefined]]);
});

test('a context that would send the model\'s ops to the cpu backend, or packed 4-bit weights, ranks just above plain cpu', async () => {
  const gaps = await probe({ unsupported: ['scatterND', 'layerNormalization', 'reduceMean'] });
  // (recommendBackend assumes q4 weights unless told: f32 here, so only the missing operators count)
  const llm = recommendBackend(gaps, { modelType: 'text-generation', precision: 'f32' });
  const nn = llm.find((c) => c.backend === 'webnn')!;
  assert.equal(nn.usable, true);
  assert.deepEqual(llm.filter((c) => c.usable).map((c) => c.backend).slice(-2), ['webnn', 'cpu']);
  assert.match(nn.reason, /^webnn: npu context, but 2 of the model's ops fall back to the cpu backend: rmsNorm \(operator reduceMean is not supported by this context\); kvWrite \(operator scatterND/);
  // the encoder needs layerNorm (composed from reduceMean, also missing) but no kvWrite
  assert.match(recommendBackend(gaps, { modelType: 'feature-extraction', precision: 'f32' }).find((c) => c.backend === 'webnn')!.reason, /1 of the model's ops fall back to the cpu backend: layerNorm \(operator reduceMean/);
  const q4 = recommendBackend(await probe(), { modelType: 'text-generation', precision: 'q4' }).find((c) => c.backend === 'webnn')!;
  assert.match(q4.reason, /qmatvec q4 \(packed 4\/3\/2-bit weights have no WebNN data type\)/);
});

test('a context whose operator support is unknown (no opSupportLimits) is not taken as supporting everything', async () => {
  const r = only(await probe(), ['npu']);
  delete r.webnn.contexts.npu.fallbacks;
  const nn = recommendBackend(r, { modelType: 'text-generation', precision: 'f32' }).find((c) => c.backend === 'webnn')!;
  assert.equal(nn.usable, true);
  assert.equal(nn.reason, 'webnn: npu context, but it has no opSupportLimits(), so which ops run natively is unknown');
  assert.deepEqual(recommendBackend(r, { modelType: 'text-generation', precision: 'f32' }).filter((c) => c.usable).map((c) => c.backend).slice(-2), ['webnn', 'cpu']);
});

test("engine.backend('auto') creates the WebNN backend on the recommended device; without contexts it picks another", async () => {
  const d = createWebNNDouble();
  const uninstall = d.install();
  try {
    const engine = new Engine().configure({ gpu: null });
    const be = (await engine.backend('auto', { modelType: 'text-generation', precision: 'f32' })) as WebNNBackend;
    assert.equal(be.name, 'webnn');
    assert.equal(be.deviceType, 'npu');
    be.dispose();
  } finally {
    uninstall();
  }
  const none = createWebNNDouble({ failDevices: { cpu: 'no', gpu: 'no', npu: 'no' } });
  const rec = await new Engine().configure({ gpu: null, ml: none.ml }).recommendBackend({ modelType: 'text-generation' });
  assert.notEqual(rec[0]!.backend, 'webnn');
  assert.equal(rec.at(-1)!.backend, 'webnn');
  assert.match(rec.at(-1)!.reason, /no context could be created \(NotSupportedError: no\)/);
});
