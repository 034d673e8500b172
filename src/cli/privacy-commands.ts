/**
 * `rampart privacy`: data subject requests, retention and the record of processing (issue 7 point 5, checklist
 * item 16; docs/privacy.md maps them to GDPR articles 15, 17, 30, 32 and the CCPA).
 *
 *   rampart privacy export --subject ID -c CONFIG [--kind user|consumer|client] [--out FILE]
 *   rampart privacy erase  --subject ID -c CONFIG [--kind …] [--reference TICKET] [--yes] [--json]
 *   rampart privacy report -c CONFIG [--format markdown|json] [--out FILE]
 *   rampart privacy purge  -c CONFIG [--json]
 *
 * `erase` without `--yes` is a dry run: it prints what it would erase and changes nothing. Files written with
 * `--out` hold personal data: created owner-only (0600), never overwritten.
 *
 * Exit codes follow `rampart`: 0 success, 1 failure (invalid config, store error), 2 usage error (a bad or reserved
 * subject id, an id naming records of several kinds without --kind).
 *
 * A record of the subject that the store cannot decode does not stop `export` or `erase`: the export lists it under
 * `damaged` (and says so on standard error, since the document may go to a file), the erasure erases it with the rest
 * and names it. Both still exit 0: the request was answered completely, damaged records included.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openConfiguredAuditStore, openConfiguredEventsStore, resolveAuditSettings } from '../audit/configured.ts';
import { retentionOf } from '../audit/retention.ts';
import type { AuditStore } from '../audit/store.ts';
import { loadConfigFile, type GatewayConfig } from '../config/load.ts';
import type { EventsStore } from '../events-store/types.ts';
import { openPrivacyContext, type OpenedPrivacyContext } from '../privacy/subject/context.ts';
import { ErasureError, eraseSubject, type ErasureReport } from '../privacy/subject/erase.ts';
import { exportSubject } from '../privacy/subject/export.ts';
import { buildProcessingRecord, formatProcessingRecord } from '../privacy/subject/report.ts';
import { runRetention } from '../privacy/subject/retention.ts';
import { SUBJECT_KINDS, SubjectError, checkSubjectId, resolveSubject, type DamagedRecord, type ResolvedSubject, type SubjectKind } from '../privacy/subject/subject.ts';
import { openConfiguredStores } from '../storage/configured.ts';
import { stderrLogger } from './audit-commands.ts';
import { CommandError, UsageError, guard, out, printConfigErrors, quoteForTerminal } from './shared.ts';

interface SubjectOptions {
  subject: string;
  config: string;
  kind?: string;
}

function loadConfig(file: string): GatewayConfig | undefined {
  const result = loadConfigFile(resolve(file));
  if (!result.ok) {
    printConfigErrors(file, result.errors);
    process.exitCode = 1;
    return undefined;
  }
  return result.config;
}

function kindOption(kind: string | undefined): SubjectKind | undefined {
  if (kind === undefined) return undefined;
  if (!(SUBJECT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${SUBJECT_KINDS.join(', ')}`);
  return kind as SubjectKind;
}

/** Personal data goes to a new file only: owner-only, never over an existing file. */
function writeOut(file: string, text: string): void {
  try {
    writeFileSync(resolve(file), text, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CommandError(code === 'EEXIST' ? `${file} exists; choose a new file (exports are never overwritten)` : `cannot write ${file}: ${code ?? 'error'}`);
  }
}

function refuseMemory(config: GatewayConfig): void {
  if (config.storage === 'memory:' || config.storage === 'sqlite::memory:') {
    throw new CommandError(`storage is ${config.storage}: its records live in the gateway process only; nothing to read from here`);
  }
}

/** Subject errors are usage errors (exit 2); the message never echoes a long or hostile id. */
function usage<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof SubjectError || error instanceof ErasureError) throw new UsageError(error.message);
    throw error;
  }
}

async function withSubject(options: SubjectOptions, body: (context: OpenedPrivacyContext, subject: ResolvedSubject) => Promise<void>): Promise<void> {
  usage(() => checkSubjectId(options.subject));
  const kind = kindOption(options.kind);
  const config = loadConfig(options.config);
  if (config === undefined) return;
  refuseMemory(config);
  let context: OpenedPrivacyContext;
  try {
    context = await openPrivacyContext(config, { logger: stderrLogger });
  } catch (error) {
    throw new CommandError(`cannot open the stores: ${(error as Error).message}`);
  }
  try {
    let subject: ResolvedSubject;
    try {
      subject = await resolveSubject(context.stores.identities, options.subject, kind);
    } catch (error) {
      throw error instanceof SubjectError ? new UsageError(error.message) : error;
    }
    await body(context, subject);
  } finally {
    await context.close();
  }
}

