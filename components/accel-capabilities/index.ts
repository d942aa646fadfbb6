import { defineElement } from '../../src/accel-element.js';
import { AccelCapabilities } from './accel-capabilities.js';

export { AccelCapabilities };

defineElement('accel-capabilities', AccelCapabilities);

declare global {
  interface HTMLElementTagNameMap {
    'accel-capabilities': AccelCapabilities;
  }
}
