/**
 * Runs a benchmark plan (interleaved rounds over a list of contenders), summarises it (medians, ratios against the
 * reference, PASS/FAIL targets) and renders it as a terminal table and as a Markdown report.
 *
 * Interleaving: every round runs each contender once, in an order rotated by one per round, so that slow drift of
 * the machine (thermal, noisy neighbours on a VM) spreads over all contenders instead of landing on whichever ran
 * last. Medians over rounds then drop the odd outlier run.
 */
import { execFileSync } from 'node:child_process';
import { buildIsCurrent } from '../bin/build-state.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LOAD_CPU,
  PROXY_CPU,
  REPO_ROOT,
  clockTicksPerSecond,
  countLines,
  cpuBusyPercent,
  installCleanupHandlers,
  onBenchExit,
  processTreeCpuTicks,
  readCpuCounters,
  runWrk,
  startUpstream,
  truncateFile,
  type BenchEnvironment,
  type Contender,
  type RunningContender,
  type WrkResult,
} from './harness.ts';
import { MIN_ROUNDS_FOR_INTERVAL, bootstrapRatioOfMedians, median, verdictAgainstMax, type RatioInterval } from './stats.ts';

export { median } from './stats.ts';

export type Target =
  | { readonly kind: 'cpu-ratio'; readonly contender: string; readonly reference: string; readonly max: number }
  | { readonly kind: 'rps-ratio'; readonly contender: string; readonly reference: string; readonly min: number };

export interface BenchPlan {
  readonly title: string;
  readonly contenders: readonly Contender[];
  readonly rounds: number;
  readonly durationSeconds: number;
  /** wrk run before each measured run, results discarded (JIT, connection pools, caches). */
  readonly warmupSeconds: number;
  /** Longer warm-up right after a contender starts. */
  readonly initialWarmupSeconds: number;
  readonly connections: number;
  readonly threads: number;
  readonly requestPath: string;
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** A wrk Lua script used for every run (e.g. rotating 1,000 bearer tokens). */
  readonly wrkScript?: string;
  /** Name of the contender every ratio is against (normally 'baseline'). */
  readonly reference: string;
  /** Extra ratio lines: [contender, other] pairs reported as contender rps / other rps. */
  readonly extraRpsRatios: ReadonlyArray<readonly [string, string]>;
  readonly targets: readonly Target[];
  /** Smoke-run settings; RESULTS.md then says the figures are not for publication. */
  readonly quick: boolean;
  /** Keep the temp dir (configs, process logs, access logs) for inspection. */
  readonly keepTmp: boolean;
  /**
   * Called right before and right after each measured wrk run (outside the CPU readings of the process under test),
   * e.g. to read a shared service's CPU over the measured runs of one contender only (bench/policies.ts: Redis).
   */
  readonly aroundMeasuredRun?: (contender: string, phase: 'before' | 'after', requests?: number) => Promise<void>;
  /**
   * Start every contender afresh before each round (after the first), with the initial warm-up again. A long-lived
   * Node process keeps what its start happened to give it (JIT and inlining decisions, heap layout) for all its
   * rounds: on 2026-11-29 one JWT contender measured 8-10 % slower than an identical-plus-more one in every round
   * of a run, and the ratio flipped in the next run. Interleaving rounds cannot average that out; fresh processes
   * turn it into per-round noise that the median does (JMH runs several forks of a JVM for the same reason).
   */
  readonly freshProcessEachRound?: boolean;
}

export interface RunMeasurement {
  readonly round: number;
  /** 1-based position of this contender within its round. */
  readonly position: number;
  readonly contender: string;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuTicks: number;
  readonly cpuUsPerRequest: number;
  /** Busy % of the proxy CPU and of the load CPU (wrk + upstream) during the run. */
  readonly proxyCpuBusyPercent: number;
  readonly loadCpuBusyPercent: number;
  /**
   * Busy % of the proxy CPU not explained by the measured process: other processes on this machine, plus interrupt
   * and softirq time. High values mean the run shared its CPU and its req/s is understated.
   */
  readonly otherLoadOnProxyCpuPercent: number;
  /** Access-log lines written during the run, for contenders that log to a file. */
  readonly accessLogLines?: number;
  /** Why this run does not count (non-2xx responses, socket errors, wrk failure, process died). Empty = valid. */
  readonly problems: readonly string[];
  /** Things worth knowing that do not invalidate the run. */
  readonly notes: readonly string[];
}

