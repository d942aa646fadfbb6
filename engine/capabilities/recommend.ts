import type { BackendChoice, CapabilityReport, Precision, RecommendRequest } from './types.js';

/** Weight bytes per parameter, scales of group-wise schemes (g32, f16 scale) included. */
export const BYTES_PER_PARAM: Readonly<Record<Precision, number>> = {
  f32: 4,
  original: 4,
  f16: 2,
  q8: 1 + 2 / 32,
  q4: 0.5 + 2 / 32,
  q3: 0.375 + 2 / 128,
  q2: 0.25 + 2 / 128,
};

const WASM32_LIMIT = 4 * 2 ** 30;
// Activations, KV cache and scratch on top of the weights.
const WORKING_SET_FACTOR = 1.25;

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

interface Scored extends BackendChoice {
  score: number;
}

// Engine ops each kind of model runs per token (sampling's top-k, once a token, is left out).
const DECODER_OPS = ['matmul', 'matvec', 'add', 'mul', 'embedding', 'rmsNorm', 'softmax', 'silu', 'rope', 'kvWrite', 'attention', 'argmax'];
const ENCODER_OPS = ['matmul', 'add', 'mul', 'embedding', 'layerNorm', 'softmax', 'gelu erf', 'gelu tanh', 'attention'];

/**
 * WebNN's place: the best created context (npu, then gpu, then cpu) by how many of the model's ops it runs
 * natively. All native on an NPU beats WebGPU (it offloads the GPU and is built for this work); on a GPU it
 * beats WebGPU only where WebGPU has no hardware adapter; a CPU context sits between the wasm variants. A
 * context that sends some of the model's ops to the cpu backend ranks just above plain cpu.
 */
function webnnChoice(report: CapabilityReport, request: RecommendRequest, precision: Precision, size: string, need: number, tooBig: boolean, hardwareWebGPU: boolean): Scored {
  const nn = report.webnn;
  const devices = (['npu', 'gpu', 'cpu'] as const).filter((d) => nn.contexts[d].created);
  if (!nn.api) return { backend: 'webnn', usable: false, score: 0, reason: 'webnn: navigator.ml is not exposed by this browser' };
  if (!devices.length) {
    const first = (['cpu', 'gpu', 'npu'] as const).map((d) => nn.contexts[d].error).find(Boolean);
    return { backend: 'webnn', usable: false, score: 0, reason: `webnn: no context could be created${first ? ` (${first})` : ''}` };
  }
  if (tooBig) return { backend: 'webnn', usable: false, score: 0, reason: `webnn: ${size} needs ~${formatBytes(need)}, more than this device's ${report.device.deviceMemoryGiB} GiB allows` };
  const ops = request.modelType === 'text-generation' ? DECODER_OPS : request.modelType === 'feature-extraction' ? ENCODER_OPS : [...new Set([...DECODER_OPS, ...ENCODER_OPS])];
  const missing = (d: (typeof devices)[number]): { op: string; reason: string }[] => {
    const f = nn.contexts[d].fallbacks;
    // a context without opSupportLimits() says nothing about its operators: count that as a gap, not as support
    if (!f) return [{ op: '*', reason: 'operator support unknown' }];
    const list = f.filter((x) => ops.includes(x.op));
    if (precision === 'q8') list.push(...f.filter((x) => x.op === 'qmatvec int8'));
    if (precision === 'q4' || precision === 'q3' || precision === 'q2') list.push({ op: `qmatvec ${precision}`, reason: 'packed 4/3/2-bit weights have no WebNN data type' });
    return list;
  };
  const best = [...devices].sort((a, b) => missing(a).length - missing(b).length)[0]!;
  const gaps = missing(best);
  const unverified = 'real-device WebNN runs are not yet verified';
  if (!nn.contexts[best].fallbacks) {
    return { backend: 'webnn', webnnDevice: best, usable: true, score: 20, reason: `webnn: ${best} context, but it has no opSupportLimits(), so which ops run natively is unknown` };
  }
  if (gaps.length) {
    const list = gaps.slice(0, 3).map((x) => `${x.op} (${x.reason})`).join('; ');
    return { backend: 'webnn', webnnDevice: best, usable: true, score: 20, reason: `webnn: ${best} context, but ${gaps.length} of the model's ops fall back to the cpu backend: ${list}${gaps.length > 3 ? '; …' : ''}` };
  }
  if (best === 'npu') return { backend: 'webnn', webnnDevice: best, usable: true, score: 110, reason: `webnn: NPU context runs every op of ${size} natively — offloads the GPU and CPU (${unverified})` };
  if (best === 'gpu') {
    return hardwareWebGPU
      ? { backend: 'webnn', webnnDevice: best, usable: true, score: 90, reason: `webnn: GPU context runs every op natively, but the WebGPU kernels are tuned for this decode loop (${unverified})` }
      : { backend: 'webnn', webnnDevice: best, usable: true, score: 105, reason: `webnn: GPU context runs every op of ${size} natively where WebGPU has no hardware adapter (${unverified})` };
  }
  return { backend: 'webnn', webnnDevice: best, usable: true, score: 55, reason: `webnn: CPU context runs every op natively (${unverified})` };
}

/**
 * Orders the backends for a model on the probed machine, best first, each with the reason for its
 * place. Unusable backends are listed last with what stops them, so a UI can explain every ✗.
 */
