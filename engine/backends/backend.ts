import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import type { Tensor, TensorOwner } from '../tensor/tensor.js';
import type { QuantFormat } from '../quant/layout.js';
import type { QuantizedTensor } from '../quant/quantized-tensor.js';
import type { DeviceLostError } from '../errors.js';

export type BackendName = 'webgpu' | 'wasm' | 'cpu' | 'webnn';

export interface MemoryInfo {
  /** Bytes held by live tensors. */
  allocatedBytes: number;
  /** High-water mark of allocatedBytes since creation or resetPeak(). */
  peakBytes: number;
  /** Bytes held by the backend in total (live + pooled free buffers); ≥ allocatedBytes. */
  reservedBytes: number;
  /** Number of distinct device buffers / heap blocks ever created (a steady-state loop must not raise it). */
  buffersCreated: number;
  /** Buffers sitting in the pool, ready for reuse. */
  pooledBuffers: number;
}

export type GeluApproximation = 'tanh' | 'erf';

export interface RopeOptions {
  /** Absolute position of row 0 of x (positions are pos0 … pos0 + T − 1). */
  pos0: number;
  /** rope theta (base), e.g. 10000 or 500000. */
  theta: number;
  /** How many leading dims of each head rotate (partial rotary); default headDim. Must be even. */
  rotaryDim?: number;
  /**
   * 'half' (HF Llama / GPT-NeoX rotate_half: pairs (i, i + rotaryDim/2)) or
   * 'interleaved' (GPT-J: pairs (2i, 2i + 1)). Default 'half'.
   */
  style?: 'half' | 'interleaved';
  /** Linear position scaling factor (positions divided by it); default 1. */
  scale?: number;
  /**
   * Inverse frequency of each rotary pair (rotaryDim / 2 values, radians per position), replacing θ^(−2p/rd):
   * how models apply frequency-dependent rope scaling such as Llama 3's (engine/models/rope-scaling.ts). The
   * same array object should be passed on every call (backends cache what they derive from it).
   */
  invFreq?: Float64Array;
}

export interface AttentionOptions {
  /** Number of cached positions before this step's queries: query t sits at absolute position past + t. */
  past: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Causal mask over the cache (key s visible to query t iff s ≤ past + t). Default true. */
  causal?: boolean;
}

export interface TopK {
  /** f32 [..., k], descending */
  values: Tensor;
  /** i32 [..., k]; ties keep the lower index first */
  indices: Tensor;
}

/**
 * The compute interface every backend implements (cpu is the reference oracle).
 *
 * Execution model: ops return result tensors at once; a backend may run them eagerly (cpu) or record
 * them (webgpu encodes into one command encoder; wasm may queue work for its worker pool) and execute on
 * `flush()`. `download()` flushes and resolves with the bytes. Inputs are never modified, except the
 * cache passed to `kvWrite`. All float math is f32; results of different backends agree within the
 * tolerances stated in test/engine.
 *
 * Shapes use row-major order. Ops that take `x [..., D]` act on the last axis and keep leading axes.
 */
export interface Backend extends TensorOwner {
  readonly name: BackendName;
  /**
   * True where ops are recorded and run after flush() on another processor (webgpu): the host can record the
   * next decode step while the device runs this one. Absent or false: ops run as they are called.
   */
  readonly deferred?: boolean;

  // ---- memory ---------------------------------------------------------------------------------------
  /** Copies `data` into a new tensor. `shape`'s size must equal data.length (f16: Uint16Array of halves). */
  upload(data: AnyTypedArray, shape: Shape, dtype?: DType): Tensor;
  /** An uninitialised (webgpu: zeroed) tensor. */
  empty(shape: Shape, dtype: DType): Tensor;
  /** Zero-filled tensor. */
  zeros(shape: Shape, dtype: DType): Tensor;
  download(t: Tensor): Promise<AnyTypedArray>;
  /** Packs already-encoded quantized weights (layout.ts) onto this backend. */
  uploadQuantized(format: QuantFormat, shape: readonly [number, number], data: Uint32Array, scales: Uint32Array, mins: Uint32Array | null): QuantizedTensor;
  memory(): MemoryInfo;
  resetPeak(): void;

  // ---- execution ------------------------------------------------------------------------------------
  /** Starts all recorded work (no wait). */
  flush(): void;
  /** Resolves when all recorded work has finished. */
  sync(): Promise<void>;
  /** Releases every resource; further use throws DisposedError. */
  dispose(): void;
  /** Resolves (never rejects) if the device is lost; cpu/wasm never resolve it. */
  readonly lost: Promise<DeviceLostError>;