export interface Medians {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerRequest: number;
}

export interface ContenderSummary {
  readonly name: string;
  readonly cpuOf: 'proxy' | 'upstream';
  readonly configDescription: string;
  readonly configText?: string;
  readonly policies?: readonly string[];
  readonly runs: readonly RunMeasurement[];
  readonly validRuns: number;
  readonly failedRuns: number;
  /** Over valid runs only; undefined when none was valid. */
  readonly medians?: Medians;
}

export interface RatioLine {
  readonly contender: string;
  readonly against: string;
  /** median rps of contender / median rps of `against`. */
  readonly rpsRatio: number;
  /** median CPU/request of contender / of `against` (undefined for ratios that are about throughput only). */
  readonly cpuRatio?: number;
  /** Median over rounds of the per-round ratios (both measured in the same round), a drift-resistant cross-check. */
  readonly pairedRpsRatio?: number;
  readonly pairedCpuRatio?: number;
}

export interface TargetOutcome {
  readonly label: string;
  readonly status: 'PASS' | 'FAIL' | 'SKIP' | 'INVALID';
  readonly detail: string;
  /** CPU-ratio targets with enough rounds: the bootstrap interval of the ratio, and where it lies against the target. */
  readonly interval?: RatioInterval;
  readonly verdict?: 'below' | 'above' | 'undecided';
}

export interface BenchReport {
  readonly plan: BenchPlan;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly machine: Record<string, string>;
  /** "CPU busy before the run: ..." from the one-second idle check. */
  readonly preflight: string;
  readonly versions: Record<string, string>;
  readonly skipped: ReadonlyArray<{ name: string; reason: string }>;
  readonly summaries: readonly ContenderSummary[];
  readonly ratios: readonly RatioLine[];
  readonly targets: readonly TargetOutcome[];
}

// ---------------------------------------------------------------------------------------------------------------
// Environment facts
// ---------------------------------------------------------------------------------------------------------------

function commandOutput(command: string, args: string[]): string {
  try {
    // wrk -v exits non-zero after printing its version; the text is what matters.
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    const text = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    return text === '' ? 'not available' : text;
  }
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}

