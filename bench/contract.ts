/**
 * `npm run bench:contract` — what contract enforcement costs (issue 5 benchmark): the same public route with and
 * without the `contract` policy, receiving `POST /orders` with a valid ~1 KB JSON body (validated against the
 * conformance spec) while the upstream answers 201 with a ~2 KB JSON body holding undeclared properties (filtered by
 * response minimization). Target: CPU per request at most 1.20x the pass-through. Same method as bench/run.ts;
 * writes bench/RESULTS-contract.md, with an in-process breakdown of the per-request steps the contract adds (measured
 * in this process after the gateway runs, so the table says where the extra CPU goes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, numberFromEnv, rampartBenchConfig, rampartContender, writePostScript } from './harness.ts';
import { formatSummary, renderMarkdown, runBench, type BenchPlan } from './runner.ts';
import { contractBenchRoute } from './openapi-load.ts';
import { loadOpenApi } from '../src/openapi/load.ts';
import { CompiledContract } from '../src/openapi/validator.ts';
import { Minimizer } from '../src/openapi/minimize.ts';
import { parseStrictJson, type JsonLayout } from '../src/gateway/body.ts';
import { spliceJson } from '../src/gateway/response-body.ts';
import { minimizeJsonText } from '../src/openapi/minimize-text.ts';
import type { ValidationError } from '../src/openapi/json-schema.ts';

const quick = process.env.BENCH_QUICK === '1';
const workDir = fs.mkdtempSync(path.join(BENCH_DIR, '.contract-'));
process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));
const sample = contractBenchRoute('http://upstream.invalid');
const bodyFile = path.join(workDir, 'answer.json');
fs.writeFileSync(bodyFile, sample.upstreamAnswer.body);
// The harness starts the upstream with this environment: the 2 KB answer, 201 for POST.
process.env.BENCH_UPSTREAM_BODY_FILE = bodyFile;
process.env.BENCH_UPSTREAM_POST_STATUS = String(sample.upstreamAnswer.status);
const script = writePostScript(workDir, sample.request.body, sample.request.contentType, sample.request.path);

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

/**
 * µs per call of each step the contract adds to one request, in this process (warmed up, median of 5 batches): the
 * JSON work the gateway does for the bench's request and answer, plus JSON.parse and JSON.stringify for scale.
 */
async function breakdown(): Promise<string[]> {
  const loaded = await loadOpenApi(String((sample.route.contract as { openapi: string }).openapi));
  if (!loaded.ok) throw new Error('bench: the conformance spec does not load');
  const compiled = CompiledContract.compile(loaded.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
  if (!compiled.ok) throw new Error('bench: the conformance spec does not compile');
  const match = compiled.contract.index.match('POST', '/orders');
  if (match.kind !== 'found') throw new Error('bench: no createOrder operation');
  const operation = match.candidates[0]!.value;
  const media = operation.selectMedia('application/json')!;
  const schema = operation.model.responses.find((r) => r.status === '201')!.content[0]!.schema!;
  const minimizer = new Minimizer(loaded.api.model.document, loaded.api.model.version);
  const request = sample.request.body;
  const answer = sample.upstreamAnswer.body;
  const parsedRequest = JSON.parse(request) as unknown;
  const minimised = (): { value: unknown; layout: JsonLayout; dirty: ReadonlySet<object> } => {
    const layout: JsonLayout = new Map();
    const value = parseStrictJson(answer, 128, layout);
    return { value, layout, dirty: minimizer.minimize(schema, value, 'remove').dirty };
  };
  const ready = minimised();
  let sink = 0;
  const measure = (fn: () => unknown): number => {
    const batch = 5000;
    for (let i = 0; i < batch; i++) fn();
    const times: number[] = [];
    for (let round = 0; round < 5; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) fn();
      times.push(Number(process.hrtime.bigint() - start) / 1000 / batch);
    }
    return times.sort((a, b) => a - b)[2]!;
  };
  const rows: Array<[string, number]> = [
    ['request: JSON.parse (1 KB), for scale', measure(() => JSON.parse(request))],
    ['request: parseStrictJson (1 KB): scan, JSON.parse, member count', measure(() => parseStrictJson(request))],
    [
      'request: schema validation (ajv) and undeclared-property walk',
      measure(() => {
        const errors: ValidationError[] = [];
        operation.validateJson(media, parsedRequest, errors);
        sink += errors.length;
      }),
    ],
    ['response: JSON.parse (2 KB), for scale', measure(() => JSON.parse(answer))],
    ['response: parseStrictJson (2 KB) with layout', measure(() => parseStrictJson(answer, 128, new Map()))],
    ['response: parse as above + minimization (4 properties removed)', measure(() => minimised())],
    ['response: spliceJson of the minimised answer + Buffer', measure(() => (sink += Buffer.from(spliceJson(answer, ready.layout, ready.value, ready.dirty)!).length))],
    [
      'response: minimizeJsonText (2 KB): strict check + minimization + output text + Buffer, in one pass (what the gateway does)',
      measure(() => {
        const out = minimizeJsonText(minimizer, schema, answer, 'remove', 128);
        if (typeof out === 'string' || out.text === undefined) throw new Error('bench: the answer was not minimized on its text');
        sink += Buffer.from(out.text).length;
      }),
    ],
    ['response: JSON.stringify of it + Buffer, for scale', measure(() => (sink += Buffer.from(JSON.stringify(ready.value)).length))],
  ];
  if (sink === 0) throw new Error('bench: nothing measured');
  return [
    '## Where the extra CPU goes (in process)',
    '',
    'µs per call, median of 5 batches of 5000, measured in the bench process after the gateway runs (same machine, same',
    'noise). The gateway validates the request with the first three steps; it minimizes the answer with `minimizeJsonText`',
    '(one pass over the text), and falls back to parse + minimization + splice only for schemas whose plan depends on the',
    'data (oneOf/anyOf, discriminator). The rest of the difference is buffering and dispatch.',
    '',
    '| step | µs per call |',
    '|---|---:|',
    ...rows.map(([name, us]) => `| ${name} | ${us.toFixed(2)} |`),
    '',
  ];
}

const report = await runBench(plan);
console.log(formatSummary(report));
const steps = await breakdown();
console.log(steps.join('\n'));
const resultsFile = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, 'RESULTS-contract.md');
if (resultsFile !== '-') {
  fs.writeFileSync(resultsFile, `${renderMarkdown(report).trimEnd()}\n\n${steps.join('\n')}`);
  console.log(`\nbench: wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
}
process.exitCode = report.summaries.some((s) => s.failedRuns > 0) ? 1 : 0;
