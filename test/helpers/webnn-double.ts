/**
 * A test double of the W3C WebNN API (navigator.ml + MLGraphBuilder) in plain typed-array math, for machines
 * whose browser has no working WebNN. It keeps the spec's surface and rules, so that code passing here uses
 * the real API the same way:
 * - `ml.createContext({ deviceType })` resolves an MLContext (or rejects with the NotSupportedError DOMException
 *   configured for that device);
 * - `MLGraphBuilder` methods take MLOperands of their own builder, check data types against
 *   `opSupportLimits()` and shapes, and throw TypeError otherwise; `build()` resolves an MLGraph once (a second
 *   build, or an output that is an input or constant, fails) and freezes the builder;
 * - `createTensor` resolves a zero-filled MLTensor; `writeTensor` copies the bytes at the call; `dispatch`
 *   checks every tensor against the graph's descriptors (exact input/output names, data type, shape; no
 *   tensor both read and written) and queues the work; `readTensor` resolves after the queued work — the
 *   context timeline is a promise chain, so results are only ever seen asynchronously;
 * - destroyed tensors and contexts throw InvalidStateError.
 * Gaps: `maxTensorByteLength` bounds every operand and tensor (TypeError beyond it); `unsupported` removes operators from `opSupportLimits()` (and their builder methods then throw
 * TypeError, as for a data type a context lacks); `dataTypes` narrows an operand's data types.
 * Computation: f64 inside each operator, results rounded to the operand's type (float32 in f32), like a device
 * that rounds at every operator boundary. argMax keeps the first maximum and compares with `>` (so a NaN in
 * the first place stays there: the spec leaves NaN to the implementation).
 */
import { erf } from '../../engine/backends/cpu/special.js';
import type { MLContext, MLContextOptions, MLDeviceType, MLGraph, MLOpSupportLimits, MLOperand, MLOperandDataType, MLOperandDescriptor, MLTensor, MLTensorDescriptor, MLTensorLimits } from '../../engine/backends/webnn/webnn-types.js';

type Data = Float32Array | Uint16Array | Int32Array | Uint32Array | Int8Array | Uint8Array;
interface Value { dataType: MLOperandDataType; shape: number[]; data: Data }

export interface WebNNDoubleOptions {
  /** Operators this double's contexts do not support (removed from opSupportLimits; their methods throw TypeError). */
  unsupported?: string[];
  /** 'op.operand' → the only data types allowed there (e.g. { 'dequantizeLinear.input': ['int8'] }). */
  dataTypes?: Record<string, MLOperandDataType[]>;
  /** deviceType → the message createContext rejects with (a NotSupportedError DOMException). */
  failDevices?: Partial<Record<MLDeviceType, string>>;
  /** Largest operand or tensor in bytes (default 2 GiB); larger ones throw TypeError where they are made. */
  maxTensorByteLength?: number;
}

const FLOAT: MLOperandDataType[] = ['float32'];
const NUM: MLOperandDataType[] = ['float32', 'int32'];
const IO: MLOperandDataType[] = ['float32', 'float16', 'int32', 'uint32', 'int8', 'uint8'];

/** The data types this double computes, per operator and operand (rank 0 to 5 everywhere). */
const OPS: Record<string, Record<string, MLOperandDataType[]>> = {
  add: { a: NUM, b: NUM, output: NUM },
  sub: { a: NUM, b: NUM, output: NUM },
  mul: { a: NUM, b: NUM, output: NUM },
  div: { a: NUM, b: NUM, output: NUM },
  equal: { a: NUM, b: NUM, output: ['uint8'] },
  where: { condition: ['uint8'], trueValue: NUM, falseValue: NUM, output: NUM },
  matmul: { a: FLOAT, b: FLOAT, output: FLOAT },
  sqrt: { input: FLOAT, output: FLOAT },
  tanh: { input: FLOAT, output: FLOAT },
  erf: { input: FLOAT, output: FLOAT },
  sigmoid: { input: FLOAT, output: FLOAT },
  gelu: { input: FLOAT, output: FLOAT },
  softmax: { input: FLOAT, output: FLOAT },
  reduceMean: { input: FLOAT, output: FLOAT },
  layerNormalization: { input: FLOAT, scale: FLOAT, bias: FLOAT, output: FLOAT },
  argMax: { input: NUM, output: ['int32'] },
  reshape: { input: IO, output: IO },
  transpose: { input: IO, output: IO },
  slice: { input: IO, output: IO },
  concat: { inputs: IO, output: IO },
  gather: { input: IO, indices: ['int32', 'uint32'], output: IO },
  scatterND: { input: NUM, indices: ['int32'], updates: NUM, output: NUM },
  dequantizeLinear: { input: ['uint8', 'int8'], scale: FLOAT, zeroPoint: ['uint8', 'int8'], output: FLOAT },
};

