/**
 * `rampart keyring …`: the key ring of the SQLite store (crypto/keyring.ts), issue 7 point 3.
 *
 *   rampart keyring status -c CONFIG [--json]
 *   rampart keyring rotate -c CONFIG --new-key-env NAME
 *   rampart keyring rotate-data-key -c CONFIG
 *
 * `status` lists the entries (id, purpose, created, retired, active) and whether the configured master key opens the
 * ring; never key material. `rotate` re-wraps every entry under the master key held in the environment variable NAME
 * (a key on the command line would show in `ps` and in shell history), in one transaction, while gateways keep
 * serving with the keys they hold; values still sealed under the old master key's derived key (SecretBox v1) are
 * re-sealed in the same transaction. From the commit on only the new key opens the store: set `keyring.masterKey` to
 * it before any gateway or command next starts (a development key file beside the database is replaced with it).
 * `rotate-data-key` makes a new data key active now (the schedule is `keyring.rotateDataKeysEvery`).
 *
 * With `audit:` configured, `rotate` and `rotate-data-key` append `key.rotated` to the audit chain (which key kind,
 * the store, how many entries; never key material). The chain is opened before the change, while the current master
 * key still opens the ring that holds the chain key (audit/cli-trail.ts: cannot open, nothing changed; cannot append
 * after the change, exit 1 after saying what was done).
 *
 * Exit codes follow `rampart`: 0 success, 1 failure (wrong key, store error, invalid config), 2 usage error.
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile, type GatewayConfig } from '../config/load.ts';
import { KeyRingError, inspectKeyRing, type KeyRing } from '../crypto/keyring.ts';
import { MasterKeyError, parseMasterKey } from '../crypto/master-key.ts';
import { SecretBox } from '../crypto/secret-box.ts';
import { keyRingSettingsOf, resolveMasterKey, sqliteFilePath, type WarningSink } from '../storage/configured.ts';
import { SqliteKeyRingStorage, openSqliteDatabase, openSqliteKeyRing, resealLegacyValues } from '../storage/sqlite/index.ts';
import { CommandError, UsageError, guard, isoTime, out, printConfigErrors, recordChange, withAuditTrail } from './shared.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const stderrWarnings: WarningSink = {
  warn: (_details, message) => void process.stderr.write(`warning: ${message}\n`),
};

interface Target {
  readonly config: GatewayConfig;
  /** The config file, absolute. */
  readonly configFile: string;
  /** Absolute path of the SQLite file. */
  readonly file: string;
  readonly where: string;
}

/** Loads the config and names its SQLite store; undefined (exit 1, errors printed) when the config is invalid. */
function target(configFile: string): Target | undefined {
  const result = loadConfigFile(resolve(configFile));
  if (!result.ok) {
    printConfigErrors(configFile, result.errors);
    process.exitCode = 1;
    return undefined;
  }
  const file = sqliteFilePath(result.config.storage);
  if (file === undefined) {
    throw new CommandError(`storage is ${result.config.storage}: there is no key ring (the keys derive from keyring.masterKey); configure storage: sqlite:<path>`);
  }
  const path = resolve(file);
  return { config: result.config, configFile: resolve(configFile), file: path, where: `sqlite:${path}` };
}

function masterKeyOf(config: GatewayConfig): { masterKey: Buffer; generatedKeyFile?: string } {
  try {
    return resolveMasterKey(config, stderrWarnings);
  } catch (error) {
    throw new CommandError((error as Error).message);
  }
}

/** The new master key from the environment variable `name`; its value is never printed. */
function newKeyFromEnv(name: string | undefined): Buffer {
  if (name === undefined || !ENV_NAME.test(name)) throw new UsageError('--new-key-env must name an environment variable (the key is never taken on the command line)');
  const text = process.env[name];
  if (text === undefined || text === '') throw new UsageError(`environment variable ${name} is not set`);
  try {
    return parseMasterKey(text);
  } catch (error) {
    if (error instanceof MasterKeyError) throw new UsageError(`${name}: ${error.message}`);
    throw error;
  }
}

