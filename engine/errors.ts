/**
 * Every failure the engine reports is an `AccelError` with a stable `code` that callers can switch on
 * and a message that says what to do next. Elements turn these into `accel-error` events.
 */
export type AccelErrorCode =
  | 'webgpu-unavailable'
  | 'device-lost'
  | 'out-of-memory'
  | 'backend-unavailable'
  | 'unsupported-op'
  | 'shape-mismatch'
  | 'dtype-mismatch'
  | 'invalid-argument'
  | 'disposed'
  | 'capabilities-failed'
  | 'wasm-unavailable'
  | 'invalid-format';

export interface AccelErrorOptions {
  cause?: unknown;
}

export class AccelError extends Error {
  readonly code: AccelErrorCode;

  constructor(code: AccelErrorCode, message: string, options: AccelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

export class WebGPUUnavailableError extends AccelError {
  constructor(reason: string, options?: AccelErrorOptions) {
    super('webgpu-unavailable', `WebGPU is not available: ${reason}. Use backend "wasm" or "cpu", or a browser with WebGPU enabled.`, options);
  }
}

export class DeviceLostError extends AccelError {
  readonly reason: string;
  constructor(reason: string, detail: string, options?: AccelErrorOptions) {
    super('device-lost', `The GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). Reload the model to continue; the engine creates a new device on the next request.`, options);
    this.reason = reason;
  }
}

export class OutOfMemoryError extends AccelError {
  readonly requestedBytes: number;
  constructor(requestedBytes: number, where: string, options?: AccelErrorOptions) {
    super('out-of-memory', `Out of memory allocating ${requestedBytes} bytes on ${where}. Use a smaller model or a lower precision.`, options);
    this.requestedBytes = requestedBytes;
  }
}

export class BackendUnavailableError extends AccelError {
  constructor(backend: string, reason: string, options?: AccelErrorOptions) {
    super('backend-unavailable', `Backend "${backend}" is not available here: ${reason}.`, options);
  }
}

export class ShapeError extends AccelError {
  constructor(op: string, detail: string) {
    super('shape-mismatch', `${op}: ${detail}`);
  }
}

export class DTypeError extends AccelError {
  constructor(op: string, detail: string) {
    super('dtype-mismatch', `${op}: ${detail}`);
  }
}

export class InvalidArgumentError extends AccelError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}

export class DisposedError extends AccelError {
  constructor(what: string) {
    super('disposed', `${what} was used after dispose().`);
  }
}

/**
 * A model file (safetensors, GGUF, config.json, tokenizer files…) that is malformed or unsupported.
 * `byteOffset` points at the offending bytes when the problem has a position in the file.
 */
export class FormatError extends AccelError {
  readonly fileName: string;
  readonly byteOffset: number | undefined;
  constructor(fileName: string, problem: string, options: AccelErrorOptions & { byteOffset?: number } = {}) {
    const at = options.byteOffset === undefined ? '' : ` at byte ${options.byteOffset}`;
    super('invalid-format', `${fileName}${at}: ${problem}`, options);
    this.fileName = fileName;
    this.byteOffset = options.byteOffset;
  }
}
