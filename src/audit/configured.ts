/**
 * Opening the audit chain and the events store that a gateway config names, for the gateway (`openAuditFromConfig`)
 * and for the CLI (`openConfiguredAuditStore`, `openConfiguredEventsStore`), so both use the same store and keys.
 *
 * Keys (storage/configured.ts `resolveStableSecrets`; `keyring.masterKey` is required in production, a development
 * key file is used otherwise):
 * - the privacy key (address hashing, username pseudonyms) and the chain key (`audit.chainKey` when set, none when
 *   `false`, else the ring's) are stable secrets of the key ring in the SQLite file `storage:` names (crypto/keyring.ts):
 *   seeded once from their former derivations (`deriveSubkey(masterKey, PRIVACY_KEY_PURPOSE | CHAIN_KEY_PURPOSE)`),
 *   so chains and pseudonyms written before keep verifying, and unchanged by `rampart keyring rotate`;
 * - with `storage: memory:` (no ring) they are still derived from the master key, change with it, and the log says so.
 */
import { dirname } from 'node:path';
import { validatorOnFirstUse, type ConfigValidator } from '../config/config-ajv.ts';
import { parseDuration } from '../config/units.ts';
import { parseMasterKey, MasterKeyError } from '../crypto/master-key.ts';
import type { SecurityEvents } from '../observe/events.ts';
import { resolveStableSecrets, sqliteFilePath, type StableSecrets, type WarningSink } from '../storage/configured.ts';
import { EventRecorder } from '../events-store/recorder.ts';
import { openEventsStore } from '../events-store/index.ts';
import type { EventsStore } from '../events-store/types.ts';
import type { AuditCategory } from './audit-events.ts';
import type { AuthSuccessRecord, AuthSuccessSettings } from './auth-success.ts';
import { ChainHasher } from './chain.ts';
import { createPrivacy, type AddressPrivacy, type Privacy } from './privacy.ts';
import { AuditRetention, retentionOf } from './retention.ts';
import { auditConfigSchema, eventsConfigSchema, privacyConfigSchema } from './schema.ts';
import { AuditingSecurityEvents } from './sink.ts';
import { openAuditStore, type AuditDurability, type AuditStore } from './store.ts';
import { AuditWriter } from './writer.ts';

/**
 * HKDF purpose the default chain key was derived with (the key ring is seeded with it: crypto/keyring.ts
 * `LEGACY_DERIVATIONS`; stores without a ring still derive it). Never change it: existing chains are keyed with it.
 */
export const CHAIN_KEY_PURPOSE = 'rampart/v1/audit-chain-key';

export class AuditConfigError extends Error {
  override readonly name = 'AuditConfigError';
  /** Each error with its config path, e.g. `audit.durability: must be equal to one of the allowed values`. */
  readonly errors: string[];
  constructor(errors: string | string[]) {
    const list = typeof errors === 'string' ? [errors] : errors;
    super(list.join('; '));
    this.errors = list;
  }
}

/** What of a loaded gateway config this module reads (GatewayConfig has all of it). */
export interface AuditConfigSource {
  /** The validated config document: its `audit`, `events` and `privacy` sections are read. */
  readonly document: Readonly<Record<string, unknown>>;
  readonly storage: string;
  readonly masterKey: string | undefined;
  readonly mode: 'production' | 'development';
}

export interface AuditSettings {
  readonly store: string;
  readonly schema: string;
  readonly durability: AuditDurability;
  /** The chain key text, `false` for none, or undefined for "derive from the master key". */
  readonly chainKey: string | false | undefined;
  readonly required: boolean;
  readonly authentication: boolean;
  readonly authSuccess: AuthSuccessSettings;
  readonly dataAccess: boolean;
  readonly categories: readonly AuditCategory[] | undefined;
  readonly maxQueue: number;
}

export interface EventsSettings {
  readonly store: string;
  readonly retentionMs: number;
  readonly maxRows: number;
  readonly sweepEveryMs: number;
  readonly maxQueue: number;
}

export interface ResolvedSettings {
  readonly audit: AuditSettings | undefined;
  readonly events: EventsSettings | undefined;
  readonly addresses: AddressPrivacy;
}

const validators: Record<'audit' | 'events' | 'privacy', ConfigValidator> = {
  audit: validatorOnFirstUse(auditConfigSchema),
  events: validatorOnFirstUse(eventsConfigSchema),
  privacy: validatorOnFirstUse(privacyConfigSchema),
};

