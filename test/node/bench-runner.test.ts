import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../engine/backends/cpu/index.js';
import { parseModelConfig, type LlamaConfig } from '../../engine/formats/config.js';
import { parseSafetensors } from '../../engine/formats/safetensors.js';
import { loadTokenizer } from '../../engine/formats/tokenizer.js';
import { LlamaModel } from '../../engine/models/llama/llama.js';
import { safetensorsStore } from '../../engine/models/stores.js';
import { Model } from '../../engine/load-model.js';
import { AbortError, AccelError, InvalidArgumentError } from '../../engine/errors.js';
import { benchmarkGeneration, measure, runMatrix, type BenchmarkLoader, type BenchmarkModel } from '../../engine/bench/runner.js';
import { toRecord, aggregate } from '../../engine/bench/records.js';
import { CSV_COLUMNS, MARKDOWN_HEADER, parseJsonExport, toCsv, toHtml, toJson, toMarkdown } from '../../engine/bench/export.js';

const dir = new URL('../../models/tiny-llama/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const config = parseModelConfig(read('config.json').toString('utf8')) as LlamaConfig;
const bytes = new Uint8Array(read('model.safetensors'));
const tokenizer = loadTokenizer(read('tokenizer.json').toString('utf8'), read('tokenizer_config.json').toString('utf8'));

function tinyLlama(maxSequence = 64): Model {
  const backend = new CpuBackend();
  const lm = new LlamaModel(backend, config, safetensorsStore([{ header: parseSafetensors(bytes), bytes }]), { maxSequence });
  return new Model({ config, tokenizer, backend, source: 'file:models/tiny-llama/', format: 'safetensors', lm, encoder: null, generationConfig: null });
}

test('measure(): warm-up calls are untimed, each measured call is timed in order', async () => {
  const calls: number[] = [];
  const phases: string[] = [];
  const r = await measure(async (i) => {
    calls.push(i);
    await new Promise((res) => setTimeout(res, 5));
    return i * 2;
  }, { iterations: 3, warmup: 2, onIteration: (p, i, of) => phases.push(`${p} ${i}/${of}`) });
  assert.deepEqual(calls, [-1, -2, 0, 1, 2]);
  assert.deepEqual(phases, ['warmup 1/2', 'warmup 2/2', 'measure 1/3', 'measure 2/3', 'measure 3/3']);
  assert.deepEqual(r.values, [0, 2, 4]);
  assert.equal(r.timesMs.length, 3);
  for (const t of r.timesMs) assert.ok(t >= 4, `each iteration waited ≥ 5 ms, measured ${t}`);
  assert.equal(r.latency.count, 3);
  assert.ok(Math.abs(r.itemsPerSecond - 3000 / r.timesMs.reduce((a, b) => a + b)) < 1e-9);
  await assert.rejects(measure(() => 1, { iterations: 0 }), InvalidArgumentError);
  const c = new AbortController();
  await assert.rejects(measure(() => { if (calls.push(0) > 7) c.abort(); }, { iterations: 100, warmup: 0, signal: c.signal }), AbortError);
});

test('benchmarkGeneration on the shipped tiny-llama (cpu): every iteration makes maxNewTokens tokens from the same prompt, with TTFT and memory', async () => {
  const model = tinyLlama();
  const progress: string[] = [];
  const r = await benchmarkGeneration(model, { iterations: 3, warmup: 1, promptTokens: 12, maxNewTokens: 6, onProgress: (p) => progress.push(`${p.phase} ${p.iteration}/${p.iterations} ${p.progress.toFixed(2)}`) });
  assert.deepEqual(progress, ['warmup 1/1 0.00', 'measure 1/3 0.25', 'measure 2/3 0.50', 'measure 3/3 0.75', 'done 3/3 1.00']);
  assert.equal(r.backend, 'cpu');
  assert.equal(r.precision, 'original');
  assert.equal(r.samples.length, 3);
  for (const s of r.samples) {
    assert.equal(s.promptTokens, 12);
    assert.equal(s.completionTokens, 6);
    assert.ok(s.ttftMs > 0 && s.ttftMs < s.ms, `TTFT ${s.ttftMs} within the iteration's ${s.ms} ms`);
    assert.ok(s.decodeTokensPerSecond > 0);
    assert.equal(s.gpuMs, null);
  }
  assert.equal(r.latencyMs.mean, r.samples.reduce((a, s) => a + s.ms, 0) / 3);
  assert.ok(Math.abs(r.tokensPerSecond - 18000 / r.samples.reduce((a, s) => a + s.ms, 0)) < 1e-9);
  assert.ok(Math.abs(r.itemsPerSecond * 6 - r.tokensPerSecond) < 1e-9);
  assert.equal(r.gpuTiming, 'no-timestamp-query');
  assert.equal(r.memory.weightBytes, model.memory().weightBytes);
  assert.ok(r.memory.weightBytes > 4e6 * 4 * 0.9, 'the 4.4M-parameter model holds f32 weights on cpu');
  assert.ok(r.memory.backendAllocatedBytes! >= r.memory.weightBytes);
  assert.ok(r.memory.jsHeapBytes! > 0);
  await assert.rejects(benchmarkGeneration(model, { promptTokens: 60, maxNewTokens: 10 }), (e: unknown) => e instanceof InvalidArgumentError && /needs 70 cache positions; the model was loaded with 64/.test(e.message));
  model.dispose();
});

test('runMatrix: backends × precisions × prompt lengths; a cell that cannot load is a failure, the rest run; abort stops it', async () => {
  const loads: string[] = [];
  let unloads = 0;
  const loader: BenchmarkLoader = {
    async load(_src, o) {
      loads.push(`${o.backend}/${o.precision}/${o.maxSequence}`);
      if (o.precision === 'q9') throw new InvalidArgumentError('precision "q9" is not known.');
      return tinyLlama(o.maxSequence) as BenchmarkModel;
    },
    unload: (m) => {
      unloads++;
      (m as Model).dispose();
      return true;
    },
  };
  const seen: number[] = [];
  const { results, failures } = await runMatrix(loader, { source: 'x', backends: ['cpu'], precisions: ['original', 'q9'], promptTokens: [4, 8], iterations: 1, warmup: 0, maxNewTokens: 3, onProgress: (p) => seen.push(p.progress) });
  assert.deepEqual(loads, ['cpu/original/11', 'cpu/q9/11']);
  assert.equal(unloads, 1);
  assert.deepEqual(results.map((r) => [r.backend, r.precision, r.promptTokens]), [['cpu', 'original', 4], ['cpu', 'original', 8]]);
  assert.deepEqual(failures.map((f) => [f.cell.precision, f.cell.promptTokens, f.error.code]), [['q9', 4, 'invalid-argument'], ['q9', 8, 'invalid-argument']]);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, 'progress never goes back');
  assert.ok(seen.every((p) => p >= 0 && p <= 1));

  const c = new AbortController();
  const run = runMatrix(loader, { source: 'x', backends: ['cpu'], promptTokens: [8], iterations: 50, warmup: 0, maxNewTokens: 3, signal: c.signal, onProgress: (p) => { if (p.phase === 'measure' && p.iteration === 2) c.abort(); } });
  await assert.rejects(run, (e: unknown) => e instanceof AbortError && (e as AccelError).code === 'aborted');
  assert.equal(unloads, 2, 'the aborted cell still unloads its model');
  await assert.rejects(runMatrix(loader, { source: 'x', backends: [] }), InvalidArgumentError);
});

