/**
 * `rampart consumers …` and `rampart api-keys …`: manage the machine clients and their API keys in the store the
 * gateway config names (issue 3 point 4). Every command takes `-c, --config <file>` and opens the same store, with
 * the same master key, as the gateway (storage/configured.ts), so a key revoked here stops working at a running
 * gateway within its `cacheTtl`.
 *
 * Exit codes follow `rampart`: 0 success, 1 failure (invalid config, unknown consumer or key, store error),
 * 2 usage error (bad name, role, scope or duration). Errors are one line, never a stack trace, and never contain a
 * key: an API key is printed exactly once, by `api-keys create`.
 *
 * With `audit:` configured, every change is appended to the audit chain (audit/cli-trail.ts, shared.ts
 * `withAuditedStores`): `consumer.created|disabled|enabled`, `api-key.created|revoked` (key id and visible prefix,
 * never the key or its hash). The chain is opened before the change; an entry that cannot be appended fails the
 * command (exit 1) after it reported what it did.
 *
 * Listings print every readable record; a record the store cannot decode is named on standard error
 * (`damaged record: <table> "<id>": <reason>`) after them and the command exits 1 (shared.ts `reportDamaged`).
 */
import type { Command } from 'commander';
import type { GatewayConfig } from '../config/load.ts';
import { parseDuration } from '../config/units.ts';
import { hashSecret } from '../crypto/hashing.ts';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN, generateApiKey, isRecordPrefix, looksLikeWholeApiKey } from '../policies/api-key/keys.ts';
import type { ApiKeyConfig } from '../policies/api-key/schema.ts';
import {
  CommandError,
  DamagedRecords,
  LABEL_PATTERN,
  UsageError,
  guard,
  isoTime,
  out,
  recordChange,
  reportDamaged,
  tokenList as sharedTokenList,
  withAuditedStores as withAuditedStoresOf,
  withConfiguredStores,
  type StoreContext,
} from './shared.ts';
import { StoreConflictError, type ApiKeyRecord, type ConsumerRecord, type Stores } from '../storage/ports.ts';

type Context = StoreContext;

/** Roles and scopes of consumers and keys. */
function tokenList(text: string, what: string): string[] {
  return sharedTokenList(text, what, TOKEN_PATTERN);
}

/** Loads the config, opens its stores, runs `body`, closes the stores. */
function withStores(configFile: string, body: (context: Context) => Promise<void>): Promise<void> {
  return withConfiguredStores(configFile, 'what this command writes', body);
}

/**
 * `withStores` for commands that change something: the config's audit trail is opened first (a trail that cannot be
 * opened refuses the command) and each change is recorded after it is reported (shared.ts `recordChange`).
 */
function withAuditedStores(configFile: string, body: Parameters<typeof withAuditedStoresOf>[2]): Promise<void> {
  return withAuditedStoresOf(configFile, 'what this command writes', body);
}

/** Consumer names: what `x-rampart-subject` carries upstream, so a plain token with no header-unsafe character. */
export const CONSUMER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Roles, scopes (permission names such as `orders:read`) and tenants. */
export const TOKEN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;
/** Key lifetimes beyond ten years are a typo, not a plan. */
const MAX_KEY_LIFETIME_MS = 3650 * 86_400_000;

function checkName(name: string): string {
  if (!CONSUMER_NAME_PATTERN.test(name)) {
    throw new UsageError('consumer name must be 1 to 64 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  return name;
}

function expiryFrom(text: string, now: number): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UsageError('--expires must be a duration such as 90d, 12h or 30m');
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError('--expires must be longer than zero');
  if (ms > MAX_KEY_LIFETIME_MS) throw new UsageError('--expires must be at most 3650d');
  return now + ms;
}

async function consumerNamed(stores: Stores, name: string): Promise<ConsumerRecord> {
  const consumer = await stores.identities.findConsumerByName(name);
  if (consumer === undefined) throw new CommandError(`no consumer named "${name}" (add it with: rampart consumers add ${name})`);
  return consumer;
}

/** The key prefix the config's api-key routes accept: the one they agree on, or `rk` when no route uses api-key. */
function configuredPrefix(config: GatewayConfig): string {
  const prefixes = new Set<string>();
  for (const route of config.routes) {
    for (const policy of route.policies) if (policy.definition.name === 'api-key') prefixes.add((policy.config as ApiKeyConfig).prefix);
  }
  if (prefixes.size > 1) throw new UsageError(`routes accept several key prefixes (${[...prefixes].join(', ')}); choose one with --prefix`);
  return prefixes.values().next().value ?? DEFAULT_KEY_PREFIX;
}

export function keyStatus(key: ApiKeyRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && now >= key.expiresAt) return 'expired';
  return 'active';
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  out(line(header));
  for (const row of rows) out(line(row));
}

