import { BackendUnavailableError, WebGPUUnavailableError } from '../errors.js';
import type { Backend, BackendName } from './backend.js';
import type { ML, MLDeviceType } from './webnn/webnn-types.js';

export interface BackendFactoryOptions {
  /** WebGPU entry point (navigator.gpu by default; Dawn's `create([])` under Node). */
  gpu?: GPU | null;
  /** Worker threads for the wasm backend (default: cores − 1 when cross-origin isolated, else 1). */
  threads?: number;
  /** WebNN entry point (navigator.ml by default) and the device its context targets (default 'gpu'). */
  ml?: ML | null;
  webnnDeviceType?: MLDeviceType;
}

/** Creates a backend; each is loaded on first use so pages that never need one never download it. */
export async function createBackend(name: BackendName, options: BackendFactoryOptions = {}): Promise<Backend> {
  switch (name) {
    case 'cpu':
      return (await import('./cpu/index.js')).createCpuBackend();
    case 'wasm':
      return (await import('./wasm/index.js')).createWasmBackend(options.threads !== undefined ? { threads: options.threads } : {});
    case 'webgpu': {
      const gpu = options.gpu === undefined ? (globalThis.navigator?.gpu ?? null) : options.gpu;
      if (!gpu) throw new WebGPUUnavailableError('navigator.gpu is not defined here');
      return (await import('./webgpu/index.js')).createWebGPUBackend({ gpu });
    }
    case 'webnn':
      return (await import('./webnn/index.js')).createWebNNBackend({
        ...(options.ml !== undefined ? { ml: options.ml } : {}),
        ...(options.webnnDeviceType ? { deviceType: options.webnnDeviceType } : {}),
      });
    default:
      throw new BackendUnavailableError(String(name), 'unknown backend name; use webgpu, wasm, webnn, cpu or auto');
  }
}
