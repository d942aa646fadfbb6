import type { AccelErrorCode, CacheEntryInfo, CacheUsage, Classification, BenchmarkCell, BenchmarkProgress, BenchmarkRecord, CapabilityReport, GenerationResult, ModelArchitecture, ModelLoadProgress, TokenEvent } from '../engine/index.js';

/** detail of `accel-error`: what failed, a stable code to switch on and the message to show. */
export interface AccelErrorDetail {
  code: AccelErrorCode | 'unknown';
  message: string;
  error: unknown;
}

/** detail of `accel-ready` from `<accel-model>`. */
export interface AccelModelReadyDetail {
  name: string;
  architecture: ModelArchitecture | 'remote';
  backend: string;
  format: 'safetensors' | 'gguf' | 'openai';
  weightBytes: number;
  kvCacheBytes: number;
  source: string;
}

/** detail of `accel-unload`. */
export interface AccelModelUnloadDetail {
  source: string;
}

/** detail of `accel-token`: the token event plus all visible text so far. */
export interface AccelTokenDetail extends TokenEvent {
  output: string;
}

/** detail of `accel-benchmark-progress` from `<accel-benchmark>`: the runner's progress (0…1 over the whole matrix). */
export type AccelBenchmarkProgressDetail = BenchmarkProgress;

/** detail of `accel-benchmark-complete`: one record per matrix cell that ran, and the cells that could not. */
export interface AccelBenchmarkCompleteDetail {
  records: BenchmarkRecord[];
  failures: { cell: BenchmarkCell; code: AccelErrorCode | 'unknown'; message: string }[];
  /** false when the results could not be saved to IndexedDB (an accel-error said why). */
  stored: boolean;
}

/** detail of `accel-classified` from `<accel-image-classifier>`. */
export interface AccelClassifiedDetail {
  /** The top-k labels with softmax scores, best first. */
  labels: Classification[];
  /** Size of the image as given (before the model's resize). */
  width: number;
  height: number;
  /** Decode, preprocess and forward pass, in milliseconds. */
  durationMs: number;
}

/** detail of `accel-cache-listed` from `<accel-cache>`: the cached files (sorted by id) and the usage figures. */
export interface AccelCacheListedDetail {
  entries: CacheEntryInfo[];
  usage: CacheUsage;
}

/** detail of `accel-cache-change` from `<accel-cache>`: what was removed and the usage afterwards. */
export interface AccelCacheChangeDetail {
  action: 'delete' | 'clear';
  /** Ids of the removed entries. */
  ids: string[];
  /** Bytes of model files freed. */
  freedBytes: number;
  usage: CacheUsage;
}

/** detail of `accel-cache-persisted` from `<accel-cache>`: the browser's answer to navigator.storage.persist(). */
export interface AccelCachePersistedDetail {
  persisted: boolean;
}

/** Every `accel-*` event with the type of its detail. */
export interface AccelEventMap {
  'accel-error': AccelErrorDetail;
  /** A non-fatal problem: the work went on (e.g. code quota-exceeded: the model loaded without being cached). */
  'accel-warning': AccelErrorDetail;
  'accel-capabilities-ready': CapabilityReport;
  'accel-load-progress': ModelLoadProgress;
  'accel-ready': AccelModelReadyDetail;
  'accel-unload': AccelModelUnloadDetail;
  'accel-token': AccelTokenDetail;
  'accel-done': GenerationResult;
  'accel-benchmark-progress': AccelBenchmarkProgressDetail;
  'accel-benchmark-complete': AccelBenchmarkCompleteDetail;
  'accel-classified': AccelClassifiedDetail;
  'accel-cache-listed': AccelCacheListedDetail;
  'accel-cache-change': AccelCacheChangeDetail;
  'accel-cache-persisted': AccelCachePersistedDetail;
}

export type AccelEventName = keyof AccelEventMap;

export type AccelEvent<K extends AccelEventName> = CustomEvent<AccelEventMap[K]>;

declare global {
  interface GlobalEventHandlersEventMap {
    'accel-error': AccelEvent<'accel-error'>;
    'accel-warning': AccelEvent<'accel-warning'>;
    'accel-capabilities-ready': AccelEvent<'accel-capabilities-ready'>;
    'accel-load-progress': AccelEvent<'accel-load-progress'>;
    'accel-ready': AccelEvent<'accel-ready'>;
    'accel-unload': AccelEvent<'accel-unload'>;
    'accel-token': AccelEvent<'accel-token'>;
    'accel-done': AccelEvent<'accel-done'>;
    'accel-benchmark-progress': AccelEvent<'accel-benchmark-progress'>;
    'accel-benchmark-complete': AccelEvent<'accel-benchmark-complete'>;
    'accel-classified': AccelEvent<'accel-classified'>;
    'accel-cache-listed': AccelEvent<'accel-cache-listed'>;
    'accel-cache-change': AccelEvent<'accel-cache-change'>;
    'accel-cache-persisted': AccelEvent<'accel-cache-persisted'>;
  }
}
