/**
 * `rampart scan` orchestration: the static audit of each `--spec`, then (with `--target`) the dynamic scan, then the
 * baseline, assembled into one ScanReport (model.ts) that every report format renders.
 *
 * The dynamic scan lives in ./dynamic/ and plugs in through one function, imported lazily so that a static audit never
 * loads the HTTP probing code. The hook is `DynamicScanner` below; ./dynamic/index.ts may export it as `runDynamic`,
 * or export its own `runDynamicScan` (parsed auth file, CA text, budget), which `loadDynamicScanner` adapts. Only
 * the first `--spec` describes the target. When the module is absent, `--target` fails with a clear usage error
 * instead of silently auditing only the spec.
 *
 * Exit status (see `exitCodeFor`): 0 nothing at or above `--fail-on`; 1 findings at or above it; 2 the scan could not
 * be done (a spec that cannot be read, a bad baseline, a dynamic scan that failed to start).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Baseline } from './baseline.ts';
import type { Finding, RuleInfo, ScanReport, Severity } from './model.ts';
import { SEVERITY_ORDER } from './model.ts';
import { releaseGarbageBetweenDocuments } from './memory.ts';
import { auditSpec, sortFindings } from './static/index.ts';

/** What the dynamic scanner is given. Paths are as the user wrote them, relative to `cwd`. */
export interface DynamicScanOptions {
  /** Base URL of the running API; requests go to this origin only. */
  readonly target: string;
  /** OpenAPI documents describing it (the first is the primary one). */
  readonly specs: readonly string[];
  readonly cwd: string;
  /** `--auth FILE`: credentials for up to two ordinary users and one admin. */
  readonly authFile?: string;
  /** `--ca FILE`: PEM bundle trusted in addition to the system roots. */
  readonly caFile?: string;
  /** `--allow-writes`: POST/PUT/PATCH/DELETE probes are allowed. */
  readonly allowWrites: boolean;
  /** `--max-requests N`: request budget (the scanner's default when absent). */
  readonly maxRequests?: number;
  /** `--rate N`: requests per second (the scanner's default when absent). */
  readonly ratePerSecond?: number;
  /** Aborted on Ctrl-C: stop sending, and still return what was found (`partial: true`). */
  readonly signal: AbortSignal;
  /** Progress lines (a bar on a terminal, plain lines in CI: the caller decides). */
  readonly progress: (done: number, total: number | undefined, message?: string) => void;
  /** Injected clock (tests). */
  readonly now?: () => Date;
}

export interface DynamicScanResult {
  readonly findings: readonly Finding[];
  readonly rules: readonly RuleInfo[];
  readonly partial: boolean;
  readonly stats: Readonly<Record<string, number>>;
  /** Operations probed (JUnit test cases); optional. */
  readonly operations?: ScanReport['operations'];
  /** Messages about the scan itself (budget reached, probes skipped). */
  readonly notes?: readonly string[];
}

export type DynamicScanner = (options: DynamicScanOptions) => Promise<DynamicScanResult>;

/** Thrown for problems the user must fix in the invocation (exit 2). */
export class ScanUsageError extends Error {}

export interface ScanOptions {
  readonly specs: readonly string[];
  readonly cwd?: string;
  readonly target?: string;
  readonly authFile?: string;
  readonly caFile?: string;
  readonly allowWrites?: boolean;
  readonly maxRequests?: number;
  readonly ratePerSecond?: number;
  /** `--baseline FILE`. */
  readonly baseline?: string;
  readonly signal?: AbortSignal;
  readonly progress?: DynamicScanOptions['progress'];
  /** Injected clock (baseline expiry, report times). */
  readonly now?: () => Date;
  /** Injected dynamic scanner (tests); by default ./dynamic/index.ts `runDynamic`. */
  readonly dynamic?: DynamicScanner;
}

export interface ScanOutcome {
  readonly report: ScanReport;
  /** Some spec could not be read, or the dynamic scan failed: exit 2 whatever the findings. */
  readonly incomplete: boolean;
}

