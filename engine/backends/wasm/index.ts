import type { Backend } from '../backend.js';
import { BackendUnavailableError } from '../../errors.js';
import { KERNELS_THREADS_WASM_BASE64, KERNELS_WASM_BASE64 } from './build/kernels-wasm.js';
import { WasmHeap } from './heap.js';
import { CTL_WORDS } from './opcodes.js';
import { WasmBackend, type KernelExports } from './wasm-backend.js';
import { threadsPossible, WorkerPool } from './worker-pool.js';

export { defaultThreads } from './worker-pool.js';

export { WasmBackend } from './wasm-backend.js';

export interface WasmBackendOptions {
  /**
   * Threads for the kernels (default 1: every op runs eagerly on the calling thread). More than 1 starts
   * a SharedArrayBuffer worker pool where one can run (cross-origin isolated pages, Node); elsewhere it
   * falls back to 1.
   */
  threads?: number;
  /** Upper bound of the wasm memory in bytes (default and maximum 4 GiB). */
  maxMemoryBytes?: number;
}

const PAGE = 65536;
const MAX_PAGES = 65536;

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Whether even the empty module cannot be compiled: a Content-Security-Policy without 'wasm-unsafe-eval'. */
function emptyModuleRefused(): boolean {
  try {
    new WebAssembly.Module(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    return false;
  } catch {
    return true;
  }
}

const modules = new Map<string, Promise<WebAssembly.Module>>();
function compile(base64: string): Promise<WebAssembly.Module> {
  let m = modules.get(base64);
  if (!m) {
    m = WebAssembly.compile(decodeBase64(base64)).catch((cause: unknown) => {
      modules.delete(base64);
      // the kernels are valid wasm (the build checks them), so a CompileError here means compiling is forbidden
      if (cause instanceof WebAssembly.CompileError && emptyModuleRefused()) {
        throw new BackendUnavailableError('wasm', "the page's Content-Security-Policy forbids compiling WebAssembly; add 'wasm-unsafe-eval' to script-src, or use the webgpu or cpu backend", { cause });
      }
      throw cause;
    });
    modules.set(base64, m);
  }
  return m;
}

/** Whether this engine runs WebAssembly SIMD (the kernels need it). */
export function wasmSimdSupported(): boolean {
  // (module (func (result v128) i32.const 0 i32x4.splat))
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11]);
  return typeof WebAssembly === 'object' && WebAssembly.validate(probe);
}

/** Creates the WebAssembly SIMD backend (with a worker pool when threads > 1 are possible here). */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<Backend> {
  if (typeof WebAssembly !== 'object') throw new BackendUnavailableError('wasm', 'WebAssembly is not available');
  if (!wasmSimdSupported()) throw new BackendUnavailableError('wasm', 'WebAssembly SIMD is not supported by this engine');
  const maxPages = Math.min(MAX_PAGES, Math.max(32, Math.floor((opts.maxMemoryBytes ?? MAX_PAGES * PAGE) / PAGE)));
  const initial = Math.min(32, maxPages);
  let threads = Math.floor(opts.threads ?? 1);
  if (!(threads >= 1)) throw new BackendUnavailableError('wasm', `threads must be ≥ 1, got ${opts.threads}`);
  if (threads > 1 && !threadsPossible()) threads = 1;

  const shared = threads > 1;
  const module = await compile(shared ? KERNELS_THREADS_WASM_BASE64 : KERNELS_WASM_BASE64);
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial, maximum: maxPages, shared });
  } catch (cause) {
    throw new BackendUnavailableError('wasm', `cannot create a ${shared ? 'shared ' : ''}wasm memory of up to ${maxPages} pages`, { cause });
  }
  const instance = await WebAssembly.instantiate(module, { env: { memory, batchDone: () => {}, abort: () => {} } });
  const ex = instance.exports as unknown as KernelExports & { heapBase(): number };
  // never hand out address 0: a 0 pointer means "absent" in command records
  const heap = new WasmHeap(memory, Math.max(64, ex.heapBase()), maxPages * PAGE);
  let pool: WorkerPool | null = null;
  if (shared) {
    const ctl = heap.alloc(CTL_WORDS * 4);
    new Uint8Array(memory.buffer, ctl.ptr, CTL_WORDS * 4).fill(0);
    pool = await WorkerPool.create(module, memory, ctl.ptr, threads);
  }
  return new WasmBackend(heap, ex, pool);
}
