import type { Backend, BackendName } from './backends/backend.js';
import type { Tensor } from './tensor/tensor.js';
import type { ModelType } from './capabilities/types.js';
import { AccelError, FormatError, HttpError, FileNotFoundError, InvalidArgumentError } from './errors.js';
import { parseModelConfig, type LlamaConfig, type ModelConfig } from './formats/config.js';
import { parseGguf } from './formats/gguf.js';
import { ggufLlamaConfig } from './formats/gguf-llama.js';
import { parseSafetensors, parseSafetensorsIndex } from './formats/safetensors.js';
import { loadTokenizer, tokenizerFromGguf, type Tokenizer } from './formats/tokenizer.js';
import { ModelLoader, type LoaderOptions, type LoadProgress } from './loader/index.js';
import type { SourceInput } from './loader/index.js';
import { BertModel } from './models/bert/bert.js';
import { Gpt2Model, gpt2Tensors } from './models/gpt2/gpt2.js';
import { LlamaModel } from './models/llama/llama.js';
import type { CausalLM } from './models/model.js';
import { ggufStore, safetensorsStore, type SafetensorsFile } from './models/stores.js';
import type { WeightStore } from './models/weights.js';
import { StreamingGgufUpload, StreamingSafetensorsUpload } from './models/streaming-upload.js';
import { describePlan, resolvePlan, type LoadPrecision, type QuantPlan, type TensorPlan } from './quant/plan.js';
import type { BertOutput } from './models/bert/bert.js';
import { VitModel, type ClassifyOptions, type ClassifyResult } from './models/vit/vit.js';
import type { RgbaImage } from './models/vit/image-processor.js';
import { parseImageProcessorConfig } from './formats/preprocessor-config.js';
import { WhisperModel } from './models/whisper/whisper.js';
import { WhisperFeatureExtractor, parseWhisperFeatureConfig, type AudioSamples } from './models/whisper/features.js';
import { PushedGeneration } from './generate/pushed-generation.js';
import { generate, generationDefaults, memoryProfile, type GenerateInput, type GenerateOptions, type Generation, type GenerationDefaults, type MemoryProfileName } from './generate/index.js';

/** What a page needs to show about a loaded model (plain data: crosses Workers). */
export interface ModelInfo {
  name: string;
  /** 'remote' for a model served by an inference server (its architecture is the server's business). */
  architecture: ModelArchitecture | 'remote';
  task: ModelType;
  /** 'remote': generation runs on an OpenAI-compatible server (see engine/remote). */
  backend: BackendName | 'remote';
  format: 'safetensors' | 'gguf' | 'openai';
  source: string;
  /** The API base URL of a remote model. */
  endpoint?: string;
  /** Tokenizer vocabulary size; 0 for models without a tokenizer (image classifiers). */
  vocabSize: number;
  /** KV-cache length (decoders), else max positions (ViT: patches + CLS). */
  maxSequence: number;
  hasChatTemplate: boolean;
  memory: { weightBytes: number; kvCacheBytes: number; totalBytes: number };
}

/** The part of a model elements use; implemented in-thread by Model and across a Worker by a proxy. */
export interface ModelHandle {
  readonly info: ModelInfo;
  generate(input: GenerateInput, options?: GenerateOptions): Generation;
  embed(text: string): Promise<BertOutput>;
  /** Image classification (ViT): RGBA pixels (an ImageData works) → the top labels with softmax scores. */
  classify(image: RgbaImage, options?: ClassifyOptions): Promise<ClassifyResult>;
  /** Speech recognition (Whisper): 16 kHz mono samples → streamed transcript tokens (see TranscribeOptions). */
  transcribe(audio: AudioSamples, options?: TranscribeOptions): Generation;
}

/** Options of `transcribe()`: generation options (greedy by default) plus Whisper's prompt tokens. */
export interface TranscribeOptions extends GenerateOptions {
  /** Language token, e.g. 'en' → <|en|> (multilingual checkpoints; default 'en' when the tokenizer has it). */
  language?: string;
  /** 'transcribe' (default) or 'translate' (to English). */
  task?: 'transcribe' | 'translate';
  /** The decoder prompt as token ids, replacing the one built from language / task. */
  promptTokens?: readonly number[];
}

