#!/usr/bin/env node
// Static server for the demo pages, the built bundle and the shipped models: HTTP range requests (the
// loader streams model files with them) and COOP/COEP headers, so pages are cross-origin isolated and
// the wasm backend can use threads.
import { createServer } from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start = m[1] === '' ? size - Number(m[2]) : Number(m[1]);
  let end = m[1] === '' || m[2] === '' ? size - 1 : Number(m[2]);
  start = Math.max(0, start);
  end = Math.min(end, size - 1);
  return start <= end && start < size ? { start, end } : 'unsatisfiable';
}

/** `mounts` maps a path prefix to another folder, e.g. `{ '/models/': 'models' }` for an app built elsewhere. */
export function createStaticServer({ root = ROOT, mounts = {} } = {}) {
  return createServer(async (req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Cache-Control', 'no-cache');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/' && root === ROOT) {
      res.writeHead(302, { Location: '/demo/' });
      res.end();
      return;
    }
    const mount = Object.keys(mounts).find((prefix) => url.pathname.startsWith(prefix));
    const base = mount ? resolve(mounts[mount]) : root;
    let path = normalize(join(base, decodeURIComponent(mount ? url.pathname.slice(mount.length) : url.pathname)));
    if (path !== base && !path.startsWith(base + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      let stat = await fs.stat(path);
      if (stat.isDirectory()) {
        path = join(path, 'index.html');
        stat = await fs.stat(path);
      }
      const type = TYPES[extname(path)] ?? 'application/octet-stream';
      const range = req.headers.range ? parseRange(req.headers.range, stat.size) : null;
      if (range === 'unsatisfiable') {
        res.writeHead(416, { 'Content-Range': `bytes */${stat.size}` }).end();
        return;
      }
      if (range) {
        res.writeHead(206, { 'Content-Type': type, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${stat.size}` });
        if (req.method === 'HEAD') return res.end();
        createReadStream(path, range).pipe(res);
        return;
      }
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': stat.size });
      if (req.method === 'HEAD') return res.end();
      createReadStream(path).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${url.pathname}`);
    }
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const host = process.env.HOST ?? '127.0.0.1';
  const server = createStaticServer();
  server.listen(port, host, () => {
    const { port: p } = server.address();
    console.log(`accel demo: http://${host === '0.0.0.0' ? 'localhost' : host}:${p}/demo/`);
  });
}
