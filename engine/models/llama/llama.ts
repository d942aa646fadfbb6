import type { Backend } from '../../backends/backend.js';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import type { LlamaConfig } from '../../formats/config.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { CausalLM, ForwardOptions } from '../model.js';
import { ropePlan, type RopePlan } from '../rope-scaling.js';
import { addBias, disposeLinear, free, fuseBias, fuseLinear, linear, linearBytes, reshapeOwned, uploadEmbedding, uploadF32, uploadLinear, type LinearWeight, type ModelWeight, type WeightStore } from '../weights.js';

/** q, k, v projections: separate, or stacked into one weight [Nq + 2·Nkv, D] on backends with qkvRope. */
type QkvProjections =
  | { fused: false; q: LinearWeight; k: LinearWeight; v: LinearWeight; qBias: Tensor | null; kBias: Tensor | null; vBias: Tensor | null }
  | { fused: true; qkv: LinearWeight; bias: Tensor | null };

/** gate and up projections: separate, or stacked [2I, D] on backends with swiglu. */
type GateUpProjections = { fused: false; gate: LinearWeight; up: LinearWeight } | { fused: true; gateUp: LinearWeight };

interface LlamaLayer {
  inputNorm: Tensor;
  attn: QkvProjections;
  o: LinearWeight;
  oBias: Tensor | null;
  postNorm: Tensor;
  mlp: GateUpProjections;
  down: LinearWeight;
  /** [Hkv, S, Dh] */
  kCache: Tensor;
  vCache: Tensor;
}

