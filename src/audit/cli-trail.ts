/**
 * The audit chain for commands that change identities, keys and sessions outside the gateway (`rampart users`,
 * `consumers`, `api-keys`, `clients`, `keyring`): issue 6 asks for key and session lifecycle in the audit log, and
 * these changes never pass through a gateway's `SecurityEvents`.
 *
 * `CliAuditTrail.open(config, configFile)` opens the chain `audit:` names, with the same chain key, privacy key and
 * relative-path base (the config file's directory) as the gateway (configured.ts `openAuditFromConfig`), so entries
 * of the gateway and of the commands form one chain (the SQLite store takes appends of several processes: sqlite.ts).
 * Without `audit:` the trail is disabled and `emit` does nothing.
 *
 * Entries are built like the gateway's (sink.ts `auditEntryOf`): category and outcome from audit-events.ts, details
 * redacted (redact.ts: no secret, identifiers pseudonymised), `audit.categories` honoured. The actor is the operator
 * who ran the command (`cli:` + the OS account name), not the user or consumer the entry is about: that one is in
 * the details (`userId`, `consumerId`, `clientId`, …), where `rampart privacy export|erase` finds it.
 *
 * Failure policy (the callers follow it):
 * - the trail is opened BEFORE the change: a store that cannot be opened (bad `audit:` section, store unreachable,
 *   wrong chain key) refuses the command, and nothing happened that the log would miss (fail closed);
 * - `emit` runs AFTER the change and throws `AuditTrailError` when the entries cannot be appended. The change is
 *   already committed in another store and cannot be undone atomically (an API key may already be printed), so
 *   the command reports what it did first, then fails loudly (exit 1) saying the audit entry is missing: losing the
 *   record silently, or pretending the change failed, would both be worse.
 */
import { dirname, resolve } from 'node:path';
import { userInfo } from 'node:os';
import type { SecurityEvent, Severity } from '../observe/events.ts';
import { resolveStableSecrets } from '../storage/configured.ts';
import type { AuditEntryInput } from './chain.ts';
import { chainHasherFor, resolveAuditSettings, type AuditConfigSource, type AuditLogger } from './configured.ts';
import { createPrivacy } from './privacy.ts';
import { cleanText } from './redact.ts';
import { AuditingSecurityEvents } from './sink.ts';
import { openAuditStore, type AuditStore } from './store.ts';

/** A lifecycle event as a command reports it. Never a secret in `details` (redaction is the second line). */
export interface CliAuditEvent {
  readonly type: string;
  readonly severity?: Severity;
  readonly details: Readonly<Record<string, unknown>>;
}

/** The audit entries could not be written (the change they describe was made). */
export class AuditTrailError extends Error {
  override readonly name = 'AuditTrailError';
}

const MAX_OPERATOR = 128;

/** `cli:` + the account running the command (what an operator's actions are attributed to). */
export function cliOperator(): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = undefined;
  }
  return `cli:${(name ?? process.env['USER'] ?? 'unknown').slice(0, MAX_OPERATOR) || 'unknown'}`;
}

export class CliAuditTrail {
  readonly #store: AuditStore | undefined;
  readonly #sink: AuditingSecurityEvents | undefined;
  readonly #actor: string;
  readonly #now: () => number;

  private constructor(store: AuditStore | undefined, sink: AuditingSecurityEvents | undefined, actor: string, now: () => number) {
    this.#store = store;
    this.#sink = sink;
    this.#actor = actor;
    this.#now = now;
  }

  /** A trail that records nothing (no `audit:` section). */
  static disabled(): CliAuditTrail {
    return new CliAuditTrail(undefined, undefined, 'rampart', Date.now);
  }

  /**
   * Opens the chain of `config`'s `audit:` section (disabled trail when there is none). Throws when the section is
   * invalid or the store cannot be opened: the caller refuses the command before changing anything.
   */
  static async open(
    config: AuditConfigSource,
    configFile: string,
    options: { readonly logger?: AuditLogger; readonly actor?: string; readonly now?: () => number } = {},
  ): Promise<CliAuditTrail> {
    const settings = resolveAuditSettings(config.document);
    if (settings.audit === undefined) return CliAuditTrail.disabled();
    const secrets = resolveStableSecrets(config, options.logger);
    const privacy = createPrivacy({ addresses: settings.addresses, key: secrets.privacy });
    const store = await openAuditStore(settings.audit.store, {
      hasher: chainHasherFor(settings.audit, () => secrets.auditChain),
      durability: settings.audit.durability,
      schema: settings.audit.schema,
      // The gateway resolves relative store paths against its config file's directory (gateway/server.ts).
      baseDir: dirname(resolve(configFile)),
    });
    const sink = new AuditingSecurityEvents({ privacy, ...(settings.audit.categories ? { categories: settings.audit.categories } : {}) });
    const now = options.now ?? Date.now;
    return new CliAuditTrail(store, sink, cleanText(options.actor ?? cliOperator(), privacy), now);
  }

  /** Whether entries are written (the config has `audit:`). */
  get enabled(): boolean {
    return this.#store !== undefined;
  }

  /**
   * Appends the entries of `events` (those the table and `audit.categories` make audit entries) in one
   * transaction, so a change reported by two entries is never half recorded. Throws `AuditTrailError`.
   */
  async emit(...events: CliAuditEvent[]): Promise<void> {
    const store = this.#store;
    const sink = this.#sink;
    if (store === undefined || sink === undefined) return;
    const time = this.#now();
    const entries: AuditEntryInput[] = [];
    for (const event of events) {
      const securityEvent: SecurityEvent = { type: event.type, severity: event.severity ?? 'medium', details: event.details };
      const entry = sink.auditEntryOf(securityEvent, time);
      if (entry !== undefined) entries.push({ ...entry, actor: this.#actor });
    }
    if (entries.length === 0) return;
    try {
      await store.append(entries);
    } catch (error) {
      throw new AuditTrailError(`the audit entr${entries.length === 1 ? 'y' : 'ies'} (${entries.map((e) => e.type).join(', ')}) could not be written: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.#store?.close();
  }
}
