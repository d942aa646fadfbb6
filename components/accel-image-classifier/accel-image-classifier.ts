import { html, nothing, type TemplateResult } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { Classification, ClassifyResult } from '../../engine/models/vit/vit.js';
import { AccelElement } from '../../src/accel-element.js';
import { resolveModel } from '../../src/controllers/model-lookup.js';
import { toRgbaImage, type ImageInput } from '../../src/image-data.js';
import { styles } from './accel-image-classifier.styles.js';

/**
 * Classifies an image with an image-classification model (ViT): the user drops an image or chooses a
 * file, sees it and the top labels with their probabilities. Pages can also call `classify(image)` with
 * an `<img>`, `ImageBitmap`, `ImageData`, canvas or `File`.
 *
 * @tagname accel-image-classifier
 * @summary Drop or choose an image, see its top-k labels.
 *
 * @attr model - id of an `<accel-model>` on the page that holds an image classifier.
 * @attr src - A model source to load directly when no `model` is given.
 * @attr top-k - How many labels to show (default 5).
 *
 * @event {CustomEvent<AccelClassifiedDetail>} accel-classified - An image was classified; `detail.labels` best first.
 * @event {CustomEvent<AccelErrorDetail>} accel-error - The model could not be found, the file is not an image, or the model is not an image classifier.
 *
 * @csspart base - The frame.
 * @csspart drop-zone - The area that accepts a dropped image.
 * @csspart choose-button - The "Choose image…" button (opens the file picker).
 * @csspart preview - The image being classified.
 * @csspart results - The ordered list of labels.
 * @csspart result - One label row.
 * @csspart label - A label's name.
 * @csspart bar - A label's probability as a meter.
 * @csspart score - A label's probability in per cent.
 * @csspart status - What is happening (polite live region).
 * @csspart error - The error message.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-image-classifier-preview-size - Side of the preview box (default 160px).
 * @cssproperty --accel-accent-color - Drop-zone highlight, button and meters.
 * @cssproperty --accel-card-background - Background.
 * @cssproperty --accel-border-color - Frame and drop-zone border.
 * @cssproperty --accel-no-color - Colour of errors.
 * @cssproperty --accel-color - Text colour (light and dark defaults follow prefers-color-scheme).
 * @cssproperty --accel-background - Background of the preview box.
 * @cssproperty --accel-muted-color - Colour of the status line.
 * @cssproperty --accel-gap - Spacing.
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-font-family - Font.
 */
export class AccelImageClassifier extends AccelElement {
  static override styles = styles;

  @property({ reflect: true }) model = '';
  @property({ reflect: true }) src = '';
  @property({ type: Number, reflect: true, attribute: 'top-k' }) topK = 5;

  @state() private _labels: Classification[] = [];
  @state() private _preview = '';
  @state() private _status = 'Drop an image here or choose one.';
  @state() private _error = '';
  @state() private _over = false;
  @query('input[type=file]') private _input!: HTMLInputElement;
  #run = 0;

  /** The labels of the last image, best first. */
  get labels(): readonly Classification[] {
    return this._labels;
  }

  /** Classifies `image`, shows it and its labels, and emits `accel-classified`. */
  async classify(image: ImageInput): Promise<ClassifyResult> {
    const run = ++this.#run;
    this._error = '';
    this._labels = [];
    this.#setPreview(image);
    this._status = 'Classifying…';
    try {
      if (!Number.isSafeInteger(this.topK) || this.topK < 1) throw new InvalidArgumentError(`top-k must be a positive integer, got ${String(this.topK)}.`);
      const started = performance.now();
      const [model, rgba] = await Promise.all([resolveModel(this, this.model, this.src), toRgbaImage(image)]);
      const result = await model.classify(rgba, { topK: this.topK });
      if (run === this.#run) {
        this._labels = result.labels;
        const best = result.labels[0];
        this._status = best ? `Top label: ${best.label} (${(best.score * 100).toFixed(1)}%).` : 'No labels.';
        this.emit('accel-classified', { labels: result.labels, width: rgba.width, height: rgba.height, durationMs: performance.now() - started });
      }
      return result;
    } catch (error) {
      if (run === this.#run) {
        this._status = '';
        this._error = this.reportError(error).message;
      }
      throw error;
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#setPreview(null);
  }

  #setPreview(image: ImageInput | null): void {
    if (this._preview.startsWith('blob:')) URL.revokeObjectURL(this._preview);
    this._preview = '';
    if (typeof Blob !== 'undefined' && image instanceof Blob) this._preview = URL.createObjectURL(image);
    else if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) this._preview = image.currentSrc || image.src;
  }

  #onFiles(files: FileList | null | undefined): void {
    const file = files?.[0];
    if (file) void this.classify(file).catch(() => undefined);
  }

  #onDrop(e: DragEvent): void {
    e.preventDefault();
    this._over = false;
    this.#onFiles(e.dataTransfer?.files);
  }

  #onDragOver(e: DragEvent): void {
    e.preventDefault();
    this._over = true;
  }

  #result(l: Classification): TemplateResult {
    const pct = `${(l.score * 100).toFixed(1)}%`;
    return html`<li part="result">
      <span part="label">${l.label}</span>
      <meter part="bar" min="0" max="1" .value=${l.score} aria-label=${`${l.label} probability`}></meter>
      <span part="score">${pct}</span>
    </li>`;
  }

  override render(): TemplateResult {
    return html`<div part="base">
      <div part="drop-zone" class=${this._over ? 'over' : ''} @dragover=${this.#onDragOver} @dragleave=${() => (this._over = false)} @drop=${this.#onDrop}>
        ${this._preview ? html`<img part="preview" src=${this._preview} alt="The image being classified" />` : nothing}
        <button part="choose-button" type="button" @click=${() => this._input.click()}>Choose image…</button>
        <input class="visually-hidden" type="file" accept="image/*" tabindex="-1" aria-hidden="true" @change=${(e: Event) => this.#onFiles((e.target as HTMLInputElement).files)} />
      </div>
      ${this._labels.length ? html`<ol part="results" aria-label="Top labels">${this._labels.map((l) => this.#result(l))}</ol>` : nothing}
      <div part="status" role="status" aria-live="polite">${this._status}</div>
      ${this._error ? html`<div part="error" role="alert">${this._error}</div>` : nothing}
    </div>`;
  }
}
