/**
 * `npx tsx bench/openapi-load.ts` — what loading OpenAPI documents costs (issue 5 item 1: "the time to load each is
 * recorded by the benchmark"), over every document of the shared corpus (../shared/specs, MANIFEST.tsv), plus the
 * in-process cost of validating one request and minimising one response. Writes bench/RESULTS-openapi.md.
 *
 * Per document, medians of ROUNDS runs (caches off):
 *   - parse+bundle+model, in process: `loadOpenApi` (@readme/openapi-parser validate + bundle, then the model);
 *   - the same through `loadOpenApiSync` (a worker thread: what the config check pays, worker start included);
 *   - compile: every operation's ajv validators (`CompiledContract.compile`).
 * Wall-clock times on this machine, one process at a time; they vary with CPU load, so read them as magnitudes.
 *
 * For the lead's CPU benchmark (bench/run.ts, issue 5's 20% target), `contractBenchRoute()` below gives the route
 * and the bodies to use: validation of a 1 KB JSON request body and filtering of a 2 KB JSON response.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadOpenApi, loadOpenApiSync } from '../src/openapi/load.ts';
import { CompiledContract } from '../src/openapi/validator.ts';
import { Minimizer } from '../src/openapi/minimize.ts';
import type { ValidationError } from '../src/openapi/json-schema.ts';
import { parseStrictJson } from '../src/gateway/body.ts';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(BENCH_DIR, '..');
const SPECS = process.env.RAMPART_SPECS_DIR ?? path.resolve(REPO_ROOT, '..', 'shared', 'specs');
const BENCH_SPEC = path.join(REPO_ROOT, 'test', 'fixtures', 'contract', 'conformance-3.1.yaml');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** A ~1 KB order for `POST /orders` (createOrder) of the conformance spec: valid, nested, with an array. */
export function requestBody1k(): string {
  const items = Array.from({ length: 8 }, (_, i) => ({ sku: `ABC-${100 + i}`, qty: i + 1, price: { amount: 1000 + i, currency: 'EUR' } }));
  return JSON.stringify({
    customer: { email: 'ann.example@example.com', name: 'Ann Example', phone: null },
    items,
    shipping: { street: '1 Rue de la Paix', city: 'Paris', zip: '75002' },
    notes: 'Leave at the door, please. '.repeat(4).trim(),
    coupon: 'U1VNTUVSLVNBTEUtMjAyNA==',
    callbackUrl: 'https://hooks.example.com/orders/callback',
    clientIp: '203.0.113.42',
    giftWrap: true,
    weightKg: 2.5,
  });
}

