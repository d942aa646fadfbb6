import type { Engine } from '../engine/engine.js';
import type { MatrixOptions, MatrixResult } from '../engine/bench/runner.js';
import type { BackendChoice, CapabilityReport, RecommendRequest } from '../engine/capabilities/types.js';
import type { EngineLoadOptions } from '../engine/engine.js';
import type { ModelHandle } from '../engine/load-model.js';
import type { SourceInput } from '../engine/loader/index.js';

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
}

let core: Promise<Engine> | null = null;

/** Starts loading the engine core (once) and resolves with the realm's shared Engine. */
export function preloadEngine(): Promise<Engine> {
  core ??= import('../engine/engine.js').then((m) => m.getEngine());
  // a failed import (network) may be retried by the next call
  core.catch(() => { core = null; });
  return core;
}

/** The lazy facade over the realm's shared Engine. */
export const lazyEngine: LazyEngine = {
  capabilities: async (options) => (await preloadEngine()).capabilities(options),
  recommendBackend: async (request) => (await preloadEngine()).recommendBackend(request),
  load: async (src, options) => (await preloadEngine()).load(src, options),
  unload: async (model) => (await preloadEngine()).unload(model),
  benchmark: async (options) => (await preloadEngine()).benchmark(options),
};
