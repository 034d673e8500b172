/**
 * `rampart privacy export --subject ID`: everything Rampart holds about a data subject, as one JSON document (GDPR
 * art. 15 right of access and art. 20 portability in a machine-readable form; CCPA right to know).
 *
 * Built from allow-lists of fields, never by copying records: a field added to a record later is not exported
 * until someone decides it should be. What is deliberately left out is listed in the document itself (`omitted`),
 * with the reason, so the person receiving it knows it exists:
 *
 * - the password hash (argon2id): an offline-cracking target; it tells the person nothing they do not know;
 * - hashes of API keys, session ids, CSRF tokens, refresh tokens, recovery codes and client secrets: keyed hashes of
 *   bearer secrets, useful only to an attacker who gets hold of the export;
 * - the TOTP seed: whoever reads it can generate the person's second factor (they hold it in their authenticator;
 *   re-enrolling issues a new one); it is not even decrypted for the export (`getTotpEnrolment`).
 *
 * Places that hold data about the subject but that this command cannot read are listed in `notHeldHere` (gateway
 * memory, access log files, counters), with how to get at them.
 *
 * Records of the subject that the store holds but cannot decode (damaged rows: a passkey, API key, session or
 * refresh-token family) are listed under `damaged` by table, id and reason: the export says what it could not read,
 * instead of failing (which would block the request) or leaving them out in silence. Everything readable is there.
 */
import { ERASURE_RECORD_TYPE, type AuditEntry } from '../../audit/chain.ts';
import { formatStoredTime } from '../../audit/stored-time.ts';
import type { StoredEvent } from '../../events-store/types.ts';
import { isSessionActive, type RefreshFamilyRecord, type SessionRecord } from '../../storage/ports.ts';
import type { PrivacyContext } from './context.ts';
import { concerns, DamagedSubjectRecords, erasureRef, kindOf, subjectForms, subjectKey, type DamagedRecord, type ResolvedSubject, type SubjectForms } from './subject.ts';

export const EXPORT_FORMAT = 'rampart-subject-export/1';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : formatStoredTime(ms));

export const OMITTED: ReadonlyArray<{ readonly what: string; readonly why: string }> = [
  { what: 'password hash (argon2id)', why: 'an offline password-cracking target; it holds nothing the person does not already know' },
  {
    what: 'hashes of API keys, session ids, CSRF tokens, refresh tokens, recovery codes and OAuth client secrets',
    why: 'keyed hashes of bearer secrets: of no use to the person, of use to an attacker who obtains the export',
  },
  { what: 'TOTP seed', why: 'it generates the second factor; the person holds it in their authenticator (re-enrol for a new one); it is not decrypted for this export' },
  { what: 'WebAuthn private keys', why: 'never held by Rampart: they stay in the authenticator (the public key is exported)' },
];

export const NOT_HELD_HERE: ReadonlyArray<{ readonly where: string; readonly what: string; readonly how: string }> = [
  {
    where: 'gateway process memory',
    what: 'deprecation usage (calls to deprecated versions per consumer, first and last seen)',
    how: 'ask each running gateway: rampart deprecations report -c CONFIG --json; forgotten when the gateway restarts (privacy.retention.deprecationUsage)',
  },
  {
    where: 'gateway process memory',
    what: 'object ownership recorded from creating requests (authorize creates:)',
    how: 'held per gateway process until it restarts; not readable from the command line',
  },
  {
    where: 'access log files (pino)',
    what: 'request lines: time, client address, method, path, route, status, sizes, request id',
    how: 'search the log files or the log platform for the request ids listed under audit.entries; their retention is the log shipper\'s (privacy.retention.accessLogs)',
  },
  {
    where: 'counter store (memory or Redis)',
    what: 'brute-force counters keyed by the normalised username and by client address',
    how: 'short-lived: they expire with their window and lockout (identity.bruteForce); erase resets the account counter',
  },
];

