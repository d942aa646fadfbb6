import { InvalidArgumentError } from '../errors.js';
import type { RopeScaling } from '../formats/config.js';

/** How a model's rope_scaling maps onto the rope op: a linear position scale and/or per-pair frequencies. */
export interface RopePlan {
  readonly scale: number;
  readonly invFreq: Float64Array | undefined;
}

/**
 * The rope op's arguments for a config's `rope_scaling` (f64, as transformers computes them in f32):
 *  - none / "default": θ^(−2p/d);
 *  - "linear": positions divided by `factor`;
 *  - "llama3" (Llama 3.1–3.3): wavelengths 2π/f longer than original_max_position_embeddings / low_freq_factor
 *    are slowed down by `factor`, shorter than … / high_freq_factor kept, and the band between blended
 *    smoothly (transformers' _compute_llama3_parameters).
 * Other types ("dynamic", "yarn", "longrope") throw: they change attention too, and a model run without them
 * gives wrong results.
 */
export function ropePlan(scaling: RopeScaling | null, theta: number, dim: number): RopePlan {
  const type = scaling?.type ?? 'default';
  if (type === 'default') return { scale: 1, invFreq: undefined };
  if (type === 'linear') return { scale: scaling!.factor ?? 1, invFreq: undefined };
  if (type === 'llama3') {
    const s = scaling!;
    const need = (v: number | undefined, name: string): number => {
      if (v === undefined) throw new InvalidArgumentError(`rope_scaling "llama3" needs "${name}".`);
      return v;
    };
    const factor = need(s.factor, 'factor');
    const low = need(s.lowFreqFactor, 'low_freq_factor');
    const high = need(s.highFreqFactor, 'high_freq_factor');
    const original = need(s.originalMaxPositionEmbeddings, 'original_max_position_embeddings');
    if (!(high > low)) throw new InvalidArgumentError(`rope_scaling "llama3": high_freq_factor ${high} must exceed low_freq_factor ${low}.`);
    const lowWavelen = original / low;
    const highWavelen = original / high;
    const inv = new Float64Array(dim / 2);
    for (let p = 0; p < dim / 2; p++) {
      const f = theta ** (-(2 * p) / dim);
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) inv[p] = f;
      else if (wavelen > lowWavelen) inv[p] = f / factor;
      else {
        const smooth = (original / wavelen - low) / (high - low);
        inv[p] = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
    return { scale: 1, invFreq: inv };
  }
  throw new InvalidArgumentError(`rope_scaling type "${type}" is not supported yet (supported: linear, llama3). The model would give wrong results, so it is not loaded.`);
}
