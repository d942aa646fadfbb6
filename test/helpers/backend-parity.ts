/**
 * Cross-backend parity: every op of the Backend interface run on the backend under test and on a fresh
 * CpuBackend (the oracle) with the same inputs, downloaded and compared. A mocha `describe` block, for
 * the browser lane (web-test-runner). Usage, in test/browser/backend-<name>.test.ts:
 *
 *   describeBackendParity('webgpu', createWebGPUBackend, { tolerance: { gelu: 5e-6 } });
 *
 * Comparison: element e of the oracle and a of the backend agree when |a − e| ≤ tol · (floor + |e|),
 * floor = 1 except softmax (1/D: its outputs are probabilities of size ~1/D). Indices (argmax, topk) and
 * copies (embedding, kvWrite, topk values) must be identical. Every case also checks that the backend
 * left its inputs unchanged and, at the end, that its allocatedBytes is back to where it started.
 *
 * `skip` takes op names ('qmatmul') or single cases ('argmax:nan', 'layerNorm:offset', 'errors', 'memory').
 */
import fc from 'fast-check';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import type { Backend } from '../../engine/backends/backend.js';
import { AccelError } from '../../engine/errors.js';
import { GROUP_SIZES, QUANT_BITS, type QuantFormat } from '../../engine/quant/layout.js';
import { disposeQuantized, type QuantizedTensor } from '../../engine/quant/quantized-tensor.js';
import type { AnyTypedArray, DType } from '../../engine/tensor/dtype.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import { distinctRows, expectClose, expectEqualArrays, prng, randomInts, randomQuantized, randomTensorData, type PackedWeight } from './random.js';

export { distinctRows, expectClose, expectEqualArrays, findMismatch, formatIndex, prng, randomInts, randomQuantized, randomTensorData, dequantize } from './random.js';
export type { PackedWeight, Mismatch } from './random.js';

export type ParityOp =
  | 'upload' | 'matmul' | 'matvec' | 'qmatvec' | 'qmatmul' | 'add' | 'mul' | 'embedding' | 'rmsNorm' | 'layerNorm'
  | 'softmax' | 'silu' | 'gelu' | 'rope' | 'kvWrite' | 'attention' | 'argmax' | 'topk' | 'swiglu' | 'qkvRope' | 'concatRows' | 'qembedding' | 'addRmsNorm';

/**
 * Default tolerances (see the comparison rule above). Reductions over up to K = 4097 f32 products with
 * values in [−1, 1] keep ~1e-5 relative error; transcendental ops are bounded by f32 exp/tanh/sin
 * accuracy; rope by f32 angles at positions ≤ 200; copies and elementwise f32 + and × are exact.
 */
export const DEFAULT_TOLERANCES: Readonly<Record<ParityOp, number>> = {
  upload: 0,
  matmul: 1e-4,
  matvec: 1e-4,
  qmatvec: 1e-4,
  qmatmul: 1e-4,
  add: 1e-6,
  mul: 1e-6,
  embedding: 0,
  rmsNorm: 1e-5,
  layerNorm: 1e-5,
  softmax: 1e-5,
  silu: 2e-6,
  gelu: 2e-6,
  rope: 2e-5,
  swiglu: 2e-6,
  qkvRope: 2e-5,
  concatRows: 0,
  qembedding: 0,
  addRmsNorm: 1e-5,
  kvWrite: 0,
  attention: 2e-5,
  argmax: 0,
  topk: 0,
};

export interface ParityOptions {
  /** Per-op tolerance overrides (key: op name, e.g. { gelu: 5e-6 }). */
  tolerance?: Partial<Record<string, number>>;
  /** Op names or 'op:case' ids to skip (each shows as pending). */
  skip?: string[];
  /** More fast-check runs and a random seed per run (default: few runs, fixed seed, no shrinking). */
  heavy?: boolean;
  /** console.log each case with its wall time (to find what is slow on a backend). */
  trace?: boolean;
}

/** Uploads made for one case on one backend, so they can be checked for changes and disposed. */
class CaseInputs {
  readonly tensors: { t: Tensor; src: AnyTypedArray; mutable: boolean }[] = [];
  readonly quantized: QuantizedTensor[] = [];
  constructor(readonly b: Backend) {}

  up(src: AnyTypedArray, shape: readonly number[], dtype?: DType, mutable = false): Tensor {
    const t = this.b.upload(src, shape, dtype);
    this.tensors.push({ t, src, mutable });
    return t;
  }

  f32(src: Float32Array, shape: readonly number[]): Tensor {
    return this.up(src, shape, 'f32');
  }

  i32(src: Int32Array, shape: readonly number[]): Tensor {
    return this.up(src, shape, 'i32');
  }

  /** A reshaped view of an uploaded input (views hold a reference to the storage: they are disposed too). */
  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const base = this.tensors.find((e) => e.t === t)!;
    const v = t.reshape(shape);
    this.tensors.push({ t: v, src: base.src, mutable: base.mutable });
    return v;
  }

  quant(format: QuantFormat, n: number, k: number, p: PackedWeight): QuantizedTensor {
    const q = this.b.uploadQuantized(format, [n, k], p.data, p.scales, p.mins);
    this.quantized.push(q);
    return q;
  }

  dispose(): void {
    for (const { t } of this.tensors) t.dispose();
    for (const q of this.quantized) disposeQuantized(q);
  }
}

type Build = (s: CaseInputs) => Tensor | Tensor[];

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Sizes that break naive tiling: 1, 3, 17, multiples of 4/64 and their neighbours. */
const ODD_DIMS = [1, 3, 17, 31, 33, 63, 64, 65, 127, 129] as const;

