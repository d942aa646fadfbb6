import { DisposedError, ShapeError } from '../errors.js';
import { BYTES_PER_ELEMENT, type DType } from './dtype.js';
import { sizeOf, type Shape } from './shape.js';

/** What a backend keeps per tensor (a GPUBuffer, a wasm heap offset, a typed array…). Opaque outside it. */
export interface StorageHandle {
  readonly byteLength: number;
}

/** The part of a backend a tensor needs: giving its storage back. */
export interface TensorOwner {
  readonly name: string;
  release(storage: StorageHandle): void;
}

// Reshaped views share one storage; it goes back to the backend when the last of them is disposed.
interface SharedStorage {
  handle: StorageHandle | null;
  refs: number;
}

/**
 * An n-d array whose bytes live in one backend's memory. Tensors are created by backends (`upload`,
 * `empty`, or any op); moving data to the CPU is always an explicit, async `backend.download(t)`.
 * `dispose()` returns the storage to the backend (pooled on webgpu) once no reshaped view of it is
 * alive; using a disposed tensor throws.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: TensorOwner;
  #shared: SharedStorage;
  #alive = true;

  constructor(backend: TensorOwner, storage: StorageHandle | SharedStorage, shape: Shape, dtype: DType) {
    this.backend = backend;
    this.#shared = 'refs' in storage ? storage : { handle: storage, refs: 0 };
    this.#shared.refs++;
    // a shape that is already frozen (another tensor's) is shared, not copied: ops pass x.shape along every step
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.dtype = dtype;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Logical bytes of the elements (storage may be larger: pools round sizes up). */
  get byteLength(): number {
    return Math.ceil(this.size * BYTES_PER_ELEMENT[this.dtype]);
  }

  get disposed(): boolean {
    return !this.#alive;
  }

  /** The backend's handle; throws DisposedError after dispose(). */
  get storage(): StorageHandle {
    if (!this.#alive || this.#shared.handle === null) throw new DisposedError(`Tensor [${this.shape.join(', ')}] ${this.dtype}`);
    return this.#shared.handle;
  }

  /**
   * The same storage seen with another shape of the same size (no copy). The view and this tensor are
   * disposed independently; the storage is released when both are.
   */
  reshape(shape: Shape): Tensor {
    if (!this.#alive) throw new DisposedError(`Tensor [${this.shape.join(', ')}] ${this.dtype}`);
    if (sizeOf(shape) !== this.size) throw new ShapeError('reshape', `cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    return new Tensor(this.backend, this.#shared, shape, this.dtype);
  }

  dispose(): void {
    if (!this.#alive) return;
    this.#alive = false;
    const s = this.#shared;
    if (--s.refs === 0 && s.handle !== null) {
      const handle = s.handle;
      s.handle = null;
      this.backend.release(handle);
    }
  }
}
