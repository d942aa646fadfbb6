import { AccelError } from './errors.js';
import { probeCapabilities, type ProbeSources } from './capabilities/probe.js';
import { recommendBackend } from './capabilities/recommend.js';
import type { BackendChoice, CapabilityReport, RecommendRequest } from './capabilities/types.js';

export interface EngineOptions extends ProbeSources {}

/**
 * The one engine of a realm (page, Worker or Node process): every element and every call shares its
 * backends, loaded models and caches. Get it with `getEngine()`.
 */
export class Engine {
  #sources: ProbeSources = {};
  #report: Promise<CapabilityReport> | null = null;

  /** Injects platform entry points (e.g. Dawn's GPU under Node). Clears the cached capability report. */
  configure(options: EngineOptions): this {
    this.#sources = { ...this.#sources, ...options };
    this.#report = null;
    return this;
  }

  /**
   * What this machine and browser can do for ML: WebGPU adapter, features and limits, WebNN contexts,
   * WebAssembly features, cores, memory and storage. Probed once and cached; `{ refresh: true }` probes
   * again (e.g. after the user changed a browser flag or a GPU was lost).
   */
  capabilities(options: { refresh?: boolean } = {}): Promise<CapabilityReport> {
    if (options.refresh || !this.#report) {
      const probe = probeCapabilities(this.#sources).catch((cause: unknown) => {
        this.#report = null;
        throw new AccelError('capabilities-failed', `Probing the device failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      });
      this.#report = probe;
    }
    return this.#report;
  }

  /** Backends ordered best first for a model of this size and precision, each with its reason. */
  async recommendBackend(request: RecommendRequest = {}): Promise<BackendChoice[]> {
    return recommendBackend(await this.capabilities(), request);
  }
}

const ENGINE_KEY = Symbol.for('accel.engine');

/** The realm's shared Engine. Two copies of the library on one page still share one engine. */
export function getEngine(): Engine {
  const g = globalThis as { [ENGINE_KEY]?: Engine };
  return (g[ENGINE_KEY] ??= new Engine());
}