export interface LlamaOptions {
  /** KV cache length; default min(config.maxPositionEmbeddings, 2048). */
  maxSequence?: number;
  /**
   * Stack q/k/v and gate/up into one weight each where the backend has the fused ops (qkvRope, swiglu,
   * concatRows): 3 + 2 GEMVs become 2, rope × 2 + kvWrite × 2 one op, silu · mul one op. Default true.
   */
  fuse?: boolean;
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
  /** The token embedding: f32, or packed where the backend gathers packed rows (qembedding). */
  #embed: LinearWeight;
  #layers: LlamaLayer[] = [];
  #norm: Tensor;
  #lmHead: LinearWeight;
  #tied: boolean;
  #position = 0;
  #rope: RopePlan;
  /** Residual adds fused into the next RMSNorm (backend.addRmsNorm). */
  #addNorm = false;

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
    this.#embed = uploadEmbedding(backend, store, 'model.embed_tokens.weight', c.vocabSize, d);
    const fuse = options.fuse !== false && backend.concatRows !== undefined;
    this.#addNorm = options.fuse !== false && backend.addRmsNorm !== undefined;
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `model.layers.${i}.`;
      const q = uploadLinear(backend, store, `${p}self_attn.q_proj.weight`, qDim, d);
      const k = uploadLinear(backend, store, `${p}self_attn.k_proj.weight`, kvDim, d);
      const v = uploadLinear(backend, store, `${p}self_attn.v_proj.weight`, kvDim, d);
      const qBias = bias(`${p}self_attn.q_proj.bias`, qDim);
      const kBias = bias(`${p}self_attn.k_proj.bias`, kvDim);
      const vBias = bias(`${p}self_attn.v_proj.bias`, kvDim);
      const qkv = fuse && backend.qkvRope ? fuseLinear(backend, [q, k, v]) : null;
      let attn: QkvProjections;
      if (qkv) {
        attn = { fused: true, qkv, bias: fuseBias(backend, [qBias, kBias, vBias], [qDim, kvDim, kvDim]) };
        for (const t of [qBias, kBias, vBias]) t?.dispose();
      } else {
        attn = { fused: false, q, k, v, qBias, kBias, vBias };
      }
      const gate = uploadLinear(backend, store, `${p}mlp.gate_proj.weight`, c.intermediateSize, d);
      const up = uploadLinear(backend, store, `${p}mlp.up_proj.weight`, c.intermediateSize, d);
      const gateUp = fuse && backend.swiglu ? fuseLinear(backend, [gate, up]) : null;
      this.#layers.push({
        inputNorm: uploadF32(backend, store, `${p}input_layernorm.weight`, [d]),
        attn,
        o: uploadLinear(backend, store, `${p}self_attn.o_proj.weight`, d, qDim),
        oBias: bias(`${p}self_attn.o_proj.bias`, d),
        postNorm: uploadF32(backend, store, `${p}post_attention_layernorm.weight`, [d]),
        mlp: gateUp ? { fused: true, gateUp } : { fused: false, gate, up },
        down: uploadLinear(backend, store, `${p}mlp.down_proj.weight`, d, c.intermediateSize),
        kCache: backend.zeros([c.numKeyValueHeads, this.maxSequence, c.headDim], 'f32'),
        vCache: backend.zeros([c.numKeyValueHeads, this.maxSequence, c.headDim], 'f32'),
      });
    }
    this.#norm = uploadF32(backend, store, 'model.norm.weight', [d]);
    this.#tied = !store.has('lm_head.weight');
    this.#lmHead = this.#tied ? this.#embed : uploadLinear(backend, store, 'lm_head.weight', c.vocabSize, d);
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  get position(): number {
    return this.#position;
  }

  forward(ids: Int32Array, options: ForwardOptions = {}): Tensor {
    if (ids.length === 0) throw new InvalidArgumentError('forward() needs at least one token.');
    const idsT = this.backend.upload(ids, [ids.length], 'i32');
    try {
      return this.#forward(idsT, options);
    } finally {
      idsT.dispose();
    }
  }

  /** As forward(), with the ids already on the backend (i32 [T]): a greedy decoder feeds the last argmax straight back. */
  forwardIds(ids: Tensor, options: ForwardOptions = {}): Tensor {
    if (ids.dtype !== 'i32' || ids.shape.length !== 1) throw new InvalidArgumentError(`forwardIds() takes i32 ids [T], got ${ids.dtype} [${ids.shape.join(', ')}].`);
    if (ids.size === 0) throw new InvalidArgumentError('forward() needs at least one token.');
    return this.#forward(ids, options);
  }

  #forward(idsT: Tensor, options: ForwardOptions): Tensor {
    const b = this.backend;
    const c = this.config;
    const t = idsT.size;
    const pos0 = this.#position;
    if (pos0 + t > this.maxSequence) throw new ShapeError('forward', `${pos0} cached + ${t} new tokens exceed the KV cache of ${this.maxSequence} positions; reset the cache or load with a larger maxSequence.`);
    const rope = { pos0, theta: c.ropeTheta, rotaryDim: c.headDim, style: 'half' as const, scale: this.#rope.scale, invFreq: this.#rope.invFreq };
    // its own literal, not `{ ...rope, heads }`: V8 (Node 20) spends microseconds on a spread with extra keys
    const qkvRopeOpts = { pos0, theta: c.ropeTheta, rotaryDim: c.headDim, style: 'half' as const, scale: this.#rope.scale, invFreq: this.#rope.invFreq, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads };
    const tap = options.onLinearInput;
    const lin = (x: Tensor, w: LinearWeight, name: () => string): Tensor => {
      tap?.(name(), x);
      return linear(b, x, w);
    };
    // x [T, D]
    let x = this.#embed.kind === 'dense' ? b.embedding(this.#embed.w, idsT) : b.qembedding!(this.#embed.q, idsT);
    // x + r and its RMSNorm, in one op where the backend fuses them
    const addNorm = (a: Tensor, r: Tensor, w: Tensor): [Tensor, Tensor] => {
      if (this.#addNorm) return b.addRmsNorm!(a, r, w, c.rmsNormEps);
      const sum = b.add(a, r);
      return [sum, b.rmsNorm(sum, w, c.rmsNormEps)];
    };
    let h = b.rmsNorm(x, this.#layers[0]!.inputNorm, c.rmsNormEps);
    for (const [i, l] of this.#layers.entries()) {
      const p = `model.layers.${i}.`;
      // q [T, Hq, Dh] rotated; k rotated and v [T, Hkv, Dh] written into the caches; a [T, Hq, Dh] attended
      let q: Tensor | null = null;
      let a0: Tensor | null = null;
      const at = l.attn;
      if (at.fused) {
        const qkv = addBias(b, lin(h, at.qkv, () => `${p}self_attn.qkv_proj.weight`), at.bias);
        h.dispose();
        // one decode step: rope, cache writes and attention in one op where the backend has it
        if (t === 1 && b.attentionRope) a0 = b.attentionRope(qkv, l.kCache, l.vCache, qkvRopeOpts);
        else q = b.qkvRope!(qkv, l.kCache, l.vCache, qkvRopeOpts);
        qkv.dispose();
      } else {
        const q0 = addBias(b, lin(h, at.q, () => `${p}self_attn.q_proj.weight`), at.qBias);
        const k0 = addBias(b, lin(h, at.k, () => `${p}self_attn.k_proj.weight`), at.kBias);
        const v = reshapeOwned(addBias(b, lin(h, at.v, () => `${p}self_attn.v_proj.weight`), at.vBias), [t, c.numKeyValueHeads, c.headDim]);
        h.dispose();
        const q3 = reshapeOwned(q0, [t, c.numAttentionHeads, c.headDim]);
        const k3 = reshapeOwned(k0, [t, c.numKeyValueHeads, c.headDim]);
        q = b.rope(q3, rope);
        const k = b.rope(k3, rope);
        free(q3, k3);
        b.kvWrite(l.kCache, k, pos0);
        b.kvWrite(l.vCache, v, pos0);
        free(k, v);
      }
      // a [T, Hq, Dh] → [T, Hq·Dh]
      if (q) {
        a0 = b.attention(q, l.kCache, l.vCache, { past: pos0 });
        q.dispose();
      }
      const a = reshapeOwned(a0!, [t, c.numAttentionHeads * c.headDim]);
      const o = addBias(b, lin(a, l.o, () => `${p}self_attn.o_proj.weight`), l.oBias);
      a.dispose();
      const [x1, h2] = addNorm(x, o, l.postNorm);
      free(x, o);
      let m: Tensor;
      const mlp = l.mlp;
      if (mlp.fused) {
        const gu = lin(h2, mlp.gateUp, () => `${p}mlp.gate_up_proj.weight`);
        h2.dispose();
        m = b.swiglu!(gu);
        gu.dispose();
      } else {
        const g = lin(h2, mlp.gate, () => `${p}mlp.gate_proj.weight`);
        const u = lin(h2, mlp.up, () => `${p}mlp.up_proj.weight`);
        h2.dispose();
        const sg = b.silu(g);
        m = b.mul(sg, u);
        free(g, u, sg);
      }
      const dn = lin(m, l.down, () => `${p}mlp.down_proj.weight`);
      m.dispose();
      const next = this.#layers[i + 1];
      if (next) [x, h] = addNorm(x1, dn, next.inputNorm);
      else x = b.add(x1, dn);
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
   * embedding), embeddings, norms and biases as f32 tensors. A projection stacked with others (fuse) is listed
   * under its own name as `rows` [first, count] of the stacked weight. The model still owns them.
   */
  weights(): ModelWeight[] {
    const c = this.config;
    const [qDim, kvDim] = [c.numAttentionHeads * c.headDim, c.numKeyValueHeads * c.headDim];
    const out: ModelWeight[] = [{ name: 'model.embed_tokens.weight', weight: this.#embed }];
    for (const [i, l] of this.#layers.entries()) {
      const p = `model.layers.${i}.`;
      const a = l.attn;
      out.push({ name: `${p}input_layernorm.weight`, weight: l.inputNorm });
      const sliced = (n: string, w: LinearWeight | Tensor | null, rows: readonly [number, number]) => w && out.push({ name: `${p}self_attn.${n}`, weight: w, rows });
      if (a.fused) {
        for (const [n, rows] of [['q', [0, qDim]], ['k', [qDim, kvDim]], ['v', [qDim + kvDim, kvDim]]] as const) {
          sliced(`${n}_proj.weight`, a.qkv, rows);
          sliced(`${n}_proj.bias`, a.bias, rows);
        }
      } else {
        for (const [n, w] of [['q', a.q], ['k', a.k], ['v', a.v]] as const) out.push({ name: `${p}self_attn.${n}_proj.weight`, weight: w });
        for (const [n, bias] of [['q', a.qBias], ['k', a.kBias], ['v', a.vBias]] as const) if (bias) out.push({ name: `${p}self_attn.${n}_proj.bias`, weight: bias });
      }
      out.push({ name: `${p}self_attn.o_proj.weight`, weight: l.o });
      if (l.oBias) out.push({ name: `${p}self_attn.o_proj.bias`, weight: l.oBias });
      out.push({ name: `${p}post_attention_layernorm.weight`, weight: l.postNorm });
      const m = l.mlp;
      if (m.fused) {
        out.push({ name: `${p}mlp.gate_proj.weight`, weight: m.gateUp, rows: [0, c.intermediateSize] });
        out.push({ name: `${p}mlp.up_proj.weight`, weight: m.gateUp, rows: [c.intermediateSize, c.intermediateSize] });
      } else {
        out.push({ name: `${p}mlp.gate_proj.weight`, weight: m.gate }, { name: `${p}mlp.up_proj.weight`, weight: m.up });
      }
      out.push({ name: `${p}mlp.down_proj.weight`, weight: l.down });
    }
    out.push({ name: 'model.norm.weight', weight: this.#norm });
    if (!this.#tied) out.push({ name: 'lm_head.weight', weight: this.#lmHead });
    return out;
  }

  /**
   * The projection of that name as forward() runs it (for quality reports: the same input through two models'
   * weights): stacked ones under `…self_attn.qkv_proj.weight` and `…mlp.gate_up_proj.weight`.
   */
  linearWeight(name: string): LinearWeight | null {
    // a tied lm_head is the embedding, not a weight of its own
    if (name === 'lm_head.weight') return this.#tied ? null : this.#lmHead;
    const m = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)_proj\.weight$/.exec(name);
    const l = m ? this.#layers[Number(m[1])] : undefined;
    if (!l) return null;
    const which = m![3]!;
    if (which === 'o') return l.o;
    if (which === 'down') return l.down;
    if (which === 'qkv') return l.attn.fused ? l.attn.qkv : null;
    if (which === 'gate_up') return l.mlp.fused ? l.mlp.gateUp : null;
    if (!l.attn.fused && (which === 'q' || which === 'k' || which === 'v')) return l.attn[which];
    if (!l.mlp.fused && (which === 'gate' || which === 'up')) return l.mlp[which];
    return null;
  }

  #projections(l: LlamaLayer): LinearWeight[] {
    return [...(l.attn.fused ? [l.attn.qkv] : [l.attn.q, l.attn.k, l.attn.v]), l.o, ...(l.mlp.fused ? [l.mlp.gateUp] : [l.mlp.gate, l.mlp.up]), l.down];
  }

  #biases(l: LlamaLayer): (Tensor | null)[] {
    return [...(l.attn.fused ? [l.attn.bias] : [l.attn.qBias, l.attn.kBias, l.attn.vBias]), l.oBias];
  }

  resetCache(keep = 0): void {
    this.#position = Math.max(0, Math.min(keep, this.#position));
  }

  memory(): { weightBytes: number; kvCacheBytes: number } {
    let weightBytes = linearBytes(this.#embed) + this.#norm.byteLength + (this.#tied ? 0 : linearBytes(this.#lmHead));
    let kvCacheBytes = 0;
    for (const l of this.#layers) {
      weightBytes += l.inputNorm.byteLength + l.postNorm.byteLength;
      for (const w of this.#projections(l)) weightBytes += linearBytes(w);
      for (const bias of this.#biases(l)) weightBytes += bias?.byteLength ?? 0;
      kvCacheBytes += l.kCache.byteLength + l.vCache.byteLength;
    }
    return { weightBytes, kvCacheBytes };
  }

  dispose(): void {
    for (const l of this.#layers) {
      for (const w of this.#projections(l)) disposeLinear(w);
      free(l.inputNorm, l.postNorm, l.kCache, l.vCache);
      for (const bias of this.#biases(l)) bias?.dispose();
    }
    this.#layers = [];
    if (!this.#tied) disposeLinear(this.#lmHead);
    disposeLinear(this.#embed);
    free(this.#norm);
  }
}

/** x [T, D] → its last row [1, D], gathered with the embedding op. */
export function lastRow(b: Backend, x: Tensor, t: number): Tensor {
  const idx = b.upload(Int32Array.of(t - 1), [1], 'i32');
  const row = b.embedding(x, idx);
  idx.dispose();
  return row;
}
