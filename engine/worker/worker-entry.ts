// The module a dedicated Worker runs: the engine, served to the page that started it.
import { serveEngine } from './worker-host.js';

serveEngine(globalThis as unknown as Parameters<typeof serveEngine>[0]);
