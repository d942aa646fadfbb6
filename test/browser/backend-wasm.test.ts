import { expect } from '@open-wc/testing';
import { describeBackendParity } from '../helpers/backend-parity.js';
import { createWasmBackend, wasmSimdSupported } from '../../engine/backends/wasm/index.js';
import { KERNELS_THREADS_WASM_BASE64, KERNELS_WASM_BASE64 } from '../../engine/backends/wasm/build/kernels-wasm.js';
import { OutOfMemoryError } from '../../engine/errors.js';

describeBackendParity('wasm', () => createWasmBackend());

function bytesOf(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

describe('wasm backend', () => {
  it('ships modules whose kernels use 128-bit SIMD and validate here', async () => {
    expect(wasmSimdSupported()).to.equal(true);
    for (const b64 of [KERNELS_WASM_BASE64, KERNELS_THREADS_WASM_BASE64]) {
      const bytes = bytesOf(b64);
      expect(WebAssembly.validate(bytes)).to.equal(true);
      // v128 is value type 0x7b; a module without SIMD has no function signature mentioning it
      const module = await WebAssembly.compile(bytes);
      expect(WebAssembly.Module.exports(module).map((e) => e.name)).to.include.members(['exec', 'workerLoop', 'heapBase']);
      // with SIMD disabled the same bytes would not validate: strip to a SIMD-free probe is not possible,
      // so check that the code section really holds SIMD opcodes (prefix 0xfd followed by v128.load = 0x00)
      let simdOps = 0;
      for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0xfd && bytes[i + 1]! <= 0x0b) simdOps++;
      expect(simdOps, 'v128 load/store opcodes').to.be.greaterThan(50);
    }
  });

  it('is single-threaded and eager unless threads are asked for, and in a page that is not cross-origin isolated', async () => {
    const be = await createWasmBackend();
    try {
      expect((be as unknown as { threads: number }).threads).to.equal(1);
    } finally {
      be.dispose();
    }
    // the test pages are isolated (COOP/COEP): hide that to see the fallback a plain page gets
    const own = Object.getOwnPropertyDescriptor(globalThis, 'crossOriginIsolated');
    Object.defineProperty(globalThis, 'crossOriginIsolated', { value: false, configurable: true });
    try {
      expect(globalThis.crossOriginIsolated).to.equal(false);
      const plain = await createWasmBackend({ threads: 4 });
      expect((plain as unknown as { threads: number }).threads).to.equal(1);
      plain.dispose();
    } finally {
      if (own) Object.defineProperty(globalThis, 'crossOriginIsolated', own);
      else delete (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    }
    expect(globalThis.crossOriginIsolated).to.equal(true);
  });

  it('reuses heap blocks: a steady loop of ops creates no new blocks and holds no more memory', async () => {
    const be = await createWasmBackend();
    try {
      const K = 300;
      const N = 70;
      const w = be.upload(Float32Array.from({ length: N * K }, (_, i) => Math.sin(i)), [N, K]);
      const g = be.upload(new Float32Array(N).fill(1), [N]);
      const step = async () => {
        const x = be.upload(Float32Array.from({ length: K }, (_, i) => Math.cos(i)), [K]);
        const y = be.matvec(w, x);
        const z = be.rmsNorm(y, g, 1e-5);
        const p = be.softmax(z);
        const s = be.silu(p);
        const t = be.topk(s, 5);
        await be.download(t.indices);
        for (const d of [x, y, z, p, s, t.values, t.indices]) d.dispose();
      };
      await step();
      const before = be.memory();
      for (let i = 0; i < 50; i++) await step();
      const after = be.memory();
      expect(after.buffersCreated).to.equal(before.buffersCreated);
      expect(after.reservedBytes).to.equal(before.reservedBytes);
      expect(after.allocatedBytes).to.equal(before.allocatedBytes);
      expect(after.reservedBytes).to.be.at.least(after.allocatedBytes);
      expect(after.pooledBuffers).to.be.greaterThan(0);
      w.dispose();
      g.dispose();
      expect(be.memory().allocatedBytes).to.equal(0);
    } finally {
      be.dispose();
    }
  });

  it('throws OutOfMemoryError naming the size when the memory cannot grow', async () => {
    const be = await createWasmBackend({ maxMemoryBytes: 8 * 2 ** 20 });
    try {
      const small = be.zeros([1024], 'f32');
      let caught: unknown;
      try {
        be.empty([4 * 2 ** 20], 'f32');
      } catch (e) {
        caught = e;
      }
      expect(caught).to.be.instanceOf(OutOfMemoryError);
      expect((caught as OutOfMemoryError).requestedBytes).to.equal(16 * 2 ** 20);
      expect((caught as Error).message).to.contain('16777216');
      // the backend keeps working after a failed allocation
      const d = await be.download(be.add(small, small));
      expect(d.length).to.equal(1024);
    } finally {
      be.dispose();
    }
  });
});
