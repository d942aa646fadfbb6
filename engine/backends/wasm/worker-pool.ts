import { AccelError, BackendUnavailableError } from '../../errors.js';
import { CTL_CMDS, CTL_NCMDS, CTL_QUIT, CTL_SEQ, CTL_STATUS, CTL_STATUS_CMD, CTL_WORKERS } from './opcodes.js';

// The worker's whole program. It instantiates the kernels over the shared memory and enters
// workerLoop (wasm), which sleeps on the doorbell with memory.atomic.wait and never returns to the event
// loop until told to quit; worker 0 reports each finished batch through the imported batchDone.
const BODY = `
function start(d, post) {
  WebAssembly.instantiate(d.module, { env: { memory: d.memory, batchDone: (seq) => post({ done: seq }), abort: () => {} } })
    .then((inst) => {
      post({ ready: d.id });
      try { inst.exports.workerLoop(d.ctl, d.id); post({ exited: d.id }); }
      catch (e) { post({ error: String((e && e.message) || e) }); }
    }, (e) => post({ error: String((e && e.message) || e) }));
}`;
const BROWSER_SOURCE = `${BODY}\nself.onmessage = (e) => start(e.data, (m) => self.postMessage(m));\n`;
const NODE_SOURCE = `${BODY}\nconst { parentPort } = require('node:worker_threads');\nparentPort.once('message', (d) => start(d, (m) => parentPort.postMessage(m)));\n`;

interface PoolWorker {
  post(message: unknown): void;
  onMessage(handler: (m: WorkerMessage) => void): void;
  /** Node only: keep the process alive while a batch runs, not while the pool idles. */
  hold(held: boolean): void;
  terminate(): void;
}

interface WorkerMessage {
  ready?: number;
  done?: number;
  exited?: number;
  error?: string;
}

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Whether a SharedArrayBuffer pool can run here: cross-origin isolated pages, workers in them, or Node. */
export function threadsPossible(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  if (isNode()) return true;
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof Worker !== 'undefined';
}

