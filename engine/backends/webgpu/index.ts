import { WebGPUUnavailableError } from '../../errors.js';
import type { Backend } from '../backend.js';
import { TIMESTAMPS_IN_PASSES, WebGPUBackend } from './webgpu-backend.js';

export { WebGPUBackend, type WebGPUTuning } from './webgpu-backend.js';

export interface CreateWebGPUBackendOptions {
  /** The GPU entry point; default `navigator.gpu`. Under Node pass `create([])` of the `webgpu` package. */
  gpu?: GPU;
  /** Use this device instead of requesting one (it is then not destroyed by dispose()). */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
}

/** Limits worth raising to the adapter's maximum: big weights, big tiles. */
const LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const;

/**
 * Requests an adapter and a device with the adapter's largest buffer limits and `subgroups` when offered
 * (never `shader-f16`: every kernel computes in f32). Throws WebGPUUnavailableError without WebGPU or adapter.
 */
export async function createWebGPUBackend(opts: CreateWebGPUBackendOptions = {}): Promise<Backend> {
  return createWebGPUBackendInternal(opts);
}

/** As createWebGPUBackend, typed as the concrete class (tests and benchmarks read its stats and tuning). */
export async function createWebGPUBackendInternal(opts: CreateWebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  if (opts.device) return new WebGPUBackend({ device: opts.device, ownsDevice: false, adapterInfo: undefined });
  const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined);
  if (!gpu) throw new WebGPUUnavailableError('navigator.gpu is missing');
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  } catch (e) {
    throw new WebGPUUnavailableError('requestAdapter() failed', { cause: e });
  }
  if (!adapter) throw new WebGPUUnavailableError('no GPU adapter was found');
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('subgroups')) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  if (adapter.features.has(TIMESTAMPS_IN_PASSES)) requiredFeatures.push(TIMESTAMPS_IN_PASSES as GPUFeatureName);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new WebGPUUnavailableError('requestDevice() failed', { cause: e });
  }
  return new WebGPUBackend({ device, ownsDevice: true, adapterInfo: adapter.info, keepAlive: [gpu, adapter] });
}
