// Runs inside test/csp/page.html, which is served with a Content-Security-Policy header. Loads the built CDN
// bundle, generates with the shipped tiny model through <accel-model> + <accel-stream> on each backend, in this
// thread and in the engine Worker, and posts what happened (and every CSP violation seen) to the parent page.
const policy = new URLSearchParams(location.search).get('csp') ?? 'strict';
const violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile });
});

const MODEL = '/models/tiny-llama/';
const inlineEvalBlocked = (() => {
  try {
    // eslint-disable-next-line no-new-func -- the control: proves the policy is in force on this page
    new Function('return 1');
    return false;
  } catch {
    return true;
  }
})();

async function generate(accel, mode, backend) {
  const root = document.getElementById('root');
  const id = `m-${mode}-${backend}`;
  root.innerHTML = '';
  const model = document.createElement('accel-model');
  model.id = id;
  model.setAttribute('src', MODEL);
  model.setAttribute('backend', backend);
  const stream = document.createElement('accel-stream');
  stream.setAttribute('model', id);
  stream.setAttribute('chat', '');
  stream.setAttribute('temperature', '0');
  stream.setAttribute('max-tokens', '4');
  root.append(model, stream);
  const errors = [];
  const onError = (e) => errors.push({ code: e.detail.code, message: e.detail.message });
  model.addEventListener('accel-error', onError);
  stream.addEventListener('accel-error', onError);
  const started = performance.now();
  try {
    await model.load();
    const result = await stream.generate('Hello');
    await stream.updateComplete;
    const shown = stream.shadowRoot.querySelector('[part~="output"], [part~="turn-assistant"]')?.textContent ?? '';
    return { mode, backend, ok: true, backendUsed: model.model.info.backend, text: result.text, shown, tokens: result.usage.completionTokens, errors, ms: Math.round(performance.now() - started) };
  } catch (e) {
    return { mode, backend, ok: false, name: e?.name, code: e?.code ?? null, message: String(e?.message ?? e), errors, ms: Math.round(performance.now() - started) };
  } finally {
    model.unload();
  }
}

async function main() {
  const accel = await import('/dist/accel.min.js');
  const runs = [];
  accel.configureElements({ engine: 'inline' });
  for (const backend of ['cpu', 'webgpu', 'wasm', 'auto']) runs.push(await generate(accel, 'inline', backend));
  // The Worker script gets the same policy header (a dedicated worker's CSP comes from its own response).
  accel.configureElements({ engine: 'worker', workerUrl: new URL(`/dist/accel-worker.js?csp=${policy}`, location.href) });
  for (const backend of ['cpu', 'wasm']) runs.push(await generate(accel, 'worker', backend));
  return runs;
}

main().then(
  (runs) => parent.postMessage({ csp: policy, inlineEvalBlocked, runs, violations }, location.origin),
  (e) => parent.postMessage({ csp: policy, inlineEvalBlocked, fatal: String(e?.stack ?? e), violations }, location.origin),
);