function registerConsumers(program: Command): void {
  const consumers = program.command('consumers').description('machine clients that authenticate with API keys');

  consumers
    .command('add')
    .description('add a consumer')
    .argument('<name>', 'consumer name (becomes the authenticated subject)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--roles <roles>', 'comma-separated roles', '')
    .option('--tenant <tenant>', 'tenant the consumer belongs to')
    .action((name: string, options: { config: string; roles: string; tenant?: string }) =>
      guard(async () => {
        checkName(name);
        const roles = tokenList(options.roles, '--roles');
        if (options.tenant !== undefined && !TOKEN_PATTERN.test(options.tenant)) {
          throw new UsageError('--tenant must be 1 to 64 characters: letters, digits, ":", ".", "_" or "-"');
        }
        await withAuditedStores(options.config, async ({ stores, trail }) => {
          let consumer: ConsumerRecord;
          try {
            consumer = await stores.identities.createConsumer({ name, roles, tenant: options.tenant ?? null, createdAt: Date.now() });
          } catch (error) {
            if (error instanceof StoreConflictError) throw new CommandError(`a consumer named "${name}" already exists`);
            throw error;
          }
          out(`added consumer ${consumer.name} (id ${consumer.id}, roles ${consumer.roles.join(',') || '-'}${consumer.tenant === null ? '' : `, tenant ${consumer.tenant}`})`);
          await recordChange(trail, {
            type: 'consumer.created',
            details: { consumerId: consumer.id, consumer: consumer.name, roles: consumer.roles, tenant: consumer.tenant },
          });
        });
      }),
    );

  consumers
    .command('list')
    .description('list consumers')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--json', 'print JSON')
    .action((options: { config: string; json?: boolean }) =>
      guard(() =>
        withStores(options.config, async ({ stores }) => {
          const damaged = new DamagedRecords();
          const list = await stores.identities.listConsumers(damaged.onDamaged);
          if (options.json) {
            out(
              JSON.stringify(
                list.map((c) => ({ id: c.id, name: c.name, roles: c.roles, tenant: c.tenant, status: c.disabled ? 'disabled' : 'enabled', createdAt: isoTime(c.createdAt) })),
                null,
                2,
              ),
            );
          } else if (list.length === 0) {
            out(damaged.errors.length === 0 ? 'no consumers' : 'no readable consumers');
          } else {
            table(
              ['NAME', 'ROLES', 'TENANT', 'STATUS', 'CREATED', 'ID'],
              list.map((c) => [c.name, c.roles.join(',') || '-', c.tenant ?? '-', c.disabled ? 'disabled' : 'enabled', isoTime(c.createdAt), c.id]),
            );
          }
          reportDamaged(damaged.errors);
        }),
      ),
    );

  for (const [command, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    consumers
      .command(command)
      .description(disabled ? 'disable a consumer: its API keys stop working (within the gateway\'s cacheTtl)' : 'enable a disabled consumer')
      .argument('<name>', 'consumer name')
      .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
      .action((name: string, options: { config: string }) =>
        guard(async () => {
          checkName(name);
          await withAuditedStores(options.config, async ({ stores, trail }) => {
            const consumer = await consumerNamed(stores, name);
            if (consumer.disabled === disabled) {
              out(`consumer ${name} is already ${disabled ? 'disabled' : 'enabled'}`);
              return;
            }
            await stores.identities.updateConsumer(consumer.id, { disabled });
            out(`${disabled ? 'disabled' : 'enabled'} consumer ${name}`);
            await recordChange(trail, {
              type: disabled ? 'consumer.disabled' : 'consumer.enabled',
              details: { consumerId: consumer.id, consumer: consumer.name },
            });
          });
        }),
      );
  }
}

function registerApiKeys(program: Command): void {
  const apiKeys = program.command('api-keys').description('API keys of consumers (shown once, stored hashed)');

  apiKeys
    .command('create')
    .description('create an API key for a consumer and print it once')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .requiredOption('--consumer <name>', 'the consumer the key authenticates as')
    .option('--scopes <scopes>', 'comma-separated permission names narrowing the consumer\'s roles (default: all of them)')
    .option('--expires <duration>', 'lifetime, e.g. 90d (default: no expiry)')
    .option('--name <label>', 'a label to recognise the key in listings')
    .option('--prefix <prefix>', 'key prefix (default: the one the config\'s api-key routes accept, else rk)')
    .option('--json', 'print JSON')
    .action((options: { config: string; consumer: string; scopes?: string; expires?: string; name?: string; prefix?: string; json?: boolean }) =>
      guard(async () => {
        checkName(options.consumer);
        const now = Date.now();
        const scopes = options.scopes === undefined ? null : tokenList(options.scopes, '--scopes');
        if (scopes !== null && scopes.length === 0) throw new UsageError('--scopes needs at least one permission name (leave it out for all of the roles)');
        const expiresAt = options.expires === undefined ? null : expiryFrom(options.expires, now);
        if (options.name !== undefined && !LABEL_PATTERN.test(options.name)) throw new UsageError('--name must be 1 to 128 printable ASCII characters');
        if (options.prefix !== undefined && !KEY_PREFIX_PATTERN.test(options.prefix)) throw new UsageError('--prefix must be 2 to 8 lower-case letters');
        await withAuditedStores(options.config, async ({ config, stores, pepper, trail }) => {
          const prefix = options.prefix ?? configuredPrefix(config);
          const consumer = await consumerNamed(stores, options.consumer);
          let created: { key: string; record: ApiKeyRecord } | undefined;
          // The public id has ~71 random bits; a collision is astronomically unlikely, but the store's uniqueness
          // check is what guarantees it, so retry rather than fail.
          for (let attempt = 0; attempt < 3 && created === undefined; attempt++) {
            const { key, recordPrefix } = generateApiKey(prefix);
            try {
              const record = await stores.identities.createApiKey({
                consumerId: consumer.id,
                name: options.name ?? null,
                prefix: recordPrefix,
                hash: hashSecret(key, pepper),
                scopes,
                expiresAt,
                createdAt: now,
              });
              created = { key, record };
            } catch (error) {
              if (!(error instanceof StoreConflictError)) throw error;
            }
          }
          if (created === undefined) throw new CommandError('could not allocate a unique key prefix; try again');
          const { key, record } = created;
          if (options.json) {
            out(
              JSON.stringify(
                { key, id: record.id, prefix: record.prefix, consumer: consumer.name, name: record.name, scopes: record.scopes, expiresAt: record.expiresAt === null ? null : isoTime(record.expiresAt) },
                null,
                2,
              ),
            );
          } else {
            out(key);
            out('This key is shown once and will not be shown again: store it now (Rampart keeps only its hash).');
            out(`id:       ${record.id}`);
            out(`prefix:   ${record.prefix}`);
            out(`consumer: ${consumer.name}`);
            out(`scopes:   ${record.scopes === null ? "all of the consumer's roles" : record.scopes.join(',')}`);
            out(`expires:  ${record.expiresAt === null ? 'never' : isoTime(record.expiresAt)}`);
          }
          if (consumer.disabled) process.stderr.write(`warning: consumer ${consumer.name} is disabled: the key works only once it is enabled\n`);
          // The record's id and visible prefix name the key; the key itself and its hash never reach the log.
          await recordChange(trail, {
            type: 'api-key.created',
            details: {
              keyId: record.id,
              keyPrefix: record.prefix,
              keyName: record.name,
              consumerId: consumer.id,
              consumer: consumer.name,
              scopes: record.scopes,
              expiresAt: record.expiresAt === null ? null : isoTime(record.expiresAt),
            },
          });
        });
      }),
    );

  apiKeys
    .command('list')
    .description('list API keys (never the keys or their hashes)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .option('--consumer <name>', 'only this consumer\'s keys')
    .option('--json', 'print JSON')
    .action((options: { config: string; consumer?: string; json?: boolean }) =>
      guard(async () => {
        if (options.consumer !== undefined) checkName(options.consumer);
        await withStores(options.config, async ({ stores }) => {
          const only = options.consumer === undefined ? undefined : await consumerNamed(stores, options.consumer);
          const damagedKeys = new DamagedRecords();
          const keys = await stores.identities.listApiKeys(only?.id, damagedKeys.onDamaged);
          const damagedConsumers = new DamagedRecords();
          const names = new Map((await stores.identities.listConsumers(damagedConsumers.onDamaged)).map((c) => [c.id, c.name]));
          // A damaged consumer matters here only when a listed key belongs to it (its CONSUMER cell shows the id).
          const owners = new Set(keys.map((key) => key.consumerId));
          const damaged = [...damagedKeys.errors, ...damagedConsumers.errors.filter((error) => owners.has(error.recordId))];
          const now = Date.now();
          const rows = keys.map((key) => ({
            id: key.id,
            prefix: key.prefix,
            name: key.name,
            consumer: names.get(key.consumerId) ?? key.consumerId,
            scopes: key.scopes,
            createdAt: isoTime(key.createdAt),
            expiresAt: key.expiresAt === null ? null : isoTime(key.expiresAt),
            lastUsedAt: key.lastUsedAt === null ? null : isoTime(key.lastUsedAt),
            status: keyStatus(key, now),
          }));
          if (options.json) {
            out(JSON.stringify(rows, null, 2));
          } else if (rows.length === 0) {
            out(damagedKeys.errors.length === 0 ? 'no API keys' : 'no readable API keys');
          } else {
            table(
              ['PREFIX', 'NAME', 'CONSUMER', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS', 'ID'],
              rows.map((r) => [r.prefix, r.name ?? '-', r.consumer, r.scopes === null ? '*' : r.scopes.join(','), r.createdAt, r.expiresAt ?? 'never', r.lastUsedAt ?? '-', r.status, r.id]),
            );
          }
          reportDamaged(damaged);
        });
      }),
    );

  apiKeys
    .command('revoke')
    .description('revoke an API key by id or prefix (a running gateway stops accepting it within its cacheTtl)')
    .argument('<key>', 'the key id (key_…) or prefix (rk_…)')
    .requiredOption('-c, --config <file>', 'gateway config (YAML or JSON)')
    .action((reference: string, options: { config: string }) =>
      guard(async () => {
        if (looksLikeWholeApiKey(reference)) {
          // Never echo it back: this looks like a whole key, which belongs in no terminal log.
          throw new UsageError('that looks like a whole API key; pass its id or its prefix (the part before the second "_")');
        }
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(reference)) throw new UsageError('pass the key id (key_…) or prefix (rk_…)');
        await withAuditedStores(options.config, async ({ stores, trail }) => {
          const key = (await stores.identities.getApiKey(reference)) ?? (isRecordPrefix(reference) ? await stores.identities.findApiKeyByPrefix(reference) : undefined);
          if (key === undefined) throw new CommandError(`no API key with id or prefix "${reference}"`);
          const revoked = await stores.identities.revokeApiKey(key.id, Date.now());
          if (!revoked) {
            const current = await stores.identities.getApiKey(key.id);
            out(`API key ${key.prefix} was already revoked${current?.revokedAt ? ` at ${isoTime(current.revokedAt)}` : ''}`);
            return;
          }
          out(`revoked API key ${key.prefix} (id ${key.id})`);
          await recordChange(trail, { type: 'api-key.revoked', details: { keyId: key.id, keyPrefix: key.prefix, consumerId: key.consumerId } });
        });
      }),
    );
}

/** Adds `consumers` and `api-keys` to the `rampart` program. */
export function registerIdentityCommands(program: Command): void {
  registerConsumers(program);
  registerApiKeys(program);
}