/** Model-level progress: bytes over all files; `upload` while weights go to the backend. */
export interface ModelLoadProgress {
  phase: LoadProgress['phase'] | 'parse' | 'upload' | 'ready';
  file: string;
  /** Bytes of the current file so far and its size (when known). */
  fileLoaded: number;
  fileTotal: number | undefined;
  /** Bytes of all files so far. */
  loaded: number;
  /** 0…1 when the sizes are known, else null. */
  progress: number | null;
}

export interface ModelLoadOptions extends Pick<LoaderOptions, 'cache' | 'hubBase' | 'gateways' | 'verify' | 'stallTimeoutMs' | 'retries'> {
  /**
   * Remote models (`openai+https://…`): the API key, sent as a Bearer token. Give it as an option or the
   * element's `apiKey` property, never in the URL or an attribute; it is not logged nor shown in errors.
   */
  apiKey?: string;
  signal?: AbortSignal;
  onProgress?: (p: ModelLoadProgress) => void;
  onWarning?: (e: AccelError) => void;
  /** A GGUF file inside the model folder to load instead of config.json + safetensors. */
  file?: string;
  /** KV cache length for decoders; overrides `memoryProfile`. */
  maxSequence?: number;
  /** KV-cache size class for decoders: low (512 tokens / 32 MiB), balanced (default: 2048 / 256 MiB), max. */
  memoryProfile?: MemoryProfileName;
  /**
   * Weight precision of a Llama-family float checkpoint, quantized while it loads (embeddings and norms stay
   * f32; GGUF files load as stored and take only 'original'):
   *  - 'q8' / 'q4': every projection (q/k/v/o, gate/up/down, an untied lm_head) int8 / int4, groups of 32, symmetric;
   *  - 'q3' / 'q2': 3 / 2 bits, groups of 128, asymmetric, with the error-minimising clip search;
   *  - 'mixed': the seeds' preset — attention 3-bit, feed-forward 2-bit (g128, asymmetric, clip search),
   *    lm_head 4-bit (g32 symmetric);
   *  - 'auto': the best step of a quality ladder (q8 → … → q2, see AUTO_LADDER) whose weights fit `memoryBudget`;
   *  - a QuantPlan object: a spec per class (attention, ffn, lmHead), `exclude` patterns, per-layer overrides.
   * A tied lm_head is the embedding and stays f32.
   */
  precision?: LoadPrecision | QuantPlan;
  /** Bytes the weights may take, for precision 'auto'. */
  memoryBudget?: number;
  /**
   * Llama-family models: stack q/k/v and gate/up into one weight each and use the backend's fused ops
   * (qkvRope, swiglu) where it has them (webgpu, cpu). Default true; false keeps every projection separate.
   */
  fuse?: boolean;
}

export type ModelArchitecture = 'llama' | 'gpt2' | 'bert' | 'vit' | 'whisper';

/**
 * A model on one backend with its tokenizer. Decoders expose `lm`; encoders `encoder`. Created by
 * `engine.load()`; `dispose()` frees its backend memory.
 */
export class Model implements ModelHandle {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly source: string;
  readonly format: 'safetensors' | 'gguf';
  /** Decoder-only LM (llama, gpt2), else null. */
  readonly lm: CausalLM | null;
  /** Encoder (bert), else null. */
  readonly encoder: BertModel | null;
  /** Image classifier (vit), else null. */
  readonly vision: VitModel | null;
  /** Log-mel feature extractor of a speech model (whisper), else null. */
  readonly speech: WhisperFeatureExtractor | null;
  /** The folder's small JSON files as loaded (config, tokenizer, generation config): what `saveModel` writes back. */
  readonly files: ReadonlyMap<string, string>;
  /** The quantization plan the weights were packed with (describePlan JSON), or null. */
  readonly quantization: Record<string, unknown> | null;
  /** generation_config.json, when the folder has one. */
  readonly generationConfig: Readonly<Record<string, unknown>> | null;
  #tokenizer: Tokenizer | null;
  #disposed = false;
  #defaults: GenerationDefaults;

