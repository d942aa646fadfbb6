import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { createBackend } from '../../engine/backends/registry.js';
import { createWebNNBackend, type WebNNBackend } from '../../engine/backends/webnn/index.js';
import { AccelError, BackendUnavailableError } from '../../engine/errors.js';
import { parseModelConfig, type BertConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { parseGguf } from '../../engine/formats/gguf.js';
import { ggufLlamaConfig } from '../../engine/formats/gguf-llama.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { BertModel } from '../../engine/models/bert/bert.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { ggufStore, safetensorsStore } from '../../engine/models/stores.js';
import { disposeQuantized } from '../../engine/quant/quantized-tensor.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import { cosine, maxAbsDiff } from '../helpers/compare.js';
import { randomQuantized, randomTensorData } from '../helpers/random.js';
import { createWebNNDouble, type WebNNDoubleOptions } from '../helpers/webnn-double.js';

// The WebNN backend on the spec-faithful navigator.ml double (test/helpers/webnn-double.ts): reference logits
// of the shipped models, fallbacks when the context lacks an operator or data type, graph caching, errors.

const root = new URL('../../', import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, root));
const json = <T>(path: string): T => JSON.parse(read(path).toString('utf8')) as T;

async function webnn(options: WebNNDoubleOptions = {}, deviceType: 'cpu' | 'gpu' | 'npu' = 'gpu', fuse = true): Promise<WebNNBackend> {
  const d = createWebNNDouble(options);
  return createWebNNBackend({ ml: d.ml, builder: d.MLGraphBuilder, deviceType, fuse });
}

async function f32(be: { download(t: Tensor): Promise<unknown> }, t: Tensor): Promise<Float32Array> {
  const out = (await be.download(t)) as Float32Array;
  t.dispose();
  return out;
}

interface LmPrompt { name: string; input_ids: number[]; argmax: number[]; last_logits: number[]; greedy: { tokens: number[] } }

const llamaConfig = parseModelConfig(read('models/tiny-llama/config.json').toString('utf8')) as LlamaConfig;
const llamaBytes = new Uint8Array(read('models/tiny-llama/model.safetensors'));
const llamaStore = safetensorsStore([{ header: parseSafetensors(llamaBytes), bytes: llamaBytes }]);
const llamaRef = json<{ prompts: LmPrompt[]; gguf: Record<'q8_0' | 'q4_0', { prompts: LmPrompt[] }> }>('test/fixtures/models/tiny-llama/reference.json');

function argmaxRows(x: Float32Array, rows: number, v: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let j = 1; j < v; j++) if (x[r * v + j]! > x[r * v + best]!) best = j;
    return best;
  });
}

async function checkLlamaLogits(model: LlamaModel, prompts: LmPrompt[], tolerance: number): Promise<void> {
  const v = llamaConfig.vocabSize;
  for (const p of prompts) {
    model.resetCache();
    const logits = await f32(model.backend, model.forward(Int32Array.from(p.input_ids), { allLogits: true }));
    const t = p.input_ids.length;
    const err = maxAbsDiff(logits.subarray((t - 1) * v, t * v), p.last_logits);
    assert.ok(err <= tolerance, `${p.name}: last-position logits max |error| ${err} > ${tolerance}`);
    assert.deepEqual(argmaxRows(logits, t, v), p.argmax, `${p.name} argmax at every position`);
  }
}

