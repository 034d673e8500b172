/**
 * `rampart audit verify` and `rampart audit export`: check and read the tamper-evident audit chain (issue 6 point 3).
 *
 *   rampart audit verify -c CONFIG [--expect-head SEQ:HASH] [--json]
 *   rampart audit verify --store sqlite:./audit.db|postgres://… [--chain-key-env NAME] [--schema S]
 *   rampart audit export -c CONFIG [--since 2026-11-01T00:00:00Z|1h] [--until …] [--format jsonl]
 *
 * `verify` exits 0 with the number of entries and the head (seq and hash: note it somewhere else, and a later
 * `--expect-head` proves the chain was not cut back), or 1 naming the first broken link: its seq and what is wrong
 * (edited, missing, reordered). The chain key is never taken on the command line (it would show in `ps`): from the
 * config (`audit.chainKey`, or derived from `keyring.masterKey`) or from an environment variable.
 *
 * Exit codes follow `rampart`: 0 success, 1 failure (broken chain, store error, invalid config), 2 usage error.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ChainHasher, ChainMismatchError } from '../audit/chain.ts';
import { openConfiguredAuditStore, type AuditConfigSource, type AuditLogger } from '../audit/configured.ts';
import { openAuditStore, describeStoreUrl, type AuditStore } from '../audit/store.ts';
import { SCHEMA_NAME } from '../audit/postgres.ts';
import { formatStoredTime } from '../audit/stored-time.ts';
import { parseTimeArgument, TimeArgumentError } from '../audit/time.ts';
import type { ChainHead } from '../audit/chain.ts';
import { loadConfigFile } from '../config/load.ts';
import { MasterKeyError, parseMasterKey } from '../crypto/master-key.ts';
import { CommandError, UsageError, guard, out, printConfigErrors } from './shared.ts';

interface StoreOptions {
  config?: string;
  store?: string;
  chainKeyEnv?: string;
  schema?: string;
}

/** Warnings (a development master key file, an unkeyed chain) on stderr, so stdout stays machine-readable. */
export const stderrLogger: AuditLogger = {
  warn: (_details, message) => void process.stderr.write(`warning: ${message}\n`),
  error: (_details, message) => void process.stderr.write(`error: ${message}\n`),
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Loads a config for the audit commands; invalid config: its errors and exit 1 (undefined returned). */
export function loadAuditConfig(file: string): (AuditConfigSource & { file: string }) | undefined {
  const path = resolve(file);
  const result = loadConfigFile(path);
  if (!result.ok) {
    printConfigErrors(file, result.errors);
    process.exitCode = 1;
    return undefined;
  }
  return { ...result.config, file: path };
}

function hasherFromEnv(name: string | undefined): ChainHasher {
  if (name === undefined) return new ChainHasher();
  if (!ENV_NAME.test(name)) throw new UsageError('--chain-key-env must name an environment variable');
  const text = process.env[name];
  if (text === undefined || text === '') throw new UsageError(`environment variable ${name} is not set`);
  try {
    return new ChainHasher(parseMasterKey(text));
  } catch (error) {
    if (error instanceof MasterKeyError) throw new UsageError(`${name}: ${error.message.replace(/master key/g, 'chain key')}`);
    throw error;
  }
}

/** Opens the chain named by `--store` or by the config's `audit:`; undefined when the config was invalid. */
async function openStore(options: StoreOptions): Promise<AuditStore | undefined> {
  if ((options.config === undefined) === (options.store === undefined)) throw new UsageError('give either -c/--config or --store');
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) throw new UsageError('--schema must be lower-case letters, digits and "_"');
  try {
    if (options.store !== undefined) {
      return await openAuditStore(options.store, {
        hasher: hasherFromEnv(options.chainKeyEnv),
        mustExist: true,
        ...(options.schema ? { schema: options.schema } : {}),
      });
    }
    if (options.chainKeyEnv !== undefined) throw new UsageError('--chain-key-env goes with --store; with a config the key comes from audit.chainKey');
    const config = loadAuditConfig(options.config!);
    if (config === undefined) return undefined;
    return await openConfiguredAuditStore(config, { logger: stderrLogger });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const hint = error instanceof ChainMismatchError && options.store !== undefined ? ' (give the key with --chain-key-env NAME)' : '';
    // Store URLs may carry a password: messages name the store without it.
    const where = options.store !== undefined ? ` ${describeStoreUrl(options.store)}` : '';
    throw new CommandError(`cannot open the audit store${where}: ${(error as Error).message}${hint}`);
  }
}

