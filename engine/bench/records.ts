import type { CapabilityReport } from '../capabilities/types.js';
import { summarize, type Summary } from './stats.js';
import type { BenchmarkMemory, GenerationBenchmark, GenerationSample } from './runner.js';

/**
 * A stored benchmark result (schema version 2): one matrix cell of one run, keyed by model, backend,
 * precision, browser and hardware profile. Records migrated from version 1 lack what that schema did not
 * keep (per-iteration samples, TTFT, memory): those fields are null / empty and `migratedFrom` is 1.
 */
export interface BenchmarkRecord {
  id: string;
  /** Shared by the records of one matrix run (the cells measured together). */
  runId: string;
  /** Epoch milliseconds the measured part began. */
  date: number;
  model: string;
  source: string;
  backend: string;
  precision: string;
  /** e.g. "Chromium 140.0.7339.80 (Linux)". */
  browser: string;
  /** e.g. "google swiftshader (fallback) · 2 cores · 8 GiB". */
  hardware: string;
  promptTokens: number | null;
  maxNewTokens: number | null;
  iterations: number;
  warmup: number | null;
  latencyMs: Summary;
  ttftMs: Summary | null;
  decodeTokensPerSecond: Summary | null;
  prefillTokensPerSecond: Summary | null;
  tokensPerSecond: number;
  itemsPerSecond: number;
  gpuMs: Summary | null;
  gpuTiming: GenerationBenchmark['gpuTiming'] | 'unknown';
  memory: BenchmarkMemory | null;
  samples: GenerationSample[];
  migratedFrom: 1 | null;
}

export interface HardwareProfile {
  browser: string;
  hardware: string;
}

/** Browser and hardware strings a record is keyed by, from `engine.capabilities()`. */
export function profileFromCapabilities(report: CapabilityReport): HardwareProfile {
  const b = report.browser;
  const a = report.webgpu.adapter;
  const gpu = a ? [a.vendor, a.architecture || a.device || a.description].filter(Boolean).join(' ') + (a.isFallbackAdapter ? ' (fallback)' : '') : 'no WebGPU';
  const d = report.device;
  const parts = [gpu || 'WebGPU adapter', d.hardwareConcurrency ? `${d.hardwareConcurrency} cores` : null, d.deviceMemoryGiB ? `${d.deviceMemoryGiB} GiB` : null];
  return {
    browser: `${b.name || 'unknown'} ${b.version || ''}`.trim() + (b.platform ? ` (${b.platform})` : ''),
    hardware: parts.filter(Boolean).join(' · '),
  };
}

/** A new id for a record or a run. */
export function newId(): string {
  const c = globalThis.crypto as Crypto | undefined;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** A runner result as a storable record; pass the same `runId` for the cells of one run. */
export function toRecord(result: GenerationBenchmark, profile: HardwareProfile, id: string = newId(), runId: string = id): BenchmarkRecord {
  return {
    id,
    runId,
    date: Date.parse(result.startedAt),
    model: result.model,
    source: result.source,
    backend: result.backend,
    precision: result.precision,
    browser: profile.browser,
    hardware: profile.hardware,
    promptTokens: result.promptTokens,
    maxNewTokens: result.maxNewTokens,
    iterations: result.iterations,
    warmup: result.warmup,
    latencyMs: result.latencyMs,
    ttftMs: result.ttftMs,
    decodeTokensPerSecond: result.decodeTokensPerSecond,
    prefillTokensPerSecond: result.prefillTokensPerSecond,
    tokensPerSecond: result.tokensPerSecond,
    itemsPerSecond: result.itemsPerSecond,
    gpuMs: result.gpuMs,
    gpuTiming: result.gpuTiming,
    memory: result.memory,
    samples: result.samples,
    migratedFrom: null,
  };
}

export interface RecordFilter {
  model?: string;
  backend?: string;
  precision?: string;
  /** Epoch ms or Date, inclusive. */
  from?: number | Date;
  to?: number | Date;
}

const ms = (d: number | Date | undefined): number | undefined => (d instanceof Date ? d.getTime() : d);

export function matches(r: BenchmarkRecord, f: RecordFilter): boolean {
  const from = ms(f.from);
  const to = ms(f.to);
  return (f.model === undefined || r.model === f.model)
    && (f.backend === undefined || r.backend === f.backend)
    && (f.precision === undefined || r.precision === f.precision)
    && (from === undefined || r.date >= from)
    && (to === undefined || r.date <= to);
}

/** Runs of one configuration on one browser and machine, summarised. */
export interface AggregateRow {
  model: string;
  backend: string;
  precision: string;
  browser: string;
  hardware: string;
  promptTokens: number | null;
  runs: number;
  firstDate: number;
  lastDate: number;
  /** Over the runs' mean latencies. */
  meanLatencyMs: Summary;
  /** Over the runs' tokens per second. */
  tokensPerSecond: Summary;
}

/** Groups records by model, backend, precision, browser, hardware and prompt length; rows sorted by those keys. */
export function aggregate(records: readonly BenchmarkRecord[]): AggregateRow[] {
  const groups = new Map<string, BenchmarkRecord[]>();
  for (const r of records) {
    const key = JSON.stringify([r.model, r.backend, r.precision, r.browser, r.hardware, r.promptTokens]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(r);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => {
      const first = g[0]!;
      return {
        model: first.model,
        backend: first.backend,
        precision: first.precision,
        browser: first.browser,
        hardware: first.hardware,
        promptTokens: first.promptTokens,
        runs: g.length,
        firstDate: Math.min(...g.map((r) => r.date)),
        lastDate: Math.max(...g.map((r) => r.date)),
        meanLatencyMs: summarize(g.map((r) => r.latencyMs.mean)),
        tokensPerSecond: summarize(g.map((r) => r.tokensPerSecond)),
      };
    });
}