/** A ~2 KB `201` answer for createOrder: the declared Order plus undeclared properties the gateway removes. */
export function responseBody2k(): string {
  const order = JSON.parse(requestBody1k()) as Record<string, unknown>;
  return JSON.stringify({
    ...order,
    id: '3f2b9a52-7c1d-4e8a-9b6f-0a1c2d3e4f50',
    status: 'open',
    createdAt: '2024-05-01T10:00:00Z',
    customer: { ...(order.customer as object), passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', internalScore: 0.93 },
    internal: { margin: 0.31, warehouse: 'PAR-3', picker: 'employee-1187', notes: 'x'.repeat(300) },
    audit: Array.from({ length: 9 }, (_, i) => ({ at: `2024-05-01T10:0${i}:00Z`, by: `svc-${i}`, action: 'update' })),
  });
}

/**
 * The contract route for the CPU benchmark: `contractBenchRoute(upstreamUrl)` returns a route object for a Rampart
 * config (public, `contract` with the conformance spec, undeclared response properties removed), the request to send
 * (`POST /orders`, JSON, ~1 KB) and the body the upstream should answer with (`201`, JSON, ~2 KB). The same route
 * without the `contract` key is the pass-through yardstick.
 */
export function contractBenchRoute(upstream: string): {
  readonly route: Record<string, unknown>;
  readonly request: { readonly method: 'POST'; readonly path: '/orders'; readonly contentType: 'application/json'; readonly body: string };
  readonly upstreamAnswer: { readonly status: 201; readonly contentType: 'application/json'; readonly body: string };
} {
  return {
    route: { id: 'bench', match: { path: '/**' }, upstream, public: true, contract: { openapi: BENCH_SPEC } },
    request: { method: 'POST', path: '/orders', contentType: 'application/json', body: requestBody1k() },
    upstreamAnswer: { status: 201, contentType: 'application/json', body: responseBody2k() },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

interface Row {
  file: string;
  version: string;
  bytes: number;
  operations: number;
  asyncMs: number;
  syncMs: number;
  compileMs: number;
  warnings: number;
  error?: string;
}

async function measureCorpus(): Promise<Row[]> {
  const manifest = fs.readFileSync(path.join(SPECS, 'MANIFEST.tsv'), 'utf8').split('\n').filter(Boolean);
  const columns = manifest[0]!.split('\t');
  const rows: Row[] = [];
  for (const line of manifest.slice(1)) {
    const cells = line.split('\t');
    const file = cells[columns.indexOf('file')]!;
    const full = path.join(SPECS, file);
    const asyncTimes: number[] = [];
    const syncTimes: number[] = [];
    const compileTimes: number[] = [];
    let row: Row = { file, version: cells[columns.indexOf('openapi_version')]!, bytes: fs.statSync(full).size, operations: 0, asyncMs: 0, syncMs: 0, compileMs: 0, warnings: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const a = await timed(() => loadOpenApi(full, { noCache: true }));
      asyncTimes.push(a.ms);
      const s = await timed(() => loadOpenApiSync(full, { noCache: true }));
      syncTimes.push(s.ms);
      if (!a.value.ok) {
        row = { ...row, error: a.value.errors[0]?.text ?? 'failed' };
        break;
      }
      const api = a.value.api;
      const c = await timed(() => CompiledContract.compile(api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true }));
      compileTimes.push(c.ms);
      if (!c.value.ok) {
        row = { ...row, error: c.value.errors[0]?.text ?? 'failed' };
        break;
      }
      row = { ...row, operations: api.model.operations.length, warnings: c.value.contract.warnings.length };
    }
    if (!row.error) row = { ...row, asyncMs: median(asyncTimes), syncMs: median(syncTimes), compileMs: median(compileTimes) };
    rows.push(row);
    process.stdout.write(`${file}: ${row.error ?? `${row.asyncMs.toFixed(0)} ms in process, ${row.syncMs.toFixed(0)} ms via worker, compile ${row.compileMs.toFixed(0)} ms`}\n`);
  }
  return rows;
}

interface PerRequest {
  /** name → µs per call */
  readonly steps: ReadonlyArray<readonly [string, number]>;
  readonly removed: number;
  readonly errors: number;
}

/** µs per call of each step of validating the 1 KB body and minimising the 2 KB answer (in process, warmed up). */
async function measurePerRequest(): Promise<PerRequest> {
  const loaded = await loadOpenApi(BENCH_SPEC);
  if (!loaded.ok) throw new Error('conformance spec does not load');
  const compiled = CompiledContract.compile(loaded.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
  if (!compiled.ok) throw new Error('conformance spec does not compile');
  const match = compiled.contract.index.match('POST', '/orders');
  if (match.kind !== 'found') throw new Error('no createOrder');
  const op = match.candidates[0]!.value;
  const media = op.selectMedia('application/json')!;
  const request = requestBody1k();
  const answer = responseBody2k();
  const minimizer = new Minimizer(loaded.api.model.document, loaded.api.model.version);
  const schema = op.model.responses.find((r) => r.status === '201')!.content[0]!.schema!;
  const parsedRequest = JSON.parse(request) as unknown;
  let errors = 0;
  let removed = 0;
  const N = 20_000;
  const measure = async (fn: () => void): Promise<number> => {
    for (let i = 0; i < 2000; i++) fn();
    const t = await timed(() => {
      for (let i = 0; i < N; i++) fn();
    });
    return (t.ms * 1000) / N;
  };
  const steps: Array<readonly [string, number]> = [
    ['request: JSON.parse (1 KB), for reference', await measure(() => JSON.parse(request))],
    ['request: parseStrictJson (1 KB), the shared hardened reader', await measure(() => parseStrictJson(request))],
    [
      'request: contract validation (ajv + undeclared-property walk)',
      await measure(() => {
        const found: ValidationError[] = [];
        op.validateJson(media, parsedRequest, found);
        errors += found.length;
      }),
    ],
    ['response: JSON.parse (2 KB), for reference', await measure(() => JSON.parse(answer))],
    ['response: parseStrictJson (2 KB), done by the gateway for every body policy', await measure(() => parseStrictJson(answer, 128))],
    [
      'response: minimisation incl. a fresh JSON.parse (4 properties removed)',
      await measure(() => {
        removed = minimizer.minimize(schema, JSON.parse(answer), 'remove').removed;
      }),
    ],
    ['response: JSON.stringify of the minimised answer', await measure(() => JSON.stringify(JSON.parse(answer)))],
  ];
  return { steps, removed, errors };
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = os.loadavg();
  const haveCorpus = fs.existsSync(path.join(SPECS, 'MANIFEST.tsv'));
  if (!haveCorpus) console.warn(`*** ${SPECS}/MANIFEST.tsv is missing: corpus load times are not measured ***`);
  const rows = haveCorpus ? await measureCorpus() : [];
  const perRequest = await measurePerRequest();
  const largest = [...rows].sort((a, b) => b.bytes - a.bytes)[0];
  const slowestCompile = [...rows].sort((a, b) => b.compileMs - a.compileMs)[0];
  const lines = [
    '# OpenAPI loading and validation costs',
    '',
    'Generated by `npx tsx bench/openapi-load.ts`; rewritten on every run.',
    '',
    `- Date: ${new Date().toISOString()} (took ${Math.round((Date.now() - started) / 1000)} s)`,
    `- Node ${process.version}; ${ROUNDS} rounds per document, medians; wall-clock, one document at a time, caches off.`,
    `- Load average when the run started: ${loadAtStart.map((l) => l.toFixed(1)).join(', ')} (${os.cpus().length} CPUs; other processes share them, so read the times as magnitudes).`,
    `- Corpus: ${haveCorpus ? `${rows.length} documents from ${path.relative(REPO_ROOT, SPECS)} (MANIFEST.tsv)` : 'missing'}.`,
    '',
    'Columns: **in process** = `loadOpenApi` (parse, validate against the official schema, bundle external $refs, build the',
    'operation model); **worker** = `loadOpenApiSync`, the same in a worker thread while the caller blocks (what the',
    "config check pays, thread start and module load included); **compile** = every operation's ajv validators.",
    '',
    '| document | version | size | operations | in process ms | worker ms | compile ms | warnings |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      r.error
        ? `| ${r.file} | ${r.version} | ${r.bytes} | FAILED | ${r.error.replaceAll('|', '\\|')} | | | |`
        : `| ${r.file} | ${r.version} | ${r.bytes} | ${r.operations} | ${r.asyncMs.toFixed(0)} | ${r.syncMs.toFixed(0)} | ${r.compileMs.toFixed(0)} | ${r.warnings} |`,
    ),
    '',
  ];
  if (largest && slowestCompile) {
    lines.push(
      `Largest document: ${largest.file} (${(largest.bytes / 1024 / 1024).toFixed(2)} MB, ${largest.operations} operations): ` +
        `${largest.asyncMs.toFixed(0)} ms to load in process, ${largest.compileMs.toFixed(0)} ms to compile. ` +
        `Slowest compile: ${slowestCompile.file}, ${slowestCompile.compileMs.toFixed(0)} ms. Validators are compiled eagerly, at config load.`,
      '',
    );
  }
  lines.push(
    '## Per request (in process)',
    '',
    `Request: the ~${requestBody1k().length}-byte JSON body of \`POST /orders\` (createOrder of test/fixtures/contract/conformance-3.1.yaml); response: its ~${responseBody2k().length}-byte \`201\` answer with ${perRequest.removed} undeclared properties. Validation errors over all runs: ${perRequest.errors} (must be 0).`,
    '',
    '| step | µs per call |',
    '|---|---:|',
    ...perRequest.steps.map(([name, us]) => `| ${name} | ${us.toFixed(1)} |`),
    '',
    'The gateway-level CPU ratio (issue 5: at most 1.2x the pass-through CPU per request) is measured by bench/run.ts with',
    '`contractBenchRoute()` from this file.',
    '',
  );
  fs.writeFileSync(path.join(BENCH_DIR, 'RESULTS-openapi.md'), lines.join('\n'));
  console.log(`wrote ${path.join(BENCH_DIR, 'RESULTS-openapi.md')}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
