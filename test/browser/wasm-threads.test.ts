import { expect } from '@open-wc/testing';
import { CpuBackend } from '../../engine/backends/cpu/cpu-backend.js';
import { createWasmBackend } from '../../engine/backends/wasm/index.js';
import type { Backend } from '../../engine/backends/backend.js';
import type { QuantFormat } from '../../engine/quant/layout.js';
import { expectClose, randomQuantized, randomTensorData } from '../helpers/random.js';

// The test server sends COOP/COEP (test/server/middleware.mjs), so these pages may share memory with workers.
describe('wasm worker pool in a cross-origin-isolated page', function () {
  this.timeout(120_000);
  let be: Backend & { threads?: number };
  const cpu = new CpuBackend();

  before(async () => {
    be = await createWasmBackend({ threads: 2 });
  });
  after(() => be?.dispose());

  it('the page is cross-origin isolated and the backend runs on 2 worker threads', () => {
    expect(globalThis.crossOriginIsolated).to.equal(true);
    expect(be.threads).to.equal(2);
  });

  it('matmul, quantized GEMV and a norm/softmax chain match the cpu backend', async () => {
    const [m, k, n] = [9, 130, 17];
    const a = randomTensorData([m, k], 1);
    const b = randomTensorData([n, k], 2);
    const mm = be.matmul(be.upload(a, [m, k]), be.upload(b, [n, k]), { transB: true });
    expectClose(await be.download(mm), await cpu.download(cpu.matmul(cpu.upload(a, [m, k]), cpu.upload(b, [n, k]), { transB: true })), 1e-5, 'matmul transB');
    const f: QuantFormat = { bits: 4, groupSize: 32, symmetric: true };
    const p = randomQuantized(f, 33, 256, 3);
    const x = randomTensorData([256], 4);
    const y = be.qmatvec(be.uploadQuantized(f, [33, 256], p.data, p.scales, p.mins), be.upload(x, [256]));
    const yRef = cpu.qmatvec(cpu.uploadQuantized(f, [33, 256], p.data, p.scales, p.mins), cpu.upload(x, [256]));
    expectClose(await be.download(y), await cpu.download(yRef), 1e-4, 'qmatvec int4');
    const g = randomTensorData([k], 5);
    const chain = (bk: Backend) => bk.softmax(bk.rmsNorm(bk.upload(a, [m, k]), bk.upload(g, [k]), 1e-5));
    expectClose(await be.download(chain(be)), await cpu.download(chain(cpu)), 2e-5, 'rmsNorm → softmax', [m, k], 1 / k);
  });

  it('200 small batches in a row each give the right values', async () => {
    for (let i = 0; i < 200; i++) {
      const v = 4 + (i % 7);
      const a = be.upload(new Float32Array([1, 2, 3, v]), [4]);
      const z = be.mul(be.add(a, a), a);
      expect(Array.from(await be.download(z)), `batch ${i}`).to.deep.equal([2, 8, 18, 2 * v * v]);
    }
  });
});
