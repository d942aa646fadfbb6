// Koa-style middleware the browser test server mounts (web-test-runner.config.mjs): model folders with
// range requests, a fake Hugging Face hub, an IPFS-style gateway and injected faults for the loader tests.
// The same handler also runs on a plain node:http server for the Node tests (createLoaderTestServer).
//
// Routes (each may be prefixed by /__fault/<spec>/ to inject faults, spec = comma-separated key=value):
//   /__models/<path>                              test/fixtures/loader/<path>, else models/<path>
//   /__hub/<owner>/<name>/resolve/<rev>/<file>    owner "models" → models/<name>, else test/fixtures/loader/<name>
//   /__hub/api/models/<owner>/<name>/revision/<rev>   siblings listing with sizes and sha256
//   /__ipfs/ipfs/<cid>[/path]                     raw block with ?format=raw or Accept: application/vnd.ipld.raw,
//                                                 else the whole file
//   /__ipfs/_fixtures                             CIDs of the fixtures imported at start (JSON; `vit` is models/tiny-vit)
//   /__counter, /__counter/reset                  requests seen on the routes above
// Fault keys: status=<code> | fail=<n> (first n requests per URL get 500) | truncate=<n> with cl=wrong
//   (default: announce the full length, then drop the connection) or cl=right (announce n) | stall=<n>
//   (send n bytes, then nothing) | norange=1 (ignore Range) | badrange=1 (Content-Range off by one) |
//   corrupt=<byte offset> for files, corrupt=<cid>|all for raw IPFS blocks | chunk=<n>,delay=<ms> |
//   nolength=1 (no Content-Length) | id=<anything> (makes fail counters unique per test) |
//   only=<file name> (the other keys apply only to requests whose last path segment is that name)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dagPb from '@ipld/dag-pb';
import { importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced } from 'ipfs-unixfs-importer/layout';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import { base36 } from 'multiformats/bases/base36';

// bundled copies (tools/bench-gpu/dist) run from the repository root, where this file's own path is not
const here = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const repo = existsSync(resolve(here, 'test', 'server')) ? here : process.cwd();
const FIXTURE_ROOT = join(repo, 'test', 'fixtures', 'loader');
const MODELS_ROOT = join(repo, 'models');
const STALL_LIMIT_MS = 20_000;

const counter = { total: 0, byPath: /** @type {Record<string, number>} */ ({}) };
const failCounts = new Map();

function count(path) {
  counter.total++;
  counter.byPath[path] = (counter.byPath[path] ?? 0) + 1;
}

function inside(root, rel) {
  const p = resolve(root, rel);
  return p === root || p.startsWith(root + sep) ? p : undefined;
}

function readFileIn(roots, rel) {
  for (const root of roots) {
    const p = inside(root, rel);
    if (p && existsSync(p) && statSync(p).isFile()) return readFileSync(p);
  }
  return undefined;
}

