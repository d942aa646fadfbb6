import { AccelError } from './errors.js';
import { probeCapabilities, type ProbeSources } from './capabilities/probe.js';
import { recommendBackend } from './capabilities/recommend.js';
import type { BackendChoice, CapabilityReport, RecommendRequest, WebNNDeviceType } from './capabilities/types.js';
import type { ML } from './backends/webnn/webnn-types.js';
import type { Backend, BackendName } from './backends/backend.js';
import { createBackend } from './backends/registry.js';
import { AbortError, InvalidArgumentError } from './errors.js';
import { loadModel, Model, type ModelHandle, type ModelLoadOptions } from './load-model.js';
import { ModelCache, type SourceInput } from './loader/index.js';
import { describePlan, type LoadPrecision, type QuantPlan } from './quant/plan.js';
import type { QuantizationReport, QuantizationReportOptions } from './quant/report.js';
import type { MatrixOptions, MatrixResult } from './bench/runner.js';
// the quantizer and the benchmark runner load on first use: pages that only run models never download them
import { isRemoteSource } from './remote/source.js';
import { loadServerModel, ServerModel } from './remote/server-model.js';

export interface EngineLoadOptions extends ModelLoadOptions {
  /**
   * Backend to run on; default 'auto' (the first usable one `recommendBackend` lists). 'remote' (implied by
   * an `openai+https://host/v1#model` source) sends generation to an OpenAI-compatible server.
   */
  backend?: BackendRequest | 'remote';
}

interface SharedLoad {
  promise: Promise<Model>;
  controller: AbortController;
  waiting: number;
  users: number;
  model: Model | null;
}

export interface EngineOptions extends ProbeSources {
  /** Worker threads for the wasm backend. */
  wasmThreads?: number;
  /** Device of the WebNN backend's MLContext when `backend: 'webnn'` is asked for; 'auto' takes the recommended one. */
  webnnDeviceType?: WebNNDeviceType;
}

export type BackendRequest = BackendName | 'auto';

/**
 * The one engine of a realm (page, Worker or Node process): every element and every call shares its
 * backends, loaded models and caches. Get it with `getEngine()`.
 */
export class Engine {
  #options: EngineOptions = {};
  #report: Promise<CapabilityReport> | null = null;
  #backends = new Map<BackendName, Promise<Backend>>();
  #models = new Map<string, SharedLoad>();

  /** Injects platform entry points (e.g. Dawn's GPU under Node). Clears the cached capability report. */
  configure(options: EngineOptions): this {
    this.#options = { ...this.#options, ...options };
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
      const probe = probeCapabilities(this.#options).catch((cause: unknown) => {
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

  /**
   * The shared backend of that name, created on first request. 'auto' takes the first usable backend
   * `recommendBackend(request)` lists. A lost WebGPU device drops the backend, so the next request
   * creates a fresh one.
   */
  async backend(name: BackendRequest = 'auto', request: RecommendRequest = {}): Promise<Backend> {
    const auto = name === 'auto' ? await this.#autoBackend(request) : null;
    const resolved = auto?.backend ?? (name as BackendName);
    let pending = this.#backends.get(resolved);
    if (!pending) {
      const o = this.#options;
      const webnnDeviceType = o.webnnDeviceType ?? auto?.webnnDevice;
      pending = createBackend(resolved, {
        gpu: o.gpu,
        ...(o.wasmThreads !== undefined ? { threads: o.wasmThreads } : {}),
        ...(o.ml !== undefined ? { ml: o.ml as ML | null } : {}),
        ...(webnnDeviceType ? { webnnDeviceType } : {}),
      });
      this.#backends.set(resolved, pending);
      pending.then(
        (b) => void b.lost.then(() => {
          this.#forget(resolved, pending!);
          this.#dropModelsOn(b);
        }),
        () => this.#forget(resolved, pending!),
      );
    }
    return pending;
  }

  async #autoBackend(request: RecommendRequest): Promise<{ backend: BackendName; webnnDevice?: WebNNDeviceType }> {
    const choice = (await this.recommendBackend(request)).find((c) => c.usable && c.backend !== 'remote');
    if (!choice) return { backend: 'cpu' };
    return { backend: choice.backend as BackendName, ...(choice.webnnDevice ? { webnnDevice: choice.webnnDevice } : {}) };
  }

  #forget(name: BackendName, pending: Promise<Backend>): void {
    if (this.#backends.get(name) === pending) this.#backends.delete(name);
  }

  /**
   * A lost device takes its models with it: they leave the shared table (their calls reject with
   * DeviceLostError), so the next `load()` of the same source builds a new copy on a new backend, reading
   * the weights from the model cache rather than the network.
   */
  #dropModelsOn(backend: Backend): void {
    for (const [key, entry] of this.#models) {
      if (entry.model?.backend === backend) {
        this.#models.delete(key);
        entry.model.dispose();
      }
    }
  }

