import type { Backend, GeluApproximation } from '../../backends/backend.js';
import { InvalidArgumentError } from '../../errors.js';
import type { VitConfig } from '../../formats/config.js';
import type { ImageProcessorConfig } from '../../formats/preprocessor-config.js';
import type { Tensor } from '../../tensor/tensor.js';
import { addBias, disposeLinear, free, linear, linearBytes, reshapeOwned, requireWeight, uploadF32, uploadLinear, type LinearWeight, type WeightStore } from '../weights.js';
import { preprocessImage, unfoldPatches, type RgbaImage } from './image-processor.js';

interface VitLayer {
  ln1w: Tensor;
  ln1b: Tensor;
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  qb: Tensor | null;
  kb: Tensor | null;
  vb: Tensor | null;
  o: LinearWeight;
  ob: Tensor;
  ln2w: Tensor;
  ln2b: Tensor;
  fc1: LinearWeight;
  fc1b: Tensor;
  fc2: LinearWeight;
  fc2b: Tensor;
}

export interface ClassifyOptions {
  /** How many labels to return, best first (default 5, at most the number of labels). */
  topK?: number;
}

export interface Classification {
  label: string;
  /** Class index in the classifier output (config id2label). */
  index: number;
  /** Softmax probability. */
  score: number;
}

export interface ClassifyResult {
  /** The `topK` best labels, highest score first. */
  labels: Classification[];
  /** f32 [numLabels]: the classifier's raw outputs. */
  logits: Float32Array;
}