function parseFaults(spec) {
  const f = {};
  for (const part of spec.split(',')) {
    if (!part) continue;
    const [k, v = '1'] = part.split('=');
    f[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  return f;
}

function etagOf(bytes) {
  return `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
}

// ---------------------------------------------------------------------------------------------- IPFS

const blocks = new Map();
let ipfsFixtures;

function cidKey(text) {
  const cid = text.startsWith('k') ? CID.parse(text, base36) : CID.parse(text);
  return cid.toV1().toString();
}

async function importInto(entries, options) {
  const store = { put: async (cid, bytes) => (blocks.set(cid.toV1().toString(), bytes), cid) };
  const out = [];
  for await (const e of importer(entries, store, options)) out.push(e);
  return out;
}

async function buildIpfsFixtures() {
  const dir = join(FIXTURE_ROOT, 'tiny');
  const names = readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile()).sort();
  // 1 KiB chunks and at most 4 links per node give the 20 kB fixture a three-level tree.
  const small = { chunker: fixedSize({ chunkSize: 1024 }), layout: balanced({ maxChildrenPerNode: 4 }), cidVersion: 1, rawLeaves: true };
  const tree = await importInto(names.map((n) => ({ path: `tiny/${n}`, content: readFileSync(join(dir, n)) })), small);
  const files = {};
  let root;
  for (const e of tree) {
    if (e.path === 'tiny') root = e.cid.toString();
    else if (e.path) files[e.path.slice('tiny/'.length)] = e.cid.toString();
  }
  // dag-pb leaves and a CIDv0 root: the layout older go-ipfs nodes produce.
  const [pb] = await importInto([{ content: readFileSync(join(dir, 'weights.bin')) }], {
    ...small, cidVersion: 0, rawLeaves: false, leafType: 'file', reduceSingleLeafToSelf: true,
  });
  // A real model over IPFS (64 KiB leaves), for tests that load one through a gateway.
  const vitDir = join(MODELS_ROOT, 'tiny-vit');
  const vitFiles = ['config.json', 'preprocessor_config.json', 'model.safetensors'];
  const vit = await importInto(vitFiles.map((n) => ({ path: `tiny-vit/${n}`, content: readFileSync(join(vitDir, n)) })), { ...small, chunker: fixedSize({ chunkSize: 65536 }) });
  ipfsFixtures = { dir: root, files, weightsPbLeaves: pb.cid.toString(), vit: vit.find((e) => e.path === 'tiny-vit').cid.toString(), blocks: blocks.size };
}

const ipfsReady = buildIpfsFixtures();

function pbNode(key) {
  const bytes = blocks.get(key);
  if (!bytes) return undefined;
  const cid = CID.parse(key);
  if (cid.code === 0x55) return { raw: bytes };
  const pb = dagPb.decode(bytes);
  return { pb, fs: UnixFS.unmarshal(pb.Data) };
}

function catFile(key) {
  const n = pbNode(key);
  if (!n) return undefined;
  if (n.raw) return n.raw;
  const parts = [n.fs.data ?? new Uint8Array(0)];
  for (const l of n.pb.Links) parts.push(catFile(l.Hash.toV1().toString()));
  return Buffer.concat(parts);
}

function walkPath(key, segments) {
  for (const s of segments) {
    const n = pbNode(key);
    const link = n?.pb?.Links.find((l) => l.Name === s);
    if (!link) return undefined;
    key = link.Hash.toV1().toString();
  }
  return key;
}

// -------------------------------------------------------------------------------------- responses

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or junk: serve the whole file
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size);
    return n === 0 ? 'unsatisfiable' : { start: size - n, end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes `body` honouring Range and the injected faults; resolves when the response is over. */
async function sendBytes(req, res, body, faults, setStatus, extraHeaders = {}) {
  const size = body.length;
  const headers = {
    'content-type': 'application/octet-stream',
    'cache-control': 'no-store',
    'accept-ranges': 'bytes',
    etag: etagOf(body),
    ...extraHeaders,
  };
  let status = 200;
  let start = 0;
  let end = size - 1;
  const range = req.headers.range;
  if (range && !faults.norange) {
    const r = parseRange(range, size);
    if (r === 'unsatisfiable') {
      setStatus(416);
      res.writeHead(416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': '0' });
      res.end();
      return;
    }
    if (r) {
      status = 206;
      start = r.start;
      end = r.end;
      const shift = faults.badrange ? 1 : 0;
      headers['content-range'] = `bytes ${start + shift}-${Math.min(end + shift, size - 1)}/${size}`;
    }
  }
  let payload = Buffer.from(body.subarray(start, end + 1));
  if (faults.corrupt !== undefined && /^\d+$/.test(faults.corrupt)) {
    const at = Number(faults.corrupt) - start;
    if (at >= 0 && at < payload.length) {
      payload = Buffer.from(payload);
      payload[at] ^= 0xff;
    }
  }
  const truncate = faults.truncate !== undefined ? Math.min(Number(faults.truncate), payload.length) : undefined;
  if (!faults.nolength) headers['content-length'] = String(truncate !== undefined && faults.cl === 'right' ? truncate : payload.length);
  setStatus(status);
  res.writeHead(status, headers);
  if (req.method === 'HEAD') return void res.end();

  const closed = new Promise((r) => res.once('close', r));
  const stallAt = faults.stall !== undefined ? Number(faults.stall) : undefined;
  const limit = Math.min(payload.length, truncate ?? Infinity, stallAt ?? Infinity);
  const chunk = faults.chunk ? Math.max(1, Number(faults.chunk)) : 16 * 1024;
  const delay = faults.delay ? Number(faults.delay) : 0;
  for (let o = 0; o < limit && !res.destroyed; o += chunk) {
    const piece = payload.subarray(o, Math.min(limit, o + chunk));
    if (!res.write(piece)) await Promise.race([new Promise((r) => res.once('drain', r)), closed]);
    if (delay) await Promise.race([sleep(delay), closed]);
  }
  if (res.destroyed) return;
  if (stallAt !== undefined && stallAt < payload.length) {
    // Hold the connection open without sending more until the client gives up.
    const timer = setTimeout(() => res.destroy(), STALL_LIMIT_MS);
    await closed;
    clearTimeout(timer);
    return;
  }
  if (truncate !== undefined && truncate < payload.length && faults.cl !== 'right') {
    // The announced length was the full one: dropping the socket is the only way to stop short.
    await new Promise((r) => res.write('', r));
    res.destroy();
    return;
  }
  res.end();
  await closed;
}

function sendJson(res, status, value, setStatus) {
  const body = JSON.stringify(value);
  setStatus(status);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function notFound(res, setStatus, what) {
  sendJson(res, 404, { error: `not found: ${what}` }, setStatus);
}

const HUB_LFS = /\.(bin|safetensors|gguf|onnx)$/;

/**
 * Serves one request if it belongs to the loader's routes. Returns false for anything else so the dev
 * server can serve test files as usual.
 */
export async function handleLoaderRequest(req, res, setStatus = () => {}) {
  const url = new URL(req.url, 'http://localhost');
  let path = url.pathname;
  if (path === '/__counter' || path === '/__counter/reset') {
    if (path.endsWith('/reset')) {
      counter.total = 0;
      counter.byPath = {};
    }
    sendJson(res, 200, counter, setStatus);
    return true;
  }
  let faults = {};
  let prefix = '';
  const fm = /^\/__fault\/([^/]*)(\/.*)$/.exec(path);
  if (fm) {
    faults = parseFaults(fm[1]);
    prefix = `/__fault/${fm[1]}`;
    path = fm[2];
    if (faults.only !== undefined && decodeURIComponent(path.split('/').pop() ?? '') !== faults.only) faults = {};
  }
  if (!/^\/__(models|hub|hub-lfs|ipfs)(\/|$)/.test(path)) {
    if (!fm) return false;
    notFound(res, setStatus, path);
    return true;
  }
  count(url.pathname);

  if (faults.fail !== undefined) {
    const key = `${url.pathname}`;
    const n = failCounts.get(key) ?? 0;
    failCounts.set(key, n + 1);
    if (n < Number(faults.fail)) {
      sendJson(res, 500, { error: 'injected failure' }, setStatus);
      return true;
    }
  }
  if (faults.status !== undefined && faults.status !== '416') {
    sendJson(res, Number(faults.status), { error: `injected ${faults.status}` }, setStatus);
    return true;
  }

  const seg = path.split('/').slice(2).map(decodeURIComponent);
  let body;
  let extra = {};
  if (path.startsWith('/__models/')) {
    body = readFileIn([FIXTURE_ROOT, MODELS_ROOT], seg.join('/'));
  } else if (path.startsWith('/__hub-lfs/')) {
    const [owner, name, ...file] = seg;
    body = readFileIn([owner === 'models' ? MODELS_ROOT : FIXTURE_ROOT], [name, ...file].join('/'));
  } else if (path.startsWith('/__hub/api/models/')) {
    const [, , owner, name, , rev] = seg;
    const root = inside(owner === 'models' ? MODELS_ROOT : FIXTURE_ROOT, name ?? '');
    if (!root || !existsSync(root) || !(rev === 'main' || /^[0-9a-f]{40}$/.test(rev ?? ''))) {
      notFound(res, setStatus, path);
      return true;
    }
    const siblings = readdirSync(root).filter((n) => statSync(join(root, n)).isFile()).sort().map((n) => {
      const bytes = readFileSync(join(root, n));
      const s = { rfilename: n, size: bytes.length };
      if (HUB_LFS.test(n)) s.lfs = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
      return s;
    });
    sendJson(res, 200, { id: `${owner}/${name}`, sha: '0'.repeat(40), siblings }, setStatus);
    return true;
  } else if (path.startsWith('/__hub/')) {
    const [owner, name, verb, rev, ...file] = seg;
    if (verb !== 'resolve' || !(rev === 'main' || /^[0-9a-f]{40}$/.test(rev ?? ''))) {
      setStatus(404);
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound', 'content-length': '0', 'cache-control': 'no-store' });
      res.end();
      return true;
    }
    const rel = [name, ...file].join('/');
    const exists = readFileIn([owner === 'models' ? MODELS_ROOT : FIXTURE_ROOT], rel);
    if (exists && HUB_LFS.test(rel)) {
      // Like the real hub: large files redirect to a separate LFS/CDN path.
      setStatus(302);
      res.writeHead(302, { location: `${prefix}/__hub-lfs/${owner}/${rel.split('/').map(encodeURIComponent).join('/')}`, 'content-length': '0', 'cache-control': 'no-store' });
      res.end();
      return true;
    }
    body = exists;
    extra = { 'x-repo-commit': '0'.repeat(40) };
  } else if (path.startsWith('/__ipfs/')) {
    await ipfsReady;
    if (seg[0] === '_fixtures') {
      sendJson(res, 200, ipfsFixtures, setStatus);
      return true;
    }
    if (seg[0] !== 'ipfs' || !seg[1]) {
      notFound(res, setStatus, path);
      return true;
    }
    let key;
    try {
      key = walkPath(cidKey(seg[1]), seg.slice(2));
    } catch {
      sendJson(res, 400, { error: 'invalid CID' }, setStatus);
      return true;
    }
    const raw = url.searchParams.get('format') === 'raw' || (req.headers.accept ?? '').includes('application/vnd.ipld.raw');
    if (key && raw) {
      body = blocks.get(key);
      if (body && (faults.corrupt === 'all' || (faults.corrupt && !/^\d+$/.test(faults.corrupt) && cidKey(faults.corrupt) === key))) {
        body = Buffer.from(body);
        body[0] ^= 0xff;
      }
      extra = { 'content-type': 'application/vnd.ipld.raw' };
    } else if (key) {
      body = catFile(key);
    }
  }
  if (!body) {
    notFound(res, setStatus, path);
    return true;
  }
  if (faults.status === '416') {
    setStatus(416);
    res.writeHead(416, { 'content-range': `bytes */${body.length}`, 'content-length': '0', 'cache-control': 'no-store' });
    res.end();
    return true;
  }
  await sendBytes(req, res, body, faults, setStatus, extra);
  return true;
}

/** Koa middleware for @web/dev-server: bypasses Koa's response handling so faults reach the socket as sent. */
async function loaderMiddleware(ctx, next) {
  if (!/^\/__(fault|models|hub|hub-lfs|ipfs|counter)(\/|$)/.test(ctx.path)) return next();
  ctx.respond = false;
  const handled = await handleLoaderRequest(ctx.req, ctx.res, (s) => {
    ctx.status = s;
  });
  if (!handled) {
    ctx.respond = true;
    return next();
  }
}

/**
 * Every test page is cross-origin isolated, as a page serving accel should be (tools/serve.mjs does the same):
 * SharedArrayBuffer and so the wasm worker pool are available there. Only same-origin resources are loaded.
 */
async function isolationHeaders(ctx, next) {
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return next();
}

/**
 * Content-Security-Policy headers for the pages of test/csp/ and the bundle files they load, chosen by
 * `?csp=`: strict (no eval of any kind) or wasm (the same plus 'wasm-unsafe-eval', which WebAssembly
 * compilation needs). Only on those paths, so other tests are unaffected.
 */
export const CSP_POLICIES = {
  strict: "default-src 'self'; script-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'",
  wasm: "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; object-src 'none'; base-uri 'none'",
};
async function cspHeaders(ctx, next) {
  const policy = CSP_POLICIES[ctx.query?.csp];
  if (policy && (ctx.path.startsWith('/test/csp/') || ctx.path.startsWith('/dist/'))) ctx.set('Content-Security-Policy', policy);
  return next();
}

export const testServerMiddleware = [isolationHeaders, cspHeaders, loaderMiddleware];

/** Standalone server for Node tests; resolves with its origin and a close function. */
export async function createLoaderTestServer() {
  await ipfsReady;
  const server = createServer((req, res) => {
    handleLoaderRequest(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    }, (err) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
