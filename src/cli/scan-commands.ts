/**
 * `rampart scan`: audit an API against the checklist, statically from its OpenAPI document (`--spec`) and
 * dynamically against a running instance (`--target`), with terminal, JSON, SARIF, JUnit and HTML reports.
 *
 * Exit codes: 0 no finding at or above `--fail-on` (default high); 1 findings at or above it; 2 the scan could not be
 * done or is incomplete (usage error, a spec that cannot be read, a bad baseline, a scan stopped before the end that
 * found nothing failing: a partial scan never passes).
 *
 * Ctrl-C stops the scan; the reports of what was found so far are still written (marked partial). A second Ctrl-C
 * exits at once.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { exitCodeFor, runScan, ScanUsageError, type FailOn } from '../scan/run.ts';
import type { ScanReport } from '../scan/model.ts';
import { FORMATS, planError, writeReports, type ReportFormat } from '../scan/report/index.ts';
import { printable } from '../scan/report/terminal.ts';

interface ScanCliOptions {
  spec: string[];
  target?: string;
  auth?: string;
  ca?: string;
  allowWrites?: boolean;
  maxRequests?: string;
  rate?: string;
  format: string[];
  out?: string;
  output?: string;
  failOn: FailOn;
  baseline?: string;
  writeBaseline?: string;
  verbose?: boolean;
  color?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerScanCommands(program: Command): void {
  program
    .command('scan')
    .description('audit an API against the checklist: statically from its OpenAPI document (--spec), dynamically against a running instance (--target)')
    .option('-s, --spec <file>', 'OpenAPI document (Swagger 2.0, OpenAPI 3.0/3.1; YAML or JSON); repeat for several', collect, [])
    .option('-t, --target <url>', 'base URL of a running instance to probe (dynamic scan)')
    .option('--auth <file>', 'with --target: credentials for up to two users and one admin (YAML, see its JSON Schema)')
    .option('--ca <file>', 'with --target: PEM file of a private CA to trust')
    .option('--allow-writes', 'with --target: allow POST/PUT/PATCH/DELETE probes')
    .option('--max-requests <n>', 'with --target: request budget')
    .option('--rate <n>', 'with --target: requests per second')
    .option('-f, --format <formats>', `report formats, comma-separated or repeated: ${FORMATS.join(', ')} (default terminal)`, collect, [])
    .option('--out <dir>', 'write each file format to DIR (rampart-scan.json, .sarif, .junit.xml, .html)')
    .option('-o, --output <file>', 'write the single file format to FILE')
    .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity').choices(['high', 'medium', 'low', 'none']).default('high'))
    .option('--baseline <file>', 'accept the findings listed in FILE (fingerprint, reason, expiry)')
    .option('--write-baseline <file>', 'write a baseline accepting every current finding (fill in the reasons)')
    .option('-v, --verbose', 'terminal: list every finding, not only high and medium ones')
    .option('--no-color', 'terminal: no colours')
    .action(async (options: ScanCliOptions) => {
      process.exitCode = await scanAction(options);
    });
}

function parseFormats(values: readonly string[]): ReportFormat[] {
  const out: ReportFormat[] = [];
  for (const value of values.flatMap((v) => v.split(','))) {
    const format = value.trim().toLowerCase();
    if (format === '') continue;
    if (!(FORMATS as readonly string[]).includes(format)) throw new ScanUsageError(`--format: unknown format "${format}" (one of ${FORMATS.join(', ')})`);
    if (!out.includes(format as ReportFormat)) out.push(format as ReportFormat);
  }
  return out.length > 0 ? out : ['terminal'];
}

function positiveNumber(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new ScanUsageError(`${name}: must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return n;
}

async function scanAction(options: ScanCliOptions): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\nrampart scan: stopping (Ctrl-C again to quit without reports)…\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const formats = parseFormats(options.format);
    const plan = { formats, ...(options.out !== undefined ? { outDir: options.out } : {}), ...(options.output !== undefined ? { outFile: options.output } : {}) };
    const problem = planError(plan);
    if (problem) throw new ScanUsageError(problem);
    if (options.spec.length === 0 && !options.target) throw new ScanUsageError('give --spec FILE (and --target URL for a dynamic scan)');
    for (const flag of ['auth', 'ca', 'allowWrites', 'maxRequests', 'rate'] as const) {
      if (options[flag] !== undefined && !options.target) throw new ScanUsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --target`);
    }
    if (options.target !== undefined) {
      let url: URL;
      try {
        url = new URL(options.target);
      } catch {
        throw new ScanUsageError(`--target: not a URL: ${options.target}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ScanUsageError('--target: must be an http:// or https:// URL');
    }
    const maxRequests = positiveNumber('--max-requests', options.maxRequests, true);
    const ratePerSecond = positiveNumber('--rate', options.rate, false);
    const outcome = await runScan({
      specs: options.spec,
      signal: controller.signal,
      progress: progressPrinter(),
      allowWrites: options.allowWrites === true,
      ...(options.target !== undefined ? { target: options.target } : {}),
      ...(options.auth !== undefined ? { authFile: options.auth } : {}),
      ...(options.ca !== undefined ? { caFile: options.ca } : {}),
      ...(maxRequests !== undefined ? { maxRequests } : {}),
      ...(ratePerSecond !== undefined ? { ratePerSecond } : {}),
      ...(options.baseline !== undefined ? { baseline: options.baseline } : {}),
    });
    const color = options.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR;
    const written = writeReports(outcome.report, plan, (text) => process.stdout.write(text), { color, verbose: options.verbose === true });
    for (const file of written) process.stderr.write(`rampart scan: wrote ${file}\n`);
    if (options.writeBaseline !== undefined) {
      const file = resolve(options.writeBaseline);
      // Loaded only here (it brings the `yaml` serialiser): most scans write no baseline.
      const { baselineFor } = await import('../scan/baseline.ts');
      writeFileSync(file, baselineFor(outcome.report, new Date()));
      process.stderr.write(`rampart scan: wrote baseline ${file} (${outcome.report.findings.length + outcome.report.suppressed.length} entries: fill in the reasons)\n`);
    }
    for (const line of unauditableSpecLines(outcome.report)) process.stderr.write(`${line}\n`);
    const code = exitCodeFor(outcome, options.failOn);
    // A partial scan never passes: what was not probed may hold the findings.
    if (code === 0 && outcome.report.partial) return 2;
    return code;
  } catch (error) {
    // An error may quote the spec, the baseline or the target's answer: escaped like the reports.
    process.stderr.write(`rampart scan: ${printable(error instanceof Error ? error.message.split('\n')[0]! : String(error))}\n`);
    return 2;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/**
 * One stderr line per spec the loader refused (`spec.invalid`). The message quotes the document (a security scheme,
 * schema or path name of its author's choosing): it goes through the terminal report's `printable`, so escape
 * sequences, bidi and line-separator characters in it are shown (`\u001b`), never run by the operator's terminal.
 */
