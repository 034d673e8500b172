/**
 * Everything `rampart privacy` reads and changes, opened from a gateway config with the same stores and keys as the
 * gateway: the identity and session stores (`storage:`), the audit chain (`audit:`), the events store file
 * (`events:`), the privacy key (pseudonyms, erasure references) and the secret-hash pepper (brute-force references).
 *
 * Library callers (tests) build a `PrivacyContext` themselves and inject the clock.
 */
import { dirname } from 'node:path';
import type { GatewayConfig } from '../../config/load.ts';
import { openConfiguredAuditStore, resolveAuditSettings, type AuditLogger } from '../../audit/configured.ts';
import { createPrivacy, type Privacy } from '../../audit/privacy.ts';
import { describeStoreUrl, parseStoreUrl, type AuditStore } from '../../audit/store.ts';
import { openConfiguredStores, resolveStableSecrets, sqliteFilePath } from '../../storage/configured.ts';
import type { Stores } from '../../storage/ports.ts';
import { EventsFile } from './events.ts';

export interface PrivacyContext {
  readonly stores: Stores;
  readonly pepper: Buffer;
  readonly privacy: Privacy;
  /** The key of `privacy.pseudonym`; erasure references use it too (subject.ts `erasureRef`). */
  readonly privacyKey: Buffer;
  /** Undefined when the config has no `audit:` section. */
  readonly audit: AuditStore | undefined;
  /** The audit store named without credentials. */
  readonly auditWhere: string | undefined;
  /** Undefined when there is no events store file (none configured, `memory:`, or not created yet). */
  readonly events: EventsFile | undefined;
  /** `events.store` named without credentials, or undefined when not configured. */
  readonly eventsWhere: string | undefined;
  /** The identity store's SQLite file, when it is one (compacted after an erasure). */
  readonly storageFile: string | undefined;
  readonly now: () => number;
}

export interface OpenedPrivacyContext extends PrivacyContext {
  close(): Promise<void>;
}

/** Relative store paths: against the storage file's directory, else the working directory (as `rampart audit` does). */
function baseDirOf(config: GatewayConfig): string {
  const file = sqliteFilePath(config.storage);
  return file === undefined ? process.cwd() : dirname(file);
}

export async function openPrivacyContext(config: GatewayConfig, options: { readonly logger?: AuditLogger; readonly now?: () => number } = {}): Promise<OpenedPrivacyContext> {
  const settings = resolveAuditSettings(config.document);
  const secrets = resolveStableSecrets(config, options.logger);
  const privacy = createPrivacy({ addresses: settings.addresses, key: secrets.privacy });
  const opened = await openConfiguredStores(config, options.logger ? { logger: options.logger } : {});
  let audit: AuditStore | undefined;
  let events: EventsFile | undefined;
  try {
    if (settings.audit !== undefined) audit = await openConfiguredAuditStore(config, options.logger ? { logger: options.logger } : {});
    const eventsUrl = settings.events?.store;
    if (eventsUrl !== undefined && eventsUrl !== 'memory:') {
      const target = parseStoreUrl(eventsUrl, baseDirOf(config));
      if (target.kind === 'sqlite' && target.path !== ':memory:') events = EventsFile.open(target.path);
    }
  } catch (error) {
    await audit?.close().catch(() => undefined);
    await opened.stores.close();
    throw error;
  }
  return {
    stores: opened.stores,
    pepper: opened.pepper,
    privacy,
    privacyKey: secrets.privacy,
    audit,
    auditWhere: settings.audit === undefined ? undefined : describeStoreUrl(settings.audit.store),
    events,
    eventsWhere: settings.events === undefined ? undefined : describeStoreUrl(settings.events.store),
    storageFile: sqliteFilePath(config.storage),
    now: options.now ?? Date.now,
    async close() {
      events?.close();
      await audit?.close().catch(() => undefined);
      await opened.stores.close();
    },
  };
}
