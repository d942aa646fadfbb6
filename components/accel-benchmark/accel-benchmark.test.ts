import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import './index.js';
import '../accel-model/index.js';
import type { AccelBenchmark } from './accel-benchmark.js';
import { AbortError, BenchmarkStorageError, BenchmarkStore, InvalidArgumentError, MARKDOWN_HEADER, CSV_COLUMNS, parseJsonExport, type BenchmarkProgress, type BenchmarkRecord, type BenchmarkRecordV1 } from '../../engine/index.js';
import type { AccelBenchmarkCompleteDetail, AccelErrorDetail } from '../../src/events.js';

const MODEL = '/__models/tiny-llama/';

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    // an open connection gets a versionchange event; fail only if it is still open a moment later
    req.onblocked = () => setTimeout(() => reject(new Error(`deleting ${name} is blocked by a connection that stays open`)), 3000);
  });
}

/** A version 1 database written with the raw IndexedDB API, as the first release laid it out. */
function createV1(name: string, runs: BenchmarkRecordV1[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('runs', { keyPath: 'id', autoIncrement: true }).createIndex('model', 'model');
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction('runs', 'readwrite');
      for (const r of runs) tx.objectStore('runs').add(r);
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

const summary = (mean: number) => ({ count: 3, mean, stddev: 1, min: mean - 1, max: mean + 1, p50: mean, p90: mean + 0.8, p99: mean + 0.98 });

function record(id: string, over: Partial<BenchmarkRecord>): BenchmarkRecord {
  return {
    id, runId: id, date: Date.UTC(2026, 0, 1), model: 'tiny-llama', source: MODEL, backend: 'wasm', precision: 'original', browser: 'Chromium 1', hardware: 'test box',
    promptTokens: 8, maxNewTokens: 4, iterations: 3, warmup: 1, latencyMs: summary(100), ttftMs: summary(20), decodeTokensPerSecond: summary(50), prefillTokensPerSecond: summary(400),
    tokensPerSecond: 40, itemsPerSecond: 10, gpuMs: null, gpuTiming: 'no-timestamp-query', memory: null, samples: [], migratedFrom: null, ...over,
  };
}

describe('BenchmarkStore (IndexedDB)', () => {
  it('keeps records across a close and reopen; queries by model, backend and date range; aggregates; deletes', async () => {
    const name = 'accel-bench-test-reload';
    await deleteDb(name);
    let store = await BenchmarkStore.open(name);
    expect(store.version).to.equal(2);
    const day = 86_400_000;
    const t0 = Date.UTC(2026, 0, 1);
    await store.put(record('a', { date: t0, backend: 'wasm', tokensPerSecond: 40 }));
    await store.put(record('b', { date: t0 + day, backend: 'wasm', tokensPerSecond: 60 }));
    await store.put(record('c', { date: t0 + 2 * day, backend: 'cpu', tokensPerSecond: 10 }));
    await store.put(record('d', { date: t0 + 3 * day, model: 'other', backend: 'cpu' }));
    store.close();

    store = await BenchmarkStore.open(name);
    expect(await store.count()).to.equal(4);
    expect((await store.get('b'))!.tokensPerSecond).to.equal(60);
    expect((await store.query()).map((r) => r.id)).to.deep.equal(['a', 'b', 'c', 'd']);
    expect((await store.query({ model: 'tiny-llama' })).map((r) => r.id)).to.deep.equal(['a', 'b', 'c']);
    expect((await store.query({ backend: 'cpu' })).map((r) => r.id)).to.deep.equal(['c', 'd']);
    expect((await store.query({ from: t0 + day, to: new Date(t0 + 2 * day) })).map((r) => r.id)).to.deep.equal(['b', 'c']);
    expect((await store.query({ from: t0 + 5 * day })).map((r) => r.id)).to.deep.equal([]);
    const agg = await store.aggregate({ model: 'tiny-llama' });
    expect(agg.map((a) => [a.backend, a.runs])).to.deep.equal([['cpu', 1], ['wasm', 2]]);
    const wasm = agg.find((a) => a.backend === 'wasm')!;
    expect(wasm.tokensPerSecond.mean).to.equal(50);
    expect(wasm.tokensPerSecond.min).to.equal(40);
    expect([wasm.firstDate, wasm.lastDate]).to.deep.equal([t0, t0 + day]);
    await store.delete('a');
    expect(await store.deleteWhere({ backend: 'cpu' })).to.equal(2);
    store.close();

    store = await BenchmarkStore.open(name);
    expect((await store.query()).map((r) => r.id)).to.deep.equal(['b']);
    await store.clear();
    expect(await store.count()).to.equal(0);
    store.close();
    await deleteDb(name);
  });

  it('migrates a version 1 database made by hand to version 2, keeping every run', async () => {
    const name = 'accel-bench-test-migrate';
    await deleteDb(name);
    await createV1(name, [
      { model: 'tiny-llama', backend: 'wasm', timestamp: '2025-06-01T10:00:00.000Z', iterations: 5, latency: summary(80), tokensPerSecond: 200 },
      { model: 'tiny-gpt2', backend: 'webgpu', timestamp: '2025-06-02T10:00:00.000Z', iterations: 3, latency: summary(125), tokensPerSecond: 128 },
    ]);
    const store = await BenchmarkStore.open(name);
    expect(store.version).to.equal(2);
    const all = await store.query();
    expect(all.map((r) => [r.id, r.model, r.backend, r.precision, r.date, r.tokensPerSecond, r.iterations, r.migratedFrom])).to.deep.equal([
      ['v1-1', 'tiny-llama', 'wasm', 'original', Date.parse('2025-06-01T10:00:00.000Z'), 200, 5, 1],
      ['v1-2', 'tiny-gpt2', 'webgpu', 'original', Date.parse('2025-06-02T10:00:00.000Z'), 128, 3, 1],
    ]);
    expect(all[0]!.latencyMs).to.deep.equal(summary(80));
    expect(all[1]!.itemsPerSecond).to.equal(8);
    expect(all[0]!.ttftMs).to.equal(null);
    expect(all[0]!.runId).to.equal('v1-1');
    expect((await store.query({ backend: 'webgpu' })).map((r) => r.id)).to.deep.equal(['v1-2']);
    store.close();
    // the old store is gone: the raw database has only the v2 store
    const stores = await new Promise<string[]>((resolve) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => {
        resolve([...req.result.objectStoreNames]);
        req.result.close();
      };
    });
    expect(stores).to.deep.equal(['results']);
    await deleteDb(name);
  });

  it('reports an upgrade blocked by an open version 1 connection as BenchmarkStorageError instead of hanging', async () => {
    const name = 'accel-bench-test-blocked';
    await deleteDb(name);
    await createV1(name, []);
    const old = await new Promise<IDBDatabase>((resolve) => {
      const req = indexedDB.open(name, 1);
      req.onsuccess = () => resolve(req.result);
    });
    let error: unknown = null;
    try {
      await BenchmarkStore.open(name);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(BenchmarkStorageError);
    expect((error as Error).message).to.match(/open in another tab at an older version/);
    old.close();
    // the upgrade that was waiting completes and its connection is closed, so the database can be deleted
    await new Promise((r) => setTimeout(r, 200));
    await deleteDb(name);
  });
});

describe('<accel-benchmark>', function () {
  this.timeout(300_000);

  it('does not load chart.js before a run', async () => {
    await fixture<AccelBenchmark>(html`<accel-benchmark model=${MODEL} backends="cpu"></accel-benchmark>`);
    expect(performance.getEntriesByType('resource').filter((e) => e.name.includes('chart.js'))).to.have.length(0);
  });

  it('runs wasm and cpu on the shipped model end to end: progress, table, stored records, charts with pixels, exports that parse back', async () => {
    const db = 'accel-bench-test-e2e';
    await deleteDb(db);
    const el = await fixture<AccelBenchmark>(html`<accel-benchmark model=${MODEL} backends="wasm,cpu" iterations="3" warmup="1" max-tokens="4" prompt-tokens="8" db=${db}></accel-benchmark>`);
    const progress: BenchmarkProgress[] = [];
    el.addEventListener('accel-benchmark-progress', (e) => progress.push(e.detail));
    const errors: AccelErrorDetail[] = [];
    el.addEventListener('accel-error', (e) => errors.push(e.detail));
    const complete = oneEvent(el, 'accel-benchmark-complete');
    el.shadowRoot!.querySelector<HTMLButtonElement>('[part~="run-button"]')!.click();
    const { detail } = (await complete) as CustomEvent<AccelBenchmarkCompleteDetail>;
    expect(errors, JSON.stringify(errors.map((e) => e.message))).to.deep.equal([]);
    expect(detail.stored).to.equal(true);
    expect(detail.failures).to.deep.equal([]);
    expect(detail.records.map((r) => [r.backend, r.precision, r.promptTokens, r.iterations, r.samples.length])).to.deep.equal([['wasm', 'original', 8, 3, 3], ['cpu', 'original', 8, 3, 3]]);
    expect(detail.records[0]!.runId).to.equal(detail.records[1]!.runId);
    expect(detail.records[0]!.id).to.not.equal(detail.records[1]!.id);
    for (const r of detail.records) {
      expect(r.model).to.equal('tiny-llama');
      for (const s of r.samples) expect([s.promptTokens, s.completionTokens]).to.deep.equal([8, 4]);
      expect(r.latencyMs.min).to.be.at.most(r.latencyMs.p50);
      expect(r.latencyMs.p50).to.be.at.most(r.latencyMs.p99);
      expect(r.ttftMs!.mean).to.be.above(0).and.below(r.latencyMs.mean);
      expect(r.tokensPerSecond).to.be.closeTo((4 * 3 * 1000) / r.samples.reduce((a, s) => a + s.ms, 0), 1e-9);
      expect(r.memory!.weightBytes).to.be.above(1e6);
      expect(r.browser).to.match(/Chrom/);
    }
    // one load per backend, then 1 warm-up + 3 measured per cell, and a done; progress only goes forward, to 1
    expect(progress.map((p) => p.phase).join(',')).to.equal('load,warmup,measure,measure,measure,done,load,warmup,measure,measure,measure,done');
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).to.be.at.least(progress[i - 1]!.progress);
    expect(progress.at(-1)!.progress).to.equal(1);

    const root = el.shadowRoot!;
    expect(root.querySelector('progress')!.value).to.equal(1);
    const rows = root.querySelectorAll('tbody tr');
    expect(rows).to.have.length(2);
    expect(rows[0]!.querySelector('th')!.textContent).to.equal('wasm');
    expect(rows[0]!.querySelectorAll('td')[2]!.textContent).to.equal(detail.records[0]!.latencyMs.mean.toFixed(1));
    expect(root.querySelector('[part~="status"]')!.textContent).to.equal('Done: 2 results.');

    // stored: reopen the database and find both
    const store = await BenchmarkStore.open(db);
    expect((await store.query({ model: 'tiny-llama' })).map((r) => r.id).sort()).to.deep.equal(detail.records.map((r) => r.id).sort());
    store.close();
    expect(el.history.map((r) => r.id).sort()).to.deep.equal(detail.records.map((r) => r.id).sort());

    // chart.js was loaded for the charts, and every chart drew pixels
    await el.chartsReady;
    expect(performance.getEntriesByType('resource').some((e) => e.name.includes('chart.js'))).to.equal(true);
    const canvases = [...root.querySelectorAll('canvas')];
    expect(canvases.map((c) => c.dataset['chart'])).to.deep.equal(['latency', 'throughput', 'history']);
    for (const c of canvases) {
      expect(c.width, `${c.dataset['chart']} width`).to.be.above(100);
      const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let drawn = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) drawn++;
      expect(drawn, `${c.dataset['chart']} drawn pixels`).to.be.above(500);
      expect(c.getAttribute('aria-label')).to.not.be.empty;
    }

    // exports parse back
    const json = parseJsonExport(el.exportAs('json'));
    expect(json.records).to.deep.equal(JSON.parse(JSON.stringify(detail.records)));
    const csv = el.exportAs('csv').trimEnd().split('\r\n');
    expect(csv).to.have.length(3);
    const header = csv[0]!.split(',');
    expect(header).to.deep.equal(CSV_COLUMNS.map((c) => c.name));
    const wasmRow = csv[1]!.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.slice(0, header.length).map((c) => c.replace(/,$/, ''));
    expect(wasmRow).to.have.length(header.length);
    expect(wasmRow[header.indexOf('backend')]).to.equal('wasm');
    expect(Number(wasmRow[header.indexOf('tokens_per_second')])).to.equal(detail.records[0]!.tokensPerSecond);
    const md = el.exportAs('markdown').trimEnd().split('\n');
    expect(md).to.have.length(4);
    expect(md[3]!.split(' | ')).to.have.length(MARKDOWN_HEADER.length);
    const report = new DOMParser().parseFromString(el.exportAs('html'), 'text/html');
    expect(report.querySelectorAll('tbody tr')).to.have.length(2);
    expect(report.querySelectorAll('script')).to.have.length(0);

    await expect(el).to.be.accessible();
    await deleteDb(db);
  });

  it('takes an <accel-model> id: its src, backend and precision', async () => {
    const db = 'accel-bench-test-model-id';
    const root = await fixture<HTMLDivElement>(html`<div>
      <accel-model id="bench-m" src=${MODEL} backend="cpu"></accel-model>
      <accel-benchmark model="bench-m" iterations="1" warmup="0" max-tokens="2" prompt-tokens="4" db=${db}></accel-benchmark>
    </div>`);
    const el = root.querySelector('accel-benchmark')!;
    await deleteDb(db);
    const detail = await el.run();
    expect(detail.records.map((r) => [r.backend, r.precision, r.promptTokens, r.samples[0]!.completionTokens])).to.deep.equal([['cpu', 'original', 4, 2]]);
    // a second run joins the stored history: two runs, one point each in the history chart
    await el.run();
    expect(new Set(el.history.map((r) => r.runId)).size).to.equal(2);
    expect(el.shadowRoot!.querySelector('canvas[data-chart="history"]')!.getAttribute('aria-label')).to.equal('Tokens per second over 2 stored results of this model in 2 runs.');
    await deleteDb(db);
  });

  it('bad settings and unknown models are accel-error events with typed errors; a precision the model cannot take is a failed cell', async () => {
    const el = await fixture<AccelBenchmark>(html`<accel-benchmark model=${MODEL} backends="tpu" db="accel-bench-test-bad"></accel-benchmark>`);
    let ev = oneEvent(el, 'accel-error');
    let error: unknown = null;
    await el.run().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(InvalidArgumentError);
    expect((await ev).detail.message).to.match(/"tpu" is not one of webgpu, wasm, cpu/);
    expect(el.shadowRoot!.querySelector('[part~="error"]')!.textContent).to.match(/tpu/);

    el.backends = 'cpu';
    el.model = 'no-such-model';
    ev = oneEvent(el, 'accel-error');
    await el.run().catch((e: unknown) => (error = e));
    expect((await ev).detail.code).to.equal('invalid-argument');
    expect((error as Error).message).to.match(/no element with id "no-such-model"/);

    el.model = '/__models/tiny-gpt2/';
    el.precisions = 'q8';
    el.iterations = 1;
    el.warmup = 0;
    ev = oneEvent(el, 'accel-error');
    const detail = await el.run();
    expect((await ev).detail.message).to.match(/available for Llama-family models/);
    expect(detail.records).to.deep.equal([]);
    expect(detail.failures.map((f) => [f.cell.backend, f.cell.precision, f.code])).to.deep.equal([['cpu', 'q8', 'invalid-argument']]);
    expect(el.shadowRoot!.querySelector('tr.failed')!.textContent).to.match(/Llama-family/);
    await deleteDb('accel-bench-test-bad');
  });

  it('is keyboard operable: Enter on Run starts and moves focus to Stop; Enter on Stop ends the run with AbortError and returns focus', async () => {
    const db = 'accel-bench-test-keys';
    const el = await fixture<AccelBenchmark>(html`<accel-benchmark model=${MODEL} backends="cpu" iterations="200" warmup="0" max-tokens="4" prompt-tokens="8" db=${db}></accel-benchmark>`);
    const root = el.shadowRoot!;
    const run = root.querySelector<HTMLButtonElement>('[part~="run-button"]')!;
    const stop = root.querySelector<HTMLButtonElement>('[part~="stop-button"]')!;
    expect(stop.disabled).to.equal(true);
    const errors: AccelErrorDetail[] = [];
    el.addEventListener('accel-error', (e) => errors.push(e.detail));
    run.focus();
    const measuring = new Promise<void>((resolve) => el.addEventListener('accel-benchmark-progress', (e) => e.detail.phase === 'measure' && e.detail.iteration === 2 && resolve()));
    await sendKeys({ press: 'Enter' });
    await measuring;
    expect(el.running).to.equal(true);
    expect(run.disabled).to.equal(true);
    expect(root.activeElement).to.equal(stop);
    let completed = false;
    el.addEventListener('accel-benchmark-complete', () => (completed = true));
    await sendKeys({ press: 'Enter' });
    await new Promise<void>((resolve) => {
      const check = () => (el.running ? setTimeout(check, 20) : resolve());
      check();
    });
    await el.updateComplete;
    expect(completed).to.equal(false);
    expect(errors).to.deep.equal([]);
    expect(root.querySelector('[part~="status"]')!.textContent).to.equal('Stopped.');
    expect(root.activeElement).to.equal(run);
    expect(run.disabled).to.equal(false);
    // a stopped run rejects with AbortError
    const again = el.run();
    el.stop();
    let error: unknown = null;
    await again.catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(AbortError);
    await deleteDb(db);
  });

  it('autorun starts a run once connected', async () => {
    const db = 'accel-bench-test-autorun';
    await deleteDb(db);
    const holder = await fixture<HTMLDivElement>(html`<div></div>`);
    const el = document.createElement('accel-benchmark');
    Object.assign(el, { model: MODEL, backends: 'cpu', iterations: 1, warmup: 0, maxTokens: 1, promptTokens: '2', db, autorun: true });
    const complete = oneEvent(el, 'accel-benchmark-complete');
    holder.append(el);
    const { detail } = (await complete) as CustomEvent<AccelBenchmarkCompleteDetail>;
    expect(el.getAttribute('autorun')).to.equal('');
    expect(detail.records.map((r) => [r.backend, r.promptTokens, r.samples[0]!.completionTokens])).to.deep.equal([['cpu', 2, 1]]);
    await deleteDb(db);
  });

  it('is accessible before a run', async () => {
    const el = await fixture<AccelBenchmark>(html`<accel-benchmark model=${MODEL} backends="cpu"></accel-benchmark>`);
    await expect(el).to.be.accessible();
  });
});
