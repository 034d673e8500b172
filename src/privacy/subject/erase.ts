/**
 * `rampart privacy erase --subject ID`: erases what Rampart holds about a data subject (GDPR art. 17 right to
 * erasure; CCPA right to delete), or, without `apply`, says what it would erase (a dry run).
 *
 * Order, so that a failure half-way leaves something a second run finishes (every step is idempotent):
 * 1. Disable and revoke first (user, consumer and its keys, OAuth client, sessions, refresh families): nothing new
 *    is issued to the subject while the rest runs.
 * 2. The audit chain: v2 entries about the subject become sealed tombstones, and a `privacy.erased` entry records
 *    the erasure (the subject only as its keyed reference `e:…`), in one transaction (chain.ts explains why the
 *    chain still verifies). v1 entries (written before format 2) cannot be erased in place: they are listed, and
 *    leave with audit retention.
 * 3. The events store: rows about the subject are deleted.
 * 4. The records: sessions and refresh families (with every token hash), the user (with TOTP seed, recovery codes,
 *    WebAuthn credentials), the consumer (with its API keys), the OAuth client; the brute-force account counter.
 *    Done last because the forms the audit and events are searched by (pseudonyms, key prefixes) come from them.
 * Then the SQLite files' write-ahead logs are truncated, so erased bytes do not linger there (the stores run with
 * `secure_delete`, so freed pages are zeroed).
 *
 * Records of the subject that the store cannot decode (damaged rows) are erased all the same: they are counted with
 * the rest and listed under `damaged`, the dry run included. Every step reaches them without reading them: API keys
 * are revoked by id (the one thing a damaged record still tells), and everything else goes by owner (sessions and
 * refresh families by subject, passkeys with the user, API keys with the consumer).
 */
import { openSqliteFile } from '../../audit/sqlite-file.ts';
import { ERASURE_RECORD_TYPE, type AuditEntryInput } from '../../audit/chain.ts';
import { cleanText } from '../../audit/redact.ts';
import type { EraseOutcome } from '../../audit/store.ts';
import { newId } from '../../crypto/random.ts';
import { BruteForceGuard } from '../../identity/login/brute-force.ts';
import { normalizeUsername } from '../../storage/ports.ts';
import type { PrivacyContext } from './context.ts';
import { auditEntriesConcerning } from './export.ts';
import { DamagedSubjectRecords, erasureRef, kindOf, subjectForms, subjectKey, type DamagedRecord, type ResolvedSubject } from './subject.ts';

/** Printable ASCII, at most 128: a ticket number, not a story. */
const REFERENCE = /^[\x20-\x7e]{1,128}$/;

export class ErasureError extends Error {
  override readonly name = 'ErasureError';
}

export interface ErasureOptions {
  /** False: a dry run, nothing changes. */
  readonly apply: boolean;
  /** A request or ticket reference, stored in the erasure record (e-mail addresses in it are pseudonymised). */
  readonly reference?: string;
}

export interface ErasureReport {
  readonly applied: boolean;
  /** Id of the erasure (tombstones and the record name it); null for a dry run. */
  readonly erasure: string | null;
  readonly subject: { readonly query: string; readonly kind: string; readonly ref: string };
  /** Counts include damaged records (listed under `damaged`). */
  readonly identity: {
    readonly user: boolean;
    readonly consumer: boolean;
    readonly oauthClient: boolean;
    readonly apiKeys: number;
    readonly webauthnCredentials: number;
    readonly totp: boolean;
    readonly recoveryCodes: number;
    readonly sessions: number;
    readonly refreshTokenFamilies: number;
  };
  readonly audit: {
    readonly store: string;
    /** Entries that are (or would be) tombstones. */
    readonly erased: number;
    /** v1 entries about the subject: not erasable in place, listed by seq. */
    readonly notErasable: readonly number[];
    readonly alreadyErased: number;
    /** Seq of the `privacy.erased` record. */
    readonly recordSeq: number | null;
  } | null;
  readonly events: { readonly store: string; readonly deleted: number } | null;
  /** Records of the subject the store cannot read: erased (or, in a dry run, to be erased) with the rest. */
  readonly damaged: readonly DamagedRecord[];
  /** What this command does not reach, in words (docs/privacy.md has the details). */
  readonly notErased: readonly string[];
}

const NOT_ERASED = [
  'access log files: rotated and deleted by the log shipper (privacy.retention.accessLogs); search them by the request ids in the export',
  'gateway memory (deprecation usage, object ownership): forgotten at restart or by privacy.retention.deprecationUsage',
  'backups, replicas and PostgreSQL write-ahead logs of the stores: erase there by their own retention',
];