describe('webnn backend: shipped models on the navigator.ml double', () => {
  test('tiny-llama: PyTorch reference logits within 1e-3, one graph per op or per step; greedy decode through the KV cache, one cached graph and dispatch a step', async () => {
    const perOp = await webnn({}, 'gpu', false);
    const perOpModel = new LlamaModel(perOp, llamaConfig, llamaStore, { maxSequence: 128 });
    try {
      await checkLlamaLogits(perOpModel, llamaRef.prompts, 1e-3);
      assert.equal(perOp.stats().fusedDispatches, 0);
      assert.ok(perOp.stats().dispatches > 100 * llamaRef.prompts.length, `${perOp.stats().dispatches} dispatches, one an op`);
    } finally {
      perOpModel.dispose();
      perOp.dispose();
    }
    const be = await webnn();
    const model = new LlamaModel(be, llamaConfig, llamaStore, { maxSequence: 128 });
    try {
      await checkLlamaLogits(model, llamaRef.prompts, 1e-3);
      assert.equal(be.stats().dispatches, llamaRef.prompts.length, 'each forward pass ran as one fused graph');
      assert.deepEqual(be.fallbacks(), [{ op: 'topk', reason: 'WebNN has no top-k operator' }], 'only top-k falls back on a full context');
      // greedy decode token by token: the argmax op, the KV-cache scatter and the masked attention on WebNN
      const p = llamaRef.prompts[0]!;
      model.resetCache();
      let logits = model.forward(Int32Array.from(p.input_ids));
      const tokens: number[] = [];
      let graphsAfterTwo = 0;
      let buffersAfterTwo = 0;
      let dispatchesAfterTwo = 0;
      for (let i = 0; i < 16; i++) {
        const next = be.argmax(logits);
        logits.dispose();
        const id = ((await be.download(next)) as Int32Array)[0]!;
        next.dispose();
        tokens.push(id);
        if (i === 2) {
          graphsAfterTwo = be.stats().graphsBuilt;
          buffersAfterTwo = be.memory().buffersCreated;
          dispatchesAfterTwo = be.stats().dispatches;
        }
        logits = model.forward(Int32Array.of(id));
      }
      logits.dispose();
      assert.deepEqual(tokens, p.greedy.tokens.slice(0, 16));
      assert.equal(be.stats().graphsBuilt, graphsAfterTwo, 'decode steps 3–16 built no new graph');
      assert.equal(be.memory().buffersCreated, buffersAfterTwo, 'decode steps 3–16 created no new MLTensor');
      assert.equal(be.stats().dispatches - dispatchesAfterTwo, 13, 'one dispatch a step (forward + argmax as one graph)');
      assert.equal(be.stats().fallbackRuns, 0, 'nothing ran on the cpu backend');
    } finally {
      model.dispose();
      be.dispose();
    }
  });

  test('tiny-llama GGUF q8_0: 8-bit weights through dequantizeLinear match the q8_0 reference; q4_0 falls back per op and matches too', async () => {
    for (const q of ['q8_0', 'q4_0'] as const) {
      const bytes = new Uint8Array(read(`models/tiny-llama/tiny-llama-${q}.gguf`));
      const header = parseGguf(bytes, `tiny-llama-${q}.gguf`);
      const config = ggufLlamaConfig(header);
      const be = await webnn();
      const model = new LlamaModel(be, config, ggufStore(header, bytes, config), { maxSequence: 64 });
      try {
        await checkLlamaLogits(model, llamaRef.gguf[q].prompts, 1e-3);
        const quantFallbacks = be.fallbacks().filter((f) => f.op.startsWith('qmatvec'));
        if (q === 'q8_0') {
          assert.deepEqual(quantFallbacks, [], 'int8 weights run as WebNN graphs');
          assert.equal(be.stats().fallbackRuns, 0);
        } else {
          assert.ok(quantFallbacks.length > 0 && quantFallbacks.every((f) => /^qmatvec int4 g32 sym$/.test(f.op) && /4-bit/.test(f.reason)), JSON.stringify(quantFallbacks));
          assert.ok(be.stats().fallbackRuns > 0);
        }
      } finally {
        model.dispose();
        be.dispose();
      }
    }
  });

  test('tiny-bert: last hidden state within 1e-3 of PyTorch, CLS and mean cosine ≥ 0.9999 (native and composed layer norm)', async () => {
    interface BertInput { name: string; input_ids: number[]; token_type_ids: number[]; last_hidden_state: number[][]; cls: number[]; mean_pooled: number[] }
    const config = parseModelConfig(read('models/tiny-bert/config.json').toString('utf8')) as BertConfig;
    const bytes = new Uint8Array(read('models/tiny-bert/model.safetensors'));
    const store = safetensorsStore([{ header: parseSafetensors(bytes), bytes }]);
    const ref = json<{ inputs: BertInput[] }>('test/fixtures/models/tiny-bert/reference.json');
    for (const options of [{}, { unsupported: ['layerNormalization', 'gelu'] }] as WebNNDoubleOptions[]) {
      const be = await webnn(options, 'npu');
      const model = new BertModel(be, config, store);
      try {
        assert.equal(be.plan.layerNormNative, !options.unsupported);
        assert.equal(be.plan.geluErfNative, !options.unsupported);
        for (const input of ref.inputs) {
          const out = await model.embed(Int32Array.from(input.input_ids), Int32Array.from(input.token_type_ids));
          const d = out.hiddenSize;
          input.last_hidden_state.forEach((row, i) => {
            const err = maxAbsDiff(out.lastHiddenState.subarray(i * d, (i + 1) * d), row);
            assert.ok(err <= 1e-3, `${input.name} token ${i}: max |error| ${err}`);
          });
          assert.ok(cosine(out.cls, input.cls) >= 0.9999, `${input.name} CLS`);
          assert.ok(cosine(out.mean, input.mean_pooled) >= 0.9999, `${input.name} mean`);
        }
        // composed norms and erf are not fallbacks: everything still ran as graphs
        assert.equal(be.stats().fallbackRuns, 0);
      } finally {
        model.dispose();
        be.dispose();
      }
    }
  });
});

