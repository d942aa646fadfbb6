import { AccelError } from '../errors.js';
import type { Generation, GenerationMetrics } from '../generate/index.js';
import type { ModelHandle } from '../load-model.js';
import { getEngine } from '../engine.js';
import type { Request, Response, WireError } from './protocol.js';

interface Port {
  postMessage(message: Response): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<Request>) => void): void;
}

function toWire(error: unknown): WireError {
  if (error instanceof AccelError) return { name: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { name: error.name, code: 'unknown', message: error.message };
  return { name: 'Error', code: 'unknown', message: String(error) };
}

/**
 * Serves the realm's engine to a page over `port` (the Worker's global scope): loads models, streams
 * tokens, forwards progress, and honours abort/pause/resume sent from the page.
 */
export function serveEngine(port: Port): void {
  const engine = getEngine();
  // this port's handles; the engine shares one loaded copy between ports that load the same source
  const models = new Map<number, ModelHandle>();
  const aborts = new Map<number, AbortController>();
  const generations = new Map<number, Generation>();
  let nextModelId = 1;
  const reply = (r: Response) => port.postMessage(r);

  const run = async (req: Request): Promise<unknown> => {
    switch (req.t) {
      case 'capabilities':
        return engine.capabilities({ refresh: req.refresh });
      case 'recommend':
        return engine.recommendBackend(req.request);
      case 'load': {
        const abort = new AbortController();
        aborts.set(req.id, abort);
        const src = Array.isArray(req.src) ? [...req.src] : req.src;
        const model = await engine.load(src as string, { ...req.options, signal: abort.signal, onProgress: (value) => reply({ t: 'progress', id: req.id, value }), onWarning: (e) => reply({ t: 'warning', id: req.id, error: toWire(e) }) });
        const modelId = nextModelId++;
        models.set(modelId, model);
        return { modelId, info: model.info };
      }
      case 'unload': {
        const model = models.get(req.modelId);
        if (!model) return false;
        models.delete(req.modelId);
        return engine.unload(model);
      }
      case 'embed':
        return need(req.modelId).embed(req.text);
      case 'loaded':
        return engine.loadedModels().map((m) => m.info);
      case 'bye': {
        // a closing tab gives back its models (other tabs' users of the same copy keep it loaded)
        for (const m of models.values()) engine.unload(m);
        models.clear();
        for (const a of aborts.values()) a.abort();
        return true;
      }
      case 'classify':
        return need(req.modelId).classify(req.image, req.options);
      case 'generate':
      case 'transcribe': {
        const abort = new AbortController();
        aborts.set(req.id, abort);
        const opts = { ...req.options, signal: abort.signal, onMetrics: (value: GenerationMetrics) => reply({ t: 'metrics', id: req.id, value }) };
        const gen = req.t === 'generate' ? need(req.modelId).generate(req.input, opts) : need(req.modelId).transcribe(req.audio, opts);
        generations.set(req.id, gen);
        for await (const value of gen) reply({ t: 'token', id: req.id, value });
        return gen.result;
      }
      default:
        return undefined;
    }
  };

  const need = (modelId: number): ModelHandle => {
    const m = models.get(modelId);
    if (!m) throw new AccelError('invalid-argument', `Model ${modelId} is not loaded in the worker (it was unloaded).`);
    return m;
  };

  port.addEventListener('message', (e) => {
    const req = e.data;
    if (req.t === 'abort') return void aborts.get(req.id)?.abort();
    if (req.t === 'pause') return void generations.get(req.id)?.pause();
    if (req.t === 'resume') return void generations.get(req.id)?.resume();
    run(req).then(
      (value) => reply({ t: 'result', id: req.id, value }),
      (error: unknown) => reply({ t: 'error', id: req.id, error: toWire(error) }),
    ).finally(() => {
      aborts.delete(req.id);
      generations.delete(req.id);
    });
  });
}