const typeError = (msg: string): TypeError => new TypeError(`WebNN double: ${msg}`);
const stateError = (msg: string): DOMException => new DOMException(`WebNN double: ${msg}`, 'InvalidStateError');

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);
const stridesOf = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
};

function alloc(dataType: MLOperandDataType, n: number): Data {
  switch (dataType) {
    case 'float32': return new Float32Array(n);
    case 'float16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': return new Uint8Array(n);
    default: throw typeError(`data type ${dataType} is not supported`);
  }
}

function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d <= 0 || d > 2 ** 32 - 1)) throw typeError(`${what}: shape ${JSON.stringify(shape)} must list integers > 0`);
  return [...(shape as number[])];
}

/** Output shape of NumPy broadcasting, or a TypeError. */
function broadcast(op: string, ...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i]!;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) throw typeError(`${op}: shapes ${shapes.map((x) => `[${x}]`).join(', ')} do not broadcast`);
    }
  }
  return out;
}

/** For each element of `out`, its offset in a tensor of `shape` broadcast to it. */
function broadcastOffsets(shape: number[], out: number[]): Int32Array {
  const n = sizeOf(out);
  const offs = new Int32Array(n);
  const st = stridesOf(shape);
  const pad = out.length - shape.length;
  const outSt = stridesOf(out);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let a = pad; a < out.length; a++) {
      const idx = Math.floor(i / outSt[a]!) % out[a]!;
      if (shape[a - pad]! !== 1) off += idx * st[a - pad]!;
    }
    offs[i] = off;
  }
  return offs;
}

/** Splits a shape around `axes` for a reduction over them: outer × reduced × inner index maps. */
function reduceIndex(shape: number[], axes: number[]): { groups: number[][] } {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = sizeOf(shape);
  const groups: number[][] = Array.from({ length: sizeOf(outShape) }, () => []);
  const st = stridesOf(shape);
  const outSt = stridesOf(outShape);
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let a = 0; a < shape.length; a++) if (!axes.includes(a)) o += (Math.floor(i / st[a]!) % shape[a]!) * outSt[a]!;
    groups[o]!.push(i);
  }
  return { groups };
}

const BYTES: Partial<Record<MLOperandDataType, number>> = { float32: 4, float16: 2, int32: 4, uint32: 4, int8: 1, uint8: 1 };

function checkBytes(limits: MLOpSupportLimits, dataType: MLOperandDataType, shape: readonly number[], op: string): void {
  const bytes = sizeOf(shape) * (BYTES[dataType] ?? 8);
  if (limits.maxTensorByteLength !== undefined && bytes > limits.maxTensorByteLength) throw typeError(`${op}: ${bytes} bytes exceed maxTensorByteLength ${limits.maxTensorByteLength}`);
}

let nextId = 0;

class DoubleOperand implements MLOperand {
  readonly id = nextId++;
  constructor(
    readonly builder: DoubleGraphBuilder,
    readonly dataType: MLOperandDataType,
    readonly shape: number[],
    readonly kind: 'input' | 'constant' | 'op',
    readonly inputs: DoubleOperand[],
    readonly compute: ((vals: Value[]) => Data) | null,
    readonly name: string | null = null,
    readonly constData: Data | null = null,
  ) {}
}

class DoubleGraph implements MLGraph {
  destroyed = false;
  constructor(
    readonly context: DoubleContext,
    readonly inputs: Map<string, DoubleOperand>,
    readonly outputs: Map<string, DoubleOperand>,
  ) {}
  destroy(): void {
    this.destroyed = true;
  }
}

class DoubleTensor implements MLTensor {
  destroyed = false;
  data: Data;
  constructor(
    readonly context: DoubleContext,
    readonly dataType: MLOperandDataType,
    readonly shape: number[],
    readonly readable: boolean,
    readonly writable: boolean,
  ) {
    this.data = alloc(dataType, sizeOf(shape));
  }
  destroy(): void {
    this.destroyed = true;
  }
}

export class DoubleContext implements MLContext {
  readonly lost: Promise<{ message: string }>;
  #lose!: (info: { message: string }) => void;
  #timeline: Promise<void> = Promise.resolve();
  #destroyed = false;
  /** Counters for tests: dispatches run and graphs compiled on this context. */
  dispatches = 0;
  graphsBuilt = 0;