describe('webnn backend: operator support and fallbacks', () => {
  test('an operator or data type the context lacks sends that op to the cpu backend, with the reason recorded, and results stay right', async () => {
    const be = await webnn({ unsupported: ['scatterND', 'argMax'], dataTypes: { 'dequantizeLinear.input': ['int8'] } });
    const cpu = new CpuBackend();
    try {
      const ops = be.fallbacks().map((f) => f.op).sort();
      assert.deepEqual(ops, ['argmax', 'kvWrite', 'qmatvec int8', 'topk']);
      const reason = (op: string): string => be.fallbacks().find((f) => f.op === op)!.reason;
      assert.equal(reason('kvWrite'), 'operator scatterND is not supported by this context');
      assert.equal(reason('argmax'), 'operator argMax is not supported by this context');
      assert.equal(reason('qmatvec int8'), 'dequantizeLinear.input: no uint8 (supports int8)');

      // kvWrite in place through the fallback, then attention (a graph) reading the updated cache
      const cacheData = randomTensorData([2, 6, 8], 1);
      const x = randomTensorData([2, 2, 8], 2);
      const q = randomTensorData([2, 4, 8], 3);
      const run = async (b: CpuBackend | WebNNBackend): Promise<[Float32Array, Float32Array]> => {
        const cache = b.upload(cacheData, [2, 6, 8]);
        const xt = b.upload(x, [2, 2, 8]);
        b.kvWrite(cache, xt, 3);
        const qt = b.upload(q, [2, 4, 8]);
        const o = b.attention(qt, cache, cache, { past: 3 });
        const am = b.argmax(o);
        const out = [await f32(b, o), Float32Array.from((await b.download(am)) as Int32Array)] as [Float32Array, Float32Array];
        for (const t of [cache, xt, qt, am]) t.dispose();
        return out;
      };
      const [got, want] = [await run(be), await run(cpu)];
      assert.ok(maxAbsDiff(got[0], want[0]) < 1e-5);
      assert.deepEqual(got[1], want[1]);
      assert.ok(be.stats().fallbackRuns >= 2 && be.stats().dispatches >= 1);

      // int8 weights when dequantizeLinear takes no uint8: the qmatvec falls back, with the same result
      const f = { bits: 8, groupSize: 32, symmetric: false } as const;
      const p = randomQuantized(f, 5, 64, 4);
      const xv = randomTensorData([64], 5);
      const qa = be.uploadQuantized(f, [5, 64], p.data, p.scales, p.mins);
      const qb = cpu.uploadQuantized(f, [5, 64], p.data, p.scales, p.mins);
      const ya = await f32(be, be.qmatvec(qa, be.upload(xv, [64])));
      const yb = await f32(cpu, cpu.qmatvec(qb, cpu.upload(xv, [64])));
      assert.ok(maxAbsDiff(ya, yb) < 1e-4);
      disposeQuantized(qa);
      disposeQuantized(qb);
      assert.ok(be.fallbacks().some((x) => x.op === 'qmatvec int8 g32 asym' && /no uint8/.test(x.reason)));
    } finally {
      be.dispose();
      cpu.dispose();
    }
  });

  test('a graph the context refuses to build (an operand beyond maxTensorByteLength) runs on the cpu, is recorded, and is not tried again', async () => {
    const be = await webnn({ maxTensorByteLength: 4096 });
    const cpu = new CpuBackend();
    try {
      const small = [randomTensorData([3, 5], 1), randomTensorData([5, 4], 2)] as const;
      const big = [randomTensorData([40, 40], 3), randomTensorData([40, 40], 4)] as const;
      const mm = async (b: CpuBackend | WebNNBackend, [a, c]: readonly [Float32Array, Float32Array], m: number, k: number, n: number): Promise<Float32Array> =>
        f32(b, b.matmul(b.upload(a, [m, k]), b.upload(c, [k, n])));
      assert.ok(maxAbsDiff(await mm(be, small, 3, 5, 4), await mm(cpu, small, 3, 5, 4)) < 1e-5);
      assert.equal(be.stats().fallbackRuns, 0);
      for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(await mm(be, big, 40, 40, 40), await mm(cpu, big, 40, 40, 40)) < 1e-4);
      assert.equal(be.stats().fallbackRuns, 2);
      assert.equal(be.stats().graphsBuilt, 2, 'the refused graph was tried once');
      const f = be.fallbacks().find((x) => x.op === 'matmul')!;
      assert.match(f.reason, /^its matmul graph \[1 40 40 40 true false\] was refused \(TypeError: WebNN double: input: 6400 bytes exceed maxTensorByteLength 4096\)$/);
    } finally {
      be.dispose();
      cpu.dispose();
    }
  });

  test('a context without float32 matmul runs every matmul on the cpu backend', async () => {
    const be = await webnn({ dataTypes: { 'matmul.a': ['float16'], 'matmul.b': ['float16'] } });
    try {
      const reasons = Object.fromEntries(be.fallbacks().map((f) => [f.op, f.reason]));
      for (const op of ['matmul', 'matvec', 'attention', 'qmatvec int8']) assert.equal(reasons[op], 'matmul.a: no float32 (supports float16)', op);
      const a = be.upload(Float32Array.of(1, 2, 3, 4), [2, 2]);
      const out = await f32(be, be.matmul(a, a));
      assert.deepEqual(Array.from(out), [7, 10, 15, 22]);
      a.dispose();
    } finally {
      be.dispose();
    }
  });
});

