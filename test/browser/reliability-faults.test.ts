// Fault injection end to end (issue 11): <accel-model> against the test server's fault routes
// (test/server/middleware.mjs). Each fault must end in one clear accel-error — or, where the loader is
// meant to cope, a correct load — and must leave nothing wrong in the model cache: no entry for the file
// that failed, and every entry that is there holds exactly the real file's bytes.
import { expect, fixture, html, oneEvent } from '@open-wc/testing';
import '../../components/accel-model/index.js';
import type { AccelModel } from '../../components/accel-model/accel-model.js';
import { getEngine } from '../../engine/index.js';
import { configureElements } from '../../src/engine-client.js';

const WEIGHTS = 'model.safetensors';
const FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', WEIGHTS];
const folder = (spec: string) => `${location.origin}/__fault/${spec}/__models/tiny-llama/`;

async function sha256(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const truth = new Map<string, string>();
async function realHashes(): Promise<Map<string, string>> {
  if (truth.size === 0) for (const f of FILES) truth.set(f, await sha256(await (await fetch(`/__models/tiny-llama/${f}`)).arrayBuffer()));
  return truth;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Every cache entry: which file it is and whether its bytes are the real file's. */
async function cacheAudit(): Promise<{ file: string; intact: boolean }[]> {
  const cache = getEngine().cache!;
  const real = await realHashes();
  const out: { file: string; intact: boolean }[] = [];
  for (const e of await cache.list()) {
    const file = FILES.filter((f) => e.id.endsWith(f)).sort((a, b) => b.length - a.length)[0] ?? e.id;
    const body = await cache.get(e.id);
    const bytes = body ? await readAll(body.stream()) : new Uint8Array(0);
    out.push({ file, intact: real.get(file) === (await sha256(bytes)) });
  }
  return out;
}

interface Outcome { fault: string; produced: string; cacheAfter: string }
const table: Outcome[] = [];

async function loadExpectingError(attrs: Record<string, string>): Promise<{ code: string; message: string; el: AccelModel }> {
  const el = document.createElement('accel-model') as AccelModel;
  el.backend = 'cpu';
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  await fixture(el);
  const failed = oneEvent(el, 'accel-error');
  const loaded = await el.load().then(() => 'loaded', () => 'rejected');
  expect(loaded, 'the load must fail').to.equal('rejected');
  const ev = await failed;
  await el.updateComplete;
  return { code: ev.detail.code, message: ev.detail.message, el };
}

describe('fault injection: <accel-model> errors and the cache afterwards', function () {
  this.timeout(120_000);
  before(async () => {
    configureElements({ engine: 'inline' });
    await getEngine().cache!.clear();
  });
  afterEach(async () => getEngine().cache!.clear());
  after(() => {
    const rows = table.map((r) => `| ${r.fault} | ${r.produced} | ${r.cacheAfter} |`).join('\n');
    console.log(`fault table\n| fault | produced | cache after |\n|---|---|---|\n${rows}`);
  });

  const cases: { fault: string; spec?: string; attrs?: () => Promise<Record<string, string>>; code: string; message: RegExp }[] = [
    { fault: 'HTTP 404 on the weights (and on the shard index tried next)', spec: `status=404,only=${WEIGHTS}`, code: 'invalid-format', message: /the model folder has neither model\.safetensors nor model\.safetensors\.index\.json/ },
    { fault: 'HTTP 500 on the weights (after 3 retries)', spec: `status=500,only=${WEIGHTS}`, code: 'http-status', message: /HTTP 500 .*the server failed/ },
    { fault: 'HTTP 416 on the weights', spec: `status=416,only=${WEIGHTS}`, code: 'http-status', message: /HTTP 416 .*refused the byte range/ },
    { fault: 'body cut at 100 000 B, full Content-Length announced, socket dropped', spec: `truncate=100000,only=${WEIGHTS}`, code: 'truncated', message: /model\.safetensors was cut short: \d+ of 8794448 bytes arrived/ },
    { fault: 'Content-Length 100 000 B (file is 8.8 MB), body matches it', spec: `truncate=100000,cl=right,only=${WEIGHTS}`, code: 'truncated', message: /cut short: \d+ of 8794448 bytes arrived/ },
    { fault: 'stream stalls after 64 KiB (stall-timeout 1500 ms)', spec: `stall=65536,only=${WEIGHTS}`, code: 'stalled', message: /stalled: no data for 1500 ms/ },
    { fault: 'Content-Range off by one', spec: `badrange,truncate=200000,only=${WEIGHTS}`, code: 'bad-response', message: /Unexpected response/ },
    {
      fault: 'hf: weights byte 8 000 000 flipped (sha256 from the hub listing)',
      attrs: async () => ({ src: 'hf:models/tiny-llama', 'hub-base': `${location.origin}/__fault/corrupt=8000000,only=${WEIGHTS}/__hub` }),
      code: 'integrity',
      message: /model\.safetensors failed its sha256 check: expected 176537eeba1a9e8d3b154e6e03a1d7845f5f16042fcc693b25f578e8174d3455, got a5d82fff/,
    },
    {
      fault: 'ipfs: every raw block corrupted by the gateway',
      attrs: async () => ({ src: `ipfs://${(await (await fetch('/__ipfs/_fixtures')).json()).dir}`, gateways: `${location.origin}/__fault/corrupt=all/__ipfs` }),
      code: 'integrity',
      message: /check for CID/,
    },
  ];

  for (const c of cases) {
    it(`${c.fault} → accel-error "${c.code}", no cache entry for the failed file, the rest intact`, async () => {
      const attrs = c.attrs ? await c.attrs() : { src: folder(c.spec!), 'stall-timeout': '1500' };
      const { code, message, el } = await loadExpectingError(attrs);
      expect(code).to.equal(c.code);
      expect(message).to.match(c.message);
      expect(el.status).to.equal('error');
      const shown = el.shadowRoot!.querySelector('[part~="error"]')!;
      expect(shown.getAttribute('role')).to.equal('alert');
      expect(shown.textContent).to.equal(message);
      const audit = await cacheAudit();
      expect(audit.filter((a) => a.file === WEIGHTS), 'entry for the failed weights').to.deep.equal([]);
      expect(audit.filter((a) => !a.intact), 'corrupt entries').to.deep.equal([]);
      table.push({ fault: c.fault, produced: `${code}: ${message}`, cacheAfter: `${audit.length} entries, all intact, no ${WEIGHTS}` });
    });
  }

  for (const tolerated of [{ fault: 'Range ignored (200 with the whole file)', spec: 'norange' }, { fault: 'no Content-Length', spec: 'nolength' }]) {
    it(`${tolerated.fault} → loads correctly and caches only intact files`, async () => {
      const el = await fixture<AccelModel>(html`<accel-model backend="cpu" src=${folder(tolerated.spec)}></accel-model>`);
      const model = await el.load();
      expect(model.info.architecture).to.equal('llama');
      const audit = await cacheAudit();
      expect(audit.map((a) => a.file)).to.include(WEIGHTS);
      expect(audit.every((a) => a.intact)).to.equal(true);
      el.unload();
      table.push({ fault: tolerated.fault, produced: 'loaded (tolerated)', cacheAfter: `${audit.length} entries, all intact` });
    });
  }

  it('ipfs:// is fetched only from the configured gateway, nothing else', async () => {
    const { dir } = await (await fetch('/__ipfs/_fixtures')).json();
    const gateway = `${location.origin}/__fault/id=only-gw/__ipfs`;
    performance.clearResourceTimings();
    const { code } = await loadExpectingError({ src: `ipfs://${dir}`, gateways: gateway });
    // The IPFS fixture is a folder of plain files, not a model: the load gets as far as parsing config.json.
    expect(code).to.equal('invalid-format');
    const urls = performance.getEntriesByType('resource').map((e) => e.name).filter((u) => !u.includes('/__ipfs/_fixtures'));
    expect(urls.length).to.be.greaterThan(0);
    expect(urls.filter((u) => !u.startsWith(`${gateway}/`))).to.deep.equal([]);
  });
});
