export { Engine, getEngine, type EngineOptions } from './engine.js';
export * from './errors.js';
export { recommendBackend, BYTES_PER_PARAM, formatBytes } from './capabilities/recommend.js';
export type * from './capabilities/types.js';
export type { MLLike } from './capabilities/detect-webnn.js';
export type { Backend, BackendName, MemoryInfo } from './backends/backend.js';
export { Tensor } from './tensor/tensor.js';
export type { DType } from './tensor/dtype.js';
