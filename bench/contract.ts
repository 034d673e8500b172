/**
 * `npm run bench:contract` — what contract enforcement costs (issue 5 benchmark): the same public route with and
 * without the `contract` policy, receiving `POST /orders` with a valid ~1 KB JSON body (validated against the
 * conformance spec) while the upstream answers 201 with a ~2 KB JSON body holding undeclared properties (filtered by
 * response minimization). Target: CPU per request at most 1.20x the pass-through. Same method as bench/run.ts;
 * writes bench/RESULTS-contract.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, numberFromEnv, rampartBenchConfig, rampartContender } from './harness.ts';
import { formatSummary, renderMarkdown, runBench, type BenchPlan } from './runner.ts';
import { contractBenchRoute } from './openapi-load.ts';

const quick = process.env.BENCH_QUICK === '1';
const workDir = fs.mkdtempSync(path.join(BENCH_DIR, '.contract-'));
process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));
const sample = contractBenchRoute('http://upstream.invalid');
const bodyFile = path.join(workDir, 'answer.json');
fs.writeFileSync(bodyFile, sample.upstreamAnswer.body);
// The harness starts the upstream with this environment: the 2 KB answer, 201 for POST.
process.env.BENCH_UPSTREAM_BODY_FILE = bodyFile;
process.env.BENCH_UPSTREAM_POST_STATUS = String(sample.upstreamAnswer.status);
const script = path.join(workDir, 'post-order.lua');
fs.writeFileSync(
  script,
  `wrk.method = "POST"
wrk.path = "${sample.request.path}"
wrk.headers["Content-Type"] = "${sample.request.contentType}"
wrk.body = ${JSON.stringify(sample.request.body)}
`,
);

function contractConfig(context: Parameters<typeof rampartBenchConfig>[0], withContract: boolean) {
  const base = rampartBenchConfig(context);
  const { route } = contractBenchRoute(context.upstreamUrl);
  const { contract, ...passThrough } = route;
  return { ...base, routes: [withContract ? { ...route, contract } : passThrough] };
}

const plan: BenchPlan = {
  title: 'Rampart contract enforcement (1 KB JSON request validated, 2 KB JSON answer minimized)',
  contenders: [
    rampartContender({ name: 'rampart-pass', config: (context) => contractConfig(context, false) }),
    rampartContender({ name: 'rampart-contract', config: (context) => contractConfig(context, true) }),
  ],
  rounds: Math.round(numberFromEnv('BENCH_ROUNDS', quick ? 2 : 5)),
  durationSeconds: Math.round(numberFromEnv('BENCH_DURATION', quick ? 3 : 8)),
  warmupSeconds: Math.round(numberFromEnv('BENCH_WARMUP', quick ? 1 : 2)),
  initialWarmupSeconds: quick ? 1 : 3,
  connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 50)),
  threads: 1,
  // The readiness probe is a GET of the declared listOrders operation.
  requestPath: '/orders',
  requestHeaders: {},
  wrkScript: script,
  reference: 'rampart-pass',
  extraRpsRatios: [],
  targets: [{ kind: 'cpu-ratio', contender: 'rampart-contract', reference: 'rampart-pass', max: 1.2 }],
  quick,
  keepTmp: process.env.BENCH_KEEP_TMP === '1',
};

const report = await runBench(plan);
console.log(formatSummary(report));
const resultsFile = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, 'RESULTS-contract.md');
if (resultsFile !== '-') {
  fs.writeFileSync(resultsFile, renderMarkdown(report));
  console.log(`\nbench: wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
}
process.exitCode = report.summaries.some((s) => s.failedRuns > 0) ? 1 : 0;
