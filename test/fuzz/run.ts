/** Runs a fuzz target with fast-check and tallies what each case produced. */
import fc from 'fast-check';
import { runCase, type FuzzTarget } from './targets.js';

export interface FuzzStats {
  name: string;
  runs: number;
  ok: number;
  /** Typed errors by "Class(code): message class". */
  typed: Map<string, number>;
  ms: number;
  /** The slowest single case (a hang would show here; each case is also bounded by `caseLimitMs`). */
  maxCaseMs: number;
  seed: number;
  /** fast-check's report when a case threw a foreign exception or ran past the bound. */
  failure: string | undefined;
}

export async function fuzzTarget<T>(target: FuzzTarget<T>, numRuns: number, opts: { seed?: number; caseLimitMs?: number } = {}): Promise<FuzzStats> {
  const seed = opts.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const caseLimitMs = opts.caseLimitMs ?? 2000;
  const stats: FuzzStats = { name: target.name, runs: 0, ok: 0, typed: new Map(), ms: 0, maxCaseMs: 0, seed, failure: undefined };
  const t0 = performance.now();
  const result = await fc.check(fc.asyncProperty(target.arbitrary, async (c) => {
    const s = performance.now();
    const outcome = await runCase(target, c);
    const dt = performance.now() - s;
    if (dt > caseLimitMs) throw new Error(`case took ${dt.toFixed(0)} ms (bound ${caseLimitMs} ms)`);
    stats.runs++;
    stats.maxCaseMs = Math.max(stats.maxCaseMs, dt);
    if (outcome === 'ok') stats.ok++;
    else stats.typed.set(outcome, (stats.typed.get(outcome) ?? 0) + 1);
  }), { numRuns, seed });
  stats.ms = performance.now() - t0;
  if (result.failed) stats.failure = fc.defaultReportMessage(result) ?? 'failed';
  return stats;
}

/** Typed errors summed by class and code (the message classes are many). */
export function byClass(s: FuzzStats): Map<string, number> {
  const m = new Map<string, number>();
  for (const [k, n] of s.typed) { const c = k.slice(0, k.indexOf(':')); m.set(c, (m.get(c) ?? 0) + n); }
  return m;
}
