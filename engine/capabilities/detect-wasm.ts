import type { WasmReport } from './types.js';

// Hand-assembled minimal modules; validating them asks the engine itself, never the user agent.
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
// () -> v128 { i32.const 0; i32x4.splat }
const SIMD = [...HEADER, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x0b];
// () -> v128 { f32.const 0; f32x4.splat; i32x4.relaxed_trunc_f32x4_s }
const RELAXED_SIMD = [...HEADER, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13, 0xfd, 0x81, 0x02, 0x0b];
// shared memory (min 1, max 1) and () -> () { i32.const 0; i32.atomic.load; drop }
const THREADS = [...HEADER, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
  0x05, 0x04, 0x01, 0x03, 0x01, 0x01, 0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x00, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b];
// a memory with 64-bit indices
const MEMORY64 = [...HEADER, 0x05, 0x03, 0x01, 0x04, 0x01];

function validates(bytes: number[]): boolean {
  try {
    return WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
}

/**
 * Whether compiling is refused although validating works: the one cause is a Content-Security-Policy without
 * 'wasm-unsafe-eval' (Chromium and Firefox throw a CompileError, and report one violation, for the 8-byte
 * empty module). Asked once per realm, so a strict page sees that single report.
 */
let blocked: boolean | undefined;
export function wasmCompileBlocked(): boolean {
  if (blocked === undefined) {
    try {
      new WebAssembly.Module(new Uint8Array(HEADER));
      blocked = false;
    } catch (e) {
      blocked = e instanceof WebAssembly.CompileError;
    }
  }
  return blocked;
}

export function detectWasm(): WasmReport {
  const supported = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  const sab = typeof SharedArrayBuffer === 'function';
  // Node exposes no crossOriginIsolated; its worker_threads share memory freely.
  const isolated = typeof (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === 'boolean'
    ? Boolean((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)
    : isNode();
  const threadsValidated = supported && validates(THREADS);
  return {
    supported,
    simd: supported && validates(SIMD),
    relaxedSimd: supported && validates(RELAXED_SIMD),
    threadsValidated,
    sharedArrayBuffer: sab,
    crossOriginIsolated: isolated,
    threads: threadsValidated && sab && isolated,
    memory64: supported && validates(MEMORY64),
    ...(supported ? { compileBlocked: wasmCompileBlocked() } : {}),
  };
}

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}
