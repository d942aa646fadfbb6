import { expect } from '@open-wc/testing';

// test/csp/page.html is served with a Content-Security-Policy header (test/server/middleware.mjs) and runs
// the built CDN bundle, dist/accel.min.js: <accel-model> + <accel-stream chat> generate 4 tokens from the
// shipped tiny Llama on each backend, in the page's thread and in the engine Worker (whose script gets the
// same header). Needs `npm run build` first.
//   strict: script-src 'self'; worker-src 'self' (no eval, no 'wasm-unsafe-eval')
//   wasm:   the same plus 'wasm-unsafe-eval'
interface Run { mode: 'inline' | 'worker'; backend: string; ok: boolean; backendUsed?: string; text?: string; shown?: string; tokens?: number; name?: string; code?: string | null; message?: string; errors: { code: string; message: string }[] }
interface Violation { directive: string; blocked: string; sample: string; source: string }
interface Report { csp: string; inlineEvalBlocked: boolean; runs?: Run[]; fatal?: string; violations: Violation[] }

function runPage(csp: 'strict' | 'wasm'): Promise<Report> {
  return new Promise((resolve) => {
    const frame = document.createElement('iframe');
    const onMessage = (e: MessageEvent<Report>) => {
      if (e.source !== frame.contentWindow) return;
      window.removeEventListener('message', onMessage);
      frame.remove();
      resolve(e.data);
    };
    window.addEventListener('message', onMessage);
    frame.src = `/test/csp/page.html?csp=${csp}`;
    document.body.append(frame);
  });
}

const run = (r: Report, mode: string, backend: string): Run => {
  const found = r.runs!.find((x) => x.mode === mode && x.backend === backend);
  if (!found) throw new Error(`no ${mode}/${backend} run in ${JSON.stringify(r)}`);
  return found;
};
// page.js tries `new Function` once itself, to prove the policy is in force; that one report is expected.
const fromBundle = (r: Report) => r.violations.filter((v) => !v.source.endsWith('/test/csp/page.js'));

describe('the built bundle under a strict Content-Security-Policy', () => {
  let strict: Report;
  let wasm: Report;
  before(async function () {
    this.timeout(300_000);
    strict = await runPage('strict');
    wasm = await runPage('wasm');
  });

  it('the policies are in force: eval is refused on both pages', () => {
    expect(strict.fatal ?? null).to.equal(null);
    expect(wasm.fatal ?? null).to.equal(null);
    expect([strict.inlineEvalBlocked, wasm.inlineEvalBlocked]).to.deep.equal([true, true]);
    for (const r of [strict, wasm]) {
      expect(r.violations.filter((v) => v.source.endsWith('/test/csp/page.js')).map((v) => v.blocked)).to.deep.equal(['eval']);
    }
  });

  it("script-src 'self' without wasm-unsafe-eval: cpu and webgpu generate in the page, cpu in the Worker; the bundle needs no eval", () => {
    const reference = run(wasm, 'inline', 'cpu').text!;
    expect(reference.length).to.be.greaterThan(0);
    for (const [mode, backend] of [['inline', 'cpu'], ['inline', 'webgpu'], ['worker', 'cpu']] as const) {
      const r = run(strict, mode, backend);
      expect(r, `${mode}/${backend}: ${r.message}`).to.include({ ok: true, backendUsed: backend, text: reference, shown: reference, tokens: 4 });
      expect(r.errors, `${mode}/${backend}`).to.deep.equal([]);
    }
    // The only reports the bundle causes are refused WebAssembly compilations (the capability probe's, and the
    // wasm backend's attempt with its check): no eval, no blocked worker, no blocked script.
    const bundle = fromBundle(strict);
    expect(bundle.length).to.be.greaterThan(0);
    expect([...new Set(bundle.map((v) => `${v.directive} ${v.blocked}`))]).to.deep.equal(['script-src wasm-eval']);
  });

  it("without wasm-unsafe-eval the wasm backend is a typed backend-unavailable error naming the fix, and auto skips it", () => {
    for (const mode of ['inline', 'worker'] as const) {
      const r = run(strict, mode, 'wasm');
      expect(r.ok).to.equal(false);
      expect(r.code).to.equal('backend-unavailable');
      expect(r.message).to.contain("add 'wasm-unsafe-eval' to script-src");
      expect(r.errors.map((e) => e.code)).to.deep.equal(['backend-unavailable']);
    }
    const auto = run(strict, 'inline', 'auto');
    expect(auto.ok).to.equal(true);
    expect(auto.backendUsed).to.not.equal('wasm');
    expect(auto.text).to.equal(run(wasm, 'inline', 'cpu').text);
  });

  it("with 'wasm-unsafe-eval' every backend works, in the page and in the Worker, with no violation from the bundle", () => {
    const reference = run(wasm, 'inline', 'cpu').text!;
    for (const [mode, backend] of [['inline', 'cpu'], ['inline', 'webgpu'], ['inline', 'wasm'], ['worker', 'cpu'], ['worker', 'wasm']] as const) {
      const r = run(wasm, mode, backend);
      expect(r, `${mode}/${backend}: ${r.message}`).to.include({ ok: true, backendUsed: backend, text: reference, tokens: 4 });
      expect(r.errors).to.deep.equal([]);
    }
    expect(run(wasm, 'inline', 'auto').ok).to.equal(true);
    expect(fromBundle(wasm)).to.deep.equal([]);
  });
});
