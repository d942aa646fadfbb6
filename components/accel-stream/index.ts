import { defineElement } from '../../src/accel-element.js';
import { AccelStream } from './accel-stream.js';

export { AccelStream };

defineElement('accel-stream', AccelStream);

declare global {
  interface HTMLElementTagNameMap {
    'accel-stream': AccelStream;
  }
}
