export { mean, stddev, percentile, summarize, throughput, histogram, type Summary } from './stats.js';
export {
  measure, benchmarkGeneration, benchmarkPrompt, runMatrix,
  type BenchmarkProgress, type BenchmarkCell, type MeasureOptions, type MeasureResult, type GenerationSample, type BenchmarkMemory,
  type GenerationBenchmark, type BenchmarkModel, type GenerationBenchmarkOptions, type BenchmarkLoader, type MatrixOptions, type MatrixFailure, type MatrixResult,
} from './runner.js';
export { GpuSpanTimer, timestampDevice } from './gpu-timer.js';
export { aggregate, matches, newId, profileFromCapabilities, toRecord, type AggregateRow, type BenchmarkRecord, type HardwareProfile, type RecordFilter } from './records.js';
export { BenchmarkStore, migrateV1Record, BENCH_DB_NAME, BENCH_DB_VERSION, type BenchmarkRecordV1 } from './storage.js';
export { toJson, parseJsonExport, toCsv, toMarkdown, toHtml, escapeHtml, CSV_COLUMNS, MARKDOWN_HEADER, type BenchmarkExport } from './export.js';