export function describeBackendParity(name: string, makeBackend: () => Promise<Backend>, opts: ParityOptions = {}): void {
  const heavy = opts.heavy ?? false;
  const skip = new Set(opts.skip ?? []);
  const runs = (n: number): fc.Parameters<unknown> => (heavy ? { numRuns: n * 5 } : { numRuns: n, seed: 20240611, endOnFailure: true });
  const tolOf = (op: ParityOp): number => opts.tolerance?.[op] ?? DEFAULT_TOLERANCES[op];
  const dim = (max: number): fc.Arbitrary<number> => fc.oneof(fc.constantFrom(...ODD_DIMS.filter((d) => d <= max)), fc.integer({ min: 1, max }));

  describe(`backend parity: ${name} vs cpu`, function () {
    this.timeout(heavy ? 600_000 : 120_000);
    let be: Backend;
    let ref: CpuBackend;
    let baseline = 0;

    before(async () => {
      be = await makeBackend();
      ref = new CpuBackend();
      baseline = be.memory().allocatedBytes;
    });

    after(() => {
      be?.dispose();
      ref?.dispose();
    });

    const caseIt = (id: string, title: string, fn: () => Promise<void>): void => {
      const op = id.split(':')[0]!;
      if (skip.has(id) || skip.has(op)) it.skip(title, fn);
      else it(title, fn);
    };

    /**
     * Runs `build` on both backends and compares every output: shapes and dtypes equal, values within
     * tolerance (`exact`: identical). Inputs not marked mutable must come back unchanged.
     */
    async function parity(op: ParityOp, label: string, build: Build, how: { exact?: boolean; floor?: number } = {}): Promise<void> {
      const sb = new CaseInputs(be);
      const sr = new CaseInputs(ref);
      const outs: Tensor[] = [];
      const where = `${name} ${op} ${label}`;
      const started = performance.now();
      try {
        const ob = [build(sb)].flat();
        outs.push(...ob);
        const or = [build(sr)].flat();
        outs.push(...or);
        const tol = how.exact ? 0 : tolOf(op);
        for (let i = 0; i < or.length; i++) {
          const [tb, tr] = [ob[i]!, or[i]!];
          const what = or.length > 1 ? `${where} (output ${i})` : where;
          if (fmt(tb.shape) !== fmt(tr.shape)) throw new Error(`${what}: shape ${fmt(tb.shape)}, expected ${fmt(tr.shape)}`);
          if (tb.dtype !== tr.dtype) throw new Error(`${what}: dtype ${tb.dtype}, expected ${tr.dtype}`);
          const actual = await be.download(tb);
          const expected = await ref.download(tr);
          if (tol === 0) expectEqualArrays(actual, expected, what, tr.shape);
          else expectClose(actual, expected, tol, what, tr.shape, how.floor ?? 1);
        }
        for (const { t, src, mutable } of sb.tensors) {
          if (!mutable) expectEqualArrays(await be.download(t), src, `${where}: input ${fmt(t.shape)} ${t.dtype} was modified`, t.shape);
        }
      } finally {
        for (const t of outs) t.dispose();
        sb.dispose();
        sr.dispose();
        if (opts.trace) console.log(`parity ${where}: ${(performance.now() - started).toFixed(0)} ms`);
      }
    }

    // ---- memory -------------------------------------------------------------------------------------

    describe('upload / download', () => {
      caseIt('upload', 'every dtype round-trips exactly at odd lengths; zeros are zeros', async () => {
        for (const n of [1, 3, 17, 4097]) {
          const next = prng(n);
          const arrays: [AnyTypedArray, DType][] = [
            [randomTensorData([n], n), 'f32'],
            [randomInts(n, n, -(2 ** 31), 2 ** 31 - 1), 'i32'],
            [Uint32Array.from({ length: n }, () => Math.floor(next() * 2 ** 32)), 'u32'],
            [Uint8Array.from({ length: n }, () => Math.floor(next() * 256)), 'u8'],
            [Uint16Array.from({ length: n }, () => Math.floor(next() * 0x7c00)), 'f16'],
          ];
          for (const [data, dtype] of arrays) {
            const t = be.upload(data, [n], dtype);
            try {
              if (t.dtype !== dtype) throw new Error(`${name} upload: dtype ${t.dtype}, expected ${dtype}`);
              expectEqualArrays(await be.download(t), data, `${name} upload/download ${dtype} [${n}]`);
            } finally {
              t.dispose();
            }
          }
          for (const dtype of ['f32', 'i32', 'u8'] as DType[]) {
            const z = be.zeros([n], dtype);
            try {
              expectEqualArrays(await be.download(z), new Array<number>(n).fill(0), `${name} zeros ${dtype} [${n}]`);
            } finally {
              z.dispose();
            }
          }
        }
      });
    });

    // ---- linear algebra -----------------------------------------------------------------------------

    const matmulCase = (aShape: number[], bShape: number[], transB: boolean, seed: number) =>
      parity('matmul', `a ${fmt(aShape)} · b ${fmt(bShape)}${transB ? 'ᵀ' : ''}`, (s) =>
        s.b.matmul(s.f32(randomTensorData(aShape, seed), aShape), s.f32(randomTensorData(bShape, seed + 1), bShape), { transB }));

    describe('matmul', () => {
      caseIt('matmul', 'odd, batched, shared-b and transposed-b shapes', async () => {
        await matmulCase([3, 17], [17, 33], false, 1);
        await matmulCase([1, 1], [1, 1], false, 2);
        await matmulCase([1, 4097], [4097, 3], false, 3);
        await matmulCase([17, 65], [65, 31], false, 4);
        await matmulCase([2, 3, 17], [2, 17, 5], false, 5);
        await matmulCase([2, 3, 17], [17, 5], false, 6);
        await matmulCase([2, 3, 17], [2, 5, 17], true, 7);
        await matmulCase([2, 2, 3, 33], [17, 33], true, 8);
        await matmulCase([4, 4097], [3, 4097], true, 9);
        await matmulCase([65, 64], [64, 129], false, 10);
      });
      caseIt('matmul:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(
          fc.constantFrom<number[]>([], [1], [2], [2, 3]), dim(70), dim(130), dim(70), fc.boolean(), fc.boolean(), fc.nat(),
          async (batch, m, k, n, transB, shared, seed) => {
            const bCore = transB ? [n, k] : [k, n];
            await matmulCase([...batch, m, k], shared ? bCore : [...batch, ...bCore], transB, seed);
          }), runs(6));
      });
    });

    const matvecCase = (n: number, k: number, seed: number) =>
      parity('matvec', `w [${n}, ${k}] · x [${k}]`, (s) => s.b.matvec(s.f32(randomTensorData([n, k], seed), [n, k]), s.f32(randomTensorData([k], seed + 1), [k])));

    describe('matvec', () => {
      caseIt('matvec', 'N × K = 17 × 4097, 4097 × 17, 1 × 1, 3 × 3, 64 × 256, 65 × 255, 4095 × 64', async () => {
        for (const [n, k] of [[17, 4097], [4097, 17], [1, 1], [3, 3], [64, 256], [65, 255], [4095, 64]] as const) await matvecCase(n, k, n * 7 + k);
      });
      caseIt('matvec:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(dim(300), fc.oneof(dim(600), fc.constantFrom(4095, 4097)), fc.nat(), (n, k, seed) => matvecCase(n, k, seed)), runs(6));
      });
    });

    const formats: QuantFormat[] = QUANT_BITS.flatMap((bits) => GROUP_SIZES.flatMap((groupSize) => [true, false].map((symmetric) => ({ bits, groupSize, symmetric }))));
    // Backends may compile one pipeline per format (seconds each on SwiftShader), so by default qmatmul
    // covers 8 formats: every bit width × sym/asym, each group size twice; heavy runs take all 24.
    const qmatmulFormats = heavy ? formats : formats.filter((f) => f.groupSize === GROUP_SIZES[(QUANT_BITS.indexOf(f.bits) * 2 + (f.symmetric ? 0 : 1)) % 3]);
    const fmtName = (f: QuantFormat): string => `int${f.bits} g${f.groupSize} ${f.symmetric ? 'sym' : 'asym'}`;

    const qmatvecCase = (f: QuantFormat, n: number, k: number, seed: number) =>
      parity('qmatvec', `${fmtName(f)} w [${n}, ${k}]`, (s) =>
        s.b.qmatvec(s.quant(f, n, k, randomQuantized(f, n, k, seed)), s.f32(randomTensorData([k], seed + 1), [k])));

    const qmatmulCase = (f: QuantFormat, m: number, n: number, k: number, seed: number) =>
      parity('qmatmul', `${fmtName(f)} x [${m}, ${k}] · w [${n}, ${k}]ᵀ`, (s) =>
        s.b.qmatmul(s.f32(randomTensorData([m, k], seed + 1), [m, k]), s.quant(f, n, k, randomQuantized(f, n, k, seed))));

    describe('qmatvec', () => {
      caseIt('qmatvec', 'every bits × group size × sym/asym at N = 17, K = 5 groups; K = 4096 per bit width', async () => {
        for (const [i, f] of formats.entries()) await qmatvecCase(f, 17, f.groupSize * 5, 100 + i);
        for (const [i, bits] of QUANT_BITS.entries()) await qmatvecCase({ bits, groupSize: 128, symmetric: i % 2 === 0 }, 5, 4096, 200 + i);
        await qmatvecCase({ bits: 4, groupSize: 32, symmetric: true }, 1, 32, 300);
        await qmatvecCase({ bits: 4, groupSize: 64, symmetric: false }, 257, 64, 301);
      });
      caseIt('qmatvec:random', 'random formats and shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.constantFrom(...formats), dim(70), fc.integer({ min: 1, max: 9 }), fc.nat(),
          (f, n, groups, seed) => qmatvecCase(f, n, groups * f.groupSize, seed)), runs(8));
      });
    });

    describe('qmatmul', () => {
      caseIt('qmatmul', `${heavy ? 'every' : '8'} bits × group size × sym/asym at M = 3, N = 17, K = 2 groups; M = 1; K = 1024`, async () => {
        for (const [i, f] of qmatmulFormats.entries()) await qmatmulCase(f, 3, 17, f.groupSize * 2, 400 + i);
        await qmatmulCase({ bits: 8, groupSize: 64, symmetric: false }, 1, 33, 64, 500);
        await qmatmulCase({ bits: 3, groupSize: 64, symmetric: true }, 5, 9, 1024, 501);
        await qmatmulCase({ bits: 2, groupSize: 64, symmetric: false }, 17, 65, 256, 502);
      });
      caseIt('qmatmul:random', 'random formats and shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.constantFrom(...qmatmulFormats), dim(20), dim(40), fc.integer({ min: 1, max: 6 }), fc.nat(),
          (f, m, n, groups, seed) => qmatmulCase(f, m, n, groups * f.groupSize, seed)), runs(8));
      });
    });

    // ---- elementwise --------------------------------------------------------------------------------

    const binaryCase = (op: 'add' | 'mul', aShape: number[], bShape: number[], seed: number) =>
      parity(op, `${fmt(aShape)} ∘ ${fmt(bShape)}`, (s) => s.b[op](s.f32(randomTensorData(aShape, seed, -4, 4), aShape), s.f32(randomTensorData(bShape, seed + 1, -4, 4), bShape)));

    const broadcastPair = fc.tuple(fc.array(fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constantFrom(17, 33)), { minLength: 0, maxLength: 4 }), fc.nat(), fc.nat())
      .map(([out, maskA, maskB]) => {
        // drop some leading axes and set some axes to 1, independently for a and b
        const derive = (mask: number): number[] => {
          const drop = mask % (out.length + 1);
          return out.slice(drop).map((d, i) => ((mask >> (i + 3)) & 1 ? 1 : d));
        };
        return [derive(maskA), derive(maskB)] as const;
      });

    for (const op of ['add', 'mul'] as const) {
      describe(op, () => {
        caseIt(op, 'same shape, row and column broadcast, scalars', async () => {
          const pairs: [number[], number[]][] = [[[4097], [4097]], [[3, 17], [17]], [[3, 1], [1, 17]], [[2, 1, 3], [4, 1]], [[], [5]], [[1], [4095]], [[2, 3, 4], [2, 1, 4]], [[], []], [[17, 1, 33], [1, 65, 1]]];
          for (const [i, [a, b]] of pairs.entries()) await binaryCase(op, a, b, i + 1);
        });
        caseIt(`${op}:random`, 'random broadcastable shapes (fast-check)', async () => {
          await fc.assert(fc.asyncProperty(broadcastPair, fc.nat(), ([a, b], seed) => binaryCase(op, a, b, seed)), runs(8));
        });
      });
    }

    const unaryCase = (op: 'silu' | 'gelu', shape: number[], seed: number, approximation?: 'tanh' | 'erf', range = 8) =>
      parity(op, `${fmt(shape)}${approximation ? ` ${approximation}` : ''}`, (s) => {
        const x = s.f32(randomTensorData(shape, seed, -range, range), shape);
        return op === 'silu' ? s.b.silu(x) : s.b.gelu(x, approximation);
      });

    describe('silu', () => {
      caseIt('silu', '[4097], [3, 17], [1], [2, 3, 5]; a reshaped view', async () => {
        for (const [i, shape] of [[4097], [3, 17], [1], [2, 3, 5]].entries()) await unaryCase('silu', shape, i + 1);
        await unaryCase('silu', [64], 9, undefined, 40);
        await parity('silu', 'reshape view [6] of [2, 3]', (s) => s.b.silu(s.reshape(s.f32(randomTensorData([2, 3], 5), [2, 3]), [6])));
      });
      caseIt('silu:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.array(dim(40), { minLength: 1, maxLength: 3 }), fc.nat(), (shape, seed) => unaryCase('silu', shape, seed)), runs(4));
      });
    });

    describe('gelu', () => {
      caseIt('gelu', 'tanh and erf on [4097], [3, 17], [1]; the default is tanh', async () => {
        for (const approximation of ['tanh', 'erf'] as const) {
          for (const [i, shape] of [[4097], [3, 17], [1]].entries()) await unaryCase('gelu', shape, i + 1, approximation);
          await unaryCase('gelu', [255], 7, approximation, 1);
        }
        await unaryCase('gelu', [33], 8);
      });
      caseIt('gelu:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.array(dim(40), { minLength: 1, maxLength: 3 }), fc.constantFrom('tanh' as const, 'erf' as const), fc.nat(),
          (shape, approximation, seed) => unaryCase('gelu', shape, seed, approximation)), runs(4));
      });
    });

    // ---- gather, norms, softmax ---------------------------------------------------------------------

    const embeddingCase = (v: number, d: number, ids: Int32Array, seed: number) =>
      parity('embedding', `table [${v}, ${d}], ${ids.length} ids`, (s) => s.b.embedding(s.f32(randomTensorData([v, d], seed), [v, d]), s.i32(ids, [ids.length])), { exact: true });

    describe('embedding', () => {
      caseIt('embedding', 'first, last and repeated ids; wide and tall tables', async () => {
        await embeddingCase(17, 33, Int32Array.from([0, 16, 5, 5, 16]), 1);
        await embeddingCase(5, 4097, Int32Array.from([4, 0, 2]), 2);
        await embeddingCase(4097, 3, Int32Array.from([4096, 0, 4095, 17, 1]), 3);
        await embeddingCase(1, 1, Int32Array.from([0]), 4);
      });
      caseIt('embedding:random', 'random tables and ids (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(dim(130), dim(70), fc.integer({ min: 1, max: 20 }), fc.nat(),
          (v, d, t, seed) => embeddingCase(v, d, randomInts(t, seed, 0, v - 1), seed)), runs(5));
      });
    });

    const rmsCase = (shape: number[], eps: number, seed: number, offset = 0) =>
      parity('rmsNorm', `x ${fmt(shape)} eps ${eps}`, (s) =>
        s.b.rmsNorm(s.f32(randomTensorData(shape, seed, offset - 2, offset + 2), shape), s.f32(randomTensorData([shape.at(-1)!], seed + 1, 0.5, 1.5), [shape.at(-1)!]), eps));
    const lnCase = (shape: number[], eps: number, seed: number, offset = 0) =>
      parity('layerNorm', `x ${fmt(shape)} eps ${eps}${offset ? ` mean ≈ ${offset}` : ''}`, (s) => {
        const d = shape.at(-1)!;
        return s.b.layerNorm(s.f32(randomTensorData(shape, seed, offset - 2, offset + 2), shape), s.f32(randomTensorData([d], seed + 1, 0.5, 1.5), [d]), s.f32(randomTensorData([d], seed + 2), [d]), eps);
      });
    // 1024, 5760, 16384: whole and partial register turns of webgpu's vec4 kernels; 16388: past their widest row
    const normShapes = [[1, 1], [3, 17], [2, 4095], [1, 4097], [5, 64], [2, 3, 33], [1, 1024], [2, 5760], [1, 16384], [1, 16388]];

    describe('rmsNorm', () => {
      caseIt('rmsNorm', 'rows of 1, 17, 4095, 4097, 64, 1024, 5760, 16384, 16388; rank 3', async () => {
        for (const [i, shape] of normShapes.entries()) await rmsCase(shape, i % 2 ? 1e-6 : 1e-5, i + 1);
      });
      caseIt('rmsNorm:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.oneof(dim(300), fc.constantFrom(4095, 4097)), fc.nat(), (rows, d, seed) => rmsCase([rows, d], 1e-5, seed)), runs(5));
      });
    });

    describe('layerNorm', () => {
      caseIt('layerNorm', 'rows of 1, 17, 4095, 4097, 64, 1024, 5760, 16384, 16388; rank 3', async () => {
        for (const [i, shape] of normShapes.entries()) await lnCase(shape, i % 2 ? 1e-6 : 1e-5, i + 1);
      });
      caseIt('layerNorm:offset', 'rows whose mean (50) dwarfs their spread: needs a two-pass or Welford variance', async () => {
        await lnCase([2, 4097], 1e-5, 9, 50);
      });
      caseIt('layerNorm:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.oneof(dim(300), fc.constantFrom(4095, 4097)), fc.nat(), (rows, d, seed) => lnCase([rows, d], 1e-5, seed)), runs(5));
      });
    });

    const softmaxCase = (shape: number[], seed: number, edit?: (x: Float32Array) => void, label = '') =>
      parity('softmax', `x ${fmt(shape)}${label}`, (s) => {
        const x = randomTensorData(shape, seed, -10, 10);
        edit?.(x);
        return s.b.softmax(s.f32(x, shape));
      }, { floor: 1 / shape.at(-1)! });

    describe('softmax', () => {
      caseIt('softmax', 'rows of 1, 17, 4095, 4097, 64; large logits; -Infinity masks', async () => {
        for (const [i, shape] of [[1, 1], [3, 17], [1, 4095], [2, 4097], [4, 64], [2, 2, 33]].entries()) await softmaxCase(shape, i + 1);
        await softmaxCase([2, 33], 7, (x) => x.forEach((v, i) => (x[i] = v + (i < 33 ? 1000 : -1000))), ' shifted by ±1000');
        await softmaxCase([2, 17], 8, (x) => [0, 3, 4, 16, 20, 33].forEach((i) => (x[i] = -Infinity)), ' with -Infinity');
      });
      caseIt('softmax:random', 'random shapes (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.oneof(dim(600), fc.constantFrom(4095, 4097)), fc.nat(), (rows, d, seed) => softmaxCase([rows, d], seed)), runs(6));
      });
    });

    // ---- rope, kv cache, attention ------------------------------------------------------------------

    interface RopeCase { t: number; h: number; dh: number; pos0: number; theta: number; rotaryDim?: number; style: 'half' | 'interleaved'; scale?: number }
    const ropeCase = (c: RopeCase, seed: number) =>
      parity('rope', `x [${c.t}, ${c.h}, ${c.dh}] pos0 ${c.pos0} θ ${c.theta} ${c.style}${c.rotaryDim === undefined ? '' : ` rotaryDim ${c.rotaryDim}`}${c.scale === undefined ? '' : ` scale ${c.scale}`}`, (s) => {
        const shape = [c.t, c.h, c.dh];
        const { t: _t, h: _h, dh: _dh, ...ropeOpts } = c;
        return s.b.rope(s.f32(randomTensorData(shape, seed), shape), ropeOpts);
      });

    describe('rope', () => {
      caseIt('rope', "'half' and 'interleaved', partial rotary, scale, T = 1 and T > 1", async () => {
        await ropeCase({ t: 1, h: 4, dh: 16, pos0: 0, theta: 10000, style: 'half' }, 1);
        await ropeCase({ t: 5, h: 2, dh: 64, pos0: 127, theta: 10000, style: 'interleaved' }, 2);
        await ropeCase({ t: 3, h: 3, dh: 10, pos0: 4, theta: 10000, rotaryDim: 4, style: 'half' }, 3);
        await ropeCase({ t: 2, h: 3, dh: 17, pos0: 9, theta: 10000, rotaryDim: 16, style: 'interleaved' }, 4);
        await ropeCase({ t: 1, h: 32, dh: 128, pos0: 17, theta: 500000, style: 'half', scale: 8 }, 5);
        await ropeCase({ t: 17, h: 1, dh: 2, pos0: 1, theta: 1e6, style: 'half' }, 6);
        await ropeCase({ t: 2, h: 2, dh: 8, pos0: 3, theta: 10000, rotaryDim: 0, style: 'half' }, 7);
      });
      caseIt('rope:random', 'random shapes and options (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(
          fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.integer({ min: 0, max: 200 }),
          fc.constantFrom(10000, 500000, 1e6), fc.constantFrom('half' as const, 'interleaved' as const), fc.constantFrom(1, 2, 4), fc.nat(),
          (t, h, pairs, cut, pos0, theta, style, scale, seed) => {
            // an odd head dim, or one case in three, rotates only part of each head
            const odd = cut % 2;
            const dh = 2 * pairs + odd;
            const rotaryDim = odd || cut % 3 === 0 ? 2 * ((cut >> 2) % (pairs + 1)) : undefined;
            return ropeCase({ t, h, dh, pos0, theta, style, scale, ...(rotaryDim === undefined ? {} : { rotaryDim }) }, seed);
          }), runs(6));
      });
    });

    // ---- fused ops (optional in Backend): checked where the backend has them -------------------------------
    describe('fused ops', () => {
      caseIt('swiglu', 'silu(gate) · up over [T, 2I]: T = 1, odd I, large |x|', async function (this: Mocha.Context) {
        if (!be.swiglu) return this.skip();
        for (const [t, i, seed] of [[1, 512, 1], [3, 17, 2], [5, 1, 3]] as const) {
          await parity('swiglu', `x [${t}, ${2 * i}]`, (s) => {
            const x = randomTensorData([t, 2 * i], seed).map((v, j) => (j % 7 === 0 ? v * 60 : v));
            return s.b.swiglu!(s.f32(x, [t, 2 * i]));
          });
        }
      });
      caseIt('qkvRope', 'q rotated, k rotated and v written into the caches, as rope + kvWrite do', async function (this: Mocha.Context) {
        if (!be.qkvRope) return this.skip();
        const cases = [
          { t: 1, hq: 8, hkv: 2, dh: 32, s: 40, pos0: 17, style: 'half' as const },
          { t: 5, hq: 4, hkv: 4, dh: 16, s: 9, pos0: 4, style: 'interleaved' as const, rotaryDim: 8 },
          { t: 3, hq: 6, hkv: 3, dh: 10, s: 3, pos0: 0, style: 'half' as const, scale: 4 },
        ];
        for (const [n, c] of cases.entries()) {
          await parity('qkvRope', `qkv [${c.t}, (${c.hq} + 2·${c.hkv})·${c.dh}] at ${c.pos0} ${c.style}`, (s) => {
            const w = (c.hq + 2 * c.hkv) * c.dh;
            const kc = s.up(randomTensorData([c.hkv, c.s, c.dh], n + 10), [c.hkv, c.s, c.dh], 'f32', true);
            const vc = s.up(randomTensorData([c.hkv, c.s, c.dh], n + 20), [c.hkv, c.s, c.dh], 'f32', true);
            const { t: _t, hq, hkv, dh: _dh, s: _s, ...rope } = c;
            const q = s.b.qkvRope!(s.f32(randomTensorData([c.t, w], n), [c.t, w]), kc, vc, { ...rope, theta: 10000, heads: hq, kvHeads: hkv });
            return [q, kc, vc];
          });
        }
      });
      caseIt('qembedding', 'rows of a packed table, every bits × group size × sym/asym, dequantized exactly', async function (this: Mocha.Context) {
        if (!be.qembedding) return this.skip();
        for (const [i, f] of formats.entries()) {
          const v = 9;
          const d = f.groupSize * 3;
          await parity('qembedding', `${fmtName(f)} table [${v}, ${d}]`, (s) => s.b.qembedding!(s.quant(f, v, d, randomQuantized(f, v, d, 300 + i)), s.up(Int32Array.from([8, 0, 3, 3, 5]), [5], 'i32')), { exact: true });
        }
      });
      caseIt('addRmsNorm', 'a + b and its RMSNorm, as add then rmsNorm', async function (this: Mocha.Context) {
        if (!be.addRmsNorm) return this.skip();
        for (const [n, shape] of [[1, 4096], [3, 17], [2, 5, 64], [2, 1028], [1, 14336], [1, 16388]].entries()) {
          const d = shape.at(-1)!;
          await parity('addRmsNorm', `a, b ${fmt(shape)}`, (s) => s.b.addRmsNorm!(s.f32(randomTensorData(shape, n), shape), s.f32(randomTensorData(shape, n + 10), shape), s.f32(randomTensorData([d], n + 20, 0.5, 1.5), [d]), 1e-5));
        }
      });
      caseIt('concatRows', 'f32, i32 and u32 parts stacked along axis 0', async function (this: Mocha.Context) {
        if (!be.concatRows) return this.skip();
        await parity('concatRows', 'f32 [3, 5] + [1, 5] + [4, 5]', (s) => s.b.concatRows!([[3, 5], [1, 5], [4, 5]].map((sh, i) => s.f32(randomTensorData(sh, i), sh))), { exact: true });
        await parity('concatRows', 'u32 [7] + [2]', (s) => s.b.concatRows!([s.up(Uint32Array.from([1, 2, 3, 4, 5, 6, 0xffffffff]), [7], 'u32'), s.up(Uint32Array.from([9, 8]), [2], 'u32')]), { exact: true });
      });
    });

    const kvWriteCase = (hkv: number, sLen: number, dh: number, t: number, offset: number, seed: number) =>
      parity('kvWrite', `x [${t}, ${hkv}, ${dh}] into cache [${hkv}, ${sLen}, ${dh}] at ${offset}`, (s) => {
        const cache = s.up(randomTensorData([hkv, sLen, dh], seed), [hkv, sLen, dh], 'f32', true);
        s.b.kvWrite(cache, s.f32(randomTensorData([t, hkv, dh], seed + 1), [t, hkv, dh]), offset);
        return cache;
      }, { exact: true });

    describe('kvWrite', () => {
      caseIt('kvWrite', 'first, middle, last positions; whole cache; long cache', async () => {
        await kvWriteCase(2, 9, 16, 1, 0, 1);
        await kvWriteCase(2, 9, 16, 3, 6, 2);
        await kvWriteCase(2, 9, 16, 4, 3, 3);
        await kvWriteCase(1, 4097, 3, 2, 4095, 4);
        await kvWriteCase(3, 5, 17, 5, 0, 5);
      });
      caseIt('kvWrite:random', 'random caches and offsets (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), dim(70), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 }), fc.nat(), fc.nat(),
          (hkv, dh, sLen, t, off, seed) => kvWriteCase(hkv, Math.max(sLen, t), dh, t, off % (Math.max(sLen, t) - t + 1), seed)), runs(5));
      });
    });

    interface AttnCase { t: number; hq: number; hkv: number; dh: number; past: number; extra: number; causal?: boolean; scale?: number }
    const attentionCase = (c: AttnCase, seed: number) =>
      parity('attention', `q [${c.t}, ${c.hq}, ${c.dh}] kv [${c.hkv}, ${c.past + c.t + c.extra}, ${c.dh}] past ${c.past}${c.causal === false ? ' non-causal' : ''}${c.scale === undefined ? '' : ` scale ${c.scale}`}`, (s) => {
        const sLen = c.past + c.t + c.extra;
        const k = randomTensorData([c.hkv, sLen, c.dh], seed + 1);
        const v = randomTensorData([c.hkv, sLen, c.dh], seed + 2);
        // cache rows past past + T are stale: large values there show any read that is not masked out
        for (let h = 0; h < c.hkv; h++) for (let p = c.past + c.t; p < sLen; p++) for (let d = 0; d < c.dh; d++) k[(h * sLen + p) * c.dh + d] = v[(h * sLen + p) * c.dh + d] = 100;
        const opts = { past: c.past, ...(c.causal === undefined ? {} : { causal: c.causal }), ...(c.scale === undefined ? {} : { scale: c.scale }) };
        return s.b.attention(s.f32(randomTensorData([c.t, c.hq, c.dh], seed), [c.t, c.hq, c.dh]), s.f32(k, [c.hkv, sLen, c.dh]), s.f32(v, [c.hkv, sLen, c.dh]), opts);
      });

    describe('attention', () => {
      caseIt('attention', 'GQA Hq = 4, Hkv = 2, Dh = 16 with past 0 and past > 0, decode and prefill; MQA; MHA; odd Dh; custom scale', async () => {
        await attentionCase({ t: 1, hq: 4, hkv: 2, dh: 16, past: 0, extra: 7 }, 1);
        await attentionCase({ t: 7, hq: 4, hkv: 2, dh: 16, past: 0, extra: 2 }, 2);
        await attentionCase({ t: 1, hq: 4, hkv: 2, dh: 16, past: 5, extra: 6 }, 3);
        await attentionCase({ t: 3, hq: 4, hkv: 2, dh: 16, past: 5, extra: 0 }, 4);
        await attentionCase({ t: 1, hq: 8, hkv: 1, dh: 64, past: 33, extra: 3 }, 5);
        await attentionCase({ t: 4, hq: 3, hkv: 3, dh: 17, past: 2, extra: 1, causal: false }, 6);
        await attentionCase({ t: 2, hq: 4, hkv: 2, dh: 16, past: 3, extra: 1, scale: 0.05 }, 7);
        await attentionCase({ t: 1, hq: 2, hkv: 1, dh: 32, past: 300, extra: 19 }, 8);
        await attentionCase({ t: 5, hq: 6, hkv: 2, dh: 1, past: 1, extra: 0 }, 9);
      });
      caseIt('attention:random', 'random heads, head dims, past and T (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(
          fc.constantFrom(1, 2, 4), fc.constantFrom(1, 2, 4), fc.constantFrom(1, 3, 8, 16, 17, 64), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.nat(),
          (hkv, group, dh, past, t, extra, causal, seed) => attentionCase({ t, hq: hkv * group, hkv, dh, past, extra, causal }, seed)), runs(6));
      });
    });

    // ---- argmax, topk -------------------------------------------------------------------------------

    const argmaxCase = (rows: number, v: number, seed: number, data = distinctRows(rows, v, seed), label = '') =>
      parity('argmax', `x [${rows}, ${v}]${label}`, (s) => s.b.argmax(s.f32(data, [rows, v])), { exact: true });
    const topkCase = (rows: number, v: number, k: number, seed: number, data = distinctRows(rows, v, seed), label = '') =>
      parity('topk', `x [${rows}, ${v}] k ${k}${label}`, (s) => {
        const r = s.b.topk(s.f32(data, [rows, v]), k);
        return [r.values, r.indices];
      }, { exact: true });
    // rows with repeated maxima: the lowest index must win
    const tieRows = Float32Array.from([1, 3, 3, 2, 0.5, 7, 7, 7, 7, 1, -2, -2, -2, -3, -2, -2, -1, 0, 0, 0].concat(new Array(13).fill(0.25)));

    describe('argmax', () => {
      caseIt('argmax', 'rows of 1, 17, 4095, 4097 and 32001 distinct values', async () => {
        for (const [i, [rows, v]] of [[1, 1], [5, 17], [3, 4095], [1, 4097], [2, 32001], [1, 64]].entries()) await argmaxCase(rows!, v!, i + 1);
        await argmaxCase(1, 4097, 9, distinctRows(1, 4097, 9, 1e-3).map((x) => x - 1000), ' all near −1000');
      });
      caseIt('argmax:ties', 'exact ties go to the lowest index', async () => {
        await argmaxCase(3, 11, 0, tieRows, ' with ties');
      });
      caseIt('argmax:nan', 'NaN never wins', async () => {
        const x = distinctRows(2, 17, 3);
        x[0] = NaN;
        x[17 + 5] = NaN;
        x[17 + 16] = NaN;
        await argmaxCase(2, 17, 0, x, ' with NaN');
      });
      caseIt('argmax:random', 'random rows (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.oneof(dim(2000), fc.constantFrom(4095, 4097)), fc.nat(), (rows, v, seed) => argmaxCase(rows, v, seed)), runs(5));
      });
    });

    describe('topk', () => {
      caseIt('topk', 'k = 1, 5, 40, 50, k = V; rows of 17, 4097, 32001', async () => {
        for (const k of [1, 5, 40]) await topkCase(1, 4097, k, k);
        await topkCase(3, 17, 17, 2);
        await topkCase(2, 32001, 50, 3);
        await topkCase(4, 1, 1, 4);
        await topkCase(2, 300, 100, 5);
      });
      caseIt('topk:ties', 'exact ties keep the lower index first', async () => {
        await topkCase(3, 11, 4, 0, tieRows, ' with ties');
      });
      caseIt('topk:random', 'random rows and k (fast-check)', async () => {
        await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.oneof(dim(2000), fc.constantFrom(4095, 4097)), fc.integer({ min: 1, max: 64 }), fc.nat(),
          (rows, v, k, seed) => topkCase(rows, v, Math.min(k, v), seed)), runs(5));
      });
    });

    // ---- errors and memory --------------------------------------------------------------------------

    describe('errors', () => {
      caseIt('errors', 'invalid calls throw the same typed error (same code) as the cpu backend, synchronously', async () => {
        const cases: [string, (s: CaseInputs) => unknown][] = [
          ['matmul inner dims', (s) => s.b.matmul(s.f32(new Float32Array(6), [2, 3]), s.f32(new Float32Array(8), [4, 2]))],
          ['matmul batch axes', (s) => s.b.matmul(s.f32(new Float32Array(12), [2, 2, 3]), s.f32(new Float32Array(18), [3, 3, 2]))],
          ['matvec K', (s) => s.b.matvec(s.f32(new Float32Array(6), [2, 3]), s.f32(new Float32Array(2), [2]))],
          ['add broadcast', (s) => s.b.add(s.f32(new Float32Array(2), [2]), s.f32(new Float32Array(3), [3]))],
          ['softmax of i32', (s) => s.b.softmax(s.i32(new Int32Array(2), [2]))],
          ['rmsNorm weight', (s) => s.b.rmsNorm(s.f32(new Float32Array(3), [1, 3]), s.f32(new Float32Array(2), [2]), 1e-5)],
          ['attention heads', (s) => s.b.attention(s.f32(new Float32Array(12), [1, 3, 4]), s.f32(new Float32Array(16), [2, 2, 4]), s.f32(new Float32Array(16), [2, 2, 4]), { past: 0 })],
          ['attention past + T > S', (s) => s.b.attention(s.f32(new Float32Array(8), [1, 2, 4]), s.f32(new Float32Array(16), [2, 2, 4]), s.f32(new Float32Array(16), [2, 2, 4]), { past: 2 })],
          ['kvWrite overrun', (s) => s.b.kvWrite(s.f32(new Float32Array(16), [2, 2, 4]), s.f32(new Float32Array(16), [2, 2, 4]), 1)],
          ['topk k = 0', (s) => s.b.topk(s.f32(new Float32Array(4), [4]), 0)],
          ['topk k > V', (s) => s.b.topk(s.f32(new Float32Array(4), [4]), 5)],
          ['rope odd rotaryDim', (s) => s.b.rope(s.f32(new Float32Array(8), [1, 1, 8]), { pos0: 0, theta: 10000, rotaryDim: 3 })],
          ['qmatvec x length', (s) => s.b.qmatvec(s.quant({ bits: 4, groupSize: 32, symmetric: true }, 1, 32, randomQuantized({ bits: 4, groupSize: 32, symmetric: true }, 1, 32, 1)), s.f32(new Float32Array(31), [31]))],
          ['disposed input', (s) => { const t = s.f32(new Float32Array(2), [2]); t.dispose(); return s.b.silu(t); }],
        ];
        for (const [label, call] of cases) {
          const codes: string[] = [];
          for (const b of [ref, be] as Backend[]) {
            const s = new CaseInputs(b);
            let code = 'no error';
            try {
              const r = call(s);
              if (r && typeof r === 'object' && 'dispose' in r) (r as Tensor).dispose();
            } catch (e) {
              code = e instanceof AccelError ? e.code : `non-AccelError ${String(e)}`;
            } finally {
              s.dispose();
            }
            codes.push(code);
          }
          if (codes[0] !== codes[1]) throw new Error(`${name} ${label}: threw ${codes[1]}, the cpu backend throws ${codes[0]}`);
        }
      });
    });

    describe('memory', () => {
      caseIt('memory', 'allocatedBytes is back to its starting value once every case disposed its tensors', async () => {
        await be.sync();
        const m = be.memory();
        if (m.allocatedBytes !== baseline) throw new Error(`${name}: allocatedBytes ${m.allocatedBytes}, expected the starting ${baseline}`);
        if (m.reservedBytes < m.allocatedBytes) throw new Error(`${name}: reservedBytes ${m.reservedBytes} < allocatedBytes ${m.allocatedBytes}`);
        if (m.peakBytes < m.allocatedBytes) throw new Error(`${name}: peakBytes ${m.peakBytes} < allocatedBytes ${m.allocatedBytes}`);
      });
    });
  });
}
