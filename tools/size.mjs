#!/usr/bin/env node
// Size budget: what each published entry costs a page, as a user's bundler would ship it. Each dist
// entry is bundled with its dependencies by esbuild (minified, code-split, browser conditions); the
// "initial" figure is min+gzip of the entry's chunk and every chunk it imports statically, i.e. what
// loads before any dynamic import() runs; "lazy" is what the dynamic imports can pull in later.
// The prebuilt files (CDN bundle, engine worker) are measured as they are. Fails above budget.
//   node tools/size.mjs [--why]   (--why: the ten biggest packages/folders in the initial load of `accel`)
import { build } from 'esbuild';
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const KB = 1024;

// Budgets in KiB of min+gzip, initial load. `accel` is held at the target (elements + engine client
// ≤ 60 KB, with room left for more elements); the others are the measured size (2026-11-28) plus a little,
// so growth is noticed. The reasons say what the bytes are. The engine core never sits in an element's
// initial load: elements reach it through src/lazy-engine.ts (a dynamic import) or the Worker.
const ENTRIES = [
  { name: 'accel (all elements + engine client)', file: 'dist/index.js', budget: 60, why: 'Lit + every element + the Worker client, errors and light engine helpers; the engine core (tokenizers, jinja, loader, models), backends, the quantizer, the benchmark runner and chart.js load on first use (the engine itself is `accel/engine`)' },
  { name: 'accel/engine', file: 'dist/engine.js', budget: 115, why: 'every engine export: core, tokenizers, jinja, loader (IPFS/unixfs, idb), ViT/Whisper, remote models, quantizer, benchmark; backends lazy' },
  { name: 'accel/accel-model', file: 'dist/components/accel-model.js', budget: 18, why: 'the element + Lit + the Worker client; the in-thread engine (inline mode, remote models) is a lazy chunk, prefetched when the element connects' },
  { name: 'accel/accel-capabilities', file: 'dist/components/accel-capabilities.js', budget: 18, why: 'the element + Lit + recommendBackend; probing runs in the lazily loaded engine' },
  { name: 'accel/react', file: 'dist/react.js', budget: 40, why: 'all elements (react, react-dom and @lit/react are the app’s own, not counted)', external: ['react', 'react-dom', '@lit/react'] },
  { name: 'CDN accel.min.js', file: 'dist/accel.min.js', budget: 200, prebuilt: true, why: 'every element and the whole engine API (src/cdn.ts), everything but chart.js in one file, backends included (no bundler to split them)' },
  { name: 'engine worker accel-worker.js', file: 'dist/accel-worker.js', budget: 178, prebuilt: true, why: 'the whole engine and its backends, loaded in the Worker, not on the main thread' },
];

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

async function measure(entry) {
  const path = join(ROOT, entry.file);
  if (!existsSync(path)) throw new Error(`${entry.file} is missing: run \`npm run build\` first.`);
  if (entry.prebuilt) {
    const bytes = readFileSync(path);
    return { min: bytes.length, initial: gz(bytes), lazy: 0, inputs: null };
  }
  const out = await build({
    entryPoints: [path],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    outdir: '/size-out',
    metafile: true,
    conditions: ['browser', 'production'],
    external: entry.external ?? [],
    legalComments: 'none',
    logLevel: 'error',
  });
  const files = new Map(out.outputFiles.map((f) => [f.path, f.contents]));
  const outputs = out.metafile.outputs;
  const key = (p) => resolve('/', p);
  // the entry's own chunk (the targets of dynamic imports are entry points in the metafile too)
  const entryOut = Object.keys(outputs).find((o) => outputs[o].entryPoint && resolve(outputs[o].entryPoint) === path);
  if (!entryOut) throw new Error(`no output chunk for ${entry.file}`);
  // static closure from the entry chunk
  const initial = new Set();
  const walk = (o) => {
    if (initial.has(o)) return;
    initial.add(o);
    for (const imp of outputs[o].imports) if (imp.kind === 'import-statement' && outputs[imp.path]) walk(imp.path);
  };
  walk(entryOut);
  let initialGz = 0;
  let min = 0;
  let lazy = 0;
  const inputs = new Map();
  for (const [o, meta] of Object.entries(outputs)) {
    if (o.endsWith('.map')) continue;
    const bytes = files.get(key(o));
    if (initial.has(o)) {
      initialGz += gz(bytes);
      min += bytes.length;
      for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
        const group = input.includes('node_modules/') ? input.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1') : input.replace(/^.*?dist\//, '').replace(/-[\w-]{8}\.js$/, '.js');
        inputs.set(group, (inputs.get(group) ?? 0) + bytesInOutput);
      }
    } else lazy += gz(bytes);
  }
  return { min, initial: initialGz, lazy, inputs };
}

const why = process.argv.includes('--why');
let over = false;
const rows = [];
for (const entry of ENTRIES) {
  const m = await measure(entry);
  const ok = m.initial <= entry.budget * KB;
  if (!ok) over = true;
  rows.push({ entry: entry.name, 'min KiB': +(m.min / KB).toFixed(1), 'min+gz KiB': +(m.initial / KB).toFixed(1), 'lazy gz KiB': +(m.lazy / KB).toFixed(1), 'budget KiB': entry.budget, ok: ok ? 'yes' : 'OVER' });
  if (why && m.inputs && entry.file === 'dist/index.js') {
    const top = [...m.inputs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    console.log('biggest parts of the initial load of `accel` (minified bytes, before gzip):');
    for (const [name, bytes] of top) console.log(`  ${(bytes / KB).toFixed(1).padStart(7)} KiB  ${name}`);
  }
}
console.table(rows);
for (const e of ENTRIES) console.log(`- ${e.name}: ${e.why}`);
if (over) {
  console.error('size budget exceeded (tools/size.mjs)');
  process.exit(1);
}
