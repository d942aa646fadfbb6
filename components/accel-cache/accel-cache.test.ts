// <accel-cache> against the real model cache (Cache API in Chromium), filled by real downloads of the shipped
// tiny-llama from the test server (test/server/middleware.mjs), with its request counter as the witness.
import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import './index.js';
import '../accel-model/index.js';
import type { AccelCache } from './accel-cache.js';
import type { AccelModel } from '../accel-model/accel-model.js';
import { formatBytes, getEngine } from '../../engine/index.js';
import { configureElements } from '../../src/engine-client.js';
import type { AccelCacheListedDetail } from '../../src/events.js';

const FOLDER = `${location.origin}/__models/tiny-llama/`;
const WEIGHTS = 'model.safetensors';
const WEIGHTS_BYTES = 8_794_448;

async function counter(reset = false): Promise<{ total: number; byPath: Record<string, number> }> {
  return (await fetch(`/__counter${reset ? '/reset' : ''}`, { cache: 'no-store' })).json();
}

/** Loads the shipped model through <accel-model> (inline engine, cpu) and releases it again. */
async function loadModel(): Promise<void> {
  const model = await fixture<AccelModel>(html`<accel-model backend="cpu" src=${FOLDER}></accel-model>`);
  await model.load();
  model.unload();
  model.remove();
}

const root = (el: AccelCache) => el.shadowRoot!;
const rows = (el: AccelCache) => [...root(el).querySelectorAll<HTMLTableRowElement>('[part~="entry"]')];
const row = (el: AccelCache, file: string) => rows(el).find((r) => r.querySelector('[part~="file"]')!.textContent === file);
const button = (scope: ParentNode, part: string) => scope.querySelector<HTMLButtonElement>(`[part~="${part}"]`)!;

async function listed(el: AccelCache, act: () => unknown): Promise<void> {
  const ev = oneEvent(el, 'accel-cache-listed');
  act();
  await ev;
  await el.updateComplete;
}

