import { defineElement } from '../../src/accel-element.js';
import { AccelModel } from './accel-model.js';

export { AccelModel };

defineElement('accel-model', AccelModel);

declare global {
  interface HTMLElementTagNameMap {
    'accel-model': AccelModel;
  }
}