export function recommendBackend(report: CapabilityReport, request: RecommendRequest = {}): BackendChoice[] {
  const precision = request.precision ?? 'q4';
  const params = request.paramCount ?? 0;
  const measured = request.memoryBytes !== undefined && Number.isFinite(request.memoryBytes) && request.memoryBytes > 0 ? request.memoryBytes : null;
  const weightBytes = params * BYTES_PER_PARAM[precision];
  const need = measured ?? weightBytes * WORKING_SET_FACTOR;
  const size = measured !== null ? `this model (measured ${formatBytes(measured)})` : params > 0 ? `${formatParams(params)} params at ${precision} ≈ ${formatBytes(weightBytes)}` : 'this model';
  const deviceBytes = report.device.deviceMemoryGiB !== null ? report.device.deviceMemoryGiB * 2 ** 30 : null;
  // Browsers cap deviceMemory at 8 GiB, so only a clearly oversized model is ruled out by it.
  const tooBigForDevice = deviceBytes !== null && deviceBytes < 8 * 2 ** 30 && need > deviceBytes * 0.75;
  const out: Scored[] = [];

  const gpu = report.webgpu;
  if (!gpu.available || !gpu.adapter) {
    out.push({ backend: 'webgpu', usable: false, score: 0, reason: `webgpu: ${gpu.error ?? 'not available'}` });
  } else if (!gpu.deviceCreated) {
    out.push({ backend: 'webgpu', usable: false, score: 0, reason: `webgpu: adapter found but ${gpu.error ?? 'no device could be created'}` });
  } else if (tooBigForDevice) {
    out.push({ backend: 'webgpu', usable: false, score: 0, reason: `webgpu: ${size} needs ~${formatBytes(need)}, more than this device's ${report.device.deviceMemoryGiB} GiB allows` });
  } else {
    const a = gpu.adapter;
    const name = [a.vendor, a.architecture || a.description].filter(Boolean).join(' ') || 'unnamed adapter';
    const extras = [a.subgroups ? 'subgroups' : 'no subgroups', a.shaderF16 ? 'shader-f16' : 'no shader-f16'].join(', ');
    if (a.isFallbackAdapter) {
      out.push({ backend: 'webgpu', usable: true, score: 40, reason: `webgpu: fallback adapter (software: ${name}) — slower than wasm for ${size}` });
    } else {
      out.push({ backend: 'webgpu', usable: true, score: 100, reason: `webgpu: hardware adapter ${name} (${extras}) — fastest for ${size}` });
    }
  }

  const w = report.wasm;
  if (!w.supported) {
    out.push({ backend: 'wasm', usable: false, score: 0, reason: 'wasm: WebAssembly is not available in this context' });
  } else if (w.compileBlocked) {
    out.push({ backend: 'wasm', usable: false, score: 0, reason: "wasm: the page's Content-Security-Policy forbids compiling WebAssembly (add 'wasm-unsafe-eval' to script-src)" });
  } else if (!w.simd) {
    out.push({ backend: 'wasm', usable: false, score: 0, reason: 'wasm: no 128-bit SIMD, which the engine\'s wasm kernels require' });
  } else if (need > WASM32_LIMIT) {
    out.push({ backend: 'wasm', usable: false, score: 0, reason: `wasm: ${size} needs ~${formatBytes(need)}, beyond the 4 GiB of 32-bit WebAssembly memory` });
  } else if (tooBigForDevice) {
    out.push({ backend: 'wasm', usable: false, score: 0, reason: `wasm: ${size} needs ~${formatBytes(need)}, more than this device's ${report.device.deviceMemoryGiB} GiB allows` });
  } else {
    const cores = report.device.hardwareConcurrency;
    const threads = w.threads
      ? `SIMD, ${cores ?? 'several'} threads`
      : `SIMD, single-threaded (${!w.crossOriginIsolated ? 'page is not cross-origin isolated: serve with COOP/COEP headers for threads' : 'no shared memory'})`;
    out.push({ backend: 'wasm', usable: true, score: w.threads ? 60 : 50, reason: `wasm: ${threads}` });
  }

  out.push(webnnChoice(report, request, precision, size, need, tooBigForDevice, gpu.deviceCreated && !!gpu.adapter && !gpu.adapter.isFallbackAdapter));

  const cpuImpractical = params > 50e6 || (measured !== null && measured > 200 * 2 ** 20);
  out.push({ backend: 'cpu', usable: true, score: 10, reason: `cpu: plain JavaScript reference kernels — works everywhere, the slowest choice${cpuImpractical ? ` (impractical for ${params > 0 ? `${formatParams(params)} params` : formatBytes(need)})` : ''}` });

  if (request.remote) {
    const where = remoteLabel(request.remote);
    const fastLocal = out.filter((c) => c.usable && (c.backend === 'webgpu' || c.backend === 'wasm'));
    if (fastLocal.length === 0 || (cpuImpractical && fastLocal.every((c) => c.score < 50))) {
      const why = out.filter((c) => !c.usable && (c.backend === 'webgpu' || c.backend === 'wasm')).map((c) => c.reason.replace(/^\w+: /, ''));
      const local = fastLocal.length ? 'the only local GPU path is a software fallback' : why.length ? why[0]! : 'no WebGPU or WebAssembly path is usable here';
      out.push({ backend: 'remote', usable: true, score: 1000, reason: `remote: ${where} — ${local}, so the configured endpoint runs it` });
    } else {
      out.push({ backend: 'remote', usable: true, score: 20, reason: `remote: ${where} — configured, but ${fastLocal[0]!.backend} runs ${size} on this device` });
    }
  }

  return out
    .sort((x, y) => Number(y.usable) - Number(x.usable) || y.score - x.score)
    .map(({ score: _score, ...choice }) => choice);
}

/** `openai+https://host/v1#model` → `model on host` (no path, query or credentials in the report). */
function remoteLabel(src: string): string {
  try {
    const url = new URL(src.trim().replace(/^openai\+/i, ''));
    const model = decodeURIComponent(url.hash.replace(/^#/, ''));
    return model ? `${model} on ${url.host}` : url.host;
  } catch {
    return 'the configured endpoint';
  }
}