export function unauditableSpecLines(report: Pick<ScanReport, 'findings'>): string[] {
  return report.findings
    .filter((f) => f.rule.id === 'spec.invalid')
    .map((spec) => `rampart scan: ${printable(`${spec.locations[0]?.kind === 'spec' ? spec.locations[0].file : 'spec'}: cannot be audited: ${spec.message}`)}`);
}

/** A progress bar on a terminal; in CI (no TTY) a plain line at every tenth of the way. */
function progressPrinter(): (done: number, total: number | undefined, message?: string) => void {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  let lastDecile = -1;
  return (done, total, message) => {
    if (tty) {
      const width = 30;
      const ratio = total ? Math.min(1, done / total) : 0;
      const bar = total ? `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '.')}] ${done}/${total}` : `${done}`;
      // The phase names an operation of the spec (`injection: GET /{path}`): escaped like the reports.
      process.stderr.write(`\r${bar} ${printable(message ?? '').slice(0, 60).padEnd(60)}`);
      if (total && done >= total) process.stderr.write('\n');
      return;
    }
    const decile = total ? Math.floor((done / total) * 10) : Math.floor(done / 100);
    if (decile === lastDecile) return;
    lastDecile = decile;
    process.stderr.write(`rampart scan: ${done}${total ? `/${total}` : ''} requests${message ? `: ${printable(message)}` : ''}\n`);
  };
}