function packageVersion(name: string): string {
  try {
    const file = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): Record<string, string> {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  return {
    nproc: firstLine(commandOutput('nproc', [])),
    cpu: model,
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    'CLK_TCK': String(clockTicksPerSecond()),
  };
}

/**
 * How bin/rampart.js runs the contenders it starts: the compiled build when dist/ matches src/ (as after `npm install`
 * or `npm run build`), the TypeScript sources through tsx otherwise (slower to start; same request handling, measured
 * within noise of the build in one run).
 */
export function rampartRuntime(): string {
  if (process.env.RAMPART_FROM_SOURCE !== '1' && buildIsCurrent(REPO_ROOT)) return 'compiled build (dist/)';
  return 'sources through tsx (dist/ missing or older than src/: npm run build)';
}

export function versionInfo(): Record<string, string> {
  let rampart = 'unknown';
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const head = firstLine(commandOutput('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']));
    const dirty = commandOutput('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']).trim() !== '';
    rampart = `${pkg.version} (git ${head}${dirty ? ', with uncommitted changes' : ''}; ${rampartRuntime()})`;
  } catch {
    // keep what we have
  }
  return {
    node: process.version,
    undici: packageVersion('undici'),
    'fast-gateway': packageVersion('fast-gateway'),
    haproxy: firstLine(commandOutput('haproxy', ['-v'])),
    wrk: firstLine(commandOutput('wrk', ['-v'])),
    rampart,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------------------------

/** Above this share of the proxy CPU used by anything but the proxy, a run gets a "machine not idle" note. */
export const OTHER_LOAD_WARNING_PERCENT = 10;

/** Busy % of each CPU over `ms` milliseconds, to warn before a run when the machine is not idle. */
export async function sampleCpuBusy(ms = 1000): Promise<number[]> {
  const before = readCpuCounters();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = readCpuCounters();
  return after.total.map((_, cpu) => cpuBusyPercent(before, after, cpu));
}

function processAlive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}/stat`);
}

function problemsOf(result: WrkResult): string[] {
  const problems: string[] = [];
  if (result.non2xx3xx > 0) problems.push(`${result.non2xx3xx} non-2xx/3xx responses`);
  const { connect, read, write, timeout } = result.socketErrors;
  if (connect + read + write + timeout > 0) {
    problems.push(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);
  }
  if (result.requests === 0) problems.push('no requests completed');
  return problems;
}

async function measureOnce(plan: BenchPlan, running: RunningContender, round: number, position: number): Promise<RunMeasurement> {
  const wrkOptions = {
    url: running.url,
    connections: plan.connections,
    threads: plan.threads,
    headers: plan.requestHeaders,
    script: plan.wrkScript,
  };
  const base = { round, position, contender: running.name };
  const failed = (problem: string): RunMeasurement => ({
    ...base,
    requests: 0,
    requestsPerSecond: 0,
    p50Ms: 0,
    p99Ms: 0,
    cpuTicks: 0,
    cpuUsPerRequest: 0,
    proxyCpuBusyPercent: 0,
    loadCpuBusyPercent: 0,
    otherLoadOnProxyCpuPercent: 0,
    problems: [problem],
    notes: [],
  });
  if (!processAlive(running.cpuPid)) return failed(`process ${running.cpuPid} is gone`);
  try {
    if (plan.warmupSeconds > 0) await runWrk({ ...wrkOptions, durationSeconds: plan.warmupSeconds });
    if (running.accessLogFile !== undefined) truncateFile(running.accessLogFile);
    await plan.aroundMeasuredRun?.(running.name, 'before');
    const countersBefore = readCpuCounters();
    const ticksBefore = processTreeCpuTicks(running.cpuPid);
    const result = await runWrk({ ...wrkOptions, durationSeconds: plan.durationSeconds });
    const ticksAfter = processTreeCpuTicks(running.cpuPid);
    const countersAfter = readCpuCounters();
    await plan.aroundMeasuredRun?.(running.name, 'after', result.requests);
    const problems = problemsOf(result);
    if (!processAlive(running.cpuPid)) problems.push(`process ${running.cpuPid} died during the run`);
    const notes: string[] = [];
    let accessLogLines: number | undefined;
    if (running.accessLogFile !== undefined) {
      // Give an asynchronous logger a moment to flush what it buffered during the run.
      await new Promise((resolve) => setTimeout(resolve, 300));
      accessLogLines = countLines(running.accessLogFile);
      if (accessLogLines < result.requests * 0.9) {
        notes.push(`access log has ${accessLogLines} lines for ${result.requests} requests`);
      }
    }
    const cpuTicks = ticksAfter - ticksBefore;
    const proxyCpuBusyPercent = cpuBusyPercent(countersBefore, countersAfter, Number(PROXY_CPU));
    // For `direct` the measured process (the upstream) is on the load CPU, so all of the proxy CPU's load is other.
    const ownPercent = running.cpuOf === 'proxy' ? (100 * cpuTicks) / clockTicksPerSecond() / result.seconds : 0;
    const otherLoadOnProxyCpuPercent = Math.max(0, proxyCpuBusyPercent - ownPercent);
    if (otherLoadOnProxyCpuPercent > OTHER_LOAD_WARNING_PERCENT) {
      notes.push(`~${Math.round(otherLoadOnProxyCpuPercent)} % of CPU ${PROXY_CPU} was used by something else (machine not idle?)`);
    }
    return {
      ...base,
      requests: result.requests,
      requestsPerSecond: result.requestsPerSecond,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      cpuTicks,
      cpuUsPerRequest: result.requests > 0 ? ((cpuTicks / clockTicksPerSecond()) * 1e6) / result.requests : 0,
      proxyCpuBusyPercent,
      loadCpuBusyPercent: cpuBusyPercent(countersBefore, countersAfter, Number(LOAD_CPU)),
      otherLoadOnProxyCpuPercent,
      problems,
      notes,
      ...(accessLogLines === undefined ? {} : { accessLogLines }),
    };
  } catch (err) {
    return failed(`run failed: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

