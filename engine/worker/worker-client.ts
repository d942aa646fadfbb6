import type { BackendChoice, CapabilityReport, RecommendRequest } from '../capabilities/types.js';
import { AccelError, type AccelErrorCode } from '../errors.js';
import type { GenerateInput, GenerateOptions, Generation, GenerationMetrics, GenerationResult, TokenEvent } from '../generate/index.js';
import { PushedGeneration } from '../generate/pushed-generation.js';
import type { ModelHandle, ModelInfo, ModelLoadProgress, TranscribeOptions } from '../load-model.js';
import type { AudioSamples } from '../models/whisper/features.js';
import type { BertOutput } from '../models/bert/bert.js';
import type { RgbaImage } from '../models/vit/image-processor.js';
import type { ClassifyOptions, ClassifyResult } from '../models/vit/vit.js';
import type { LoadedReply, Request, Response, WireError, WireGenerateOptions, WireTranscribeOptions, WireLoadOptions, WireSource } from './protocol.js';

function fromWire(e: WireError): AccelError {
  const err = new AccelError(e.code as AccelErrorCode, e.message);
  err.name = e.name;
  return err;
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (p: ModelLoadProgress) => void;
  onWarning?: (e: AccelError) => void;
  onToken?: (e: TokenEvent) => void;
  onMetrics?: (m: GenerationMetrics) => void;
}

/**
 * The engine living in a dedicated Worker, seen from the page: the same capabilities/load/generate calls,
 * with tokens, progress and errors sent back as messages, so model work never blocks the page.
 */
export class WorkerEngine {
  /** The dedicated Worker, or the SharedWorker whose port this engine talks through. */
  readonly worker: Worker | SharedWorker;
  /** true when the engine is a SharedWorker serving every tab of the origin. */
  readonly shared: boolean;
  #port: Worker | MessagePort;
  #next = 1;
  #pending = new Map<number, Pending>();

