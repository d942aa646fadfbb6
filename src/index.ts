/** Registers every `<accel-*>` element and re-exports the engine's public API. */
export { AccelElement, defineElement } from './accel-element.js';
export { configureElements, getEngineClient, type EngineClient, type EngineMode, type ElementsOptions } from './engine-client.js';
export type * from './events.js';
export { AccelBenchmark } from '../components/accel-benchmark/index.js';
export { AccelCapabilities } from '../components/accel-capabilities/index.js';
export { AccelModel } from '../components/accel-model/index.js';
export { AccelStream } from '../components/accel-stream/index.js';
export * from '../engine/index.js';
