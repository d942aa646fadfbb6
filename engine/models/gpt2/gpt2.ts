import type { Backend, GeluApproximation } from '../../backends/backend.js';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import type { Gpt2Config } from '../../formats/config.js';
import type { Tensor } from '../../tensor/tensor.js';
import { lastRow } from '../llama/llama.js';
import type { CausalLM, ForwardOptions } from '../model.js';
import { addBias, disposeLinear, free, linear, linearBytes, reshapeOwned, requireWeight, uploadF32, type LinearWeight, type WeightStore } from '../weights.js';

interface Gpt2Layer {
  ln1w: Tensor;
  ln1b: Tensor;
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  qb: Tensor;
  kb: Tensor;
  vb: Tensor;
  proj: LinearWeight;
  projb: Tensor;
  ln2w: Tensor;
  ln2b: Tensor;
  fc: LinearWeight;
  fcb: Tensor;
  fcProj: LinearWeight;
  fcProjb: Tensor;
  /** [H, S, Dh] */
  kCache: Tensor;
  vCache: Tensor;
}

const GELU: Readonly<Record<string, GeluApproximation>> = { gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu_fast: 'tanh', gelu: 'erf' };

/** HF Conv1D stores W as [in, out]; our projections are [out, in]. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

const CONV = /(^|\.)(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;
const QKV = ['q', 'k', 'v'] as const;

/**
 * The tensors GPT-2 uploads from a checkpoint tensor (the streaming loader applies this as the file arrives):
 * Conv1D weights [in, out] transposed to [out, in] under `<name>#T`, and c_attn's weight and bias split into
 * q, k and v under `<name>#q|k|v`; everything else as it is.
 */
export function gpt2Tensors(name: string, values: Float32Array, shape: readonly number[]): { name: string; values: Float32Array; shape: readonly number[] }[] {
  if (CONV.test(name) && shape.length === 2) {
    const [inDim, outDim] = shape as [number, number];
    const t = transpose(values, inDim, outDim);
    if (!name.endsWith('attn.c_attn.weight') || outDim % 3 !== 0) return [{ name: `${name}#T`, values: t, shape: [outDim, inDim] }];
    const d = outDim / 3;
    return QKV.map((p, i) => ({ name: `${name}#${p}`, values: t.slice(i * d * inDim, (i + 1) * d * inDim), shape: [d, inDim] }));
  }
  if (name.endsWith('attn.c_attn.bias') && shape.length === 1 && shape[0]! % 3 === 0) {
    const d = shape[0]! / 3;
    return QKV.map((p, i) => ({ name: `${name}#${p}`, values: values.slice(i * d, (i + 1) * d), shape: [d] }));
  }
  return [{ name, values, shape }];
}

/**
 * GPT-2: learned absolute positions, pre-LayerNorm blocks, fused c_attn (split into q, k, v at load),
 * GELU MLP, lm_head tied to the token embedding.
 */
export class Gpt2Model implements CausalLM {
  readonly config: Gpt2Config;
  readonly backend: Backend;
  readonly maxSequence: number;
  #wte: Tensor;
  #wpe: Tensor;
  #lnfw: Tensor;
  #lnfb: Tensor;
  #layers: Gpt2Layer[] = [];
  #gelu: GeluApproximation;
  #position = 0;