describe('<accel-cache> on the real cache', function () {
  this.timeout(120_000);
  const sizes = new Map<string, number>();

  before(async () => {
    configureElements({ engine: 'inline' });
    await getEngine().cache!.clear();
    await loadModel();
    for (const e of await getEngine().cache!.list()) {
      const file = e.id.slice(FOLDER.length);
      sizes.set(file, (await (await fetch(`/__models/tiny-llama/${file}`, { cache: 'no-store' })).arrayBuffer()).byteLength);
    }
  });
  after(async () => getEngine().cache!.clear());

  it('lists the model files with their exact byte sizes, grouped under the model folder', async () => {
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    const ev = await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    expect(sizes.get(WEIGHTS)).to.equal(WEIGHTS_BYTES);
    expect(sizes.has('config.json') && sizes.has('tokenizer.json')).to.equal(true);
    expect((ev.detail as AccelCacheListedDetail).entries.map((e) => e.id)).to.deep.equal([...sizes.keys()].map((f) => FOLDER + f).sort((a, b) => a.localeCompare(b)));
    expect(root(el).querySelector('[part~="model-title"]')!.textContent).to.equal(FOLDER);
    const shown = Object.fromEntries(rows(el).map((r) => [r.querySelector('[part~="file"]')!.textContent, Number(r.querySelector('data')!.value)]));
    expect(shown).to.deep.equal(Object.fromEntries(sizes));
    expect(row(el, WEIGHTS)!.querySelector('[part~="size"]')!.textContent!.replace(/\s+/g, ' ').trim()).to.equal('8.4 MiB 8,794,448 B');
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    expect(el.usage!.bytes).to.equal(total);
    expect(root(el).querySelector('[part~="model-size"]')!.textContent).to.equal(`${formatBytes(total)} in ${sizes.size} files`);
  });

  it('shows the quota estimate of navigator.storage and the origin usage bar', async () => {
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    // Chromium derives the quota from the disk's free space, so a second estimate can differ by what other
    // processes wrote meanwhile: the element's figure is compared within 1 %, and what it shows exactly.
    const est = await navigator.storage.estimate();
    const quota = el.usage!.quota!;
    expect(quota).to.be.closeTo(est.quota!, est.quota! * 0.01);
    expect(el.usage!.store).to.equal('cache-api');
    const text = root(el).querySelector('[part~="usage-text"]')!.textContent!.replace(/\s+/g, ' ');
    expect(text).to.contain(`of its ${formatBytes(quota)} quota`);
    expect(text).to.contain(`${formatBytes(el.usage!.bytes)} of models in ${sizes.size} files`);
    const fill = root(el).querySelector<HTMLElement>('[part~="meter-fill"]')!;
    expect(parseFloat(fill.style.width)).to.be.closeTo((el.usage!.usage! / quota) * 100, 1e-6);
    expect(root(el).querySelector('[part~="persistence"]')!.getAttribute('data-persisted')).to.equal(String(await navigator.storage.persisted()));
  });

  it('deletes a file after a keyboard confirmation (Escape cancels), and the next load downloads it again', async () => {
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    const del = button(row(el, WEIGHTS)!, 'delete-button');
    expect(del.getAttribute('aria-label')).to.equal(`Delete ${WEIGHTS}`);
    del.focus();
    await sendKeys({ press: 'Enter' });
    await el.updateComplete;
    expect(root(el).activeElement).to.equal(button(row(el, WEIGHTS)!, 'confirm-button'));
    await sendKeys({ press: 'Escape' });
    await el.updateComplete;
    expect(row(el, WEIGHTS)!.querySelector('[part~="confirm"]')).to.equal(null);
    expect(root(el).activeElement).to.equal(button(row(el, WEIGHTS)!, 'delete-button'));
    expect((await getEngine().cache!.list()).length).to.equal(sizes.size);

    await sendKeys({ press: 'Enter' });
    await el.updateComplete;
    const changed = oneEvent(el, 'accel-cache-change');
    await sendKeys({ press: 'Enter' });
    const ev = await changed;
    await el.updateComplete;
    expect(ev.detail.action).to.equal('delete');
    expect(ev.detail.ids).to.deep.equal([FOLDER + WEIGHTS]);
    expect(ev.detail.freedBytes).to.equal(WEIGHTS_BYTES);
    expect(row(el, WEIGHTS)).to.equal(undefined);
    expect(rows(el).length).to.equal(sizes.size - 1);
    expect((await getEngine().cache!.list()).map((e) => e.id)).to.not.include(FOLDER + WEIGHTS);
    expect(root(el).querySelector('[role="status"]')!.textContent).to.equal(`Deleted ${WEIGHTS} (${formatBytes(WEIGHTS_BYTES)}).`);
    expect(root(el).activeElement?.getAttribute('part')).to.equal('delete-button');

    await counter(true);
    await listed(el, () => void loadModel());
    const hits = (await counter()).byPath;
    expect(Object.keys(hits).filter((p) => p.endsWith(`/${WEIGHTS}`)).length, 'weights downloaded again').to.equal(1);
    expect(Object.keys(hits).filter((p) => p.endsWith('/config.json')), 'config.json still cached').to.deep.equal([]);
    expect(Number(row(el, WEIGHTS)!.querySelector('data')!.value)).to.equal(WEIGHTS_BYTES);
  });

  it('Clear all empties the cache after confirmation and says so', async () => {
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    const before = el.usage!.bytes;
    expect(before).to.equal([...sizes.values()].reduce((a, b) => a + b, 0));
    button(root(el), 'clear-button').click();
    await el.updateComplete;
    expect(root(el).querySelector('[part~="confirm"]')!.getAttribute('aria-label')).to.equal(`Delete all ${sizes.size} files?`);
    await expect(el).to.be.accessible();
    const changed = oneEvent(el, 'accel-cache-change');
    button(root(el), 'confirm-button').click();
    const ev = await changed;
    await el.updateComplete;
    expect([ev.detail.action, ev.detail.ids.length, ev.detail.freedBytes, ev.detail.usage.bytes]).to.deep.equal(['clear', sizes.size, before, 0]);
    expect(await getEngine().cache!.list()).to.deep.equal([]);
    expect(rows(el).length).to.equal(0);
    expect(root(el).querySelector('[part~="empty"]')).to.exist;
    expect(button(root(el), 'clear-button').disabled).to.equal(true);
    expect(root(el).querySelector('[role="status"]')!.textContent).to.equal(`Cache cleared: ${sizes.size} files, ${formatBytes(before)} freed.`);
  });

  it('no-confirm deletes a whole model at once; attributes reflect', async () => {
    await loadModel();
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    el.noConfirm = true;
    el.compact = true;
    await el.updateComplete;
    expect(el.hasAttribute('no-confirm') && el.hasAttribute('compact')).to.equal(true);
    expect(root(el).querySelector('[part~="bytes"]')).to.equal(null);
    const changed = oneEvent(el, 'accel-cache-change');
    button(root(el), 'delete-model-button').click();
    const ev = await changed;
    expect(ev.detail.ids.length).to.equal(sizes.size);
    expect(await getEngine().cache!.list()).to.deep.equal([]);
    el.removeAttribute('no-confirm');
    await el.updateComplete;
    expect(el.noConfirm).to.equal(false);
  });

  it('Persist storage asks the browser and reports its answer', async function () {
    // Firefox answers only after the user answers its permission prompt, which a headless run never shows.
    if (navigator.userAgent.includes('Firefox')) this.skip();
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    const persist = button(root(el), 'persist-button');
    if (!persist) {
      expect(await navigator.storage.persisted()).to.equal(true);
      return;
    }
    const answered = oneEvent(el, 'accel-cache-persisted');
    persist.click();
    await el.updateComplete;
    expect(button(root(el), 'refresh-button').disabled, 'the rest stays usable while the browser decides').to.equal(false);
    const ev = await answered;
    expect(ev.detail.persisted).to.equal(await navigator.storage.persisted());
    await el.updateComplete;
    expect(root(el).querySelector('[role="status"]')!.textContent).to.match(ev.detail.persisted ? /now persistent/ : /declined persistent storage/);
  });

  it('a failing store ends in accel-error with code storage-failed and an alert', async () => {
    const store = getEngine().cache!.store;
    const original = store.list.bind(store);
    store.list = () => Promise.reject(new DOMException('disk I/O', 'UnknownError'));
    try {
      const el = document.createElement('accel-cache');
      setTimeout(() => document.body.append(el));
      const ev = await oneEvent(el, 'accel-error');
      expect(ev.detail.code).to.equal('storage-failed');
      expect(ev.detail.message).to.contain('disk I/O');
      await el.updateComplete;
      expect(el.shadowRoot!.querySelector('[part~="error"]')!.getAttribute('role')).to.equal('alert');
      el.remove();
    } finally {
      store.list = original;
    }
  });

  it('is accessible (axe) with files listed and while confirming a deletion', async () => {
    await loadModel();
    const el = await fixture<AccelCache>(html`<accel-cache></accel-cache>`);
    await oneEvent(el, 'accel-cache-listed');
    await el.updateComplete;
    await expect(el).to.be.accessible();
    button(row(el, WEIGHTS)!, 'delete-button').click();
    await el.updateComplete;
    await expect(el).to.be.accessible();
  });
});