describe('webnn backend: fused graphs', () => {
  test('a run of ops between flush points is one graph: dead results are pruned, live ones become outputs, a cpu op cuts the run', async () => {
    const be = await webnn();
    const cpu = new CpuBackend();
    try {
      const [x, y, w] = [randomTensorData([3, 8], 1), randomTensorData([8], 2), randomTensorData([8], 3)];
      const run = (b: CpuBackend | WebNNBackend): { kept: Tensor; out: Tensor; dead: Tensor } => {
        const xt = b.upload(x, [3, 8]);
        const s = b.add(xt, b.upload(y, [8]));
        const kept = b.silu(s);
        const dead = b.softmax(s);
        const out = b.rmsNorm(b.mul(kept, kept), b.upload(w, [8]), 1e-5);
        s.dispose();
        xt.dispose();
        return { kept, out, dead };
      };
      const a = run(be);
      const r = run(cpu);
      a.dead.dispose();
      r.dead.dispose();
      const before = be.stats();
      assert.ok(maxAbsDiff(await f32(be, a.out), await f32(cpu, r.out)) < 1e-5);
      assert.ok(maxAbsDiff(await f32(be, a.kept), await f32(cpu, r.kept)) < 1e-6, 'an intermediate still alive is an output of the fused graph');
      assert.equal(be.stats().dispatches - before.dispatches, 1);
      assert.equal(be.stats().fusedDispatches - before.fusedDispatches, 1);

      // top-k runs on the cpu: the graph ops before it run first, as one graph, and the ones after it as another
      const t = be.upload(x, [3, 8]);
      const top = be.topk(be.silu(t), 2);
      const after = be.add(top.values, top.values);
      const ref = cpu.topk(cpu.silu(cpu.upload(x, [3, 8])), 2);
      assert.deepEqual(Array.from((await be.download(top.indices)) as Int32Array), Array.from((await cpu.download(ref.indices)) as Int32Array));
      const twice = await f32(be, after);
      const refValues = (await cpu.download(ref.values)) as Float32Array;
      twice.forEach((v, i) => assert.ok(Math.abs(v - 2 * refValues[i]!) < 1e-6));
    } finally {
      be.dispose();
      cpu.dispose();
    }
  });
});

