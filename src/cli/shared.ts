/**
 * What the store-managing commands (`consumers`, `api-keys`, `clients`) share: one-line errors with the exit codes
 * of `rampart` (0 success, 1 failure, 2 usage error), loading the config and opening the same store, with the same
 * master key, as the gateway (storage/configured.ts), and parsing comma-separated lists.
 */
import { resolve } from 'node:path';
import { AuditTrailError, CliAuditTrail, type CliAuditEvent } from '../audit/cli-trail.ts';
import { formatStoredTime } from '../audit/stored-time.ts';
import { loadConfigFile, type GatewayConfig } from '../config/load.ts';
import { printable } from '../scan/report/terminal.ts';
import { openConfiguredStores, type WarningSink } from '../storage/configured.ts';
import type { DamagedRecordHandler, StoreCorruptError, Stores } from '../storage/ports.ts';

/** Bad arguments: exit code 2. */
export class UsageError extends Error {}
/** A command that could not do its work (unknown record, store error): exit code 1. */
export class CommandError extends Error {}

export const MAX_LIST_ITEMS = 64;
/** Labels shown in listings and logs: printable, no control characters. */
export const LABEL_PATTERN = /^[\x20-\x7e]{1,128}$/;

export interface StoreContext {
  readonly config: GatewayConfig;
  /** The config file, as an absolute path. */
  readonly configFile: string;
  readonly stores: Stores;
  readonly pepper: Buffer;
}

const stderrWarnings: WarningSink = {
  warn: (_details, message) => process.stderr.write(`warning: ${message}\n`),
};

