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

/**
 * An n-d array whose bytes live in one backend's memory. Tensors are created by backends (`upload`,
 * `empty`, or any op); moving data to the CPU is always an explicit, async `backend.download(t)`.
 * `dispose()` returns the storage to the backend (pooled on webgpu); using a disposed tensor throws.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: TensorOwner;
  #storage: StorageHandle | null;

  constructor(backend: TensorOwner, storage: StorageHandle, shape: Shape, dtype: DType) {
    this.backend = backend;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
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
    return this.#storage === null;
  }

  /** The backend's handle; throws DisposedError after dispose(). */
  get storage(): StorageHandle {
    if (this.#storage === null) throw new DisposedError(`Tensor [${this.shape.join(', ')}] ${this.dtype}`);
    return this.#storage;
  }

  /** A tensor sharing this one's storage with another shape of the same size (no copy). */
  reshape(shape: Shape): Tensor {
    const n = sizeOf(shape);
    if (n !== this.size) throw new ShapeError('reshape', `cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    return new TensorView(this, shape);
  }

  dispose(): void {
    if (this.#storage === null) return;
    this.backend.release(this.#storage);
    this.#storage = null;
  }
}

/** A reshape: same storage, another shape; disposing the view leaves the base alone. */
class TensorView extends Tensor {
  readonly #base: Tensor;
  constructor(base: Tensor, shape: Shape) {
    super(base.backend, base.storage, shape, base.dtype);
    this.#base = base;
  }
  override get storage(): StorageHandle {
    return this.#base.storage;
  }
  override get disposed(): boolean {
    return this.#base.disposed;
  }
  override dispose(): void {
    /* views never own storage */
  }
}
