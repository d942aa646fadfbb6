import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MLContext, MLGraphBuilder } from '../../engine/backends/webnn/webnn-types.js';
import { createWebNNDouble } from '../helpers/webnn-double.js';

// The navigator.ml double keeps the spec's rules, so code that passes on it uses WebNN as a browser expects.

async function setup(options: Parameters<typeof createWebNNDouble>[0] = {}): Promise<{ ctx: MLContext; builder: () => MLGraphBuilder }> {
  const d = createWebNNDouble(options);
  const ctx = await d.ml.createContext({ deviceType: 'gpu' });
  return { ctx, builder: () => new d.MLGraphBuilder(ctx) as unknown as MLGraphBuilder };
}

const isName = (name: string) => (e: unknown): boolean => e instanceof Error && e.name === name;

test('graph round trip: build, dispatch, readTensor — the result only shows after the queued work', async () => {
  const { ctx, builder } = await setup();
  const b = builder();
  const x = b.input('x', { dataType: 'float32', shape: [2, 2] });
  const graph = await b.build({ y: b.matmul(x, b.constant({ dataType: 'float32', shape: [2, 1] }, Float32Array.of(1, 10))) });
  const xt = await ctx.createTensor({ dataType: 'float32', shape: [2, 2], writable: true });
  const yt = await ctx.createTensor({ dataType: 'float32', shape: [2, 1], readable: true });
  ctx.writeTensor(xt, Float32Array.of(1, 2, 3, 4));
  ctx.dispatch(graph, { x: xt }, { y: yt });
  assert.deepEqual(Array.from(new Float32Array(await ctx.readTensor(yt))), [21, 43]);
});

test('builder and dispatch errors: TypeError for bad operands, descriptors and bindings; InvalidStateError after build or destroy', async () => {
  const { ctx, builder } = await setup({ unsupported: ['gelu'], dataTypes: { 'softmax.input': ['float16'] } });
  const b = builder();
  const x = b.input('x', { dataType: 'float32', shape: [2, 3] });
  assert.throws(() => b.input('x', { dataType: 'float32', shape: [1] }), TypeError, 'duplicate input name');
  assert.throws(() => b.gelu(x), TypeError, 'operator missing from opSupportLimits');
  assert.throws(() => b.softmax(x, 1), TypeError, 'data type missing from opSupportLimits');
  assert.throws(() => b.matmul(x, x), TypeError, 'inner dims');
  assert.throws(() => b.reshape(x, [4]), TypeError);
  assert.throws(() => builder().sigmoid(x), TypeError, 'operand of another builder');
  await assert.rejects(b.build({ x }), TypeError, 'an input as output');
  const graph = await b.build({ y: b.sigmoid(x) });
  assert.throws(() => b.sigmoid(x), isName('InvalidStateError'));
  await assert.rejects(b.build({ y: x }), isName('InvalidStateError'));
  assert.equal(ctx.opSupportLimits().gelu, undefined);

  const t23 = await ctx.createTensor({ dataType: 'float32', shape: [2, 3], readable: true, writable: true });
  const t6 = await ctx.createTensor({ dataType: 'float32', shape: [6], readable: true, writable: true });
  const out = await ctx.createTensor({ dataType: 'float32', shape: [2, 3], readable: true });
  assert.throws(() => ctx.dispatch(graph, { x: t6 }, { y: out }), TypeError, 'shape differs from the graph input');
  assert.throws(() => ctx.dispatch(graph, { x: t23, z: t23 }, { y: out }), TypeError, 'unknown input name');
  assert.throws(() => ctx.dispatch(graph, { x: t23 }, { y: t23 }), TypeError, 'same tensor in and out');
  assert.throws(() => ctx.writeTensor(out, new Float32Array(6)), TypeError, 'not writable');
  assert.throws(() => ctx.writeTensor(t23, new Float32Array(5)), TypeError, 'wrong byte length');
  await assert.rejects(ctx.createTensor({ dataType: 'float32', shape: [0] }), TypeError);
  t6.destroy();
  await assert.rejects(ctx.readTensor(t6), isName('InvalidStateError'));
  ctx.destroy();
  assert.deepEqual(await ctx.lost, { message: 'the context was destroyed' });
  assert.throws(() => ctx.dispatch(graph, { x: t23 }, { y: out }), isName('InvalidStateError'));
  await assert.rejects(createWebNNDouble({ failDevices: { gpu: 'nope' } }).ml.createContext({ deviceType: 'gpu' }), (e: unknown) => e instanceof DOMException && e.name === 'NotSupportedError' && e.message === 'nope');
});

test('operators: broadcasting, block-wise dequantizeLinear, scatterND, gather, argMax first maximum', async () => {
  const { ctx, builder } = await setup();
  const b = builder();
  const a = b.input('a', { dataType: 'float32', shape: [2, 1] });
  const q = b.constant({ dataType: 'uint8', shape: [2, 4] }, Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7));
  const dq = b.dequantizeLinear(q, b.constant({ dataType: 'float32', shape: [2, 2] }, Float32Array.of(1, 2, 3, 4)), b.constant({ dataType: 'uint8', shape: [2, 2] }, Uint8Array.of(1, 1, 0, 0)));
  const sc = b.scatterND(b.constant({ dataType: 'float32', shape: [3, 2] }, new Float32Array(6)), b.constant({ dataType: 'int32', shape: [1, 1] }, Int32Array.of(2)), b.constant({ dataType: 'float32', shape: [1, 2] }, Float32Array.of(5, 6)));
  const ga = b.gather(b.constant({ dataType: 'float32', shape: [3, 1] }, Float32Array.of(7, 8, 9)), b.constant({ dataType: 'int32', shape: [3] }, Int32Array.of(2, -1, 0)), { axis: 0 });
  const am = b.argMax(b.constant({ dataType: 'float32', shape: [1, 4] }, Float32Array.of(1, 3, 3, 2)), 1);
  const graph = await b.build({ sum: b.add(a, b.constant({ dataType: 'float32', shape: [3] }, Float32Array.of(1, 2, 3))), dq, sc, ga, am });
  const at = await ctx.createTensor({ dataType: 'float32', shape: [2, 1], writable: true });
  ctx.writeTensor(at, Float32Array.of(10, 20));
  const outs = {
    sum: await ctx.createTensor({ dataType: 'float32', shape: [2, 3], readable: true }),
    dq: await ctx.createTensor({ dataType: 'float32', shape: [2, 4], readable: true }),
    sc: await ctx.createTensor({ dataType: 'float32', shape: [3, 2], readable: true }),
    ga: await ctx.createTensor({ dataType: 'float32', shape: [3, 1], readable: true }),
    am: await ctx.createTensor({ dataType: 'int32', shape: [1], readable: true }),
  };
  ctx.dispatch(graph, { a: at }, outs);
  const f = async (t: keyof typeof outs): Promise<number[]> => Array.from(t === 'am' ? new Int32Array(await ctx.readTensor(outs[t])) : new Float32Array(await ctx.readTensor(outs[t])));
  assert.deepEqual(await f('sum'), [11, 12, 13, 21, 22, 23]);
  assert.deepEqual(await f('dq'), [-1, 0, 2, 4, 12, 15, 24, 28]);
  assert.deepEqual(await f('sc'), [0, 0, 0, 0, 5, 6]);
  assert.deepEqual(await f('ga'), [9, 9, 7]);
  assert.deepEqual(await f('am'), [1]);
});
