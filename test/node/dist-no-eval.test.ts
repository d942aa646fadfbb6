import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// The built files must run under `script-src 'self'` (no 'unsafe-eval'): no eval, no Function constructor, no
// string timers. test/browser/csp.test.ts runs the bundle under that policy; this catches what those runs miss.
const DIST = join(import.meta.dirname, '..', '..', 'dist');
const PATTERNS: [string, RegExp][] = [
  ['eval(', /(?<![\w$.])eval\s*\(/],
  ['new Function(', /\bnew\s+Function\s*\(/],
  ['Function("…")', /(?<![\w$.])Function\s*\(\s*["'`]/],
  ['setTimeout/setInterval with a string', /\bset(?:Timeout|Interval)\s*\(\s*["'`]/],
  ['.constructor("…") of a function', /\.constructor\s*\(\s*["'`][^"'`]*return/],
  ['globalThis.eval(', /\b(?:window|globalThis|self)\.eval\s*\(/],
];
// Justified exceptions: [file suffix, pattern name, why]. None are needed today.
const ALLOWED: [string, string, string][] = [];

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : /\.m?js$/.test(e.name) ? [join(dir, e.name)] : []));
}

test('dist/ has no eval, Function constructor or string timer (strict CSP without unsafe-eval)', () => {
  assert.ok(existsSync(join(DIST, 'accel.min.js')), 'dist/ is not built: run `npm run build` first');
  const files = jsFiles(DIST);
  assert.ok(files.some((f) => f.endsWith('accel-worker.js')) && files.length >= 8, `expected the bundle, chunks and worker, found ${files.length} files`);
  const hits: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const [name, re] of PATTERNS) {
      if (re.test(text) && !ALLOWED.some(([suffix, n]) => file.endsWith(suffix) && n === name)) hits.push(`${file.slice(DIST.length + 1)}: ${name}`);
    }
  }
  assert.deepEqual(hits, []);
});

test('the patterns find what they look for (so the check above can fail)', () => {
  const samples = ['x=eval("1")', 'new Function("a","return a")', 'Function("return this")()', 'setTimeout("alert(1)",0)', 'f.constructor("return 1")', 'globalThis.eval(s)'];
  samples.forEach((s, i) => assert.ok(PATTERNS[i]![1].test(s), s));
  for (const ok of ['model.evaluate(x)', 'retrieval(x)', 'x.eval(1)', 'typeof Function', 'setTimeout(() => 1)']) assert.ok(PATTERNS.every(([, re]) => !re.test(ok)), ok);
});
