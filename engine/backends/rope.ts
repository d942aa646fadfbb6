import { InvalidArgumentError } from '../errors.js';
import type { RopeOptions } from './backend.js';

/**
 * Radians per position of each of the rd/2 rotary pairs, in f64, as every backend's rope uses them:
 * `invFreq[p]` when given (rope scaling computed by the model, e.g. Llama 3), else θ^(−2p/rd), divided by the
 * linear `scale`. Throws InvalidArgumentError on an invFreq of the wrong length or with a non-positive value.
 */
export function ropeFrequencies(opts: RopeOptions, rd: number): Float64Array {
  const pairs = rd / 2;
  const scale = opts.scale ?? 1;
  const inv = opts.invFreq;
  if (inv !== undefined) {
    if (inv.length !== pairs) throw new InvalidArgumentError(`rope: invFreq has ${inv.length} values, rotaryDim ${rd} needs ${pairs}`);
    for (let p = 0; p < pairs; p++) {
      if (!(inv[p]! > 0) || !Number.isFinite(inv[p]!)) throw new InvalidArgumentError(`rope: invFreq[${p}] = ${inv[p]} must be a finite number > 0`);
    }
  }
  const f = new Float64Array(pairs);
  for (let p = 0; p < pairs; p++) f[p] = (inv ? inv[p]! : opts.theta ** (-(2 * p) / rd)) / scale;
  return f;
}
