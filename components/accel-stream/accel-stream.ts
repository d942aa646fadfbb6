import { html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import { AbortError, InvalidArgumentError } from '../../engine/errors.js';
import type { ChatMessage } from '../../engine/formats/tokenizer.js';
import type { Generation, GenerationMetrics, GenerationResult, GenerateOptions } from '../../engine/generate/index.js';
import type { ModelHandle } from '../../engine/load-model.js';
import { AccelElement } from '../../src/accel-element.js';
import { findModelElement, resolveModel } from '../../src/controllers/model-lookup.js';
import { generateOverWebSocket } from '../../src/controllers/ws-generation.js';
import { toAudioSamples, type AudioInput } from '../../src/audio-data.js';
import { styles } from './accel-stream.styles.js';

interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

// Frameworks (Vue, Svelte) set a static `temperature="0"` as the property, so numbers may arrive as strings.
function num(n: unknown): number | undefined {
  if (typeof n === 'string') return n.trim() === '' ? undefined : Number(n);
  return typeof n === 'number' ? n : undefined;
}

function finiteOr<T>(n: unknown, fallback: T): number | T {
  const v = num(n);
  return v === undefined || Number.isNaN(v) ? fallback : v;
}

/**
 * Streams generated text from a model into the page: a prompt box, send and stop buttons, the text as it
 * arrives (always rendered as text, never as HTML) and live metrics. Single-turn by default; `chat`
 * keeps a multi-turn conversation rendered with the model's chat template.
 *
 * @tagname accel-stream
 * @summary Streaming text generation with prompt box, stop, pause and metrics.
 *
 * @attr model - id of an `<accel-model>` on the page.
 * @attr src - A model source to load directly when no `model` is given (also `openai+https://host/v1#model`).
 * @attr prompt - Text placed in the prompt box (and used by generate() without an argument).
 * @attr system - System message (chat mode).
 * @attr max-tokens - Most new tokens per reply (default 128).
 * @attr temperature - 0 = greedy (default 0.7).
 * @attr top-k - Keep the k likeliest tokens (0 = off).
 * @attr top-p - Nucleus mass (1 = off).
 * @attr seed - Sampling seed: the same seed gives the same text.
 * @attr stop - A stop string, or a JSON array of them; never shown.
 * @attr chat - Multi-turn conversation with the model's chat template.
 * @attr ws-url - Render a stream from a remote engine over WebSocket (tools/ws-server.ts) instead of a local model.
 *
 * @event {CustomEvent<AccelTokenDetail>} accel-token - A token arrived; `detail.text` is the new visible text, `detail.output` all of it.
 * @event {CustomEvent<GenerationResult>} accel-done - Generation ended (finishReason stop, eos, length or abort) with text, usage and metrics.
 * @event {CustomEvent<AccelErrorDetail>} accel-error - The model could not be found or generation failed.
 *
 * @slot send-button - Replaces the Send button (clicking it sends).
 * @slot stop-button - Replaces the Stop button (clicking it stops).
 *
 * @csspart base - The frame.
 * @csspart transcript - The scrolling conversation area (role=log).
 * @csspart turn - Each message; also `turn-user` / `turn-assistant`.
 * @csspart output - The text being generated now.
 * @csspart form - The prompt form.
 * @csspart input - The prompt text area.
 * @csspart send-button - The Send button.
 * @csspart stop-button - The Stop button.
 * @csspart metrics - Time to first token and tokens per second.
 * @csspart error - The error message.
 *
 * @cssproperty --accel-color-scheme - `light dark` (default: follow prefers-color-scheme), or `light` / `dark` to force one.
 * @cssproperty --accel-stream-min-height - Minimum height of the transcript (default 6em).
 * @cssproperty --accel-stream-max-height - Height after which it scrolls (default 28em).
 * @cssproperty --accel-stream-font-family - Font of the generated text.
 * @cssproperty --accel-accent-color - Buttons and user messages.
 * @cssproperty --accel-card-background - Message background.
 * @cssproperty --accel-color - Text colour (light and dark defaults follow prefers-color-scheme).
 * @cssproperty --accel-background - Background of the frame and text of the Send button.
 * @cssproperty --accel-border-color - Borders.
 * @cssproperty --accel-muted-color - Colour of the caret and the metrics line.
 * @cssproperty --accel-no-color - Colour of errors.
 * @cssproperty --accel-gap - Spacing.
 * @cssproperty --accel-radius - Corner radius.
 * @cssproperty --accel-font-family - Font.
 */
export class AccelStream extends AccelElement {
  static override styles = styles;

  @property({ reflect: true }) model = '';
  @property({ reflect: true }) src = '';
  @property({ reflect: true }) prompt = '';
  @property({ reflect: true }) system = '';
  @property({ type: Number, reflect: true, attribute: 'max-tokens' }) maxTokens = 128;
  @property({ type: Number, reflect: true }) temperature = 0.7;
  @property({ type: Number, reflect: true, attribute: 'top-k' }) topK = 0;
  @property({ type: Number, reflect: true, attribute: 'top-p' }) topP = 1;
  @property({ type: Number, reflect: true }) seed: number | undefined = undefined;
  /** Stop string(s): the `stop` attribute. */
  @property({ reflect: true, attribute: 'stop' }) stopSequences = '';
  @property({ type: Boolean, reflect: true }) chat = false;
  @property({ reflect: true, attribute: 'ws-url' }) wsUrl = '';

  @state() private _turns: Turn[] = [];
  @state() private _output = '';
  @state() private _running = false;
  @state() private _paused = false;
  @state() private _metrics: GenerationMetrics | null = null;
  @state() private _tokens = 0;
  @state() private _error = '';
  @state() private _announce = '';
  @query('textarea') private _input!: HTMLTextAreaElement | null;
  #generation: Generation | null = null;
  #abort: AbortController | null = null;

  /** Text generated by the current or last run. */
  get output(): string {
    return this._output;
  }

  /** The conversation so far (chat mode), oldest first. */
  get messages(): readonly Turn[] {
    return this._turns;
  }

  get running(): boolean {
    return this._running;
  }

  get paused(): boolean {
    return this._paused;
  }

  /** Generates a reply to `prompt` (default: the prompt box or the `prompt` attribute). Stops a run in progress first. */
  async generate(prompt?: string): Promise<GenerationResult> {
    return this.#run(prompt, null);
  }

  /**
   * Transcribes audio (a File or Blob, an AudioBuffer, or {samples, sampleRate}) with the speech model
   * (Whisper, `<accel-model task="speech-recognition">`) and streams the words in like a generation: same
   * events, stop and pause. Audio is decoded and resampled to 16 kHz here; one model window (30 s for
   * released Whisper checkpoints) per call.
   */
  async transcribe(audio: AudioInput): Promise<GenerationResult> {
    return this.#run('', audio);
  }

  async #run(prompt: string | undefined, audio: AudioInput | null): Promise<GenerationResult> {
    this.stop();
    const text = audio ? '' : prompt ?? this._input?.value ?? this.prompt;
    const abort = new AbortController();
    this.#abort = abort;
    this._error = '';
    this._output = '';
    this._metrics = null;
    this._tokens = 0;
    this._running = true;
    this._paused = false;
    this._announce = audio ? 'Transcribing…' : 'Generating…';
    const history = this.chat ? [...this._turns] : [];
    let handle: ModelHandle | null = null;
    if (this.chat && !audio) this._turns = [...this._turns, { role: 'user', content: text }];
    try {
      if (!audio && !text.trim()) throw new InvalidArgumentError('The prompt is empty; type something first.');
      let gen: Generation;
      if (audio) {
        const [handle, samples] = await Promise.all([resolveModel(this, this.model, this.src, abort.signal), toAudioSamples(audio)]);
        if (abort.signal.aborted) throw new AbortError('Transcription', { cause: abort.signal.reason });
        gen = handle.transcribe(samples, this.#options(abort.signal));
      } else if (this.wsUrl) {
        gen = generateOverWebSocket(this.wsUrl, this.chat ? this.#messages(history, text) : text, this.#options(abort.signal));
      } else {
        handle = await resolveModel(this, this.model, this.src, abort.signal);
        if (abort.signal.aborted) throw new AbortError('Generation', { cause: abort.signal.reason });
        gen = handle.generate(this.#input(handle, history, text), this.#options(abort.signal));
      }
      this.#generation = gen;
      for await (const ev of gen) {
        if (!ev.text && ev.index > 0) continue;
        this._output += ev.text;
        this._tokens = ev.index + 1;
        this.emit('accel-token', { ...ev, output: this._output });
      }
      const result = await gen.result;
      this._output = result.text;
      this._metrics = result.metrics;
      if (this.chat && !audio) this._turns = [...this._turns, { role: 'assistant', content: result.text }];
      this._announce = `Done: ${result.usage.completionTokens} tokens, ${result.finishReason}.`;
      this.emit('accel-done', result);
      return result;
    } catch (error) {
      this._error = this.reportError(error).message;
      this._announce = `Error: ${this._error}`;
      // a lost GPU device: the <accel-model> drops its copy so the next generation loads it on a new device
      if (handle && this.model && (error as { code?: unknown } | null)?.code === 'device-lost') {
        void findModelElement(this, this.model).then((p) => p.modelFailed?.(handle!, error), () => undefined);
      }
      throw error;
    } finally {
      if (this.#abort === abort) {
        this.#abort = null;
        this.#generation = null;
        this._running = false;
        this._paused = false;
      }
    }
  }

  /** Stops the current generation within one token; its result ends with finishReason "abort". */
  stop(): void {
    this.#abort?.abort();
  }

  /** Holds generation before the next token. */
  pause(): void {
    if (!this.#generation) return;
    this.#generation.pause();
    this._paused = true;
    this._announce = 'Paused.';
  }

  resume(): void {
    if (!this.#generation) return;
    this.#generation.resume();
    this._paused = false;
    this._announce = 'Generating…';
  }

  /** Stops and forgets the conversation and output. */
  clear(): void {
    this.stop();
    this._turns = [];
    this._output = '';
    this._metrics = null;
    this._tokens = 0;
    this._error = '';
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stop();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('stopSequences')) {
      try {
        this.#stops();
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  #stops(): string[] {
    const s = this.stopSequences.trim();
    if (!s) return [];
    if (!s.startsWith('[')) return [this.stopSequences];
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      throw new InvalidArgumentError(`stop='${this.stopSequences}': a value starting with "[" must be a JSON array of strings.`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string' && x.length > 0)) {
      throw new InvalidArgumentError(`stop='${this.stopSequences}': expected a JSON array of non-empty strings.`);
    }
    return parsed as string[];
  }

  #input(handle: ModelHandle, history: Turn[], text: string): string | ChatMessage[] {
    if (!this.chat) return text;
    if (!handle.info.hasChatTemplate) throw new InvalidArgumentError(`The model "${handle.info.name}" has no chat template; remove the chat attribute to send plain prompts.`);
    return this.#messages(history, text);
  }

  #messages(history: Turn[], text: string): ChatMessage[] {
    const messages: ChatMessage[] = [];
    if (this.system) messages.push({ role: 'system', content: this.system });
    for (const t of history) messages.push({ role: t.role, content: t.content });
    messages.push({ role: 'user', content: text });
    return messages;
  }

  #options(signal: AbortSignal): GenerateOptions {
    const temperature = finiteOr(this.temperature, 0.7);
    const options: GenerateOptions = {
      maxNewTokens: Math.max(1, Math.floor(finiteOr(this.maxTokens, 128))),
      temperature,
      signal,
      onMetrics: (m) => (this._metrics = m),
    };
    const topK = finiteOr(this.topK, 0);
    const topP = finiteOr(this.topP, 1);
    const seed = num(this.seed);
    if (topK > 0) options.topK = topK;
    if (topP > 0 && topP < 1) options.topP = topP;
    if (seed !== undefined && Number.isFinite(seed)) options.seed = seed;
    const stops = this.#stops();
    if (stops.length) options.stop = stops;
    return options;
  }

  #onKey(e: KeyboardEvent): void {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.#send();
    } else if (e.key === 'Escape' && this._running) {
      e.preventDefault();
      this.stop();
    }
  }

  #send(): void {
    if (this._running) return;
    const text = this._input?.value ?? this.prompt;
    void this.generate(text)
      .then(() => {
        if (this.chat && this._input) this._input.value = '';
      })
      .catch(() => undefined);
  }

  #metricsText(): string {
    const m = this._metrics;
    if (!m) return this._running ? 'Waiting for the first token…' : '';
    const parts = [`TTFT ${Math.round(m.timeToFirstTokenMs)} ms`];
    if (m.prefillTokensPerSecond > 0) parts.push(`prefill ${m.prefillTokensPerSecond.toFixed(1)} tok/s`);
    if (m.decodeTokensPerSecond > 0) parts.push(`decode ${m.decodeTokensPerSecond.toFixed(1)} tok/s`);
    parts.push(`${this._tokens} tokens`);
    return parts.join(' · ');
  }

  override render(): TemplateResult {
    // A reply cut short by an error stays visible next to the error (remote streams keep partial text).
    const showCurrent = this._running || !this.chat || (!!this._error && !!this._output);
    return html`<div part="base">
      <div part="transcript" role="log" aria-live="polite" aria-label="Conversation" aria-busy=${this._running ? 'true' : 'false'}>
        ${this._turns.map((t, i) =>
          this._running && i === this._turns.length - 1 && t.role === 'user'
            ? html`<div part="turn turn-user">${t.content}</div>`
            : html`<div part="turn turn-${t.role}">${t.content}</div>`,
        )}
        ${showCurrent && (this._output || this._running)
          ? html`<div part="turn turn-assistant output" class=${this._running && !this._paused ? 'caret' : ''}>${this._output}</div>`
          : nothing}
      </div>
      ${this._error ? html`<div part="error" role="alert">${this._error}</div>` : nothing}
      <form part="form" @submit=${(e: Event) => (e.preventDefault(), this.#send())}>
        <textarea part="input" aria-label="Prompt" rows="2" .value=${this.prompt} placeholder="Type a prompt, Enter to send, Shift+Enter for a new line" @keydown=${this.#onKey}></textarea>
        <slot name="send-button" @click=${(e: Event) => (e.target as Element).closest?.('[slot="send-button"]') && this.#send()}>
          <button part="send-button" type="submit" ?disabled=${this._running}>Send</button>
        </slot>
        <slot name="stop-button" @click=${(e: Event) => (e.target as Element).closest?.('[slot="stop-button"]') && this.stop()}>
          <button part="stop-button" type="button" ?disabled=${!this._running} @click=${() => this.stop()}>Stop</button>
        </slot>
      </form>
      <div part="metrics">${this.#metricsText()}</div>
      <div class="visually-hidden" role="status">${this._announce}</div>
    </div>`;
  }
}
