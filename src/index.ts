/** Registers every `<accel-*>` element and re-exports the engine's public API. */
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
export * from '../engine/index.js';
