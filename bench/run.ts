/**
 * `npm run bench`: Rampart against a bare undici proxy (the yardstick), fast-gateway and HAProxy, all in front of
 * the same upstream, in one run with interleaved rounds. Prints a table and rewrites bench/RESULTS.md.
 *
 * Environment:
 *   BENCH_ROUNDS=5        measured rounds
 *   BENCH_DURATION=8      seconds per measured run
 *   BENCH_WARMUP=2        seconds of discarded warm-up before each measured run
 *   BENCH_CONNECTIONS=50  wrk connections (-c)
 *   BENCH_QUICK=1         smoke run: 2 rounds × 3 s, 1 s warm-ups
 *   BENCH_ONLY=a,b        run only these contenders (names as in the table)
 *   BENCH_POST_BYTES=n    send POST requests with an n-byte JSON body instead of GET (streamed through every proxy: the
 *                         path of uploads, which a GET-only run never exercises); the report goes to RESULTS-post.md
 *   BENCH_RESULTS=path    write the Markdown report there instead of bench/RESULTS.md ('-' = do not write)
 *   BENCH_KEEP_TMP=1      keep the temp dir (generated configs, process logs, access logs)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BENCH_DIR,
  baselineContender,
  numberFromEnv,
  directContender,
  fastGatewayContender,
  haproxyAvailable,
  haproxyContender,
  rampartBenchConfig,
  rampartContender,
  type Contender,
  writePostScript,
} from './harness.ts';
import { formatSummary, renderMarkdown, runBench, type BenchPlan } from './runner.ts';


const quick = process.env.BENCH_QUICK === '1';
const postBytes = Math.round(numberFromEnv('BENCH_POST_BYTES', 0));

/** A wrk script sending POST with a JSON body of `bytes` bytes (an object padded with one string member). */
function postScript(bytes: number): string {
  const dir = fs.mkdtempSync(path.join(BENCH_DIR, '.post-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const skeleton = JSON.stringify({ id: 42, kind: 'bench', padding: '' });
  const body = JSON.stringify({ id: 42, kind: 'bench', padding: 'x'.repeat(Math.max(0, bytes - skeleton.length)) });
  return writePostScript(dir, body, 'application/json');
}

// The proxy gets CPU 1 to itself and the load side CPU 0: with one CPU the pinning (and the figures) make no sense.
if (os.availableParallelism() < 2) {
  console.error(`bench: needs at least 2 CPUs (found ${os.availableParallelism()})`);
  process.exit(2);
}

const allContenders: Contender[] = [
  directContender(),
  baselineContender({ connections: 64 }),
  fastGatewayContender(),
  rampartContender({ name: 'rampart-nolog', config: (context) => rampartBenchConfig(context) }),
  rampartContender({
    name: 'rampart-log',
    config: (context) => rampartBenchConfig(context, { accessLogFile: path.join(context.tmpDir, 'rampart-access.log') }),
  }),
];
if (haproxyAvailable()) {
  allContenders.splice(3, 0, haproxyContender());
} else {
  console.log('bench: haproxy not installed (`which haproxy` found nothing), leaving it out');
}

let contenders = allContenders;
const only = process.env.BENCH_ONLY;
if (only !== undefined && only.trim() !== '') {
  const wanted = only.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const known = new Set(allContenders.map((c) => c.name));
  const unknown = wanted.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    console.error(`bench: unknown contender(s) in BENCH_ONLY: ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
    process.exit(2);
  }
  contenders = allContenders.filter((c) => wanted.includes(c.name));
}

const plan: BenchPlan = {
  title: postBytes > 0 ? `Rampart proxy benchmark (POST, ${postBytes}-byte JSON body streamed)` : 'Rampart proxy benchmark',
  contenders,
  rounds: Math.round(numberFromEnv('BENCH_ROUNDS', quick ? 2 : 5)),
  durationSeconds: Math.round(numberFromEnv('BENCH_DURATION', quick ? 3 : 8)),
  warmupSeconds: Math.round(numberFromEnv('BENCH_WARMUP', quick ? 1 : 2)),
  initialWarmupSeconds: quick ? 1 : 3,
  connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 50)),
  threads: 1,
  requestPath: '/',
  requestHeaders: {},
  ...(postBytes > 0 ? { wrkScript: postScript(postBytes) } : {}),
  reference: 'baseline',
  extraRpsRatios: [
    ['rampart-nolog', 'fast-gateway'],
    ['rampart-log', 'fast-gateway'],
  ],
  // From the issue. The rps target is judged on rampart-nolog; rampart-log's ratio is in the ratios table.
  targets: [
    { kind: 'cpu-ratio', contender: 'rampart-nolog', reference: 'baseline', max: 1.15 },
    { kind: 'cpu-ratio', contender: 'rampart-log', reference: 'baseline', max: 1.3 },
    { kind: 'rps-ratio', contender: 'rampart-nolog', reference: 'fast-gateway', min: 1.3 },
  ],
  quick,
  keepTmp: process.env.BENCH_KEEP_TMP === '1',
};

/**
 * Issue 5 asks for the injection detectors' false-positive rate "in bench/RESULTS.md": it is measured by
 * bench/screening.ts (in process, no proxy) into RESULTS-screening.md, whose summary rows are repeated here with
 * that file's date, so RESULTS.md never shows a figure without saying where and when it was measured.
 */
function screeningSection(): string {
  const file = path.join(BENCH_DIR, 'RESULTS-screening.md');
  if (!fs.existsSync(file)) return '\n## Injection screening\n\nNot measured yet: run `npx tsx bench/screening.ts` (writes RESULTS-screening.md).\n';
  const text = fs.readFileSync(file, 'utf8');
  const generated = (/^Generated by .*$/m.exec(text)?.[0] ?? 'Generated on an unknown date').replace(/\.$/, '');
  const rows = text.split('\n').filter((line) => line.startsWith('| attack payloads detected') || line.startsWith('| benign strings tripping'));
  return [
    '',
    '## Injection screening (issue 5: detection and false-positive rate)',
    '',
    `From [RESULTS-screening.md](RESULTS-screening.md) (${generated.replace(/^Generated by /, 'measured by ')}), where the per-detector table and the benign corpus's false positives are listed.`,
    '',
    '| measure | value |',
    '|---|---|',
    ...rows,
    '',
  ].join('\n');
}

const report = await runBench(plan);
console.log(formatSummary(report));

const resultsFile = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, postBytes > 0 ? 'RESULTS-post.md' : 'RESULTS.md');
if (resultsFile !== '-') {
  fs.writeFileSync(resultsFile, renderMarkdown(report) + screeningSection());
  console.log(`\nbench: wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
}
const anyFailed = report.summaries.some((s) => s.failedRuns > 0);
process.exitCode = anyFailed ? 1 : 0;
