import type { AccelErrorCode, CapabilityReport } from '../engine/index.js';

/** detail of `accel-error`: what failed, a stable code to switch on and the message to show. */
export interface AccelErrorDetail {
  code: AccelErrorCode | 'unknown';
  message: string;
  error: unknown;
}

/** Every `accel-*` event with the type of its detail. */
export interface AccelEventMap {
  'accel-error': AccelErrorDetail;
  'accel-capabilities-ready': CapabilityReport;
}

export type AccelEventName = keyof AccelEventMap;

export type AccelEvent<K extends AccelEventName> = CustomEvent<AccelEventMap[K]>;

declare global {
  interface GlobalEventHandlersEventMap {
    'accel-error': AccelEvent<'accel-error'>;
    'accel-capabilities-ready': AccelEvent<'accel-capabilities-ready'>;
  }
}
