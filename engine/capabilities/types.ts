import type { BackendName } from '../backends/backend.js';

/** Everything `engine.capabilities()` finds out; plain data (JSON-safe) so it crosses Workers and events. */
export interface CapabilityReport {
  /** ISO time of the probe. */
  probedAt: string;
  /** 'browser' | 'worker' | 'node' */
  runtime: RuntimeKind;
  browser: BrowserInfo;
  webgpu: WebGPUReport;
  webnn: WebNNReport;
  wasm: WasmReport;
  device: DeviceReport;
}

export type RuntimeKind = 'browser' | 'worker' | 'node' | 'unknown';

export interface BrowserInfo {
  /** e.g. 'Chromium', 'Google Chrome', 'Firefox', 'Safari', 'Node.js' */
  name: string;
  version: string;
  platform: string;
  mobile: boolean | null;
  /** 'userAgentData' when from client hints, 'userAgent' when parsed from the UA string. */
  source: 'userAgentData' | 'userAgent' | 'process' | 'none';
}

export interface WebGPUReport {
  /** navigator.gpu (or an injected GPU) exists. */
  api: boolean;
  /** An adapter was returned. */
  available: boolean;
  /** A device could be created from it. */
  deviceCreated: boolean;
  /** Why not, when !available or !deviceCreated. */
  error: string | null;
  adapter: WebGPUAdapterReport | null;
}

export interface WebGPUAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Software or otherwise limited adapter (e.g. SwiftShader). */
  isFallbackAdapter: boolean;
  /** Sorted feature names. */
  features: string[];
  /** Convenience flags for the features ML kernels care about. */
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  limits: WebGPUMlLimits;
}

export interface WebGPUMlLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  maxBindGroups: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
  /** Subgroup size range (Chromium exposes these on adapter info when `subgroups` exists). */
  subgroupMinSize: number | null;
  subgroupMaxSize: number | null;
}

export type WebNNDeviceType = 'cpu' | 'gpu' | 'npu';

export interface WebNNReport {
  /** navigator.ml exists. */
  api: boolean;
  contexts: Record<WebNNDeviceType, WebNNContextOutcome>;
  /** At least one context could be created. */
  available: boolean;
}

export interface WebNNContextOutcome {
  created: boolean;
  /** The browser's message when createContext threw or rejected; null when created or not tried. */
  error: string | null;
  /**
   * For a created context: the engine ops its `opSupportLimits()` does not cover, which the WebNN backend runs
   * on the cpu backend instead, each with the reason (op names as in engine/backends/webnn/support.ts).
   */
  fallbacks?: { op: string; reason: string }[];
}

export interface WasmReport {
  supported: boolean;
  simd: boolean;
  relaxedSimd: boolean;
  /** Shared memory + atomics validate. */
  threadsValidated: boolean;
  sharedArrayBuffer: boolean;
  /** true in cross-origin-isolated pages (COOP+COEP) and under Node; SharedArrayBuffer needs it. */
  crossOriginIsolated: boolean;
  /** Multi-threaded kernels can run: all three above. */
  threads: boolean;
  memory64: boolean;
  /**
   * Modules validate but may not be compiled: the page's Content-Security-Policy has neither 'wasm-unsafe-eval'
   * nor 'unsafe-eval' in script-src. The wasm backend cannot run then. Absent = compiling was not tried.
   */
  compileBlocked?: boolean;
}

export interface DeviceReport {
  hardwareConcurrency: number | null;
  /** GiB, coarse (browsers round and cap it); null where not exposed (Firefox, Safari). */
  deviceMemoryGiB: number | null;
  storage: StorageReport | null;
}

export interface StorageReport {
  quotaBytes: number | null;
  usageBytes: number | null;
  persisted: boolean | null;
}

export type ModelType = 'text-generation' | 'feature-extraction' | 'image-classification' | 'speech-recognition' | 'other';

/** Weight precisions the engine can run; bytes per parameter drive the memory checks. */
export type Precision = 'f32' | 'f16' | 'q8' | 'q4' | 'q3' | 'q2' | 'original';

export interface RecommendRequest {
  modelType?: ModelType;
  /** Number of parameters, e.g. 135e6. */
  paramCount?: number;
  precision?: Precision;
  /**
   * Measured bytes the model needs (a loaded model's `info.memory.totalBytes`, or a figure from a previous
   * run); used instead of the estimate from paramCount × precision when given.
   */
  memoryBytes?: number;
  /**
   * A configured OpenAI-compatible endpoint (`openai+https://host/v1#model`). It is ranked first when no local
   * backend can run the model fast enough, else after the usable local ones.
   */
  remote?: string;
}

export type RecommendableBackend = BackendName | 'remote';

export interface BackendChoice {
  backend: RecommendableBackend;
  /** Can run this request here. Usable choices come first, best first. */
  usable: boolean;
  /** One line saying why it sits where it does. */
  reason: string;
  /** For webnn: the device type of the context it would use. */
  webnnDevice?: WebNNDeviceType;
}