function parseHead(text: string): ChainHead {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!match) throw new UsageError('--expect-head must be SEQ:HASH (as printed by verify), e.g. 42:3f0c…');
  return { seq: Number(match[1]), hash: match[2]! };
}

function timeOption(text: string | undefined, what: string, now: number): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseTimeArgument(text, now);
  } catch (error) {
    if (error instanceof TimeArgumentError) throw new UsageError(`${what}: ${error.message}`);
    throw error;
  }
}

function storeOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'gateway config whose audit: section names the store and key')
    .option('--store <url>', 'sqlite:<path> or postgres://… instead of a config')
    .option('--chain-key-env <name>', 'with --store: environment variable holding the chain key (keyed chains)')
    .option('--schema <name>', 'with --store postgres://…: the schema of the chain (default rampart_audit)');
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log: verify the chain, export entries');

  storeOptions(audit.command('verify'))
    .description('walk the hash chain: exit 0 with the count when intact, 1 naming the first broken link')
    .option('--expect-head <seq:hash>', 'a head printed by an earlier verify: it must still be part of the chain')
    .option('--json', 'print the result as JSON')
    .action((options: StoreOptions & { expectHead?: string; json?: boolean }) =>
      guard(async () => {
        const expectHead = options.expectHead === undefined ? undefined : parseHead(options.expectHead);
        const store = await openStore(options);
        if (store === undefined) return;
        try {
          const report = await store.verify(expectHead ? { expectHead } : {});
          if (options.json) {
            out(JSON.stringify(report));
          } else if (report.ok) {
            out(`audit chain intact: ${report.count} entr${report.count === 1 ? 'y' : 'ies'}; head seq ${report.head.seq} hash ${report.head.hash}`);
          } else {
            out(`audit chain BROKEN at seq ${report.broken!.seq} (${report.broken!.kind}): ${report.broken!.message}`);
            out(`${report.count} entr${report.count === 1 ? 'y' : 'ies'} verified before the break; last intact: seq ${report.head.seq} hash ${report.head.hash}`);
          }
          process.exitCode = report.ok ? 0 : 1;
        } catch (error) {
          if (error instanceof ChainMismatchError) throw new CommandError(error.message);
          throw error;
        } finally {
          await store.close();
        }
      }),
    );

  storeOptions(audit.command('export'))
    .description('print audit entries as JSON lines (with seq, prev and hash, so the export can be verified elsewhere)')
    .option('--since <time>', 'RFC 3339 time, YYYY-MM-DD, or a duration back from now (1h, 7d)')
    .option('--until <time>', 'same forms; entries before this time')
    .option('--format <format>', 'jsonl', 'jsonl')
    .action((options: StoreOptions & { since?: string; until?: string; format: string }) =>
      guard(async () => {
        if (options.format !== 'jsonl') throw new UsageError('--format: only jsonl is supported');
        const now = Date.now();
        const since = timeOption(options.since, '--since', now);
        const until = timeOption(options.until, '--until', now);
        const store = await openStore(options);
        if (store === undefined) return;
        try {
          for await (const entry of store.read({ ...(since !== undefined ? { sinceTime: since } : {}), ...(until !== undefined ? { untilTime: until } : {}) })) {
            // JSON.stringify escapes control characters, so hostile strings cannot drive the terminal.
            const line = JSON.stringify({ ...entry, at: formatStoredTime(entry.time) }) + '\n';
            if (!process.stdout.write(line)) await new Promise((r) => process.stdout.once('drain', r));
          }
        } finally {
          await store.close();
        }
      }),
    );
}