  // ---- ops ------------------------------------------------------------------------------------------
  /**
   * a [...B, M, K] · b [...B, K, N] → [...B, M, N]; with transB, b is [...B, N, K].
   * b may also have no batch axes ([K, N] / [N, K]) and is then shared by every batch.
   */
  matmul(a: Tensor, b: Tensor, opts?: { transB?: boolean }): Tensor;
  /** Decode hot path: w [N, K] · x [K] → [N] (nn.Linear without bias, batch 1). */
  matvec(w: Tensor, x: Tensor): Tensor;
  /** Quantized w [N, K] · x [K] → [N]; fused dequant. */
  qmatvec(w: QuantizedTensor, x: Tensor): Tensor;
  /** x [M, K] · quantized w [N, K]ᵀ → [M, N]; fused dequant (prefill). */
  qmatmul(x: Tensor, w: QuantizedTensor): Tensor;
  /** Elementwise with NumPy broadcasting (f32). */
  add(a: Tensor, b: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  /** table [V, D] f32, ids i32 [T] → [T, D]. Out-of-range ids throw on cpu/wasm, give zeros on webgpu. */
  embedding(table: Tensor, ids: Tensor): Tensor;
  /** x [..., D]: x / sqrt(mean(x²) + eps) · weight [D]. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** x [..., D]: (x − mean) / sqrt(var + eps) · weight [D] + bias [D] (biased variance). */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor;
  /** Numerically stable softmax along the last axis. */
  softmax(x: Tensor): Tensor;
  silu(x: Tensor): Tensor;
  gelu(x: Tensor, approximation?: GeluApproximation): Tensor;
  /** x [T, H, Dh] → rotated copy (rotary position embedding). */
  rope(x: Tensor, opts: RopeOptions): Tensor;
  /** Writes x [T, Hkv, Dh] into cache [Hkv, S, Dh] at positions offset … offset + T − 1 (in place). */
  kvWrite(cache: Tensor, x: Tensor, offset: number): void;
  /**
   * Scaled dot-product attention over a KV cache with GQA.
   * q [T, Hq, Dh]; kCache, vCache [Hkv, S, Dh] holding past + T valid positions; Hq % Hkv === 0
   * (query head h reads kv head floor(h / (Hq / Hkv))). → [T, Hq, Dh].
   */
  attention(q: Tensor, kCache: Tensor, vCache: Tensor, opts: AttentionOptions): Tensor;
  /** x [..., V] → i32 [...]: index of the max (lowest index on ties; NaN never wins). */
  argmax(x: Tensor): Tensor;
  /** x [..., V] → top k values/indices per row, descending. 1 ≤ k ≤ V. */
  topk(x: Tensor, k: number): TopK;

  // ---- fused ops (optional): models use them where the backend has them, the separate ops elsewhere ----
  /** a + b (same shape [..., D]) and rmsNorm(a + b) · weight: the residual add fused into the next norm. */
  addRmsNorm?(a: Tensor, b: Tensor, weight: Tensor, eps: number): [sum: Tensor, normed: Tensor];
  /** x [T, 2I] (gate and up projections side by side) → silu(x[:, :I]) · x[:, I:] [T, I]. */
  swiglu?(x: Tensor): Tensor;
  /**
   * qkv [T, (Hq + 2·Hkv) · Dh] (the q, k, v projections side by side) → q rotated [T, Hq, Dh]; k rotated and v
   * written into kCache, vCache [Hkv, S, Dh] at positions opts.pos0 … : rope × 2 and kvWrite × 2 in one op.
   */
  qkvRope?(qkv: Tensor, kCache: Tensor, vCache: Tensor, opts: QkvRopeOptions): Tensor;
  /**
   * One decode step's attention from the fused projection: qkv [1, (Hq + 2·Hkv) · Dh] → out [1, Hq, Dh] =
   * attention(q rotated, caches, { past: opts.pos0 }) after k rotated and v are written into the caches at
   * opts.pos0 — qkvRope then attention, as one op (one dispatch fewer per layer where the backend fuses them).
   */
  attentionRope?(qkv: Tensor, kCache: Tensor, vCache: Tensor, opts: QkvRopeOptions): Tensor;
  /** Rows `ids` i32 [T] of a packed table [V, D], dequantized → f32 [T, D]: a quantized embedding's gather. */
  qembedding?(table: QuantizedTensor, ids: Tensor): Tensor;
  /** Tensors of one dtype with equal trailing dims, stacked along axis 0 into a new tensor (fusing weights at load). */
  concatRows?(parts: readonly Tensor[]): Tensor;
}

export interface QkvRopeOptions extends RopeOptions {
  readonly heads: number;
  readonly kvHeads: number;
}
