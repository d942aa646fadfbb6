import type { Backend, GeluApproximation } from '../../backends/backend.js';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import type { WhisperConfig } from '../../formats/config.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { CausalLM, ForwardOptions } from '../model.js';
import { addBias, disposeLinear, free, linear, linearBytes, reshapeOwned, requireWeight, uploadF32, uploadLinear, type LinearWeight, type WeightStore } from '../weights.js';

interface Attn {
  q: LinearWeight;
  qb: Tensor;
  k: LinearWeight;
  v: LinearWeight;
  vb: Tensor;
  o: LinearWeight;
  ob: Tensor;
}

interface EncoderLayer {
  ln1w: Tensor;
  ln1b: Tensor;
  attn: Attn;
  ln2w: Tensor;
  ln2b: Tensor;
  fc1: LinearWeight;
  fc1b: Tensor;
  fc2: LinearWeight;
  fc2b: Tensor;
}

interface DecoderLayer extends EncoderLayer {
  lnxw: Tensor;
  lnxb: Tensor;
  cross: Attn;
  // self-attention cache [H, maxTarget, Dh]
  kc: Tensor;
  vc: Tensor;
}

const GELU: Readonly<Record<string, GeluApproximation>> = { gelu: 'erf', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh' };

/**
 * Whisper (WhisperForConditionalGeneration): an encoder over log-mel frames (two Conv1d + GELU, written as
 * matmuls; sinusoidal positions; pre-LayerNorm layers) and a decoder with causal self-attention (KV cache),
 * cross-attention over the encoded audio and a tied output projection. After `encode(features)` the
 * decoder is a CausalLM, so the engine's streaming generator decodes it.
 */
export class WhisperModel implements CausalLM {
  readonly config: WhisperConfig;
  readonly backend: Backend;
  readonly vocabSize: number;
  readonly maxSequence: number;
  #position = 0;
  #gelu: GeluApproximation;
  // encoder
  #conv1: LinearWeight;
  #conv1b: Tensor;
  #conv2: LinearWeight[];
  #conv2b: Tensor;
  #encPos: Tensor;
  #enc: EncoderLayer[] = [];
  #encLnw: Tensor;
  #encLnb: Tensor;
  // decoder
  #tokens: Tensor;
  #tokensOut: LinearWeight;
  #decPos: Tensor;
  #dec: DecoderLayer[] = [];
  #decLnw: Tensor;
  #decLnb: Tensor;
  // cross-attention keys / values of the encoded audio, per decoder layer [H, S, Dh]; null before encode()
  #cross: { k: Tensor; v: Tensor }[] | null = null;

  constructor(backend: Backend, config: WhisperConfig, store: WeightStore) {
    this.backend = backend;
    this.config = config;
    const gelu = GELU[config.activationFunction];
    if (!gelu) throw new InvalidArgumentError(`Whisper activation_function "${config.activationFunction}" is not supported (use gelu).`);
    if (config.scaleEmbedding) throw new InvalidArgumentError('Whisper with scale_embedding = true is not supported.');
    this.#gelu = gelu;
    const d = config.dModel;
    const m = config.numMelBins;
    this.vocabSize = config.vocabSize;
    this.maxSequence = config.maxTargetPositions;
    const pre = store.has('model.encoder.conv1.weight') ? 'model.' : '';
    const f = (name: string, shape: number[]): Tensor => uploadF32(backend, store, pre + name, shape);
    const lin = (name: string, n: number, k: number): LinearWeight => uploadLinear(backend, store, pre + name, n, k);
    const dense = (data: Float32Array, n: number, k: number): LinearWeight => ({ kind: 'dense', w: backend.upload(data, [n, k], 'f32'), n, k });

    // conv1 [D, M, 3] is already [D, M·3] with (channel, tap) order
    requireWeight(store, `${pre}encoder.conv1.weight`, [d, m, 3]);
    this.#conv1 = dense(store.f32(`${pre}encoder.conv1.weight`), d, m * 3);
    this.#conv1b = f('encoder.conv1.bias', [d]);
    // conv2 [D, D, 3] → one [D, D] matrix per tap
    requireWeight(store, `${pre}encoder.conv2.weight`, [d, d, 3]);
    const w2 = store.f32(`${pre}encoder.conv2.weight`);
    this.#conv2 = [0, 1, 2].map((tap) => dense(Float32Array.from({ length: d * d }, (_, i) => w2[i * 3 + tap]!), d, d));
    this.#conv2b = f('encoder.conv2.bias', [d]);
    this.#encPos = f('encoder.embed_positions.weight', [config.maxSourcePositions, d]);
    const attn = (p: string): Attn => ({
      q: lin(`${p}q_proj.weight`, d, d),
      qb: f(`${p}q_proj.bias`, [d]),
      k: lin(`${p}k_proj.weight`, d, d),
      v: lin(`${p}v_proj.weight`, d, d),
      vb: f(`${p}v_proj.bias`, [d]),
      o: lin(`${p}out_proj.weight`, d, d),
      ob: f(`${p}out_proj.bias`, [d]),
    });
    const block = (p: string, ffn: number): EncoderLayer => ({
      ln1w: f(`${p}self_attn_layer_norm.weight`, [d]),
      ln1b: f(`${p}self_attn_layer_norm.bias`, [d]),
      attn: attn(`${p}self_attn.`),
      ln2w: f(`${p}final_layer_norm.weight`, [d]),
      ln2b: f(`${p}final_layer_norm.bias`, [d]),
      fc1: lin(`${p}fc1.weight`, ffn, d),
      fc1b: f(`${p}fc1.bias`, [ffn]),
      fc2: lin(`${p}fc2.weight`, d, ffn),
      fc2b: f(`${p}fc2.bias`, [d]),
    });
    for (let i = 0; i < config.encoderLayers; i++) this.#enc.push(block(`encoder.layers.${i}.`, config.encoderFfnDim));
    this.#encLnw = f('encoder.layer_norm.weight', [d]);
    this.#encLnb = f('encoder.layer_norm.bias', [d]);

    const h = config.decoderAttentionHeads;
    this.#tokens = f('decoder.embed_tokens.weight', [config.vocabSize, d]);
    // proj_out is tied to embed_tokens (every released Whisper); an untied checkpoint names it proj_out
    this.#tokensOut = store.has('proj_out.weight') ? uploadLinear(backend, store, 'proj_out.weight', config.vocabSize, d) : dense(store.f32(`${pre}decoder.embed_tokens.weight`), config.vocabSize, d);
    this.#decPos = f('decoder.embed_positions.weight', [config.maxTargetPositions, d]);
    for (let i = 0; i < config.decoderLayers; i++) {
      const p = `decoder.layers.${i}.`;
      this.#dec.push({
        ...block(p, config.decoderFfnDim),
        lnxw: f(`${p}encoder_attn_layer_norm.weight`, [d]),
        lnxb: f(`${p}encoder_attn_layer_norm.bias`, [d]),
        cross: attn(`${p}encoder_attn.`),
        kc: backend.zeros([h, config.maxTargetPositions, d / h], 'f32'),
        vc: backend.zeros([h, config.maxTargetPositions, d / h], 'f32'),
      });
    }
    this.#decLnw = f('decoder.layer_norm.weight', [d]);
    this.#decLnb = f('decoder.layer_norm.bias', [d]);
  }

  get position(): number {
    return this.#position;
  }

  /** Mel frames the encoder takes (2 × max_source_positions). */
  get frames(): number {
    return 2 * this.config.maxSourcePositions;
  }

  /** Pre-LayerNorm MLP block with residual: x + fc2(gelu(fc1(ln(x)))). Consumes x. */
  #mlp(x: Tensor, l: EncoderLayer): Tensor {
    const b = this.backend;
    const n = b.layerNorm(x, l.ln2w, l.ln2b, 1e-5);
    const i1 = addBias(b, linear(b, n, l.fc1), l.fc1b);
    n.dispose();
    const g = b.gelu(i1, this.#gelu);
    i1.dispose();
    const o = addBias(b, linear(b, g, l.fc2), l.fc2b);
    g.dispose();
    const r = b.add(o, x);
    free(o, x);
    return r;
  }

  /** Encoder output [S, D] for log-mel features f32 [M, 2S] (row-major, as the feature extractor gives). */
  encoderHidden(features: Float32Array): Tensor {
    const b = this.backend;
    const c = this.config;
    const m = c.numMelBins;
    const frames = this.frames;
    const s = c.maxSourcePositions;
    const d = c.dModel;
    if (features.length !== m * frames) throw new ShapeError('whisper', `the encoder takes ${m} mel bins × ${frames} frames (${m * frames} values), got ${features.length}.`);
    // conv1 (kernel 3, padding 1) as im2col: rows [frames + 1, M·3]; the extra row stays zero and serves as conv2's padding
    const cols = new Float32Array((frames + 1) * m * 3);
    for (let t = 0; t < frames; t++) {
      for (let ch = 0; ch < m; ch++) {
        for (let tap = 0; tap < 3; tap++) {
          const src = t - 1 + tap;
          if (src >= 0 && src < frames) cols[(t * m + ch) * 3 + tap] = features[ch * frames + src]!;
        }
      }
    }
    const colsT = b.upload(cols, [frames + 1, m * 3], 'f32');
    const c1 = addBias(b, linear(b, colsT, this.#conv1), this.#conv1b);
    colsT.dispose();
    const g1 = b.gelu(c1, this.#gelu);
    c1.dispose();
    const mask = b.upload(Float32Array.from({ length: frames + 1 }, (_, i) => (i < frames ? 1 : 0)), [frames + 1, 1], 'f32');
    // h1 [frames + 1, D] with a zero last row
    const h1 = b.mul(g1, mask);
    free(g1, mask);
    // conv2 (kernel 3, stride 2, padding 1): output t reads rows 2t − 1, 2t, 2t + 1; out of range → the zero row
    let acc: Tensor | null = null;
    for (let tap = 0; tap < 3; tap++) {
      const ids = b.upload(Int32Array.from({ length: s }, (_, t) => {
        const r = 2 * t - 1 + tap;
        return r >= 0 && r < frames ? r : frames;
      }), [s], 'i32');
      const rows = b.embedding(h1, ids);
      ids.dispose();
      const y = linear(b, rows, this.#conv2[tap]!);
      rows.dispose();
      if (acc) {
        const sum = b.add(acc, y);
        free(acc, y);
        acc = sum;
      } else acc = y;
    }
    h1.dispose();
    const c2 = addBias(b, acc!, this.#conv2b);
    const g2 = b.gelu(c2, this.#gelu);
    c2.dispose();
    let x = b.add(g2, this.#encPos);
    g2.dispose();
    const h = c.encoderAttentionHeads;
    const dh = d / h;
    const kc = b.empty([h, s, dh], 'f32');
    const vc = b.empty([h, s, dh], 'f32');
    for (const l of this.#enc) {
      const n = b.layerNorm(x, l.ln1w, l.ln1b, 1e-5);
      const q = reshapeOwned(addBias(b, linear(b, n, l.attn.q), l.attn.qb), [s, h, dh]);
      const k = reshapeOwned(linear(b, n, l.attn.k), [s, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, n, l.attn.v), l.attn.vb), [s, h, dh]);
      n.dispose();
      b.kvWrite(kc, k, 0);
      b.kvWrite(vc, v, 0);
      free(k, v);
      const a = reshapeOwned(b.attention(q, kc, vc, { past: 0, causal: false }), [s, d]);
      q.dispose();
      const o = addBias(b, linear(b, a, l.attn.o), l.attn.ob);
      a.dispose();
      const r = b.add(o, x);
      free(o, x);
      x = this.#mlp(r, l);
    }
    free(kc, vc);
    const out = b.layerNorm(x, this.#encLnw, this.#encLnb, 1e-5);
    x.dispose();
    return out;
  }

  /** Encodes one window of audio features and prepares the decoder for it (its KV cache is cleared). */
  encode(features: Float32Array): void {
    const b = this.backend;
    const x = this.encoderHidden(features);
    this.#disposeCross();
    const s = this.config.maxSourcePositions;
    const h = this.config.decoderAttentionHeads;
    const dh = this.config.dModel / h;
    this.#cross = this.#dec.map((l) => {
      const k = reshapeOwned(linear(b, x, l.cross.k), [s, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, x, l.cross.v), l.cross.vb), [s, h, dh]);
      const kc = b.empty([h, s, dh], 'f32');
      const vc = b.empty([h, s, dh], 'f32');
      b.kvWrite(kc, k, 0);
      b.kvWrite(vc, v, 0);
      free(k, v);
      return { k: kc, v: vc };
    });
    x.dispose();
    // the decoder's cached states depend on the audio (callers must not reuse a prompt cache across encodes)
    this.resetCache();
  }

  forward(ids: Int32Array, options: ForwardOptions = {}): Tensor {
    const b = this.backend;
    const c = this.config;
    if (!this.#cross) throw new InvalidArgumentError('Whisper decodes audio: call encode(features) (or model.transcribe(audio)) before forward().');
    const t = ids.length;
    const pos = this.#position;
    const d = c.dModel;
    const h = c.decoderAttentionHeads;
    const dh = d / h;
    const s = c.maxSourcePositions;
    if (t === 0) throw new InvalidArgumentError('Whisper decoder: no tokens given.');
    if (pos + t > this.maxSequence) throw new ShapeError('whisper', `${pos + t} decoder positions exceed max_target_positions ${this.maxSequence}.`);
    if (t > s) throw new ShapeError('whisper', `${t} tokens in one step exceed the ${s} encoder positions (split the prompt).`);
    for (const id of ids) if (id < 0 || id >= c.vocabSize) throw new InvalidArgumentError(`Token id ${id} is outside the vocabulary (0 … ${c.vocabSize - 1}).`);
    const idsT = b.upload(ids, [t], 'i32');
    const posT = b.upload(Int32Array.from({ length: t }, (_, i) => pos + i), [t], 'i32');
    const te = b.embedding(this.#tokens, idsT);
    const pe = b.embedding(this.#decPos, posT);
    let x = b.add(te, pe);
    free(idsT, posT, te, pe);
    this.#dec.forEach((l, li) => {
      const n = b.layerNorm(x, l.ln1w, l.ln1b, 1e-5);
      const q = reshapeOwned(addBias(b, linear(b, n, l.attn.q), l.attn.qb), [t, h, dh]);
      const k = reshapeOwned(linear(b, n, l.attn.k), [t, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, n, l.attn.v), l.attn.vb), [t, h, dh]);
      n.dispose();
      b.kvWrite(l.kc, k, pos);
      b.kvWrite(l.vc, v, pos);
      free(k, v);
      const a = reshapeOwned(b.attention(q, l.kc, l.vc, { past: pos, causal: true }), [t, d]);
      q.dispose();
      const o = addBias(b, linear(b, a, l.attn.o), l.attn.ob);
      a.dispose();
      const r1 = b.add(o, x);
      free(o, x);
      // cross-attention: every query sees all S encoder positions (non-causal attention reads past + T keys)
      const nx = b.layerNorm(r1, l.lnxw, l.lnxb, 1e-5);
      const qx = reshapeOwned(addBias(b, linear(b, nx, l.cross.q), l.cross.qb), [t, h, dh]);
      nx.dispose();
      const cross = this.#cross![li]!;
      const ax = reshapeOwned(b.attention(qx, cross.k, cross.v, { past: s - t, causal: false }), [t, d]);
      qx.dispose();
      const ox = addBias(b, linear(b, ax, l.cross.o), l.cross.ob);
      ax.dispose();
      const r2 = b.add(ox, r1);
      free(ox, r1);
      x = this.#mlp(r2, l);
    });
    this.#position += t;
    let y = b.layerNorm(x, this.#decLnw, this.#decLnb, 1e-5);
    x.dispose();
    if (!options.allLogits && t > 1) {
      const last = b.upload(Int32Array.of(t - 1), [1], 'i32');
      const row = b.embedding(y, last);
      free(last, y);
      y = row;
    }
    const logits = linear(b, y, this.#tokensOut);
    y.dispose();
    return logits;
  }

  resetCache(keep = 0): void {
    if (keep < 0 || keep > this.#position) throw new InvalidArgumentError(`resetCache(${keep}): the cache holds ${this.#position} positions.`);
    this.#position = keep;
  }

  memory(): { weightBytes: number; kvCacheBytes: number } {
    const tensors: Tensor[] = [this.#conv1b, this.#conv2b, this.#encPos, this.#encLnw, this.#encLnb, this.#tokens, this.#decPos, this.#decLnw, this.#decLnb];
    const linears: LinearWeight[] = [this.#conv1, ...this.#conv2, this.#tokensOut];
    for (const l of [...this.#enc, ...this.#dec]) {
      tensors.push(l.ln1w, l.ln1b, l.ln2w, l.ln2b, l.fc1b, l.fc2b, l.attn.qb, l.attn.vb, l.attn.ob);
      linears.push(l.fc1, l.fc2, l.attn.q, l.attn.k, l.attn.v, l.attn.o);
    }
    let kvCacheBytes = 0;
    for (const l of this.#dec) {
      tensors.push(l.lnxw, l.lnxb, l.cross.qb, l.cross.vb, l.cross.ob);
      linears.push(l.cross.q, l.cross.k, l.cross.v, l.cross.o);
      kvCacheBytes += l.kc.byteLength + l.vc.byteLength;
    }
    for (const x of this.#cross ?? []) kvCacheBytes += x.k.byteLength + x.v.byteLength;
    return { weightBytes: tensors.reduce((a, t) => a + t.byteLength, 0) + linears.reduce((a, w) => a + linearBytes(w), 0), kvCacheBytes };
  }

  #disposeCross(): void {
    for (const x of this.#cross ?? []) free(x.k, x.v);
    this.#cross = null;
  }

  dispose(): void {
    this.#disposeCross();
    const all = [...this.#enc, ...this.#dec];
    for (const l of all) {
      for (const w of [l.fc1, l.fc2, l.attn.q, l.attn.k, l.attn.v, l.attn.o]) disposeLinear(w);
      free(l.ln1w, l.ln1b, l.ln2w, l.ln2b, l.fc1b, l.fc2b, l.attn.qb, l.attn.vb, l.attn.ob);
    }
    for (const l of this.#dec) {
      for (const w of [l.cross.q, l.cross.k, l.cross.v, l.cross.o]) disposeLinear(w);
      free(l.lnxw, l.lnxb, l.cross.qb, l.cross.vb, l.cross.ob, l.kc, l.vc);
    }
    this.#enc = [];
    this.#dec = [];
    for (const w of [this.#conv1, ...this.#conv2, this.#tokensOut]) disposeLinear(w);
    free(this.#conv1b, this.#conv2b, this.#encPos, this.#encLnw, this.#encLnb, this.#tokens, this.#decPos, this.#decLnw, this.#decLnb);
  }
}
