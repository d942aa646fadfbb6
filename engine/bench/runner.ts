import type { BackendName, MemoryInfo } from '../backends/backend.js';
import { AbortError, AccelError, InvalidArgumentError } from '../errors.js';
import type { GenerateInput, GenerateOptions, Generation } from '../generate/index.js';
import { GpuSpanTimer, timestampDevice } from './gpu-timer.js';
import { summarize, throughput, type Summary } from './stats.js';

/** Where a run stands; `progress` is 0…1 over the whole run (every matrix cell, warm-up included). */
export interface BenchmarkProgress {
  phase: 'load' | 'warmup' | 'measure' | 'done';
  /** 0-based matrix cell and the number of cells (1 outside matrix mode). */
  cellIndex: number;
  cellCount: number;
  cell: BenchmarkCell | null;
  /** 1-based iteration within the phase, and the phase's length. */
  iteration: number;
  iterations: number;
  progress: number;
}

export interface BenchmarkCell {
  backend: BackendName | 'remote';
  precision: string;
  promptTokens: number;
}

export interface MeasureOptions {
  /** Measured iterations (≥ 1). Default 10. */
  iterations?: number;
  /** Untimed iterations first (JIT, pipeline compilation, caches). Default 2. */
  warmup?: number;
  signal?: AbortSignal;
  onIteration?: (phase: 'warmup' | 'measure', iteration: number, of: number) => void;
}

export interface MeasureResult<T> {
  /** Wall time of each measured iteration, in order. */
  timesMs: number[];
  values: T[];
  latency: Summary;
  /** Iterations per second over the measured part. */
  itemsPerSecond: number;
}

const now = (): number => performance.now();

function counts(iterations: number | undefined, warmup: number | undefined): { iterations: number; warmup: number } {
  const it = iterations ?? 10;
  const wu = warmup ?? 2;
  if (!Number.isInteger(it) || it < 1) throw new InvalidArgumentError(`iterations must be an integer ≥ 1, got ${it}.`);
  if (!Number.isInteger(wu) || wu < 0) throw new InvalidArgumentError(`warmup must be an integer ≥ 0, got ${wu}.`);
  return { iterations: it, warmup: wu };
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what, { cause: signal.reason });
}

/**
 * Times `fn` `warmup` times untimed, then `iterations` times, each awaited before the next. Generic:
 * any async step (a forward pass, an embedding, a kernel) can be measured.
 */
export async function measure<T>(fn: (iteration: number) => Promise<T> | T, options: MeasureOptions = {}): Promise<MeasureResult<T>> {
  const { iterations, warmup } = counts(options.iterations, options.warmup);
  for (let i = 0; i < warmup; i++) {
    throwIfAborted(options.signal, 'The benchmark');
    options.onIteration?.('warmup', i + 1, warmup);
    await fn(-1 - i);
  }
  const timesMs: number[] = [];
  const values: T[] = [];
  for (let i = 0; i < iterations; i++) {
    throwIfAborted(options.signal, 'The benchmark');
    options.onIteration?.('measure', i + 1, iterations);
    const t0 = now();
    values.push(await fn(i));
    timesMs.push(now() - t0);
  }
  throwIfAborted(options.signal, 'The benchmark');
  const total = timesMs.reduce((a, b) => a + b, 0);
  return { timesMs, values, latency: summarize(timesMs), itemsPerSecond: throughput(iterations, total) };
}

/** One measured generation. */
export interface GenerationSample {
  /** Wall time of the whole generate() call. */
  ms: number;
  /** From the call to the first token (prefill included), from the generator's own metrics. */
  ttftMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  promptTokens: number;
  completionTokens: number;
  /** GPU-clock span of the iteration (WebGPU with timestamp-query), else null. */
  gpuMs: number | null;
}

export interface BenchmarkMemory {
  /** The model's own bytes on its backend. */
  weightBytes: number;
  kvCacheBytes: number;
  /** The backend's allocator (GPU buffers on webgpu, wasm heap blocks, JS arrays on cpu) after the run; null across a Worker. */
  backendAllocatedBytes: number | null;
  backendPeakBytes: number | null;
  backendReservedBytes: number | null;
  /** performance.memory.usedJSHeapSize (Chromium) or process heapUsed (Node) after the run; null elsewhere. */
  jsHeapBytes: number | null;
}