describe('webnn backend: errors and life cycle', () => {
  test('createContext failures become BackendUnavailableError with the browser message; missing navigator.ml too', async () => {
    const d = createWebNNDouble({ failDevices: { npu: 'No NPU was found.' } });
    await assert.rejects(createWebNNBackend({ ml: d.ml, builder: d.MLGraphBuilder, deviceType: 'npu' }), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError);
      assert.match(e.message, /no npu MLContext could be created \(NotSupportedError: No NPU was found\.\)/);
      return true;
    });
    await assert.rejects(createWebNNBackend({ ml: null }), (e: unknown) => e instanceof BackendUnavailableError && /navigator\.ml is not defined/.test(e.message));
    await assert.rejects(createBackend('webnn', { ml: null }), BackendUnavailableError);
    // through the registry, as a page gets it: navigator.ml and the global MLGraphBuilder
    const uninstall = d.install();
    try {
      const be = await createBackend('webnn', { webnnDeviceType: 'cpu' });
      assert.equal(be.name, 'webnn');
      assert.equal((be as WebNNBackend).deviceType, 'cpu');
      assert.equal(d.contexts.at(-1)!.deviceType, 'cpu');
      be.dispose();
    } finally {
      uninstall();
    }
    assert.equal((globalThis as { MLGraphBuilder?: unknown }).MLGraphBuilder, undefined);
  });

  test('argument errors are thrown at the call; an id out of range found on the device rejects the download', async () => {
    const be = await webnn();
    try {
      const table = be.upload(randomTensorData([4, 3], 1), [4, 3]);
      assert.throws(() => be.embedding(table, be.upload(Int32Array.of(0, 4), [2])), (e: unknown) => e instanceof AccelError && e.code === 'invalid-argument');
      // ids made on the device (argmax of a row whose max sits at index 5 > 3 rows): checked in the queue
      const ids = be.argmax(be.upload(Float32Array.of(0, 0, 0, 0, 0, 9), [1, 6]));
      const out = be.embedding(table, ids);
      await assert.rejects(be.download(out), /embedding: id 5 at position 0 is outside the table's 4 rows/);
      const after = be.silu(out);
      await assert.rejects(be.download(after), /id 5/, 'the failure propagates to dependent ops');
      await assert.rejects(be.sync(), /id 5/);
      await be.sync();
      const x = be.upload(Float32Array.of(1, 2), [2]);
      x.dispose();
      assert.throws(() => be.silu(x), (e: unknown) => e instanceof AccelError && e.code === 'disposed');
    } finally {
      be.dispose();
    }
    assert.throws(() => be.zeros([1], 'f32'), (e: unknown) => e instanceof AccelError && e.code === 'disposed');
  });

  test('disposing an input right after the op is safe; memory returns to its start and pooled MLTensors are reused', async () => {
    const be = await webnn();
    try {
      const start = be.memory().allocatedBytes;
      const run = async (): Promise<number[]> => {
        const x = be.upload(Float32Array.of(-1, 0, 1, 2), [4]);
        const y = be.silu(x);
        x.dispose();
        return Array.from(await f32(be, y));
      };
      const first = await run();
      const created = be.memory().buffersCreated;
      for (let i = 0; i < 5; i++) assert.deepEqual(await run(), first);
      assert.equal(be.memory().buffersCreated, created, 'later runs reuse pooled MLTensors');
      await be.sync();
      assert.equal(be.memory().allocatedBytes, start);
      assert.ok(be.memory().pooledBuffers > 0);
      const silu = (v: number): number => v / (1 + Math.exp(-v));
      first.forEach((v, i) => assert.ok(Math.abs(v - silu([-1, 0, 1, 2][i]!)) < 1e-6));
    } finally {
      be.dispose();
    }
  });
});
