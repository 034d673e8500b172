/**
 * The dynamic scan, phase by phase. Reads come before writes, and everything that could change the target's state
 * (writes, the rate-limit burst) comes last, so earlier phases see the API as it was:
 *
 *   transport → baseline (discovery) → token lifetimes → authentication → BOLA → BFLA → CORS → documentation →
 *   methods → old versions → injection and wrong types (query and path) → writes (allowWrites) → rate limit
 *
 * Stopping (the AbortSignal, or the request budget running out) ends the current request and returns what was
 * found so far with `partial: true`.
 */
import { isIP } from 'node:net';
import { loadOpenApi } from '../../openapi/load.ts';
import type { Finding, RuleInfo, ScanReport } from '../model.ts';
import type { LoadedOpenApi } from '../../openapi/load.ts';
import type { AuthFile } from './auth-file.ts';
import { ScanClient, type Exchange } from './client.ts';
import type { ScanContext, ScanTuning } from './context.ts';
import { bump, report, usualPrincipal } from './context.ts';
import { Credentials, ScanSetupError } from './credentials.ts';
import { Discovery } from './discovery.ts';
import { FindingCollector } from './findings.ts';
import { Masker } from './mask.ts';
import { Budget, BudgetExhausted, Pacer, ScanAborted, systemClock, type Clock } from './pacing.ts';
import { PassiveAnalyser } from './passive.ts';
import { buildPlan, type ScanPlan } from './plan.ts';
import { DYNAMIC_RULES as R, DYNAMIC_RULE_LIST } from './rules.ts';
import { baseline, byDepth, checkTokenLifetimes, probeAuthentication, probeBfla, probeBola } from './probes/access.ts';
import { Canary } from './probes/canary.ts';
import { injectableParams, probeInjection, probeWrongTypes } from './probes/injection.ts';
import { probeCors, probeDocumentation, probeMethods, probeOldVersions, probeRateLimit } from './probes/surface.ts';
import { probeTransport } from './probes/tls.ts';
import { probeWrites } from './probes/writes.ts';

export interface DynamicScanOptions {
  /** Origin URL of the running API (`https://api.example.com`); only its origin is used. */
  readonly target: string;
  /** Its OpenAPI document (Swagger 2.0, OpenAPI 3.0/3.1); without it only target-wide probes run. */
  readonly specFile?: string;
  /** Parsed auth file (loadAuthFile). */
  readonly auth?: AuthFile;
  /** PEM of a CA to trust for the target, in addition to the system roots (private CA). */
  readonly ca?: string;
  /** Allow POST, PUT, PATCH and DELETE probes. */
  readonly allowWrites: boolean;
  /** Most requests (and TLS handshakes) the scan may send. */
  readonly budget: number;
  /** The scanner's own rate limit. */
  readonly ratePerSecond: number;
  /** Aborting stops the scan promptly; the result is then partial. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number, label: string) => void;
  /** Size of the rate-limit burst (default 50; 0 turns the probe off). */
  readonly rateLimitBurst?: number;
  /** Delay asked by timing payloads, seconds (default 2; 0 turns timing probes off). */
  readonly timingDelaySeconds?: number;
  /** Per-request timeout, ms (default 15 000; must exceed the timing delay). */
  readonly timeoutMs?: number;
  /** Longest access-token lifetime that is not reported, seconds (default 3600). */
  readonly maxTokenLifetimeSeconds?: number;
  /** Size of the oversized-body probe, bytes (default 1 MiB). */
  readonly oversizedBytes?: number;
  /** Clock for pacing and timing (tests). */
  readonly clock?: Clock;
  /** Wall clock for token expiry (tests). */
  readonly now?: () => number;
}

export interface DynamicScanResult {
  readonly findings: Finding[];
  /** Every rule that ran, with findings or not. */
  readonly rules: RuleInfo[];
  readonly partial: boolean;
  readonly stats: Record<string, number>;
  /** The document's operations the scan sent at least one request for (same shape as the static audit's). */
  readonly operations: NonNullable<ScanReport['operations']>;
  /** What was not assessed, and why (from the stats), in words. */
  readonly notes: string[];
}

export const DEFAULT_BUDGET = 2000;
export const DEFAULT_RATE_PER_SECOND = 20;

/**
 * A target that answers none of the scan's first requests (all reset, refused, garbage or timed out) is not scanned
 * on: with the default 15 s timeout and a 2,000-request budget a black-holed target would otherwise hold the scan for
 * hours, and a scan that assessed nothing must not pass as complete (test/scan-hostile-target.e2e.test.ts).
 */
