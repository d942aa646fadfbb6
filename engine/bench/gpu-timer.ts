import { BufferUsage, MapMode } from '../backends/webgpu/gpu-constants.js';

/**
 * GPU-clock span of a piece of work on WebGPU with `timestamp-query`: an empty compute pass writes a
 * timestamp before the work is submitted and another after it, so the difference is how long the GPU's
 * queue took from the first marker to the second (idle gaps while the CPU samples a token included).
 * Only the engine's own device can be timed, so the backend must expose it.
 */
export interface TimestampDevice {
  readonly device: GPUDevice;
  flush?(): void;
}

export function timestampDevice(backend: unknown): TimestampDevice | null {
  const b = backend as { name?: string; device?: GPUDevice } | null;
  if (!b || b.name !== 'webgpu' || !b.device || typeof b.device.createQuerySet !== 'function') return null;
  return b.device.features.has('timestamp-query') ? (b as TimestampDevice) : null;
}

export class GpuSpanTimer {
  readonly #target: TimestampDevice;
  readonly #querySet: GPUQuerySet;
  readonly #resolve: GPUBuffer;
  readonly #readback: GPUBuffer;

  constructor(target: TimestampDevice) {
    this.#target = target;
    const d = target.device;
    this.#querySet = d.createQuerySet({ type: 'timestamp', count: 2 });
    // two u64 nanosecond timestamps
    this.#resolve = d.createBuffer({ size: 16, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    this.#readback = d.createBuffer({ size: 16, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  }

  #marker(write: GPUComputePassTimestampWrites, resolve: boolean): void {
    const d = this.#target.device;
    const encoder = d.createCommandEncoder();
    encoder.beginComputePass({ timestampWrites: write }).end();
    if (resolve) {
      encoder.resolveQuerySet(this.#querySet, 0, 2, this.#resolve, 0);
      encoder.copyBufferToBuffer(this.#resolve, 0, this.#readback, 0, 16);
    }
    d.queue.submit([encoder.finish()]);
  }

  /** Call right before the work: everything the backend recorded so far is submitted first. */
  begin(): void {
    this.#target.flush?.();
    this.#marker({ querySet: this.#querySet, beginningOfPassWriteIndex: 0 }, false);
  }

  /** Call right after the work; resolves with the span in ms, or null when the clock gave no usable pair. */
  async end(): Promise<number | null> {
    this.#target.flush?.();
    this.#marker({ querySet: this.#querySet, endOfPassWriteIndex: 1 }, true);
    await this.#readback.mapAsync(MapMode.READ);
    const [t0, t1] = new BigUint64Array(this.#readback.getMappedRange().slice(0));
    this.#readback.unmap();
    // implementations may zero or quantize timestamps (privacy); a pair that goes backwards is unusable
    if (t0 === undefined || t1 === undefined || t0 === 0n || t1 < t0) return null;
    return Number(t1 - t0) / 1e6;
  }

  dispose(): void {
    this.#querySet.destroy();
    this.#resolve.destroy();
    this.#readback.destroy();
  }
}