/** What one generation benchmark found (plain data: stored, exported, sent across Workers). */
export interface GenerationBenchmark {
  model: string;
  source: string;
  backend: BackendName | 'remote';
  precision: string;
  promptTokens: number;
  maxNewTokens: number;
  iterations: number;
  warmup: number;
  /** ISO time the measured part began. */
  startedAt: string;
  durationMs: number;
  samples: GenerationSample[];
  latencyMs: Summary;
  ttftMs: Summary;
  decodeTokensPerSecond: Summary;
  prefillTokensPerSecond: Summary;
  /** Completion tokens of all measured iterations over their total wall time. */
  tokensPerSecond: number;
  /** Generations per second. */
  itemsPerSecond: number;
  /** Summary of gpuMs when every iteration was timed on the GPU, else null; `gpuTiming` says why. */
  gpuMs: Summary | null;
  gpuTiming: 'measured' | 'no-timestamp-query' | 'not-in-thread';
  memory: BenchmarkMemory;
}

/** The part of a model the benchmark needs: the in-thread Model and the Worker proxy both fit. */
export interface BenchmarkModel {
  readonly info: { name: string; source: string; backend: BackendName | 'remote'; vocabSize: number; maxSequence: number; memory: { weightBytes: number; kvCacheBytes: number } };
  generate(input: GenerateInput, options?: GenerateOptions): Generation;
  /** In-thread models expose these: backend memory figures and the WebGPU device for timestamps. */
  readonly backend?: { readonly name: BackendName; memory(): MemoryInfo };
  memory?(): { weightBytes: number; kvCacheBytes: number };
}

export interface GenerationBenchmarkOptions extends Omit<MeasureOptions, 'onIteration'> {
  /** Prompt length in tokens (the sequence size). Default 16. */
  promptTokens?: number;
  /** Tokens to generate per iteration (EOS is ignored so every iteration makes this many). Default 16. */
  maxNewTokens?: number;
  /** Label stored with the result; the model does not know how it was quantized. Default 'original'. */
  precision?: string;
  /** Time each iteration on the GPU clock where possible. Default true. */
  gpuTimestamps?: boolean;
  onProgress?: (p: BenchmarkProgress) => void;
}

/**
 * A fixed prompt of n token ids spread over the vocabulary (no tokenizer involved, so every backend and
 * precision sees exactly the same ids).
 */
export function benchmarkPrompt(n: number, vocabSize: number): number[] {
  return Array.from({ length: n }, (_, i) => (17 + i * 7919) % vocabSize);
}

function jsHeapBytes(): number | null {
  const perf = (globalThis.performance as { memory?: { usedJSHeapSize?: number } } | undefined)?.memory;
  if (perf && typeof perf.usedJSHeapSize === 'number' && perf.usedJSHeapSize > 0) return perf.usedJSHeapSize;
  const proc = (globalThis as { process?: { memoryUsage?: () => { heapUsed: number } } }).process;
  return typeof proc?.memoryUsage === 'function' ? proc.memoryUsage().heapUsed : null;
}

/**
 * Times text generation: `warmup` untimed runs, then `iterations` greedy generations of `maxNewTokens`
 * tokens from a `promptTokens`-token prompt, each with a fresh KV cache so every iteration does the
 * same work. Reports wall time, TTFT and prefill/decode rates from the generator's metrics, memory, and
 * GPU time where the device has timestamp queries.
 */
