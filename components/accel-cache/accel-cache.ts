import { html, nothing, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { StorageError } from '../../engine/errors.js';
import { formatBytes } from '../../engine/capabilities/recommend.js';
import type { CacheEntryInfo, CacheUsage, ModelCache } from '../../engine/loader/cache.js';
import { AccelElement } from '../../src/accel-element.js';
import { styles } from './accel-cache.styles.js';

type Status = 'loading' | 'ready' | 'error';

/** One model folder (everything up to the last `/` of the entry ids) and its files. */
interface Group {
  folder: string;
  entries: CacheEntryInfo[];
  bytes: number;
}

const exactBytes = new Intl.NumberFormat('en-US');
const size = (e: CacheEntryInfo) => (Number.isFinite(e.size) ? e.size : 0);
const fileName = (id: string) => id.slice(id.lastIndexOf('/') + 1) || id;
const files = (n: number) => `${n} ${n === 1 ? 'file' : 'files'}`;

function groupEntries(entries: CacheEntryInfo[]): Group[] {
  const groups = new Map<string, Group>();
  for (const e of entries) {
    const folder = e.id.slice(0, e.id.lastIndexOf('/') + 1);
    const g = groups.get(folder) ?? { folder, entries: [], bytes: 0 };
    g.entries.push(e);
    g.bytes += size(e);
    groups.set(folder, g);
  }
  return [...groups.values()];
}

/**
 * Manages the model files accel keeps in this browser (Cache API, else IndexedDB): lists them per model with
 * their exact sizes, shows how much of the site's storage quota is used, deletes a file, a whole model or
 * everything, and asks the browser to make the storage persistent. Deleting asks for confirmation inline
 * (Escape cancels) unless `no-confirm` is set. The list refreshes itself whenever any `<accel-model>` on the
 * page finishes loading.
 *
 * @tagname accel-cache
 * @summary Model cache manager: cached files, storage quota, delete, clear, persist.
 *
 * @attr compact - Hide exact byte counts and dates.
 * @attr no-confirm - Delete and clear at once, without the inline confirmation.
 *
 * @event {CustomEvent<AccelCacheListedDetail>} accel-cache-listed - The list was read (first render, refresh(), after a change); `detail` has `entries` and `usage`.
 * @event {CustomEvent<AccelCacheChangeDetail>} accel-cache-change - Files were removed; `detail` has `action` (delete or clear), `ids`, `freedBytes` and `usage`.
 * @event {CustomEvent<AccelCachePersistedDetail>} accel-cache-persisted - The browser answered a persistence request; `detail.persisted` says whether storage is now persistent.
 * @event {CustomEvent<AccelErrorDetail>} accel-error - Reading or changing the cache failed (code storage-failed).
 *
 * @csspart base - The outer frame.
 * @csspart header - Title row with the toolbar.
 * @csspart title - The heading.
 * @csspart toolbar - The row of buttons.
 * @csspart refresh-button - The "Refresh" button.
 * @csspart persist-button - The "Persist storage" button.
 * @csspart clear-button - The "Clear all" button.
 * @csspart usage - The usage summary.
 * @csspart usage-text - The usage sentence.
 * @csspart meter - The quota bar (origin usage of the quota).
 * @csspart meter-fill - The used part of the quota bar.
 * @csspart persistence - The storage persistence note.
 * @csspart empty - The text shown when nothing is cached.
 * @csspart error - The error message.
 * @csspart model - Each model's section.
 * @csspart model-title - A model's folder or source.
 * @csspart model-size - A model's total size.
 * @csspart delete-model-button - A model's "Delete model" button.
 * @csspart table - A model's table of files.
 * @csspart entry - A file's row.
 * @csspart file - A file's name.
 * @csspart size - A file's size.
 * @csspart bytes - A file's exact byte count.
 * @csspart date - When a file was cached.
 * @csspart delete-button - A file's "Delete" button.
 * @csspart confirm - The inline confirmation (question and buttons).
 * @csspart confirm-button - The button that confirms a deletion.
 * @csspart cancel-button - The button that cancels a deletion.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-color - Text colour.
 * @cssproperty --accel-background - Background of the frame.
 * @cssproperty --accel-card-background - Background of each model and of the quota bar.
 * @cssproperty --accel-muted-color - Colour of byte counts, dates and notes.
 * @cssproperty --accel-border-color - Border colour.
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-gap - Spacing.
 * @cssproperty --accel-ok-color - Colour of "persistent".
 * @cssproperty --accel-no-color - Colour of delete confirmations and errors.
 * @cssproperty --accel-accent-color - Buttons, focus ring and the quota bar's fill.
 * @cssproperty --accel-font-family - Font.
 * @cssproperty --accel-mono-font-family - Font of file names and byte counts.
 */
export class AccelCache extends AccelElement {
  static override styles = styles;

  /** Hide exact byte counts and dates. */
  @property({ type: Boolean, reflect: true }) compact = false;

  /** Delete and clear without the inline confirmation. */
  @property({ type: Boolean, reflect: true, attribute: 'no-confirm' }) noConfirm = false;

  @state() private status: Status = 'loading';
  @state() private errorMessage = '';
  @state() private _entries: CacheEntryInfo[] = [];
  @state() private _usage: CacheUsage | null = null;
  /** What awaits confirmation: `entry:<id>`, `model:<folder>` or `all`. */
  @state() private pending: string | null = null;
  @state() private busy = false;
  /** Firefox answers persist() only after the user answers its prompt: only the persist button waits. */
  @state() private persisting = false;
  @state() private announcement = '';
  #ticket = 0;
  #onModelReady = () => void this.refresh().catch(() => undefined);

  /** The cached files, sorted by id (empty until the first listing). */
  get entries(): CacheEntryInfo[] {
    return this._entries;
  }

  /** Bytes and entries of the cache, and the origin's usage and quota where the browser tells. */
  get usage(): CacheUsage | null {
    return this._usage;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Any model that finishes loading may have added files.
    document.addEventListener('accel-ready', this.#onModelReady);
    void this.refresh().catch(() => undefined);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('accel-ready', this.#onModelReady);
  }

  async #cache(): Promise<ModelCache> {
    const cache = await this.engine.cache();
    if (!cache) throw new StorageError('this context has neither the Cache API nor IndexedDB');
    return cache;
  }

  /** Reads the list and the usage again; resolves with the entries. */
  async refresh(): Promise<CacheEntryInfo[]> {
    const ticket = ++this.#ticket;
    this.status = this._usage ? this.status : 'loading';
    try {
      const cache = await this.#cache();
      const [entries, usage] = await Promise.all([cache.list(), cache.usage()]);
      if (ticket === this.#ticket) {
        this._entries = entries;
        this._usage = usage;
        this.status = 'ready';
        await this.updateComplete;
        this.emit('accel-cache-listed', { entries, usage });
      }
      return entries;
    } catch (error) {
      if (ticket === this.#ticket) this.#fail(error);
      throw error;
    }
  }

  /** Removes cached files by id (a model's next load downloads them again). Resolves with the bytes freed. */
  async delete(...ids: string[]): Promise<number> {
    return this.#change('delete', async (cache) => {
      const removed: string[] = [];
      let freed = 0;
      for (const id of ids) {
        const entry = this._entries.find((e) => e.id === id);
        if (await cache.delete(id)) {
          removed.push(id);
          freed += entry ? size(entry) : 0;
        }
      }
      return { removed, freed };
    });
  }

  /** Removes every file of the model in `folder` (the part of the ids up to their last `/`). */
  deleteModel(folder: string): Promise<number> {
    return this.delete(...this._entries.filter((e) => e.id.slice(0, e.id.lastIndexOf('/') + 1) === folder).map((e) => e.id));
  }

  /** Removes every cached model file. Resolves with the bytes freed. */
  clear(): Promise<number> {
    return this.#change('clear', async (cache) => {
      const before = await cache.list();
      await cache.clear();
      return { removed: before.map((e) => e.id), freed: before.reduce((n, e) => n + size(e), 0) };
    });
  }

  /**
   * Asks the browser to keep this site's storage when space runs low (navigator.storage.persist()); resolves
   * with its answer. Browsers decide by their own rules (Chromium: installed or often-used sites; Firefox asks).
   */
  async persist(): Promise<boolean> {
    this.persisting = true;
    this.announcement = 'Asking the browser to keep this site\'s storage…';
    try {
      const persisted = await (await this.#cache()).persist();
      this.announcement = persisted
        ? 'Storage is now persistent: the browser will keep cached models when space runs low.'
        : 'The browser declined persistent storage; cached models may be evicted when space runs low.';
      this.emit('accel-cache-persisted', { persisted });
      await this.refresh();
      return persisted;
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      this.persisting = false;
    }
  }

  async #change(action: 'delete' | 'clear', run: (cache: ModelCache) => Promise<{ removed: string[]; freed: number }>): Promise<number> {
    this.busy = true;
    this.pending = null;
    try {
      const cache = await this.#cache();
      const { removed, freed } = await run(cache);
      await this.refresh();
      const usage = this._usage!;
      this.announcement = action === 'clear'
        ? `Cache cleared: ${files(removed.length)}, ${formatBytes(freed)} freed.`
        : removed.length === 1
          ? `Deleted ${fileName(removed[0]!)} (${formatBytes(freed)}).`
          : `Deleted ${files(removed.length)} (${formatBytes(freed)}).`;
      this.emit('accel-cache-change', { action, ids: removed, freedBytes: freed, usage });
      return freed;
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      this.busy = false;
    }
  }

  #fail(error: unknown): void {
    this.status = 'error';
    this.errorMessage = this.reportError(error).message;
  }

  /** Asks first unless `no-confirm`; the confirm button takes the focus so Enter confirms and Escape cancels. */
  async #request(key: string, act: () => Promise<unknown>): Promise<void> {
    if (this.noConfirm) {
      await act().catch(() => undefined);
      await this.#focusAfterChange();
      return;
    }
    this.pending = key;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('[part~="confirm-button"]')?.focus();
  }

  async #confirm(act: () => Promise<unknown>): Promise<void> {
    await act().catch(() => undefined);
    await this.#focusAfterChange();
  }

  async #cancel(returnTo: string): Promise<void> {
    this.pending = null;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>(returnTo)?.focus();
  }

  /** The removed row's button is gone: keep the focus inside the element, on the first delete button or Refresh. */
  async #focusAfterChange(): Promise<void> {
    await this.updateComplete;
    const next = this.renderRoot.querySelector<HTMLButtonElement>('[part~="delete-button"]') ?? this.renderRoot.querySelector<HTMLButtonElement>('[part~="refresh-button"]');
    next?.focus();
  }

  /** `shown` is the visible question where the row already names the file; the group's label says it in full. */
  #confirmation(question: string, act: () => Promise<unknown>, returnTo: string, shown = question): TemplateResult {
    return html`<span part="confirm" role="group" aria-label=${question} @keydown=${(e: KeyboardEvent) => e.key === 'Escape' && (e.preventDefault(), void this.#cancel(returnTo))}>
      <span class="question" aria-hidden=${shown === question ? nothing : 'true'}>${shown}</span>
      <button part="confirm-button" type="button" ?disabled=${this.busy} @click=${() => void this.#confirm(act)}>Delete</button>
      <button part="cancel-button" type="button" @click=${() => void this.#cancel(returnTo)}>Cancel</button>
    </span>`;
  }

  #row(e: CacheEntryInfo): TemplateResult {
    const name = fileName(e.id);
    const key = `entry:${e.id}`;
    const selector = `[data-id="${CSS.escape(e.id)}"] [part~="delete-button"]`;
    const when = e.date ? new Date(e.date) : null;
    return html`<tr part="entry" data-id=${e.id}>
      <th scope="row" part="file" title=${e.id}>${name}</th>
      <td part="size"><data value=${String(size(e))}>${formatBytes(size(e))}</data>${this.compact ? nothing : html` <span part="bytes">${exactBytes.format(size(e))} B</span>`}</td>
      ${this.compact ? nothing : html`<td part="date">${when ? html`<time datetime=${when.toISOString()}>${when.toLocaleString()}</time>` : '—'}</td>`}
      <td class="actions">
        ${this.pending === key
          ? this.#confirmation(`Delete ${name}?`, () => this.delete(e.id), selector, 'Delete?')
          : html`<button part="delete-button" type="button" aria-label=${`Delete ${name}`} ?disabled=${this.busy} @click=${() => void this.#request(key, () => this.delete(e.id))}>Delete</button>`}
      </td>
    </tr>`;
  }

  #group(g: Group, i: number): TemplateResult {
    const key = `model:${g.folder}`;
    const selector = `[data-folder="${CSS.escape(g.folder)}"] [part~="delete-model-button"]`;
    const title = g.folder || 'Other files';
    return html`<section part="model" data-folder=${g.folder} aria-labelledby=${`m${i}`}>
      <div class="model-head">
        <h3 part="model-title" id=${`m${i}`}>${title}</h3>
        <span part="model-size">${formatBytes(g.bytes)} in ${files(g.entries.length)}</span>
        ${this.pending === key
          ? this.#confirmation(`Delete all ${files(g.entries.length)} of this model?`, () => this.deleteModel(g.folder), selector)
          : html`<button part="delete-model-button" type="button" aria-label=${`Delete model ${title}`} ?disabled=${this.busy} @click=${() => void this.#request(key, () => this.deleteModel(g.folder))}>Delete model</button>`}
      </div>
      <table part="table">
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Size</th>
            ${this.compact ? nothing : html`<th scope="col">Cached</th>`}
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>${g.entries.map((e) => this.#row(e))}</tbody>
      </table>
    </section>`;
  }

  #usage(u: CacheUsage): TemplateResult {
    const quota = u.quota ?? 0;
    const used = u.usage ?? 0;
    const share = quota > 0 ? used / quota : 0;
    const percent = share * 100 < 0.1 && used > 0 ? '< 0.1' : (share * 100).toFixed(1);
    return html`<div part="usage">
      <p part="usage-text">
        <strong>${formatBytes(u.bytes)}</strong> of models in ${files(u.entries)}${quota > 0
          ? html` · this site uses <strong>${formatBytes(used)}</strong> of its <strong>${formatBytes(quota)}</strong> quota (${percent} %)`
          : html` · the browser does not report a quota`}
      </p>
      ${quota > 0 ? html`<div part="meter" aria-hidden="true"><div part="meter-fill" style=${`width:${Math.min(100, share * 100)}%`}></div></div>` : nothing}
      <p part="persistence" data-persisted=${String(u.persisted ?? 'unknown')}>
        ${u.persisted === true ? 'Storage is persistent: the browser keeps these files when space runs low.' : u.persisted === false ? 'Storage is best-effort: the browser may evict these files when space runs low.' : 'The browser does not say whether storage is persistent.'}
        <span class="visually-hidden">(stored in ${u.store})</span>
      </p>
    </div>`;
  }

  override render(): TemplateResult {
    const u = this._usage;
    const groups = groupEntries(this._entries);
    const loading = this.status === 'loading';
    const canPersist = u?.persisted !== true && typeof navigator !== 'undefined' && typeof navigator.storage?.persist === 'function';
    return html`<section part="base" aria-labelledby="title" aria-busy=${loading || this.busy ? 'true' : 'false'}>
      <header part="header">
        <h2 part="title" id="title">Model cache</h2>
        <div part="toolbar">
          <button part="refresh-button" type="button" ?disabled=${this.busy} @click=${() => void this.refresh().then(() => (this.announcement = `Cache listed: ${files(this._entries.length)}, ${formatBytes(this._usage?.bytes ?? 0)}.`), () => undefined)}>Refresh</button>
          ${canPersist ? html`<button part="persist-button" type="button" ?disabled=${this.persisting} @click=${() => void this.persist().catch(() => undefined)}>${this.persisting ? 'Waiting for the browser…' : 'Persist storage'}</button>` : nothing}
          ${this.pending === 'all'
            ? this.#confirmation(`Delete all ${files(this._entries.length)}?`, () => this.clear(), '[part~="clear-button"]')
            : html`<button part="clear-button" type="button" ?disabled=${this.busy || this._entries.length === 0} @click=${() => void this.#request('all', () => this.clear())}>Clear all</button>`}
        </div>
      </header>
      <div class="visually-hidden" role="status" aria-live="polite">${this.announcement}</div>
      ${this.status === 'error' ? html`<p part="error" role="alert">${this.errorMessage}</p>` : nothing}
      ${u ? this.#usage(u) : loading ? html`<p part="usage-text">Reading the cache…</p>` : nothing}
      ${u && groups.length === 0 ? html`<p part="empty">No model files are cached. A model is cached the first time an &lt;accel-model&gt; loads it.</p>` : nothing}
      ${groups.map((g, i) => this.#group(g, i))}
    </section>`;
  }
}