const VERSION = readVersion();

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

// Beside this file in either form: src/scan/dynamic/index.ts, or dist/scan/dynamic/index.js in the compiled build.
const DYNAMIC_MODULE = new URL(`./dynamic/index${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`, import.meta.url);

/** What run.ts uses of ./dynamic/index.ts (typed here: the module is imported by a computed specifier). */
interface DynamicModule {
  /** The hook in this file's own terms, if the module offers it. */
  readonly runDynamic?: DynamicScanner;
  /** The dynamic scanner's own entry point (src/scan/dynamic/scan.ts). */
  readonly runDynamicScan?: (options: {
    target: string;
    specFile?: string;
    auth?: unknown;
    ca?: string;
    allowWrites: boolean;
    budget: number;
    ratePerSecond: number;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number, label: string) => void;
    now?: () => number;
  }) => Promise<DynamicScanResult>;
  readonly loadAuthFile?: (path: string) => unknown;
  readonly DEFAULT_BUDGET?: number;
  readonly DEFAULT_RATE_PER_SECOND?: number;
}

/**
 * The dynamic scanner shipped in ./dynamic/, or undefined when this build has none. The module's `runDynamicScan`
 * takes parsed inputs (auth file object, CA PEM text, budget): the adapter here reads the files named on the command
 * line with the module's own loader, so the CLI stays the only place that knows about flags.
 */
export async function loadDynamicScanner(): Promise<DynamicScanner | undefined> {
  if (!existsSync(DYNAMIC_MODULE)) return undefined;
  // A computed specifier: the static audit must not depend on the dynamic module at build time.
  const mod = (await import(DYNAMIC_MODULE.href)) as DynamicModule;
  if (typeof mod.runDynamic === 'function') return mod.runDynamic;
  const run = mod.runDynamicScan;
  if (typeof run !== 'function') return undefined;
  return async (options) => {
    let auth: unknown;
    if (options.authFile !== undefined) {
      if (typeof mod.loadAuthFile !== 'function') throw new ScanUsageError('--auth: this build cannot read auth files');
      auth = mod.loadAuthFile(resolvePath(options.cwd, options.authFile));
    }
    let ca: string | undefined;
    if (options.caFile !== undefined) {
      try {
        ca = readFileSync(resolvePath(options.cwd, options.caFile), 'utf8');
      } catch {
        throw new ScanUsageError(`--ca ${options.caFile}: cannot be read`);
      }
    }
    const now = options.now;
    return run({
      target: options.target,
      ...(options.specs[0] !== undefined ? { specFile: resolvePath(options.cwd, options.specs[0]) } : {}),
      ...(auth !== undefined ? { auth } : {}),
      ...(ca !== undefined ? { ca } : {}),
      allowWrites: options.allowWrites,
      budget: options.maxRequests ?? mod.DEFAULT_BUDGET ?? 2000,
      ratePerSecond: options.ratePerSecond ?? mod.DEFAULT_RATE_PER_SECOND ?? 20,
      signal: options.signal,
      onProgress: (done, total, label) => options.progress(done, total, label),
      ...(now ? { now: () => now().getTime() } : {}),
    });
  };
}