  constructor(backend: Backend, config: Gpt2Config, store: WeightStore, options: { maxSequence?: number } = {}) {
    this.backend = backend;
    this.config = config;
    this.maxSequence = Math.min(options.maxSequence ?? config.nPositions, config.nPositions);
    const gelu = GELU[config.activationFunction];
    if (!gelu) throw new InvalidArgumentError(`GPT-2 activation "${config.activationFunction}" is not supported (use gelu, gelu_new or gelu_pytorch_tanh).`);
    this.#gelu = gelu;
    const pre = store.has('transformer.wte.weight') ? 'transformer.' : '';
    const d = config.nEmbd;
    const dh = d / config.nHead;
    const f32 = (name: string, shape: number[]): Tensor => uploadF32(backend, store, pre + name, shape);
    // each Conv1D / c_attn tensor as gpt2Tensors makes it: taken from what the streaming loader uploaded, else
    // made here from the complete file (once per checkpoint tensor)
    const made = new Map<string, ReturnType<typeof gpt2Tensors>>();
    const part = (name: string, suffix: string, shape: readonly number[]): Tensor => {
      const key = `${pre}${name}#${suffix}`;
      const t = store.take?.(key) ?? null;
      if (t && t.backend === backend && t.shape.length === shape.length && t.shape.every((v, i) => v === shape[i])) return t;
      t?.dispose();
      let parts = made.get(name);
      if (!parts) made.set(name, (parts = gpt2Tensors(pre + name, store.f32(pre + name), store.shape(pre + name))));
      const i = parts.findIndex((q) => q.name === key);
      const [p] = parts.splice(i, 1);
      if (parts.length === 0) made.delete(name); // host copies live only until their last part is uploaded
      return backend.upload(p!.values, p!.shape, 'f32');
    };
    // Conv1D [in, out] → dense [out, in] (`suffix` q, k or v: that third of c_attn)
    const conv = (name: string, inDim: number, outDim: number, suffix = 'T'): LinearWeight => {
      requireWeight(store, pre + name, [inDim, outDim]);
      const n = suffix === 'T' ? outDim : outDim / 3;
      return { kind: 'dense', w: part(name, suffix, [n, inDim]), n, k: inDim };
    };
    const biasPart = (name: string, total: number, suffix: string): Tensor => {
      requireWeight(store, pre + name, [total]);
      return part(name, suffix, [total / 3]);
    };
    this.#wte = f32('wte.weight', [config.vocabSize, d]);
    this.#wpe = f32('wpe.weight', [config.nPositions, d]);
    for (let i = 0; i < config.nLayer; i++) {
      const p = `h.${i}.`;
      this.#layers.push({
        ln1w: f32(`${p}ln_1.weight`, [d]),
        ln1b: f32(`${p}ln_1.bias`, [d]),
        q: conv(`${p}attn.c_attn.weight`, d, 3 * d, 'q'),
        k: conv(`${p}attn.c_attn.weight`, d, 3 * d, 'k'),
        v: conv(`${p}attn.c_attn.weight`, d, 3 * d, 'v'),
        qb: biasPart(`${p}attn.c_attn.bias`, 3 * d, 'q'),
        kb: biasPart(`${p}attn.c_attn.bias`, 3 * d, 'k'),
        vb: biasPart(`${p}attn.c_attn.bias`, 3 * d, 'v'),
        proj: conv(`${p}attn.c_proj.weight`, d, d),
        projb: f32(`${p}attn.c_proj.bias`, [d]),
        ln2w: f32(`${p}ln_2.weight`, [d]),
        ln2b: f32(`${p}ln_2.bias`, [d]),
        fc: conv(`${p}mlp.c_fc.weight`, d, config.nInner),
        fcb: f32(`${p}mlp.c_fc.bias`, [config.nInner]),
        fcProj: conv(`${p}mlp.c_proj.weight`, config.nInner, d),
        fcProjb: f32(`${p}mlp.c_proj.bias`, [d]),
        kCache: backend.zeros([config.nHead, this.maxSequence, dh], 'f32'),
        vCache: backend.zeros([config.nHead, this.maxSequence, dh], 'f32'),
      });
    }
    this.#lnfw = f32('ln_f.weight', [d]);
    this.#lnfb = f32('ln_f.bias', [d]);
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
    const h = c.nHead;
    const dh = c.nEmbd / h;
    const eps = c.layerNormEpsilon;
    if (t === 0) throw new InvalidArgumentError('forward() needs at least one token.');
    const pos0 = this.#position;
    if (pos0 + t > this.maxSequence) throw new ShapeError('forward', `${pos0} cached + ${t} new tokens exceed the ${this.maxSequence} positions GPT-2 supports here.`);
    const idsT = b.upload(ids, [t], 'i32');
    const posT = b.upload(Int32Array.from({ length: t }, (_, i) => pos0 + i), [t], 'i32');
    const te = b.embedding(this.#wte, idsT);
    const pe = b.embedding(this.#wpe, posT);
    // x [T, D]
    let x = b.add(te, pe);
    free(idsT, posT, te, pe);
    this.#layers.forEach((l, i) => {
      const scale = (c.scaleAttnWeights ? 1 / Math.sqrt(dh) : 1) / (c.scaleAttnByInverseLayerIdx ? i + 1 : 1);
      const n1 = b.layerNorm(x, l.ln1w, l.ln1b, eps);
      const q = reshapeOwned(addBias(b, linear(b, n1, l.q), l.qb), [t, h, dh]);
      const k = reshapeOwned(addBias(b, linear(b, n1, l.k), l.kb), [t, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, n1, l.v), l.vb), [t, h, dh]);
      n1.dispose();
      b.kvWrite(l.kCache, k, pos0);
      b.kvWrite(l.vCache, v, pos0);
      free(k, v);
      const a = reshapeOwned(b.attention(q, l.kCache, l.vCache, { past: pos0, scale }), [t, c.nEmbd]);
      q.dispose();
      const o = addBias(b, linear(b, a, l.proj), l.projb);
      a.dispose();
      const x1 = b.add(x, o);
      free(x, o);
      const n2 = b.layerNorm(x1, l.ln2w, l.ln2b, eps);
      const f = addBias(b, linear(b, n2, l.fc), l.fcb);
      n2.dispose();
      const g = b.gelu(f, this.#gelu);
      f.dispose();
      const m = addBias(b, linear(b, g, l.fcProj), l.fcProjb);
      g.dispose();
      x = b.add(x1, m);
      free(x1, m);
    });
    this.#position += t;
    const last = options.allLogits || t === 1 ? x : lastRow(b, x, t);
    if (last !== x) x.dispose();
    const n = b.layerNorm(last, this.#lnfw, this.#lnfb, eps);
    last.dispose();
    const logits = b.matmul(n, this.#wte, { transB: true });
    n.dispose();
    return logits;
  }

  resetCache(keep = 0): void {
    this.#position = Math.max(0, Math.min(keep, this.#position));
  }

  memory(): { weightBytes: number; kvCacheBytes: number } {
    let weightBytes = this.#wte.byteLength + this.#wpe.byteLength + this.#lnfw.byteLength + this.#lnfb.byteLength;
    let kvCacheBytes = 0;
    for (const l of this.#layers) {
      for (const t of layerTensors(l)) weightBytes += t.byteLength;
      for (const w of layerLinears(l)) weightBytes += linearBytes(w);
      kvCacheBytes += l.kCache.byteLength + l.vCache.byteLength;
    }
    return { weightBytes, kvCacheBytes };
  }

  dispose(): void {
    for (const l of this.#layers) {
      free(...layerTensors(l), l.kCache, l.vCache);
      layerLinears(l).forEach(disposeLinear);
    }
    this.#layers = [];
    free(this.#wte, this.#wpe, this.#lnfw, this.#lnfb);
  }
}

function layerTensors(l: Gpt2Layer): Tensor[] {
  return [l.ln1w, l.ln1b, l.qb, l.kb, l.vb, l.projb, l.ln2w, l.ln2b, l.fcb, l.fcProjb];
}

function layerLinears(l: Gpt2Layer): LinearWeight[] {
  return [l.q, l.k, l.v, l.proj, l.fc, l.fcProj];
}
