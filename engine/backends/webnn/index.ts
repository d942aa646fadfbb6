import { BackendUnavailableError } from '../../errors.js';
import { WebNNBackend } from './webnn-backend.js';
import type { ML, MLDeviceType, MLGraphBuilderCtor } from './webnn-types.js';

export { WebNNBackend, type WebNNStats } from './webnn-backend.js';
export { planWebNN, recipeProblem, type WebNNFallback, type WebNNPlan } from './support.js';
export type * from './webnn-types.js';

export interface WebNNBackendFactoryOptions {
  /** WebNN entry point; default navigator.ml. */
  ml?: ML | null;
  /** The MLGraphBuilder constructor; default the global one. */
  builder?: MLGraphBuilderCtor | null;
  /** Which device the MLContext targets; default 'gpu'. */
  deviceType?: MLDeviceType;
  /** One graph per run of ops between flush points (default true) or one per op (false). */
  fuse?: boolean;
}

/**
 * Creates an MLContext for the device type and the backend on it. Throws BackendUnavailableError with the
 * browser's own message when navigator.ml is missing or the context cannot be created.
 */
export async function createWebNNBackend(options: WebNNBackendFactoryOptions = {}): Promise<WebNNBackend> {
  const g = globalThis as { navigator?: { ml?: ML }; MLGraphBuilder?: MLGraphBuilderCtor };
  const ml = options.ml === undefined ? (g.navigator?.ml ?? null) : options.ml;
  const builder = options.builder ?? g.MLGraphBuilder ?? null;
  const deviceType = options.deviceType ?? 'gpu';
  if (!ml || typeof ml.createContext !== 'function') throw new BackendUnavailableError('webnn', 'navigator.ml is not defined here (WebNN is behind a flag or not implemented in this browser)');
  if (!builder) throw new BackendUnavailableError('webnn', 'MLGraphBuilder is not defined here');
  let context;
  try {
    context = await ml.createContext({ deviceType });
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new BackendUnavailableError('webnn', `no ${deviceType} MLContext could be created (${message})`, { cause: e });
  }
  if (typeof context.opSupportLimits !== 'function') {
    context.destroy?.();
    throw new BackendUnavailableError('webnn', 'this WebNN implementation has no MLContext.opSupportLimits(), which the backend needs to choose between graphs and fallbacks');
  }
  return new WebNNBackend({ context, builder, deviceType, ...(options.fuse !== undefined ? { fuse: options.fuse } : {}) });
}
