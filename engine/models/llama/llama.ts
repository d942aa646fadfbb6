import type { Backend } from '../../backends/backend.js';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import type { LlamaConfig } from '../../formats/config.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { CausalLM, ForwardOptions } from '../model.js';
import { ropePlan, type RopePlan } from '../rope-scaling.js';
import { addBias, disposeLinear, free, linear, linearBytes, reshapeOwned, uploadF32, uploadLinear, type LinearWeight, type WeightStore } from '../weights.js';

interface LlamaLayer {
  inputNorm: Tensor;
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  o: LinearWeight;
  qBias: Tensor | null;
  kBias: Tensor | null;
  vBias: Tensor | null;
  oBias: Tensor | null;
  postNorm: Tensor;
  gate: LinearWeight;
  up: LinearWeight;
  down: LinearWeight;
  /** [Hkv, S, Dh] */
  kCache: Tensor;
  vCache: Tensor;
}

export interface LlamaOptions {
  /** KV cache length; default min(config.maxPositionEmbeddings, 2048). */
  maxSequence?: number;
}

/**
 * Llama-family decoder (Llama 2/3, SmolLM, TinyLlama, Mistral, Qwen2 with qkv bias): RMSNorm, rotary
 * positions (rotate_half), grouped-query attention over a KV cache, SiLU-gated MLP, tied or separate
 * lm_head. Written against the Backend interface only.
 */
export class LlamaModel implements CausalLM {
  readonly config: LlamaConfig;
  readonly backend: Backend;
  readonly maxSequence: number;
  #embed: Tensor;
  #layers: LlamaLayer[] = [];
  #norm: Tensor;
  #lmHead: LinearWeight;
  #tied: boolean;
  #position = 0;
  #rope: RopePlan;