export interface SubjectExport {
  readonly format: typeof EXPORT_FORMAT;
  readonly generatedAt: string;
  readonly subject: { readonly query: string; readonly kind: string; readonly id: string };
  readonly omitted: typeof OMITTED;
  /** Records of the subject the store holds but cannot read (not in the sections below); empty when none. */
  readonly damaged: readonly DamagedRecord[];
  readonly identity: {
    readonly user: Record<string, unknown> | null;
    readonly consumer: Record<string, unknown> | null;
    readonly oauthClient: Record<string, unknown> | null;
  };
  readonly sessions: Array<Record<string, unknown>>;
  readonly refreshTokenFamilies: Array<Record<string, unknown>>;
  readonly audit: { readonly store: string | null; readonly entries: Array<Record<string, unknown>>; readonly erasures: Array<Record<string, unknown>> };
  readonly events: { readonly store: string | null; readonly rows: Array<Record<string, unknown>> };
  readonly notHeldHere: typeof NOT_HELD_HERE;
}

function sessionOf(session: SessionRecord, now: number): Record<string, unknown> {
  return {
    userId: session.userId,
    createdAt: iso(session.createdAt),
    lastSeenAt: iso(session.lastSeenAt),
    absoluteExpiresAt: iso(session.absoluteExpiresAt),
    idleTimeoutMs: session.idleTimeoutMs,
    amr: [...session.amr],
    acr: session.acr,
    revokedAt: iso(session.revokedAt),
    active: isSessionActive(session, now),
  };
}

function familyOf(family: RefreshFamilyRecord): Record<string, unknown> {
  return {
    id: family.id,
    subject: family.subject,
    clientId: family.clientId,
    scopes: [...family.scopes],
    amr: [...family.amr],
    acr: family.acr,
    authTime: iso(family.authTime),
    createdAt: iso(family.createdAt),
    expiresAt: iso(family.expiresAt),
    rotatedAt: iso(family.rotatedAt),
    revokedAt: iso(family.revokedAt),
    revokedReason: family.revokedReason,
  };
}

export function auditEntryOf(entry: AuditEntry): Record<string, unknown> {
  return {
    seq: entry.seq,
    time: iso(entry.time),
    type: entry.type,
    actor: entry.actor,
    client: entry.client,
    route: entry.route,
    requestId: entry.requestId,
    outcome: entry.outcome,
    details: entry.details,
    format: entry.v ?? 1,
  };
}

export function eventRowOf(event: StoredEvent): Record<string, unknown> {
  return {
    id: event.id,
    time: iso(event.time),
    type: event.type,
    severity: event.severity,
    route: event.route,
    requestId: event.requestId,
    client: event.client,
    details: event.details,
  };
}

/**
 * One streamed read of the chain: the entries concerning the subject, and the erasure records naming its keyed
 * reference `ref` (when it was erased before and the same id is asked for again).
 */
async function scanAudit(context: PrivacyContext, forms: SubjectForms, ref?: string): Promise<{ entries: AuditEntry[]; erasures: Array<Record<string, unknown>> }> {
  const entries: AuditEntry[] = [];
  const erasures: Array<Record<string, unknown>> = [];
  if (context.audit === undefined) return { entries, erasures };
  for await (const entry of context.audit.read()) {
    // An erasure record names the subject only by its keyed reference; it is about the erasure, not the person.
    if (entry.type === ERASURE_RECORD_TYPE) {
      if (ref !== undefined && entry.details['subject'] === ref) erasures.push({ seq: entry.seq, time: iso(entry.time), ...entry.details });
    } else if (concerns(forms, entry)) entries.push(entry);
  }
  return { entries, erasures };
}

/** Audit entries concerning the subject (a full read of the chain, streamed). */
export async function auditEntriesConcerning(context: PrivacyContext, forms: SubjectForms): Promise<AuditEntry[]> {
  return (await scanAudit(context, forms)).entries;
}

