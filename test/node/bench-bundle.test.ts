import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

// chart.js must reach a page only through <accel-benchmark>'s dynamic import (npm run build:js first;
// `npm test` builds before it runs the node tests).
const dist = new URL('../../dist/', import.meta.url);
const built = existsSync(new URL('accel.min.js', dist)) && existsSync(new URL('components/accel-benchmark.js', dist));

test('chart.js stays out of every entry: a lazy import in <accel-benchmark> (npm build) and its own chunk (CDN build)', { skip: built ? false : 'dist/ not built (npm run build:js)' }, () => {
  const read = (p: string) => readFileSync(new URL(p, dist), 'utf8');
  const chartCode = /getDatasetMeta|doughnut/;
  const npmFiles = [
    'index.js', 'engine.js', 'accel-worker.js',
    ...readdirSync(new URL('components/', dist)).filter((f) => f.endsWith('.js')).map((f) => `components/${f}`),
    ...readdirSync(new URL('chunks/', dist)).filter((f) => f.endsWith('.js')).map((f) => `chunks/${f}`),
  ];
  for (const f of npmFiles) {
    const code = read(f);
    assert.doesNotMatch(code, chartCode, `${f} holds chart.js code`);
    const imports = code.match(/import\s*\(\s*['"]chart\.js[^'"]*['"]\s*\)/g) ?? [];
    const statics = code.match(/from\s*['"]chart\.js[^'"]*['"]/g) ?? [];
    assert.deepEqual(statics, [], `${f} imports chart.js statically`);
    assert.deepEqual(imports, f === 'components/accel-benchmark.js' ? ["import('chart.js/auto')"] : [], `${f}: dynamic chart.js imports`);
  }
  const cdn = read('accel.min.js');
  assert.doesNotMatch(cdn, chartCode, 'accel.min.js holds chart.js code');
  const chunk = /import\(\s*["']\.\/(cdn\/chart-[\w-]+\.min\.js)["']\s*\)/.exec(cdn);
  assert.ok(chunk, 'accel.min.js imports the chart chunk lazily');
  assert.match(read(chunk[1]!), chartCode);
});
