/**
 * `rampart events`: query the security events store (issue 6 point 6).
 *
 *   rampart events -c CONFIG [--since 1h] [--until …] [--severity high] [--type auth.*] [--limit N] [--json]
 *   rampart events --store sqlite:./rampart-events.db …
 *
 * Prints a table (oldest first) or, with `--json`, one JSON object per line. Event fields can hold attacker-chosen
 * text (a CSP report's URL, a refused path): every cell is printed with control characters escaped, so a stored
 * event cannot move the cursor or recolour the operator's terminal.
 *
 * Exit codes follow `rampart`: 0 success (also when nothing matches), 1 failure, 2 usage error.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openConfiguredEventsStore } from '../audit/configured.ts';
import { describeStoreUrl } from '../audit/store.ts';
import { formatStoredTime } from '../audit/stored-time.ts';
import { parseTimeArgument, TimeArgumentError } from '../audit/time.ts';
import { openEventsStore, SEVERITIES, EventsStoreError, MAX_QUERY_LIMIT, type EventsStore, type StoredEvent } from '../events-store/index.ts';
import type { Severity } from '../observe/events.ts';
import { loadAuditConfig, stderrLogger } from './audit-commands.ts';
import { CommandError, UsageError, guard, isoTime, out } from './shared.ts';

interface EventsOptions {
  config?: string;
  store?: string;
  since: string;
  until?: string;
  severity?: string;
  type: string[];
  limit: string;
  json?: boolean;
}

const DETAILS_WIDTH = 160;

/** Escapes C0/C1 control characters (and DEL) so a cell is one harmless line. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function formatEventsTable(events: readonly StoredEvent[]): string[] {
  const header = ['TIME', 'SEVERITY', 'TYPE', 'ROUTE', 'CLIENT', 'REQUEST', 'DETAILS'];
  const rows = events.map((e) => {
    const details = JSON.stringify(e.details);
    return [
      isoTime(e.time),
      e.severity,
      printable(e.type),
      printable(e.route ?? '-'),
      printable(e.client ?? '-'),
      printable(e.requestId ?? '-'),
      printable(details.length > DETAILS_WIDTH ? `${details.slice(0, DETAILS_WIDTH - 1)}…` : details),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

function openStore(options: EventsOptions): EventsStore | undefined {
  if ((options.config === undefined) === (options.store === undefined)) throw new UsageError('give either -c/--config or --store');
  try {
    if (options.store !== undefined) {
      if (options.store.startsWith('sqlite:') && !options.store.startsWith('sqlite::memory:')) {
        // A mistyped path must not create an empty store and report "no events".
        const path = options.store.slice('sqlite:'.length);
        if (!existsSync(path)) throw new CommandError(`no events store at ${path}`);
      }
      return openEventsStore(options.store);
    }
    const config = loadAuditConfig(options.config!);
    if (config === undefined) return undefined;
    return openConfiguredEventsStore(config, { logger: stderrLogger });
  } catch (error) {
    if (error instanceof CommandError) throw error;
    const where = options.store !== undefined ? ` ${describeStoreUrl(options.store)}` : '';
    throw new CommandError(`cannot open the events store${where}: ${(error as Error).message}`);
  }
}

export function registerEventsCommands(program: Command): void {
  program
    .command('events')
    .description('query the security events store: newest matching events, printed oldest first')
    .option('-c, --config <file>', 'gateway config whose events: section names the store')
    .option('--store <url>', 'sqlite:<path> instead of a config')
    .option('--since <time>', 'RFC 3339 time, YYYY-MM-DD, or a duration back from now', '1h')
    .option('--until <time>', 'same forms; events before this time')
    .option('--severity <level>', `at least this severity: ${SEVERITIES.join(', ')}`)
    .option('--type <type>', 'event type, or a prefix such as auth.* (repeatable, or comma-separated)', collect, [])
    .option('--limit <n>', `at most this many events, the newest (at most ${MAX_QUERY_LIMIT})`, '1000')
    .option('--json', 'one JSON object per line')
    .action((options: EventsOptions) =>
      guard(async () => {
        const now = Date.now();
        let since: number;
        let until: number | undefined;
        try {
          since = parseTimeArgument(options.since, now);
          until = options.until === undefined ? undefined : parseTimeArgument(options.until, now);
        } catch (error) {
          if (error instanceof TimeArgumentError) throw new UsageError(error.message);
          throw error;
        }
        if (options.severity !== undefined && !(SEVERITIES as readonly string[]).includes(options.severity)) {
          throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}`);
        }
        if (!/^\d{1,7}$/.test(options.limit) || Number(options.limit) < 1 || Number(options.limit) > MAX_QUERY_LIMIT) {
          throw new UsageError(`--limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
        }
        const store = openStore(options);
        if (store === undefined) return;
        try {
          let events: StoredEvent[];
          try {
            events = store.query({
              since,
              ...(until !== undefined ? { until } : {}),
              ...(options.severity !== undefined ? { minSeverity: options.severity as Severity } : {}),
              ...(options.type.length > 0 ? { types: options.type } : {}),
              limit: Number(options.limit),
            });
          } catch (error) {
            if (error instanceof EventsStoreError) throw new UsageError(error.message);
            throw error;
          }
          if (options.json) {
            for (const e of events) out(JSON.stringify({ ...e, at: formatStoredTime(e.time) }));
          } else if (events.length === 0) {
            out('no matching events');
          } else {
            for (const line of formatEventsTable(events)) out(line);
          }
        } finally {
          store.close();
        }
      }),
    );
}