export async function benchmarkGeneration(model: BenchmarkModel, options: GenerationBenchmarkOptions = {}, at: { cellIndex: number; cellCount: number } = { cellIndex: 0, cellCount: 1 }): Promise<GenerationBenchmark> {
  const { iterations, warmup } = counts(options.iterations, options.warmup);
  const promptTokens = options.promptTokens ?? 16;
  const maxNewTokens = options.maxNewTokens ?? 16;
  if (!Number.isInteger(promptTokens) || promptTokens < 1) throw new InvalidArgumentError(`promptTokens must be an integer ≥ 1, got ${promptTokens}.`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new InvalidArgumentError(`maxNewTokens must be an integer ≥ 1, got ${maxNewTokens}.`);
  const info = model.info;
  if (promptTokens + maxNewTokens > info.maxSequence) {
    throw new InvalidArgumentError(`A ${promptTokens}-token prompt plus ${maxNewTokens} new tokens needs ${promptTokens + maxNewTokens} cache positions; the model was loaded with ${info.maxSequence}. Use fewer tokens or load it with a larger maxSequence.`);
  }
  const cell: BenchmarkCell = { backend: info.backend, precision: options.precision ?? 'original', promptTokens };
  const prompt = { tokens: benchmarkPrompt(promptTokens, info.vocabSize) };
  const target = options.gpuTimestamps === false ? null : timestampDevice(model.backend);
  const timer = target ? new GpuSpanTimer(target) : null;
  const steps = warmup + iterations;
  const report = (phase: BenchmarkProgress['phase'], iteration: number, of: number, done: number) =>
    options.onProgress?.({ phase, cellIndex: at.cellIndex, cellCount: at.cellCount, cell, iteration, iterations: of, progress: (at.cellIndex + done / steps) / at.cellCount });

  const once = async (): Promise<GenerationSample> => {
    throwIfAborted(options.signal, 'The benchmark');
    timer?.begin();
    const t0 = now();
    const result = await model.generate(prompt, { maxNewTokens, temperature: 0, ignoreEos: true, reuseCache: false, ...(options.signal ? { signal: options.signal } : {}) }).result;
    const ms = now() - t0;
    const gpuMs = timer ? await timer.end() : null;
    if (result.finishReason === 'abort') throw new AbortError('The benchmark', { cause: options.signal?.reason });
    return {
      ms,
      ttftMs: result.metrics.timeToFirstTokenMs,
      prefillTokensPerSecond: result.metrics.prefillTokensPerSecond,
      decodeTokensPerSecond: result.metrics.decodeTokensPerSecond,
      promptTokens: result.usage.promptTokens,
      completionTokens: result.usage.completionTokens,
      gpuMs,
    };
  };

  try {
    for (let i = 0; i < warmup; i++) {
      report('warmup', i + 1, warmup, i);
      await once();
    }
    const startedAt = new Date().toISOString();
    const t0 = now();
    const samples: GenerationSample[] = [];
    for (let i = 0; i < iterations; i++) {
      report('measure', i + 1, iterations, warmup + i);
      samples.push(await once());
    }
    const durationMs = now() - t0;
    report('done', iterations, iterations, steps);
    const total = samples.reduce((a, s) => a + s.ms, 0);
    const gpu = samples.map((s) => s.gpuMs);
    const mem = model.memory ? model.memory() : info.memory;
    const backendMem = model.backend ? model.backend.memory() : null;
    return {
      model: info.name,
      source: info.source,
      backend: info.backend,
      precision: cell.precision,
      promptTokens,
      maxNewTokens,
      iterations,
      warmup,
      startedAt,
      durationMs,
      samples,
      latencyMs: summarize(samples.map((s) => s.ms)),
      ttftMs: summarize(samples.map((s) => s.ttftMs)),
      decodeTokensPerSecond: summarize(samples.map((s) => s.decodeTokensPerSecond)),
      prefillTokensPerSecond: summarize(samples.map((s) => s.prefillTokensPerSecond)),
      tokensPerSecond: throughput(samples.reduce((a, s) => a + s.completionTokens, 0), total),
      itemsPerSecond: throughput(iterations, total),
      gpuMs: timer && gpu.every((g): g is number => g !== null) ? summarize(gpu) : null,
      gpuTiming: timer ? 'measured' : model.backend ? 'no-timestamp-query' : 'not-in-thread',
      memory: {
        weightBytes: mem.weightBytes,
        kvCacheBytes: mem.kvCacheBytes,
        backendAllocatedBytes: backendMem?.allocatedBytes ?? null,
        backendPeakBytes: backendMem?.peakBytes ?? null,
        backendReservedBytes: backendMem?.reservedBytes ?? null,
        jsHeapBytes: jsHeapBytes(),
      },
    };
  } finally {
    timer?.dispose();
  }
}

/** What the matrix needs from an engine: `getEngine()` fits (it is passed in, so bench/ does not import engine.ts). */
export interface BenchmarkLoader {
  load(src: string, options: { backend: BackendName; precision: string; maxSequence?: number; signal?: AbortSignal }): Promise<BenchmarkModel>;
  unload(model: BenchmarkModel): boolean;
}

export interface MatrixOptions extends Omit<GenerationBenchmarkOptions, 'promptTokens' | 'precision'> {
  /** Model source (URL, hf:, ipfs://). */
  source: string;
  backends: readonly BackendName[];
  /** Default ['original']. */
  precisions?: readonly string[];
  /** Prompt lengths to run (the sequence sizes). Default [16]. */
  promptTokens?: readonly number[];
  /** Called after each cell with its result (e.g. to store it at once). */
  onResult?: (result: GenerationBenchmark) => void | Promise<void>;
}

export interface MatrixFailure {
  cell: BenchmarkCell;
  error: AccelError;
}

export interface MatrixResult {
  results: GenerationBenchmark[];
  /** Cells that could not run (backend unavailable, precision not applicable…); the others still ran. */
  failures: MatrixFailure[];
}

/**
 * Every backend × precision × prompt length: loads the model once per backend and precision through
 * `loader.load(source, { backend, precision })`, benchmarks each prompt length, unloads it. A cell that
 * fails is recorded and the rest run; an abort stops everything and rejects with AbortError.
 */
export async function runMatrix(loader: BenchmarkLoader, options: MatrixOptions): Promise<MatrixResult> {
  const backends = [...options.backends];
  const precisions = [...(options.precisions ?? ['original'])];
  const lengths = [...(options.promptTokens ?? [16])];
  if (backends.length === 0) throw new InvalidArgumentError('The benchmark matrix needs at least one backend.');
  if (precisions.length === 0) throw new InvalidArgumentError('The benchmark matrix needs at least one precision.');
  if (lengths.length === 0) throw new InvalidArgumentError('The benchmark matrix needs at least one prompt length.');
  const maxNew = options.maxNewTokens ?? 16;
  const cellCount = backends.length * precisions.length * lengths.length;
  const results: GenerationBenchmark[] = [];
  const failures: MatrixFailure[] = [];
  let cellIndex = 0;
  for (const backend of backends) {
    for (const precision of precisions) {
      throwIfAborted(options.signal, 'The benchmark');
      options.onProgress?.({ phase: 'load', cellIndex, cellCount, cell: { backend, precision, promptTokens: lengths[0]! }, iteration: 0, iterations: 0, progress: cellIndex / cellCount });
      let model: BenchmarkModel;
      try {
        model = await loader.load(options.source, { backend, precision, maxSequence: Math.max(...lengths) + maxNew, ...(options.signal ? { signal: options.signal } : {}) });
      } catch (error) {
        if (options.signal?.aborted) throw new AbortError('The benchmark', { cause: options.signal.reason });
        const e = error instanceof AccelError ? error : new AccelError('backend-unavailable', `Loading ${options.source} on ${backend} at ${precision} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        for (const promptTokens of lengths) failures.push({ cell: { backend, precision, promptTokens }, error: e });
        cellIndex += lengths.length;
        continue;
      }
      try {
        for (const promptTokens of lengths) {
          const { onResult: _r, source: _s, backends: _b, precisions: _p, promptTokens: _l, ...rest } = options;
          const r = await benchmarkGeneration(model, { ...rest, precision, promptTokens }, { cellIndex, cellCount });
          results.push(r);
          await options.onResult?.(r);
          cellIndex++;
        }
      } finally {
        loader.unload(model);
      }
    }
  }
  return { results, failures };
}
