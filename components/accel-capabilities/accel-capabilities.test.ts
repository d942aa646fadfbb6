import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import './index.js';
import type { AccelCapabilities } from './accel-capabilities.js';
import { getEngine, type CapabilityReport } from '../../engine/index.js';

async function ready(el: AccelCapabilities): Promise<CapabilityReport> {
  if (el.report) return el.report;
  const ev = await oneEvent(el, 'accel-capabilities-ready');
  return ev.detail;
}

describe('engine.capabilities() in headless Chromium', () => {
  let report: CapabilityReport;
  before(async () => {
    report = await getEngine().capabilities();
  });

  it('finds a WebGPU adapter, creates a device and reports its features and ML limits', () => {
    expect(report.webgpu.api).to.equal(true);
    expect(report.webgpu.available).to.equal(true);
    expect(report.webgpu.deviceCreated).to.equal(true);
    const a = report.webgpu.adapter!;
    expect(a.vendor).to.be.a('string').and.not.empty;
    expect(a.features).to.include('subgroups');
    expect(a.subgroups).to.equal(true);
    expect(a.shaderF16).to.equal(a.features.includes('shader-f16'));
    expect(a.limits.maxStorageBufferBindingSize).to.be.at.least(128 * 2 ** 20);
    expect(a.limits.maxComputeInvocationsPerWorkgroup).to.be.at.least(256);
    expect(a.limits.maxComputeWorkgroupStorageSize).to.be.at.least(16384);
    expect(a.features).to.deep.equal([...a.features].sort());
  });

  it('flags SwiftShader as a software fallback adapter and ranks wasm above it', async () => {
    const a = report.webgpu.adapter!;
    if (a.architecture !== 'swiftshader') return;
    expect(a.isFallbackAdapter).to.equal(true);
    const rec = await getEngine().recommendBackend({ paramCount: 135e6, precision: 'q4' });
    expect(rec[0]!.backend).to.equal('wasm');
    const gpu = rec.find((c) => c.backend === 'webgpu')!;
    expect(gpu.usable).to.equal(true);
    expect(gpu.reason).to.match(/fallback adapter \(software/);
    expect(gpu.reason).to.match(/slower than wasm for 135M params at q4/);
  });

  it('records the outcome of WebNN context creation per device type', () => {
    for (const d of ['cpu', 'gpu', 'npu'] as const) {
      const c = report.webnn.contexts[d];
      expect(c.created).to.be.a('boolean');
      if (report.webnn.api && !c.created) expect(c.error, `${d} error message`).to.be.a('string').and.not.empty;
    }
    expect(report.webnn.available).to.equal(Object.values(report.webnn.contexts).some((c) => c.created));
  });

  it('detects WebAssembly SIMD by validation, and threads only when cross-origin isolated', () => {
    expect(report.wasm.supported).to.equal(true);
    expect(report.wasm.simd).to.equal(true);
    expect(report.wasm.relaxedSimd).to.be.a('boolean');
    expect(report.wasm.threadsValidated).to.equal(true);
    expect(report.wasm.crossOriginIsolated).to.equal(globalThis.crossOriginIsolated === true);
    expect(report.wasm.threads).to.equal(report.wasm.sharedArrayBuffer && report.wasm.crossOriginIsolated);
  });

  it('reports the device and the browser from client hints', () => {
    expect(report.runtime).to.equal('browser');
    expect(report.device.hardwareConcurrency).to.equal(navigator.hardwareConcurrency);
    expect(report.browser.source).to.equal('userAgentData');
    expect(report.browser.name).to.match(/Chrom/);
    expect(report.browser.version).to.match(/^\d+\./);
    expect(report.device.storage?.quotaBytes).to.be.a('number');
  });

  it('is cached until refreshed', async () => {
    const engine = getEngine();
    expect(await engine.capabilities()).to.equal(report);
    const fresh = await engine.capabilities({ refresh: true });
    expect(fresh).to.not.equal(report);
    expect(fresh.webgpu.adapter?.description).to.equal(report.webgpu.adapter?.description);
  });

  it('survives a broken WebGPU implementation with the reason recorded', async () => {
    const engine = getEngine();
    try {
      engine.configure({ gpu: { requestAdapter: () => Promise.reject(new Error('GPU process crashed')) } as unknown as GPU });
      const r = await engine.capabilities();
      expect(r.webgpu.available).to.equal(false);
      expect(r.webgpu.error).to.equal('requestAdapter failed: GPU process crashed');
      const rec = await engine.recommendBackend({ paramCount: 1e6 });
      expect(rec.find((c) => c.backend === 'webgpu')!.usable).to.equal(false);
      expect(rec[0]!.usable).to.equal(true);
    } finally {
      engine.configure({ gpu: navigator.gpu });
    }
  });
});

describe('<accel-capabilities>', () => {
  it('shows a loading state, then cards with the adapter and a recommended backend', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    const report = await ready(el);
    await el.updateComplete;
    const root = el.shadowRoot!;
    expect(root.querySelector('[part~="base"]')!.getAttribute('aria-busy')).to.equal('false');
    const gpuCard = root.querySelector('[part~="card-webgpu"]')!;
    expect(gpuCard.textContent).to.contain(report.webgpu.adapter!.vendor);
    expect(gpuCard.querySelector('[part~="yes"]')).to.exist;
    for (const part of ['card-webnn', 'card-wasm', 'card-device', 'card-recommendation']) {
      expect(root.querySelector(`[part~="${part}"]`), part).to.exist;
    }
    const items = [...root.querySelectorAll('[part~="recommendation"] li')];
    expect(items.map((li) => li.getAttribute('data-backend'))).to.deep.equal(el.recommendation.map((c) => c.backend));
    expect(items[0]!.textContent).to.contain(el.recommendation[0]!.reason.replace(/^[a-z]+: /, ''));
    expect(root.querySelector('[role="status"]')!.textContent).to.contain(`Recommended backend: ${el.recommendation[0]!.backend}`);
  });

  it('reflects compact and show-limits and renders the limits only when asked', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    await ready(el);
    await el.updateComplete;
    expect(el.shadowRoot!.querySelectorAll('[part~="limit-name"]').length).to.equal(0);
    el.showLimits = true;
    el.compact = true;
    await el.updateComplete;
    expect(el.hasAttribute('show-limits')).to.equal(true);
    expect(el.hasAttribute('compact')).to.equal(true);
    const names = [...el.shadowRoot!.querySelectorAll('[part~="limit-name"]')].map((n) => n.textContent);
    expect(names).to.include('maxStorageBufferBindingSize');
    expect(el.shadowRoot!.textContent).to.not.contain('timestamp-query');
    el.removeAttribute('compact');
    await el.updateComplete;
    expect(el.compact).to.equal(false);
    expect(el.shadowRoot!.textContent).to.contain('timestamp-query');
  });

  it('recomputes the recommendation from param-count and precision attributes', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities param-count="8e9" precision="f32"></accel-capabilities>`);
    await ready(el);
    await el.updateComplete;
    const wasm = el.recommendation.find((c) => c.backend === 'wasm')!;
    expect(wasm.usable).to.equal(false);
    expect(wasm.reason).to.contain('beyond the 4 GiB of 32-bit WebAssembly memory');
    el.setAttribute('param-count', '1e6');
    await el.updateComplete;
    expect(el.recommendation.find((c) => c.backend === 'wasm')!.usable).to.equal(true);
    expect(el.getAttribute('precision')).to.equal('f32');
  });

  it('refresh() probes again and fires accel-capabilities-ready with the new report', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    const first = await ready(el);
    setTimeout(() => void el.refresh());
    const ev = await oneEvent(el, 'accel-capabilities-ready');
    expect(ev.detail).to.not.equal(first);
    expect(ev.detail).to.equal(el.report);
    expect(ev.bubbles && ev.composed).to.equal(true);
  });

  it('the Re-check button is reachable by keyboard and triggers a new probe', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    const first = await ready(el);
    await el.updateComplete;
    const button = el.shadowRoot!.querySelector<HTMLButtonElement>('[part~="refresh-button"]')!;
    expect(button.tabIndex).to.equal(0);
    expect(button.textContent).to.equal('Re-check');
    setTimeout(() => button.click());
    const ev = await oneEvent(el, 'accel-capabilities-ready');
    expect(ev.detail.probedAt >= first.probedAt).to.equal(true);
  });

  it('fires accel-error with a code when probing fails, and an invalid precision is reported', async () => {
    const engine = getEngine();
    engine.configure({ gpu: null });
    const original = engine.capabilities.bind(engine);
    engine.capabilities = () => Promise.reject(Object.assign(new Error('probe exploded'), {}));
    try {
      const el = document.createElement('accel-capabilities');
      setTimeout(() => document.body.append(el));
      const ev = await oneEvent(el, 'accel-error');
      expect(ev.detail.code).to.equal('unknown');
      expect(ev.detail.message).to.equal('probe exploded');
      await el.updateComplete;
      expect(el.shadowRoot!.querySelector('[part~="error"]')!.textContent).to.equal('probe exploded');
      el.remove();
    } finally {
      engine.capabilities = original;
      engine.configure({ gpu: navigator.gpu });
    }
    const el2 = await fixture<AccelCapabilities>(html`<accel-capabilities></accel-capabilities>`);
    await ready(el2);
    setTimeout(() => el2.setAttribute('precision', 'q5'));
    const bad = await oneEvent(el2, 'accel-error');
    expect(bad.detail.code).to.equal('invalid-argument');
    expect(bad.detail.message).to.contain('precision="q5"');
  });

  it('is accessible (axe) while loading and when ready', async () => {
    const el = await fixture<AccelCapabilities>(html`<accel-capabilities show-limits></accel-capabilities>`);
    await expect(el).to.be.accessible();
    await ready(el);
    await el.updateComplete;
    await expect(el).to.be.accessible();
  });
});