/** `api_keys "key_…": column scopes is not valid JSON` and what that limits, if anything (never the stored value). */
function damagedText(record: DamagedRecord): string {
  return `${record.table} ${quoteForTerminal(record.id)}: ${record.reason}${record.note === undefined ? '' : ` (${record.note})`}`;
}

function printErasure(report: ErasureReport): void {
  const id = report.identity;
  out(report.applied ? `erased: ${report.erasure}` : 'DRY RUN: nothing was changed; run again with --yes to erase');
  out(`subject: ${JSON.stringify(report.subject.query)} (${report.subject.kind}); erasure reference ${report.subject.ref}`);
  const records = [
    id.user ? 'user (with TOTP seed, recovery codes, passkeys)' : '',
    id.consumer ? `consumer with ${id.apiKeys} API key(s)` : '',
    id.oauthClient ? 'OAuth client' : '',
    `${id.sessions} session(s)`,
    `${id.refreshTokenFamilies} refresh-token famil${id.refreshTokenFamilies === 1 ? 'y' : 'ies'}`,
  ].filter(Boolean);
  out(`records: ${records.join(', ')}`);
  for (const record of report.damaged) {
    out(`damaged record: ${damagedText(record)} (unreadable; counted above and ${report.applied ? 'erased' : 'would be erased'} all the same)`);
  }
  if (report.audit !== null) {
    const a = report.audit;
    out(`audit (${a.store}): ${a.erased} entr${a.erased === 1 ? 'y' : 'ies'} ${report.applied ? 'replaced by' : 'would become'} tombstones${a.recordSeq === null ? '' : `; recorded at seq ${a.recordSeq}`}`);
    if (a.notErasable.length > 0) {
      out(`audit: ${a.notErasable.length} entr${a.notErasable.length === 1 ? 'y' : 'ies'} in format 1 cannot be erased in place (seq ${a.notErasable.slice(0, 20).join(', ')}${a.notErasable.length > 20 ? ', …' : ''}); they leave with privacy.retention.audit`);
    }
  } else out('audit: not configured');
  out(report.events === null ? 'events: not configured' : `events (${report.events.store}): ${report.events.deleted} row(s) ${report.applied ? 'deleted' : 'would be deleted'}`);
  for (const note of report.notErased) out(`not erased here: ${note}`);
}

