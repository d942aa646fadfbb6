/**
 * React entry point (`import { AccelModel, useGenerate } from 'accel/react'`): the elements wrapped with
 * @lit/react (properties set as properties, `accel-*` events as `onAccel…` props) and hooks over the
 * engine the elements share. react and @lit/react are optional peer dependencies of the kit: only apps
 * that import this entry need them.
 */
import * as React from 'react';
import { createComponent, type EventName } from '@lit/react';
import { AccelBenchmark as AccelBenchmarkElement } from '../components/accel-benchmark/index.js';
import { AccelCache as AccelCacheElement } from '../components/accel-cache/index.js';
import { AccelCapabilities as AccelCapabilitiesElement } from '../components/accel-capabilities/index.js';
import { AccelModel as AccelModelElement } from '../components/accel-model/index.js';
import { AccelStream as AccelStreamElement } from '../components/accel-stream/index.js';
import type { BackendRequest, CapabilityReport, GenerateInput, GenerateOptions, Generation, GenerationResult, LoadPrecision, MatrixOptions, MatrixResult, BenchmarkProgress, ModelHandle, ModelLoadProgress } from '../engine/index.js';
import { absoluteSource } from './controllers/model-lookup.js';
import { getEngineClient } from './engine-client.js';
import { lazyEngine } from './lazy-engine.js';
import type { AccelEvent, AccelEventName } from './events.js';

const ev = <K extends AccelEventName>(name: K) => name as EventName<AccelEvent<K>>;

const errorEvents = { onAccelError: ev('accel-error') };

export const AccelModel = createComponent({
  tagName: 'accel-model',
  elementClass: AccelModelElement,
  react: React,
  events: { ...errorEvents, onAccelLoadProgress: ev('accel-load-progress'), onAccelReady: ev('accel-ready'), onAccelUnload: ev('accel-unload') },
  displayName: 'AccelModel',
});

export const AccelStream = createComponent({
  tagName: 'accel-stream',
  elementClass: AccelStreamElement,
  react: React,
  events: { ...errorEvents, onAccelToken: ev('accel-token'), onAccelDone: ev('accel-done') },
  displayName: 'AccelStream',
});

export const AccelCapabilities = createComponent({
  tagName: 'accel-capabilities',
  elementClass: AccelCapabilitiesElement,
  react: React,
  events: { ...errorEvents, onAccelCapabilitiesReady: ev('accel-capabilities-ready') },
  displayName: 'AccelCapabilities',
});

export const AccelCache = createComponent({
  tagName: 'accel-cache',
  elementClass: AccelCacheElement,
  react: React,
  events: { ...errorEvents, onAccelCacheListed: ev('accel-cache-listed'), onAccelCacheChange: ev('accel-cache-change'), onAccelCachePersisted: ev('accel-cache-persisted') },
  displayName: 'AccelCache',
});

export const AccelBenchmark = createComponent({
  tagName: 'accel-benchmark',
  elementClass: AccelBenchmarkElement,
  react: React,
  events: { ...errorEvents, onAccelBenchmarkProgress: ev('accel-benchmark-progress'), onAccelBenchmarkComplete: ev('accel-benchmark-complete') },
  displayName: 'AccelBenchmark',
});

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export interface UseCapabilitiesResult {
  report: CapabilityReport | null;
  error: Error | null;
  detecting: boolean;
  /** Probes again (e.g. after a GPU was lost). */
  refresh: () => void;
}

/** The device report the elements use (WebGPU, WASM SIMD/threads, WebNN, memory) and the recommended backend in `report`. */
export function useCapabilities(): UseCapabilitiesResult {
  const [report, setReport] = React.useState<CapabilityReport | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [round, setRound] = React.useState(0);
  React.useEffect(() => {
    let live = true;
    getEngineClient()
      .capabilities({ refresh: round > 0 })
      .then((r) => live && (setReport(r), setError(null)))
      .catch((e: unknown) => live && setError(asError(e)));
    return () => {
      live = false;
    };
  }, [round]);
  const refresh = React.useCallback(() => setRound((n) => n + 1), []);
  return { report, error, detecting: report === null && error === null, refresh };
}

export interface UseModelOptions {
  backend?: BackendRequest;
  precision?: LoadPrecision;
  memoryBudget?: number;
  maxSequence?: number;
  memoryProfile?: 'low' | 'balanced' | 'max';
  /** Load as soon as the component mounts (default true); else call `load()`. */
  autoLoad?: boolean;
}

export interface UseModelResult {
  model: ModelHandle | null;
  status: 'idle' | 'loading' | 'ready' | 'error';
  progress: ModelLoadProgress | null;
  error: Error | null;
  load: () => void;
  unload: () => void;
}

/**
 * Loads `src` into the shared engine (the same copy `<accel-model>` elements with the same src, backend
 * and precision use) and releases it when the component unmounts or the source changes.
 */
