import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../engine/errors.js';
import {
  MAX_DEVICE_CANDIDATES, MinPProcessor, PresenceFrequencyPenaltyProcessor, RepetitionPenaltyProcessor, TemperatureProcessor, TokenHistory,
  TokenSampler, TopKProcessor, TopPProcessor, Xoshiro128, argmaxRow, topPositions, type LogitsProcessor, type LogitsRow,
} from '../../engine/generate/index.js';

const NEG = -Infinity;
const row = (values: number[], ids: number[] | null = null): LogitsRow => ({ logits: Float32Array.from(values), ids: ids === null ? null : Int32Array.from(ids) });
const logOf = (probs: number[]): number[] => probs.map((p) => Math.log(p));
const f32 = (values: number[]): number[] => Array.from(Float32Array.from(values));
const history = (prompt: number[] = [], generated: number[] = []): TokenHistory => {
  const h = new TokenHistory(prompt);
  for (const t of generated) h.push(t);
  return h;
};

describe('logits processors on known rows', () => {
  test('temperature divides every logit', () => {
    const r = row([1, 2, -4, NEG]);
    new TemperatureProcessor(2).apply(r);
    assert.deepEqual(Array.from(r.logits), [0.5, 1, -2, NEG]);
    assert.throws(() => new TemperatureProcessor(0), InvalidArgumentError);
    assert.throws(() => new TemperatureProcessor(Number.NaN), InvalidArgumentError);
  });

  test('top-k keeps exactly k, ties to the lower token id', () => {
    const r = row([1, 3, 2, 3, 0]);
    new TopKProcessor(2).apply(r);
    assert.deepEqual(Array.from(r.logits), [NEG, 3, NEG, 3, NEG]);
    const tie = row([1, 3, 2, 3, 0]);
    new TopKProcessor(1).apply(tie);
    assert.deepEqual(Array.from(tie.logits), [NEG, 3, NEG, NEG, NEG]);
    // a candidate subset: positions map to ids; the tie goes to id 4 (lower than 9) although it comes later
    const sub = row([5, 7, 7, 1], [2, 9, 4, 0]);
    new TopKProcessor(2).apply(sub);
    assert.deepEqual(Array.from(sub.logits), [NEG, 7, 7, NEG]);
    const sub1 = row([5, 7, 7, 1], [2, 9, 4, 0]);
    new TopKProcessor(1).apply(sub1);
    assert.deepEqual(Array.from(sub1.logits), [NEG, NEG, 7, NEG]);
    // k ≥ row length: untouched; large k takes the sorting branch and agrees with the small-k one
    const small = row([0.5, -1]);
    new TopKProcessor(5).apply(small);
    assert.deepEqual(Array.from(small.logits), [0.5, -1]);
    const values = Array.from({ length: 300 }, (_, i) => ((i * 7919) % 301) / 10);
    assert.deepEqual(Array.from(topPositions(row(values), 100)).slice(0, 64), Array.from(topPositions(row(values), 64)));
  });

  test('top-p keeps the smallest prefix reaching p (HF rule)', () => {
    const probs = [0.05, 0.5, 0.15, 0.3];
    const r = row(logOf(probs));
    new TopPProcessor(0.7).apply(r);
    assert.deepEqual(Array.from(r.logits), [NEG, ...f32([Math.log(0.5)]), NEG, ...f32([Math.log(0.3)])]);
    const one = row(logOf(probs));
    new TopPProcessor(0.4).apply(one);
    assert.deepEqual(Array.from(one.logits).map((v) => v !== NEG), [false, true, false, false]);
    const most = row(logOf(probs));
    new TopPProcessor(0.9).apply(most);
    assert.deepEqual(Array.from(most.logits).map((v) => v !== NEG), [false, true, true, true]);
    const all = row(logOf(probs));
    new TopPProcessor(0.99).apply(all);
    assert.deepEqual(Array.from(all.logits).map((v) => v !== NEG), [true, true, true, true]);
    // already-filtered tokens stay filtered and the rest renormalises: 0.5/0.65 ≈ 0.77 ≥ 0.7
    const after = row([NEG, Math.log(0.5), Math.log(0.15), NEG]);
    new TopPProcessor(0.7).apply(after);
    assert.deepEqual(Array.from(after.logits).map((v) => v !== NEG), [false, true, false, false]);
    assert.throws(() => new TopPProcessor(0), InvalidArgumentError);
    assert.throws(() => new TopPProcessor(1.5), InvalidArgumentError);
  });

  test('min-p drops tokens below p × the top probability', () => {
    const r = row(logOf([0.5, 0.3, 0.15, 0.05]));
    new MinPProcessor(0.2).apply(r);
    assert.deepEqual(Array.from(r.logits).map((v) => v !== NEG), [true, true, true, false]);
    const r2 = row(logOf([0.5, 0.3, 0.15, 0.05]));
    new MinPProcessor(0.5).apply(r2);
    assert.deepEqual(Array.from(r2.logits).map((v) => v !== NEG), [true, true, false, false]);
  });

  test('repetition penalty: divide positive, multiply negative logits of every seen token (prompt included)', () => {
    const r = row([2, -2, 1, 0.5, 3]);
    new RepetitionPenaltyProcessor(2).apply(r, history([0], [1, 1, 9999]));
    assert.deepEqual(Array.from(r.logits), [1, -4, 1, 0.5, 3]);
    const sub = row([3, 2, -2], [4, 0, 1]);
    new RepetitionPenaltyProcessor(2).apply(sub, history([0], [1]));
    assert.deepEqual(Array.from(sub.logits), [3, 1, -4]);
  });

  test('presence / frequency penalties count the completion only', () => {
    const r = row([1, 1, 1, 1]);
    new PresenceFrequencyPenaltyProcessor(0.5, 0.25).apply(r, history([0, 1], [2, 2, 2, 3]));
    assert.deepEqual(Array.from(r.logits), [1, 1, 1 - 1.25, 1 - 0.75]);
    const sub = row([1, 1], [3, 0]);
    new PresenceFrequencyPenaltyProcessor(0.5, 0.25).apply(sub, history([0], [3]));
    assert.deepEqual(Array.from(sub.logits), [1 - 0.75, 1]);
  });

  test('argmax: highest logit, lowest id on ties, −∞ never wins', () => {
    assert.equal(argmaxRow(row([1, 5, 5, 2])), 1);
    assert.equal(argmaxRow(row([1, 5, 5, 2], [9, 8, 3, 1])), 3);
    assert.throws(() => argmaxRow(row([NEG, NEG])), InvalidArgumentError);
  });
});

