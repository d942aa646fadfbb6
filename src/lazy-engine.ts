import type { Engine } from '../engine/engine.js';
import type { MatrixOptions, MatrixResult } from '../engine/bench/runner.js';
import type { BackendChoice, CapabilityReport, RecommendRequest } from '../engine/capabilities/types.js';
import type { EngineLoadOptions } from '../engine/engine.js';
import type { ModelHandle } from '../engine/load-model.js';
import type { SourceInput } from '../engine/loader/index.js';
import type { ModelCache } from '../engine/loader/cache.js';

/**
 * The in-thread engine as elements see it: the same calls as Engine, but the engine core (tokenizers,
 * chat templates, the loader, the models, the quantizer, the benchmark runner) is a dynamic import, so
 * pages that run models in the Worker never download it on the main thread. `preloadEngine()` starts the
 * download early (an element that will need it calls it when it connects).
 */
export interface LazyEngine {
  capabilities(options?: { refresh?: boolean }): Promise<CapabilityReport>;
  recommendBackend(request?: RecommendRequest): Promise<BackendChoice[]>;
  load(src: SourceInput, options?: EngineLoadOptions): Promise<ModelHandle>;
  unload(model: ModelHandle): Promise<boolean>;
  benchmark(options: MatrixOptions): Promise<MatrixResult>;
  /** The engine's model cache (null where the context has neither the Cache API nor IndexedDB). */
  cache(): Promise<ModelCache | null>;
}

let core: Promise<Engine> | null = null;
let loaded: Engine | null = null;

/** Starts loading the engine core (once) and resolves with the realm's shared Engine. */
export function preloadEngine(): Promise<Engine> {
  if (loaded) return Promise.resolve(loaded);
  core ??= import('../engine/engine.js').then((m) => (loaded = m.getEngine()));
  // a failed import (network) may be retried by the next call
  core.catch(() => { core = null; });
  return core;
}

/** Calls the Engine directly once it is loaded (no extra await: the same timing as a static import). */
function withEngine<T>(call: (engine: Engine) => T | Promise<T>): Promise<T> {
  return loaded ? Promise.resolve(call(loaded)) : preloadEngine().then(call);
}

/** The lazy facade over the realm's shared Engine. */
export const lazyEngine: LazyEngine = {
  capabilities: (options) => withEngine((e) => e.capabilities(options)),
  recommendBackend: (request) => withEngine((e) => e.recommendBackend(request)),
  load: (src, options) => withEngine((e) => e.load(src, options)),
  unload: (model) => withEngine((e) => e.unload(model)),
  benchmark: (options) => withEngine((e) => e.benchmark(options)),
  cache: () => withEngine((e) => e.cache),
};
