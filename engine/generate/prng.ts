import { InvalidArgumentError } from '../errors.js';

/**
 * xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c): 128 bits of
 * state, period 2^128 − 1, four 32-bit words updated with shifts/xors/rotations only, so every JS
 * engine gives the same stream for the same seed (no floating point in the generator).
 *
 * Seeding: the seed (any safe integer, negative included) is split into two 32-bit halves and
 * expanded into the four state words with splitmix32 (the 32-bit variant of Vigna's recommended
 * splitmix64 seeder), which never yields the forbidden all-zero state for all four words at once.
 */
export class Xoshiro128 {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** From a seed, or from an explicit state (four u32 words, not all zero) for known-answer tests. */
  constructor(seed: number | readonly [number, number, number, number]) {
    if (typeof seed === 'number') {
      if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`seed must be a safe integer, got ${seed}.`);
      const lo = seed >>> 0;
      const hi = Math.floor(seed / 4294967296) >>> 0;
      let sm = (lo ^ Math.imul(hi, 0x85ebca6b)) >>> 0;
      const next = (): number => {
        sm = (sm + 0x9e3779b9) >>> 0;
        let z = sm;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        return (z ^ (z >>> 16)) >>> 0;
      };
      this.#s0 = next();
      this.#s1 = next();
      this.#s2 = next();
      this.#s3 = next();
      if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s3 = 1;
    } else {
      if (seed.length !== 4 || seed.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) throw new InvalidArgumentError('xoshiro128 state must be four u32 words.');
      if (seed.every((w) => w === 0)) throw new InvalidArgumentError('xoshiro128 state must not be all zero.');
      [this.#s0, this.#s1, this.#s2, this.#s3] = seed;
    }
  }

  /** Next u32. */
  nextU32(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    this.#s2 = (this.#s2 ^ this.#s0) >>> 0;
    this.#s3 = (this.#s3 ^ s1) >>> 0;
    this.#s1 = (s1 ^ this.#s2) >>> 0;
    this.#s0 = (this.#s0 ^ this.#s3) >>> 0;
    this.#s2 = (this.#s2 ^ t) >>> 0;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two draws). */
  nextFloat(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** The four state words (to resume a stream elsewhere, e.g. across a Worker boundary). */
  state(): [number, number, number, number] {
    return [this.#s0, this.#s1, this.#s2, this.#s3];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A seed for when the caller gives none; reported back in the result so the run can be replayed. */
export function randomSeed(): number {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0]!;
  return Math.floor(Math.random() * 4294967296);
}
