import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import type { Backend } from '../../engine/backends/backend.js';
import { createWasmBackend } from '../../engine/backends/wasm/index.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { QuantFormat } from '../../engine/quant/layout.js';
import { expectClose, expectEqualArrays, randomInts, randomQuantized, randomTensorData } from '../helpers/random.js';

// The SharedArrayBuffer worker pool on Node worker_threads sharing one WebAssembly.Memory, ops recorded and run
// on flush (the browser lane runs it too, under COOP/COEP). These ran on demand only until the barrier's race
// was found: a spin loop that V8's Liftoff tier let exit early (see barrier() in assembly/index.ts); the stress
// case below failed on its first batches then, with four copies of this file running at once.
const THREADS = 3;
let be: Backend & { threads?: number };
let ref: CpuBackend;

before(async () => {
  be = await createWasmBackend({ threads: THREADS });
  ref = new CpuBackend();
});
after(() => {
  be?.dispose();
  ref?.dispose();
});

async function both(run: (b: Backend) => import('../../engine/tensor/tensor.js').Tensor): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const a = run(be);
  const e = run(ref);
  const out: [ArrayLike<number>, ArrayLike<number>] = [await be.download(a), await ref.download(e)];
  a.dispose();
  e.dispose();
  return out;
}

test('the pool really runs on worker threads over a shared memory', () => {
  assert.equal(be.threads, THREADS);
});

test('matmul, transB and batched, split over the pool, matches the cpu backend', async () => {
  for (const [B, M, K, N, transB] of [[1, 67, 33, 45, false], [3, 5, 17, 130, true], [2, 130, 64, 9, false], [1, 1, 4097, 3, true]] as const) {
    const a = randomTensorData([B, M, K], 1);
    const b = randomTensorData(transB ? [B, N, K] : [B, K, N], 2);
    const [got, want] = await both((x) => x.matmul(x.upload(a, [B, M, K]), x.upload(b, transB ? [B, N, K] : [B, K, N]), { transB }));
    expectClose(got, want, 1e-4, `matmul ${B}×${M}×${K}×${N}${transB ? ' transB' : ''}`);
  }
});

test('matvec and quantized matvec / matmul split by rows match the cpu backend', async () => {
  for (const [N, K] of [[4097, 3], [17, 4095], [3, 1]]) {
    const w = randomTensorData([N, K], 3);
    const x = randomTensorData([K], 4);
    const [got, want] = await both((b) => b.matvec(b.upload(w, [N, K]), b.upload(x, [K])));
    expectClose(got, want, 1e-4, `matvec ${N}×${K}`);
  }
  const formats: QuantFormat[] = [
    { bits: 4, groupSize: 32, symmetric: true },
    { bits: 8, groupSize: 128, symmetric: false },
    { bits: 3, groupSize: 64, symmetric: true },
    { bits: 2, groupSize: 32, symmetric: false },
  ];
  for (const [i, f] of formats.entries()) {
    const N = 37;
    const K = f.groupSize * 7;
    const packed = randomQuantized(f, N, K, 10 + i);
    const x = randomTensorData([5, K], 20 + i);
    const q = (b: Backend) => b.uploadQuantized(f, [N, K], packed.data, packed.scales, packed.mins);
    const [g1, w1] = await both((b) => b.qmatvec(q(b), b.upload(x.subarray(0, K), [K])));
    expectClose(g1, w1, 1e-4, `qmatvec int${f.bits} g${f.groupSize}`);
    const [g2, w2] = await both((b) => b.qmatmul(b.upload(x, [5, K]), q(b)));
    expectClose(g2, w2, 1e-4, `qmatmul int${f.bits} g${f.groupSize}`);
  }
});

