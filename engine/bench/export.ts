import { InvalidArgumentError } from '../errors.js';
import type { BenchmarkRecord } from './records.js';

/** The JSON export's envelope; `parseJsonExport` reads it back. */
export interface BenchmarkExport {
  format: 'accel-benchmark';
  version: 2;
  exportedAt: string;
  records: BenchmarkRecord[];
}

export function toJson(records: readonly BenchmarkRecord[], exportedAt: Date = new Date()): string {
  const doc: BenchmarkExport = { format: 'accel-benchmark', version: 2, exportedAt: exportedAt.toISOString(), records: [...records] };
  return JSON.stringify(doc, null, 2);
}

/** Reads a JSON export back; throws InvalidArgumentError for anything else. */
export function parseJsonExport(text: string): BenchmarkExport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`Not a benchmark export: ${e instanceof Error ? e.message : String(e)}.`);
  }
  const d = doc as Partial<BenchmarkExport> | null;
  if (!d || d.format !== 'accel-benchmark' || d.version !== 2 || !Array.isArray(d.records)) {
    throw new InvalidArgumentError('Not a benchmark export: expected { format: "accel-benchmark", version: 2, records: [...] }.');
  }
  return d as BenchmarkExport;
}

type Cell = string | number | null;

/** One row per record: the columns of the CSV export, in order. */
export const CSV_COLUMNS: readonly { name: string; value: (r: BenchmarkRecord) => Cell }[] = [
  { name: 'id', value: (r) => r.id },
  { name: 'run_id', value: (r) => r.runId },
  { name: 'date', value: (r) => new Date(r.date).toISOString() },
  { name: 'model', value: (r) => r.model },
  { name: 'source', value: (r) => r.source },
  { name: 'backend', value: (r) => r.backend },
  { name: 'precision', value: (r) => r.precision },
  { name: 'browser', value: (r) => r.browser },
  { name: 'hardware', value: (r) => r.hardware },
  { name: 'prompt_tokens', value: (r) => r.promptTokens },
  { name: 'max_new_tokens', value: (r) => r.maxNewTokens },
  { name: 'iterations', value: (r) => r.iterations },
  { name: 'warmup', value: (r) => r.warmup },
  { name: 'latency_mean_ms', value: (r) => r.latencyMs.mean },
  { name: 'latency_stddev_ms', value: (r) => r.latencyMs.stddev },
  { name: 'latency_p50_ms', value: (r) => r.latencyMs.p50 },
  { name: 'latency_p90_ms', value: (r) => r.latencyMs.p90 },
  { name: 'latency_p99_ms', value: (r) => r.latencyMs.p99 },
  { name: 'ttft_mean_ms', value: (r) => r.ttftMs?.mean ?? null },
  { name: 'ttft_p50_ms', value: (r) => r.ttftMs?.p50 ?? null },
  { name: 'decode_tokens_per_second_mean', value: (r) => r.decodeTokensPerSecond?.mean ?? null },
  { name: 'prefill_tokens_per_second_mean', value: (r) => r.prefillTokensPerSecond?.mean ?? null },
  { name: 'tokens_per_second', value: (r) => r.tokensPerSecond },
  { name: 'items_per_second', value: (r) => r.itemsPerSecond },
  { name: 'gpu_mean_ms', value: (r) => r.gpuMs?.mean ?? null },
  { name: 'weight_bytes', value: (r) => r.memory?.weightBytes ?? null },
  { name: 'kv_cache_bytes', value: (r) => r.memory?.kvCacheBytes ?? null },
  { name: 'backend_allocated_bytes', value: (r) => r.memory?.backendAllocatedBytes ?? null },
  { name: 'js_heap_bytes', value: (r) => r.memory?.jsHeapBytes ?? null },
];

function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  // a leading = + - @ makes spreadsheets evaluate the cell as a formula; a quote mark keeps it text
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV (CRLF line ends, quoted where needed), a header row and one row per record. */
export function toCsv(records: readonly BenchmarkRecord[]): string {
  const lines = [CSV_COLUMNS.map((c) => c.name).join(','), ...records.map((r) => CSV_COLUMNS.map((c) => csvCell(c.value(r))).join(','))];
  return lines.join('\r\n') + '\r\n';
}

