import { detectBrowser, detectDevice, runtimeKind } from './detect-environment.js';
import { detectWasm } from './detect-wasm.js';
import { detectWebGPU } from './detect-webgpu.js';
import { detectWebNN, type MLLike } from './detect-webnn.js';
import type { CapabilityReport } from './types.js';

export interface ProbeSources {
  /** WebGPU entry point; default navigator.gpu. Under Node pass `create([])` from the `webgpu` package. */
  gpu?: GPU | null;
  /** WebNN entry point; default navigator.ml. */
  ml?: MLLike | null;
}

function fromNavigator<K extends 'gpu' | 'ml'>(key: K): unknown {
  const n = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  return n?.[key] ?? null;
}

/** Runs every probe concurrently; each probe records its own failure instead of throwing. */
export async function probeCapabilities(sources: ProbeSources = {}): Promise<CapabilityReport> {
  const gpu = sources.gpu !== undefined ? sources.gpu : (fromNavigator('gpu') as GPU | null);
  const ml = sources.ml !== undefined ? sources.ml : (fromNavigator('ml') as MLLike | null);
  const [browser, webgpu, webnn, device] = await Promise.all([detectBrowser(), detectWebGPU(gpu), detectWebNN(ml), detectDevice()]);
  return {
    probedAt: new Date().toISOString(),
    runtime: runtimeKind(),
    browser,
    webgpu,
    webnn,
    wasm: detectWasm(),
    device,
  };
}
