/**
 * Registers every `<accel-*>` element. From the engine it re-exports the error classes, the light helpers
 * and every type; the engine itself (getEngine, Engine, Model, the quantizer, the benchmark runner, …) is
 * `accel/engine`, so a page that only uses elements never loads the engine core on the main thread.
 */
export { AccelElement, defineElement } from './accel-element.js';
export { configureElements, getEngineClient, type EngineClient, type EngineMode, type ElementsOptions } from './engine-client.js';
export type * from './events.js';
export { AccelBenchmark } from '../components/accel-benchmark/index.js';
export { AccelCache } from '../components/accel-cache/index.js';
export { AccelCapabilities } from '../components/accel-capabilities/index.js';
export { AccelImageClassifier } from '../components/accel-image-classifier/index.js';
export { toRgbaImage, type ImageInput } from './image-data.js';
export { AccelModel } from '../components/accel-model/index.js';
export { AccelStream } from '../components/accel-stream/index.js';
export type * from '../engine/index.js';
export * from '../engine/errors.js';
export { recommendBackend, BYTES_PER_PARAM, formatBytes } from '../engine/capabilities/recommend.js';
export { isRemoteSource, parseRemoteSource } from '../engine/remote/source.js';
export { WorkerEngine, RemoteModel } from '../engine/worker/worker-client.js';
export { defaultWorkerUrl } from '../engine/worker/worker-url.js';
export { PushedGeneration } from '../engine/generate/pushed-generation.js';
