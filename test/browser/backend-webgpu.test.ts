import { expect } from '@open-wc/testing';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { TIMESTAMPS_IN_PASSES } from '../../engine/backends/webgpu/webgpu-backend.js';
import { DeviceLostError, InvalidArgumentError } from '../../engine/errors.js';
import { loadModel } from '../../engine/load-model.js';
import type { QuantFormat } from '../../engine/quant/layout.js';
import { disposeQuantized } from '../../engine/quant/quantized-tensor.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import fc from 'fast-check';
import { describeBackendParity, expectClose, randomQuantized, randomTensorData } from '../helpers/backend-parity.js';
import { activationQuantBound, expectWithinBound } from '../helpers/activation-bound.js';

// The shared parity suite holds every op to f32 tolerances, so it runs the quantized GEMV with f32 activations;
// the int8-activation modes (the default) are held to their error bound below.
describeBackendParity('webgpu', async () => {
  const b = await createWebGPUBackendInternal();
  b.tuning.qmatvecActivations = 'f32';
  return b;
});

describe('webgpu backend', function () {
  this.timeout(120_000);
  let gpu: WebGPUBackend;
  const cpu = new CpuBackend();

  before(async () => {
    gpu = await createWebGPUBackendInternal();
  });
  after(() => gpu?.dispose());
  afterEach(() => {
    expect(gpu.gpuErrors(), 'uncaptured WebGPU errors (validation or shader compile)').to.deep.equal([]);
  });

  /** One decode-like step: norm, projections, rope, cache write, attention, sampling; returns every tensor made. */
  function step(w: Tensor, q4: ReturnType<WebGPUBackend['uploadQuantized']>, norm: Tensor, cache: Tensor, x: Tensor, pos: number): Tensor[] {
    const h = gpu.rmsNorm(x, norm, 1e-5);
    const y = gpu.matvec(w, h);
    const z = gpu.qmatvec(q4, y);
    const zv = z.reshape([1, 2, 32]);
    const r = gpu.rope(zv, { pos0: pos, theta: 10000 });
    gpu.kvWrite(cache, r, pos);
    const a = gpu.attention(r, cache, cache, { past: pos });
    const av = a.reshape([64]);
    const sl = gpu.silu(av);
    const s = gpu.add(sl, h);
    const top = gpu.topk(s, 5);
    return [h, y, z, zv, r, a, av, sl, s, gpu.argmax(s), top.values, top.indices];
  }

  it('a steady-state loop creates no new GPU buffers, pipelines or bind groups', async () => {
    const f: QuantFormat = { bits: 4, groupSize: 32, symmetric: true };
    const p = randomQuantized(f, 64, 64, 1);
    const q4 = gpu.uploadQuantized(f, [64, 64], p.data, p.scales, p.mins);
    const w = gpu.upload(randomTensorData([64, 64], 2), [64, 64]);
    const norm = gpu.upload(randomTensorData([64], 3), [64]);
    const cache = gpu.zeros([2, 16, 32], 'f32');
    const x = gpu.upload(randomTensorData([64], 4), [64]);
    const run = async (pos: number): Promise<void> => {
      const outs = step(w, q4, norm, cache, x, pos);
      await gpu.download(outs[9]!);
      for (const t of outs) t.dispose();
    };
    await run(0);
    await run(1);
    const before = gpu.memory();
    const stats = gpu.stats();
    for (let pos = 2; pos < 10; pos++) await run(pos);
    const after = gpu.memory();
    const stats2 = gpu.stats();
    expect(after.buffersCreated, 'buffersCreated').to.equal(before.buffersCreated);
    expect(after.allocatedBytes, 'allocatedBytes').to.equal(before.allocatedBytes);
    expect(after.pooledBuffers, 'pooledBuffers').to.equal(before.pooledBuffers);
    expect(after.pooledBuffers).to.be.greaterThan(0);
    expect(stats2.pipelinesCompiled, 'pipelines compiled in the loop').to.equal(stats.pipelinesCompiled);
    expect(stats2.pipelineHits).to.be.greaterThan(stats.pipelineHits);
    expect(stats2.bindGroupsCreated, 'bind groups created in the loop').to.equal(stats.bindGroupsCreated);
    // one submit per download: every op of a step went into the same command buffer
    expect(stats2.submits - stats.submits).to.equal(8);
    for (const t of [w, norm, cache, x]) t.dispose();
    disposeQuantized(q4);
  });

  it('compiles a pipeline once per specialisation', async () => {
    const a = gpu.upload(randomTensorData([3, 17], 5), [3, 17]);
    const first = gpu.stats();
    const y1 = gpu.silu(a);
    const mid = gpu.stats();
    const y2 = gpu.silu(y1);
    const y3 = gpu.gelu(y2, 'erf');
    const y4 = gpu.gelu(y3, 'erf');
    const last = gpu.stats();
    await gpu.download(y4);
    expect(mid.pipelinesCompiled - first.pipelinesCompiled).to.be.at.most(1);
    // silu again: a hit; gelu erf once compiled at most, then a hit
    expect(last.pipelinesCompiled - mid.pipelinesCompiled).to.be.at.most(1);
    expect(last.pipelineHits - mid.pipelineHits).to.be.at.least(2);
    for (const t of [a, y1, y2, y3, y4]) t.dispose();
  });

  it('matvec and qmatvec agree with the cpu reference on the subgroup and the workgroup-reduction path', async () => {
    const paths = gpu.hasSubgroups ? [true, false] : [false];
    if (!gpu.hasSubgroups) console.warn('adapter has no subgroups: only the workgroup-reduction path ran');
    const f: QuantFormat = { bits: 4, groupSize: 32, symmetric: true };
    for (const [n, k] of [[17, 4097], [65, 256], [3, 3]] as const) {
      const wd = randomTensorData([n, k], n);
      const xd = randomTensorData([k], k);
      const ref = await cpu.download(cpu.matvec(cpu.upload(wd, [n, k]), cpu.upload(xd, [k])));
      for (const sg of paths) {
        gpu.tuning.subgroups = sg;
        const w = gpu.upload(wd, [n, k]);
        const x = gpu.upload(xd, [k]);
        const y = gpu.matvec(w, x);
        expectClose(await gpu.download(y), ref, 1e-4, `matvec [${n}, ${k}] subgroups=${sg}`);
        for (const t of [w, x, y]) t.dispose();
      }
    }
    const [n, k] = [33, 4096];
    const p = randomQuantized(f, n, k, 7);
    const xd = randomTensorData([k], 8);
    const cq = cpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
    const ref = await cpu.download(cpu.qmatvec(cq, cpu.upload(xd, [k])));
    for (const sg of paths) {
      for (const act of ['f32', 'int8x2', 'int8'] as const) {
        Object.assign(gpu.tuning, { subgroups: sg, qmatvecActivations: act });
        const q = gpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
        const x = gpu.upload(xd, [k]);
        const y = gpu.qmatvec(q, x);
        const got = await gpu.download(y);
        const label = `qmatvec int4 [${n}, ${k}] subgroups=${sg} activations ${act}`;
        if (act === 'f32') expectClose(got, ref, 1e-4, label);
        else expectWithinBound(got, ref, activationQuantBound(f, n, k, p, xd, act === 'int8' ? 1 : 2, ref), label);
        disposeQuantized(q);
        x.dispose();
        y.dispose();
      }
    }
    Object.assign(gpu.tuning, { subgroups: gpu.hasSubgroups, qmatvecActivations: 'int8x2' });
  });

  it('batch-1 rmsNorm, addRmsNorm, swiglu and attention write the next GEMV its int8 activations: same bits as a separate quantizing dispatch, one dispatch fewer', async () => {
    const run = async (act: 'int8x2' | 'int8', bits: 8 | 4 | 2, producerQuant: boolean, op: 'rmsNorm' | 'addRmsNorm' | 'swiglu' | 'attention', d: number) => {
      Object.assign(gpu.tuning, { qmatvecActivations: act, producerQuant });
      const f: QuantFormat = { bits, groupSize: 32, symmetric: bits !== 2 };
      const p = randomQuantized(f, 40, d, d + bits);
      const w = gpu.uploadQuantized(f, [40, d], p.data, p.scales, p.mins);
      // a first GEMV tells the backend which activation format the model's GEMVs want
      const warm = gpu.upload(randomTensorData([d], 1), [d]);
      gpu.qmatvec(w, warm).dispose();
      const made: Tensor[] = [warm];
      const x = gpu.upload(randomTensorData([1, op === 'swiglu' ? 2 * d : d], d, -3, 3), [1, op === 'swiglu' ? 2 * d : d]);
      const g = gpu.upload(randomTensorData([d], d + 1, 0.5, 1.5), [d]);
      const r = gpu.upload(randomTensorData([1, d], d + 2), [1, d]);
      made.push(x, g, r);
      const before = gpu.stats().dispatches;
      let h: Tensor;
      if (op === 'attention') {
        // d = Hq · Dh with Dh = 64 (512: 8 heads) or 32 (128: 4 heads), two kv heads, 40 cached positions
        const dh = d === 128 ? 32 : 64;
        const hq = d / dh;
        const q = gpu.upload(randomTensorData([1, hq, dh], d + 3), [1, hq, dh]);
        const kv = gpu.upload(randomTensorData([2, 41, dh], d + 4), [2, 41, dh]);
        made.push(q, kv);
        h = gpu.attention(q, kv, kv, { past: 40 });
      } else if (op === 'rmsNorm') h = gpu.rmsNorm(x, g, 1e-5);
      else if (op === 'swiglu') h = gpu.swiglu(x);
      else {
        const [sum, n] = gpu.addRmsNorm(x, r, g, 1e-5);
        made.push(sum);
        h = n;
      }
      const y = gpu.qmatvec(w, h.reshape([d]));
      const dispatches = gpu.stats().dispatches - before;
      const hv = (await gpu.download(h)) as Float32Array;
      // the same values through the GEMV's own quantizing dispatch (an upload is no producer)
      const h2 = gpu.upload(hv, [d]);
      const y2 = gpu.qmatvec(w, h2);
      const out = { h: hv, y: await gpu.download(y), ySeparate: await gpu.download(y2), dispatches };
      for (const t of [...made, h, y, h2, y2]) t.dispose();
      disposeQuantized(w);
      return out;
    };
    for (const [op, d] of [['rmsNorm', 4096], ['addRmsNorm', 576], ['addRmsNorm', 16384], ['rmsNorm', 96], ['swiglu', 1536], ['swiglu', 32], ['attention', 512], ['attention', 128]] as const) {
      for (const [act, bits] of [['int8x2', 4], ['int8x2', 8], ['int8', 4], ['int8x2', 2]] as const) {
        const label = `${op} D ${d}, ${act}, ${bits}-bit`;
        const fused = await run(act, bits, true, op, d);
        const apart = await run(act, bits, false, op, d);
        // the op's f32 output: the fused kernel sums x² in another order
        expectClose(fused.h, apart.h, 1e-6, `${label}: the op's own output`);
        expect(Array.from(fused.y), `${label}: GEMV on the producer's int8 vs its own quantizing dispatch`).to.deep.equal(Array.from(fused.ySeparate));
        expect(Array.from(apart.y), `${label}: unfused`).to.deep.equal(Array.from(apart.ySeparate));
        expect(fused.dispatches, label).to.equal(apart.dispatches - 1);
      }
    }
    Object.assign(gpu.tuning, { qmatvecActivations: 'int8x2', producerQuant: true });
  });

  it('kernel profile: one entry per kernel with its dispatch count, or a typed error without timestamp-query', async () => {
    const x = gpu.upload(randomTensorData([1, 64], 3), [1, 64]);
    const w = gpu.upload(randomTensorData([64], 4, 0.5, 1.5), [64]);
    if (!gpu.device.features.has('timestamp-query')) {
      expect(() => gpu.startProfile()).to.throw(InvalidArgumentError, /timestamp-query/);
      for (const t of [x, w]) t.dispose();
      return;
    }
    gpu.startProfile(16);
    expect(() => gpu.startProfile()).to.throw(InvalidArgumentError, /already running/);
    const before = gpu.stats().dispatches;
    const made = [gpu.rmsNorm(x, w, 1e-5), gpu.rmsNorm(x, w, 1e-5), gpu.silu(x)];
    const dispatches = gpu.stats().dispatches - before;
    const prof = await gpu.stopProfile();
    expect(prof.reduce((a, e) => a + e.calls, 0)).to.equal(dispatches);
    expect(prof.find((e) => e.key.startsWith('rms-norm'))?.calls).to.equal(2);
    for (const e of prof) expect(e.gpuMs).to.be.at.least(0);
    await expectClose(await gpu.download(made[0]!), await gpu.download(made[1]!), 0, 'profiled dispatches still compute');
    for (const t of [x, w, ...made]) t.dispose();
    await gpu.stopProfile().then(() => { throw new Error('expected a rejection'); }, (e) => expect(e).to.be.instanceOf(InvalidArgumentError));
  });

  it("kernel profile 'pass' mode times each compute pass whole; dispatchRepeat re-records a kernel without changing its result", async () => {
    if (!gpu.device.features.has('timestamp-query')) return;
    const x = gpu.upload(randomTensorData([1, 64], 5), [1, 64]);
    const w = gpu.upload(randomTensorData([64], 6, 0.5, 1.5), [64]);
    const plain = gpu.rmsNorm(x, w, 1e-5);
    const want = await gpu.download(plain);
    expect(() => gpu.startProfile(8, { mode: 'sideways' as never })).to.throw(InvalidArgumentError, /Unknown profile mode/);
    if (!gpu.device.features.has(TIMESTAMPS_IN_PASSES)) expect(() => gpu.startProfile(8, { mode: 'in-pass' })).to.throw(InvalidArgumentError, new RegExp(TIMESTAMPS_IN_PASSES));
    gpu.startProfile(8, { mode: 'pass' });
    gpu.tuning.dispatchRepeat = { prefix: 'rms-norm', extra: 3 };
    const before = gpu.stats().dispatches;
    const again = gpu.rmsNorm(x, w, 1e-5);
    const other = gpu.silu(x);
    expect(gpu.stats().dispatches - before, 'a repeated dispatch still counts once').to.equal(2);
    const got = await gpu.download(again);
    gpu.tuning.dispatchRepeat = null;
    const prof = await gpu.stopProfile();
    expect(prof.map((e) => e.key)).to.deep.equal(['pass']);
    expect(prof[0]!.calls, 'the download ended the one pass').to.equal(1);
    expect(prof[0]!.gpuMs).to.be.at.least(0);
    await expectClose(got, want, 0, 'rms-norm recorded 4 times in a row');
    for (const t of [x, w, plain, again, other]) t.dispose();
  });

  it('attention agrees with the cpu reference for every chunk size (32–256 keys), across chunk edges and causal limits', async () => {
    // the last: 8301 keys, over 256 chunks of 32 (the combine keeps 256 chunk weights and recomputes the rest)
    for (const [t, hq, hkv, dh, past] of [[1, 8, 2, 128, 161], [1, 4, 4, 64, 31], [3, 4, 2, 32, 64], [5, 2, 1, 16, 300], [1, 2, 1, 80, 97], [1, 2, 1, 16, 8300]] as const) {
      const sLen = past + t + 3;
      const qd = randomTensorData([t, hq, dh], dh + past);
      const kd = randomTensorData([hkv, sLen, dh], dh + past + 1);
      const vd = randomTensorData([hkv, sLen, dh], dh + past + 2);
      const ref = await cpu.download(cpu.attention(cpu.upload(qd, [t, hq, dh]), cpu.upload(kd, [hkv, sLen, dh]), cpu.upload(vd, [hkv, sLen, dh]), { past }));
      for (const chunk of [32, 64, 128, 256]) {
        if (dh % (256 / chunk) !== 0) continue;
        gpu.tuning.attentionChunk = chunk;
        const [q, k, v] = [gpu.upload(qd, [t, hq, dh]), gpu.upload(kd, [hkv, sLen, dh]), gpu.upload(vd, [hkv, sLen, dh])];
        const y = gpu.attention(q, k, v, { past });
        expectClose(await gpu.download(y), ref, 2e-5, `attention t ${t} hq ${hq} hkv ${hkv} dh ${dh} past ${past} chunk ${chunk}`);
        for (const x of [q, k, v, y]) x.dispose();
      }
    }
    gpu.tuning.attentionChunk = null;
  });

  it('qmatvec with f32 activations agrees with the cpu reference for every work split and reduction path of its kernel', async () => {
    const info = gpu.adapterInfo as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
    const sgSize = info?.subgroupMinSize !== undefined && info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : 0;
    // [workgroup, tpr, rows, unroll]: block tails (K / 32 not a multiple of tpr · unroll), rows past N, tiny slots
    const splits: [number, number, number, number][] = [[256, 32, 4, 2], [128, 64, 1, 4], [64, 4, 8, 1], [256, 128, 2, 1]];
    if (sgSize >= 1 && sgSize <= 256) splits.push([256, sgSize, 2, 2]); // subgroup = slot: lane 0 writes y
    const formats: [QuantFormat, number, number][] = [
      [{ bits: 4, groupSize: 32, symmetric: true }, 37, 608],
      [{ bits: 8, groupSize: 64, symmetric: false }, 19, 640],
      [{ bits: 2, groupSize: 128, symmetric: true }, 9, 640],
      [{ bits: 3, groupSize: 32, symmetric: false }, 5, 96],
    ];
    const t = gpu.tuning;
    t.qmatvecActivations = 'f32';
    try {
      for (const [i, [f, n, k]] of formats.entries()) {
        const p = randomQuantized(f, n, k, 40 + i);
        const xd = randomTensorData([k], 50 + i);
        const ref = await cpu.download(cpu.qmatvec(cpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins), cpu.upload(xd, [k])));
        const q = gpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
        const x = gpu.upload(xd, [k]);
        for (const [wg, tpr, rows, unroll] of splits) {
          for (const sg of gpu.hasSubgroups ? [true, false] : [false]) {
            Object.assign(t, { matvecWorkgroup: wg, matvecTpr: tpr, matvecRows: rows, matvecUnroll: unroll, subgroups: sg });
            const y = gpu.qmatvec(q, x);
            expectClose(await gpu.download(y), ref, 1e-4, `qmatvec int${f.bits} g${f.groupSize} ${f.symmetric ? 'sym' : 'asym'} [${n}, ${k}] wg ${wg} tpr ${tpr} rows ${rows} unroll ${unroll} subgroups=${sg}`);
            y.dispose();
          }
        }
        disposeQuantized(q);
        x.dispose();
      }
    } finally {
      Object.assign(t, { matvecWorkgroup: null, matvecTpr: null, matvecRows: null, matvecUnroll: null, subgroups: gpu.hasSubgroups, qmatvecActivations: 'int8x2', stageActivations: true });
    }
  });

  /** The int8-activation GEMV against the f32 cpu reference, within the bound of its activation quantization. */
  async function int8Case(f: QuantFormat, n: number, k: number, seed: number, act: 'int8x2' | 'int8', label: string): Promise<void> {
    const p = randomQuantized(f, n, k, seed);
    const xd = randomTensorData([k], seed + 1);
    const ref = await cpu.download(cpu.qmatvec(cpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins), cpu.upload(xd, [k])));
    const q = gpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
    const x = gpu.upload(xd, [k]);
    gpu.tuning.qmatvecActivations = act;
    const y = gpu.qmatvec(q, x);
    // the same x again (through a view of its storage, as linear() passes it) reuses its quantized copy; a
    // fresh x with other values must not, even where it gets the pooled buffer x had
    const before = gpu.stats().dispatches;
    const xv = x.reshape([k]);
    const y2 = gpu.qmatvec(q, xv);
    expect(gpu.stats().dispatches - before, `${label}: GEMV on the same x dispatches no second quantization`).to.equal(1);
    xv.dispose();
    const got = await gpu.download(y);
    const got2 = await gpu.download(y2);
    x.dispose();
    const x2 = gpu.upload(xd.map((v) => -v), [k]);
    const y3 = gpu.qmatvec(q, x2);
    const got3 = await gpu.download(y3);
    const bound = activationQuantBound(f, n, k, p, xd, act === 'int8' ? 1 : 2, ref);
    expectWithinBound(got, ref, bound, `${label} activations ${act}`);
    expect(Array.from(got2), `${label}: the same x twice`).to.deep.equal(Array.from(got));
    expectWithinBound(got3, Array.from(ref, (v) => -v), bound, `${label} activations ${act}, x negated`);
    disposeQuantized(q);
    for (const t of [x2, y, y2, y3]) t.dispose();
  }

  it('the int8-activation GEMV stages x in workgroup memory for K ≤ 4096 and ≤ 2 rows a slot, and reads it from storage otherwise', async () => {
    if (!gpu.device.features.has('timestamp-query')) return;
    const f: QuantFormat = { bits: 4, groupSize: 32, symmetric: true };
    // two planes: 80 bytes of workgroup memory per block of 32 (10 KiB at K = 4096, within WebGPU's 16 KiB default)
    expect(gpu.device.limits.maxComputeWorkgroupStorageSize).to.be.at.least(16384);
    // [N, K, staged]: a tall N takes 4 rows a slot (q8DefaultShape), which does not stage
    for (const [n, k, staged] of [[8, 608, true], [8, 4096, true], [8, 4128, false], [16384, 608, false]] as const) {
      const p = randomQuantized(f, n, k, 7);
      const q = gpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
      const x = gpu.upload(randomTensorData([k], 8), [k]);
      gpu.startProfile(8);
      const y = gpu.qmatvec(q, x);
      const keys = (await gpu.stopProfile()).map((e) => e.key).filter((key) => key.startsWith('qmatvec-q8:'));
      expect(keys.length, `[${n}, ${k}]`).to.equal(1);
      expect(keys[0]!.endsWith(`:x${k / 32}`), `[${n}, ${k}]: ${keys[0]}`).to.equal(staged);
      disposeQuantized(q);
      for (const t of [x, y]) t.dispose();
    }
  });

  it('qmatvec with int8 activations (two planes, one plane) stays within its error bound for every split, format and reduction path', async () => {
    const info = gpu.adapterInfo as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
    const sg32 = gpu.hasSubgroups && info?.subgroupMinSize === 32 && info.subgroupMaxSize === 32;
    if (!sg32) console.warn(`subgroup size is not 32 (${info?.subgroupMinSize}–${info?.subgroupMaxSize}): only the workgroup-reduction path of the int8-activation GEMV ran`);
    // [workgroup, rows, unroll]: block tails (K / 32 not a multiple of 32 · unroll) and rows past N
    const splits: [number, number, number][] = [[128, 1, 4], [128, 2, 1], [128, 4, 2], [64, 4, 2], [256, 1, 1]];
    const formats: [QuantFormat, number, number][] = [
      [{ bits: 4, groupSize: 32, symmetric: true }, 37, 608],
      [{ bits: 4, groupSize: 128, symmetric: false }, 9, 4096],
      [{ bits: 8, groupSize: 64, symmetric: true }, 19, 640],
      [{ bits: 8, groupSize: 32, symmetric: false }, 5, 96],
      [{ bits: 2, groupSize: 128, symmetric: true }, 9, 640],
      [{ bits: 2, groupSize: 64, symmetric: false }, 3, 64],
    ];
    const t = gpu.tuning;
    try {
      for (const [i, [f, n, k]] of formats.entries()) {
        for (const [wg, rows, unroll] of splits) {
          for (const sg of sg32 ? [true, false] : [false]) {
            // x staged in workgroup memory (the default where it fits) and read from storage
            for (const stage of i < 2 && (rows === 4 || rows === 2) ? [true, false] : [true]) {
              Object.assign(t, { matvecWorkgroup: wg, matvecRows: rows, matvecUnroll: unroll, subgroups: sg, stageActivations: stage });
              for (const act of ['int8x2', 'int8'] as const) await int8Case(f, n, k, 60 + i, act, `int${f.bits} g${f.groupSize} ${f.symmetric ? 'sym' : 'asym'} [${n}, ${k}] wg ${wg} rows ${rows} unroll ${unroll} subgroups=${sg} staged=${stage}`);
            }
          }
        }
      }
      Object.assign(t, { matvecWorkgroup: null, matvecRows: null, matvecUnroll: null, subgroups: gpu.hasSubgroups, stageActivations: true });
      // the default split of long rows (K ≥ 8192): 128 invocations a row, reduced in workgroup memory
      expect(gpu.q8Shape(4, 2, 4096, 14336)).to.deep.equal({ wg: 128, tpr: 128, rows: 4, unroll: 1, subgroup: false });
      await int8Case({ bits: 4, groupSize: 32, symmetric: true }, 9, 8192 + 96, 99, 'int8x2', 'int4 [9, 8288] default long-K split');
      await fc.assert(fc.asyncProperty(
        fc.constantFrom<QuantFormat>(...([8, 4, 2] as const).flatMap((bits) => [32, 64, 128].flatMap((groupSize) => [true, false].map((symmetric) => ({ bits, groupSize, symmetric }) as QuantFormat)))),
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 }), fc.nat(),
        (f, n, groups, seed) => int8Case(f, n, groups * f.groupSize, seed, 'int8x2', `random int${f.bits} g${f.groupSize} ${f.symmetric ? 'sym' : 'asym'} [${n}, ${groups * f.groupSize}]`),
      ), { numRuns: 12, seed: 20261123 });
    } finally {
      Object.assign(t, { matvecWorkgroup: null, matvecTpr: null, matvecRows: null, matvecUnroll: null, subgroups: gpu.hasSubgroups, qmatvecActivations: 'int8x2', stageActivations: true });
    }
  });

  it('attentionRope (one decode step from qkv) matches cpu qkvRope + attention, caches included, for every chunk size and at chunk edges', async () => {
    const invFreq = (rd: number, theta: number): Float64Array => Float64Array.from({ length: rd / 2 }, (_, i) => theta ** (-(2 * i) / rd));
    // [Hq, Hkv, Dh, past, rotary dims, style]
    const cases = [[8, 2, 128, 161, 128, 'half'], [4, 4, 64, 31, 64, 'half'], [4, 2, 64, 64, 64, 'half'], [2, 1, 80, 97, 64, 'interleaved'], [3, 1, 32, 0, 32, 'half']] as const;
    const t = gpu.tuning;
    try {
      for (const [hq, hkv, dh, past, rd, style] of cases) {
        const sLen = past + 5;
        const opts = { pos0: past, theta: 10000, rotaryDim: rd, style, heads: hq, kvHeads: hkv, invFreq: invFreq(rd, 10000) };
        const xd = randomTensorData([1, (hq + 2 * hkv) * dh], dh + past);
        const kd = randomTensorData([hkv, sLen, dh], dh + past + 1);
        const vd = randomTensorData([hkv, sLen, dh], dh + past + 2);
        const kc = cpu.upload(kd, [hkv, sLen, dh]);
        const vc = cpu.upload(vd, [hkv, sLen, dh]);
        const q = cpu.qkvRope(cpu.upload(xd, [1, (hq + 2 * hkv) * dh]), kc, vc, opts);
        const ref = await cpu.download(cpu.attention(q, kc, vc, { past }));
        const [kRef, vRef] = [await cpu.download(kc), await cpu.download(vc)];
        for (const chunk of [null, 32, 64, 256]) {
          if (chunk !== null && dh % (256 / chunk) !== 0) continue;
          t.attentionChunk = chunk;
          const [gk, gv] = [gpu.upload(kd, [hkv, sLen, dh]), gpu.upload(vd, [hkv, sLen, dh])];
          const x = gpu.upload(xd, [1, (hq + 2 * hkv) * dh]);
          const before = gpu.stats().dispatches;
          const out = gpu.attentionRope(x, gk, gv, opts);
          const label = `Hq ${hq} Hkv ${hkv} Dh ${dh} past ${past} rd ${rd} ${style} chunk ${chunk ?? 'auto'}`;
          expect(gpu.stats().dispatches - before, `${label}: partial + combine, no qkvRope dispatch`).to.equal(2);
          expect(out.shape).to.deep.equal([1, hq, dh]);
          await expectClose(await gpu.download(out), ref, 2e-5, `${label}: output`);
          await expectClose(await gpu.download(gk), kRef, 2e-5, `${label}: k cache`);
          await expectClose(await gpu.download(gv), vRef, 0, `${label}: v cache`);
          for (const tt of [gk, gv, x, out]) tt.dispose();
        }
      }
      const x = gpu.upload(new Float32Array(2 * 3 * 32), [2, 3 * 32]);
      const [gk, gv] = [gpu.upload(new Float32Array(32 * 8), [1, 8, 32]), gpu.upload(new Float32Array(32 * 8), [1, 8, 32])];
      expect(() => gpu.attentionRope(x, gk, gv, { pos0: 0, theta: 10000, heads: 1, kvHeads: 1 })).to.throw(InvalidArgumentError, /one token/);
      for (const tt of [x, gk, gv]) tt.dispose();
    } finally {
      t.attentionChunk = null;
    }
  });

  it('fused Llama layers (q/k/v and gate/up stacked, qkvRope, swiglu): the unfused logits with 5 fewer dispatches a layer', async () => {
    const src = new URL('/__models/tiny-llama/', location.href).href;
    const models = await Promise.all([true, false].map((fuse) => loadModel(src, gpu, { maxSequence: 32, cache: false, precision: 'q4', fuse })));
    const ids = Int32Array.from(models[0]!.tokenizer.encode('In the beginning God created'));
    const out: { logits: Float32Array; dispatches: number }[] = [];
    for (const m of models) {
      const before = gpu.stats().dispatches;
      const t = m.forward(ids, { allLogits: true });
      const next = m.forward(Int32Array.of(7));
      const logits = new Float32Array([...((await gpu.download(t)) as Float32Array), ...((await gpu.download(next)) as Float32Array)]);
      out.push({ logits, dispatches: gpu.stats().dispatches - before });
      t.dispose();
      next.dispose();
    }
    expectClose(out[0]!.logits, out[1]!.logits, 2e-4, 'fused vs unfused logits', [out[0]!.logits.length]);
    // per layer and forward: 3 GEMVs → 1, rope × 2 + kvWrite × 2 → qkvRope, 2 GEMVs + silu + mul → 1 GEMV + swiglu
    const layers = models[0]!.config.architecture === 'llama' ? models[0]!.config.numHiddenLayers : 0;
    expect(out[1]!.dispatches - out[0]!.dispatches).to.be.at.least(2 * layers * 5);
    for (const m of models) m.dispose();
  });

  it('device loss: the lost promise resolves and later downloads and ops throw DeviceLostError, without hanging', async () => {
    const b = await createWebGPUBackendInternal();
    const t = b.upload(new Float32Array([1, 2, 3]), [3]);
    const y = b.silu(t);
    b.device.destroy();
    const err = await b.download(y).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(DeviceLostError);
    const lost = await Promise.race([b.lost, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    expect(lost).to.be.instanceOf(DeviceLostError);
    expect(() => b.silu(t)).to.throw(DeviceLostError);
    const again = await b.download(t).then(() => null, (e: unknown) => e);
    expect(again).to.be.instanceOf(DeviceLostError);
    b.dispose();
  });
});