  constructor(readonly deviceType: MLDeviceType, readonly limits: MLOpSupportLimits) {
    this.lost = new Promise((resolve) => (this.#lose = resolve));
  }

  opSupportLimits(): MLOpSupportLimits {
    return structuredClone(this.limits);
  }

  createTensor(descriptor: MLTensorDescriptor): Promise<MLTensor> {
    try {
      this.alive();
      const shape = checkShape(descriptor.shape, 'createTensor');
      if (!this.limits.input.dataTypes.includes(descriptor.dataType)) throw typeError(`createTensor: data type ${descriptor.dataType} is not supported`);
      checkBytes(this.limits, descriptor.dataType, shape, 'createTensor');
      return Promise.resolve(new DoubleTensor(this, descriptor.dataType, shape, !!descriptor.readable, !!descriptor.writable));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  writeTensor(tensor: MLTensor, source: ArrayBufferView | ArrayBuffer): void {
    this.alive();
    const t = this.#tensor(tensor, 'writeTensor');
    if (!t.writable) throw typeError('writeTensor: the tensor is not writable');
    const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    if (bytes.byteLength !== t.data.byteLength) throw typeError(`writeTensor: ${bytes.byteLength} bytes for a tensor of ${t.data.byteLength}`);
    const copy = bytes.slice();
    this.#enqueue(() => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(copy));
  }

  readTensor(tensor: MLTensor): Promise<ArrayBuffer> {
    try {
      this.alive();
      const t = this.#tensor(tensor, 'readTensor');
      if (!t.readable) throw typeError('readTensor: the tensor is not readable');
      return new Promise((resolve, reject) => this.#enqueue(() => {
        if (t.destroyed) reject(stateError('readTensor: the tensor was destroyed'));
        else resolve(t.data.slice().buffer as ArrayBuffer);
      }));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  dispatch(graph: MLGraph, inputs: Record<string, MLTensor>, outputs: Record<string, MLTensor>): void {
    this.alive();
    if (!(graph instanceof DoubleGraph) || graph.context !== this) throw typeError('dispatch: the graph belongs to another context');
    if (graph.destroyed) throw stateError('dispatch: the graph was destroyed');
    const bind = (named: Record<string, MLTensor>, expected: Map<string, DoubleOperand>, what: string): Map<string, DoubleTensor> => {
      const names = Object.keys(named);
      if (names.length !== expected.size || names.some((n) => !expected.has(n))) throw typeError(`dispatch: ${what} are {${names.join(', ')}}, the graph has {${[...expected.keys()].join(', ')}}`);
      const m = new Map<string, DoubleTensor>();
      for (const [n, tensor] of Object.entries(named)) {
        const t = this.#tensor(tensor, 'dispatch');
        const d = expected.get(n)!;
        if (t.dataType !== d.dataType || t.shape.join() !== d.shape.join()) throw typeError(`dispatch: ${what} "${n}" is ${t.dataType} [${t.shape}], the graph expects ${d.dataType} [${d.shape}]`);
        m.set(n, t);
      }
      return m;
    };
    const ins = bind(inputs, graph.inputs, 'inputs');
    const outs = bind(outputs, graph.outputs, 'outputs');
    const outSet = new Set(outs.values());
    if (outSet.size !== outs.size) throw typeError('dispatch: one tensor is bound to two outputs');
    for (const t of ins.values()) if (outSet.has(t)) throw typeError('dispatch: a tensor is both an input and an output');
    this.dispatches++;
    this.#enqueue(() => {
      const memo = new Map<number, Data>();
      const evaluate = (o: DoubleOperand): Data => {
        let v = memo.get(o.id);
        if (v) return v;
        if (o.kind === 'input') v = ins.get(o.name!)!.data;
        else if (o.kind === 'constant') v = o.constData!;
        else v = o.compute!(o.inputs.map((x) => ({ dataType: x.dataType, shape: x.shape, data: evaluate(x) })));
        memo.set(o.id, v);
        return v;
      };
      const results = [...outs].map(([n, t]) => [t, evaluate(graph.outputs.get(n)!)] as const);
      for (const [t, data] of results) t.data.set(data as never);
    });
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#lose({ message: 'the context was destroyed' });
  }

  alive(): void {
    if (this.#destroyed) throw stateError('the context was destroyed');
  }

  #tensor(tensor: MLTensor, op: string): DoubleTensor {
    if (!(tensor instanceof DoubleTensor) || tensor.context !== this) throw typeError(`${op}: the tensor belongs to another context`);
    if (tensor.destroyed) throw stateError(`${op}: the tensor was destroyed`);
    return tensor;
  }

  #enqueue(work: () => void): void {
    // a promise job, so nothing queued is observable before the caller yields
    this.#timeline = this.#timeline.then(work);
  }
}

export class DoubleGraphBuilder {
  #context: DoubleContext;
  #built = false;
  #names = new Set<string>();

  constructor(context: MLContext) {
    if (!(context instanceof DoubleContext)) throw typeError('MLGraphBuilder needs an MLContext of this WebNN');
    context.alive();
    this.#context = context;
  }

  // ---- sources ----

