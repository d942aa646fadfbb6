import { InvalidArgumentError } from '../../engine/errors.js';
import type { ModelHandle } from '../../engine/load-model.js';
import { isRemoteSource } from '../../engine/remote/source.js';
import { lazyEngine } from '../lazy-engine.js';
import { getEngineClient } from '../engine-client.js';

/** What `<accel-model>` offers to the elements that use it. */
export interface ModelProvider extends HTMLElement {
  ready(): Promise<ModelHandle>;
  /** Tells the provider that a call on `model` failed with `error`; a lost device makes it drop the model. */
  modelFailed?(model: ModelHandle, error: unknown): void;
}

function isProvider(el: Element | null): el is ModelProvider {
  return !!el && typeof (el as Partial<ModelProvider>).ready === 'function';
}

/**
 * Finds the `<accel-model id="…">` an element names, in the same document or shadow root, waiting for
 * it to be upgraded if its definition loads later. Throws a typed error when no such element exists.
 */
export async function findModelElement(host: Element, id: string): Promise<ModelProvider> {
  const root = host.getRootNode() as Document | ShadowRoot;
  const el = root.getElementById?.(id) ?? document.getElementById(id);
  if (!el) throw new InvalidArgumentError(`model="${id}": there is no element with id "${id}" on the page; add <accel-model id="${id}" src="…">.`);
  if (el.localName === 'accel-model') await customElements.whenDefined('accel-model');
  if (!isProvider(el)) throw new InvalidArgumentError(`model="${id}" names a <${el.localName}>, not an <accel-model>.`);
  return el;
}

/**
 * A source as the engine wants it: relative paths (`models/x/`) resolve against the page, so they mean
 * the same in a Worker; `hf:`, `ipfs:` and absolute URLs pass unchanged.
 */
export function absoluteSource(src: string): string {
  const s = src.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(s)) return s;
  return new URL(s, document.baseURI).href;
}

/**
 * The model an element should use: the `<accel-model>` named by `model`, else `src` loaded straight
 * through the shared engine (same source → same loaded copy).
 */
export async function resolveModel(host: Element, model: string, src: string, signal?: AbortSignal): Promise<ModelHandle> {
  if (model) return (await findModelElement(host, model)).ready();
  // Remote models stream over HTTP from this thread (see <accel-model>); a key needs <accel-model>'s apiKey.
  if (src && isRemoteSource(src)) return lazyEngine.load(src, { backend: 'remote', ...(signal ? { signal } : {}) });
  if (src) return getEngineClient().load(absoluteSource(src), signal ? { signal } : {});
  throw new InvalidArgumentError(`<${host.localName}> needs a model="id of an <accel-model>" or a src attribute.`);
}
