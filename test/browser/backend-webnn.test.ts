import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-capabilities/index.js';
import type { AccelCapabilities } from '../../components/accel-capabilities/accel-capabilities.js';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { getEngine } from '../../engine/index.js';
import { configureElements } from '../../src/index.js';
import { createWebNNBackend, type WebNNBackend } from '../../engine/backends/webnn/index.js';
import { describeBackendParity } from '../helpers/backend-parity.js';
import { createWebNNDouble, type WebNNDoubleOptions } from '../helpers/webnn-double.js';

// The WebNN backend on the navigator.ml test double (Debian's Chromium has no working WebNN): every op against
// the cpu oracle, once on a context that supports everything the backend composes, once on one with gaps that
// force per-op fallbacks (scatterND, argMax, uint8 dequantizeLinear) and composed norms / erf-GELU. The shipped
// models' reference logits through this backend are checked in test/node/webnn-backend.test.ts.

const GAPS: WebNNDoubleOptions = { unsupported: ['scatterND', 'argMax', 'layerNormalization', 'gelu'], dataTypes: { 'dequantizeLinear.input': ['int8'] } };

const make = (options: WebNNDoubleOptions, fuse = true) => async (): Promise<WebNNBackend> => {
  const d = createWebNNDouble(options);
  return createWebNNBackend({ ml: d.ml, builder: d.MLGraphBuilder, deviceType: 'gpu', fuse });
};

// fused (one graph per run of ops, the default) with full support; one graph per op with the gaps
describeBackendParity('webnn (double, full support, fused)', make({}));
describeBackendParity('webnn (double, with gaps, per op)', make(GAPS, false));

describe('webnn backend plan on the double', () => {
  it('full support: only top-k falls back; with gaps: each missing operator or type names its op and reason', async () => {
    const full = await make({})();
    const gaps = await make(GAPS)();
    try {
      expect(full.fallbacks()).to.deep.equal([{ op: 'topk', reason: 'WebNN has no top-k operator' }]);
      expect(full.plan.layerNormNative).to.equal(true);
      expect(Object.fromEntries(gaps.fallbacks().map((f) => [f.op, f.reason]))).to.deep.equal({
        'qmatvec int8': 'dequantizeLinear.input: no uint8 (supports int8)',
        kvWrite: 'operator scatterND is not supported by this context',
        argmax: 'operator argMax is not supported by this context',
        topk: 'WebNN has no top-k operator',
      });
      expect(gaps.plan.layerNormNative).to.equal(false);
      expect(gaps.plan.geluErfNative).to.equal(false);
    } finally {
      full.dispose();
      gaps.dispose();
    }
  });
});

describe('<accel-capabilities> with a WebNN context (double installed as navigator.ml)', () => {
  it('lists per context the ops the WebNN backend would run on the cpu backend', async () => {
    configureElements({ engine: 'inline' });
    const d = createWebNNDouble({ unsupported: ['scatterND'], failDevices: { npu: 'No NPU on this machine.' } });
    const uninstall = d.install();
    try {
      await getEngine().capabilities({ refresh: true });
      const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
      if (!el.report) await oneEvent(el, 'accel-capabilities-ready');
      await el.updateComplete;
      const card = el.shadowRoot!.querySelector('[part~="card-webnn"]')!;
      const text = card.textContent!.replace(/\s+/g, ' ');
      expect(text).to.contain('gpu context');
      expect(text).to.contain('ops on the cpu backend: kvWrite, topk');
      expect(text).to.contain('NotSupportedError: No NPU on this machine.');
      await expect(el).to.be.accessible();
    } finally {
      uninstall();
      await getEngine().capabilities({ refresh: true });
    }
  });
});

describe('<accel-model backend="webnn"> on the double', () => {
  it('loads tiny-llama onto the WebNN backend and greedy-decodes the reference tokens', async () => {
    configureElements({ engine: 'inline' });
    const d = createWebNNDouble();
    const uninstall = d.install();
    try {
      const ref = (await (await fetch('/test/fixtures/models/tiny-llama/reference.json')).json()) as { prompts: { input_ids: number[]; greedy: { tokens: number[] } }[] };
      const el = await fixture<AccelModel>(html`<accel-model src="/models/tiny-llama/" backend="webnn" max-sequence="64"></accel-model>`);
      expect(el.getAttribute('backend')).to.equal('webnn');
      setTimeout(() => void el.load());
      const ready = await oneEvent(el, 'accel-ready');
      expect(ready.detail.backend).to.equal('webnn');
      const model = await el.ready();
      const p = ref.prompts[0]!;
      const result = await model.generate({ tokens: p.input_ids }, { maxNewTokens: 12, temperature: 0, ignoreEos: true }).result;
      expect(result.tokens).to.deep.equal(p.greedy.tokens.slice(0, 12));
      const be = (model as unknown as { backend: WebNNBackend }).backend;
      expect(be.deviceType).to.equal('gpu');
      expect(be.fallbacks().map((f) => f.op)).to.deep.equal(['topk']);
      el.unload();
    } finally {
      uninstall();
    }
  });
});