/** Runs `body` on the store's database, closed afterwards; store errors become one-line command errors. */
function withDatabase<T>(where: Target, body: (db: ReturnType<typeof openSqliteDatabase>) => T): T {
  let db;
  try {
    db = openSqliteDatabase(where.file);
  } catch (error) {
    throw new CommandError(`cannot open the store: ${(error as Error).message}`);
  }
  try {
    return body(db);
  } catch (error) {
    if (error instanceof UsageError || error instanceof CommandError) throw error;
    throw new CommandError((error as Error).message);
  } finally {
    db.close();
  }
}

function openRing(where: Target, db: ReturnType<typeof openSqliteDatabase>, masterKey: Buffer): KeyRing {
  return openSqliteKeyRing(db, where.where, masterKey, { ...keyRingSettingsOf(where.config.document), log: stderrWarnings });
}

/** Replaces the development key file with the new key: written beside it (0600), then renamed over it. */
function replaceKeyFile(file: string, newKey: Buffer): void {
  const temporary = `${file}.rotating`;
  writeFileSync(temporary, newKey.toString('base64url') + '\n', { mode: 0o600, flag: 'w' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

function days(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms}ms`;
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

export function registerKeyringCommands(program: Command): void {
  const keyring = program.command('keyring').description('the key ring of the store: data keys and stable secrets wrapped by the master key');

  keyring
    .command('status')
    .description('list the key ring entries (id, purpose, created, retired, active) and whether the master key opens it; no key material')
    .requiredOption('-c, --config <file>', 'gateway config')
    .option('--json', 'print JSON')
    .action((options: { config: string; json?: boolean }) =>
      guard(async () => {
        const where = target(options.config);
        if (where === undefined) return;
        let masterKey: Buffer | undefined;
        let keyProblem: string | undefined;
        try {
          masterKey = resolveMasterKey(where.config, stderrWarnings).masterKey;
        } catch (error) {
          keyProblem = (error as Error).message;
        }
        const { rotateDataKeysEveryMs } = keyRingSettingsOf(where.config.document);
        const status = withDatabase(where, (db) => inspectKeyRing(new SqliteKeyRingStorage(db, where.where), masterKey));
        const active = status.keys.find((key) => key.purpose === 'secrets' && key.active);
        const nextRotation = active === undefined ? null : active.createdAt + rotateDataKeysEveryMs;
        if (options.json) {
          out(
            JSON.stringify(
              {
                store: where.where,
                created: status.created,
                createdAt: status.createdAt === null ? null : isoTime(status.createdAt),
                masterKeyOpensRing: status.opensWithMasterKey ?? null,
                masterKeyRotatedAt: status.masterKeyRotatedAt === null ? null : isoTime(status.masterKeyRotatedAt),
                rotateDataKeysEvery: days(rotateDataKeysEveryMs),
                nextDataKeyRotation: nextRotation === null ? null : isoTime(nextRotation),
                keys: status.keys.map((key) => ({ ...key, createdAt: isoTime(key.createdAt), retiredAt: key.retiredAt === null ? null : isoTime(key.retiredAt) })),
              },
              null,
              2,
            ),
          );
        } else {
          out(`store: ${where.where}`);
          if (!status.created) {
            out('key ring: not created yet (the gateway or any store command creates it at first open)');
          } else {
            const opens =
              keyProblem !== undefined
                ? `cannot be resolved (${keyProblem})`
                : status.opensWithMasterKey
                  ? 'opens the key ring'
                  : 'does NOT open the key ring (wrong key, or rotated with `rampart keyring rotate` and the config still names the old one)';
            out(`master key: ${opens}; last re-wrapped: ${isoTime(status.masterKeyRotatedAt)}`);
            out(`data keys rotate every ${days(rotateDataKeysEveryMs)}; next rotation due: ${isoTime(nextRotation)}`);
            out('');
            out(`${pad('ID', 25)}${pad('PURPOSE', 13)}${pad('CREATED', 22)}${pad('RETIRED', 22)}ACTIVE`);
            for (const key of status.keys) {
              out(`${pad(key.id, 25)}${pad(key.purpose, 13)}${pad(isoTime(key.createdAt), 22)}${pad(isoTime(key.retiredAt), 22)}${key.active ? 'yes' : 'no'}`);
            }
          }
        }
        if (status.created && status.opensWithMasterKey !== true) process.exitCode = 1;
      }),
    );

  keyring
    .command('rotate')
    .description('re-wrap every data key and stable secret under a new master key, online (the new key from an environment variable)')
    .requiredOption('-c, --config <file>', 'gateway config (its keyring.masterKey is the current key)')
    .requiredOption('--new-key-env <name>', 'environment variable holding the new master key (openssl rand -base64 32)')
    .action((options: { config: string; newKeyEnv: string }) =>
      guard(async () => {
        const newKey = newKeyFromEnv(options.newKeyEnv);
        const where = target(options.config);
        if (where === undefined) return;
        const { masterKey, generatedKeyFile } = masterKeyOf(where.config);
        if (newKey.equals(masterKey)) throw new UsageError(`${options.newKeyEnv} holds the current master key; generate a new one (openssl rand -base64 32)`);
        // Opened now: after the rotation the configured (old) master key no longer opens the ring holding the chain key.
        await withAuditTrail(where.config, where.configFile, async (trail) => {
          const { count, resealed } = withDatabase(where, (db) => {
            let ring: KeyRing;
            try {
              ring = openRing(where, db, masterKey);
            } catch (error) {
              if (error instanceof KeyRingError && error.code === 'WRONG_MASTER_KEY' && inspectKeyRing(new SqliteKeyRingStorage(db, where.where), newKey).opensWithMasterKey) {
                throw new CommandError(`store ${where.where}: the key ring is already wrapped by the key in ${options.newKeyEnv}; set keyring.masterKey to it`);
              }
              throw error;
            }
            const box = new SecretBox(masterKey, { dataKeys: ring });
            let resealedCount = 0;
            const rewrapped = ring.rotateMasterKey(newKey, () => {
              resealedCount = resealLegacyValues(db, box, where.where);
            });
            return { count: rewrapped, resealed: resealedCount };
          });
          if (generatedKeyFile !== undefined) replaceKeyFile(generatedKeyFile, newKey);
          out(`${where.where}: re-wrapped ${count} key ring entries under the new master key${resealed > 0 ? `; re-sealed ${resealed} secret${resealed === 1 ? '' : 's'} sealed before the key ring` : ''}`);
          if (generatedKeyFile !== undefined) {
            out(`development key file ${generatedKeyFile} now holds the new key`);
          } else {
            out(`next: make keyring.masterKey the new key (the value of ${options.newKeyEnv}) for every gateway and command using this store before they next start;`);
            out('running gateways keep serving with the keys they hold; the old master key no longer opens the store');
          }
          await recordChange(trail, {
            type: 'key.rotated',
            severity: 'high',
            details: { kind: 'master-key', store: where.where, entries: count, resealed, keyFileReplaced: generatedKeyFile !== undefined },
          });
        });
      }),
    );

  keyring
    .command('rotate-data-key')
    .description('make a new random data key active now; older ones stay for reading')
    .requiredOption('-c, --config <file>', 'gateway config')
    .action((options: { config: string }) =>
      guard(async () => {
        const where = target(options.config);
        if (where === undefined) return;
        const { masterKey } = masterKeyOf(where.config);
        await withAuditTrail(where.config, where.configFile, async (trail) => {
          const created = withDatabase(where, (db) => openRing(where, db, masterKey).rotateDataKey());
          out(`${where.where}: data key ${created.id} is active from ${isoTime(created.createdAt)}; earlier ones are kept for reading`);
          out('running gateways keep sealing with the key they hold until their daily check (or restart) and read values sealed under the new one');
          await recordChange(trail, { type: 'key.rotated', details: { kind: 'data-key', store: where.where, keyId: created.id, activeFrom: isoTime(created.createdAt) } });
        });
      }),
    );
}