  /**
   * Loads a model (Hugging Face folder, GGUF file, hf:, ipfs://, File/Blob) onto a backend. Callers that
   * ask for the same source, backend and precision share one loaded copy; each call counts as one user
   * until `unload(model)`. Aborting a shared load only cancels it when every caller has aborted.
   */
  async load(src: `openai+${string}`, options?: EngineLoadOptions): Promise<ServerModel>;
  async load(src: SourceInput, options: EngineLoadOptions & { backend: 'remote' }): Promise<ServerModel>;
  /** (A string only known at run time to be `openai+…` gives a ServerModel too: check with `isRemoteSource()`.) */
  async load(src: SourceInput, options?: EngineLoadOptions): Promise<Model>;
  async load(src: SourceInput, options: EngineLoadOptions = {}): Promise<Model | ServerModel> {
    const { backend: requested = 'auto', precision = 'original', signal, onProgress, apiKey, ...rest } = options;
    if (requested === 'remote' || isRemoteSource(src)) {
      if (typeof src !== 'string' && !(src instanceof URL)) throw new InvalidArgumentError('backend "remote" takes an endpoint URL (openai+https://host/v1#model-name), not files.');
      if (requested !== 'remote' && requested !== 'auto') throw new InvalidArgumentError(`${String(src).replace(/#.*$/, '')} is a remote endpoint; it runs on backend "remote", not "${requested}".`);
      if (precision !== 'original') throw new InvalidArgumentError(`precision "${precision}" applies to local loads; a remote server runs the weights it has.`);
      // Not shared: a handle is only an address, a model name and a key.
      return loadServerModel(String(src), { ...(apiKey ? { apiKey } : {}), ...(rest.stallTimeoutMs ? { stallTimeoutMs: rest.stallTimeoutMs } : {}), ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) });
    }
    const backend = await this.backend(requested);
    const key = typeof src === 'string' || src instanceof URL ? JSON.stringify([String(src), backend.name, typeof precision === 'string' ? precision : describePlan(precision), rest.memoryBudget ?? null, rest.file ?? null, rest.maxSequence ?? null, rest.memoryProfile ?? null]) : null;
    let shared = key ? this.#models.get(key) : undefined;
    // a load every earlier caller aborted is on its way out: a new caller starts afresh rather than joining it
    if (shared && !shared.model && shared.controller.signal.aborted) shared = undefined;
    if (!shared) {
      const controller = new AbortController();
      const entry: SharedLoad = { controller, waiting: 0, users: 0, model: null, promise: Promise.resolve(null as unknown as Model) };
      entry.promise = loadModel(src, backend, { ...rest, precision, signal: controller.signal, onProgress: (p) => this.#progress.get(entry)?.forEach((f) => f(p)) }).then(
        (model) => {
          entry.model = model;
          return model;
        },
        (error: unknown) => {
          if (key && this.#models.get(key) === entry) this.#models.delete(key);
          throw error;
        },
      );
      shared = entry;
      if (key) this.#models.set(key, entry);
    }
    return this.#join(shared, signal, onProgress);
  }

  #progress = new WeakMap<SharedLoad, Set<NonNullable<ModelLoadOptions['onProgress']>>>();

  async #join(entry: SharedLoad, signal: AbortSignal | undefined, onProgress: ModelLoadOptions['onProgress']): Promise<Model> {
    if (entry.model) {
      entry.users++;
      return entry.model;
    }
    if (signal?.aborted) throw new AbortError('Loading the model', { cause: signal.reason });
    let listeners = this.#progress.get(entry);
    if (!listeners) this.#progress.set(entry, (listeners = new Set()));
    if (onProgress) listeners.add(onProgress);
    entry.waiting++;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        reject(new AbortError('Loading the model', { cause: signal?.reason }));
        if (--entry.waiting === 0 && !entry.model) entry.controller.abort(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const model = await Promise.race([entry.promise, aborted]);
      entry.users++;
      entry.waiting--;
      return model;
    } catch (error) {
      if (!signal?.aborted) entry.waiting--;
      throw error;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (onProgress) listeners.delete(onProgress);
    }
  }

