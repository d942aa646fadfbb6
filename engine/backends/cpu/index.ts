import type { Backend } from '../backend.js';
import { CpuBackend } from './cpu-backend.js';

export { CpuBackend };
export { erf, geluErf, geluTanh, silu } from './special.js';

/** The reference backend; always available (async only to match the other backends' factories). */
export async function createCpuBackend(): Promise<Backend> {
  return new CpuBackend();
}
