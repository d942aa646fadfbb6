import type { WebGPUAdapterReport, WebGPUMlLimits, WebGPUReport } from './types.js';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function limitsOf(adapter: GPUAdapter): WebGPUMlLimits {
  const l = adapter.limits;
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxBindGroups: l.maxBindGroups,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    subgroupMinSize: typeof info?.subgroupMinSize === 'number' ? info.subgroupMinSize : null,
    subgroupMaxSize: typeof info?.subgroupMaxSize === 'number' ? info.subgroupMaxSize : null,
  };
}

export function describeAdapter(adapter: GPUAdapter): WebGPUAdapterReport {
  const info = (adapter.info ?? {}) as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const features = [...adapter.features].map(String).sort();
  // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo; read either.
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const software = /swiftshader|llvmpipe|lavapipe|software|microsoft basic render/i.test(`${info.architecture} ${info.description} ${info.device}`);
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? legacy ?? false) || software,
    features,
    shaderF16: features.includes('shader-f16'),
    subgroups: features.includes('subgroups'),
    timestampQuery: features.includes('timestamp-query'),
    limits: limitsOf(adapter),
  };
}

/** Asks for a high-performance adapter, describes it, and proves a device can be created from it. */
export async function detectWebGPU(gpu: GPU | null | undefined): Promise<WebGPUReport> {
  if (!gpu) {
    return { api: false, available: false, deviceCreated: false, error: 'navigator.gpu is not defined in this browser or context', adapter: null };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { api: true, available: false, deviceCreated: false, error: `requestAdapter failed: ${message(e)}`, adapter: null };
  }
  if (!adapter) {
    return { api: true, available: false, deviceCreated: false, error: 'requestAdapter returned null (no usable GPU, or WebGPU is blocked for this GPU/driver)', adapter: null };
  }
  const report = describeAdapter(adapter);
  try {
    const device = await adapter.requestDevice();
    device.destroy();
    return { api: true, available: true, deviceCreated: true, error: null, adapter: report };
  } catch (e) {
    return { api: true, available: true, deviceCreated: false, error: `requestDevice failed: ${message(e)}`, adapter: report };
  }
}