  input(name: string, descriptor: MLOperandDescriptor): MLOperand {
    this.#usable();
    if (!name) throw typeError('input: the name is empty');
    if (this.#names.has(name)) throw typeError(`input: duplicate name "${name}"`);
    if (!this.#context.limits.input.dataTypes.includes(descriptor.dataType)) throw typeError(`input: data type ${descriptor.dataType} is not supported`);
    checkBytes(this.#context.limits, descriptor.dataType, descriptor.shape, 'input');
    this.#names.add(name);
    return new DoubleOperand(this, descriptor.dataType, checkShape(descriptor.shape, 'input'), 'input', [], null, name);
  }

  constant(descriptor: MLOperandDescriptor, buffer: ArrayBufferView): MLOperand {
    this.#usable();
    const shape = descriptor.shape.length === 0 ? [] : checkShape(descriptor.shape, 'constant');
    const data = alloc(descriptor.dataType, sizeOf(shape));
    if (buffer.byteLength !== data.byteLength) throw typeError(`constant: ${buffer.byteLength} bytes for ${descriptor.dataType} [${shape}]`);
    new Uint8Array(data.buffer).set(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
    return new DoubleOperand(this, descriptor.dataType, shape, 'constant', [], null, null, data);
  }

  build(outputs: Record<string, MLOperand>): Promise<MLGraph> {
    try {
      this.#usable();
      const entries = Object.entries(outputs);
      if (!entries.length) throw typeError('build: no outputs');
      const outs = new Map<string, DoubleOperand>();
      for (const [n, o] of entries) {
        const op = this.#own(o, 'build');
        if (op.kind !== 'op') throw typeError(`build: output "${n}" is an input or constant operand`);
        outs.set(n, op);
      }
      const inputs = new Map<string, DoubleOperand>();
      const seen = new Set<number>();
      const walk = (o: DoubleOperand): void => {
        if (seen.has(o.id)) return;
        seen.add(o.id);
        if (o.kind === 'input') inputs.set(o.name!, o);
        o.inputs.forEach(walk);
      };
      outs.forEach(walk);
      this.#built = true;
      this.#context.graphsBuilt++;
      const graph = new DoubleGraph(this.#context, inputs, outs);
      return new Promise((resolve) => setTimeout(() => resolve(graph), 0));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ---- element-wise ----

  add(a: MLOperand, b: MLOperand): MLOperand { return this.#binary('add', a, b, (x, y) => x + y); }
  sub(a: MLOperand, b: MLOperand): MLOperand { return this.#binary('sub', a, b, (x, y) => x - y); }
  mul(a: MLOperand, b: MLOperand): MLOperand { return this.#binary('mul', a, b, (x, y) => x * y); }
  div(a: MLOperand, b: MLOperand): MLOperand { return this.#binary('div', a, b, (x, y) => x / y); }
  equal(a: MLOperand, b: MLOperand): MLOperand { return this.#binary('equal', a, b, (x, y) => (x === y ? 1 : 0), 'uint8'); }

  where(condition: MLOperand, trueValue: MLOperand, falseValue: MLOperand): MLOperand {
    const [c, t, f] = this.#operands('where', { condition, trueValue, falseValue });
    if (t!.dataType !== f!.dataType) throw typeError('where: trueValue and falseValue differ in data type');
    const shape = broadcast('where', c!.shape, t!.shape, f!.shape);
    return this.#op('where', t!.dataType, shape, [c!, t!, f!], ([cv, tv, fv]) => {
      const out = alloc(t!.dataType, sizeOf(shape));
      const [oc, ot, of] = [cv!, tv!, fv!].map((v) => broadcastOffsets(v.shape, shape));
      for (let i = 0; i < out.length; i++) out[i] = cv!.data[oc![i]!] ? tv!.data[ot![i]!]! : fv!.data[of![i]!]!;
      return out;
    });
  }

  sqrt(x: MLOperand): MLOperand { return this.#unary('sqrt', x, Math.sqrt); }
  tanh(x: MLOperand): MLOperand { return this.#unary('tanh', x, Math.tanh); }
  erf(x: MLOperand): MLOperand { return this.#unary('erf', x, erf); }
  sigmoid(x: MLOperand): MLOperand { return this.#unary('sigmoid', x, (v) => 1 / (1 + Math.exp(-v))); }
  gelu(x: MLOperand): MLOperand { return this.#unary('gelu', x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))); }

  // ---- linear algebra and reductions ----

  matmul(a: MLOperand, b: MLOperand): MLOperand {
    const [av, bv] = this.#operands('matmul', { a, b });
    const [as, bs] = [av!.shape, bv!.shape];
    if (as.length < 2 || bs.length < 2) throw typeError('matmul: both operands need rank ≥ 2');
    const [m, k] = as.slice(-2) as [number, number];
    const [k2, n] = bs.slice(-2) as [number, number];
    if (k !== k2) throw typeError(`matmul: [${as}] · [${bs}]: inner dims differ`);
    const batch = broadcast('matmul', as.slice(0, -2), bs.slice(0, -2));
    const shape = [...batch, m, n];
    return this.#op('matmul', 'float32', shape, [av!, bv!], ([x, y]) => {
      const out = new Float32Array(sizeOf(shape));
      const oa = broadcastOffsets(as.slice(0, -2), batch);
      const ob = broadcastOffsets(bs.slice(0, -2), batch);
      for (let bi = 0; bi < sizeOf(batch); bi++) {
        const a0 = oa[bi]! * m * k;
        const b0 = ob[bi]! * k * n;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += x!.data[a0 + i * k + p]! * y!.data[b0 + p * n + j]!;
            out[(bi * m + i) * n + j] = acc;
          }
        }
      }
      return out;
    });
  }

  softmax(x: MLOperand, axis: number): MLOperand {
    const [xv] = this.#operands('softmax', { input: x });
    const rank = xv!.shape.length;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw typeError(`softmax: axis ${axis} outside rank ${rank}`);
    return this.#op('softmax', 'float32', xv!.shape, [xv!], ([v]) => {
      const out = new Float32Array(v!.data.length);
      for (const group of reduceIndex(v!.shape, [axis]).groups) {
        let max = -Infinity;
        for (const i of group) max = Math.max(max, v!.data[i]!);
        let sum = 0;
        for (const i of group) sum += Math.exp(v!.data[i]! - max);
        for (const i of group) out[i] = Math.exp(v!.data[i]! - max) / sum;
      }
      return out;
    });
  }

  reduceMean(x: MLOperand, options: { axes?: number[]; keepDimensions?: boolean } = {}): MLOperand {
    const [xv] = this.#operands('reduceMean', { input: x });
    const rank = xv!.shape.length;
    const axes = options.axes ?? [...Array(rank).keys()];
    if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= rank) || new Set(axes).size !== axes.length) throw typeError(`reduceMean: axes [${axes}] invalid for rank ${rank}`);
    const shape = options.keepDimensions ? xv!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : xv!.shape.filter((_, i) => !axes.includes(i));
    return this.#op('reduceMean', 'float32', shape, [xv!], ([v]) => {
      const { groups } = reduceIndex(v!.shape, axes);
      return Float32Array.from(groups, (g) => g.reduce((s, i) => s + v!.data[i]!, 0) / g.length);
    });
  }

  layerNormalization(x: MLOperand, options: { scale?: MLOperand; bias?: MLOperand; axes?: number[]; epsilon?: number } = {}): MLOperand {
    const named: Record<string, MLOperand> = { input: x };
    if (options.scale) named.scale = options.scale;
    if (options.bias) named.bias = options.bias;
    const [xv, ...rest] = this.#operands('layerNormalization', named);
    const rank = xv!.shape.length;
    const axes = options.axes ?? [...Array(rank).keys()].slice(1);
    const eps = options.epsilon ?? 1e-5;
    const normShape = axes.map((a) => xv!.shape[a]!);
    for (const o of rest) if (o.shape.join() !== normShape.join()) throw typeError(`layerNormalization: scale/bias [${o.shape}] must be [${normShape}]`);
    const scale = options.scale ? rest[0]! : null;
    const bias = options.bias ? rest[scale ? 1 : 0]! : null;
    return this.#op('layerNormalization', 'float32', xv!.shape, [xv!, ...rest], ([v, ...sb]) => {
      const out = new Float32Array(v!.data.length);
      const sv = scale ? sb[0]!.data : null;
      const bv = bias ? sb[scale ? 1 : 0]!.data : null;
      for (const g of reduceIndex(v!.shape, axes).groups) {
        const mean = g.reduce((s, i) => s + v!.data[i]!, 0) / g.length;
        const variance = g.reduce((s, i) => s + (v!.data[i]! - mean) ** 2, 0) / g.length;
        // group members are visited in row-major order, i.e. the order of the normalized elements
        g.forEach((i, j) => (out[i] = ((v!.data[i]! - mean) / Math.sqrt(variance + eps)) * (sv ? sv[j]! : 1) + (bv ? bv[j]! : 0)));
      }
      return out;
    });
  }

  argMax(x: MLOperand, axis: number, options: { keepDimensions?: boolean; outputDataType?: MLOperandDataType } = {}): MLOperand {
    const [xv] = this.#operands('argMax', { input: x });
    const rank = xv!.shape.length;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw typeError(`argMax: axis ${axis} outside rank ${rank}`);
    const outType = options.outputDataType ?? 'int32';
    this.#allowed('argMax', 'output', outType);
    const shape = options.keepDimensions ? xv!.shape.map((d, i) => (i === axis ? 1 : d)) : xv!.shape.filter((_, i) => i !== axis);
    return this.#op('argMax', outType, shape, [xv!], ([v]) => {
      const { groups } = reduceIndex(v!.shape, [axis]);
      return Int32Array.from(groups, (g) => {
        let best = 0;
        for (let j = 1; j < g.length; j++) if (v!.data[g[j]!]! > v!.data[g[best]!]!) best = j;
        return best;
      });
    });
  }

  // ---- data movement ----

  reshape(x: MLOperand, newShape: readonly number[]): MLOperand {
    const [xv] = this.#operands('reshape', { input: x });
    const shape = newShape.length === 0 ? [] : checkShape([...newShape], 'reshape');
    if (sizeOf(shape) !== sizeOf(xv!.shape)) throw typeError(`reshape: [${xv!.shape}] cannot become [${shape}]`);
    return this.#op('reshape', xv!.dataType, shape, [xv!], ([v]) => v!.data);
  }

  transpose(x: MLOperand, options: { permutation?: number[] } = {}): MLOperand {
    const [xv] = this.#operands('transpose', { input: x });
    const rank = xv!.shape.length;
    const perm = options.permutation ?? [...Array(rank).keys()].reverse();
    if (perm.length !== rank || [...perm].sort().some((p, i) => p !== i)) throw typeError(`transpose: permutation [${perm}] invalid for rank ${rank}`);
    const shape = perm.map((p) => xv!.shape[p]!);
    return this.#op('transpose', xv!.dataType, shape, [xv!], ([v]) => {
      const out = alloc(v!.dataType, v!.data.length);
      const inSt = stridesOf(v!.shape);
      const outSt = stridesOf(shape);
      for (let i = 0; i < out.length; i++) {
        let off = 0;
        for (let a = 0; a < rank; a++) off += (Math.floor(i / outSt[a]!) % shape[a]!) * inSt[perm[a]!]!;
        out[i] = v!.data[off]!;
      }
      return out;
    });
  }