export async function eraseSubject(context: PrivacyContext, subject: ResolvedSubject, options: ErasureOptions): Promise<ErasureReport> {
  if (options.reference !== undefined && !REFERENCE.test(options.reference)) throw new ErasureError('--reference must be 1 to 128 printable ASCII characters');
  const now = context.now();
  const { identities, sessions, counters } = context.stores;
  const forms = await subjectForms(subject, { identities, sessions, privacy: context.privacy, pepper: context.pepper });
  const { user, consumer, client } = subject;
  const ref = erasureRef(context.privacyKey, subjectKey(subject));

  // What there is, damaged records included.
  const damaged = new DamagedSubjectRecords();
  const sessionOwner = user?.id ?? (user || consumer || client ? undefined : subject.query);
  const familySubjects = [user?.id, client?.clientId, user || consumer || client ? undefined : subject.query].filter((s): s is string => s !== undefined);
  const userSessions = sessionOwner === undefined ? [] : await sessions.listAllUserSessions(sessionOwner, damaged.onDamaged);
  let familyCount = 0;
  for (const s of familySubjects) familyCount += (await sessions.listSubjectRefreshFamilies(s, damaged.onDamaged)).length;
  const apiKeys = consumer ? await identities.listApiKeys(consumer.id, damaged.onDamaged) : [];
  const passkeys = user ? await identities.listWebAuthnCredentials(user.id, damaged.onDamaged) : [];
  // A damaged API key is known by its id only; revoking by id needs nothing else.
  const apiKeyIds = [...apiKeys.map((key) => key.id), ...damaged.ids('api_keys')];
  const totp = user ? await identities.getTotpEnrolment(user.id) : undefined;
  const codes = user ? await identities.listRecoveryCodeUses(user.id) : [];
  const identity = {
    user: user !== undefined,
    consumer: consumer !== undefined,
    oauthClient: client !== undefined,
    apiKeys: apiKeyIds.length,
    webauthnCredentials: passkeys.length + damaged.ids('webauthn_credentials').length,
    totp: totp !== undefined,
    recoveryCodes: codes.length,
    sessions: userSessions.length + damaged.ids('sessions').length,
    refreshTokenFamilies: familyCount + damaged.ids('refresh_families').length,
  };
  const reference = options.reference === undefined ? undefined : cleanText(options.reference, context.privacy);

  if (!options.apply) {
    const entries = await auditEntriesConcerning(context, forms);
    const v2 = entries.filter((e) => e.v === 2);
    const events = context.events?.concerning(forms).length ?? 0;
    return {
      applied: false,
      erasure: null,
      subject: { query: subject.query, kind: kindOf(subject), ref },
      identity,
      audit:
        context.audit === undefined
          ? null
          : {
              store: context.auditWhere ?? '',
              erased: v2.filter((e) => e.salt !== null).length,
              notErasable: entries.filter((e) => e.v !== 2).map((e) => e.seq),
              alreadyErased: 0,
              recordSeq: null,
            },
      events: context.eventsWhere === undefined ? null : { store: context.eventsWhere, deleted: events },
      damaged: damaged.records,
      notErased: NOT_ERASED,
    };
  }

  // 1. Nothing new for the subject while the rest runs.
  if (user) {
    await identities.updateUser(user.id, { disabled: true });
    await identities.revokeUserCredentialsBefore(user.id, now);
    await sessions.revokeUserSessions(user.id, now);
  }
  if (consumer) {
    await identities.updateConsumer(consumer.id, { disabled: true });
    for (const id of apiKeyIds) await identities.revokeApiKey(id, now);
  }
  if (client) await identities.updateOAuthClient(client.clientId, { disabled: true });
  for (const s of familySubjects) await sessions.revokeSubjectRefreshFamilies(s, now, 'erased');

  // 2. The audit chain, in one transaction with its record.
  const erasure = newId('era_');
  const eventsPlanned = context.events?.concerning(forms) ?? [];
  let audit: ErasureReport['audit'] = null;
  if (context.audit !== undefined) {
    const entries = await auditEntriesConcerning(context, forms);
    const record = (outcome: EraseOutcome): AuditEntryInput => ({
      time: now,
      type: ERASURE_RECORD_TYPE,
      actor: 'rampart',
      client: null,
      route: null,
      requestId: null,
      outcome: 'success',
      details: {
        erasure,
        subject: ref,
        kind: kindOf(subject),
        entries: outcome.erased.length,
        notErasable: outcome.notErasable.length,
        alreadyErased: outcome.alreadyErased.length,
        events: eventsPlanned.length,
        records: {
          users: identity.user ? 1 : 0,
          consumers: identity.consumer ? 1 : 0,
          oauthClients: identity.oauthClient ? 1 : 0,
          apiKeys: identity.apiKeys,
          sessions: identity.sessions,
          refreshTokenFamilies: identity.refreshTokenFamilies,
        },
        ...(reference === undefined ? {} : { reference }),
      },
    });
    const result = await context.audit.erase({ seqs: entries.map((e) => e.seq), by: ref, at: now, erasure, record });
    audit = {
      store: context.auditWhere ?? '',
      erased: result.erased.length,
      notErasable: result.notErasable,
      alreadyErased: result.alreadyErased.length,
      recordSeq: result.record.seq,
    };
  }

  // 3. The events store.
  const events = context.events === undefined ? null : { store: context.eventsWhere ?? context.events.path, deleted: context.events.deleteIds(eventsPlanned.map((e) => e.id)) };

  // 4. The records, then the brute-force counter of the account.
  if (sessionOwner !== undefined) await sessions.deleteUserSessions(sessionOwner);
  for (const s of familySubjects) await sessions.deleteSubjectRefreshFamilies(s);
  if (user) {
    await identities.deleteUser(user.id);
    await counters.reset(BruteForceGuard.accountKey(normalizeUsername(user.username)));
  }
  if (consumer) await identities.deleteConsumer(consumer.id);
  if (client) await identities.deleteOAuthClient(client.clientId);
  if (context.storageFile !== undefined) truncateWal(context.storageFile);

  return {
    applied: true,
    erasure,
    subject: { query: subject.query, kind: kindOf(subject), ref },
    identity,
    audit,
    events: context.eventsWhere === undefined ? null : (events ?? { store: context.eventsWhere, deleted: 0 }),
    damaged: damaged.records,
    notErased: NOT_ERASED,
  };
}

/** Moves the write-ahead log into the file and empties it, so deleted rows do not linger in old frames. Best effort. */
function truncateWal(path: string): void {
  try {
    const db = openSqliteFile(path);
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  } catch {
    // A busy store: SQLite's automatic checkpoints move the frames later.
  }
}