  constructor(worker: Worker | SharedWorker) {
    this.worker = worker;
    this.shared = typeof SharedWorker !== 'undefined' && worker instanceof SharedWorker;
    this.#port = this.shared ? (worker as SharedWorker).port : (worker as Worker);
    (this.#port as MessagePort).addEventListener('message', (e: MessageEvent) => this.#onMessage(e.data as Response));
    worker.addEventListener('error', (e: Event) => {
      const error = new AccelError('backend-unavailable', `The engine worker failed: ${(e as ErrorEvent).message || 'it could not be started'}.`);
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    });
    if (this.shared) {
      (this.#port as MessagePort).start();
      // best effort: a tab that goes away releases its models in the shared engine
      if (typeof addEventListener === 'function' && typeof window !== 'undefined') addEventListener('pagehide', () => this.send({ t: 'bye', id: 0 }), { once: true });
    }
  }

  /** Starts a module Worker running engine/worker/worker-entry. */
  static start(url: URL | string): WorkerEngine {
    return new WorkerEngine(new Worker(url, { type: 'module', name: 'accel-engine' }));
  }

  /**
   * Connects to the origin's shared engine (a module SharedWorker running the same worker-entry), started by
   * the first tab that asks: tabs that load the same source, backend and precision share one download and one
   * copy in (GPU) memory. Where SharedWorker does not exist (e.g. Chrome on Android) each tab gets its own
   * dedicated Worker.
   */
  static startShared(url: URL | string, name = 'accel-engine'): WorkerEngine {
    if (typeof SharedWorker === 'undefined') return WorkerEngine.start(url);
    return new WorkerEngine(new SharedWorker(url, { type: 'module', name }));
  }

  /** What the worker's engine holds now, over all the tabs it serves. */
  loadedModels(): Promise<ModelInfo[]> {
    return this.call<ModelInfo[]>({ t: 'loaded' }).promise;
  }

  #onMessage(r: Response): void {
    const p = this.#pending.get(r.id);
    if (!p) return;
    switch (r.t) {
      case 'progress': return void p.onProgress?.(r.value);
      case 'warning': return void p.onWarning?.(fromWire(r.error));
      case 'token': return void p.onToken?.(r.value);
      case 'metrics': return void p.onMetrics?.(r.value);
      case 'result':
        this.#pending.delete(r.id);
        return p.resolve(r.value);
      case 'error':
        this.#pending.delete(r.id);
        return p.reject(fromWire(r.error));
    }
  }

  call<T>(req: Distribute<Request>, hooks: Omit<Pending, 'resolve' | 'reject'> = {}, signal?: AbortSignal): { id: number; promise: Promise<T> } {
    const id = this.#next++;
    const promise = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...hooks });
    });
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.send({ t: 'abort', id }));
      else signal.addEventListener('abort', () => this.send({ t: 'abort', id }), { once: true });
    }
    this.#port.postMessage({ ...req, id } as Request);
    return { id, promise };
  }

  send(req: Request): void {
    this.#port.postMessage(req);
  }

  capabilities(options: { refresh?: boolean } = {}): Promise<CapabilityReport> {
    return this.call<CapabilityReport>({ t: 'capabilities', refresh: options.refresh ?? false }).promise;
  }

  recommendBackend(request: RecommendRequest = {}): Promise<BackendChoice[]> {
    return this.call<BackendChoice[]>({ t: 'recommend', request }).promise;
  }

  async load(src: WireSource, options: WireLoadOptions & { signal?: AbortSignal; onProgress?: (p: ModelLoadProgress) => void; onWarning?: (e: AccelError) => void } = {}): Promise<RemoteModel> {
    const { signal, onProgress, onWarning, ...wire } = options;
    const reply = await this.call<LoadedReply>({ t: 'load', src, options: wire }, { ...(onProgress ? { onProgress } : {}), ...(onWarning ? { onWarning } : {}) }, signal).promise;
    return new RemoteModel(this, reply.modelId, reply.info);
  }

  unload(model: ModelHandle): Promise<boolean> {
    if (!(model instanceof RemoteModel)) return Promise.resolve(false);
    return this.call<boolean>({ t: 'unload', modelId: model.modelId }).promise;
  }

  /** Ends a dedicated Worker; for the shared engine only this tab's connection (its models are released). */
  terminate(): void {
    if (this.shared) {
      this.send({ t: 'bye', id: 0 });
      (this.#port as MessagePort).close();
    } else (this.worker as Worker).terminate();
    const error = new AccelError('disposed', 'The engine worker was terminated.');
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}

/** A model loaded in the worker. */
export class RemoteModel implements ModelHandle {
  constructor(readonly engine: WorkerEngine, readonly modelId: number, readonly info: ModelInfo) {}

  generate(input: GenerateInput, options: GenerateOptions = {}): Generation {
    return remoteGeneration(this.engine, this.modelId, input, options);
  }

  embed(text: string): Promise<BertOutput> {
    return this.engine.call<BertOutput>({ t: 'embed', modelId: this.modelId, text }).promise;
  }

  classify(image: RgbaImage, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    // ImageData does not cross postMessage as such in every browser: send the plain fields
    return this.engine.call<ClassifyResult>({ t: 'classify', modelId: this.modelId, image: { width: image.width, height: image.height, data: image.data }, options }).promise;
  }

  transcribe(audio: AudioSamples, options: TranscribeOptions = {}): Generation {
    return remoteGeneration(this.engine, this.modelId, '', options, { samples: audio.samples, sampleRate: audio.sampleRate });
  }
}

function remoteGeneration(engine: WorkerEngine, modelId: number, input: GenerateInput, options: GenerateOptions, audio?: AudioSamples): Generation {
  const { signal, onToken, onMetrics, logitsProcessors, ...wire } = options;
  if (logitsProcessors?.length) throw new AccelError('invalid-argument', 'Custom logitsProcessors cannot cross to the engine worker; use the in-thread engine for them.');
  let id = 0;
  const gen = new PushedGeneration({
    pause: () => engine.send({ t: 'pause', id }),
    resume: () => engine.send({ t: 'resume', id }),
    abort: () => engine.send({ t: 'abort', id }),
  });
  const call = engine.call<GenerationResult>(
    audio ? { t: 'transcribe', modelId, audio, options: wire as WireTranscribeOptions } : { t: 'generate', modelId, input, options: wire as WireGenerateOptions },
    {
      onToken: (e) => {
        onToken?.(e);
        gen.push(e);
      },
      ...(onMetrics ? { onMetrics } : {}),
    },
    signal,
  );
  id = call.id;
  call.promise.then((r) => gen.finish(r), (e: unknown) => gen.fail(e));
  return gen;
}