  constructor(backend: Backend, config: LlamaConfig, store: WeightStore, options: LlamaOptions = {}) {
    this.backend = backend;
    this.config = config;
    this.maxSequence = Math.min(options.maxSequence ?? 2048, config.maxPositionEmbeddings);
    const c = config;
    this.#rope = ropePlan(c.ropeScaling, c.ropeTheta, c.headDim);
    const d = c.hiddenSize;
    const qDim = c.numAttentionHeads * c.headDim;
    const kvDim = c.numKeyValueHeads * c.headDim;
    const bias = (name: string, n: number): Tensor | null => (store.has(name) ? uploadF32(backend, store, name, [n]) : null);
    this.#embed = uploadF32(backend, store, 'model.embed_tokens.weight', [c.vocabSize, d]);
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}.`;
      this.#layers.push({
        inputNorm: uploadF32(backend, store, `${p}input_layernorm.weight`, [d]),
        q: uploadLinear(backend, store, `${p}self_attn.q_proj.weight`, qDim, d),
        k: uploadLinear(backend, store, `${p}self_attn.k_proj.weight`, kvDim, d),
        v: uploadLinear(backend, store, `${p}self_attn.v_proj.weight`, kvDim, d),
        o: uploadLinear(backend, store, `${p}self_attn.o_proj.weight`, d, qDim),
        qBias: bias(`${p}self_attn.q_proj.bias`, qDim),
        kBias: bias(`${p}self_attn.k_proj.bias`, kvDim),
        vBias: bias(`${p}self_attn.v_proj.bias`, kvDim),
        oBias: bias(`${p}self_attn.o_proj.bias`, d),
        postNorm: uploadF32(backend, store, `${p}post_attention_layernorm.weight`, [d]),
        gate: uploadLinear(backend, store, `${p}mlp.gate_proj.weight`, c.intermediateSize, d),
        up: uploadLinear(backend, store, `${p}mlp.up_proj.weight`, c.intermediateSize, d),
        down: uploadLinear(backend, store, `${p}mlp.down_proj.weight`, d, c.intermediateSize),
        kCache: backend.zeros([c.numKeyValueHeads, this.maxSequence, c.headDim], 'f32'),
        vCache: backend.zeros([c.numKeyValueHeads, this.maxSequence, c.headDim], 'f32'),
      });
    }
    this.#norm = uploadF32(backend, store, 'model.norm.weight', [d]);
    this.#tied = !store.has('lm_head.weight');
    this.#lmHead = this.#tied ? { kind: 'dense', w: this.#embed, n: c.vocabSize, k: d } : uploadLinear(backend, store, 'lm_head.weight', c.vocabSize, d);
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  get position(): number {
    return this.#position;
  }

  forward(ids: Int32Array, options: ForwardOptions = {}): Tensor {
    const b = this.backend;
    const c = this.config;
    const t = ids.length;
    if (t === 0) throw new InvalidArgumentError('forward() needs at least one token.');
    const pos0 = this.#position;
    if (pos0 + t > this.maxSequence) throw new ShapeError('forward', `${pos0} cached + ${t} new tokens exceed the KV cache of ${this.maxSequence} positions; reset the cache or load with a larger maxSequence.`);
    const rope = { pos0, theta: c.ropeTheta, rotaryDim: c.headDim, style: 'half' as const, scale: this.#rope.scale, invFreq: this.#rope.invFreq };
    const tap = options.onLinearInput;
    const lin = (x: Tensor, w: LinearWeight, name: () => string): Tensor => {
      tap?.(name(), x);
      return linear(b, x, w);
    };
    const idsT = b.upload(ids, [t], 'i32');
    // x [T, D]
    let x = b.embedding(this.#embed, idsT);
    idsT.dispose();
    for (const [i, l] of this.#layers.entries()) {
      const p = `model.layers.${i}.`;
      const h = b.rmsNorm(x, l.inputNorm, c.rmsNormEps);
      // q [T, Hq, Dh], k/v [T, Hkv, Dh]
      const q0 = addBias(b, lin(h, l.q, () => `${p}self_attn.q_proj.weight`), l.qBias);
      const k0 = addBias(b, lin(h, l.k, () => `${p}self_attn.k_proj.weight`), l.kBias);
      const v = reshapeOwned(addBias(b, lin(h, l.v, () => `${p}self_attn.v_proj.weight`), l.vBias), [t, c.numKeyValueHeads, c.headDim]);
      h.dispose();
      const q3 = reshapeOwned(q0, [t, c.numAttentionHeads, c.headDim]);
      const k3 = reshapeOwned(k0, [t, c.numKeyValueHeads, c.headDim]);
      const q = b.rope(q3, rope);
      const k = b.rope(k3, rope);
      free(q3, k3);
      b.kvWrite(l.kCache, k, pos0);
      b.kvWrite(l.vCache, v, pos0);
      free(k, v);
      // a [T, Hq, Dh] → [T, Hq·Dh]
      const a = reshapeOwned(b.attention(q, l.kCache, l.vCache, { past: pos0 }), [t, c.numAttentionHeads * c.headDim]);
      q.dispose();
      const o = addBias(b, lin(a, l.o, () => `${p}self_attn.o_proj.weight`), l.oBias);
      a.dispose();
      const x1 = b.add(x, o);
      free(x, o);
      const h2 = b.rmsNorm(x1, l.postNorm, c.rmsNormEps);
      const g = lin(h2, l.gate, () => `${p}mlp.gate_proj.weight`);
      const u = lin(h2, l.up, () => `${p}mlp.up_proj.weight`);
      h2.dispose();
      const sg = b.silu(g);
      const m = b.mul(sg, u);
      free(g, u, sg);
      const dn = lin(m, l.down, () => `${p}mlp.down_proj.weight`);
      m.dispose();
      x = b.add(x1, dn);
      free(x1, dn);
    }
    this.#position += t;
    const last = options.allLogits || t === 1 ? x : lastRow(b, x, t);
    if (last !== x) x.dispose();
    const n = b.rmsNorm(last, this.#norm, c.rmsNormEps);
    last.dispose();
    const logits = lin(n, this.#lmHead, () => 'lm_head.weight');
    n.dispose();
    return logits;
  }

  /**
   * Every weight by its Hugging Face name: projections as LinearWeights (a tied lm_head is not listed: it is the
   * embedding), embeddings, norms and biases as f32 tensors. The model still owns them.
   */
  weights(): { name: string; weight: LinearWeight | Tensor }[] {
    const out: { name: string; weight: LinearWeight | Tensor }[] = [{ name: 'model.embed_tokens.weight', weight: this.#embed }];
    for (const [i, l] of this.#layers.entries()) {
      const p = `model.layers.${i}.`;
      out.push({ name: `${p}input_layernorm.weight`, weight: l.inputNorm });
      for (const [n, w] of [['q', l.q], ['k', l.k], ['v', l.v], ['o', l.o]] as const) out.push({ name: `${p}self_attn.${n}_proj.weight`, weight: w });
      for (const [n, bias] of [['q', l.qBias], ['k', l.kBias], ['v', l.vBias], ['o', l.oBias]] as const) if (bias) out.push({ name: `${p}self_attn.${n}_proj.bias`, weight: bias });
      out.push({ name: `${p}post_attention_layernorm.weight`, weight: l.postNorm });
      for (const [n, w] of [['gate', l.gate], ['up', l.up], ['down', l.down]] as const) out.push({ name: `${p}mlp.${n}_proj.weight`, weight: w });
    }
    out.push({ name: 'model.norm.weight', weight: this.#norm });
    if (!this.#tied) out.push({ name: 'lm_head.weight', weight: this.#lmHead });
    return out;
  }

  /** The projection of that name (for quality reports: the same input through two models' weights). */
  linearWeight(name: string): LinearWeight | null {
    // a tied lm_head is the embedding, not a weight of its own
    if (name === 'lm_head.weight') return this.#tied ? null : this.#lmHead;
    const w = this.weights().find((e) => e.name === name)?.weight;
    return w && 'kind' in w ? w : null;
  }

  resetCache(keep = 0): void {
    this.#position = Math.max(0, Math.min(keep, this.#position));
  }

  memory(): { weightBytes: number; kvCacheBytes: number } {
    let weightBytes = this.#embed.byteLength + this.#norm.byteLength + (this.#tied ? 0 : linearBytes(this.#lmHead));
    let kvCacheBytes = 0;
    for (const l of this.#layers) {
      weightBytes += l.inputNorm.byteLength + l.postNorm.byteLength;
      for (const w of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) weightBytes += linearBytes(w);
      for (const bias of [l.qBias, l.kBias, l.vBias, l.oBias]) weightBytes += bias?.byteLength ?? 0;
      kvCacheBytes += l.kCache.byteLength + l.vCache.byteLength;
    }
    return { weightBytes, kvCacheBytes };
  }

  dispose(): void {
    for (const l of this.#layers) {
      for (const w of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) disposeLinear(w);
      free(l.inputNorm, l.postNorm, l.kCache, l.vCache);
      for (const bias of [l.qBias, l.kBias, l.vBias, l.oBias]) bias?.dispose();
    }
    this.#layers = [];
    if (!this.#tied) disposeLinear(this.#lmHead);
    free(this.#embed, this.#norm);
  }
}

/** x [T, D] → its last row [1, D], gathered with the embedding op. */
export function lastRow(b: Backend, x: Tensor, t: number): Tensor {
  const idx = b.upload(Int32Array.of(t - 1), [1], 'i32');
  const row = b.embedding(x, idx);
  idx.dispose();
  return row;
}