  constructor(init: { config: ModelConfig; tokenizer: Tokenizer | null; backend: Backend; source: string; format: 'safetensors' | 'gguf'; lm: CausalLM | null; encoder: BertModel | null; vision?: VitModel | null; speech?: WhisperFeatureExtractor | null; generationConfig: Record<string, unknown> | null; files?: ReadonlyMap<string, string>; quantization?: Record<string, unknown> | null }) {
    this.files = init.files ?? new Map();
    this.quantization = init.quantization ?? null;
    this.config = init.config;
    this.#tokenizer = init.tokenizer;
    this.backend = init.backend;
    this.source = init.source;
    this.format = init.format;
    this.lm = init.lm;
    this.encoder = init.encoder;
    this.vision = init.vision ?? null;
    this.speech = init.speech ?? null;
    this.generationConfig = init.generationConfig;
    this.#defaults = init.generationConfig ? generationDefaults(init.generationConfig) : {};
  }

  /** The text tokenizer; image models have none and throw InvalidArgumentError. */
  get tokenizer(): Tokenizer {
    if (!this.#tokenizer) throw new InvalidArgumentError(`${this.config.architecture} is an image model; it has no tokenizer.`);
    return this.#tokenizer;
  }

  get architecture(): ModelArchitecture {
    return this.config.architecture;
  }

  get task(): ModelType {
    return this.vision ? 'image-classification' : this.speech ? 'speech-recognition' : this.encoder ? 'feature-extraction' : 'text-generation';
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Backend bytes held by this model (weights and KV cache). */
  memory(): { weightBytes: number; kvCacheBytes: number; totalBytes: number } {
    const m = this.lm ? this.lm.memory() : { weightBytes: (this.encoder ?? this.vision)!.memory().weightBytes, kvCacheBytes: 0 };
    return { ...m, totalBytes: m.weightBytes + m.kvCacheBytes };
  }

  get info(): ModelInfo {
    const raw = (this.config.raw as { _name_or_path?: string }) ?? {};
    const fromSource = this.source.replace(/[?#].*$/, '').replace(/\/+$/, '').split(/[/:]/).filter(Boolean).pop();
    return {
      name: (raw._name_or_path?.split('/').filter(Boolean).pop() ?? fromSource ?? 'model').replace(/\.gguf$/i, ''),
      architecture: this.architecture,
      task: this.task,
      backend: this.backend.name,
      format: this.format,
      source: this.source,
      vocabSize: this.#tokenizer?.vocabSize ?? 0,
      maxSequence: this.lm ? this.lm.maxSequence : this.vision ? this.vision.tokens : (this.config as { maxPositionEmbeddings: number }).maxPositionEmbeddings,
      hasChatTemplate: (this.#tokenizer?.chatTemplate ?? null) !== null,
      memory: this.memory(),
    };
  }

  /** Streams a completion (see engine/generate): iterate for tokens, await `.result` for the whole. */
  generate(input: GenerateInput, options: GenerateOptions = {}): Generation {
    if (!this.lm || !this.#tokenizer || this.speech) throw new InvalidArgumentError(`${this.config.architecture} ${this.#notA('text generator')}`);
    return generate(this.lm, this.tokenizer, input, { ...this.#defaults, ...options });
  }

  /** Logits for `ids` after what is cached (see CausalLM.forward). */
  forward(ids: Int32Array, options?: { allLogits?: boolean }): Tensor {
    if (!this.lm) throw new InvalidArgumentError(`${this.config.architecture} ${this.#notA('text generator')}`);
    return this.lm.forward(ids, options);
  }

  /** Sentence embeddings (BERT): tokenizes `text` with special tokens. */
  async embed(text: string): Promise<BertOutput> {
    if (!this.encoder || !this.#tokenizer) throw new InvalidArgumentError(`${this.config.architecture} ${this.#notA('text encoder')}`);
    return this.encoder.embed(Int32Array.from(this.tokenizer.encode(text, { addSpecialTokens: true })));
  }

  /** Image classification (ViT): the top labels with softmax scores, and the logits. */
  classify(image: RgbaImage, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    if (!this.vision) return Promise.reject(new InvalidArgumentError(`${this.config.architecture} ${this.#notA('image classifier')}`));
    return this.vision.classify(image, options);
  }

  /**
   * Transcribes one window of audio (at most the model's chunk_length seconds, 30 for released Whisper
   * checkpoints; split longer audio) with the streaming generator: greedy unless options say otherwise.
   * The prompt is <|startoftranscript|> [<|language|>] <|task|> <|notimestamps|>.
   */
  transcribe(audio: AudioSamples, options: TranscribeOptions = {}): Generation {
    if (!(this.lm instanceof WhisperModel) || !this.speech || !this.#tokenizer) throw new InvalidArgumentError(`${this.config.architecture} ${this.#notA('speech recognizer')}`);
    const { language, task, promptTokens, ...gen } = options;
    const fe = this.speech;
    if (audio?.samples instanceof Float32Array && audio.samples.length > fe.config.nSamples) {
      throw new InvalidArgumentError(`The audio is ${(audio.samples.length / fe.config.samplingRate).toFixed(1)} s; this model transcribes ${fe.config.nSamples / fe.config.samplingRate} s per call. Split it into windows.`);
    }
    const prompt = promptTokens ? [...promptTokens] : this.#whisperPrompt(language, task ?? 'transcribe');
    const features = fe.extract(audio);
    const lm = this.lm;
    const tokenizer = this.#tokenizer;
    // The encoded audio lives in the model (cross-attention states), so transcriptions take turns: each
    // encodes its audio only once the previous one has finished.
    let inner: Generation | null = null;
    let aborted = false;
    let paused = false;
    const outer = new PushedGeneration({
      pause: () => { paused = true; inner?.pause(); },
      resume: () => { paused = false; inner?.resume(); },
      abort: () => { aborted = true; inner?.abort(); },
    });
    gen.signal?.addEventListener('abort', () => outer.abort(), { once: true });
    this.#speechTurn = this.#speechTurn.then(async () => {
      if (!aborted && !gen.signal?.aborted) lm.encode(features);
      const g = generate(lm, tokenizer, { tokens: prompt }, { ...this.#defaults, temperature: 0, ...gen, reuseCache: false });
      inner = g;
      if (aborted) g.abort();
      if (paused) g.pause();
      for await (const e of g) outer.push(e);
      outer.finish(await g.result);
    }).catch((e: unknown) => outer.fail(e));
    return outer;
  }

  #speechTurn: Promise<void> = Promise.resolve();

  #whisperPrompt(language: string | undefined, task: 'transcribe' | 'translate'): number[] {
    const tok = this.#tokenizer!;
    const id = (t: string): number | undefined => tok.tokenToId(t);
    const prompt = [(this.config as { decoderStartTokenId: number }).decoderStartTokenId];
    const lang = id(`<|${language ?? 'en'}|>`);
    if (language && lang === undefined) throw new InvalidArgumentError(`This Whisper tokenizer has no <|${language}|> token; give an ISO 639-1 code it knows (e.g. "en"), or none for an English-only model.`);
    if (lang !== undefined) prompt.push(lang);
    const taskId = id(`<|${task}|>`);
    if (taskId !== undefined) prompt.push(taskId);
    else if (task === 'translate') throw new InvalidArgumentError('This Whisper tokenizer has no <|translate|> token (an English-only model); use task "transcribe".');
    const noTs = id('<|notimestamps|>');
    if (noTs !== undefined) prompt.push(noTs);
    return prompt;
  }

  #notA(what: string): string {
    const use = this.speech ? 'transcribe()' : this.lm ? 'generate()' : this.encoder ? 'embed()' : 'classify()';
    return `is not ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what}; use ${use}.`;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.lm?.dispose();
    this.encoder?.dispose();
    this.vision?.dispose();
  }
}

/** Folder + file name of a source that points straight at a .gguf file. */
function splitGguf(src: SourceInput, file: string | undefined): { folder: SourceInput; file: string | undefined } {
  if (file || typeof src !== 'string' || !/\.gguf(\?.*)?$/i.test(src)) return { folder: src, file };
  const cut = src.lastIndexOf('/');
  return { folder: src.slice(0, cut + 1), file: src.slice(cut + 1) };
}

function isMissing(e: unknown): boolean {
  return (e instanceof HttpError && e.status === 404) || e instanceof FileNotFoundError;
}

function describeSource(src: SourceInput): string {
  if (typeof src === 'string') return src;
  if (src instanceof URL) return src.href;
  return 'local files';
}

const textDecoder = new TextDecoder();

function cacheLength(config: ModelConfig, options: ModelLoadOptions): number {
  return options.maxSequence ?? memoryProfile(options.memoryProfile ?? 'balanced', config).maxSequence;
}

/**
 * Fetches (or reads from cache), verifies, parses and uploads a model. Supports Hugging Face folders
 * (config.json, tokenizer.json, model.safetensors or sharded safetensors) and Llama-family GGUF files.
 */
export async function loadModel(src: SourceInput, backend: Backend, options: ModelLoadOptions = {}): Promise<Model> {

  const { folder, file: ggufFile } = splitGguf(src, options.file);
  const { onProgress: _progress, file: _file, maxSequence: _seq, memoryProfile: _profile, precision, memoryBudget, fuse, apiKey: _key, ...loaderOptions } = options;
  const quantized = precision !== undefined && precision !== 'original';
  const named = typeof precision === 'string' ? `precision "${precision}"` : 'a quantization plan';
  // presets and plan objects are checked before anything downloads; 'auto' needs the config
  let { plan, description } = precision === 'auto' ? { plan: null as TensorPlan | null, description: null as QuantPlan | null } : resolvePlan(precision);
  if (quantized && ggufFile) throw new InvalidArgumentError(`${named} quantizes float checkpoints; ${ggufFile} is a GGUF file, whose weights load as stored — use precision "original".`);
  const loader = new ModelLoader(folder, loaderOptions);
  const done = new Map<string, number>();
  let loadedBefore = 0;
  let knownTotal = 0;
  const report = (p: ModelLoadProgress) => options.onProgress?.(p);
  const fetchFile = async (name: string, optional = false, onChunk?: (offset: number, bytes: Uint8Array) => void): Promise<Uint8Array | null> => {
    try {
      let announced = false;
      const f = await loader.load(name, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(onChunk ? { onChunk: (e: { offset: number; bytes: Uint8Array }) => onChunk(e.offset, e.bytes) } : {}),
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        onProgress: (e) => {
          if (!announced && e.total !== undefined) {
            knownTotal += e.total;
            announced = true;
          }
          report({ phase: e.phase, file: e.file, fileLoaded: e.loaded, fileTotal: e.total, loaded: loadedBefore + e.loaded, progress: knownTotal > 0 ? (loadedBefore + e.loaded) / knownTotal : null });
        },
      });
      loadedBefore += f.bytes.byteLength;
      done.set(name, f.bytes.byteLength);
      return new Uint8Array(f.bytes);
    } catch (e) {
      if (optional && isMissing(e)) return null;
      throw e;
    }
  };
  const json = (bytes: Uint8Array) => textDecoder.decode(bytes);
  const source = describeSource(src);

  if (ggufFile) {
    // the header is parsed as soon as it arrives (an unsupported file fails then) and tensors upload as they land
    const upload = new StreamingGgufUpload(backend, ggufFile);
    let lm: LlamaModel;
    let config: LlamaConfig;
    let tokenizer: Tokenizer;
    let bytes: Uint8Array;
    try {
      bytes = (await fetchFile(ggufFile, false, (offset, chunk) => upload.push(offset, chunk)))!;
      report({ phase: 'parse', file: ggufFile, fileLoaded: bytes.byteLength, fileTotal: bytes.byteLength, loaded: loadedBefore, progress: 1 });
      // the whole file's parse checks every tensor's bounds against its real size
      const header = parseGguf(bytes, ggufFile);
      config = upload.config ?? ggufLlamaConfig(header);
      tokenizer = tokenizerFromGguf(header);
      report({ phase: 'upload', file: ggufFile, fileLoaded: bytes.byteLength, fileTotal: bytes.byteLength, loaded: loadedBefore, progress: 1 });
      lm = new LlamaModel(backend, config, ggufStore(header, bytes, config, upload), { maxSequence: cacheLength(config, options), ...(fuse !== undefined ? { fuse } : {}) });
    } finally {
      upload.dispose();
    }
    await backend.sync();
    report({ phase: 'ready', file: ggufFile, fileLoaded: bytes.byteLength, fileTotal: bytes.byteLength, loaded: loadedBefore, progress: 1 });
    return new Model({ config, tokenizer, backend, source, format: 'gguf', lm, encoder: null, generationConfig: null });
  }

  const configText = json((await fetchFile('config.json'))!);
  const config = parseModelConfig(configText, 'config.json');
  if (quantized && config.architecture !== 'llama') throw new InvalidArgumentError(`${named} is available for Llama-family models; this is a ${config.architecture} model — use precision "original".`);
  if (precision === 'auto' && config.architecture === 'llama') ({ plan, description } = resolvePlan('auto', { config, budgetBytes: memoryBudget, tiedEmbeddings: config.tieWordEmbeddings, packedEmbedding: backend.qembedding !== undefined }));
  if (config.architecture === 'vit') {
    const pre = await fetchFile('preprocessor_config.json', true);
    if (!pre) throw new FormatError('preprocessor_config.json', 'the image model folder has no preprocessor_config.json; accel needs it to resize and normalise images (save the image processor with transformers to create it).');
    const processor = parseImageProcessorConfig(json(pre), config.imageSize, config.numChannels);
    let vision: VitModel | null = null;
    const bytes = (await fetchFile('model.safetensors', true));
    if (!bytes) throw new FormatError('model.safetensors', 'the image model folder has no model.safetensors (sharded image models are not supported).');
    report({ phase: 'upload', file: 'model.safetensors', fileLoaded: loadedBefore, fileTotal: loadedBefore, loaded: loadedBefore, progress: 1 });
    vision = new VitModel(backend, config, processor, safetensorsStore([{ header: parseSafetensors(bytes, 'model.safetensors'), bytes }]));
    await backend.sync();
    report({ phase: 'ready', file: 'model.safetensors', fileLoaded: loadedBefore, fileTotal: loadedBefore, loaded: loadedBefore, progress: 1 });
    const files = new Map<string, string>([['config.json', configText], ['preprocessor_config.json', json(pre)]]);
    return new Model({ config, tokenizer: null, backend, source, format: 'safetensors', lm: null, encoder: null, vision, generationConfig: null, files });
  }
  const tokJson = await fetchFile('tokenizer.json', true);
  if (!tokJson) throw new FormatError('tokenizer.json', 'the model folder has no tokenizer.json; accel needs the fast-tokenizer file (save the tokenizer with transformers to create it).');
  const tokConfig = await fetchFile('tokenizer_config.json', true);
  const genConfig = await fetchFile('generation_config.json', true);
  let speechConfig: string | null = null;
  if (config.architecture === 'whisper') {
    const pre = await fetchFile('preprocessor_config.json', true);
    if (!pre) throw new FormatError('preprocessor_config.json', 'the Whisper model folder has no preprocessor_config.json; accel needs it for the log-mel features (save the processor with transformers to create it).');
    speechConfig = json(pre);
    const fc = parseWhisperFeatureConfig(speechConfig);
    if (fc.featureSize !== config.numMelBins) throw new FormatError('preprocessor_config.json', `feature_size ${fc.featureSize} differs from the model's num_mel_bins ${config.numMelBins}.`);
    if (fc.nbMaxFrames !== 2 * config.maxSourcePositions) throw new FormatError('preprocessor_config.json', `${fc.nbMaxFrames} frames per window, but the encoder takes ${2 * config.maxSourcePositions} (2 × max_source_positions).`);
  }
  const tokenizer = loadTokenizer(json(tokJson), tokConfig ? json(tokConfig) : {}, { tokenizer: 'tokenizer.json', config: 'tokenizer_config.json' });
  let lm: CausalLM | null = null;
  let encoder: BertModel | null = null;

  // Tensors are uploaded while the file streams in: as they are for Llama and BERT, transposed and split
  // the way GPT-2 uses them (gpt2Tensors)
  const transform = config.architecture === 'gpt2' ? gpt2Tensors : undefined;
  const uploads: StreamingSafetensorsUpload[] = [];
  const fetchWeights = async (name: string, optional: boolean): Promise<Uint8Array | null> => {
    const upload = new StreamingSafetensorsUpload(backend, name, undefined, transform, plan ?? undefined);
    try {
      const bytes = await fetchFile(name, optional, (offset, chunk) => upload.push(offset, chunk));
      if (bytes) uploads.push(upload);
      else upload.dispose();
      return bytes;
    } catch (error) {
      upload.dispose();
      throw error;
    }
  };
  try {
    const files: SafetensorsFile[] = [];
    const single = await fetchWeights('model.safetensors', true);
    if (single) {
      files.push({ header: parseSafetensors(single, 'model.safetensors'), bytes: single });
    } else {
      const indexBytes = await fetchFile('model.safetensors.index.json', true);
      if (!indexBytes) throw new FormatError('model.safetensors', 'the model folder has neither model.safetensors nor model.safetensors.index.json.');
      const index = parseSafetensorsIndex(json(indexBytes));
      for (const shard of index.files) {
        const bytes = (await fetchWeights(shard, false))!;
        files.push({ header: parseSafetensors(bytes, shard), bytes });
      }
    }
    const store: WeightStore = safetensorsStore(files, uploads, plan ?? undefined);
    report({ phase: 'upload', file: 'model.safetensors', fileLoaded: loadedBefore, fileTotal: loadedBefore, loaded: loadedBefore, progress: 1 });
    const seq = config.architecture === 'bert' || config.architecture === 'whisper' ? {} : { maxSequence: cacheLength(config, options) };
    if (config.architecture === 'llama') lm = new LlamaModel(backend, config, store, { ...seq, ...(fuse !== undefined ? { fuse } : {}) });
    else if (config.architecture === 'gpt2') lm = new Gpt2Model(backend, config, store, seq);
    else if (config.architecture === 'whisper') lm = new WhisperModel(backend, config, store);
    else if (config.architecture === 'bert') encoder = new BertModel(backend, config, store);
  } finally {
    for (const u of uploads) u.dispose();
  }
  await backend.sync();
  report({ phase: 'ready', file: 'model.safetensors', fileLoaded: loadedBefore, fileTotal: loadedBefore, loaded: loadedBefore, progress: 1 });
  const files = new Map<string, string>([['config.json', configText], ['tokenizer.json', json(tokJson)]]);
  if (tokConfig) files.set('tokenizer_config.json', json(tokConfig));
  if (genConfig) files.set('generation_config.json', json(genConfig));
  if (speechConfig) files.set('preprocessor_config.json', speechConfig);
  return new Model({ config, tokenizer, backend, source, format: 'safetensors', lm, encoder, speech: speechConfig ? new WhisperFeatureExtractor(parseWhisperFeatureConfig(speechConfig)) : null, generationConfig: genConfig ? (JSON.parse(json(genConfig)) as Record<string, unknown>) : null, files, quantization: description ? describePlan(description) : null });
}

export type { BackendName };