function summarise(running: RunningContender, runs: RunMeasurement[]): ContenderSummary {
  const valid = runs.filter((run) => run.problems.length === 0);
  return {
    name: running.name,
    cpuOf: running.cpuOf,
    configDescription: running.configDescription,
    ...(running.configText === undefined ? {} : { configText: running.configText }),
    ...(running.policies === undefined ? {} : { policies: running.policies }),
    runs,
    validRuns: valid.length,
    failedRuns: runs.length - valid.length,
    ...(valid.length === 0
      ? {}
      : {
          medians: {
            requestsPerSecond: median(valid.map((r) => r.requestsPerSecond)),
            p50Ms: median(valid.map((r) => r.p50Ms)),
            p99Ms: median(valid.map((r) => r.p99Ms)),
            cpuUsPerRequest: median(valid.map((r) => r.cpuUsPerRequest)),
          },
        }),
  };
}

/** [a, b] per round where both runs are valid. */
function roundPairs(a: ContenderSummary, b: ContenderSummary, pick: (run: RunMeasurement) => number): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  for (const run of a.runs) {
    const other = b.runs.find((r) => r.round === run.round);
    if (other !== undefined && run.problems.length === 0 && other.problems.length === 0) pairs.push([pick(run), pick(other)]);
  }
  return pairs;
}

const VERDICT_TEXT = {
  below: 'below the target even at its top',
  above: 'above the target even at its bottom',
  undecided: 'across the target: this run cannot decide it',
} as const;

function describeInterval(interval: RatioInterval, max: number): string {
  return `${Math.round(interval.level * 100)} % bootstrap interval over ${interval.rounds} rounds ${fmt(interval.low, 3)}-${fmt(interval.high, 3)}, ${VERDICT_TEXT[verdictAgainstMax(interval, max)]}`;
}

function pairedRatio(a: ContenderSummary, b: ContenderSummary, pick: (run: RunMeasurement) => number): number | undefined {
  const ratios = roundPairs(a, b, pick)
    .filter(([, reference]) => reference !== 0)
    .map(([subject, reference]) => subject / reference);
  return ratios.length === 0 ? undefined : median(ratios);
}

function ratioLine(a: ContenderSummary, b: ContenderSummary, withCpu: boolean): RatioLine | undefined {
  if (a.medians === undefined || b.medians === undefined) return undefined;
  const pairedRpsRatio = pairedRatio(a, b, (r) => r.requestsPerSecond);
  const pairedCpuRatio = withCpu ? pairedRatio(a, b, (r) => r.cpuUsPerRequest) : undefined;
  return {
    contender: a.name,
    against: b.name,
    rpsRatio: a.medians.requestsPerSecond / b.medians.requestsPerSecond,
    ...(withCpu ? { cpuRatio: a.medians.cpuUsPerRequest / b.medians.cpuUsPerRequest } : {}),
    ...(pairedRpsRatio === undefined ? {} : { pairedRpsRatio }),
    ...(pairedCpuRatio === undefined ? {} : { pairedCpuRatio }),
  };
}

export function targetLabel(target: Target): string {
  return target.kind === 'cpu-ratio'
    ? `${target.contender} CPU/request <= ${target.max} × ${target.reference}`
    : `${target.contender} rps >= ${target.min} × ${target.reference} rps`;
}

