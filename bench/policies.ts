/**
 * `npm run bench:policies` — what the abuse-protection and monitoring policies cost (issue 6 benchmark), over the
 * 1,000 rotating ES256 tokens of bench/tokens.ts, in one interleaved run:
 *   - rampart-jwt: the authenticated route alone (the reference: "pass-through on the same route");
 *   - rampart-jwt-limits-audit: the same route with `address-limit` (per address) and `rate-limit` (per principal)
 *     counted in Redis, and audit logging of authentication (`audit:` with the route's `audit` policy) into a
 *     SQLite chain, successes as one entry per principal, credential, address and minute (the default
 *     `audit.authSuccess`; BENCH_SPLIT=1 adds the same with one entry per request, the same without leases, and each half alone).
 *     Target: CPU per request at most 1.15x the reference.
 * The limits are set far above the offered load so nothing is refused and the work per request is the same.
 *
 * Redis: a redis-server of its own (no persistence), pinned to CPU 0 with wrk and the upstream, so nothing else
 * (tests of other work on the same box) shares it or its CPU, and so the issue's "Redis shares the load generator's
 * core" holds. Its CPU (`INFO cpu`) is read right before and after each measured run of the limits contender and
 * divided by that run's requests: Redis' CPU per request, reported beside the table with the gateway-plus-Redis
 * ratio, with the GCRA runs (`INFO stats` key lookups: one GET per GCRA) and script calls of those runs. With
 * leases (counters.lease, on by default) a request costs fewer GCRA runs than its 2 checks (address-limit and
 * rate-limit). BENCH_REDIS_URL=redis://… uses an existing server instead (shared: its CPU then
 * includes whatever else it serves). Writes bench/RESULTS-policies.md.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { BENCH_DIR, LOAD_CPU, getFreePort, logTail, numberFromEnv, rampartBenchConfig, rampartContender, spawnPinned, stopProcess } from './harness.ts';
import { benchIssuer, benchTokens } from './tokens.ts';
import { formatSummary, renderMarkdown, runBench, type BenchPlan } from './runner.ts';

const quick = process.env.BENCH_QUICK === '1';
/** Rate-limit checks per request of the limits contender: address-limit (per address) and rate-limit (per principal). */
const CHECKS_PER_REQUEST = 2;