  /** One user fewer for a model from `load()`; the last one frees its memory. Returns true when freed. */
  unload(model: ModelHandle): boolean {
    if (model instanceof ServerModel) {
      model.dispose();
      return true;
    }
    if (!(model instanceof Model)) return false;
    for (const [key, entry] of this.#models) {
      if (entry.model !== model) continue;
      if (--entry.users > 0) return false;
      this.#models.delete(key);
      break;
    }
    model.dispose();
    return true;
  }

  /**
   * The cache of verified model files in this context (Cache API, else IndexedDB): `list()`, `delete(id)`,
   * `clear()`, `usage()`. Null where there is no storage (Node).
   */
  get cache(): ModelCache | null {
    return ModelCache.default();
  }

  /**
   * A quantized copy of a loaded Llama-family float model on the same backend: a preset ('q8', 'q4', 'q3',
   * 'q2', 'mixed'), 'auto' with `memoryBudget`, or a QuantPlan object. The original stays loaded; `unload()`
   * either when done.
   */
  quantize(model: Model, precision: LoadPrecision | QuantPlan, options: { memoryBudget?: number } = {}): Promise<Model> {
    return import('./quant/model-quant.js').then((m) => m.quantizeModel(model, precision, options));
  }

  /**
   * Quality and cost of a plan on a loaded float model: per-layer weight and output SNR / cosine on calibration
   * text, held-out perplexity, memory and decode tok/s before and after (see quant/report.ts).
   */
  quantizationReport(model: Model, precision: LoadPrecision | QuantPlan, options: QuantizationReportOptions): Promise<{ report: QuantizationReport; quantized: Model | null }> {
    return import('./quant/report.js').then((m) => m.quantizationReport(model, precision, options));
  }

  /** The model as Hugging Face folder files (safetensors with packed weights + quantization.json + config and tokenizer). */
  save(model: Model): Promise<Map<string, Uint8Array>> {
    return import('./quant/model-quant.js').then((m) => m.saveModel(model));
  }

  /** The model as one GGUF file (Q8_0 / Q4_0 for q8 / q4 packed weights) that llama.cpp and accel load. */
  saveGguf(model: Model): Promise<Uint8Array> {
    return import('./quant/model-quant.js').then((m) => m.saveGguf(model));
  }

  /**
   * Benchmarks text generation over backends × precisions × prompt lengths (see engine/bench): each
   * cell loads `source` through `load()`, runs warm-up and measured generations, and unloads it.
   */
  benchmark(options: MatrixOptions): Promise<MatrixResult> {
    // precision stays a string in results; load() rejects one it does not know with InvalidArgumentError
    return import('./bench/runner.js').then(({ runMatrix }) => runMatrix({ load: (src, o) => this.load(src, { ...o, precision: o.precision as LoadPrecision }), unload: (m) => this.unload(m as Model) }, options));
  }

  /** Models currently loaded and shared by the engine. */
  loadedModels(): Model[] {
    return [...this.#models.values()].flatMap((e) => (e.model ? [e.model] : []));
  }
}

const ENGINE_KEY = Symbol.for('accel.engine');

/** The realm's shared Engine. Two copies of the library on one page still share one engine. */
export function getEngine(): Engine {
  const g = globalThis as { [ENGINE_KEY]?: Engine };
  return (g[ENGINE_KEY] ??= new Engine());
}