function validated(name: 'audit' | 'events' | 'privacy', value: unknown, errors: string[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const copy = structuredClone(value) as Record<string, unknown>;
  const validate = validators[name];
  if (!validate(copy)) {
    for (const e of validate.errors ?? []) {
      const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
      errors.push(`${name}${at ? `.${at}` : ''}: ${e.message ?? 'is invalid'}${extra}`);
    }
    return undefined;
  }
  return copy;
}

/** Reads and validates `audit:`, `events:` and `privacy.addresses`; throws `AuditConfigError` listing every error. */
export function resolveAuditSettings(document: Readonly<Record<string, unknown>>): ResolvedSettings {
  const errors: string[] = [];
  const audit = validated('audit', document['audit'], errors);
  const events = validated('events', document['events'], errors);
  const privacy = validated('privacy', document['privacy'] ?? {}, errors);
  const retention = retentionOf(privacy, document, errors);
  let retentionMs = 0;
  let sweepEveryMs = 0;
  if (events !== undefined) {
    retentionMs = parseDuration(events['retention'] as string | number);
    // privacy.retention.events may only shorten what events.retention keeps.
    if (retention.eventsMs !== undefined) retentionMs = Math.min(retentionMs, retention.eventsMs);
    sweepEveryMs = parseDuration(events['sweepEvery'] as string | number);
    if (retentionMs < 60_000) errors.push('events.retention: must be at least 1m');
    if (sweepEveryMs < 1000) errors.push('events.sweepEvery: must be at least 1s');
  }
  let authSuccess: AuthSuccessSettings | undefined;
  if (audit !== undefined) {
    const raw = audit['authSuccess'] as { record: AuthSuccessRecord; window: string | number; maxKeys: number };
    const windowMs = parseDuration(raw.window);
    if (windowMs < 1000 || windowMs > 3_600_000) errors.push('audit.authSuccess.window: must be from 1s to 1h');
    authSuccess = { record: raw.record, windowMs, maxKeys: raw.maxKeys };
  }
  if (audit !== undefined && typeof audit['chainKey'] === 'string') {
    try {
      parseMasterKey(audit['chainKey']);
    } catch (error) {
      // MasterKeyError messages describe the shape, never the value.
      errors.push(`audit.chainKey: ${(error as MasterKeyError).message.replace(/master key/g, 'key')}`);
    }
  }
  if (errors.length > 0) throw new AuditConfigError(errors);
  return {
    audit:
      audit === undefined
        ? undefined
        : {
            store: audit['store'] as string,
            schema: audit['schema'] as string,
            durability: audit['durability'] as AuditDurability,
            chainKey: audit['chainKey'] as string | false | undefined,
            required: audit['required'] as boolean,
            authentication: audit['authentication'] as boolean,
            authSuccess: authSuccess!,
            dataAccess: audit['dataAccess'] as boolean,
            categories: audit['categories'] as AuditCategory[] | undefined,
            maxQueue: audit['maxQueue'] as number,
          },
    events:
      events === undefined
        ? undefined
        : { store: events['store'] as string, retentionMs, maxRows: events['maxRows'] as number, sweepEveryMs, maxQueue: events['maxQueue'] as number },
    addresses: (privacy?.['addresses'] as AddressPrivacy | undefined) ?? 'hash',
  };
}

/** The errors of `audit:`, `events:` and `privacy.addresses` with their paths (for `rampart config check`); [] when valid. */
export function checkAuditSettings(document: Readonly<Record<string, unknown>>): string[] {
  try {
    resolveAuditSettings(document);
    return [];
  } catch (error) {
    if (error instanceof AuditConfigError) return error.errors;
    throw error;
  }
}

/** The chain and privacy keys: from the key ring of the SQLite store, else derived from the master key. */
function stableSecretsOf(config: AuditConfigSource, logger?: WarningSink): StableSecrets {
  try {
    return resolveStableSecrets(config, logger);
  } catch (error) {
    throw new AuditConfigError(`the audit log needs a master key for its keyed hashes: ${(error as Error).message}`);
  }
}

/** `chainKey` gives the default chain key (the key ring's `audit-chain` secret), asked only when the config sets none. */
export function chainHasherFor(settings: AuditSettings, chainKey: () => Buffer): ChainHasher {
  // Format 2 (chain.ts): entries the gateway writes can be erased later (`rampart privacy erase`) and still verify.
  if (settings.chainKey === false) return new ChainHasher(undefined, { format: 2 });
  if (typeof settings.chainKey === 'string') return new ChainHasher(parseMasterKey(settings.chainKey), { format: 2 });
  return new ChainHasher(chainKey(), { format: 2 });
}

/** Where warnings and errors go: a pino logger fits, and so does a small adapter printing to stderr. */
export interface AuditLogger extends WarningSink {
  error(details: Record<string, unknown>, message: string): void;
}

export interface OpenAuditOptions {
  /** Relative store paths are resolved against this (the config file's directory); default: the storage file's directory, else the working directory. */
  readonly baseDir?: string;
  readonly logger?: AuditLogger;
  /** The sink events go to besides the stores (the logging one). */
  readonly next?: SecurityEvents;
  readonly now?: () => number;
}

function baseDirOf(config: AuditConfigSource, options: OpenAuditOptions): string {
  if (options.baseDir !== undefined) return options.baseDir;
  const file = sqliteFilePath(config.storage);
  return file === undefined ? process.cwd() : dirname(file);
}

/** Opens the audit store of `audit:` (for `rampart audit verify|export`). */
export async function openConfiguredAuditStore(config: AuditConfigSource, options: OpenAuditOptions = {}): Promise<AuditStore> {
  const settings = resolveAuditSettings(config.document).audit;
  if (settings === undefined) throw new AuditConfigError('the config has no audit: section');
  const hasher = chainHasherFor(settings, () => stableSecretsOf(config, options.logger).auditChain);
  return openAuditStore(settings.store, { hasher, durability: settings.durability, schema: settings.schema, baseDir: baseDirOf(config, options) });
}

/** Opens the events store of `events:` (for `rampart events`). */
export function openConfiguredEventsStore(config: AuditConfigSource, options: OpenAuditOptions = {}): EventsStore {
  const settings = resolveAuditSettings(config.document).events;
  if (settings === undefined) throw new AuditConfigError('the config has no events: section');
  return openEventsStore(settings.store, { baseDir: baseDirOf(config, options) });
}

export interface OpenedAudit {
  /** Install as the gateway's `SecurityEvents` (it passes every event on to `options.next`). */
  readonly events: AuditingSecurityEvents;
  readonly settings: ResolvedSettings;
  readonly privacy: Privacy;
  readonly audit?: { readonly store: AuditStore; readonly writer: AuditWriter; readonly retention?: AuditRetention };
  readonly eventsStore?: { readonly store: EventsStore; readonly recorder: EventRecorder };
  /** Writes what is queued (bounded wait), then closes the stores. */
  close(): Promise<void>;
}

/** Rate-limits error logs: a failing store must not turn every request into an error line. */
function errorReporter(logger: OpenAuditOptions['logger']): (error: unknown, where: string, entries?: number) => void {
  let last = 0;
  let suppressed = 0;
  return (error, where, entries) => {
    const now = Date.now();
    if (now - last < 10_000) {
      suppressed++;
      return;
    }
    logger?.error({ err: error, where, entries, suppressed }, `audit: the ${where} store could not take an event`);
    last = now;
    suppressed = 0;
  };
}

/**
 * Opens what `audit:` and `events:` configure and returns the `SecurityEvents` to install, or undefined when the
 * config has neither section.
 */
export async function openAuditFromConfig(config: AuditConfigSource, options: OpenAuditOptions = {}): Promise<OpenedAudit | undefined> {
  const settings = resolveAuditSettings(config.document);
  if (settings.audit === undefined && settings.events === undefined) return undefined;
  const secrets = stableSecretsOf(config, options.logger);
  const privacy = createPrivacy({ addresses: settings.addresses, key: secrets.privacy });
  const baseDir = baseDirOf(config, options);
  const report = errorReporter(options.logger);
  const now = options.now ?? Date.now;

  let audit: OpenedAudit['audit'];
  let eventsStore: OpenedAudit['eventsStore'];
  try {
    if (settings.audit !== undefined) {
      const a = settings.audit;
      if (a.chainKey === false) {
        options.logger?.warn({}, 'audit.chainKey is false: anyone with write access to the audit store can rewrite the chain undetected');
      }
      const store = await openAuditStore(a.store, { hasher: chainHasherFor(a, () => secrets.auditChain), durability: a.durability, schema: a.schema, baseDir });
      audit = { store, writer: new AuditWriter(store, { maxQueue: a.maxQueue, now, onError: (error, n) => report(error, 'audit', n) }) };
      // privacy.retention.audit: prune with an anchor now and every sweepEvery (retention.ts).
      const { auditMs: keepMs, sweepEveryMs } = retentionOf(config.document['privacy'] as Record<string, unknown> | undefined, config.document, []);
      if (keepMs !== undefined) {
        const retention = new AuditRetention(store, { retentionMs: keepMs, everyMs: sweepEveryMs, now, onError: (error) => report(error, 'audit') });
        retention.start();
        audit = { ...audit, retention };
      }
    }
    if (settings.events !== undefined) {
      const e = settings.events;
      const store = openEventsStore(e.store, { baseDir });
      const recorder = new EventRecorder(store, {
        privacy,
        retention: { maxAgeMs: e.retentionMs, maxRows: e.maxRows },
        maxQueue: e.maxQueue,
        sweepEveryMs: e.sweepEveryMs,
        now,
        onError: (error, n) => report(error, 'events', n),
      });
      recorder.sweep();
      eventsStore = { store, recorder };
    }
  } catch (error) {
    await audit?.retention?.stop();
    await audit?.store.close().catch(() => undefined);
    eventsStore?.store.close();
    throw error;
  }

  const events = new AuditingSecurityEvents({
    privacy,
    ...(audit ? { audit: audit.writer } : {}),
    ...(eventsStore ? { events: eventsStore.recorder } : {}),
    ...(options.next ? { next: options.next } : {}),
    authentication: settings.audit?.authentication ?? true,
    ...(settings.audit ? { authSuccess: settings.audit.authSuccess } : {}),
    ...(settings.audit?.categories ? { categories: settings.audit.categories } : {}),
    now,
    onError: (error, where) => report(error, where),
  });
  return {
    events,
    settings,
    privacy,
    ...(audit ? { audit } : {}),
    ...(eventsStore ? { eventsStore } : {}),
    async close() {
      await audit?.retention?.stop();
      // The open auth-success window is written before the writer drains.
      events.close();
      await audit?.writer.close();
      await eventsStore?.recorder.close();
      await audit?.store.close();
      eventsStore?.store.close();
    },
  };
}