/** A throw-away redis-server on a free port, pinned to the load CPU; undefined when redis-server is not installed. */
async function dedicatedRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const port = await getFreePort();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-bench-redis-'));
  const log = path.join(logDir, 'redis.log');
  const proc = spawnPinned(LOAD_CPU, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], log);
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    await stopProcess(proc);
    fs.rmSync(logDir, { recursive: true, force: true });
  };
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // Refused connections while the server starts are expected: the loop below retries.
  probe.on('error', () => undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, stop };
    } catch {
      probe.disconnect();
      if (attempt >= 100 || proc.hasExited()) {
        const tail = logTail(log);
        await stop();
        throw new Error(`bench: redis-server on port ${port} did not answer: ${tail}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const ownRedis = process.env.BENCH_REDIS_URL === undefined ? await dedicatedRedis() : undefined;
const redisUrl = process.env.BENCH_REDIS_URL ?? ownRedis?.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisWhere =
  ownRedis !== undefined
    ? 'its own redis-server, pinned to CPU 0 (with wrk and the upstream)'
    : `the shared Redis at ${new URL(redisUrl).host} (${process.env.BENCH_REDIS_URL === undefined ? 'redis-server is not installed' : 'BENCH_REDIS_URL'}): its CPU includes whatever else it serves`;
const { tokens, jwk, script } = await benchTokens();
// One master key for every contender: they share the temp dir, so the default `storage:` file (and its key ring,
// which the audit chain key comes from) is shared too, and a second key would be refused at start.
const masterKey = randomBytes(32).toString('base64');

type Context = Parameters<typeof rampartBenchConfig>[0];

function jwtConfig(context: Context, extra: Record<string, unknown> = {}, routeExtra: Record<string, unknown> = {}) {
  const base = rampartBenchConfig(context);
  return {
    ...base,
    issuers: { bench: benchIssuer(jwk) },
    roles: { customer: { permissions: ['orders:read'] } },
    ...extra,
    routes: [{ ...base.routes[0]!, public: false, authenticate: [{ jwt: 'bench' }], ...routeExtra }],
  };
}

/** The Redis counters and the two limits, set far above the offered load (nothing is refused). */
const COUNTERS = { counters: { store: redisUrl, keyPrefix: `bench:${process.pid}:` } };
const LIMITS = { 'address-limit': { limits: [{ key: 'ip', rate: '1000000000/s' }] }, 'rate-limit': { limits: [{ key: 'principal', rate: '1000000000/s' }] } };

/** Audit of authentication into a SQLite chain of its own; `authSuccess` as src/audit/auth-success.ts reads it. */
function audit(context: Context, file: string, authSuccess?: Record<string, unknown>): Record<string, unknown> {
  return {
    keyring: { masterKey },
    audit: { store: `sqlite:${path.join(context.tmpDir, file)}`, authentication: true, ...(authSuccess ? { authSuccess } : {}), required: false },
  };
}
const AUDIT_ROUTE = { audit: { dataAccess: false } };

const plan: BenchPlan = {
  title: 'Rampart rate limits (Redis) and audit of authentication (1,000 distinct ES256 tokens in turn)',
  contenders: [
    rampartContender({ name: 'rampart-jwt', config: (context) => jwtConfig(context) }),
    rampartContender({
      name: 'rampart-jwt-limits-audit',
      // authSuccess as it is by default, written out so the results show it.
      config: (context) =>
        jwtConfig(context, { ...COUNTERS, ...audit(context, 'audit.db', { record: 'per-window', window: '60s' }) }, { ...LIMITS, ...AUDIT_ROUTE }),
    }),
    // BENCH_SPLIT=1: each half alone, to see where the cost is, and the audit with one entry per success.
    ...(process.env.BENCH_SPLIT === '1'
      ? [
          rampartContender({ name: 'rampart-jwt-limits', config: (context) => jwtConfig(context, COUNTERS, LIMITS) }),
          // Every check a round trip (counters.lease: false): what leases save.
          rampartContender({
            name: 'rampart-jwt-limits-audit-no-lease',
            config: (context) =>
              jwtConfig(
                context,
                { counters: { ...COUNTERS.counters, lease: false }, ...audit(context, 'audit-no-lease.db', { record: 'per-window', window: '60s' }) },
                { ...LIMITS, ...AUDIT_ROUTE },
              ),
          }),
          rampartContender({
            name: 'rampart-jwt-limits-audit-every-request',
            config: (context) =>
              jwtConfig(context, { ...COUNTERS, ...audit(context, 'audit-every.db', { record: 'every-request' }) }, { ...LIMITS, ...AUDIT_ROUTE }),
          }),
          rampartContender({ name: 'rampart-jwt-audit', config: (context) => jwtConfig(context, audit(context, 'audit-only.db'), AUDIT_ROUTE) }),
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
  // Redis' CPU over the measured runs of the limits contender only, against the requests of those runs: with leases
  // (counters.lease) a request costs Redis less than one check, so CPU per check times checks per request would
  // overstate it.
  aroundMeasuredRun: async (contender, phase, requests) => {
    if (contender !== 'rampart-jwt-limits-audit') return;
    if (phase === 'before') {
      measuredStart = await redisUsage();
      return;
    }
    if (measuredStart === undefined) return;
    const end = await redisUsage();
    measured.cpuSeconds += end.cpuSeconds - measuredStart.cpuSeconds;
    measured.checks += end.checks - measuredStart.checks;
    measured.scriptCalls += end.scriptCalls - measuredStart.scriptCalls;
    measured.requests += requests ?? 0;
    measuredStart = undefined;
  },
};
let measuredStart: RedisUsage | undefined;
const measured = { cpuSeconds: 0, checks: 0, scriptCalls: 0, requests: 0 };

interface RedisUsage {
  /** used_cpu_user + used_cpu_sys, seconds. */
  readonly cpuSeconds: number;
  /**
   * Rate-limit checks Redis ran: every GCRA check reads its key once (GET), so the key lookups (`keyspace_hits` +
   * `keyspace_misses`) count checks, whether they came one per script or many per batched script.
   */
  readonly checks: number;
  /** Scripts run: EVALSHA and EVAL calls (one per batch of checks). */
  readonly scriptCalls: number;
}

async function redisUsage(): Promise<RedisUsage> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = (await client.info('cpu')) + (await client.info('commandstats')) + (await client.info('stats'));
    const value = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
    const calls = (command: string) => Number(new RegExp(`^cmdstat_${command}:calls=([0-9]+)`, 'm').exec(info)?.[1] ?? 0);
    return {
      cpuSeconds: value('used_cpu_user') + value('used_cpu_sys'),
      checks: value('keyspace_hits') + value('keyspace_misses'),
      scriptCalls: calls('evalsha') + calls('eval'),
    };
  } finally {
    client.disconnect();
  }
}

let report: Awaited<ReturnType<typeof runBench>>;
let before: RedisUsage;
let after: RedisUsage;
try {
  before = await redisUsage();
  report = await runBench(plan);
  after = await redisUsage();
} finally {
  await ownRedis?.stop();
}
const limited = report.summaries.find((s) => s.name === 'rampart-jwt-limits-audit');
const reference = report.summaries.find((s) => s.name === 'rampart-jwt');
const checks = after.checks - before.checks;
const scripts = after.scriptCalls - before.scriptCalls;
const redisCpu = after.cpuSeconds - before.cpuSeconds;
let redisLine = '';
if (limited !== undefined && measured.requests > 0) {
  const perRequestUs = (measured.cpuSeconds * 1e6) / measured.requests;
  const gateway = limited.medians?.cpuUsPerRequest;
  const base = reference?.medians?.cpuUsPerRequest;
  redisLine =
    `Redis (${redisWhere}): over the measured runs of rampart-jwt-limits-audit, ${measured.cpuSeconds.toFixed(2)} s CPU for ${measured.requests} requests ` +
    `(${CHECKS_PER_REQUEST} rate-limit checks each): ${measured.checks} GCRA runs in ${measured.scriptCalls} script calls ` +
    `(${(measured.checks / measured.requests).toFixed(3)} per request; the rest answered from leases), ${perRequestUs.toFixed(1)} µs per request. ` +
    `Whole run, warm-ups and the other contenders included: ${redisCpu.toFixed(2)} s CPU, ${checks} GCRA runs in ${scripts} script calls.` +
    (gateway !== undefined && base !== undefined && base > 0
      ? ` Gateway + Redis: ${(gateway + perRequestUs).toFixed(1)} µs per request, ${((gateway + perRequestUs) / base).toFixed(3)}× rampart-jwt's ${base.toFixed(1)} µs.`
      : '');
}
console.log(formatSummary(report));
if (redisLine) console.log(redisLine);
const resultsFile = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, 'RESULTS-policies.md');
if (resultsFile !== '-') {
  fs.writeFileSync(resultsFile, renderMarkdown(report) + (redisLine ? `\n${redisLine}\n` : ''));
  console.log(`\nbench: wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
}
process.exitCode = report.summaries.some((s) => s.failedRuns > 0) ? 1 : 0;
