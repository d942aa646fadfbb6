import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogram, mean, percentile, stddev, summarize, throughput } from '../../engine/bench/stats.js';
import { InvalidArgumentError } from '../../engine/errors.js';

// Expected values from numpy 2.4: mean, std(ddof=1), percentile (linear, the default).
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);

test('a timing series with one outlier: mean, sample stddev and p50/p90/p99 equal numpy', () => {
  const ms = [12.5, 11.0, 13.25, 10.75, 50.0, 12.0, 11.5, 12.25, 11.75, 12.75];
  const s = summarize(ms);
  assert.equal(s.count, 10);
  assert.equal(s.mean, 15.775);
  close(s.stddev, 12.049925080449439, 'stddev');
  assert.equal(s.min, 10.75);
  assert.equal(s.max, 50);
  assert.equal(s.p50, 12.125);
  close(s.p90, 16.925, 'p90');
  close(s.p99, 46.6925, 'p99');
  // the input is not reordered
  assert.deepEqual(ms, [12.5, 11.0, 13.25, 10.75, 50.0, 12.0, 11.5, 12.25, 11.75, 12.75]);
});

test('1…5: stddev √2.5, percentiles interpolate between ranks', () => {
  const v = [5, 3, 1, 4, 2];
  assert.equal(mean(v), 3);
  assert.equal(stddev(v), Math.sqrt(2.5));
  assert.equal(percentile(v, 0), 1);
  assert.equal(percentile(v, 50), 3);
  close(percentile(v, 90), 4.6, 'p90');
  close(percentile(v, 99), 4.96, 'p99');
  assert.equal(percentile(v, 100), 5);
  assert.equal(percentile([10, 20], 50), 15);
});

test('one iteration: stddev 0 and every percentile the value; ten equal timings average exactly', () => {
  assert.deepEqual(summarize([7.25]), { count: 1, mean: 7.25, stddev: 0, min: 7.25, max: 7.25, p50: 7.25, p90: 7.25, p99: 7.25 });
  // naive summation gives 0.09999999999999999
  assert.equal(mean(Array(10).fill(0.1)), 0.1);
  assert.equal(stddev(Array(10).fill(0.1)), 0);
});

test('throughput: 64 tokens in 800 ms is 80 tok/s; nothing timed is 0', () => {
  assert.equal(throughput(64, 800), 80);
  assert.equal(throughput(3, 1500), 2);
  assert.equal(throughput(0, 0), 0);
  assert.throws(() => throughput(-1, 10), InvalidArgumentError);
});

test('histogram: equal-width bins, the maximum lands in the last bin', () => {
  const h = histogram([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], 5);
  assert.deepEqual(h.map((b) => b.count), [2, 2, 2, 2, 2]);
  assert.deepEqual(h.map((b) => [b.from, b.to]), [[0, 2], [2, 4], [4, 6], [6, 8], [8, 10]]);
  assert.deepEqual(histogram([3, 3, 3]), [{ from: 3, to: 3, count: 3 }]);
});

test('empty series, non-finite values and bad percentiles are typed errors', () => {
  assert.throws(() => summarize([]), (e: unknown) => e instanceof InvalidArgumentError && /empty series/.test(e.message));
  assert.throws(() => mean([1, NaN]), (e: unknown) => e instanceof InvalidArgumentError && /NaN/.test(e.message));
  assert.throws(() => stddev([1, Infinity]), InvalidArgumentError);
  assert.throws(() => percentile([1, 2], 101), (e: unknown) => e instanceof InvalidArgumentError && /outside 0…100/.test(e.message));
  assert.throws(() => histogram([1], 0), InvalidArgumentError);
});