export function useModel(src: string, options: UseModelOptions = {}): UseModelResult {
  const { backend = 'auto', precision = 'original', memoryBudget, maxSequence, memoryProfile, autoLoad = true } = options;
  const [model, setModel] = React.useState<ModelHandle | null>(null);
  const [status, setStatus] = React.useState<UseModelResult['status']>('idle');
  const [progress, setProgress] = React.useState<ModelLoadProgress | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [wanted, setWanted] = React.useState(autoLoad);
  React.useEffect(() => {
    if (!wanted || !src) return;
    const abort = new AbortController();
    let loaded: ModelHandle | null = null;
    setStatus('loading');
    setError(null);
    getEngineClient()
      .load(absoluteSource(src), {
        backend,
        precision,
        signal: abort.signal,
        onProgress: (p) => !abort.signal.aborted && setProgress(p),
        ...(memoryBudget !== undefined ? { memoryBudget } : {}),
        ...(maxSequence !== undefined ? { maxSequence } : {}),
        ...(memoryProfile ? { memoryProfile } : {}),
      })
      .then((m) => {
        if (abort.signal.aborted) return void getEngineClient().unload(m);
        loaded = m;
        setModel(m);
        setStatus('ready');
      })
      .catch((e: unknown) => {
        if (abort.signal.aborted) return;
        setError(asError(e));
        setStatus('error');
      });
    return () => {
      abort.abort();
      if (loaded) getEngineClient().unload(loaded);
      setModel(null);
      setStatus('idle');
    };
  }, [src, backend, precision, memoryBudget, maxSequence, memoryProfile, wanted]);
  const load = React.useCallback(() => setWanted(true), []);
  const unload = React.useCallback(() => setWanted(false), []);
  return { model, status, progress, error, load, unload };
}

export interface UseGenerateResult {
  /** Visible text so far (of the current or last run). */
  output: string;
  running: boolean;
  result: GenerationResult | null;
  error: Error | null;
  /** Starts a generation (stopping one in flight); resolves with its result. */
  generate: (input: GenerateInput, options?: Omit<GenerateOptions, 'signal' | 'onToken'>) => Promise<GenerationResult>;
  /** Stops within one token; the result ends with finishReason "abort". */
  stop: () => void;
}

/** Streams completions from a model of `useModel` (or any ModelHandle) into React state. */
export function useGenerate(model: ModelHandle | null): UseGenerateResult {
  const [output, setOutput] = React.useState('');
  const [running, setRunning] = React.useState(false);
  const [result, setResult] = React.useState<GenerationResult | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const current = React.useRef<Generation | null>(null);
  const stop = React.useCallback(() => current.current?.abort(), []);
  React.useEffect(() => () => current.current?.abort(), [model]);
  const generate = React.useCallback<UseGenerateResult['generate']>(
    async (input, options = {}) => {
      current.current?.abort();
      setError(null);
      setResult(null);
      setOutput('');
      if (!model) {
        const e = new Error('No model yet: wait until useModel() reports status "ready".');
        setError(e);
        throw e;
      }
      setRunning(true);
      let text = '';
      const gen = model.generate(input, options);
      current.current = gen;
      try {
        for await (const t of gen) {
          text += t.text;
          if (current.current === gen) setOutput(text);
        }
        const r = await gen.result;
        if (current.current === gen) {
          setOutput(r.text);
          setResult(r);
        }
        return r;
      } catch (e) {
        if (current.current === gen) setError(asError(e));
        throw e;
      } finally {
        if (current.current === gen) {
          current.current = null;
          setRunning(false);
        }
      }
    },
    [model],
  );
  return { output, running, result, error, generate, stop };
}

export interface UseBenchmarkResult {
  progress: BenchmarkProgress | null;
  result: MatrixResult | null;
  error: Error | null;
  running: boolean;
  /** Runs the matrix (backends × precisions × prompt lengths) on this page's engine. */
  run: (options: Omit<MatrixOptions, 'onProgress' | 'signal'>) => Promise<MatrixResult>;
  stop: () => void;
}

/** The benchmark runner `<accel-benchmark>` uses, as state: progress while running, records after. */
export function useBenchmark(): UseBenchmarkResult {
  const [progress, setProgress] = React.useState<BenchmarkProgress | null>(null);
  const [result, setResult] = React.useState<MatrixResult | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [running, setRunning] = React.useState(false);
  const abort = React.useRef<AbortController | null>(null);
  React.useEffect(() => () => abort.current?.abort(), []);
  const stop = React.useCallback(() => abort.current?.abort(), []);
  const run = React.useCallback<UseBenchmarkResult['run']>(async (options) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setError(null);
    setResult(null);
    try {
      const r = await lazyEngine.benchmark({ ...options, signal: controller.signal, onProgress: setProgress });
      setResult(r);
      return r;
    } catch (e) {
      setError(asError(e));
      throw e;
    } finally {
      if (abort.current === controller) setRunning(false);
    }
  }, []);
  return { progress, result, error, running, run, stop };
}