export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** A stored time for a table cell: ISO 8601 to the second, `-` for none, a marker for a damaged one (stored-time.ts). */
export function isoTime(ms: number | null): string {
  return ms === null ? '-' : formatStoredTime(ms).replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The records a listing left out because they do not decode (storage/ports.ts `DamagedRecordHandler`). Listings are
 * operator commands: one damaged row must neither hide every other row nor pass unnoticed. Pass `onDamaged` to the
 * store's list method, print the readable rows as usual, then `reportDamaged`.
 */
export class DamagedRecords {
  readonly errors: StoreCorruptError[] = [];
  readonly onDamaged: DamagedRecordHandler = (error) => {
    this.errors.push(error);
  };
}

// Control, format (bidi overrides, zero-width) and line-separator characters: a stored id is input, and must not
// be able to rewrite the operator's terminal line.
const UNSAFE_IN_TERMINAL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** A stored value quoted for one terminal line: JSON string syntax, with invisible and control characters escaped. */
export function quoteForTerminal(value: string): string {
  return JSON.stringify(value).replace(UNSAFE_IN_TERMINAL, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** `damaged record: api_keys "key_…": column scopes is not valid JSON` (table, id and reason: never the value). */
export function damagedRecordLine(error: StoreCorruptError): string {
  return `damaged record: ${error.table} ${quoteForTerminal(error.recordId)}: ${error.reason}`;
}

/**
 * After the readable rows: one line per damaged record on standard error (so `--json` output on standard output
 * stays valid JSON), and exit code 1 (failure, as the `rampart` convention has it) so that scripts notice.
 */
export function reportDamaged(errors: readonly StoreCorruptError[], err: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): void {
  for (const error of errors) err(damagedRecordLine(error));
  if (errors.length > 0) process.exitCode = 1;
}

/**
 * The lines `printConfigErrors` prints. Config errors quote the config and the OpenAPI documents it loads (names of
 * routes, security schemes, operations): each goes through the scan report's `printable` so that a document's author
 * cannot clear the operator's screen, retitle the window or print a fake result (one line per error, controls,
 * bidi and line-separator characters shown as `\u001b`).
 */
export function configErrorLines(file: string, errors: readonly string[]): string[] {
  return [`${printable(file)}: ${errors.length} error${errors.length === 1 ? '' : 's'}`, ...errors.map((error) => `  ${printable(error)}`)];
}

export function printConfigErrors(file: string, errors: readonly string[]): void {
  for (const line of configErrorLines(file, errors)) console.error(line);
}

/** Runs an action: usage errors exit 2, other failures exit 1, both as one line on stderr, never a stack. */
export async function guard(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    // Messages can quote a store, a document or a server's answer: escaped like every other line of untrusted text.
    console.error(`rampart: ${printable(error instanceof Error ? error.message : String(error))}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}

/**
 * Loads the config, opens its stores, runs `body`, closes the stores. An in-memory store is refused: what the
 * command writes (`writes`, e.g. "a client added here") would vanish when it exits.
 */
export async function withConfiguredStores(configFile: string, writes: string, body: (context: StoreContext) => Promise<void>): Promise<void> {
  const result = loadConfigFile(resolve(configFile));
  if (!result.ok) {
    printConfigErrors(configFile, result.errors);
    process.exitCode = 1;
    return;
  }
  const { config } = result;
  const file = resolve(configFile);
  if (config.storage === 'memory:' || config.storage === 'sqlite::memory:') {
    throw new CommandError(`storage is ${config.storage}: ${writes} would vanish when this command exits; configure storage: sqlite:<path>`);
  }
  let opened;
  try {
    opened = await openConfiguredStores(config, { logger: stderrWarnings });
  } catch (error) {
    throw new CommandError(`cannot open the store: ${(error as Error).message}`);
  }
  try {
    await body({ config, configFile: file, stores: opened.stores, pepper: opened.pepper });
  } finally {
    await opened.stores.close();
  }
}

/**
 * Opens the audit trail of the config (audit/cli-trail.ts; a disabled one without `audit:`), runs `body`, closes it.
 * Call it before changing anything: a trail that cannot be opened refuses the command while nothing has happened.
 */
export async function withAuditTrail<T>(config: GatewayConfig, configFile: string, body: (trail: CliAuditTrail) => Promise<T>): Promise<T> {
  let trail: CliAuditTrail;
  try {
    // No logger: the stores, opened first with the same keys, have already printed any key warning.
    trail = await CliAuditTrail.open(config, configFile);
  } catch (error) {
    throw new CommandError(`cannot open the audit log (audit:): ${(error as Error).message}; nothing was changed`);
  }
  try {
    return await body(trail);
  } finally {
    await trail.close().catch(() => undefined);
  }
}

/** `withConfiguredStores` with the config's audit trail opened too (for commands that change something). */
export function withAuditedStores(configFile: string, writes: string, body: (context: StoreContext & { readonly trail: CliAuditTrail }) => Promise<void>): Promise<void> {
  return withConfiguredStores(configFile, writes, (context) => withAuditTrail(context.config, context.configFile, (trail) => body({ ...context, trail })));
}

/**
 * Records a change that was made (and already reported on standard output). When the audit store refuses the
 * entries the command fails (exit 1) saying so: the change stays (it cannot be undone atomically with the audit
 * append, audit/cli-trail.ts explains why), and the operator learns that the log misses it.
 */
export async function recordChange(trail: CliAuditTrail, ...events: CliAuditEvent[]): Promise<void> {
  try {
    await trail.emit(...events);
  } catch (error) {
    if (error instanceof AuditTrailError) throw new CommandError(`the change above WAS made, but ${error.message}; record it by hand`);
    throw error;
  }
}

/** A comma-separated list (`--roles a,b`) whose entries match `pattern`, de-duplicated in order. */
export function tokenList(text: string, what: string, pattern: RegExp): string[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const item of items) {
    if (!pattern.test(item)) {
      throw new UsageError(`${what}: each entry must be 1 to 64 characters: letters, digits, ":", ".", "_" or "-", starting with a letter or digit`);
    }
  }
  if (items.length > MAX_LIST_ITEMS) throw new UsageError(`${what}: at most ${MAX_LIST_ITEMS} entries`);
  return [...new Set(items)];
}