describe('xoshiro128** PRNG', () => {
  test('known answers from state {1, 2, 3, 4}', () => {
    // The first three worked by hand from xoshiro128starstar.c; all six are the reference C output.
    const g = new Xoshiro128([1, 2, 3, 4]);
    assert.deepEqual(Array.from({ length: 6 }, () => g.nextU32()), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  test('same seed → same stream; seeds differ → streams differ; floats in [0, 1)', () => {
    const a = new Xoshiro128(42);
    const b = new Xoshiro128(42);
    const c = new Xoshiro128(43);
    const sa = Array.from({ length: 100 }, () => a.nextFloat());
    assert.deepEqual(Array.from({ length: 100 }, () => b.nextFloat()), sa);
    assert.notDeepEqual(Array.from({ length: 100 }, () => c.nextFloat()), sa);
    assert.ok(sa.every((x) => x >= 0 && x < 1));
    const big = new Xoshiro128(2 ** 40 + 5);
    const big2 = new Xoshiro128(5);
    assert.notEqual(big.nextU32(), big2.nextU32(), 'the high half of the seed matters');
    assert.throws(() => new Xoshiro128(1.5), InvalidArgumentError);
    assert.throws(() => new Xoshiro128([0, 0, 0, 0]), InvalidArgumentError);
    let mean = 0;
    const g = new Xoshiro128(7);
    for (let i = 0; i < 100000; i++) mean += g.nextFloat();
    mean /= 100000;
    // σ of the mean of 1e5 uniforms ≈ 0.0009
    assert.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`);
  });
});

/** Pearson's χ² of observed counts against expected probabilities. */
function chiSquare(counts: number[], probs: number[], n: number): number {
  return counts.reduce((s, c, i) => s + (c - n * probs[i]!) ** 2 / (n * probs[i]!), 0);
}

describe('sampler', () => {
  test('draws follow softmax(logits) (χ², seeded) and respect top-k', () => {
    const probs = [0.5, 0.25, 0.15, 0.1];
    const s = new TokenSampler({ seed: 1234 });
    const n = 20000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[s.pick(row(logOf(probs)), history())]!++;
    // χ²(3 dof) at p = 0.001 is 16.27
    const chi = chiSquare(counts, probs, n);
    assert.ok(chi < 16.27, `χ² ${chi.toFixed(2)} for counts ${counts}`);
    const k2 = new TokenSampler({ seed: 99, topK: 2 });
    const c2 = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) c2[k2.pick(row(logOf(probs)), history())]!++;
    assert.equal(c2[2]! + c2[3]!, 0);
    const chi2 = chiSquare(c2.slice(0, 2), [2 / 3, 1 / 3], n);
    assert.ok(chi2 < 10.83, `χ²(1) ${chi2.toFixed(2)} for ${c2}`);
    // temperature 0.5 squares the odds: 0.5² : 0.25² : 0.15² : 0.1²
    const t = new TokenSampler({ seed: 5, temperature: 0.5 });
    const ct = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) ct[t.pick(row(logOf(probs)), history())]!++;
    const sq = probs.map((p) => p * p);
    const z = sq.reduce((a, b) => a + b, 0);
    const chi3 = chiSquare(ct, sq.map((p) => p / z), n);
    assert.ok(chi3 < 16.27, `χ² ${chi3.toFixed(2)} for ${ct}`);
  });

  test('same seed → same draws; the full-row and candidate (device top-k) forms agree draw for draw', () => {
    const v = 1000;
    const logits = Float32Array.from({ length: v }, (_, i) => Math.sin(i * 12.9898) * 4);
    const opts = { seed: 77, topK: 20, temperature: 0.7, topP: 0.9, minP: 0.05 };
    const full = new TokenSampler(opts);
    const cand = new TokenSampler(opts);
    const again = new TokenSampler(opts);
    const h = history();
    // what a backend's topk returns: k best in descending order
    const pos = topPositions({ logits, ids: null }, 20);
    const a: number[] = [];
    const b: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < 300; i++) {
      a.push(full.pick({ logits: logits.slice(), ids: null }, h));
      b.push(cand.pick({ logits: Float32Array.from(pos, (p) => logits[p]!), ids: Int32Array.from(pos) }, h));
      c.push(again.pick({ logits: logits.slice(), ids: null }, h));
    }
    assert.deepEqual(b, a);
    assert.deepEqual(c, a);
    assert.ok(new Set(a).size > 3, 'several tokens drawn');
    assert.ok(a.every((t) => Array.from(pos).includes(t)), 'only top-k tokens');
  });

  test('greedy when temperature is 0 or doSample is false: warpers are skipped, penalties still apply', () => {
    for (const o of [{ temperature: 0 }, { doSample: false, temperature: 3, topK: 1 }]) {
      const s = new TokenSampler(o);
      assert.equal(s.greedy, true);
      assert.equal(s.processors.length, 0);
      assert.equal(s.pick(row([0.1, 0.9, 0.3]), history()), 1);
    }
    const p = new TokenSampler({ temperature: 0, repetitionPenalty: 10 });
    assert.equal(p.pick(row([0.1, 0.9, 0.3]), history([1])), 2);
  });

  test('no-op processors are left out', () => {
    assert.deepEqual(new TokenSampler({ temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0 }).processors, []);
    assert.deepEqual(new TokenSampler({ temperature: 0.5, topK: 3, topP: 0.9, minP: 0.1, repetitionPenalty: 1.1, frequencyPenalty: 0.2 }).processors.map((p) => p.name),
      ['repetition-penalty', 'presence-frequency-penalty', 'temperature', 'top-k', 'top-p', 'min-p']);
  });

  test('plans: as little of the row as the processors allow crosses to the CPU', () => {
    const v = 32000;
    const h = history([1, 2, 3], [4, 4]);
    const custom: LogitsProcessor = { name: 'custom', apply: () => undefined };
    assert.deepEqual(new TokenSampler({ temperature: 0 }).plan(h, v), { kind: 'argmax' });
    // top-p / min-p without top-k: the device softmax's largest probabilities
    assert.deepEqual(new TokenSampler({ temperature: 0.8, topP: 0.5 }).plan(h, v), { kind: 'nucleus', k: MAX_DEVICE_CANDIDATES });
    assert.deepEqual(new TokenSampler({ minP: 0.1 }).plan(h, v), { kind: 'nucleus', k: MAX_DEVICE_CANDIDATES });
    assert.deepEqual(new TokenSampler({ temperature: 0.8 }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ topP: 0.5, presencePenalty: 0.1 }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ topP: 0.5 }).plan(h, 200), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ temperature: 0.8, topK: 40 }).plan(h, v), { kind: 'topk', k: 40 });
    // penalties that only lower logits: the winner is in the top (k + penalised tokens)
    assert.deepEqual(new TokenSampler({ temperature: 0, repetitionPenalty: 1.3 }).plan(h, v), { kind: 'topk', k: 1 + 4 });
    assert.deepEqual(new TokenSampler({ temperature: 0.8, topK: 10, frequencyPenalty: 0.5 }).plan(h, v), { kind: 'topk', k: 10 + 1 });
    // penalties that can raise a logit, custom processors, or too many candidates: the whole row
    assert.deepEqual(new TokenSampler({ temperature: 0, repetitionPenalty: 0.8 }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ temperature: 0, presencePenalty: -0.5 }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ temperature: 0, logitsProcessors: [custom] }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ temperature: 0.8, topK: MAX_DEVICE_CANDIDATES + 1 }).plan(h, v), { kind: 'full' });
    assert.deepEqual(new TokenSampler({ temperature: 0.8, topK: 8 }).plan(h, 8), { kind: 'full' });
  });

  test('the candidate plan for penalties is exact: a penalised winner gives way to the next unpenalised token', () => {
    // token 0 leads but was seen; with penalty 4 it drops below token 2
    const logits = [8, 1, 5, 4.5, -3];
    const h = history([0, 3]);
    const s = new TokenSampler({ temperature: 0, repetitionPenalty: 4 });
    const plan = s.plan(h, logits.length + 100);
    assert.deepEqual(plan, { kind: 'topk', k: 3 });
    const pos = topPositions(row(logits), 3);
    const viaCandidates = s.pick({ logits: Float32Array.from(pos, (p) => logits[p]!), ids: Int32Array.from(pos) }, h);
    assert.equal(viaCandidates, 2);
    assert.equal(s.pick(row(logits), h), 2);
  });

  test('ids at or past the vocabulary limit are masked in both row forms', () => {
    const s = new TokenSampler({ temperature: 0 }, 3);
    assert.equal(s.pick(row([0, 2, 1, 9, 8]), history()), 1);
    assert.equal(s.pick(row([9, 2, 1], [4, 0, 2]), history()), 0);
    const d = new TokenSampler({ seed: 1 }, 2);
    for (let i = 0; i < 50; i++) assert.ok(d.pick(row([0, 0, 5, 5]), history()) < 2);
  });

  test('nucleus over device probabilities: top-p then min-p, or null when the nucleus may reach past the candidates', () => {
    // the four largest probabilities of a bigger vocabulary (the rest holds 0.2)
    const p = [0.4, 0.24, 0.12, 0.04];
    const ids = [10, 3, 7, 1];
    const s = new TokenSampler({ topP: 0.6, seed: 8 });
    const counts = new Map<number, number>();
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const t = s.pickNucleus(p, ids)!;
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort((a, b) => a - b), [3, 10]);
    const chi = chiSquare([counts.get(10)!, counts.get(3)!], [5 / 8, 3 / 8], n);
    assert.ok(chi < 10.83, `χ²(1) ${chi.toFixed(2)}`);
    // 0.99 needs more than these four: unknown unless they are the whole vocabulary
    assert.equal(new TokenSampler({ topP: 0.99, seed: 1 }).pickNucleus(p, ids), null);
    assert.ok([10, 3, 7, 1].includes(new TokenSampler({ topP: 0.99, seed: 1 }).pickNucleus(p, ids, true)!));
    // min-p 0.2: floor 0.08 drops the last candidate, so nothing outside can pass; min-p 0.05 keeps it: unknown
    const m = new TokenSampler({ minP: 0.2, seed: 2 });
    const seen = new Set(Array.from({ length: 500 }, () => m.pickNucleus(p, ids)));
    assert.deepEqual([...seen].sort((a, b) => a! - b!), [3, 7, 10]);
    assert.equal(new TokenSampler({ minP: 0.05 }).pickNucleus(p, ids), null);
    // the draw is consumed only when the answer is known: a null leaves the stream untouched
    const a = new TokenSampler({ topP: 0.99, seed: 5 });
    const b = new TokenSampler({ topP: 0.99, seed: 5 });
    assert.equal(a.pickNucleus(p, ids), null);
    assert.equal(a.pickNucleus(p, ids, true), b.pickNucleus(p, ids, true));
  });

  test('bad options are refused', () => {
    for (const o of [{ temperature: -1 }, { topK: 1.5 }, { topP: 0 }, { minP: 2 }, { repetitionPenalty: 0 }, { presencePenalty: Number.NaN }, { seed: 0.5 }]) {
      assert.throws(() => new TokenSampler(o), InvalidArgumentError, JSON.stringify(o));
    }
  });
});
