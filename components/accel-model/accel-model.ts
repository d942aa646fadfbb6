import { html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { AbortError, InvalidArgumentError } from '../../engine/errors.js';
import { formatBytes } from '../../engine/capabilities/recommend.js';
import type { ModelType } from '../../engine/capabilities/types.js';
import type { BackendRequest } from '../../engine/engine.js';
import type { ModelHandle, ModelLoadProgress } from '../../engine/load-model.js';
import type { QuantPlan } from '../../engine/quant/plan.js';
import { isRemoteSource } from '../../engine/remote/source.js';
import { prefetchEngine } from '../../src/engine-client.js';
import { lazyEngine } from '../../src/lazy-engine.js';
import { AccelElement } from '../../src/accel-element.js';
import { absoluteSource } from '../../src/controllers/model-lookup.js';
import type { AccelModelReadyDetail } from '../../src/events.js';
import { styles } from './accel-model.styles.js';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

const BACKENDS = ['auto', 'webgpu', 'wasm', 'cpu', 'webnn', 'remote'] as const;
type BackendAttr = (typeof BACKENDS)[number];
const PRECISIONS = ['original', 'q8', 'q4', 'q3', 'q2', 'mixed', 'auto'] as const;
type PrecisionAttr = (typeof PRECISIONS)[number];

/**
 * Loads a model into the shared engine and shows its progress and state. Other elements use it by id
 * (`<accel-stream model="my-model">`). Elements that name the same `src`, `backend` and `precision`
 * share one copy in memory.
 *
 * @tagname accel-model
 * @summary A model: download with progress, cache, load onto a backend.
 *
 * A model on an OpenAI-compatible inference server (vLLM, llama.cpp's llama-server, TGI, Ollama) is one
 * attribute away: `src="openai+https://host/v1#model-name"`. Generation then runs on the server and
 * `<accel-stream>` shows it unchanged; the key goes in the `apiKey` property (never an attribute).
 *
 * @attr src - Model folder URL, `.gguf` file URL, `hf:owner/name[@revision]`, `ipfs://CID`, or a remote model
 *   `openai+https://host/v1#model-name` (the name after `#`; it may be left out when the server serves one model).
 * @attr backend - auto (default), webgpu, wasm, cpu, webnn (a WebNN MLContext; ops it lacks run on the cpu backend;
 *   where the browser cannot create a context, loading fails with `accel-error` code `backend-unavailable`), or remote
 *   (implied by an `openai+` src; with `backend="remote"` a plain `https://host/v1#model-name` src works too).
 * @attr precision - original (default: the checkpoint's own weights; GGUF files keep Q8_0/Q4_0), or a Llama-family
 *   float checkpoint's projections quantized while it loads: q8, q4 (g32), q3, q2 (g128, clip search) or mixed
 *   (attention 3-bit, feed-forward 2-bit, lm_head 4-bit), or auto (the best of those whose weights fit `memory-budget`).
 *   The `quantization` property (a plan object, see QuantPlan) takes precedence over it.
 * @attr memory-budget - Bytes the weights may take, for precision="auto".
 * @attr preload - Load as soon as the element is connected, not on first use.
 * @attr max-sequence - KV-cache length in tokens (overrides memory-profile).
 * @attr memory-profile - KV-cache size class: low (512 tokens), balanced (default, 2048) or max (the model's limit).
 * @attr task - The task the page expects: text-generation, feature-extraction or image-classification. A loaded
 *   model of another task is released and reported as an `accel-error` (code invalid-argument). Unset: any.
 * @attr gateways - IPFS gateway URLs (space-separated) an `ipfs://` src is fetched from, tried in order; no others are used.
 * @attr hub-base - Base URL for `hf:` sources (default https://huggingface.co), e.g. a mirror.
 * @attr stall-timeout - Milliseconds without a byte before a download fails with code `stalled` (default 30000).
 *
 * @event {CustomEvent<ModelLoadProgress>} accel-load-progress - Bytes and phase while loading.
 * @event {CustomEvent<AccelModelReadyDetail>} accel-ready - The model is loaded; `detail` has name, backend and memory.
 * @event {CustomEvent<AccelModelUnloadDetail>} accel-unload - The model was released (unload(), src/backend change or removal).
 * @event {CustomEvent<AccelErrorDetail>} accel-error - Loading failed; `detail.code` says why. Also code `device-lost` when
 *   the GPU device of a loaded model is lost: the model is dropped and the next use (ready(), an `<accel-stream>`
 *   generation) loads it again on a new device, from the model cache.
 * @event {CustomEvent<AccelErrorDetail>} accel-warning - A non-fatal problem while loading, e.g. code `quota-exceeded`
 *   or `storage-failed`: the model still loads, without being cached.
 *
 * @csspart base - The frame.
 * @csspart name - The model's name.
 * @csspart details - Backend, format and memory once loaded.
 * @csspart progress - The progress bar.
 * @csspart status - The progress text.
 * @csspart error - The error message.
 * @csspart load-button - The "Load" button shown when not preloaded.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-card-background - Background.
 * @cssproperty --accel-border-color - Border colour.
 * @cssproperty --accel-accent-color - Progress bar and button colour.
 * @cssproperty --accel-muted-color - Colour of the details.
 * @cssproperty --accel-no-color - Colour of errors.
 * @cssproperty --accel-color - Text colour (light and dark defaults follow prefers-color-scheme).
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-font-family - Font.
 */
export class AccelModel extends AccelElement {
  static override styles = styles;

  /** Where the model comes from. */
  @property({ reflect: true }) src = '';

  /** Which backend runs it. */
  @property({ reflect: true }) backend: BackendAttr = 'auto';

  /** Weight precision. */
  @property({ reflect: true }) precision: PrecisionAttr = 'original';

  /** Bytes the weights may take, for precision="auto". */
  @property({ type: Number, reflect: true, attribute: 'memory-budget' }) memoryBudget: number | undefined = undefined;

  /**
   * A quantization plan object (the seeds' config style), e.g. `{ attention: { bits: 4 }, ffn: { bits: 2 },
   * exclude: ['model.layers.0.*'] }`; takes precedence over `precision`. Not an attribute.
   */
  @property({ attribute: false }) quantization: QuantPlan | null = null;

  /** Load when connected. */
  @property({ type: Boolean, reflect: true }) preload = false;

  /** KV-cache length in tokens. */
  @property({ type: Number, reflect: true, attribute: 'max-sequence' }) maxSequence: number | undefined = undefined;

  /** The task the page expects of the model; empty = any. */
  @property({ reflect: true }) task: '' | ModelType = '';

  /** KV-cache size class. */
  @property({ reflect: true, attribute: 'memory-profile' }) memoryProfile: 'low' | 'balanced' | 'max' = 'balanced';

  /** IPFS gateways for an `ipfs://` src, space-separated; the only hosts it is fetched from. */
  @property({ reflect: true }) gateways = '';

  /** Base URL for `hf:` sources; default https://huggingface.co. */
  @property({ reflect: true, attribute: 'hub-base' }) hubBase = '';

  /** Milliseconds without data before a download is declared stalled. */
  @property({ type: Number, reflect: true, attribute: 'stall-timeout' }) stallTimeout: number | undefined = undefined;

  /**
   * API key of a remote model's server, sent as `Authorization: Bearer …`. A property only: never an
   * attribute, never reflected, rendered, logged or put in an error message. Changing it reloads.
   */
  @property({ attribute: false }) apiKey = '';

  @state() private _status: ModelStatus = 'idle';
  @state() private _progress: ModelLoadProgress | null = null;
  @state() private _error = '';
  @state() private _model: ModelHandle | null = null;
  #pending: Promise<ModelHandle> | null = null;
  #abort: AbortController | null = null;

  /** idle, loading, ready or error. */
  get status(): ModelStatus {
    return this._status;
  }

  /** The loaded model, or null. */
  get model(): ModelHandle | null {
    return this._model;
  }

  /** The last progress report while loading. */
  get progress(): ModelLoadProgress | null {
    return this._progress;
  }

  /** Resolves with the model, loading it first if needed (what other elements call). */
  ready(): Promise<ModelHandle> {
    if (this._model) return Promise.resolve(this._model);
    return this.#pending ?? this.load();
  }

  /** Starts (or restarts) loading `src` on `backend`. */
  load(): Promise<ModelHandle> {
    this.#release();
    const abort = new AbortController();
    this.#abort = abort;
    const run = this.#load(abort.signal);
    this.#pending = run;
    run.catch(() => undefined).finally(() => {
      if (this.#pending === run) this.#pending = null;
    });
    return run;
  }

  /** Releases the model (shared copies stay loaded for their other users) and aborts a load in flight. */
  unload(): void {
    this.#release();
    this._status = 'idle';
    this._progress = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.src) prefetchEngine(this.#remote());
    if (this.preload && this.src && !this._model && !this.#pending) void this.load().catch(() => undefined);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unload();
  }

  protected override updated(changed: PropertyValues<this>): void {
    const reloadKeys = ['src', 'backend', 'precision', 'quantization', 'memoryBudget', 'maxSequence', 'memoryProfile', 'gateways', 'hubBase', 'stallTimeout', 'apiKey', 'task'] as const;
    const changedSource = reloadKeys.some((k) => changed.has(k) && changed.get(k) !== undefined);
    if (changedSource && (this._status !== 'idle' || this.preload)) {
      if (this.src) void this.load().catch(() => undefined);
      else this.unload();
    } else if ((changed.has('preload') || changed.has('src')) && this.preload && this.src && this.isConnected && this._status === 'idle' && !this.#pending) {
      // frameworks (React via @lit/react, Angular bindings) set src and preload as properties after the element is connected
      void this.load().catch(() => undefined);
    }
  }

  async #load(signal: AbortSignal): Promise<ModelHandle> {
    this._status = 'loading';
    this._error = '';
    this._progress = null;
    try {
      if (!this.src) throw new InvalidArgumentError('<accel-model> needs a src attribute (a model folder URL, a .gguf URL, hf:owner/name or ipfs://CID).');
      if (!BACKENDS.includes(this.backend)) throw new InvalidArgumentError(`<accel-model backend="${this.backend}">: expected one of ${BACKENDS.join(', ')}.`);
      if (!['low', 'balanced', 'max'].includes(this.memoryProfile)) throw new InvalidArgumentError(`<accel-model memory-profile="${this.memoryProfile}">: expected low, balanced or max.`);
      if (!PRECISIONS.includes(this.precision)) throw new InvalidArgumentError(`<accel-model precision="${this.precision}">: expected one of ${PRECISIONS.join(', ')}.`);
      const remote = this.#remote();
      if (remote && this.precision !== 'original') throw new InvalidArgumentError(`<accel-model precision="${this.precision}">: precision applies to local models; a remote server runs the weights it has.`);
      // Remote models load in this thread: they are only HTTP streams, and typed errors keep their fields.
      const model = remote ? await lazyEngine.load(absoluteSource(this.src), {
        backend: 'remote',
        signal,
        ...(this.apiKey ? { apiKey: this.apiKey } : {}),
        onProgress: (p) => {
          if (!signal.aborted) this.emit('accel-load-progress', p);
        },
      }) : await this.client.load(absoluteSource(this.src), {
        backend: this.backend as BackendRequest,
        precision: this.quantization ?? this.precision,
        ...(this.memoryBudget !== undefined ? { memoryBudget: this.memoryBudget } : {}),
        signal,
        ...(this.maxSequence ? { maxSequence: this.maxSequence } : {}),
        memoryProfile: this.memoryProfile,
        ...this.#sourceOptions(),
        onWarning: (e) => {
          if (!signal.aborted) this.emit('accel-warning', { code: e.code, message: e.message, error: e });
        },
        onProgress: (p) => {
          if (signal.aborted) return;
          this._progress = p;
          this.emit('accel-load-progress', p);
        },
      });
      if (signal.aborted) {
        this.#unloadModel(model);
        throw new AbortError('Loading the model', { cause: signal.reason });
      }
      if (this.task && model.info.task !== this.task) {
        this.#unloadModel(model);
        throw new InvalidArgumentError(`<accel-model task="${this.task}">: ${this.src} is a ${model.info.task} model (${model.info.architecture}); load a ${this.task} model or change the task.`);
      }
      this._model = model;
      this._status = 'ready';
      this.#watchLoss(model);
      await this.updateComplete;
      this.emit('accel-ready', this.#readyDetail(model));
      return model;
    } catch (error) {
      if (!signal.aborted) {
        this._status = 'error';
        this._error = this.reportError(error).message;
      }
      throw error;
    }
  }

  /**
   * A call on the model failed (what `<accel-stream>` reports). A lost GPU device leaves the model unusable:
   * it is released and `accel-error` (code device-lost) fired; the next ready() loads it on a new device.
   */
  modelFailed(model: ModelHandle, error: unknown): void {
    if (model === this._model && (error as { code?: unknown } | null)?.code === 'device-lost') this.#onLost(model, error);
  }

  /** In this thread the model's backend says when its device is lost, before any call fails. */
  #watchLoss(model: ModelHandle): void {
    // (an in-thread Model has its backend; worker and remote handles have none: their calls report the loss)
    const lost = (model as { backend?: { lost?: Promise<unknown> } }).backend?.lost;
    if (!(lost instanceof Promise)) return;
    void lost.then((error) => this.#onLost(model, error));
  }

  #onLost(model: ModelHandle, error: unknown): void {
    if (this._model !== model) return;
    this._model = null;
    this.#unloadModel(model);
    this.emit('accel-unload', { source: model.info.source });
    this._status = 'error';
    this._error = this.reportError(error).message;
  }

  #sourceOptions(): { gateways?: string[]; hubBase?: string; stallTimeoutMs?: number } {
    const gateways = this.gateways.split(/\s+/).filter(Boolean);
    return {
      ...(gateways.length ? { gateways } : {}),
      ...(this.hubBase ? { hubBase: this.hubBase } : {}),
      ...(this.stallTimeout !== undefined && this.stallTimeout > 0 ? { stallTimeoutMs: this.stallTimeout } : {}),
    };
  }

  #readyDetail(model: ModelHandle): AccelModelReadyDetail {
    const i = model.info;
    return { name: i.name, architecture: i.architecture, backend: i.backend, format: i.format, weightBytes: i.memory.weightBytes, kvCacheBytes: i.memory.kvCacheBytes, source: i.source };
  }

  #name(model: ModelHandle | null): string {
    if (model) return model.info.name;
    const src = this.src.replace(/[?#].*$/, '').replace(/\/+$/, '');
    return src.split(/[/:]/).filter(Boolean).pop() ?? 'model';
  }

  #remote(): boolean {
    return this.backend === 'remote' || isRemoteSource(this.src);
  }

  #unloadModel(model: ModelHandle): void {
    // remote models were loaded in this thread (see load), the others by the client
    if (model.info.backend === 'remote') void lazyEngine.unload(model);
    else void this.client.unload(model);
  }

  #where(model: ModelHandle): string {
    const i = model.info;
    return i.backend === 'remote' && i.endpoint ? `${new URL(i.endpoint).host} (remote)` : i.backend;
  }

  #release(): void {
    this.#abort?.abort(new AbortError('Loading the model was replaced or cancelled'));
    this.#abort = null;
    this.#pending = null;
    const model = this._model;
    if (model) {
      this._model = null;
      this.#unloadModel(model);
      this.emit('accel-unload', { source: model.info.source });
    }
  }

  #statusText(): string {
    const p = this._progress;
    if (this._status === 'ready' && this._model) return `${this._model.info.name} is ready on ${this.#where(this._model)}.`;
    if (this._status === 'error') return `Loading failed: ${this._error}`;
    if (this._status !== 'loading') return this.src ? 'Not loaded.' : 'No model source set.';
    if (!p) return 'Starting…';
    const verb = { download: 'Downloading', verify: 'Verifying', cache: 'Caching', cached: 'Reading from cache', parse: 'Parsing', upload: 'Uploading weights', ready: 'Ready' }[p.phase];
    const bytes = p.fileTotal !== undefined ? `${formatBytes(p.fileLoaded)} of ${formatBytes(p.fileTotal)}` : formatBytes(p.fileLoaded);
    return `${verb} ${p.file} — ${bytes}`;
  }

  override render(): TemplateResult {
    const p = this._progress;
    const model = this._model;
    const pct = p?.progress !== null && p?.progress !== undefined ? Math.round(p.progress * 100) : null;
    return html`<div part="base">
      <div part="name">${model ? this.#name(model) : this.#name(null)}</div>
      ${model
        ? model.info.backend === 'remote'
          ? html`<div part="details">remote · ${model.info.format} · ${this.#where(model)}</div>`
          : html`<div part="details">${model.info.architecture} · ${model.info.format} · ${model.info.backend} · ${formatBytes(model.info.memory.totalBytes)}</div>`
        : nothing}
      ${this._status === 'loading'
        ? html`<progress part="progress" max="100" .value=${pct ?? 0} aria-label="Loading ${this.#name(null)}" aria-valuetext=${this.#statusText()}></progress>`
        : nothing}
      <div part="status" role="status" aria-live="polite">${this.#statusText()}</div>
      ${this._status === 'error' ? html`<div part="error" role="alert">${this._error}</div>` : nothing}
      ${this._status === 'idle' && this.src ? html`<button part="load-button" type="button" @click=${() => void this.load().catch(() => undefined)}>Load</button>` : nothing}
    </div>`;
  }
}
