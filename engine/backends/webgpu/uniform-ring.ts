import { BufferUsage } from './gpu-constants.js';

/**
 * Op parameters for one batch of recorded work: every op gets a 256-byte slot of one uniform buffer, bound with
 * a dynamic offset (so bind groups stay cacheable), written to the GPU with one writeBuffer just before submit.
 * A full ring asks the backend to submit, after which slots are reused: queue order keeps the earlier submit
 * reading its own values.
 */
export class UniformRing {
  readonly buffer: GPUBuffer;
  readonly slotBytes: number;
  readonly slots: number;
  #cpu: ArrayBuffer;
  #u32: Uint32Array;
  #f32: Float32Array;
  #used = 0;

  constructor(device: GPUDevice, slotBytes: number, slots: number) {
    this.slotBytes = slotBytes;
    this.slots = slots;
    this.buffer = device.createBuffer({ size: slotBytes * slots, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    this.#cpu = new ArrayBuffer(slotBytes * slots);
    this.#u32 = new Uint32Array(this.#cpu);
    this.#f32 = new Float32Array(this.#cpu);
  }

  get full(): boolean {
    return this.#used >= this.slots;
  }

  get used(): number {
    return this.#used;
  }

  /** Claims the next slot and fills it; values are u32 unless listed in `floats` (indices of f32 fields). */
  push(values: readonly number[], floats?: ReadonlySet<number>): number {
    const slot = this.#used++;
    const base = (slot * this.slotBytes) / 4;
    for (let i = 0; i < values.length; i++) {
      if (floats?.has(i)) this.#f32[base + i] = values[i]!;
      else this.#u32[base + i] = values[i]! >>> 0;
    }
    return slot * this.slotBytes;
  }

  /** Uploads the used slots (before the submit that reads them) and starts over. */
  upload(queue: GPUQueue): void {
    if (this.#used === 0) return;
    queue.writeBuffer(this.buffer, 0, this.#cpu, 0, this.#used * this.slotBytes);
    this.#used = 0;
  }

  reset(): void {
    this.#used = 0;
  }
}
