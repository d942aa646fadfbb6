/** Registers every `<accel-*>` element and re-exports the engine's public API. */
export { AccelElement, defineElement } from './accel-element.js';
export type * from './events.js';
export { AccelCapabilities } from '../components/accel-capabilities/index.js';
export * from '../engine/index.js';