export function registerPrivacyCommands(program: Command): void {
  const privacy = program.command('privacy').description('data subject export and erasure, retention, record of processing (GDPR art. 15, 17, 30)');

  privacy
    .command('export')
    .description('write everything Rampart holds about a subject as JSON (no secrets: see "omitted")')
    .requiredOption('--subject <id>', 'user id or username, consumer id or name, OAuth client id, or an external subject (JWT sub)')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--kind <kind>', `when the id names several kinds of record: ${SUBJECT_KINDS.join('|')}`)
    .option('--out <file>', 'write to this new file (0600) instead of standard output')
    .action((options: SubjectOptions & { out?: string }) =>
      guard(async () => {
        await withSubject(options, async (context, subject) => {
          const exported = await exportSubject(context, subject);
          const text = JSON.stringify(exported, null, 2) + '\n';
          if (options.out !== undefined) writeOut(options.out, text);
          else out(text.trimEnd());
          for (const record of exported.damaged) process.stderr.write(`warning: damaged record: ${damagedText(record)} (listed under "damaged" in the export)\n`);
        });
      }),
    );

  privacy
    .command('erase')
    .description('erase a subject: records, sessions, keys, events; audit entries become tombstones (the chain still verifies)')
    .requiredOption('--subject <id>', 'as for export')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--kind <kind>', `when the id names several kinds of record: ${SUBJECT_KINDS.join('|')}`)
    .option('--reference <text>', 'request or ticket reference to store in the erasure record')
    .option('--yes', 'really erase (without it: a dry run)')
    .option('--json', 'print the report as JSON')
    .action((options: SubjectOptions & { reference?: string; yes?: boolean; json?: boolean }) =>
      guard(async () => {
        await withSubject(options, async (context, subject) => {
          let report: ErasureReport;
          try {
            report = await eraseSubject(context, subject, { apply: options.yes === true, ...(options.reference !== undefined ? { reference: options.reference } : {}) });
          } catch (error) {
            if (error instanceof ErasureError) throw new UsageError(error.message);
            throw new CommandError(`erasure failed (run it again to finish; every step is idempotent): ${(error as Error).message}`);
          }
          if (options.json) out(JSON.stringify(report, null, 2));
          else printErasure(report);
        });
      }),
    );

  privacy
    .command('report')
    .description('a record of processing (GDPR art. 30, draft): personal data per route, stores and retention, security measures')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--format <format>', 'markdown or json', 'markdown')
    .option('--out <file>', 'write to this new file instead of standard output')
    .action((options: { config: string; format: string; out?: string }) =>
      guard(async () => {
        if (options.format !== 'markdown' && options.format !== 'json') throw new UsageError('--format must be markdown or json');
        const config = loadConfig(options.config);
        if (config === undefined) return;
        let events: EventsStore | undefined;
        try {
          const settings = resolveAuditSettings(config.document);
          if (settings.events !== undefined && settings.events.store !== 'memory:') events = openConfiguredEventsStore(config);
        } catch (error) {
          stderrLogger.warn({}, `events store not read (observed PII findings left out): ${(error as Error).message}`);
        }
        try {
          const record = await buildProcessingRecord(config, { configFile: options.config, ...(events ? { events } : {}) });
          const text = options.format === 'json' ? JSON.stringify(record, null, 2) + '\n' : formatProcessingRecord(record);
          if (options.out !== undefined) writeOut(options.out, text);
          else out(text.trimEnd());
        } finally {
          events?.close();
        }
      }),
    );

  privacy
    .command('purge')
    .description('apply privacy.retention once: sessions, events, audit (prune with an anchor); for cron or after a config change')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print the result as JSON')
    .action((options: { config: string; json?: boolean }) =>
      guard(async () => {
        const config = loadConfig(options.config);
        if (config === undefined) return;
        refuseMemory(config);
        const settings = resolveAuditSettings(config.document);
        const retention = retentionOf(config.document['privacy'] as Record<string, unknown> | undefined, config.document, []);
        const opened = await openConfiguredStores(config, { logger: stderrLogger }).catch((error: unknown) => {
          throw new CommandError(`cannot open the stores: ${(error as Error).message}`);
        });
        let audit: AuditStore | undefined;
        let events: EventsStore | undefined;
        try {
          if (settings.audit !== undefined && retention.auditMs !== undefined) audit = await openConfiguredAuditStore(config, { logger: stderrLogger });
          if (settings.events !== undefined && settings.events.store !== 'memory:') events = openConfiguredEventsStore(config);
          const result = await runRetention(
            {
              sessions: opened.stores.sessions,
              ...(audit ? { audit } : {}),
              ...(events ? { events, eventsRetentionMs: settings.events!.retentionMs, eventsMaxRows: settings.events!.maxRows } : {}),
            },
            retention,
            Date.now(),
          );
          if (options.json) out(JSON.stringify(result));
          else {
            const s = result.sessions;
            if (s) {
              const old = s.olderThanRetention;
              out(`sessions: ${s.expired.sessions} ended session(s), ${s.expired.refreshFamilies} expired refresh famil${s.expired.refreshFamilies === 1 ? 'y' : 'ies'}, ${s.expired.revokedAccessTokens} expired revocation(s) purged${old ? `; ${old.sessions} session(s) and ${old.refreshFamilies} famil${old.refreshFamilies === 1 ? 'y' : 'ies'} past privacy.retention.sessions` : ''}`);
            }
            out(result.audit ? `audit: ${result.audit.pruned} entr${result.audit.pruned === 1 ? 'y' : 'ies'} pruned; the chain starts after seq ${result.audit.anchorSeq ?? 0}` : 'audit: no privacy.retention.audit (kept)');
            out(result.events ? `events: ${result.events.deleted} row(s) deleted` : 'events: not configured');
            out('access logs: rotated and deleted by the log shipper (privacy.retention.accessLogs), not by Rampart');
          }
        } finally {
          events?.close();
          await audit?.close();
          await opened.stores.close();
        }
      }),
    );
}