  slice(x: MLOperand, starts: readonly number[], sizes: readonly number[]): MLOperand {
    const [xv] = this.#operands('slice', { input: x });
    const rank = xv!.shape.length;
    if (starts.length !== rank || sizes.length !== rank) throw typeError('slice: starts and sizes need one entry per axis');
    for (let a = 0; a < rank; a++) {
      if (!(sizes[a]! > 0) || starts[a]! < 0 || starts[a]! + sizes[a]! > xv!.shape[a]!) throw typeError(`slice: [${starts}] + [${sizes}] outside [${xv!.shape}]`);
    }
    const shape = [...sizes];
    return this.#op('slice', xv!.dataType, shape, [xv!], ([v]) => {
      const out = alloc(v!.dataType, sizeOf(shape));
      const inSt = stridesOf(v!.shape);
      const outSt = stridesOf(shape);
      for (let i = 0; i < out.length; i++) {
        let off = 0;
        for (let a = 0; a < rank; a++) off += (Math.floor(i / outSt[a]!) % shape[a]! + starts[a]!) * inSt[a]!;
        out[i] = v!.data[off]!;
      }
      return out;
    });
  }

  concat(inputs: MLOperand[], axis: number): MLOperand {
    if (!inputs.length) throw typeError('concat: no inputs');
    const ops = inputs.map((o) => this.#own(o, 'concat'));
    const first = ops[0]!;
    for (const o of ops) this.#allowed('concat', 'inputs', o.dataType);
    const rank = first.shape.length;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw typeError(`concat: axis ${axis} outside rank ${rank}`);
    for (const o of ops) {
      if (o.dataType !== first.dataType || o.shape.length !== rank || o.shape.some((d, i) => i !== axis && d !== first.shape[i])) throw typeError('concat: inputs differ off the axis');
    }
    const shape = first.shape.map((d, i) => (i === axis ? ops.reduce((s, o) => s + o.shape[axis]!, 0) : d));
    return this.#op('concat', first.dataType, shape, ops, (vals) => {
      const out = alloc(first.dataType, sizeOf(shape));
      const outer = sizeOf(shape.slice(0, axis));
      const inner = sizeOf(shape.slice(axis + 1));
      let pos = 0;
      for (const v of vals) {
        const w = v.shape[axis]! * inner;
        for (let o = 0; o < outer; o++) out.set(v.data.subarray(o * w, (o + 1) * w) as never, o * shape[axis]! * inner + pos);
        pos += w;
      }
      return out;
    });
  }

  gather(input: MLOperand, indices: MLOperand, options: { axis?: number } = {}): MLOperand {
    const [xv, iv] = this.#operands('gather', { input, indices });
    const axis = options.axis ?? 0;
    const rank = xv!.shape.length;
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw typeError(`gather: axis ${axis} outside rank ${rank}`);
    const shape = [...xv!.shape.slice(0, axis), ...iv!.shape, ...xv!.shape.slice(axis + 1)];
    return this.#op('gather', xv!.dataType, shape, [xv!, iv!], ([v, idx]) => {
      const out = alloc(v!.dataType, sizeOf(shape));
      const n = v!.shape[axis]!;
      const outer = sizeOf(v!.shape.slice(0, axis));
      const inner = sizeOf(v!.shape.slice(axis + 1));
      let o = 0;
      for (let a = 0; a < outer; a++) {
        for (let j = 0; j < idx!.data.length; j++) {
          // negative indices count from the end; the rest is clamped (the spec leaves out-of-range to the implementation)
          let k = Number(idx!.data[j]);
          if (k < 0) k += n;
          k = Math.min(Math.max(k, 0), n - 1);
          out.set(v!.data.subarray((a * n + k) * inner, (a * n + k + 1) * inner) as never, o);
          o += inner;
        }
      }
      return out;
    });
  }

  scatterND(input: MLOperand, indices: MLOperand, updates: MLOperand): MLOperand {
    const [xv, iv, uv] = this.#operands('scatterND', { input, indices, updates });
    const k = iv!.shape.at(-1)!;
    if (k > xv!.shape.length) throw typeError('scatterND: index tuples longer than the input rank');
    const expected = [...iv!.shape.slice(0, -1), ...xv!.shape.slice(k)];
    if (uv!.shape.join() !== expected.join() || uv!.dataType !== xv!.dataType) throw typeError(`scatterND: updates [${uv!.shape}] must be [${expected}]`);
    return this.#op('scatterND', xv!.dataType, xv!.shape, [xv!, iv!, uv!], ([v, idx, up]) => {
      const out = v!.data.slice();
      const st = stridesOf(v!.shape);
      const slab = sizeOf(v!.shape.slice(k));
      for (let r = 0; r < idx!.data.length / k; r++) {
        let off = 0;
        for (let a = 0; a < k; a++) {
          let c = Number(idx!.data[r * k + a]);
          if (c < 0) c += v!.shape[a]!;
          if (c < 0 || c >= v!.shape[a]!) continue;
          off += c * st[a]!;
        }
        out.set(up!.data.subarray(r * slab, (r + 1) * slab) as never, off);
      }
      return out;
    });
  }

  dequantizeLinear(input: MLOperand, scale: MLOperand, zeroPoint: MLOperand): MLOperand {
    const [xv, sv, zv] = this.#operands('dequantizeLinear', { input, scale, zeroPoint });
    if (zv!.dataType !== xv!.dataType) throw typeError('dequantizeLinear: zeroPoint must have the input\'s data type');
    const rank = xv!.shape.length;
    // block-wise: scale and zeroPoint have the input's rank and each of their dims divides the input's
    for (const o of [sv!, zv!]) {
      if (o.shape.length !== rank || o.shape.some((d, i) => xv!.shape[i]! % d !== 0)) throw typeError(`dequantizeLinear: [${o.shape}] does not block-divide input [${xv!.shape}]`);
    }
    if (sv!.shape.join() !== zv!.shape.join()) throw typeError('dequantizeLinear: scale and zeroPoint shapes differ');
    return this.#op('dequantizeLinear', 'float32', xv!.shape, [xv!, sv!, zv!], ([x, s, z]) => {
      const out = new Float32Array(x!.data.length);
      const st = stridesOf(x!.shape);
      const sst = stridesOf(s!.shape);
      const block = x!.shape.map((d, i) => d / s!.shape[i]!);
      for (let i = 0; i < out.length; i++) {
        let so = 0;
        for (let a = 0; a < rank; a++) so += Math.floor((Math.floor(i / st[a]!) % x!.shape[a]!) / block[a]!) * sst[a]!;
        out[i] = (x!.data[i]! - z!.data[so]!) * s!.data[so]!;
      }
      return out;
    });
  }

  // ---- internals ----

  #usable(): void {
    if (this.#built) throw stateError('the builder has already built its graph');
    this.#context.alive();
  }

  #own(o: MLOperand, op: string): DoubleOperand {
    if (!(o instanceof DoubleOperand) || o.builder !== this) throw typeError(`${op}: the operand belongs to another builder`);
    return o;
  }

  #allowed(op: string, operand: string, dataType: MLOperandDataType): void {
    const limits = this.#context.limits[op] as Record<string, MLTensorLimits> | undefined;
    if (!limits) throw typeError(`${op} is not supported by this context`);
    if (!limits[operand]?.dataTypes.includes(dataType)) throw typeError(`${op}: unsupported data type ${dataType} for ${operand}`);
  }

  /** Checks ownership, support and data types of named operands; returns them in order. */
  #operands(op: string, named: Record<string, MLOperand>): DoubleOperand[] {
    this.#usable();
    return Object.entries(named).map(([operand, o]) => {
      const d = this.#own(o, op);
      this.#allowed(op, operand, d.dataType);
      return d;
    });
  }

  #op(op: string, dataType: MLOperandDataType, shape: number[], inputs: DoubleOperand[], compute: (vals: Value[]) => Data): MLOperand {
    this.#allowed(op, 'output', dataType);
    checkBytes(this.#context.limits, dataType, shape, op);
    return new DoubleOperand(this, dataType, shape, 'op', inputs, compute);
  }

  #binary(op: string, a: MLOperand, b: MLOperand, f: (x: number, y: number) => number, outType?: MLOperandDataType): MLOperand {
    const [av, bv] = this.#operands(op, { a, b });
    if (av!.dataType !== bv!.dataType) throw typeError(`${op}: a is ${av!.dataType}, b is ${bv!.dataType}`);
    const shape = broadcast(op, av!.shape, bv!.shape);
    const type = outType ?? av!.dataType;
    return this.#op(op, type, shape, [av!, bv!], ([x, y]) => {
      const out = alloc(type, sizeOf(shape));
      const oa = broadcastOffsets(x!.shape, shape);
      const ob = broadcastOffsets(y!.shape, shape);
      for (let i = 0; i < out.length; i++) out[i] = f(x!.data[oa[i]!]!, y!.data[ob[i]!]!);
      return out;
    });
  }

  #unary(op: string, x: MLOperand, f: (v: number) => number): MLOperand {
    const [xv] = this.#operands(op, { input: x });
    return this.#op(op, xv!.dataType, xv!.shape, [xv!], ([v]) => Float32Array.from(v!.data as Float32Array, f));
  }
}