export async function defaultThreads(): Promise<number> {
  if (isNode()) {
    const name = 'node:os';
    const os = (await import(/* @vite-ignore */ name)) as { availableParallelism?: () => number; cpus: () => unknown[] };
    return Math.min(16, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  }
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.min(16, Math.max(1, hc));
}

async function spawn(count: number): Promise<PoolWorker[]> {
  if (isNode()) {
    const name = 'node:worker_threads';
    const wt = (await import(/* @vite-ignore */ name)) as {
      Worker: new (src: string, opts: { eval: boolean }) => {
        postMessage(m: unknown): void;
        on(ev: 'message', f: (m: WorkerMessage) => void): void;
        on(ev: 'error', f: (e: Error) => void): void;
        ref(): void;
        unref(): void;
        terminate(): Promise<number>;
      };
    };
    return Array.from({ length: count }, () => {
      // referenced until the pool is ready, then only while a batch runs
      const w = new wt.Worker(NODE_SOURCE, { eval: true });
      let handler: (m: WorkerMessage) => void = () => {};
      w.on('message', (m) => handler(m));
      w.on('error', (e) => handler({ error: e.message }));
      return {
        post: (m: unknown) => w.postMessage(m),
        onMessage: (h: (m: WorkerMessage) => void) => { handler = h; },
        hold: (held: boolean) => (held ? w.ref() : w.unref()),
        terminate: () => void w.terminate(),
      };
    });
  }
  const url = URL.createObjectURL(new Blob([BROWSER_SOURCE], { type: 'text/javascript' }));
  try {
    return Array.from({ length: count }, () => {
      const w = new Worker(url);
      let handler: (m: WorkerMessage) => void = () => {};
      w.onmessage = (e: MessageEvent<WorkerMessage>) => handler(e.data);
      w.onerror = (e: ErrorEvent) => handler({ error: e.message });
      return {
        post: (m: unknown) => w.postMessage(m),
        onMessage: (h: (m: WorkerMessage) => void) => { handler = h; },
        hold: () => {},
        terminate: () => w.terminate(),
      };
    });
  } finally {
    // the workers have fetched the script by the time they answer; the URL is no longer needed then
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

/** Result of one batch: the status of the first failing command (0 = all ran). */
export interface BatchResult {
  status: number;
  command: number;
}

/**
 * N workers sharing one WebAssembly.Memory. The host writes a batch of command records into the
 * memory, rings the doorbell (Atomics.notify on CTL_SEQ); every worker runs its share of each command
 * with a barrier between commands; worker 0 posts `done`. One batch at a time.
 */
export class WorkerPool {
  readonly size: number;
  readonly #memory: WebAssembly.Memory;
  readonly #ctl: number;
  readonly #workers: PoolWorker[];
  #seq = 0;
  #waiting: { seq: number; resolve: (r: BatchResult) => void; reject: (e: Error) => void } | null = null;
  #broken: Error | null = null;
  #quitting = false;

  private constructor(memory: WebAssembly.Memory, ctl: number, workers: PoolWorker[]) {
    this.#memory = memory;
    this.#ctl = ctl >> 2;
    this.#workers = workers;
    this.size = workers.length;
  }

  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, ctl: number, size: number): Promise<WorkerPool> {
    const workers = await spawn(size);
    const pool = new WorkerPool(memory, ctl, workers);
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      const timer = setTimeout(() => reject(new BackendUnavailableError('wasm', `worker pool did not start (${ready}/${size} ready after 30 s)`)), 30_000);
      workers.forEach((w, id) => {
        w.onMessage((m) => {
          if (m.ready !== undefined && ++ready === size) {
            clearTimeout(timer);
            resolve();
          } else if (m.error !== undefined) {
            clearTimeout(timer);
            reject(new BackendUnavailableError('wasm', `a pool worker failed to start: ${m.error}`));
          }
        });
        w.post({ module, memory, ctl, id });
      });
    }).catch((e: unknown) => {
      for (const w of workers) w.terminate();
      throw e;
    });
    workers.forEach((w, id) => {
      w.onMessage((m) => pool.#onMessage(id, m));
      w.hold(false);
    });
    return pool;
  }

  #onMessage(id: number, m: WorkerMessage): void {
    if (m.error !== undefined || (m.exited !== undefined && !this.#quitting)) {
      // a trapped kernel leaves the other workers at a barrier: the pool cannot continue
      this.#broken = new AccelError('backend-unavailable', `wasm worker ${id} stopped: ${m.error ?? 'exited'}. Create a new wasm backend.`);
      const w = this.#waiting;
      this.#waiting = null;
      w?.reject(this.#broken);
      return;
    }
    if (m.done !== undefined && this.#waiting && m.done === this.#waiting.seq) {
      const w = this.#waiting;
      this.#waiting = null;
      for (const worker of this.#workers) worker.hold(false);
      const i32 = new Int32Array(this.#memory.buffer);
      w.resolve({ status: Atomics.load(i32, this.#ctl + CTL_STATUS), command: Atomics.load(i32, this.#ctl + CTL_STATUS_CMD) });
    }
  }

  /** Runs `count` command records at `cmds`; resolves when every worker has finished them. */
  run(cmds: number, count: number): Promise<BatchResult> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#waiting) return Promise.reject(new Error('WorkerPool.run: a batch is already running'));
    const i32 = new Int32Array(this.#memory.buffer);
    const c = this.#ctl;
    Atomics.store(i32, c + CTL_CMDS, cmds);
    Atomics.store(i32, c + CTL_NCMDS, count);
    Atomics.store(i32, c + CTL_WORKERS, this.size);
    Atomics.store(i32, c + CTL_STATUS, 0);
    Atomics.store(i32, c + CTL_STATUS_CMD, -1);
    const seq = (this.#seq = (this.#seq + 1) | 0);
    const done = new Promise<BatchResult>((resolve, reject) => {
      this.#waiting = { seq, resolve, reject };
    });
    for (const w of this.#workers) w.hold(true);
    Atomics.store(i32, c + CTL_SEQ, seq);
    Atomics.notify(i32, c + CTL_SEQ);
    return done;
  }

  dispose(): void {
    this.#quitting = true;
    const i32 = new Int32Array(this.#memory.buffer);
    Atomics.store(i32, this.#ctl + CTL_QUIT, 1);
    Atomics.add(i32, this.#ctl + CTL_SEQ, 1);
    Atomics.notify(i32, this.#ctl + CTL_SEQ);
    for (const w of this.#workers) w.terminate();
    const w = this.#waiting;
    this.#waiting = null;
    w?.reject(new AccelError('disposed', 'The wasm backend was disposed while a batch was running.'));
  }
}
