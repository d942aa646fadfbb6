import { defineElement } from '../../src/accel-element.js';
import { AccelCache } from './accel-cache.js';

export { AccelCache };

defineElement('accel-cache', AccelCache);

declare global {
  interface HTMLElementTagNameMap {
    'accel-cache': AccelCache;
  }
}
