import type { BackendChoice, CapabilityReport, RecommendRequest } from '../engine/capabilities/types.js';
import type { EngineLoadOptions } from '../engine/engine.js';
import type { ModelHandle } from '../engine/load-model.js';
import { WorkerEngine } from '../engine/worker/worker-client.js';
import { defaultWorkerUrl } from '../engine/worker/worker-url.js';
import { lazyEngine, preloadEngine } from './lazy-engine.js';

/** What elements need from an engine: the in-thread Engine and the WorkerEngine both provide it. */
export interface EngineClient {
  capabilities(options?: { refresh?: boolean }): Promise<CapabilityReport>;
  recommendBackend(request?: RecommendRequest): Promise<BackendChoice[]>;
  load(src: string, options?: Pick<EngineLoadOptions, 'backend' | 'precision' | 'memoryBudget' | 'maxSequence' | 'memoryProfile' | 'hubBase' | 'gateways' | 'stallTimeoutMs' | 'signal' | 'onProgress' | 'onWarning'>): Promise<ModelHandle>;
  unload(model: ModelHandle): unknown;
}

export type EngineMode = 'worker' | 'shared' | 'inline';

export interface ElementsOptions {
  /** 'worker' (default where Workers exist): models run in a dedicated Worker so the page never janks. 'shared': one SharedWorker engine for every tab of the origin (a model loaded by one tab is reused by the others; falls back to 'worker' where SharedWorker is missing). 'inline' keeps them in this thread. */
  engine?: EngineMode;
  /** URL of accel-worker.js when it is not served next to the bundle. */
  workerUrl?: string | URL;
}

let options: ElementsOptions = {};
let client: EngineClient | null = null;

/** Chooses how elements run models; call before the first model loads. */
export function configureElements(next: ElementsOptions): void {
  options = { ...options, ...next };
  client = null;
}

function pageMode(): EngineMode | null {
  const meta = typeof document === 'object' ? document.querySelector<HTMLMetaElement>('meta[name="accel-engine"]') : null;
  const v = meta?.content.trim();
  return v === 'inline' || v === 'worker' || v === 'shared' ? v : null;
}

function currentMode(): EngineMode {
  return options.engine ?? pageMode() ?? (typeof Worker === 'function' ? 'worker' : 'inline');
}

/**
 * Starts downloading the in-thread engine core when this page will need it (inline mode, or a remote
 * model, which loads in this thread): elements call it when they connect, so the lazy chunk is on its way
 * before the first load. Nothing happens in worker mode, where the Worker has its own copy.
 */
export function prefetchEngine(inThread = false): void {
  if (inThread || currentMode() === 'inline') void preloadEngine().catch(() => undefined);
}

/** The engine the elements on this page share. */
export function getEngineClient(): EngineClient {
  if (client) return client;
  const mode = currentMode();
  const url = options.workerUrl ?? defaultWorkerUrl();
  client = mode === 'worker' ? WorkerEngine.start(url) : mode === 'shared' ? WorkerEngine.startShared(url) : (void preloadEngine(), lazyEngine);
  return client;
}
