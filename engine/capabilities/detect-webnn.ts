import { planWebNN } from '../backends/webnn/support.js';
import type { MLOpSupportLimits } from '../backends/webnn/webnn-types.js';
import type { WebNNContextOutcome, WebNNDeviceType, WebNNReport } from './types.js';

/** The slice of the WebNN API that probing needs (navigator.ml). */
export interface MLLike {
  createContext(options?: { deviceType?: WebNNDeviceType }): Promise<unknown>;
}

const DEVICE_TYPES: readonly WebNNDeviceType[] = ['cpu', 'gpu', 'npu'];

function notTried(): WebNNContextOutcome {
  return { created: false, error: null };
}

/** Tries `createContext` once per deviceType and records the browser's own message on failure. */
export async function detectWebNN(ml: MLLike | null | undefined): Promise<WebNNReport> {
  const contexts: Record<WebNNDeviceType, WebNNContextOutcome> = { cpu: notTried(), gpu: notTried(), npu: notTried() };
  if (!ml || typeof ml.createContext !== 'function') {
    return { api: false, contexts, available: false };
  }
  for (const deviceType of DEVICE_TYPES) {
    try {
      const ctx = (await ml.createContext({ deviceType })) as { destroy?: () => void; opSupportLimits?: () => MLOpSupportLimits } | null;
      let fallbacks: { op: string; reason: string }[] | undefined;
      try {
        if (typeof ctx?.opSupportLimits === 'function') fallbacks = planWebNN(ctx.opSupportLimits()).fallbacks;
      } finally {
        ctx?.destroy?.();
      }
      contexts[deviceType] = { created: true, error: null, ...(fallbacks ? { fallbacks } : {}) };
    } catch (e) {
      contexts[deviceType] = { created: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
  }
  return { api: true, contexts, available: DEVICE_TYPES.some((d) => contexts[d].created) };
}
