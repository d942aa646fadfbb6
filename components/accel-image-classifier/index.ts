import { defineElement } from '../../src/accel-element.js';
import { AccelImageClassifier } from './accel-image-classifier.js';

export { AccelImageClassifier };

defineElement('accel-image-classifier', AccelImageClassifier);

declare global {
  interface HTMLElementTagNameMap {
    'accel-image-classifier': AccelImageClassifier;
  }
}
