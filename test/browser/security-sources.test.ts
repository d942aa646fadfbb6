import { expect, fixture, html } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { configureElements } from '../../src/engine-client.js';
import { getEngine } from '../../engine/index.js';

// A model is fetched only from where the page said: the src folder, the configured IPFS gateways (no public
// gateway), the configured hub base (not huggingface.co), the remote endpoint. Every request the page makes
// while loading is read from the Resource Timing buffer (the engine runs in this thread, so its fetches are
// there), with the model cache emptied first so the files really travel.
const ENTRY_LIMIT = 10_000;

async function requestsDuring(load: () => Promise<unknown>): Promise<string[]> {
  await getEngine().cache?.clear();
  performance.setResourceTimingBufferSize(ENTRY_LIMIT);
  performance.clearResourceTimings();
  await load();
  const entries = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
  expect(entries.length).to.be.below(ENTRY_LIMIT);
  // the test server's own modules (the engine imports backends on first use under the dev server) are code, not model data
  return entries.filter((e) => !(e.initiatorType === 'script' && e.name.startsWith(location.origin) && /\.[mc]?[jt]s$/.test(new URL(e.name).pathname))).map((e) => e.name);
}

describe('a model source is fetched only from the origins and paths the user configured', () => {
  before(() => configureElements({ engine: 'inline' }));

  it('a folder URL: only files inside that folder', async () => {
    const el = await fixture<AccelModel>(html`<accel-model backend="cpu" src="/models/tiny-vit/"></accel-model>`);
    const urls = await requestsDuring(() => el.load());
    const folder = `${location.origin}/models/tiny-vit/`;
    expect(urls.map((u) => u.slice(folder.length)).sort()).to.include.members(['config.json', 'model.safetensors']);
    expect(urls.filter((u) => !u.startsWith(folder))).to.deep.equal([]);
    el.unload();
  });

  it('ipfs:// with gateways: a failing first gateway, then the second; no other host or path, no public gateway', async () => {
    const { vit } = await (await fetch('/__ipfs/_fixtures')).json();
    const broken = `${location.origin}/__fault/status=500,id=src-gw/__ipfs`;
    const good = `${location.origin}/__ipfs`;
    const el = await fixture<AccelModel>(html`<accel-model backend="cpu" src=${`ipfs://${vit}`} gateways=${`${broken} ${good}`}></accel-model>`);
    const urls = await requestsDuring(() => el.load());
    expect(el.model!.info.architecture).to.equal('vit');
    expect(urls.filter((u) => !u.startsWith(`${broken}/ipfs/`) && !u.startsWith(`${good}/ipfs/`))).to.deep.equal([]);
    expect(urls.some((u) => u.startsWith(`${broken}/ipfs/`)), 'the first gateway was tried').to.equal(true);
    expect(urls.some((u) => u.startsWith(`${good}/ipfs/`)), 'the second gateway served it').to.equal(true);
    el.unload();
  });

  it('hf: with hub-base: only that base, never huggingface.co', async () => {
    const base = `${location.origin}/__hub`;
    const el = await fixture<AccelModel>(html`<accel-model backend="cpu" src="hf:models/tiny-vit" hub-base=${base}></accel-model>`);
    const urls = await requestsDuring(() => el.load());
    expect(el.model!.info.architecture).to.equal('vit');
    expect(urls.length).to.be.greaterThan(1);
    expect(urls.filter((u) => !u.startsWith(`${base}/`))).to.deep.equal([]);
    el.unload();
  });

  it('a remote endpoint: only its /v1 paths', async () => {
    const origin = await (await fetch('/__openai-fault-origin')).text();
    const el = await fixture<AccelModel>(html`<accel-model src=${`openai+${origin}/lf/v1#tiny-llama`}></accel-model>`);
    const urls = await requestsDuring(() => el.load());
    expect(urls).to.deep.equal([`${origin}/lf/v1/models`]);
    el.unload();
  });
});