/** The limits a context of this double reports, with the configured gaps. */
function limitsFor(options: WebNNDoubleOptions): MLOpSupportLimits {
  const rankRange = { min: 0, max: 5 };
  const limits: MLOpSupportLimits = {
    preferredInputLayout: 'nchw',
    maxTensorByteLength: options.maxTensorByteLength ?? 2 ** 31,
    input: { dataTypes: [...IO], rankRange },
    constant: { dataTypes: [...IO], rankRange },
    output: { dataTypes: [...IO], rankRange },
  };
  for (const [op, operands] of Object.entries(OPS)) {
    if (options.unsupported?.includes(op)) continue;
    limits[op] = Object.fromEntries(Object.entries(operands).map(([name, types]) => [name, { dataTypes: [...(options.dataTypes?.[`${op}.${name}`] ?? types)], rankRange }]));
  }
  return limits;
}

export interface WebNNDouble {
  ml: { createContext(options?: MLContextOptions): Promise<MLContext> };
  MLGraphBuilder: typeof DoubleGraphBuilder;
  /** Every context created so far (for counters). */
  contexts: DoubleContext[];
  /** Exposes the double as a browser would: navigator.ml and globalThis.MLGraphBuilder. Returns the undo. */
  install(): () => void;
}

export function createWebNNDouble(options: WebNNDoubleOptions = {}): WebNNDouble {
  const contexts: DoubleContext[] = [];
  const ml = {
    async createContext(opts: MLContextOptions = {}): Promise<MLContext> {
      const deviceType = opts.deviceType ?? 'cpu';
      if (!['cpu', 'gpu', 'npu'].includes(deviceType)) throw typeError(`createContext: unknown deviceType ${String(deviceType)}`);
      const fail = options.failDevices?.[deviceType];
      if (fail !== undefined) throw new DOMException(fail, 'NotSupportedError');
      const ctx = new DoubleContext(deviceType, limitsFor(options));
      contexts.push(ctx);
      return ctx;
    },
  };
  const install = (): (() => void) => {
    const g = globalThis as { navigator?: object; MLGraphBuilder?: unknown };
    const nav = g.navigator ?? {};
    const had = { ml: Object.getOwnPropertyDescriptor(nav, 'ml'), builder: Object.getOwnPropertyDescriptor(g, 'MLGraphBuilder'), navigator: g.navigator !== undefined };
    if (!had.navigator) Object.defineProperty(g, 'navigator', { value: nav, configurable: true, writable: true });
    Object.defineProperty(nav, 'ml', { value: ml, configurable: true });
    Object.defineProperty(g, 'MLGraphBuilder', { value: DoubleGraphBuilder, configurable: true, writable: true });
    return () => {
      if (had.ml) Object.defineProperty(nav, 'ml', had.ml);
      else delete (nav as { ml?: unknown }).ml;
      if (had.builder) Object.defineProperty(g, 'MLGraphBuilder', had.builder);
      else delete g.MLGraphBuilder;
      if (!had.navigator) delete g.navigator;
    };
  };
  return { ml, MLGraphBuilder: DoubleGraphBuilder, contexts, install };
}
