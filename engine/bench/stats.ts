import { InvalidArgumentError } from '../errors.js';

/** Summary of one series of measurements (milliseconds, tokens per second…). */
export interface Summary {
  count: number;
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
  stddev: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

function check(values: readonly number[], what: string): void {
  if (values.length === 0) throw new InvalidArgumentError(`${what} of an empty series: measure at least one iteration.`);
  for (const v of values) if (!Number.isFinite(v)) throw new InvalidArgumentError(`${what}: the series holds ${v}; every measurement must be a finite number.`);
}

export function mean(values: readonly number[]): number {
  check(values, 'mean');
  // Kahan summation: long runs of similar timings otherwise lose the last digits
  let sum = 0;
  let c = 0;
  for (const v of values) {
    const y = v - c;
    const t = sum + y;
    c = t - sum - y;
    sum = t;
  }
  return sum / values.length;
}

/** Sample standard deviation (Bessel's correction), as numpy.std(ddof=1); 0 for one value. */
export function stddev(values: readonly number[]): number {
  check(values, 'stddev');
  if (values.length < 2) return 0;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return Math.sqrt(ss / (values.length - 1));
}

/**
 * The q-th percentile (0 ≤ q ≤ 100) with linear interpolation between the closest ranks, as
 * numpy.percentile's default: rank (n − 1)·q/100 of the sorted series.
 */
export function percentile(values: readonly number[], q: number): number {
  check(values, 'percentile');
  if (!(q >= 0 && q <= 100)) throw new InvalidArgumentError(`percentile ${q} is outside 0…100.`);
  return percentileSorted([...values].sort((a, b) => a - b), q);
}

function percentileSorted(sorted: readonly number[], q: number): number {
  const rank = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  return a + (sorted[hi]! - a) * (rank - lo);
}

export function summarize(values: readonly number[]): Summary {
  check(values, 'summary');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: values.length,
    mean: mean(values),
    stddev: stddev(values),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
  };
}

/** Units of work per second: `units` done in `ms` milliseconds. 0 when nothing was timed. */
export function throughput(units: number, ms: number): number {
  if (!Number.isFinite(units) || !Number.isFinite(ms) || units < 0 || ms < 0) throw new InvalidArgumentError(`throughput(${units}, ${ms}): both must be finite and ≥ 0.`);
  return ms === 0 ? 0 : (units * 1000) / ms;
}

/**
 * Equal-width histogram for charts: `bins` buckets from min to max (the last one closed). A series of
 * one repeated value gives a single bucket holding all of it.
 */
export function histogram(values: readonly number[], bins = 10): { from: number; to: number; count: number }[] {
  check(values, 'histogram');
  if (!Number.isInteger(bins) || bins < 1) throw new InvalidArgumentError(`histogram bins must be an integer ≥ 1, got ${bins}.`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) return [{ from: lo, to: hi, count: values.length }];
  const width = (hi - lo) / bins;
  const out = Array.from({ length: bins }, (_, i) => ({ from: lo + i * width, to: i === bins - 1 ? hi : lo + (i + 1) * width, count: 0 }));
  for (const v of values) out[Math.min(bins - 1, Math.floor((v - lo) / width))]!.count++;
  return out;
}
