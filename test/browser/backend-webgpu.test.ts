import { expect } from '@open-wc/testing';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { createWebGPUBackend, createWebGPUBackendInternal, type WebGPUBackend } from '../../engine/backends/webgpu/index.js';
import { DeviceLostError } from '../../engine/errors.js';
import type { QuantFormat } from '../../engine/quant/layout.js';
import { disposeQuantized } from '../../engine/quant/quantized-tensor.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import { describeBackendParity, expectClose, randomQuantized, randomTensorData } from '../helpers/backend-parity.js';

describeBackendParity('webgpu', createWebGPUBackend);

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
      gpu.tuning.subgroups = sg;
      const q = gpu.uploadQuantized(f, [n, k], p.data, p.scales, p.mins);
      const x = gpu.upload(xd, [k]);
      const y = gpu.qmatvec(q, x);
      expectClose(await gpu.download(y), ref, 1e-4, `qmatvec int4 [${n}, ${k}] subgroups=${sg}`);
      disposeQuantized(q);
      x.dispose();
      y.dispose();
    }
    gpu.tuning.subgroups = gpu.hasSubgroups;
  });

  it('qmatvec agrees with the cpu reference for every work split and reduction path of its kernel', async () => {
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
      Object.assign(t, { matvecWorkgroup: null, matvecTpr: null, matvecRows: null, matvecUnroll: null, subgroups: gpu.hasSubgroups });
    }
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