test('exports parse back: JSON round-trips, CSV has a row per record with the right values, Markdown a row per record, HTML escapes everything', async () => {
  const model = tinyLlama();
  const r = await benchmarkGeneration(model, { iterations: 2, warmup: 0, promptTokens: 5, maxNewTokens: 3 });
  model.dispose();
  const evil = { browser: 'Chromium "1", <b>x</b>\nnext | pipe', hardware: '=HYPERLINK("http://x") <img src=x onerror=alert(1)>' };
  const records = [toRecord(r, evil, 'a'), toRecord({ ...r, backend: 'wasm', tokensPerSecond: r.tokensPerSecond * 2 }, { browser: 'B', hardware: 'H' }, 'b')];

  const back = parseJsonExport(toJson(records, new Date(0)));
  assert.equal(back.exportedAt, '1970-01-01T00:00:00.000Z');
  assert.deepEqual(back.records, JSON.parse(JSON.stringify(records)));
  assert.throws(() => parseJsonExport('{"format":"other"}'), InvalidArgumentError);

  const csv = toCsv(records);
  assert.ok(csv.endsWith('\r\n'));
  const rows = parseCsv(csv);
  assert.equal(rows.length, 3);
  for (const row of rows) assert.equal(row.length, CSV_COLUMNS.length);
  const col = (name: string) => rows[0]!.indexOf(name);
  assert.equal(rows[1]![col('browser')], evil.browser);
  assert.equal(rows[1]![col('hardware')], `'${evil.hardware}`, 'a formula-like cell is kept as text');
  assert.equal(Number(rows[1]![col('latency_mean_ms')]), r.latencyMs.mean);
  assert.equal(Number(rows[2]![col('tokens_per_second')]), r.tokensPerSecond * 2);
  assert.equal(rows[2]![col('backend')], 'wasm');
  assert.equal(rows[1]![col('date')], r.startedAt);

  const md = toMarkdown(records).trimEnd().split('\n');
  assert.equal(md.length, 4);
  const cells = (line: string) => line.slice(2, -2).split(/(?<!\\) \| /);
  assert.deepEqual(cells(md[0]!), [...MARKDOWN_HEADER]);
  assert.equal(cells(md[2]!).length, MARKDOWN_HEADER.length, 'the pipe in the browser name is escaped');
  assert.equal(cells(md[2]!)[12], r.tokensPerSecond.toFixed(2));
  assert.ok(!md[2]!.includes('<b>') && md[2]!.includes('&lt;b&gt;'));

  const html = toHtml(records, { title: 'Run <script>alert(1)</script>' });
  assert.ok(!/<script|<img|<b>|onerror=alert\(1\)>/i.test(html.replace(/&lt;[^&]*&gt;/g, '')), 'no live markup from the data');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes("default-src 'none'"));
  assert.equal((html.match(/<tr>/g) ?? []).length, 3);
  assert.equal((html.match(/<rect /g) ?? []).length, 2);

  const agg = aggregate([...records, toRecord(r, evil, 'c')]);
  assert.equal(agg.length, 2);
  const cpu = agg.find((a) => a.backend === 'cpu')!;
  assert.equal(cpu.runs, 2);
  assert.equal(cpu.tokensPerSecond.mean, r.tokensPerSecond);
});

/** RFC 4180 reader for the test: quoted fields, doubled quotes, CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; }
    else cell += ch;
  }
  return rows;
}
