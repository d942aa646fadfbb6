import { defineElement } from '../../src/accel-element.js';
import { AccelBenchmark } from './accel-benchmark.js';

export { AccelBenchmark };
export type { ExportFormat } from './accel-benchmark.js';

defineElement('accel-benchmark', AccelBenchmark);

declare global {
  interface HTMLElementTagNameMap {
    'accel-benchmark': AccelBenchmark;
  }
}
