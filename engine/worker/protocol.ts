import type { BackendChoice, CapabilityReport, RecommendRequest } from '../capabilities/types.js';
import type { GenerateInput, GenerateOptions, GenerationMetrics, GenerationResult, TokenEvent } from '../generate/index.js';
import type { ModelInfo, ModelLoadProgress, TranscribeOptions } from '../load-model.js';
import type { AudioSamples } from '../models/whisper/features.js';
import type { BertOutput } from '../models/bert/bert.js';
import type { RgbaImage } from '../models/vit/image-processor.js';
import type { ClassifyOptions, ClassifyResult } from '../models/vit/vit.js';
import type { BackendRequest } from '../engine.js';
import type { LoadPrecision, QuantPlan } from '../quant/plan.js';

/** Options of a generation that cross the Worker boundary (callbacks and signals stay on the page). */
export type WireGenerateOptions = Omit<GenerateOptions, 'signal' | 'onToken' | 'onMetrics' | 'logitsProcessors'>;
export type WireTranscribeOptions = Omit<TranscribeOptions, 'signal' | 'onToken' | 'onMetrics' | 'logitsProcessors'>;

export interface WireLoadOptions {
  backend?: BackendRequest;
  precision?: LoadPrecision | QuantPlan;
  memoryBudget?: number;
  file?: string;
  maxSequence?: number;
  memoryProfile?: 'low' | 'balanced' | 'max';
  hubBase?: string;
  gateways?: string[];
  verify?: boolean;
  stallTimeoutMs?: number;
}

export type WireSource = string | Blob | readonly (File | Blob)[];

export type Request =
  | { t: 'capabilities'; id: number; refresh: boolean }
  | { t: 'recommend'; id: number; request: RecommendRequest }
  | { t: 'load'; id: number; src: WireSource; options: WireLoadOptions }
  | { t: 'unload'; id: number; modelId: number }
  | { t: 'generate'; id: number; modelId: number; input: GenerateInput; options: WireGenerateOptions }
  | { t: 'embed'; id: number; modelId: number; text: string }
  | { t: 'classify'; id: number; modelId: number; image: RgbaImage; options: ClassifyOptions }
  | { t: 'transcribe'; id: number; modelId: number; audio: AudioSamples; options: WireTranscribeOptions }
  | { t: 'loaded'; id: number }
  | { t: 'bye'; id: number }
  | { t: 'abort'; id: number }
  | { t: 'pause'; id: number }
  | { t: 'resume'; id: number };

export interface WireError {
  name: string;
  code: string;
  message: string;
}

export type Response =
  | { t: 'result'; id: number; value: unknown }
  | { t: 'error'; id: number; error: WireError }
  | { t: 'progress'; id: number; value: ModelLoadProgress }
  /** A non-fatal problem while loading (e.g. quota-exceeded: the model loads uncached). */
  | { t: 'warning'; id: number; error: WireError }
  | { t: 'token'; id: number; value: TokenEvent }
  | { t: 'metrics'; id: number; value: GenerationMetrics };

export interface LoadedReply {
  modelId: number;
  info: ModelInfo;
}

export type ResultOf = {
  capabilities: CapabilityReport;
  recommend: BackendChoice[];
  load: LoadedReply;
  unload: boolean;
  generate: GenerationResult;
  embed: BertOutput;
  loaded: ModelInfo[];
  bye: boolean;
  classify: ClassifyResult;
};
