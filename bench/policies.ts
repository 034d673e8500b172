/**
 * `npm run bench:policies` — what the abuse-protection and monitoring policies cost (issue 6 benchmark), over the
 * 1,000 rotating ES256 tokens of bench/tokens.ts, in one interleaved run:
 *   - rampart-jwt: the authenticated route alone (the reference: "pass-through on the same route");
 *   - rampart-jwt-limits-audit: the same route with `address-limit` (per address) and `rate-limit` (per principal)
 *     counted in Redis, and audit logging of authentication (`audit:` with the route's `audit` policy) into a
 *     SQLite chain. Target: CPU per request at most 1.15x the reference.
 * The limits are set far above the offered load so nothing is refused and the work per request is the same.
 * Redis shares CPU 0 with wrk and the upstream: its CPU (from `INFO cpu`, over the whole run, divided by the
 * requests of the Redis contender, warm-ups included in the CPU but not in the count, so an upper bound) is
 * reported beside the table. Writes bench/RESULTS-policies.md.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { BENCH_DIR, numberFromEnv, rampartBenchConfig, rampartContender } from './harness.ts';
import { benchIssuer, benchTokens } from './tokens.ts';
import { formatSummary, renderMarkdown, runBench, type BenchPlan } from './runner.ts';

const quick = process.env.BENCH_QUICK === '1';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const { tokens, jwk, script } = await benchTokens();

function jwtConfig(context: Parameters<typeof rampartBenchConfig>[0], extra: Record<string, unknown> = {}, routeExtra: Record<string, unknown> = {}) {
  const base = rampartBenchConfig(context);
  return {
    ...base,
    issuers: { bench: benchIssuer(jwk) },
    roles: { customer: { permissions: ['orders:read'] } },
    ...extra,
    routes: [{ ...base.routes[0]!, public: false, authenticate: [{ jwt: 'bench' }], ...routeExtra }],
  };
}

const plan: BenchPlan = {
  title: 'Rampart rate limits (Redis) and audit of authentication (1,000 distinct ES256 tokens in turn)',
  contenders: [
    rampartContender({ name: 'rampart-jwt', config: (context) => jwtConfig(context) }),
    rampartContender({
      name: 'rampart-jwt-limits-audit',
      config: (context) =>
        jwtConfig(
          context,
          {
            counters: { store: redisUrl, keyPrefix: `bench:${process.pid}:` },
            keyring: { masterKey: randomBytes(32).toString('base64') },
            audit: { store: `sqlite:${path.join(context.tmpDir, 'audit.db')}`, authentication: true, required: false },
          },
          {
            'address-limit': { limits: [{ key: 'ip', rate: '1000000000/s' }] },
            'rate-limit': { limits: [{ key: 'principal', rate: '1000000000/s' }] },
            audit: { dataAccess: false },
          },
        ),
    }),
    // BENCH_SPLIT=1: each half alone, to see where the cost is.
    ...(process.env.BENCH_SPLIT === '1'
      ? [
          rampartContender({
            name: 'rampart-jwt-limits',
            config: (context) =>
              jwtConfig(
                context,
                { counters: { store: redisUrl, keyPrefix: `bench:${process.pid}:` } },
                { 'address-limit': { limits: [{ key: 'ip', rate: '1000000000/s' }] }, 'rate-limit': { limits: [{ key: 'principal', rate: '1000000000/s' }] } },
              ),
          }),
          rampartContender({
            name: 'rampart-jwt-audit',
            config: (context) =>
              jwtConfig(
                context,
                { keyring: { masterKey: randomBytes(32).toString('base64') }, audit: { store: `sqlite:${path.join(context.tmpDir, 'audit-only.db')}`, authentication: true, required: false } },
                { audit: { dataAccess: false } },
              ),
          }),
        ]
      : []),
  ],
  rounds: Math.round(numberFromEnv('BENCH_ROUNDS', quick ? 2 : 5)),
  durationSeconds: Math.round(numberFromEnv('BENCH_DURATION', quick ? 3 : 8)),
  warmupSeconds: Math.round(numberFromEnv('BENCH_WARMUP', quick ? 1 : 2)),
  initialWarmupSeconds: quick ? 1 : 3,
  connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 50)),
  threads: 1,
  requestPath: '/',
  requestHeaders: { authorization: `Bearer ${tokens[0]!}` },
  wrkScript: script,
  reference: 'rampart-jwt',
  extraRpsRatios: [],
  targets: [{ kind: 'cpu-ratio', contender: 'rampart-jwt-limits-audit', reference: 'rampart-jwt', max: 1.15 }],
  quick,
  keepTmp: process.env.BENCH_KEEP_TMP === '1',
};

async function redisCpuSeconds(): Promise<number> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = await client.info('cpu');
    const value = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
    return value('used_cpu_user') + value('used_cpu_sys');
  } finally {
    client.disconnect();
  }
}

const redisBefore = await redisCpuSeconds();
const report = await runBench(plan);
const redisAfter = await redisCpuSeconds();
const limited = report.summaries.find((s) => s.name === 'rampart-jwt-limits-audit');
const redisLine =
  limited === undefined
    ? ''
    : `Redis CPU (its own process, on the load CPU): ${(redisAfter - redisBefore).toFixed(2)} s over the run; at most ` +
      `${(((redisAfter - redisBefore) * 1e6) / Math.max(1, limited.runs.reduce((n, r) => n + r.requests, 0))).toFixed(1)} µs per measured request of rampart-jwt-limits-audit.`;
console.log(formatSummary(report));
if (redisLine) console.log(redisLine);
const resultsFile = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, 'RESULTS-policies.md');
if (resultsFile !== '-') {
  fs.writeFileSync(resultsFile, renderMarkdown(report) + (redisLine ? `\n${redisLine}\n` : ''));
  console.log(`\nbench: wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
}
process.exitCode = report.summaries.some((s) => s.failedRuns > 0) ? 1 : 0;
