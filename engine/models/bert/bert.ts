import type { Backend, GeluApproximation } from '../../backends/backend.js';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import type { BertConfig } from '../../formats/config.js';
import type { Tensor } from '../../tensor/tensor.js';
import { addBias, disposeLinear, free, linear, linearBytes, reshapeOwned, requireWeight, uploadF32, uploadLinear, type LinearWeight, type WeightStore } from '../weights.js';

interface BertLayer {
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  qb: Tensor;
  kb: Tensor;
  vb: Tensor;
  attnOut: LinearWeight;
  attnOutb: Tensor;
  ln1w: Tensor;
  ln1b: Tensor;
  inter: LinearWeight;
  interb: Tensor;
  out: LinearWeight;
  outb: Tensor;
  ln2w: Tensor;
  ln2b: Tensor;
}

export interface BertOutput {
  /** f32 [T, D], row-major */
  lastHiddenState: Float32Array;
  /** f32 [D]: the [CLS] row */
  cls: Float32Array;
  /** f32 [D]: mean over the tokens */
  mean: Float32Array;
  tokens: number;
  hiddenSize: number;
}

const GELU: Readonly<Record<string, GeluApproximation>> = { gelu: 'erf', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh' };

/**
 * BERT encoder for feature extraction: word + position + token-type embeddings, post-LayerNorm blocks
 * with bidirectional attention, GELU MLP; CLS and mean pooling. One sequence per call, so no padding
 * mask is needed.
 */
export class BertModel {
  readonly config: BertConfig;
  readonly backend: Backend;
  #word: Tensor;
  #pos: Tensor;
  #type: Tensor;
  #lnw: Tensor;
  #lnb: Tensor;
  #layers: BertLayer[] = [];
  #gelu: GeluApproximation;

  constructor(backend: Backend, config: BertConfig, store: WeightStore) {
    this.backend = backend;
    this.config = config;
    const gelu = GELU[config.hiddenAct];
    if (!gelu) throw new InvalidArgumentError(`BERT hidden_act "${config.hiddenAct}" is not supported (use gelu or gelu_new).`);
    if (config.positionEmbeddingType !== 'absolute') throw new InvalidArgumentError(`BERT position_embedding_type "${config.positionEmbeddingType}" is not supported; only absolute.`);
    this.#gelu = gelu;
    const pre = store.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : '';
    const d = config.hiddenSize;
    const f = (name: string, shape: number[]): Tensor => uploadF32(backend, store, pre + name, shape);
    const lin = (name: string, n: number, k: number): LinearWeight => uploadLinear(backend, store, pre + name, n, k);
    requireWeight(store, `${pre}embeddings.LayerNorm.weight`);
    this.#word = f('embeddings.word_embeddings.weight', [config.vocabSize, d]);
    this.#pos = f('embeddings.position_embeddings.weight', [config.maxPositionEmbeddings, d]);
    this.#type = f('embeddings.token_type_embeddings.weight', [config.typeVocabSize, d]);
    this.#lnw = f('embeddings.LayerNorm.weight', [d]);
    this.#lnb = f('embeddings.LayerNorm.bias', [d]);
    const di = config.intermediateSize;
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const p = `encoder.layer.${i}.`;
      this.#layers.push({
        q: lin(`${p}attention.self.query.weight`, d, d),
        k: lin(`${p}attention.self.key.weight`, d, d),
        v: lin(`${p}attention.self.value.weight`, d, d),
        qb: f(`${p}attention.self.query.bias`, [d]),
        kb: f(`${p}attention.self.key.bias`, [d]),
        vb: f(`${p}attention.self.value.bias`, [d]),
        attnOut: lin(`${p}attention.output.dense.weight`, d, d),
        attnOutb: f(`${p}attention.output.dense.bias`, [d]),
        ln1w: f(`${p}attention.output.LayerNorm.weight`, [d]),
        ln1b: f(`${p}attention.output.LayerNorm.bias`, [d]),
        inter: lin(`${p}intermediate.dense.weight`, di, d),
        interb: f(`${p}intermediate.dense.bias`, [di]),
        out: lin(`${p}output.dense.weight`, d, di),
        outb: f(`${p}output.dense.bias`, [d]),
        ln2w: f(`${p}output.LayerNorm.weight`, [d]),
        ln2b: f(`${p}output.LayerNorm.bias`, [d]),
      });
    }
  }

  /** Hidden states [T, D] for one sequence (ids include [CLS] … [SEP]); tokenTypes default to 0. */
  hidden(ids: Int32Array, tokenTypes?: Int32Array): Tensor {
    const b = this.backend;
    const c = this.config;
    const t = ids.length;
    const h = c.numAttentionHeads;
    const dh = c.hiddenSize / h;
    const eps = c.layerNormEps;
    if (t === 0) throw new InvalidArgumentError('BERT needs at least one token.');
    if (t > c.maxPositionEmbeddings) throw new ShapeError('bert', `${t} tokens exceed max_position_embeddings ${c.maxPositionEmbeddings}; truncate the input.`);
    if (tokenTypes && tokenTypes.length !== t) throw new ShapeError('bert', `token_type_ids has ${tokenTypes.length} entries for ${t} tokens.`);
    const idsT = b.upload(ids, [t], 'i32');
    const posT = b.upload(Int32Array.from({ length: t }, (_, i) => i), [t], 'i32');
    const typT = b.upload(tokenTypes ?? new Int32Array(t), [t], 'i32');
    const we = b.embedding(this.#word, idsT);
    const pe = b.embedding(this.#pos, posT);
    const ye = b.embedding(this.#type, typT);
    const s1 = b.add(we, pe);
    const s2 = b.add(s1, ye);
    free(idsT, posT, typT, we, pe, ye, s1);
    // x [T, D]
    let x = b.layerNorm(s2, this.#lnw, this.#lnb, eps);
    s2.dispose();
    // Every position sees every other: keys and values of the whole sequence go in a [H, T, Dh] "cache".
    const kc = b.empty([h, t, dh], 'f32');
    const vc = b.empty([h, t, dh], 'f32');
    for (const l of this.#layers) {
      const q = reshapeOwned(addBias(b, linear(b, x, l.q), l.qb), [t, h, dh]);
      const k = reshapeOwned(addBias(b, linear(b, x, l.k), l.kb), [t, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, x, l.v), l.vb), [t, h, dh]);
      b.kvWrite(kc, k, 0);
      b.kvWrite(vc, v, 0);
      free(k, v);
      const a = reshapeOwned(b.attention(q, kc, vc, { past: 0, causal: false }), [t, c.hiddenSize]);
      q.dispose();
      const o = addBias(b, linear(b, a, l.attnOut), l.attnOutb);
      a.dispose();
      const r1 = b.add(o, x);
      free(o, x);
      const x1 = b.layerNorm(r1, l.ln1w, l.ln1b, eps);
      r1.dispose();
      const i1 = addBias(b, linear(b, x1, l.inter), l.interb);
      const g = b.gelu(i1, this.#gelu);
      i1.dispose();
      const o2 = addBias(b, linear(b, g, l.out), l.outb);
      g.dispose();
      const r2 = b.add(o2, x1);
      free(o2, x1);
      x = b.layerNorm(r2, l.ln2w, l.ln2b, eps);
      r2.dispose();
    }
    free(kc, vc);
    return x;
  }

  /** Last hidden state plus CLS and mean-pooled sentence embeddings. */
  async embed(ids: Int32Array, tokenTypes?: Int32Array): Promise<BertOutput> {
    const x = this.hidden(ids, tokenTypes);
    const last = (await this.backend.download(x)) as Float32Array;
    x.dispose();
    const d = this.config.hiddenSize;
    const t = ids.length;
    const mean = new Float32Array(d);
    for (let i = 0; i < t; i++) for (let j = 0; j < d; j++) mean[j]! += last[i * d + j]!;
    for (let j = 0; j < d; j++) mean[j]! /= t;
    return { lastHiddenState: last, cls: last.slice(0, d), mean, tokens: t, hiddenSize: d };
  }

  memory(): { weightBytes: number } {
    let weightBytes = this.#word.byteLength + this.#pos.byteLength + this.#type.byteLength + this.#lnw.byteLength + this.#lnb.byteLength;
    for (const l of this.#layers) {
      for (const w of [l.q, l.k, l.v, l.attnOut, l.inter, l.out]) weightBytes += linearBytes(w);
      for (const t of [l.qb, l.kb, l.vb, l.attnOutb, l.ln1w, l.ln1b, l.interb, l.outb, l.ln2w, l.ln2b]) weightBytes += t.byteLength;
    }
    return { weightBytes };
  }

  dispose(): void {
    for (const l of this.#layers) {
      for (const w of [l.q, l.k, l.v, l.attnOut, l.inter, l.out]) disposeLinear(w);
      free(l.qb, l.kb, l.vb, l.attnOutb, l.ln1w, l.ln1b, l.interb, l.outb, l.ln2w, l.ln2b);
    }
    this.#layers = [];
    free(this.#word, this.#pos, this.#type, this.#lnw, this.#lnb);
  }
}