export async function exportSubject(context: PrivacyContext, subject: ResolvedSubject): Promise<SubjectExport> {
  const now = context.now();
  const { identities, sessions } = context.stores;
  const forms = await subjectForms(subject, { identities, sessions, privacy: context.privacy, pepper: context.pepper });
  const { user, consumer, client } = subject;
  const damaged = new DamagedSubjectRecords();

  let userOut: Record<string, unknown> | null = null;
  const sessionRows: Array<Record<string, unknown>> = [];
  const families: RefreshFamilyRecord[] = [];
  if (user) {
    const totp = await identities.getTotpEnrolment(user.id);
    const codes = await identities.listRecoveryCodeUses(user.id);
    const passkeys = await identities.listWebAuthnCredentials(user.id, damaged.onDamaged);
    userOut = {
      id: user.id,
      username: user.username,
      roles: [...user.roles],
      tenant: user.tenant,
      mfaRequired: user.mfaRequired,
      disabled: user.disabled,
      createdAt: iso(user.createdAt),
      passwordChangedAt: iso(user.passwordChangedAt),
      sessionsValidAfter: iso(user.sessionsValidAfter),
      totp: totp === undefined ? null : { enrolledAt: iso(totp.createdAt), confirmedAt: iso(totp.confirmedAt) },
      recoveryCodes: { issued: codes.length, unused: codes.filter((c) => c.usedAt === null).length, usedAt: codes.flatMap((c) => (c.usedAt === null ? [] : [iso(c.usedAt)])) },
      webauthnCredentials: passkeys.map((p) => ({
        id: p.id,
        publicKey: Buffer.from(p.publicKey).toString('base64url'),
        counter: p.counter,
        transports: [...p.transports],
        createdAt: iso(p.createdAt),
        lastUsedAt: iso(p.lastUsedAt),
      })),
    };
    for (const session of await sessions.listAllUserSessions(user.id, damaged.onDamaged)) sessionRows.push(sessionOf(session, now));
    families.push(...(await sessions.listSubjectRefreshFamilies(user.id, damaged.onDamaged)));
  }
  let consumerOut: Record<string, unknown> | null = null;
  if (consumer) {
    const keys = await identities.listApiKeys(consumer.id, damaged.onDamaged);
    consumerOut = {
      id: consumer.id,
      name: consumer.name,
      roles: [...consumer.roles],
      tenant: consumer.tenant,
      disabled: consumer.disabled,
      createdAt: iso(consumer.createdAt),
      apiKeys: keys.map((k) => ({
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes === null ? null : [...k.scopes],
        createdAt: iso(k.createdAt),
        expiresAt: iso(k.expiresAt),
        revokedAt: iso(k.revokedAt),
        lastUsedAt: iso(k.lastUsedAt),
      })),
    };
  }
  let clientOut: Record<string, unknown> | null = null;
  if (client) {
    clientOut = {
      clientId: client.clientId,
      name: client.name,
      roles: [...client.roles],
      scopes: [...client.scopes],
      tenant: client.tenant,
      disabled: client.disabled,
      createdAt: iso(client.createdAt),
    };
    families.push(...(await sessions.listSubjectRefreshFamilies(client.clientId, damaged.onDamaged)));
  }
  if (!user && !consumer && !client) {
    // An external subject (a JWT `sub`): sessions and families of that id, if a store holds any.
    for (const session of await sessions.listAllUserSessions(subject.query, damaged.onDamaged)) sessionRows.push(sessionOf(session, now));
    families.push(...(await sessions.listSubjectRefreshFamilies(subject.query, damaged.onDamaged)));
  }

  const { entries, erasures } = await scanAudit(context, forms, erasureRef(context.privacyKey, subjectKey(subject)));
  const rows = context.events?.concerning(forms) ?? [];
  return {
    format: EXPORT_FORMAT,
    generatedAt: new Date(now).toISOString(),
    subject: { query: subject.query, kind: kindOf(subject), id: subjectKey(subject) },
    omitted: OMITTED,
    damaged: damaged.records,
    identity: { user: userOut, consumer: consumerOut, oauthClient: clientOut },
    sessions: sessionRows,
    refreshTokenFamilies: families.map(familyOf),
    audit: { store: context.auditWhere ?? null, entries: entries.map(auditEntryOf), erasures },
    events: { store: context.eventsWhere ?? null, rows: rows.map(eventRowOf) },
    notHeldHere: NOT_HELD_HERE,
  };
}
