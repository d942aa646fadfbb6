// Benchmark page (bundled by tools/bench-kernels.mjs): times each op on the wasm backend and on the cpu
// (plain JS reference) backend in this browser, and leaves the rows on window.__benchKernels.
import { createWasmBackend } from '../../engine/backends/wasm/index.js';
import { createCpuBackend } from '../../engine/backends/cpu/index.js';
import type { Backend } from '../../engine/backends/backend.js';
import type { Tensor } from '../../engine/tensor/tensor.js';
import { f16Words } from '../../engine/quant/layout.js';
import { f32ToF16 } from '../../engine/tensor/dtype.js';

interface Row {
  op: string;
  shape: string;
  backend: string;
  medianMs: number;
  minMs: number;
  samples: number;
  callsPerSample: number;
  gflops: number | null;
  gbps: number | null;
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function randWords(n: number, seed: number): Uint32Array {
  let s = seed >>> 0;
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return a;
}

interface Case {
  op: string;
  shape: string;
  flops: number | null;
  bytes: number;
  setup(b: Backend): { run(): Tensor; dispose(): void };
}

const cases: Case[] = [];
for (const [n, k] of [[4096, 4096], [2048, 8192]] as const) {
  cases.push({
    op: 'matvec', shape: `${n}x${k}`, flops: 2 * n * k, bytes: n * k * 4,
    setup(b) {
      const w = b.upload(rand(n * k, 1), [n, k]);
      const x = b.upload(rand(k, 2), [k]);
      return { run: () => b.matvec(w, x), dispose: () => { w.dispose(); x.dispose(); } };
    },
  });
  for (const bits of [8, 4] as const) {
    const gs = 32;
    cases.push({
      op: `qmatvec int${bits} g${gs}`, shape: `${n}x${k}`, flops: 2 * n * k, bytes: (n * k * bits) / 8 + (n * k / gs) * 2,
      setup(b) {
        const scales = new Uint32Array(f16Words((n * k) / gs)).fill((f32ToF16(0.01) << 16) | f32ToF16(0.02));
        const q = b.uploadQuantized({ bits, groupSize: gs, symmetric: true }, [n, k], randWords((n * k * bits) / 32, 3), scales, null);
        const x = b.upload(rand(k, 4), [k]);
        return { run: () => b.qmatvec(q, x), dispose: () => { q.data.dispose(); q.scales.dispose(); x.dispose(); } };
      },
    });
  }
}
for (const m of [256, 512]) {
  cases.push({
    op: 'matmul', shape: `${m}x${m}x${m}`, flops: 2 * m * m * m, bytes: 3 * m * m * 4,
    setup(b) {
      const a = b.upload(rand(m * m, 5), [m, m]);
      const c = b.upload(rand(m * m, 6), [m, m]);
      return { run: () => b.matmul(a, c), dispose: () => { a.dispose(); c.dispose(); } };
    },
  });
}
cases.push({
  op: 'softmax', shape: '32000', flops: null, bytes: 2 * 32000 * 4,
  setup(b) {
    const x = b.upload(rand(32000, 7), [1, 32000]);
    return { run: () => b.softmax(x), dispose: () => x.dispose() };
  },
});
cases.push({
  op: 'rmsNorm', shape: '4096', flops: null, bytes: 3 * 4096 * 4,
  setup(b) {
    const x = b.upload(rand(4096, 8), [1, 4096]);
    const w = b.upload(rand(4096, 9), [4096]);
    return { run: () => b.rmsNorm(x, w, 1e-5), dispose: () => { x.dispose(); w.dispose(); } };
  },
});
{
  const Hq = 32, Hkv = 8, Dh = 64, S = 1024;
  cases.push({
    op: 'attention decode', shape: `Hq${Hq} Hkv${Hkv} Dh${Dh} S${S}`, flops: 4 * Hq * S * Dh, bytes: 2 * Hkv * S * Dh * 4,
    setup(b) {
      const q = b.upload(rand(Hq * Dh, 10), [1, Hq, Dh]);
      const k = b.upload(rand(Hkv * S * Dh, 11), [Hkv, S, Dh]);
      const v = b.upload(rand(Hkv * S * Dh, 12), [Hkv, S, Dh]);
      return { run: () => b.attention(q, k, v, { past: S - 1 }), dispose: () => { q.dispose(); k.dispose(); v.dispose(); } };
    },
  });
}

async function time(b: Backend, c: Case): Promise<Row> {
  const s = c.setup(b);
  const once = async () => {
    const t = s.run();
    await b.sync();
    t.dispose();
  };
  // warmup, and a calibration: enough calls per sample that one sample is ≥ 20 ms (timer resolution)
  let t0 = performance.now();
  await once();
  await once();
  const est = Math.max((performance.now() - t0) / 2, 0.001);
  const calls = Math.max(1, Math.ceil(20 / est));
  const samples = est > 200 ? 3 : est > 50 ? 5 : 9;
  const per: number[] = [];
  for (let i = 0; i < samples; i++) {
    t0 = performance.now();
    for (let j = 0; j < calls; j++) await once();
    per.push((performance.now() - t0) / calls);
  }
  s.dispose();
  per.sort((x, y) => x - y);
  const med = per[per.length >> 1]!;
  return {
    op: c.op, shape: c.shape, backend: b.name, medianMs: med, minMs: per[0]!, samples, callsPerSample: calls,
    gflops: c.flops === null ? null : c.flops / med / 1e6, gbps: c.bytes / med / 1e6,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const wasm = await createWasmBackend();
  const cpu = await createCpuBackend();
  for (const c of cases) {
    for (const b of [wasm, cpu]) {
      rows.push(await time(b, c));
      (window as unknown as { __benchProgress: string }).__benchProgress = `${c.op} ${c.shape} ${b.name}`;
    }
  }
  wasm.dispose();
  cpu.dispose();
  (window as unknown as { __benchKernels: unknown }).__benchKernels = {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    wasmThreads: 1,
    rows,
  };
}

main().catch((e: unknown) => {
  (window as unknown as { __benchError: string }).__benchError = String((e as Error)?.stack ?? e);
});
