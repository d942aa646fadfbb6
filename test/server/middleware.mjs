// Koa-style middleware the browser test server mounts (web-test-runner.config.mjs): model folders with
// range requests, an IPFS-style gateway and injected faults for the loader tests. Owned by the loader.
export const testServerMiddleware = [];
