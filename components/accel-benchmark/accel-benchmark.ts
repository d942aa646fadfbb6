import { html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import type { Chart as ChartType, ChartConfiguration } from 'chart.js';
import { AbortError, InvalidArgumentError } from '../../engine/errors.js';
import { formatBytes } from '../../engine/capabilities/recommend.js';
import type { BackendName } from '../../engine/backends/backend.js';
import type { BenchmarkProgress } from '../../engine/bench/index.js';
import { histogram } from '../../engine/bench/stats.js';
import { newId, profileFromCapabilities, toRecord, type BenchmarkRecord, type HardwareProfile } from '../../engine/bench/records.js';
import { BenchmarkStore } from '../../engine/bench/storage.js';
import { toCsv, toHtml, toJson, toMarkdown } from '../../engine/bench/export.js';
import { AccelElement } from '../../src/accel-element.js';
import { absoluteSource, findModelElement } from '../../src/controllers/model-lookup.js';
import type { AccelBenchmarkCompleteDetail } from '../../src/events.js';
import { styles } from './accel-benchmark.styles.js';

const BACKENDS: readonly BackendName[] = ['webgpu', 'wasm', 'cpu'];
const PRECISIONS = ['original', 'q8', 'q4', 'q3', 'q2', 'mixed'] as const;

export type ExportFormat = 'json' | 'csv' | 'markdown' | 'html';
const EXPORTS: Record<ExportFormat, { label: string; ext: string; type: string }> = {
  json: { label: 'JSON', ext: 'json', type: 'application/json' },
  csv: { label: 'CSV', ext: 'csv', type: 'text/csv' },
  markdown: { label: 'Markdown', ext: 'md', type: 'text/markdown' },
  html: { label: 'HTML report', ext: 'html', type: 'text/html' },
};

type ChartCtor = typeof import('chart.js/auto').default;
let chartJs: Promise<ChartCtor> | null = null;
/** chart.js is fetched on the first chart, so pages without this element (or before a run) never load it. */
function loadChartJs(): Promise<ChartCtor> {
  chartJs ??= import('chart.js/auto').then((m) => m.default).catch((e: unknown) => {
    chartJs = null;
    throw e;
  });
  return chartJs;
}

function list(value: string): string[] {
  return value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

const fixed = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const cellLabel = (r: { backend: string; precision: string; promptTokens: number | null }): string => `${r.backend} · ${r.precision} · ${r.promptTokens ?? '?'} tok`;

interface Failure {
  cell: { backend: BackendName | 'remote'; precision: string; promptTokens: number };
  code: AccelBenchmarkCompleteDetail['failures'][number]['code'];
  message: string;
}

/**
 * Benchmarks text generation of a model in this browser: every backend × precision × prompt length, with
 * warm-up and measured iterations, then a results table (mean, p50/p90/p99 latency, time to first token,
 * tokens per second, memory), charts of the latency distribution, tokens per second and the history of
 * stored runs, and exports to JSON, CSV, Markdown and a self-contained HTML report. Results are kept in
 * IndexedDB keyed by model, backend, precision, browser and hardware. chart.js loads only when the first
 * chart is drawn.
 *
 * The model is loaded in this page's engine (`getEngine().load(src, { backend, precision })`) once per
 * backend and precision, and unloaded after its cells ran.
 *
 * @tagname accel-benchmark
 * @summary Generation benchmark with matrix runs, stored history, charts and exports.
 *
 * @attr model - id of an `<accel-model>` on the page (its `src` is benchmarked; its backend and precision are the defaults), or a model URL.
 * @attr backends - Backends to compare, comma- or space-separated: webgpu, wasm, cpu (default: the `<accel-model>`'s backend, else the engine's recommendation).
 * @attr precisions - Weight precisions, comma- or space-separated: original, q8, q4, q3, q2, mixed (default original, or the `<accel-model>`'s).
 * @attr prompt-tokens - Prompt lengths in tokens (the sequence sizes), comma-separated (default 16).
 * @attr max-tokens - Tokens generated per iteration (default 16; EOS is ignored so every iteration makes this many).
 * @attr iterations - Measured iterations per cell (default 5).
 * @attr warmup - Untimed iterations before them (default 1).
 * @attr autorun - Run as soon as the element is connected.
 * @attr db - Name of the IndexedDB database that keeps results (default accel-bench).
 *
 * @event {CustomEvent<BenchmarkProgress>} accel-benchmark-progress - Before each load and iteration; `detail.progress` is 0…1 over the whole run.
 * @event {CustomEvent<AccelBenchmarkCompleteDetail>} accel-benchmark-complete - The run finished; `detail.records` holds one stored record per cell, `detail.failures` the cells that could not run.
 * @event {CustomEvent<AccelErrorDetail>} accel-error - Invalid settings, a model that cannot be found or loaded, a failed cell, or storage that cannot be used.
 *
 * @csspart base - The outer frame.
 * @csspart header - Title row with the buttons.
 * @csspart run-button - The Run button.
 * @csspart stop-button - The Stop button.
 * @csspart settings - The line describing what will run.
 * @csspart progress - The progress bar row.
 * @csspart status - The live status text next to the bar.
 * @csspart error - The error message.
 * @csspart table - The results table.
 * @csspart charts - The grid of charts.
 * @csspart chart - Each chart figure (also `chart-latency`, `chart-throughput`, `chart-history`).
 * @csspart exports - The row of export buttons.
 * @csspart export-button - Each export button.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-benchmark-chart-height - Height of each chart (default 220px).
 * @cssproperty --accel-color - Text colour.
 * @cssproperty --accel-background - Background of the frame.
 * @cssproperty --accel-card-background - Background of the charts.
 * @cssproperty --accel-muted-color - Labels and captions.
 * @cssproperty --accel-border-color - Borders and table rules.
 * @cssproperty --accel-accent-color - Buttons, progress bar and the first chart colour.
 * @cssproperty --accel-no-color - Errors and failed cells.
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-gap - Spacing.
 * @cssproperty --accel-font-family - Font.
 * @cssproperty --accel-mono-font-family - Font of the figures.
 */
export class AccelBenchmark extends AccelElement {
  static override styles = styles;

  @property({ reflect: true }) model = '';
  @property({ reflect: true }) backends = '';
  @property({ reflect: true }) precisions = '';
  @property({ reflect: true, attribute: 'prompt-tokens' }) promptTokens = '16';
  @property({ type: Number, reflect: true, attribute: 'max-tokens' }) maxTokens = 16;
  @property({ type: Number, reflect: true }) iterations = 5;
  @property({ type: Number, reflect: true }) warmup = 1;
  @property({ type: Boolean, reflect: true }) autorun = false;
  @property({ reflect: true }) db = 'accel-bench';

  @state() private _running = false;
  @state() private _progress: BenchmarkProgress | null = null;
  @state() private _records: BenchmarkRecord[] = [];
  @state() private _failures: Failure[] = [];
  @state() private _history: BenchmarkRecord[] = [];
  @state() private _error = '';
  @state() private _status = '';
  @query('[part~="run-button"]') private _runButton!: HTMLButtonElement | null;
  @query('[part~="stop-button"]') private _stopButton!: HTMLButtonElement | null;
  #abort: AbortController | null = null;
  #charts: ChartType[] = [];
  #chartsDrawn: Promise<void> = Promise.resolve();

  /** Records of the last run, one per matrix cell, in run order. */
  get results(): readonly BenchmarkRecord[] {
    return this._records;
  }

  /** Stored records of the benchmarked model (all runs in this browser), oldest first; filled after a run. */
  get history(): readonly BenchmarkRecord[] {
    return this._history;
  }

  get running(): boolean {
    return this._running;
  }

  /** Resolves once the charts of the current results are drawn (chart.js loaded). */
  get chartsReady(): Promise<void> {
    return this.#chartsDrawn;
  }

  // Chart colours are read from the theme tokens when drawn: redraw when the OS switches light/dark.
  #scheme = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  #onScheme = () => {
    if (this.#charts.length) this.#chartsDrawn = this.#drawCharts().catch((error: unknown) => void this.reportError(error));
  };

  override connectedCallback(): void {
    super.connectedCallback();
    this.#scheme?.addEventListener('change', this.#onScheme);
    if (this.autorun && !this._running) void this.updateComplete.then(() => this.run()).catch(() => undefined);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#scheme?.removeEventListener('change', this.#onScheme);
    this.stop();
    this.#destroyCharts();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('backends') || changed.has('precisions') || changed.has('iterations') || changed.has('warmup') || changed.has('promptTokens') || changed.has('maxTokens')) {
      try {
        this.#settings();
      } catch (error) {
        if (this.hasUpdated) this._error = this.reportError(error).message;
      }
    }
  }

  #count(name: string, value: number, min: number): number {
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`<accel-benchmark ${name}="${value}">: expected an integer ≥ ${min}.`);
    return value;
  }

  #settings(): { backends: BackendName[] | null; precisions: string[] | null; promptTokens: number[]; iterations: number; warmup: number; maxNewTokens: number } {
    const backends = list(this.backends);
    for (const b of backends) if (!BACKENDS.includes(b as BackendName)) throw new InvalidArgumentError(`<accel-benchmark backends="${this.backends}">: "${b}" is not one of ${BACKENDS.join(', ')}.`);
    const precisions = list(this.precisions);
    for (const p of precisions) if (!(PRECISIONS as readonly string[]).includes(p)) throw new InvalidArgumentError(`<accel-benchmark precisions="${this.precisions}">: "${p}" is not one of ${PRECISIONS.join(', ')}.`);
    const lengths = list(this.promptTokens).map(Number);
    if (lengths.length === 0) throw new InvalidArgumentError('<accel-benchmark prompt-tokens="">: give at least one prompt length.');
    for (const n of lengths) this.#count('prompt-tokens', n, 1);
    return {
      backends: backends.length ? (backends as BackendName[]) : null,
      precisions: precisions.length ? precisions : null,
      promptTokens: lengths,
      iterations: this.#count('iterations', this.iterations, 1),
      warmup: this.#count('warmup', this.warmup, 0),
      maxNewTokens: this.#count('max-tokens', this.maxTokens, 1),
    };
  }

  /** The source to load, and the defaults an `<accel-model>` brings. */
  async #source(): Promise<{ source: string; backend: string | null; precision: string | null }> {
    const m = this.model.trim();
    if (!m) throw new InvalidArgumentError('<accel-benchmark> needs model="id of an <accel-model>" or model="URL of a model folder".');
    const root = this.getRootNode() as Document | ShadowRoot;
    if (root.getElementById?.(m) ?? document.getElementById(m)) {
      const el = await findModelElement(this, m);
      const src = el.getAttribute('src');
      if (!src) throw new InvalidArgumentError(`model="${m}": the <accel-model> has no src to benchmark.`);
      return { source: absoluteSource(src), backend: el.getAttribute('backend'), precision: el.getAttribute('precision') };
    }
    if (/[/:.]/.test(m)) return { source: absoluteSource(m), backend: null, precision: null };
    throw new InvalidArgumentError(`model="${m}": there is no element with id "${m}" on the page and it is not a URL; add <accel-model id="${m}" src="…"> or give the model folder's URL.`);
  }

  async #openStore(): Promise<BenchmarkStore | null> {
    try {
      return await BenchmarkStore.open(this.db);
    } catch (error) {
      this.reportError(error);
      return null;
    }
  }

  /**
   * Runs the benchmark and resolves with what `accel-benchmark-complete` carries. A run in progress is
   * stopped first. Rejects with AbortError when stopped, or with the error that prevented the run.
   */
  async run(): Promise<AccelBenchmarkCompleteDetail> {
    this.stop();
    const abort = new AbortController();
    this.#abort = abort;
    const keyboardFocus = this.shadowRoot?.activeElement === this._runButton;
    this._running = true;
    this._error = '';
    this._records = [];
    this._failures = [];
    this._progress = null;
    this._status = 'Starting…';
    this.#destroyCharts();
    let store: BenchmarkStore | null = null;
    try {
      const settings = this.#settings();
      const { source, backend, precision } = await this.#source();
      await this.updateComplete;
      if (keyboardFocus) this._stopButton?.focus();
      const backends = settings.backends ?? [await this.#defaultBackend(backend)];
      const precisions = settings.precisions ?? [precision && precision !== 'original' ? precision : 'original'];
      let profile: HardwareProfile = { browser: 'unknown', hardware: 'unknown' };
      try {
        profile = profileFromCapabilities(await this.engine.capabilities());
      } catch (error) {
        this.reportError(error);
      }
      store = await this.#openStore();
      const runId = newId();
      let stored = store !== null;
      const outcome = await this.engine.benchmark({
        source,
        backends,
        precisions,
        promptTokens: settings.promptTokens,
        iterations: settings.iterations,
        warmup: settings.warmup,
        maxNewTokens: settings.maxNewTokens,
        signal: abort.signal,
        onProgress: (p) => {
          this._progress = p;
          const where = p.cell ? cellLabel(p.cell) : '';
          this._status = p.phase === 'load' ? `Loading ${where}…` : p.phase === 'done' ? `${where}: done` : `${where}: ${p.phase === 'warmup' ? 'warm-up' : 'iteration'} ${p.iteration} of ${p.iterations}`;
          this.emit('accel-benchmark-progress', p);
        },
        onResult: async (r) => {
          const record = toRecord(r, profile, newId(), runId);
          this._records = [...this._records, record];
          if (!store) return;
          try {
            await store.put(record);
          } catch (error) {
            stored = false;
            this.reportError(error);
          }
        },
      });
      const failures: Failure[] = outcome.failures.map((f) => ({ cell: f.cell, code: f.error.code, message: f.error.message }));
      for (const f of outcome.failures) this.reportError(f.error);
      this._failures = failures;
      if (store && this._records.length) this._history = (await store.query()).filter((r) => r.source === source);
      this._status = `Done: ${this._records.length} result${this._records.length === 1 ? '' : 's'}${failures.length ? `, ${failures.length} failed` : ''}.`;
      this._running = false;
      await this.updateComplete;
      // a chart that cannot be drawn (chart.js failed to load) leaves the table and exports usable
      this.#chartsDrawn = this.#drawCharts().catch((error: unknown) => void this.reportError(error));
      await this.#chartsDrawn;
      const detail: AccelBenchmarkCompleteDetail = { records: [...this._records], failures: failures.map((f) => ({ ...f })), stored };
      this.emit('accel-benchmark-complete', detail);
      return detail;
    } catch (error) {
      if (abort.signal.aborted) {
        this._status = `Stopped${this._records.length ? ` after ${this._records.length} result${this._records.length === 1 ? '' : 's'}` : ''}.`;
        throw error instanceof AbortError ? error : new AbortError('The benchmark', { cause: error });
      }
      this._error = this.reportError(error).message;
      this._status = 'Failed.';
      throw error;
    } finally {
      store?.close();
      if (this.#abort === abort) {
        this.#abort = null;
        this._running = false;
        const stopHadFocus = this.shadowRoot?.activeElement === this._stopButton;
        await this.updateComplete;
        if (stopHadFocus) this._runButton?.focus();
      }
    }
  }

  async #defaultBackend(fromModel: string | null): Promise<BackendName> {
    if (fromModel && BACKENDS.includes(fromModel as BackendName)) return fromModel as BackendName;
    const choice = (await this.engine.recommendBackend()).find((c) => c.usable && BACKENDS.includes(c.backend as BackendName));
    return (choice?.backend as BackendName | undefined) ?? 'wasm';
  }

  /** Stops a run within one generated token; `run()` then rejects with AbortError. */
  stop(): void {
    this.#abort?.abort();
  }

  /** The last run's records (or the stored history) as JSON, CSV, Markdown or a self-contained HTML report. */
  exportAs(format: ExportFormat, scope: 'run' | 'history' = 'run'): string {
    const records = scope === 'run' ? this._records : this._history;
    switch (format) {
      case 'json': return toJson(records);
      case 'csv': return toCsv(records);
      case 'markdown': return toMarkdown(records);
      case 'html': return toHtml(records, { title: `accel benchmark: ${records[0]?.model ?? 'no results'}` });
      default: throw new InvalidArgumentError(`exportAs("${String(format)}"): expected json, csv, markdown or html.`);
    }
  }

  #download(format: ExportFormat): void {
    const { ext, type } = EXPORTS[format];
    const url = URL.createObjectURL(new Blob([this.exportAs(format)], { type }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `accel-benchmark-${new Date().toISOString().replace(/[:.]/g, '-')}.${ext}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  #destroyCharts(): void {
    for (const c of this.#charts) c.destroy();
    this.#charts = [];
  }

  async #drawCharts(): Promise<void> {
    if (!this._records.length) return;
    const Chart = await loadChartJs();
    await this.updateComplete;
    this.#destroyCharts();
    // The tokens may hold light-dark(…), which chart.js cannot parse: let the browser resolve them to rgb().
    const resolve = (token: string): string => {
      const probe = document.createElement('span');
      probe.style.color = `var(${token})`;
      this.renderRoot.appendChild(probe);
      const color = getComputedStyle(probe).color;
      probe.remove();
      return color;
    };
    const fg = resolve('--_fg');
    const grid = resolve('--_border');
    const accent = resolve('--_accent');
    const palette = [accent, '#e8710a', '#1e8e3e', '#9334e6', '#d93025', '#12b5cb', '#f9ab00', '#5f6368'];
    const scales = (x: string, y: string) => ({
      x: { title: { display: true, text: x, color: fg }, ticks: { color: fg }, grid: { color: grid } },
      y: { title: { display: true, text: y, color: fg }, ticks: { color: fg }, grid: { color: grid }, beginAtZero: true },
    });
    const base = { animation: false as const, responsive: true, maintainAspectRatio: false, plugins: { legend: { labels: { color: fg } } } };
    const draw = (name: string, config: ChartConfiguration) => {
      const canvas = this.renderRoot.querySelector<HTMLCanvasElement>(`canvas[data-chart="${name}"]`);
      if (canvas) this.#charts.push(new Chart(canvas, config));
    };

    // latency distribution: shared equal-width bins over every measured iteration, one dataset per cell
    const all = this._records.flatMap((r) => r.samples.map((s) => s.ms));
    if (all.length) {
      const bins = histogram(all, Math.min(10, Math.max(3, Math.ceil(Math.sqrt(all.length)))));
      const binOf = (v: number) => (bins.length === 1 ? 0 : Math.min(bins.length - 1, bins.findIndex((b) => v <= b.to)));
      draw('latency', {
        type: 'bar',
        data: {
          labels: bins.map((b) => (b.from === b.to ? `${b.from.toFixed(0)} ms` : `${b.from.toFixed(0)}–${b.to.toFixed(0)} ms`)),
          datasets: this._records.map((r, i) => {
            const counts = bins.map(() => 0);
            for (const s of r.samples) counts[binOf(s.ms)]!++;
            return { label: cellLabel(r), data: counts, backgroundColor: palette[i % palette.length] };
          }),
        },
        options: { ...base, scales: scales('Latency per iteration', 'Iterations') },
      });
    }
    draw('throughput', {
      type: 'bar',
      data: {
        labels: this._records.map(cellLabel),
        datasets: [
          { label: 'tokens/s (whole generation)', data: this._records.map((r) => r.tokensPerSecond), backgroundColor: accent },
          { label: 'decode tokens/s', data: this._records.map((r) => r.decodeTokensPerSecond?.mean ?? 0), backgroundColor: palette[1] },
        ],
      },
      options: { ...base, scales: scales('Backend · precision · prompt', 'Tokens per second') },
    });
    // one point per run (the cells measured together), at the run's first cell
    const history = this._history.length ? this._history : this._records;
    const runStart = new Map<string, number>();
    for (const r of history) runStart.set(r.runId, Math.min(runStart.get(r.runId) ?? Infinity, r.date));
    const runs = [...runStart.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    const series = new Map<string, (number | null)[]>();
    for (const r of history) {
      const key = cellLabel(r);
      let row = series.get(key);
      if (!row) series.set(key, (row = runs.map(() => null)));
      row[runs.indexOf(r.runId)] = r.tokensPerSecond;
    }
    draw('history', {
      type: 'line',
      data: {
        labels: runs.map((id) => new Date(runStart.get(id)!).toLocaleString()),
        datasets: [...series.entries()].map(([label, data], i) => ({ label, data, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], spanGaps: true })),
      },
      options: { ...base, scales: scales('Run', 'Tokens per second') },
    });
  }

  #tableRow(r: BenchmarkRecord): TemplateResult {
    return html`<tr>
      <th scope="row">${r.backend}</th>
      <td>${r.precision}</td>
      <td class="num">${r.promptTokens ?? '–'}</td>
      <td class="num">${fixed(r.latencyMs.mean)}</td>
      <td class="num">${fixed(r.latencyMs.stddev)}</td>
      <td class="num">${fixed(r.latencyMs.p50)}</td>
      <td class="num">${fixed(r.latencyMs.p90)}</td>
      <td class="num">${fixed(r.latencyMs.p99)}</td>
      <td class="num">${fixed(r.ttftMs?.mean)}</td>
      <td class="num">${fixed(r.decodeTokensPerSecond?.mean)}</td>
      <td class="num">${fixed(r.tokensPerSecond)}</td>
      <td class="num">${r.gpuMs ? fixed(r.gpuMs.mean) : '–'}</td>
      <td class="num">${r.memory ? formatBytes(r.memory.weightBytes) : '–'}</td>
    </tr>`;
  }

  #chartLabel(name: 'latency' | 'throughput' | 'history'): string {
    if (name === 'throughput') return `Tokens per second: ${this._records.map((r) => `${cellLabel(r)} ${fixed(r.tokensPerSecond)}`).join('; ')}.`;
    if (name === 'latency') return `Latency distribution of ${this._records.reduce((a, r) => a + r.samples.length, 0)} measured iterations; the table lists mean and percentiles.`;
    const n = (this._history.length ? this._history : this._records).length;
    const runs = new Set((this._history.length ? this._history : this._records).map((r) => r.runId)).size;
    return `Tokens per second over ${n} stored result${n === 1 ? '' : 's'} of this model in ${runs} run${runs === 1 ? '' : 's'}.`;
  }

  #figure(name: 'latency' | 'throughput' | 'history', caption: string): TemplateResult {
    return html`<figure part="chart chart-${name}">
      <figcaption>${caption}</figcaption>
      <div class="chart-box"><canvas data-chart=${name} role="img" aria-label=${this.#chartLabel(name)}></canvas></div>
    </figure>`;
  }

  override render(): TemplateResult {
    const p = this._progress;
    const showProgress = this._running || p !== null;
    const records = this._records;
    let what = '';
    try {
      const s = this.#settings();
      what = `${s.backends?.join(', ') ?? 'default backend'} × ${s.precisions?.join(', ') ?? 'default precision'} × prompts of ${s.promptTokens.join(', ')} tokens; ${s.warmup} warm-up + ${s.iterations} measured iterations of ${s.maxNewTokens} new tokens`;
    } catch {
      what = 'invalid settings';
    }
    return html`<section part="base" aria-labelledby="title">
      <header part="header">
        <h2 id="title">Benchmark</h2>
        <button part="run-button" type="button" ?disabled=${this._running} @click=${() => void this.run().catch(() => undefined)}>Run benchmark</button>
        <button part="stop-button" type="button" ?disabled=${!this._running} @click=${() => this.stop()}>Stop</button>
      </header>
      <p part="settings">${this.model ? html`<code>${this.model}</code>: ` : nothing}${what}</p>
      ${showProgress
        ? html`<div part="progress">
            ${p === null || p.phase === 'load' ? html`<progress aria-label="Benchmark progress"></progress>` : html`<progress aria-label="Benchmark progress" max="1" .value=${p.progress}></progress>`}
          </div>`
        : nothing}
      <p part="status" role="status" aria-live="polite">${this._status}</p>
      ${this._error ? html`<p part="error" role="alert">${this._error}</p>` : nothing}
      ${records.length || this._failures.length
        ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Results table">
            <table part="table">
              <caption>Generation benchmark results (${records[0]?.model ?? this.model}), times in milliseconds</caption>
              <thead>
                <tr>
                  <th scope="col">Backend</th><th scope="col">Precision</th><th scope="col">Prompt tokens</th><th scope="col">Mean</th><th scope="col">Std dev</th>
                  <th scope="col">p50</th><th scope="col">p90</th><th scope="col">p99</th><th scope="col">TTFT</th><th scope="col">Decode tok/s</th><th scope="col">tok/s</th>
                  <th scope="col">GPU</th><th scope="col">Weights</th>
                </tr>
              </thead>
              <tbody>
                ${records.map((r) => this.#tableRow(r))}
                ${this._failures.map((f) => html`<tr class="failed"><th scope="row">${f.cell.backend}</th><td>${f.cell.precision}</td><td class="num">${f.cell.promptTokens}</td><td colspan="10">${f.message}</td></tr>`)}
              </tbody>
            </table>
          </div>`
        : nothing}
      ${records.length && !this._running
        ? html`<div part="charts">
              ${this.#figure('latency', 'Latency distribution')}
              ${this.#figure('throughput', 'Tokens per second by backend and precision')}
              ${this.#figure('history', 'History of stored runs')}
            </div>
            <div part="exports" role="group" aria-label="Export results">
              ${(Object.keys(EXPORTS) as ExportFormat[]).map((f) => html`<button part="export-button" type="button" data-format=${f} @click=${() => this.#download(f)}>Export ${EXPORTS[f].label}</button>`)}
            </div>`
        : nothing}
    </section>`;
  }
}
