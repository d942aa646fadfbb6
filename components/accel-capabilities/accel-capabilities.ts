import { html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import { formatBytes, recommendBackend } from '../../engine/capabilities/recommend.js';
import type { BackendChoice, CapabilityReport, ModelType, Precision } from '../../engine/capabilities/types.js';
import { AccelElement } from '../../src/accel-element.js';
import { styles } from './accel-capabilities.styles.js';

type Status = 'loading' | 'ready' | 'error';

const PRECISIONS: readonly Precision[] = ['f32', 'f16', 'q8', 'q4', 'q3', 'q2', 'original'];
const MODEL_TYPES: readonly ModelType[] = ['text-generation', 'feature-extraction', 'image-classification', 'speech-recognition', 'other'];

/**
 * Shows what this device can do for machine learning: the WebGPU adapter with its features and limits,
 * whether WebNN contexts can be created (and which ops each would leave to the cpu backend), the WebAssembly features, cores, memory and storage, and which
 * backend the engine recommends for a model of a given size — each with a clear ✓ or ✗ and the reason.
 *
 * @tagname accel-capabilities
 * @summary Device capability report with a recommended backend.
 *
 * @attr compact - Denser layout with only the key rows.
 * @attr show-limits - Also list the WebGPU limits that matter for ML (buffer sizes, workgroup sizes…).
 * @attr param-count - Parameters of the model to recommend a backend for (default 135e6).
 * @attr precision - Weight precision of that model: f32, f16, q8, q4, q3, q2 or original (default q4).
 * @attr model-type - text-generation (default), feature-extraction, image-classification, speech-recognition or other.
 * @attr remote - A configured OpenAI-compatible endpoint (`openai+https://host/v1#model`): ranked first, with the
 *   reason, when no local backend can run the model.
 *
 * @event {CustomEvent<CapabilityReport>} accel-capabilities-ready - The report is ready (after the first probe and every `refresh()`); `detail` is the report.
 * @event {CustomEvent<AccelErrorDetail>} accel-error - Probing failed; `detail` has `code`, `message` and `error`.
 *
 * @csspart base - The outer frame.
 * @csspart header - Title row with the re-check button.
 * @csspart title - The heading.
 * @csspart refresh-button - The "Re-check" button.
 * @csspart loading - The text shown while probing.
 * @csspart error - The message shown when probing failed.
 * @csspart cards - The grid holding the cards.
 * @csspart card - Every card.
 * @csspart card-webgpu - The WebGPU card.
 * @csspart card-webnn - The WebNN card.
 * @csspart card-wasm - The WebAssembly card.
 * @csspart card-device - The device card.
 * @csspart card-recommendation - The recommended-backend card.
 * @csspart card-limits - The WebGPU limits card (with `show-limits`).
 * @csspart card-title - Each card's heading.
 * @csspart limit-name - Name of a WebGPU limit (with `show-limits`).
 * @csspart limit-value - Value of a WebGPU limit (with `show-limits`).
 * @csspart yes - A ✓ mark.
 * @csspart no - A ✗ mark.
 * @csspart warning - A caution next to a ✓ (e.g. a software adapter).
 * @csspart recommendation - The ordered list of backends.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-color - Text colour.
 * @cssproperty --accel-background - Background of the frame.
 * @cssproperty --accel-card-background - Background of each card.
 * @cssproperty --accel-muted-color - Colour of labels and unusable backends.
 * @cssproperty --accel-border-color - Border colour.
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-gap - Spacing between cards.
 * @cssproperty --accel-ok-color - Colour of ✓.
 * @cssproperty --accel-no-color - Colour of ✗ and errors.
 * @cssproperty --accel-warn-color - Colour of cautions.
 * @cssproperty --accel-accent-color - Button and focus colour.
 * @cssproperty --accel-font-family - Font.
 * @cssproperty --accel-mono-font-family - Font of adapter names and limits.
 */
export class AccelCapabilities extends AccelElement {
  static override styles = styles;

  /** Denser layout with only the key rows. */
  @property({ type: Boolean, reflect: true }) compact = false;

  /** Also list the WebGPU limits that matter for ML. */
  @property({ type: Boolean, reflect: true, attribute: 'show-limits' }) showLimits = false;

  /** Parameters of the model the recommendation is for. */
  @property({ type: Number, reflect: true, attribute: 'param-count' }) paramCount = 135e6;

  /** Weight precision of the model the recommendation is for. */
  @property({ reflect: true }) precision: Precision = 'q4';

  /** Kind of model the recommendation is for. */
  @property({ reflect: true, attribute: 'model-type' }) modelType: ModelType = 'text-generation';

  /** A remote endpoint the recommendation may fall back to. */
  @property({ reflect: true }) remote = '';

  @state() private status: Status = 'loading';
  @state() private errorMessage = '';
  @state() private _report: CapabilityReport | null = null;
  #probe = 0;

  /** The last report, or null while the first probe runs. */
  get report(): CapabilityReport | null {
    return this._report;
  }

  /** The backends in recommended order for the current `param-count`, `precision` and `model-type`. */
  get recommendation(): BackendChoice[] {
    if (!this._report) return [];
    return recommendBackend(this._report, {
      paramCount: Number.isFinite(this.paramCount) && this.paramCount > 0 ? this.paramCount : 0,
      precision: PRECISIONS.includes(this.precision) ? this.precision : 'q4',
      modelType: MODEL_TYPES.includes(this.modelType) ? this.modelType : 'other',
      ...(this.remote.trim() ? { remote: this.remote.trim() } : {}),
    });
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this._report) void this.#run(false).catch(() => undefined);
  }

  /** Probes the device again (not the cached report) and resolves with the new report. */
  refresh(): Promise<CapabilityReport> {
    return this.#run(true);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('precision') && !PRECISIONS.includes(this.precision)) {
      this.reportError(new InvalidArgumentError(`<accel-capabilities precision="${this.precision}">: expected one of ${PRECISIONS.join(', ')}; using q4.`));
    }
  }

  async #run(refresh: boolean): Promise<CapabilityReport> {
    const ticket = ++this.#probe;
    this.status = 'loading';
    try {
      const report = await this.engine.capabilities({ refresh });
      if (ticket === this.#probe) {
        this._report = report;
        this.status = 'ready';
        await this.updateComplete;
        this.emit('accel-capabilities-ready', report);
      }
      return report;
    } catch (error) {
      if (ticket === this.#probe) {
        this.status = 'error';
        this.errorMessage = this.reportError(error).message;
      }
      throw error;
    }
  }

  #mark(ok: boolean, yes = 'yes', no = 'no'): TemplateResult {
    return ok
      ? html`<span part="yes" aria-hidden="true">✓</span><span class="visually-hidden">${yes}</span>`
      : html`<span part="no" aria-hidden="true">✗</span><span class="visually-hidden">${no}</span>`;
  }

  #row(label: string, value: TemplateResult | string): TemplateResult {
    return html`<dt>${label}</dt><dd>${value}</dd>`;
  }

  #flag(label: string, ok: boolean, detail = ''): TemplateResult {
    return this.#row(label, html`${this.#mark(ok)}${detail ? html` <span>${detail}</span>` : nothing}`);
  }

  #webgpu(r: CapabilityReport): TemplateResult {
    const g = r.webgpu;
    const a = g.adapter;
    const name = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter' : '';
    return html`<section part="card card-webgpu" aria-labelledby="h-webgpu">
      <h3 part="card-title" id="h-webgpu">WebGPU</h3>
      <dl>
        ${this.#flag('Adapter', g.available && g.deviceCreated, a ? name : g.error ?? 'none')}
        ${a
          ? html`${this.#row('Kind', a.isFallbackAdapter ? html`<span part="warning">software (fallback) adapter</span>` : 'hardware')}
              ${this.#flag('shader-f16', a.shaderF16)}
              ${this.#flag('subgroups', a.subgroups)}
              ${this.compact ? nothing : this.#flag('timestamp-query', a.timestampQuery)}
              ${this.compact ? nothing : this.#row('Max buffer', formatBytes(a.limits.maxBufferSize))}
`
          : nothing}
        ${a && !g.deviceCreated && g.error ? this.#row('Problem', g.error) : nothing}
      </dl>
    </section>`;
  }

  #limitsCard(r: CapabilityReport): TemplateResult | typeof nothing {
    const l = r.webgpu.adapter?.limits;
    if (!this.showLimits || !l) return nothing;
    const rows: [string, string][] = [
      ['maxStorageBufferBindingSize', formatBytes(l.maxStorageBufferBindingSize)],
      ['maxBufferSize', formatBytes(l.maxBufferSize)],
      ['maxComputeWorkgroupStorageSize', formatBytes(l.maxComputeWorkgroupStorageSize)],
      ['maxComputeInvocationsPerWorkgroup', String(l.maxComputeInvocationsPerWorkgroup)],
      ['maxComputeWorkgroupSize', `${l.maxComputeWorkgroupSizeX} × ${l.maxComputeWorkgroupSizeY} × ${l.maxComputeWorkgroupSizeZ}`],
      ['maxComputeWorkgroupsPerDimension', String(l.maxComputeWorkgroupsPerDimension)],
      ['maxStorageBuffersPerShaderStage', String(l.maxStorageBuffersPerShaderStage)],
      ['maxBindGroups', String(l.maxBindGroups)],
      ['minStorageBufferOffsetAlignment', String(l.minStorageBufferOffsetAlignment)],
      ['subgroup size', l.subgroupMinSize !== null ? `${l.subgroupMinSize}–${l.subgroupMaxSize}` : 'not reported'],
    ];
    return html`<section part="card card-limits" aria-labelledby="h-limits">
      <h3 part="card-title" id="h-limits">WebGPU limits for ML</h3>
      <dl class="limits">
        ${rows.map(([k, v]) => html`<dt class="mono" part="limit-name">${k}</dt><dd class="mono" part="limit-value">${v}</dd>`)}
      </dl>
    </section>`;
  }

  #webnn(r: CapabilityReport): TemplateResult {
    const n = r.webnn;
    return html`<section part="card card-webnn" aria-labelledby="h-webnn">
      <h3 part="card-title" id="h-webnn">WebNN</h3>
      <dl>
        ${this.#flag('navigator.ml', n.api, n.api ? '' : 'not exposed')}
        ${n.api
          ? (['cpu', 'gpu', 'npu'] as const).map((d) => {
              const c = n.contexts[d];
              // a created context: which engine ops the WebNN backend would run on the cpu instead
              const detail = !c.created ? (c.error ?? '') : c.fallbacks ? `ops on the cpu backend: ${c.fallbacks.map((f) => f.op).join(', ') || 'none'}` : '';
              return this.#flag(`${d} context`, c.created, detail);
            })
          : nothing}
      </dl>
    </section>`;
  }

  #wasm(r: CapabilityReport): TemplateResult {
    const w = r.wasm;
    const why = w.threads ? '' : !w.sharedArrayBuffer ? 'no SharedArrayBuffer' : !w.crossOriginIsolated ? 'page not cross-origin isolated' : 'shared memory does not validate';
    return html`<section part="card card-wasm" aria-labelledby="h-wasm">
      <h3 part="card-title" id="h-wasm">WebAssembly</h3>
      <dl>
        ${this.#flag('Supported', w.supported)}
        ${this.#flag('SIMD (128-bit)', w.simd)}
        ${this.#flag('Threads', w.threads, why)}
        ${this.compact ? nothing : this.#flag('Relaxed SIMD', w.relaxedSimd)}
        ${this.compact ? nothing : this.#flag('Memory64', w.memory64)}
      </dl>
    </section>`;
  }

  #device(r: CapabilityReport): TemplateResult {
    const d = r.device;
    const s = d.storage;
    return html`<section part="card card-device" aria-labelledby="h-device">
      <h3 part="card-title" id="h-device">Device</h3>
      <dl>
        ${this.#row('Browser', `${r.browser.name} ${r.browser.version}`.trim())}
        ${this.#row('CPU cores', d.hardwareConcurrency !== null ? String(d.hardwareConcurrency) : 'not exposed')}
        ${this.#row('Memory', d.deviceMemoryGiB !== null ? `≥ ${d.deviceMemoryGiB} GiB` : 'not exposed')}
        ${this.compact
          ? nothing
          : html`${this.#row('Storage', s && s.quotaBytes !== null ? `${formatBytes(s.usageBytes ?? 0)} used of ${formatBytes(s.quotaBytes)}` : 'not exposed')}
              ${this.#flag('Persistent storage', Boolean(s?.persisted), s?.persisted === null ? 'unknown' : '')}`}
      </dl>
    </section>`;
  }

  #recommendationCard(): TemplateResult {
    const choices = this.recommendation;
    return html`<section part="card card-recommendation" aria-labelledby="h-recommendation">
      <h3 part="card-title" id="h-recommendation">Recommended backend</h3>
      <ol part="recommendation">
        ${choices.map((c) => html`<li data-backend=${c.backend} data-usable=${String(c.usable)}>
          ${this.#mark(c.usable, 'usable', 'not usable')} <span class="backend">${c.backend}</span> — ${c.reason.replace(/^[a-z]+: /, '')}
        </li>`)}
      </ol>
    </section>`;
  }

  #statusText(): string {
    if (this.status === 'loading') return 'Checking WebGPU, WebNN and WebAssembly…';
    if (this.status === 'error') return `Capability check failed: ${this.errorMessage}`;
    const best = this.recommendation.find((c) => c.usable);
    return `Capability check done. Recommended backend: ${best?.backend ?? 'none'}.`;
  }

  override render(): TemplateResult {
    const r = this._report;
    const busy = this.status === 'loading';
    return html`<section part="base" aria-labelledby="title" aria-busy=${busy ? 'true' : 'false'}>
      <header part="header">
        <h2 part="title" id="title">Device capabilities</h2>
        <button part="refresh-button" type="button" ?disabled=${busy} @click=${() => void this.refresh().catch(() => undefined)}>Re-check</button>
      </header>
      <div class="visually-hidden" role="status" aria-live="polite">${this.#statusText()}</div>
      ${busy && !r ? html`<p part="loading">${this.#statusText()}</p>` : nothing}
      ${this.status === 'error' ? html`<p part="error" role="alert">${this.errorMessage}</p>` : nothing}
      ${r
        ? html`<div part="cards">${this.#webgpu(r)} ${this.#webnn(r)} ${this.#wasm(r)} ${this.#device(r)} ${this.#recommendationCard()} ${this.#limitsCard(r)}</div>`
        : nothing}
    </section>`;
  }
}