test('a recorded decode step (norm, rope, kv cache, attention, softmax, top-k) matches the cpu backend', async () => {
  const Hq = 8, Hkv = 2, Dh = 16, S = 40, past = 30, T = 3, D = Hq * Dh;
  const x = randomTensorData([T, D], 5);
  const g = randomTensorData([D], 6);
  const kv = randomTensorData([T, Hkv, Dh], 7);
  const cacheInit = randomTensorData([Hkv, S, Dh], 8);
  const run = (b: Backend) => {
    const h = b.rmsNorm(b.upload(x, [T, D]), b.upload(g, [D]), 1e-5);
    const q = b.rope(h.reshape([T, Hq, Dh]), { pos0: past, theta: 10000 });
    const k = b.upload(cacheInit, [Hkv, S, Dh]);
    const v = b.upload(cacheInit.map((e) => -e), [Hkv, S, Dh]);
    b.kvWrite(k, b.upload(kv, [T, Hkv, Dh]), past);
    b.kvWrite(v, b.upload(kv, [T, Hkv, Dh]), past);
    const o = b.attention(q, k, v, { past });
    const y = b.add(b.silu(o.reshape([T, D])), b.gelu(b.upload(x, [T, D]), 'erf'));
    return b.softmax(b.mul(y, b.upload(g, [D])));
  };
  const [got, want] = await both(run);
  expectClose(got, want, 2e-5, 'decode step', [T, D], 1 / D);
  const logits = randomTensorData([4, 1000], 9);
  const tb = be.topk(be.upload(logits, [4, 1000]), 7);
  const tr = ref.topk(ref.upload(logits, [4, 1000]), 7);
  expectEqualArrays(await be.download(tb.indices), await ref.download(tr.indices), 'topk indices');
  expectEqualArrays(await be.download(be.argmax(be.upload(logits, [4, 1000]))), await ref.download(ref.argmax(ref.upload(logits, [4, 1000]))), 'argmax');
});

test('stress: 1500 small batches in a row each give the right values (a skipped barrier round shows as zeros or stale data)', async () => {
  let wrong = 0;
  let first = '';
  for (let i = 0; i < 1500; i++) {
    const v = 4 + (i % 7);
    const a = be.upload(new Float32Array([1, 2, 3, v]), [4]);
    const y = be.add(a, a);
    const z = be.mul(y, a);
    const got = Array.from(await be.download(z));
    if (got.join() !== [2, 8, 18, 2 * v * v].join()) {
      wrong++;
      first ||= `batch ${i}: got ${got.join()}`;
    }
    for (const t of [a, y, z]) t.dispose();
  }
  assert.equal(wrong, 0, first);
});

test('ops are recorded and run on flush: results appear only after download / sync', async () => {
  const a = be.upload(new Float32Array([1, 2, 3, 4]), [4]);
  const y = be.add(a, a);
  // nothing has run yet: the pool only starts on flush(); a later op on y sees the finished value
  const z = be.mul(y, a);
  assert.deepEqual(Array.from(await be.download(z)), [2, 8, 18, 32]);
  for (const t of [a, y, z]) t.dispose();
});

test('an out-of-range id recorded for the pool rejects the download with a typed error, and the pool goes on', async () => {
  const table = be.upload(randomTensorData([10, 4], 11), [10, 4]);
  const bad = be.embedding(table, be.upload(new Int32Array([2, 10]), [2], 'i32'));
  await assert.rejects(be.download(bad), (e: unknown) => e instanceof InvalidArgumentError && /token id 10/.test((e as Error).message));
  const ok = be.embedding(table, be.upload(randomInts(3, 12, 0, 9), [3], 'i32'));
  assert.equal((await be.download(ok)).length, 12);
});

test('blocks released while recorded work may read them are reused only after it ran; a steady loop creates no blocks', async () => {
  const K = 256;
  const w = be.upload(randomTensorData([64, K], 13), [64, K]);
  const step = async () => {
    const x = be.upload(randomTensorData([K], 14), [K]);
    const y = be.matvec(w, x);
    x.dispose(); // still read by the recorded matvec: must not be handed to the next upload yet
    const x2 = be.upload(new Float32Array(K).fill(7), [K]);
    const y2 = be.matvec(w, x2);
    const out = await be.download(y);
    const ref1 = await ref.download(ref.matvec(ref.upload(await be.download(w), [64, K]), ref.upload(randomTensorData([K], 14), [K])));
    expectClose(out, ref1, 1e-4, 'matvec with a disposed input');
    y.dispose();
    y2.dispose();
    x2.dispose();
  };
  await step();
  const before = be.memory();
  for (let i = 0; i < 20; i++) await step();
  const afterLoop = be.memory();
  assert.equal(afterLoop.buffersCreated, before.buffersCreated);
  assert.equal(afterLoop.reservedBytes, before.reservedBytes);
  w.dispose();
});
