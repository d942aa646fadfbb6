/**
 * Llama-shaped models with random weights for the GPU benchmarks: the config.json fields of each shape and a
 * WeightStore that makes up their weights (packed int4 / int8 g32 projections, f32 embeddings and norms).
 */
import type { LlamaConfig } from '../../engine/formats/config.js';
import type { PackedWeightData, WeightStore } from '../../engine/models/weights.js';
import { f16Words, wordsPerRow, type QuantBits } from '../../engine/quant/layout.js';
import { f32ToF16 } from '../../engine/tensor/dtype.js';
import { rng } from './common.js';

/** Hugging Face config.json fields of each shape (rope scaling left out: it changes no byte moved). */
export const SHAPES: Record<string, Record<string, unknown>> = {
  tiny: { model_type: 'llama', hidden_size: 256, intermediate_size: 512, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 32, vocab_size: 4096, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true },
  'smollm2-135m': { model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64, vocab_size: 49152, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true },
  'llama-3.2-1b': { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true },
  'llama-3.1-8b': { model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: false },
};

/** Random weights by Hugging Face name; one host array per distinct packed shape (each upload is its own GPU buffer). */
export class RandomStore implements WeightStore {
  #shapes = new Map<string, number[]>();
  #packedCache = new Map<string, PackedWeightData>();
  /** fill: false leaves every value zero (for runs where no value is ever looked at). */
  constructor(c: LlamaConfig, private readonly bits: QuantBits, private readonly opts: { fill?: boolean } = {}) {
    const d = c.hiddenSize;
    const q = c.numAttentionHeads * c.headDim;
    const kv = c.numKeyValueHeads * c.headDim;
    this.#shapes.set('model.embed_tokens.weight', [c.vocabSize, d]);
    this.#shapes.set('model.norm.weight', [d]);
    this.#shapes.set('lm_head.weight', [c.vocabSize, d]);
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}.`;
      this.#shapes.set(`${p}input_layernorm.weight`, [d]);
      this.#shapes.set(`${p}post_attention_layernorm.weight`, [d]);
      this.#shapes.set(`${p}self_attn.q_proj.weight`, [q, d]);
      this.#shapes.set(`${p}self_attn.k_proj.weight`, [kv, d]);
      this.#shapes.set(`${p}self_attn.v_proj.weight`, [kv, d]);
      this.#shapes.set(`${p}self_attn.o_proj.weight`, [d, q]);
      this.#shapes.set(`${p}mlp.gate_proj.weight`, [c.intermediateSize, d]);
      this.#shapes.set(`${p}mlp.up_proj.weight`, [c.intermediateSize, d]);
      this.#shapes.set(`${p}mlp.down_proj.weight`, [d, c.intermediateSize]);
    }
  }
  has(name: string): boolean { return this.#shapes.has(name); }
  shape(name: string): readonly number[] { return this.#shapes.get(name)!; }
  f32(name: string): Float32Array {
    const n = this.shape(name).reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (this.opts.fill === false) return out;
    const r = rng(n);
    const isNorm = name.endsWith('norm.weight');
    // a 4096-value random pattern tiled: fast for 10⁸ values, and just as good for timing
    const pat = Float32Array.from({ length: 4096 }, () => (isNorm ? 0.9 + 0.2 * r() : (r() - 0.5) * 0.1));
    for (let i = 0; i < n; i += 4096) out.set(i + 4096 <= n ? pat : pat.subarray(0, n - i), i);
    return out;
  }
  packed(name: string): PackedWeightData | null {
    if (name.endsWith('norm.weight') || name === 'model.embed_tokens.weight') return null;
    const [n, k] = this.shape(name) as [number, number];
    const key = `${n}x${k}`;
    let p = this.#packedCache.get(key);
    if (!p) {
      const r = rng(n * 31 + k);
      const data = new Uint32Array(n * wordsPerRow(k, this.bits));
      if (this.opts.fill !== false) for (let i = 0; i < data.length; i++) data[i] = (r() * 2 ** 32) >>> 0;
      const groups = (n * k) / 32;
      const scales = new Uint32Array(f16Words(groups));
      const h = f32ToF16(0.02 / (1 << (this.bits - 1)));
      scales.fill(h | (h << 16));
      p = { shape: [n, k], format: { bits: this.bits, groupSize: 32, symmetric: true }, data, scales, mins: null };
      this.#packedCache.set(key, p);
    }
    return p;
  }
}
