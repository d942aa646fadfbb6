import { LitElement } from 'lit';
import { AccelError } from '../engine/errors.js';
import type { AccelErrorDetail, AccelEventMap, AccelEventName } from './events.js';
import { getEngineClient, type EngineClient } from './engine-client.js';
import { lazyEngine, type LazyEngine } from './lazy-engine.js';

/**
 * Base of every `<accel-*>` element: typed events that bubble out of shadow roots, access to the shared
 * engine, and one path from any failure to an `accel-error` event.
 */
export class AccelElement extends LitElement {
  /** The realm's shared engine (one per page or Worker); its core is loaded on first use (see lazy-engine.ts). */
  protected get engine(): LazyEngine {
    return lazyEngine;
  }

  /** The engine that runs models for elements (a Worker by default; see configureElements). */
  protected get client(): EngineClient {
    return getEngineClient();
  }

  /** Dispatches a typed `accel-*` CustomEvent that bubbles and crosses shadow boundaries. */
  emit<K extends AccelEventName>(name: K, detail: AccelEventMap[K], options: { cancelable?: boolean } = {}): CustomEvent<AccelEventMap[K]> {
    const event = new CustomEvent(name, { detail, bubbles: true, composed: true, cancelable: options.cancelable ?? false });
    this.dispatchEvent(event);
    return event;
  }

  /** Turns any thrown value into an `accel-error` event and returns its detail for rendering. */
  protected reportError(error: unknown): AccelErrorDetail {
    const detail: AccelErrorDetail = error instanceof AccelError
      ? { code: error.code, message: error.message, error }
      : { code: 'unknown', message: error instanceof Error ? error.message : String(error), error };
    this.emit('accel-error', detail);
    return detail;
  }
}

/** Registers a tag once; a second copy of the library on the page reuses the first definition. */
export function defineElement(tag: string, ctor: CustomElementConstructor): void {
  if (!customElements.get(tag)) customElements.define(tag, ctor);
}