const NO_ANSWER_LIMIT = 10;

/**
 * A target that answered and then stops (it went down, a probe wedged it, a network path died) is not scanned on
 * either: after this many unanswered requests in a row the scan stops, partial. Without it every remaining request of
 * the budget waits out its timeout (2,000 × 15 s by default), and what they would have shown is unassessed anyway.
 * Higher than NO_ANSWER_LIMIT: a healthy target may drop a few hostile probes in a row (oversized bodies, malformed
 * requests) without being down.
 */
const STOPPED_ANSWERING_LIMIT = 20;

class TargetUnresponsive extends Error {
  override readonly name = 'TargetUnresponsive';
}

class TargetStoppedAnswering extends Error {
  override readonly name = 'TargetStoppedAnswering';
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

async function loadPlan(specFile: string, auth: AuthFile | undefined): Promise<{ plan: ScanPlan; api: LoadedOpenApi }> {
  const loaded = await loadOpenApi(specFile);
  if (!loaded.ok) throw new ScanSetupError(`the OpenAPI document cannot be used:\n${loaded.errors.map((e) => `  ${e.text}`).join('\n')}`);
  return { plan: buildPlan(loaded.api.model, auth?.adminOperations ?? []), api: loaded.api };
}

const NOTES: Readonly<Record<string, (n: number) => string>> = {
  tlsNotAssessedLoopback: () => 'transport security not assessed: the target is plain HTTP on a loopback address',
  tlsVersionUntestable: () => 'TLS 1.0/1.1 could not be offered by this Node.js/OpenSSL build: old protocol versions not assessed',
  writeOperationsSkipped: (n) => `${n} write operation${n === 1 ? '' : 's'} not probed (no --allow-writes)`,
  deletesSkippedNoOwnObject: (n) => `${n} DELETE operation${n === 1 ? '' : 's'} not probed: the scan deletes only objects it created itself`,
  ssrfNeedsLocalTarget: () => 'SSRF probes need the target on the scanning host (loopback canary): not assessed for a remote target',
  rateLimitNotAssessed: () => 'rate limit not assessed: no readable operation without parameters answered 2xx',
  budgetExhausted: () => 'the request budget ran out: the scan is partial',
  aborted: () => 'the scan was stopped: it is partial',
  credentialLost: () => 'a login of the auth file stopped working during the scan: it is partial',
  stoppedByCertificate: () => 'the certificate does not verify: nothing was sent, the scan is partial',
  // A target that resets, stalls or answers garbage must not read as a clean one (test/scan-hostile-target.e2e.test.ts).
  noAnswer: (n) => `${n} request${n === 1 ? '' : 's'} got no answer from the target (connection reset or refused, invalid HTTP, or timeout): what ${n === 1 ? 'it' : 'they'} would have shown is not assessed`,
  noAnswerTimeout: (n) => `${n} of them timed out (no complete answer within the per-request timeout)`,
  targetUnresponsive: () => `the target answered none of the first ${NO_ANSWER_LIMIT} requests: the scan stopped there, nothing was assessed, it is partial`,
  targetStoppedAnswering: () => `the target stopped answering: ${STOPPED_ANSWERING_LIMIT} requests in a row got no answer, so the scan stopped there; what the rest would have shown is not assessed, it is partial`,
  nothingAnswered: () => 'the target answered none of the scan\'s requests: nothing was assessed, the scan is partial',
};

/** Rough number of requests the scan will send, for the progress bar (capped by the budget). */
function estimate(plan: ScanPlan | undefined, options: DynamicScanOptions): number {
  let total = 40 + (options.rateLimitBurst ?? 50);
  for (const op of plan?.operations ?? []) {
    if (op.safe) total += 8 + op.model.parameters.filter((p) => p.in === 'query' || p.in === 'path').length * 14;
    else if (options.allowWrites) total += 20;
  }
  return Math.min(options.budget, total);
}

export async function runDynamicScan(options: DynamicScanOptions): Promise<DynamicScanResult> {
  const started = Date.now();
  let target: URL;
  try {
    target = new URL(options.target);
  } catch {
    throw new ScanSetupError(`target must be an absolute http(s) URL, got ${JSON.stringify(options.target)}`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new ScanSetupError(`target must be an http(s) URL, got ${target.protocol}`);
  if (target.username !== '' || target.password !== '') throw new ScanSetupError('target must not carry credentials in the URL; use the auth file');
  const delay = options.timingDelaySeconds ?? 2;
  const timeoutMs = options.timeoutMs ?? 15_000;
  if (delay * 1000 * 2 > timeoutMs) throw new ScanSetupError('timeoutMs must be at least twice the timing delay');

  const loadedSpec = options.specFile ? await loadPlan(options.specFile, options.auth) : undefined;
  const plan = loadedSpec?.plan;
  const exercised = new Set<string>();
  const clock = options.clock ?? systemClock;
  const budget = new Budget(options.budget);
  const pacer = new Pacer(options.ratePerSecond, clock);
  const masker = new Masker();
  const collector = new FindingCollector();
  const total = estimate(plan, options);
  // The client reports every answer to the passive analyser, which needs the context the client is part of.
  const hooks: { passive?: PassiveAnalyser; phase: string } = { phase: 'starting' };
  const answers = { answered: 0, exchanges: 0, unansweredInARow: 0 };
  const client = new ScanClient({
    origin: target.origin,
    ca: options.ca,
    allowWrites: options.allowWrites,
    budget,
    pacer,
    clock,
    signal: options.signal,
    timeoutMs,
    onExchange: (exchange: Exchange) => {
      // Counted for the notes above: a hostile or broken target's failures are said in the report, not silent.
      if (exchange.status === 0) {
        stats.noAnswer = (stats.noAnswer ?? 0) + 1;
        if (exchange.error === 'timeout') stats.noAnswerTimeout = (stats.noAnswerTimeout ?? 0) + 1;
      }
      // Counted only (stats.truncatedAnswers), not a note: a bounded read of a large answer is normal scanning.
      if (exchange.truncated) stats.truncatedAnswers = (stats.truncatedAnswers ?? 0) + 1;
      answers.exchanges++;
      if (exchange.status !== 0) {
        answers.answered++;
        answers.unansweredInARow = 0;
      } else {
        answers.unansweredInARow++;
        if (answers.answered === 0 && answers.exchanges >= NO_ANSWER_LIMIT) throw new TargetUnresponsive();
        if (answers.unansweredInARow >= STOPPED_ANSWERING_LIMIT) throw new TargetStoppedAnswering();
      }
      if (exchange.operation !== undefined) exercised.add(`${exchange.operation}\u0000${exchange.method}`);
      hooks.passive?.observe(exchange);
      options.onProgress?.(budget.spent, Math.max(total, budget.spent), hooks.phase);
    },
  });
  const credentials = new Credentials(options.auth, {
    client,
    masker,
    now: options.now,
    operationFor: (method, path) => plan?.operationFor(method, path)?.key,
  });
  const stats: Record<string, number> = { operations: plan?.operations.length ?? 0 };
  const ctx: ScanContext = {
    client,
    credentials,
    plan,
    discovery: new Discovery(),
    collector,
    masker,
    tuning: {
      rateLimitBurst: options.rateLimitBurst ?? 50,
      timingDelaySeconds: delay,
      maxTokenLifetimeSeconds: options.maxTokenLifetimeSeconds ?? 3600,
      oversizedBytes: options.oversizedBytes ?? 1024 * 1024,
    } satisfies ScanTuning,
    ran: new Set(),
    stats,
    baselines: new Map(),
    loopback: isLoopbackHost(target.hostname),
    forged: new Map(),
    get phase() {
      return hooks.phase;
    },
    set phase(label: string) {
      hooks.phase = label;
    },
  };
  hooks.passive = new PassiveAnalyser(ctx);
  const needsCanary = plan?.operations.some((op) => injectableParams(ctx, op).length > 0 || (options.allowWrites && op.jsonRequest)) ?? false;
  const canary = needsCanary ? await Canary.start() : undefined;
  if (canary && !ctx.loopback) bump(ctx, 'ssrfNeedsLocalTarget');

  let partial = false;
  const progress = { loggedIn: false };
  try {
    await phases(ctx, options, canary, progress);
  } catch (error) {
    if (error instanceof TargetUnresponsive) {
      partial = true;
      bump(ctx, 'targetUnresponsive');
    } else if (error instanceof TargetStoppedAnswering) {
      partial = true;
      bump(ctx, 'targetStoppedAnswering');
    } else if (error instanceof ScanAborted || error instanceof BudgetExhausted) {
      partial = true;
      bump(ctx, error instanceof ScanAborted ? 'aborted' : 'budgetExhausted');
    } else if (error instanceof ScanSetupError && progress.loggedIn) {
      // A login that worked at the start fails later (password changed, account locked by a probe): keep what
      // was found, and say the scan is incomplete.
      partial = true;
      bump(ctx, 'credentialLost');
    } else {
      throw error;
    }
  } finally {
    if (canary) {
      // Asynchronous fetchers (webhooks, queues) may call the canary after answering.
      for (const late of canary.late()) {
        report(ctx, R.ssrf, late.exchange, `${late.where}: the service fetched a loopback URL given in the request`, late.point, 'the scanner\'s loopback canary received the request after the answer');
      }
      await canary.close();
    }
    await client.close();
  }
  if (stats.stoppedByCertificate) partial = true;
  if (answers.exchanges > 0 && answers.answered === 0 && !stats.targetUnresponsive) {
    partial = true;
    bump(ctx, 'nothingAnswered');
  }
  stats.requests = budget.spent;
  stats.budget = budget.limit;
  stats.logins = credentials.logins;
  stats.elapsedMs = Date.now() - started;
  const findings = collector.findings();
  stats.findings = findings.length;
  options.onProgress?.(budget.spent, budget.spent, partial ? 'stopped' : 'done');
  const operations = (plan?.operations ?? [])
    .filter((op) => exercised.has(`${op.key}\u0000${op.method}`))
    .map((op) => {
      const at = loadedSpec!.api.locate(op.model.pointer);
      return { spec: options.specFile, key: op.key, method: op.method, path: op.model.path, pointer: `#${at.pointer}`, ...(at.line === undefined ? {} : { line: at.line }) };
    });
  const notes = Object.entries(NOTES).flatMap(([stat, text]) => (stats[stat] ? [text(stats[stat]!)] : []));
  return { findings, rules: DYNAMIC_RULE_LIST.filter((rule) => ctx.ran.has(rule.id)), partial, stats, operations, notes };
}

async function phases(ctx: ScanContext, options: DynamicScanOptions, canary: Canary | undefined, progress: { loggedIn: boolean }): Promise<void> {
  ctx.phase = 'transport';
  if (!(await probeTransport(ctx, options.ca, options.signal))) return;
  const plan = ctx.plan;
  const reads = plan ? byDepth(plan.operations.filter((op) => op.safe && op.method === 'GET')) : [];

  ctx.phase = 'baseline';
  // Log every principal in first: a credential that does not work stops the scan before it sends anything else,
  // and the tokens' lifetimes are known even when no operation needs them.
  for (const principal of ['userA', 'userB', 'admin'] as const) if (ctx.credentials.has(principal)) await ctx.credentials.token(principal);
  progress.loggedIn = true;
  checkTokenLifetimes(ctx);
  for (const op of reads) await baseline(ctx, op);
  if (!plan) await ctx.client.send({ method: 'GET', path: '/', principal: 'anonymous', purpose: 'baseline' });

  ctx.phase = 'authentication';
  for (const op of reads) await probeAuthentication(ctx, op);
  ctx.phase = 'object authorization (BOLA)';
  for (const op of reads) await probeBola(ctx, op);
  ctx.phase = 'function authorization (BFLA)';
  for (const op of reads) await probeBfla(ctx, op);

  ctx.phase = 'CORS';
  await probeCors(ctx);
  ctx.phase = 'documentation';
  await probeDocumentation(ctx);
  ctx.phase = 'methods';
  await probeMethods(ctx);
  ctx.phase = 'versions';
  await probeOldVersions(ctx);

  for (const op of reads) {
    ctx.phase = `injection: ${op.method} ${op.template}`;
    const base = ctx.baselines.get(op.key);
    // An operation its usual principal cannot call says nothing about what happens to its input.
    if (base && base.status !== 0 && (base.status === 401 || base.status === 403) && usualPrincipal(ctx, op) === 'anonymous') continue;
    for (const param of injectableParams(ctx, op)) await probeInjection(ctx, op, { kind: 'param', param }, base, canary);
    await probeWrongTypes(ctx, op);
  }

  if (options.allowWrites) {
    ctx.phase = 'writes';
    await probeWrites(ctx, canary);
  } else if (plan?.operations.some((op) => !op.safe)) {
    bump(ctx, 'writeOperationsSkipped', plan.operations.filter((op) => !op.safe).length);
  }

  ctx.phase = 'rate limit';
  await probeRateLimit(ctx);
}
