// Skips a browser test whose subject this browser lacks, and says so in the run's output (web-test-runner
// prints browser console lines) — so a green Firefox run never hides WebGPU tests that did not run.
import { getEngine } from '../../engine/index.js';

let webgpuWhyNot: Promise<string | null> | null = null;

/** Null when a WebGPU device can be created here, else the reason (from the capability report). */
export function webgpuUnavailableReason(): Promise<string | null> {
  webgpuWhyNot ??= getEngine().capabilities().then((r) => {
    if (r.webgpu.available && r.webgpu.deviceCreated) return null;
    return r.webgpu.error ?? (r.webgpu.api ? 'no WebGPU adapter' : 'navigator.gpu is missing');
  });
  return webgpuWhyNot;
}

/** Call first in a mocha `it`/`before` (with `function () {}` so `this` is mocha's context). */
export async function requireWebGPU(ctx: Mocha.Context): Promise<void> {
  const why = await webgpuUnavailableReason();
  if (why === null) return;
  const title = ctx.currentTest?.fullTitle() ?? ctx.test?.fullTitle() ?? '(suite)';
  console.warn(`[skipped: needs WebGPU] ${title} — ${navigator.userAgent.match(/(Firefox|Chrome)\/[\d.]+/)?.[0] ?? 'this browser'}: ${why}`);
  ctx.skip();
}
