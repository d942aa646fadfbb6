#!/usr/bin/env node
/**
 * Long fuzz run of every parser (issue 11): `npm run fuzz` (200,000 cases per parser by default).
 *   node --import tsx tools/fuzz.mjs [--runs N] [--seed S] [--only NAME-PREFIX] [--classes]
 * FUZZ_RUNS / FUZZ_SEED work as well. Prints a table per parser: cases tried, parsed ok, typed errors by
 * class, other (foreign exceptions: the run stops at the first and prints fast-check's shrunk report),
 * time and the slowest case. --classes also lists the error message classes per parser.
 * Exit code 1 when any parser threw a foreign exception or a case ran past the per-case bound.
 */
import { TARGETS } from '../test/fuzz/targets.ts';
import { byClass, fuzzTarget } from '../test/fuzz/run.ts';

const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(`--${name}`); return i < 0 ? undefined : args[i + 1]; };
const runs = Number(opt('runs') ?? process.env.FUZZ_RUNS ?? 200_000);
const seed = opt('seed') ?? process.env.FUZZ_SEED;
const only = opt('only');
const showClasses = args.includes('--classes');
if (!Number.isSafeInteger(runs) || runs <= 0) { console.error(`--runs must be a positive integer, got ${runs}`); process.exit(2); }

const rows = [];
let failed = false;
for (const t of TARGETS.filter((t) => !only || t.name.startsWith(only))) {
  const s = await fuzzTarget(t, runs, { seed: seed === undefined ? undefined : Number(seed), caseLimitMs: 5000 });
  const classes = [...byClass(s)].sort((a, b) => b[1] - a[1]);
  rows.push({
    parser: s.name,
    cases: s.runs + (s.failure ? 1 : 0),
    ok: s.ok,
    typed: classes.map(([k, n]) => `${k} ${n}`).join(', ') || '-',
    other: s.failure ? 1 : 0,
    's': (s.ms / 1000).toFixed(1),
    'max case ms': s.maxCaseMs.toFixed(1),
    seed: s.seed,
  });
  process.stderr.write(`${s.name}: ${s.runs} cases in ${(s.ms / 1000).toFixed(1)} s${s.failure ? ' — FAILED' : ''}\n`);
  if (showClasses) {
    for (const [k, n] of [...s.typed].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(8)}  ${k}`);
  }
  if (s.failure) { failed = true; console.log(`\n${s.name} failed (seed ${s.seed}):\n${s.failure}\n`); }
}

const cols = Object.keys(rows[0] ?? {});
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(width[i])).join(' | ')} |`;
console.log(`\nfuzz: ${runs} cases per parser`);
console.log(line(cols));
console.log(line(width.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(cols.map((c) => r[c])));
process.exit(failed ? 1 : 0);