export async function runScan(options: ScanOptions): Promise<ScanOutcome> {
  const now = options.now ?? (() => new Date());
  const cwd = options.cwd ?? process.cwd();
  if (options.specs.length === 0 && !options.target) throw new ScanUsageError('nothing to scan: give --spec FILE (and --target URL for a dynamic scan)');
  // Read the baseline first: a broken baseline must fail before minutes of scanning.
  // baseline.ts is loaded only when a baseline is given: it brings the `yaml` parser and a schema compiler, which
  // every other scan would load for nothing.
  let baseline: { readonly accepted: Baseline; readonly module: typeof import('./baseline.ts') } | undefined;
  if (options.baseline) {
    const module = await import('./baseline.ts');
    try {
      baseline = { accepted: module.loadBaseline(options.baseline, cwd), module };
    } catch (error) {
      if (error instanceof module.BaselineError) throw new ScanUsageError(error.message);
      throw error;
    }
  }
  let dynamic: DynamicScanner | undefined;
  if (options.target) {
    dynamic = options.dynamic ?? (await loadDynamicScanner());
    if (!dynamic) throw new ScanUsageError('--target: the dynamic scanner is not part of this build (src/scan/dynamic/index.ts is missing); run a static audit with --spec alone');
  }

  const startedAt = now();
  const findings: Finding[] = [];
  const rules = new Map<string, RuleInfo>();
  const operations: NonNullable<ScanReport['operations']>[number][] = [];
  const notes: string[] = [];
  const stats: Record<string, number> = {};
  let incomplete = false;
  let partial = false;
  const addStats = (more: Readonly<Record<string, number>>) => {
    for (const [key, value] of Object.entries(more)) stats[key] = (stats[key] ?? 0) + value;
  };

  for (const spec of options.specs) {
    if (options.signal?.aborted) {
      partial = true;
      break;
    }
    // Each document's parse trees are garbage once its findings are made: collected before the next one is read.
    releaseGarbageBetweenDocuments();
    const result = await auditSpec(spec, { cwd });
    for (const rule of result.rules) rules.set(rule.id, rule);
    findings.push(...result.findings);
    operations.push(...result.operations);
    notes.push(...result.notes);
    addStats(result.stats);
    stats.specs = (stats.specs ?? 0) + 1;
    if (result.loadFailed) incomplete = true;
  }

  // The last document's too, before the reports are built.
  if (options.specs.length > 0) releaseGarbageBetweenDocuments();

  if (dynamic && options.target && !options.signal?.aborted) {
    const result = await dynamic({
      target: options.target,
      specs: options.specs,
      cwd,
      allowWrites: options.allowWrites ?? false,
      signal: options.signal ?? new AbortController().signal,
      progress: options.progress ?? (() => {}),
      ...(options.authFile !== undefined ? { authFile: options.authFile } : {}),
      ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
      ...(options.maxRequests !== undefined ? { maxRequests: options.maxRequests } : {}),
      ...(options.ratePerSecond !== undefined ? { ratePerSecond: options.ratePerSecond } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    for (const rule of result.rules) rules.set(rule.id, rule);
    findings.push(...result.findings);
    if (result.operations) operations.push(...result.operations);
    notes.push(...(result.notes ?? []));
    addStats(result.stats);
    partial = partial || result.partial;
  } else if (options.signal?.aborted) {
    partial = true;
  }

  let kept = findings;
  let suppressed: ScanReport['suppressed'] = [];
  if (baseline) {
    const applied = baseline.module.applyBaseline(baseline.accepted, findings, now());
    kept = applied.findings;
    suppressed = applied.suppressed;
    notes.push(...applied.notes);
  }
  const report: ScanReport = {
    schemaVersion: 1,
    tool: { name: 'rampart', version: VERSION },
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    ...(options.target ? { target: options.target } : {}),
    specs: options.specs.map((s) => s.split('\\').join('/')),
    rules: [...rules.values()].sort((a, b) => a.item - b.item || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    findings: sortFindings([...kept]),
    suppressed,
    partial,
    stats: { ...stats, findings: kept.length, suppressed: suppressed.length },
    // The static audit and the dynamic scan list the same operations: one entry per operation key.
    operations: [...new Map(operations.map((o) => [`${o.spec ?? ''}\u0000${o.key}`, o])).values()],
    notes,
  };
  return { report, incomplete };
}

export type FailOn = Exclude<Severity, 'info'> | 'none';

/** 2 when the scan was incomplete, 1 when a finding reaches `failOn`, else 0. */
export function exitCodeFor(outcome: ScanOutcome, failOn: FailOn): number {
  if (outcome.incomplete) return 2;
  if (failOn === 'none') return 0;
  const threshold = SEVERITY_ORDER[failOn];
  return outcome.report.findings.some((f) => SEVERITY_ORDER[f.rule.severity] >= threshold) ? 1 : 0;
}