const GELU: Readonly<Record<string, GeluApproximation>> = { gelu: 'erf', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh' };

/**
 * ViT image classifier (ViTForImageClassification): the image is cut into P×P patches whose embedding is
 * one matmul with the Conv2d weight seen as [D, C·P·P]; a CLS row and learned positions are added; then
 * pre-LayerNorm encoder layers with bidirectional attention, a final LayerNorm and a linear head on CLS.
 */
export class VitModel {
  readonly config: VitConfig;
  readonly processor: ImageProcessorConfig;
  readonly backend: Backend;
  #patch: LinearWeight;
  // [N + 1, D]: row 0 = cls_token + pos[0] (the CLS input row is zero), row i = conv bias + pos[i]
  #embedBias: Tensor;
  #layers: VitLayer[] = [];
  #lnw: Tensor;
  #lnb: Tensor;
  #head: LinearWeight;
  #headb: Tensor;
  #gelu: GeluApproximation;
  readonly tokens: number;

  constructor(backend: Backend, config: VitConfig, processor: ImageProcessorConfig, store: WeightStore) {
    this.backend = backend;
    this.config = config;
    this.processor = processor;
    const gelu = GELU[config.hiddenAct];
    if (!gelu) throw new InvalidArgumentError(`ViT hidden_act "${config.hiddenAct}" is not supported (use gelu or gelu_new).`);
    this.#gelu = gelu;
    if (processor.height !== config.imageSize || processor.width !== config.imageSize || !processor.doResize) {
      throw new InvalidArgumentError(`The image processor gives ${processor.doResize ? `${processor.width}×${processor.height}` : 'unresized'} images; this ViT takes ${config.imageSize}×${config.imageSize} (position-embedding interpolation is not supported).`);
    }
    if (config.numChannels !== 3) throw new InvalidArgumentError(`ViT with ${config.numChannels} input channels is not supported; accel feeds RGB images.`);
    const pre = store.has('vit.embeddings.cls_token') ? 'vit.' : '';
    if (!store.has('classifier.weight')) throw new InvalidArgumentError('The checkpoint has no "classifier.weight"; image classification needs a ViTForImageClassification checkpoint.');
    const d = config.hiddenSize;
    const p = config.patchSize;
    const c = config.numChannels;
    const n = (config.imageSize / p) ** 2;
    this.tokens = n + 1;
    const f = (name: string, shape: number[]): Tensor => uploadF32(backend, store, pre + name, shape);
    const lin = (name: string, rows: number, cols: number): LinearWeight => uploadLinear(backend, store, pre + name, rows, cols);

    // the Conv2d weight [D, C, P, P] is already [D, C·P·P] row-major
    const convName = `${pre}embeddings.patch_embeddings.projection.weight`;
    requireWeight(store, convName, [d, c, p, p]);
    this.#patch = { kind: 'dense', w: backend.upload(store.f32(convName), [d, c * p * p], 'f32'), n: d, k: c * p * p };
    const biasName = `${pre}embeddings.patch_embeddings.projection.bias`;
    requireWeight(store, `${pre}embeddings.cls_token`, [1, 1, d]);
    requireWeight(store, `${pre}embeddings.position_embeddings`, [1, n + 1, d]);
    requireWeight(store, biasName, [d]);
    const cls = store.f32(`${pre}embeddings.cls_token`);
    const pos = store.f32(`${pre}embeddings.position_embeddings`);
    const bias = store.f32(biasName);
    const table = new Float32Array((n + 1) * d);
    for (let j = 0; j < d; j++) table[j] = cls[j]! + pos[j]!;
    for (let i = 1; i <= n; i++) for (let j = 0; j < d; j++) table[i * d + j] = bias[j]! + pos[i * d + j]!;
    this.#embedBias = backend.upload(table, [n + 1, d], 'f32');

    const di = config.intermediateSize;
    const qkvBias = (name: string): Tensor | null => (config.qkvBias ? f(name, [d]) : null);
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const l = `encoder.layer.${i}.`;
      this.#layers.push({
        ln1w: f(`${l}layernorm_before.weight`, [d]),
        ln1b: f(`${l}layernorm_before.bias`, [d]),
        q: lin(`${l}attention.attention.query.weight`, d, d),
        k: lin(`${l}attention.attention.key.weight`, d, d),
        v: lin(`${l}attention.attention.value.weight`, d, d),
        qb: qkvBias(`${l}attention.attention.query.bias`),
        kb: qkvBias(`${l}attention.attention.key.bias`),
        vb: qkvBias(`${l}attention.attention.value.bias`),
        o: lin(`${l}attention.output.dense.weight`, d, d),
        ob: f(`${l}attention.output.dense.bias`, [d]),
        ln2w: f(`${l}layernorm_after.weight`, [d]),
        ln2b: f(`${l}layernorm_after.bias`, [d]),
        fc1: lin(`${l}intermediate.dense.weight`, di, d),
        fc1b: f(`${l}intermediate.dense.bias`, [di]),
        fc2: lin(`${l}output.dense.weight`, d, di),
        fc2b: f(`${l}output.dense.bias`, [d]),
      });
    }
    this.#lnw = f('layernorm.weight', [d]);
    this.#lnb = f('layernorm.bias', [d]);
    const labels = config.labels.length;
    this.#head = uploadLinear(backend, store, 'classifier.weight', labels, d);
    this.#headb = uploadF32(backend, store, 'classifier.bias', [labels]);
  }

  get labels(): readonly string[] {
    return this.config.labels;
  }

  /** pixel_values f32 [C, H, W] (already preprocessed) → logits f32 [1, numLabels] on the backend. */
  forward(pixels: Float32Array): Tensor {
    const b = this.backend;
    const c = this.config;
    const s = c.imageSize;
    if (pixels.length !== c.numChannels * s * s) throw new InvalidArgumentError(`pixel_values has ${pixels.length} values; this ViT takes ${c.numChannels}×${s}×${s}.`);
    const t = this.tokens;
    const d = c.hiddenSize;
    const h = c.numAttentionHeads;
    const dh = d / h;
    const eps = c.layerNormEps;
    const k = this.#patch.k;
    // patches [T, C·P·P] with a zero row 0 for CLS (its embedding comes whole from #embedBias)
    const rows = new Float32Array(t * k);
    rows.set(unfoldPatches(pixels, c.numChannels, s, s, c.patchSize), k);
    const pt = b.upload(rows, [t, k], 'f32');
    // x [T, D]
    let x = addBias(b, linear(b, pt, this.#patch), this.#embedBias);
    pt.dispose();
    const kc = b.empty([h, t, dh], 'f32');
    const vc = b.empty([h, t, dh], 'f32');
    for (const l of this.#layers) {
      const n1 = b.layerNorm(x, l.ln1w, l.ln1b, eps);
      const q = reshapeOwned(addBias(b, linear(b, n1, l.q), l.qb), [t, h, dh]);
      const kk = reshapeOwned(addBias(b, linear(b, n1, l.k), l.kb), [t, h, dh]);
      const v = reshapeOwned(addBias(b, linear(b, n1, l.v), l.vb), [t, h, dh]);
      n1.dispose();
      b.kvWrite(kc, kk, 0);
      b.kvWrite(vc, v, 0);
      free(kk, v);
      const a = reshapeOwned(b.attention(q, kc, vc, { past: 0, causal: false }), [t, d]);
      q.dispose();
      const o = addBias(b, linear(b, a, l.o), l.ob);
      a.dispose();
      const r1 = b.add(o, x);
      free(o, x);
      const n2 = b.layerNorm(r1, l.ln2w, l.ln2b, eps);
      const i1 = addBias(b, linear(b, n2, l.fc1), l.fc1b);
      n2.dispose();
      const g = b.gelu(i1, this.#gelu);
      i1.dispose();
      const m = addBias(b, linear(b, g, l.fc2), l.fc2b);
      g.dispose();
      x = b.add(m, r1);
      free(m, r1);
    }
    free(kc, vc);
    // the CLS row [1, D], picked by a one-row lookup
    const zero = b.upload(new Int32Array(1), [1], 'i32');
    const clsRow = b.embedding(x, zero);
    free(zero, x);
    const y = b.layerNorm(clsRow, this.#lnw, this.#lnb, eps);
    clsRow.dispose();
    const logits = addBias(b, linear(b, y, this.#head), this.#headb);
    y.dispose();
    return logits;
  }

  /** RGBA image → the `topK` most likely labels (softmax scores) and the raw logits. */
  async classify(image: RgbaImage, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    const n = this.config.labels.length;
    const topK = options.topK ?? Math.min(5, n);
    if (!Number.isSafeInteger(topK) || topK < 1) throw new InvalidArgumentError(`topK must be a positive integer, got ${String(options.topK)}.`);
    const pixels = preprocessImage(image, this.processor);
    const out = this.forward(pixels);
    const logits = new Float32Array((await this.backend.download(out)) as Float32Array);
    out.dispose();
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    const e = Array.from(logits, (v) => {
      const x = Math.exp(v - max);
      sum += x;
      return x;
    });
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const labels = order.slice(0, Math.min(topK, n)).map((i) => ({ label: this.config.labels[i]!, index: i, score: e[i]! / sum }));
    return { labels, logits };
  }

  memory(): { weightBytes: number } {
    let weightBytes = linearBytes(this.#patch) + this.#embedBias.byteLength + this.#lnw.byteLength + this.#lnb.byteLength + linearBytes(this.#head) + this.#headb.byteLength;
    for (const l of this.#layers) {
      for (const w of [l.q, l.k, l.v, l.o, l.fc1, l.fc2]) weightBytes += linearBytes(w);
      for (const t of [l.qb, l.kb, l.vb, l.ob, l.ln1w, l.ln1b, l.ln2w, l.ln2b, l.fc1b, l.fc2b]) weightBytes += t?.byteLength ?? 0;
    }
    return { weightBytes };
  }

  dispose(): void {
    for (const l of this.#layers) {
      for (const w of [l.q, l.k, l.v, l.o, l.fc1, l.fc2]) disposeLinear(w);
      for (const t of [l.qb, l.kb, l.vb, l.ob, l.ln1w, l.ln1b, l.ln2w, l.ln2b, l.fc1b, l.fc2b]) t?.dispose();
    }
    this.#layers = [];
    disposeLinear(this.#patch);
    disposeLinear(this.#head);
    free(this.#embedBias, this.#lnw, this.#lnb, this.#headb);
  }
}