export function evaluateTargets(
  targets: readonly Target[],
  summaries: readonly ContenderSummary[],
  skipped: ReadonlyArray<{ name: string; reason: string }>,
): TargetOutcome[] {
  return targets.map((target) => {
    const label = targetLabel(target);
    const missing = [target.contender, target.reference].filter((name) => !summaries.some((s) => s.name === name));
    if (missing.length > 0) {
      const why = missing.map((name) => {
        const skip = skipped.find((s) => s.name === name);
        return skip === undefined ? `${name} not run` : `${name} skipped (${skip.reason.split('\n')[0] ?? ''})`;
      });
      return { label, status: 'SKIP', detail: why.join('; ') };
    }
    const subject = summaries.find((s) => s.name === target.contender) as ContenderSummary;
    const reference = summaries.find((s) => s.name === target.reference) as ContenderSummary;
    const broken = [subject, reference].filter((s) => s.failedRuns > 0 || s.medians === undefined);
    if (broken.length > 0) {
      return {
        label,
        status: 'INVALID',
        detail: broken.map((s) => `${s.name} had ${s.failedRuns} failed run(s)`).join('; '),
      };
    }
    const a = subject.medians as Medians;
    const b = reference.medians as Medians;
    if (target.kind === 'cpu-ratio') {
      const ratio = a.cpuUsPerRequest / b.cpuUsPerRequest;
      // PASS/FAIL is the point ratio of medians, as the targets are written; the interval says whether this run's
      // rounds are consistent enough to tell (bench/stats.ts).
      const interval = bootstrapRatioOfMedians(roundPairs(subject, reference, (run) => run.cpuUsPerRequest));
      return {
        label,
        status: ratio <= target.max ? 'PASS' : 'FAIL',
        detail: `${fmt(a.cpuUsPerRequest, 1)} µs vs ${fmt(b.cpuUsPerRequest, 1)} µs = ${fmt(ratio, 3)}×${interval === undefined ? '' : `; ${describeInterval(interval, target.max)}`}`,
        ...(interval === undefined ? {} : { interval, verdict: verdictAgainstMax(interval, target.max) }),
      };
    }
    const ratio = a.requestsPerSecond / b.requestsPerSecond;
    return {
      label,
      status: ratio >= target.min ? 'PASS' : 'FAIL',
      detail: `${fmt(a.requestsPerSecond, 0)} vs ${fmt(b.requestsPerSecond, 0)} rps = ${fmt(ratio, 3)}×`,
    };
  });
}

/** Whether contenders restart each round: BENCH_FRESH=1 or 0 overrides the plan's own choice, for any bench. */
export function freshProcesses(plan: BenchPlan): boolean {
  const env = process.env.BENCH_FRESH;
  return env === '1' ? true : env === '0' ? false : plan.freshProcessEachRound === true;
}

/** The contender order of a round: the list rotated by the round number. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/**
 * Runs the plan: starts the upstream and every contender (skipping, with the reason, any that does not answer 2xx
 * within the start timeout), warms each up, runs the interleaved rounds, stops everything and returns the report.
 */
