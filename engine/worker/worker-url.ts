/**
 * Where the engine Worker's script is. From sources this is worker-entry.ts (served compiled by the
 * dev server); the rollup build replaces this expression with the URL of the self-contained
 * `accel-worker.js` it emits next to the bundle.
 */
export function defaultWorkerUrl(): URL {
  return new URL('./worker-entry.ts', import.meta.url);
}