const fixed = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));

function mdCell(s: string): string {
  // pipes end cells, line breaks end rows, and Markdown renders inline HTML: neutralise all three
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const MARKDOWN_HEADER = ['Model', 'Backend', 'Precision', 'Prompt tokens', 'New tokens', 'Iterations', 'Mean ms', 'p50 ms', 'p90 ms', 'p99 ms', 'TTFT ms', 'Decode tok/s', 'tok/s', 'Browser', 'Hardware', 'Date'] as const;

function summaryRow(r: BenchmarkRecord): string[] {
  return [
    r.model, r.backend, r.precision, r.promptTokens === null ? '–' : String(r.promptTokens), r.maxNewTokens === null ? '–' : String(r.maxNewTokens), String(r.iterations),
    fixed(r.latencyMs.mean), fixed(r.latencyMs.p50), fixed(r.latencyMs.p90), fixed(r.latencyMs.p99), fixed(r.ttftMs?.mean), fixed(r.decodeTokensPerSecond?.mean), fixed(r.tokensPerSecond),
    r.browser, r.hardware, new Date(r.date).toISOString(),
  ];
}

/** A GitHub-flavoured Markdown table, one row per record. */
export function toMarkdown(records: readonly BenchmarkRecord[]): string {
  const row = (cells: readonly string[]) => `| ${cells.map(mdCell).join(' | ')} |`;
  return [row(MARKDOWN_HEADER), `|${MARKDOWN_HEADER.map((_, i) => (i >= 3 && i <= 12 ? ' ---: ' : ' --- ')).join('|')}|`, ...records.map((r) => row(summaryRow(r)))].join('\n') + '\n';
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * A self-contained HTML report (no scripts, no external resources; a CSP forbids both): a bar chart of
 * tokens per second as inline SVG and the table of every record. Every value is escaped.
 */
export function toHtml(records: readonly BenchmarkRecord[], options: { title?: string; generatedAt?: Date } = {}): string {
  const title = options.title ?? 'accel benchmark report';
  const generated = (options.generatedAt ?? new Date()).toISOString();
  const max = Math.max(0, ...records.map((r) => (Number.isFinite(r.tokensPerSecond) ? r.tokensPerSecond : 0)));
  const barH = 22;
  const labelW = 260;
  const chartW = 420;
  const bars = records.map((r, i) => {
    const w = max > 0 ? (r.tokensPerSecond / max) * chartW : 0;
    const y = i * (barH + 6);
    const label = `${r.model} · ${r.backend} · ${r.precision}${r.promptTokens === null ? '' : ` · ${r.promptTokens} tok`}`;
    return `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${escapeHtml(label)}</text>`
      + `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" rx="3"></rect>`
      + `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}">${escapeHtml(fixed(r.tokensPerSecond))}</text>`;
  });
  const svgH = Math.max(1, records.length * (barH + 6));
  const head = MARKDOWN_HEADER.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const rows = records.map((r) => `<tr>${summaryRow(r).map((c, i) => (i === 0 ? `<th scope="row">${escapeHtml(c)}</th>` : `<td>${escapeHtml(c)}</td>`)).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}
table{border-collapse:collapse;font-size:.85rem}
th,td{border:1px solid #d9dde3;padding:4px 8px;text-align:left}
td{font-variant-numeric:tabular-nums}
svg text{font-size:12px;fill:#1d2330}
svg rect{fill:#2f5bd3}
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Generated ${escapeHtml(generated)} · ${records.length} result${records.length === 1 ? '' : 's'}</p>
<h2>Tokens per second</h2>
<svg role="img" aria-label="Tokens per second for each result" width="${labelW + chartW + 80}" height="${svgH}" viewBox="0 0 ${labelW + chartW + 80} ${svgH}">
${bars.join('\n')}
</svg>
<h2>Results</h2>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}