export async function runBench(plan: BenchPlan, log: (line: string) => void = console.log): Promise<BenchReport> {
  installCleanupHandlers();
  const startedAt = new Date();
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-bench-'));
  const removeTmp = (): void => {
    if (!plan.keepTmp) fs.rmSync(tmpDir, { recursive: true, force: true });
  };
  onBenchExit(removeTmp);
  log(`bench: temp dir ${tmpDir}${plan.keepTmp ? ' (kept)' : ''}`);
  const idle = await sampleCpuBusy();
  const preflight = `CPU busy before the run: ${idle.map((p, cpu) => `cpu${cpu} ${Math.round(p)} %`).join(', ')}`;
  log(`bench: ${preflight}`);
  if (idle.some((p) => p > OTHER_LOAD_WARNING_PERCENT)) {
    log('bench: WARNING: the machine is not idle; figures will be noisy (see the "other load" column)');
  }

  const upstream = await startUpstream(tmpDir);
  const running: RunningContender[] = [];
  const skipped: Array<{ name: string; reason: string }> = [];
  try {
    log(`bench: upstream on ${upstream.url} (pid ${upstream.pid}, CPU ${LOAD_CPU})`);
    const env: BenchEnvironment = {
      tmpDir,
      upstreamUrl: upstream.url,
      upstreamHost: upstream.host,
      upstreamPort: upstream.port,
      upstreamPid: upstream.pid,
      requestHeaders: plan.requestHeaders,
      requestPath: plan.requestPath,
    };
    for (const contender of plan.contenders) {
      try {
        const started = await contender.start(env);
        running.push(started);
        log(`bench: started ${started.name} at ${started.url} (pid ${started.cpuPid})`);
      } catch (err) {
        const reason = (err as Error).message;
        skipped.push({ name: contender.name, reason });
        log(`bench: SKIPPING ${contender.name}: ${reason}`);
      }
    }
    const warmUp = async (contender: RunningContender): Promise<void> => {
      if (plan.initialWarmupSeconds <= 0) return;
      log(`bench: warming up ${contender.name} (${plan.initialWarmupSeconds} s)`);
      await runWrk({
        url: contender.url,
        connections: plan.connections,
        threads: plan.threads,
        headers: plan.requestHeaders,
        script: plan.wrkScript,
        durationSeconds: plan.initialWarmupSeconds,
      }).catch((err: Error) => log(`bench: warm-up of ${contender.name} failed: ${err.message.split('\n')[0] ?? ''}`));
    };
    for (const contender of running) await warmUp(contender);

    const runs = new Map<string, RunMeasurement[]>(running.map((r) => [r.name, []]));
    const fresh = freshProcesses(plan);
    for (let round = 0; round < plan.rounds; round++) {
      if (fresh && round > 0) {
        for (let i = 0; i < running.length; i++) {
          const old = running[i]!;
          await old.stop().catch(() => {});
          const contender = plan.contenders.find((c) => c.name === old.name)!;
          // A contender that does not come back ends the bench with its error (the `finally` below stops the rest).
          running[i] = await contender.start(env);
          log(`bench: restarted ${old.name} for round ${round + 1} (pid ${running[i]!.cpuPid})`);
          await warmUp(running[i]!);
        }
      }
      const order = roundOrder(running, round);
      log(`bench: round ${round + 1}/${plan.rounds}: ${order.map((r) => r.name).join(' -> ')}`);
      for (const [index, contender] of order.entries()) {
        const measurement = await measureOnce(plan, contender, round + 1, index + 1);
        runs.get(contender.name)?.push(measurement);
        const flag = measurement.problems.length > 0 ? `  !!! FAILED RUN: ${measurement.problems.join('; ')}` : '';
        const note = measurement.notes.length > 0 ? `  (note: ${measurement.notes.join('; ')})` : '';
        log(
          `  ${contender.name.padEnd(16)} ${fmt(measurement.requestsPerSecond, 0).padStart(8)} rps  p50 ${fmt(measurement.p50Ms)} ms  p99 ${fmt(measurement.p99Ms)} ms  ${fmt(measurement.cpuUsPerRequest, 1)} µs/req  cpu${PROXY_CPU} ${fmt(measurement.proxyCpuBusyPercent, 0)}%  cpu${LOAD_CPU} ${fmt(measurement.loadCpuBusyPercent, 0)}%  other ${fmt(measurement.otherLoadOnProxyCpuPercent, 0)}%${flag}${note}`,
        );
      }
    }

    const summaries = running.map((r) => summarise(r, runs.get(r.name) ?? []));
    const ratios: RatioLine[] = [];
    const reference = summaries.find((s) => s.name === plan.reference);
    if (reference !== undefined) {
      for (const summary of summaries) {
        if (summary === reference) continue;
        const line = ratioLine(summary, reference, summary.cpuOf === 'proxy');
        if (line !== undefined) ratios.push(line);
      }
    }
    for (const [a, b] of plan.extraRpsRatios) {
      const sa = summaries.find((s) => s.name === a);
      const sb = summaries.find((s) => s.name === b);
      const line = sa === undefined || sb === undefined ? undefined : ratioLine(sa, sb, false);
      if (line !== undefined) ratios.push(line);
    }
    return {
      plan,
      startedAt,
      finishedAt: new Date(),
      machine: machineInfo(),
      preflight,
      versions: versionInfo(),
      skipped,
      summaries,
      ratios,
      targets: evaluateTargets(plan.targets, summaries, skipped),
    };
  } finally {
    for (const contender of running) await contender.stop().catch(() => {});
    await upstream.stop().catch(() => {});
    removeTmp();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------------

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function medianRow(summary: ContenderSummary): string[] {
  const m = summary.medians;
  const cpu = m === undefined ? '-' : `${fmt(m.cpuUsPerRequest, 1)}${summary.cpuOf === 'upstream' ? '*' : ''}`;
  return [
    summary.name,
    fmt(m?.requestsPerSecond, 0),
    fmt(m?.p50Ms),
    fmt(m?.p99Ms),
    cpu,
    `${summary.validRuns}/${summary.runs.length}`,
  ];
}

function ratioRows(report: BenchReport): string[][] {
  return report.ratios.map((r) => [
    `${r.contender} / ${r.against}`,
    fmt(r.rpsRatio, 3),
    fmt(r.pairedRpsRatio, 3),
    fmt(r.cpuRatio, 3),
    fmt(r.pairedCpuRatio, 3),
  ]);
}

const MEDIAN_HEADER = ['contender', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'valid runs'];
const RATIO_HEADER = ['ratio', 'rps', 'rps (paired)', 'CPU/req', 'CPU/req (paired)'];

/** A warning when other load shared the proxy CPU in some runs, or undefined when the machine stayed quiet. */
export function noisyMachineWarning(report: BenchReport): string | undefined {
  const proxyRuns = report.summaries.filter((s) => s.cpuOf === 'proxy').flatMap((s) => s.runs);
  const noisy = proxyRuns.filter((r) => r.otherLoadOnProxyCpuPercent > OTHER_LOAD_WARNING_PERCENT).length;
  if (noisy === 0) return undefined;
  return `WARNING: in ${noisy} of ${proxyRuns.length} proxy runs something else used more than ${OTHER_LOAD_WARNING_PERCENT} % of CPU ${PROXY_CPU} (machine not idle): req/s and latencies are noisy, CPU/request less so. Rerun on an idle machine before publishing.`;
}

/** The terminal summary: medians, ratios, failed runs and PASS/FAIL lines. */
export function formatSummary(report: BenchReport): string {
  const lines: string[] = ['', `${report.plan.title}: medians over ${report.plan.rounds} round(s)`, ''];
  lines.push(...table(MEDIAN_HEADER, report.summaries.map(medianRow)));
  if (report.summaries.some((s) => s.cpuOf === 'upstream')) lines.push('* direct: CPU of the upstream process itself');
  if (report.ratios.length > 0) lines.push('', ...table(RATIO_HEADER, ratioRows(report)));
  for (const skip of report.skipped) lines.push('', `SKIPPED ${skip.name}: ${skip.reason.split('\n')[0] ?? ''}`);
  for (const summary of report.summaries) {
    for (const run of summary.runs) {
      if (run.problems.length > 0) lines.push(`!!! FAILED RUN ${summary.name} round ${run.round}: ${run.problems.join('; ')}`);
    }
  }
  const noisy = noisyMachineWarning(report);
  if (noisy !== undefined) lines.push('', noisy);
  if (report.targets.length > 0) {
    lines.push('');
    for (const t of report.targets) lines.push(`${t.status.padEnd(7)} ${t.label}: ${t.detail}`);
  }
  return lines.join('\n');
}

function mdTable(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** RESULTS.md: everything needed to judge and reproduce the figures. */
export function renderMarkdown(report: BenchReport): string {
  const { plan } = report;
  const out: string[] = [];
  out.push(`# ${plan.title}`, '');
  out.push('Generated by `npm run bench` (bench/run.ts); rewritten on every run. See bench/README.md for how to read it.', '');
  if (plan.quick) out.push('> **QUICK MODE (`BENCH_QUICK=1`): smoke-test figures, too short to publish or to judge the targets on.**', '');
  const noisy = noisyMachineWarning(report);
  if (noisy !== undefined) out.push(`> **${noisy}**`, '');
  const failed = report.summaries.flatMap((s) => s.runs.filter((r) => r.problems.length > 0).map((r) => ({ s, r })));
  if (failed.length > 0) {
    out.push('> **WARNING: some runs failed and are left out of the medians:**');
    for (const { s, r } of failed) out.push(`> - ${s.name}, round ${r.round}: ${r.problems.join('; ')}`);
    out.push('');
  }
  out.push(`- Date: ${report.startedAt.toISOString()} (took ${Math.round((report.finishedAt.getTime() - report.startedAt.getTime()) / 1000)} s)`);
  out.push(`- Machine: ${Object.entries(report.machine).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  out.push(`- ${report.preflight}`);
  out.push(`- Versions: ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  out.push('');

  out.push('## Method', '');
  out.push(
    `- Each contender proxies to the same upstream (bench/upstream.ts: node:http, fixed ~100-byte JSON body from a preallocated buffer, keep-alive).`,
    `- The process under test is pinned to CPU ${PROXY_CPU} (\`taskset -c ${PROXY_CPU}\`); wrk and the upstream share CPU ${LOAD_CPU}.`,
    `- Load: \`wrk -t${plan.threads} -c${plan.connections} -d${plan.durationSeconds}s --latency\` on \`${plan.requestPath}\`${Object.keys(plan.requestHeaders).length > 0 ? ` with headers ${Object.keys(plan.requestHeaders).join(', ')}` : ''}.`,
    `- ${plan.rounds} round(s); in each round every contender gets one measured run, in an order rotated by one each round. Each measured run follows a ${plan.warmupSeconds} s warm-up run (discarded); each contender also gets a ${plan.initialWarmupSeconds} s warm-up after it starts.${freshProcesses(plan) ? ' Every contender is started afresh before each round (a new process per round), so that what one process start happens to give it is not carried through every round.' : ''}`,
    `- CPU/request: utime + stime of the proxy's process tree (\`/proc/<pid>/stat\` fields 14 and 15, CLK_TCK ${report.machine.CLK_TCK}) read right before and after the measured run, divided by the requests wrk completed.`,
    `- A run with any non-2xx/3xx response, socket error or dead process is a failed run: flagged here and left out of the medians. Figures are medians over the valid runs; ratios are ratios of medians, with the median of per-round ratios ("paired") beside them.`,
    `- ${plan.reference} is the yardstick all ratios use.`,
    `- PASS/FAIL compares the ratio of medians with the target. With ${MIN_ROUNDS_FOR_INTERVAL} or more rounds, a CPU-ratio target also gives a 95 % percentile bootstrap interval of that ratio (rounds resampled whole, both contenders' runs of a round together; seeded, bench/stats.ts) and says whether it lies below the target, above it, or across it (this run cannot decide).`,
    '',
  );

  out.push('## Contenders', '');
  for (const summary of report.summaries) {
    out.push(`### ${summary.name}`, '', summary.configDescription, '');
    if (summary.policies !== undefined) {
      out.push(`Policies on (per route): ${summary.policies.map((p) => `\`${p}\``).join('; ')}`, '');
    }
    if (summary.configText !== undefined) out.push('```', summary.configText.trimEnd(), '```', '');
  }
  for (const skip of report.skipped) {
    out.push(`### ${skip.name} (SKIPPED)`, '', '```', skip.reason.trimEnd(), '```', '');
  }

  out.push('## Medians', '');
  out.push(mdTable(MEDIAN_HEADER, report.summaries.map(medianRow)), '');
  if (report.summaries.some((s) => s.cpuOf === 'upstream')) {
    out.push('\\* `direct` has no proxy: its CPU column is the upstream process (on the load CPU), for reference.', '');
  }

  if (report.ratios.length > 0) {
    out.push('## Ratios', '');
    out.push(mdTable(RATIO_HEADER, ratioRows(report)), '');
  }

  if (report.targets.length > 0) {
    out.push('## Targets', '');
    for (const t of report.targets) out.push(`- **${t.status}** ${t.label}: ${t.detail}`);
    out.push('');
  }

  out.push('## Raw runs', '');
  const rawRows = report.summaries
    .flatMap((s) => s.runs)
    .sort((a, b) => a.round - b.round || a.position - b.position)
    .map((r) => [
      String(r.round),
      String(r.position),
      r.contender,
      String(r.requests),
      fmt(r.requestsPerSecond, 0),
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      fmt(r.cpuUsPerRequest, 1),
      fmt(r.proxyCpuBusyPercent, 0),
      fmt(r.loadCpuBusyPercent, 0),
      fmt(r.otherLoadOnProxyCpuPercent, 0),
      r.accessLogLines === undefined ? '' : String(r.accessLogLines),
      [...r.problems.map((p) => `FAILED: ${p}`), ...r.notes].join('; '),
    ]);
  out.push(
    mdTable(
      ['round', 'pos', 'contender', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', `cpu${PROXY_CPU} %`, `cpu${LOAD_CPU} %`, `other load cpu${PROXY_CPU} %`, 'log lines', 'problems / notes'],
      rawRows,
    ),
    '',
  );
  out.push(
    `\`cpu${PROXY_CPU} %\` is how busy the proxy CPU was; \`cpu${LOAD_CPU} %\` the load CPU (wrk + upstream). When cpu${LOAD_CPU} is near 100 % the load side, not the proxy, limits req/s and the rps ratios understate the gap; CPU/request stays meaningful. \`other load cpu${PROXY_CPU} %\` is the part of cpu${PROXY_CPU}'s busy time not spent in the measured process (other processes, interrupts); a few % is normal, more means the machine was not idle and that run's req/s is understated.`,
    '',
  );
  return out.join('\n');
}
