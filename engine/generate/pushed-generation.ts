import type { Generation, GenerationResult, TokenEvent } from './generator.js';

/** How a generation running elsewhere (a Worker, a server) is steered. */
export interface RemoteControls {
  pause(): void;
  resume(): void;
  abort(): void;
}

/**
 * A Generation whose tokens and result arrive from elsewhere: the transport calls `push()` per token and
 * `finish()`/`fail()` once; readers iterate or await `result` as with a local generation. Leaving a
 * `for await` early aborts the remote run.
 */
export class PushedGeneration implements Generation {
  readonly result: Promise<GenerationResult>;
  #controls: RemoteControls;
  #queue: TokenEvent[] = [];
  #wake: (() => void) | null = null;
  #done = false;
  #paused = false;
  #resolve!: (r: GenerationResult) => void;
  #reject!: (e: unknown) => void;

  constructor(controls: RemoteControls) {
    this.#controls = controls;
    this.result = new Promise<GenerationResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(() => undefined);
  }

  get done(): boolean {
    return this.#done;
  }

  push(event: TokenEvent): void {
    if (this.#done) return;
    this.#queue.push(event);
    this.#wake?.();
  }

  finish(result: GenerationResult): void {
    if (this.#done) return;
    this.#done = true;
    this.#resolve(result);
    this.#wake?.();
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#reject(error);
    this.#wake?.();
  }

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
    this.#controls.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#controls.resume();
  }

  abort(): void {
    this.#controls.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TokenEvent> {
    let finished = false;
    try {
      for (;;) {
        if (this.#queue.length) {
          yield this.#queue.shift()!;
          continue;
        }
        if (this.#done) break;
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = null;
      }
      await this.result;
      finished = true;
    } finally {
      if (!finished && !this.#done) this.abort();
    }
  }
}
