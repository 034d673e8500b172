/**
 * Who a data subject is, in the forms Rampart stores them (issue 7 point 5; GDPR art. 15 and 17, CCPA rights to
 * know and to delete). `rampart privacy export|erase --subject ID` takes one identifier; this module finds the
 * records it names and every form under which the subject appears in the audit chain and the events store:
 *
 * | record   | found by                          | appears as                                                         |
 * |----------|-----------------------------------|--------------------------------------------------------------------|
 * | user     | user id, or username (NFKC, case) | actor = user id (tokens, sessions); `userId`, `subject` members;     |
 * |          |                                   | `username`/`email`/`user` members as the keyed pseudonym `p:…`      |
 * |          |                                   | (audit/redact.ts); `user` as the brute-force reference (16 hex,      |
 * |          |                                   | BruteForceGuard.userRef); WebAuthn credential ids, refresh family ids|
 * | consumer | consumer id, or name              | actor = consumer name (API-key principals); id, key ids and prefixes |
 * | client   | OAuth client id                   | actor = client id; refresh family ids                                |
 * | external | nothing in the stores             | actor and identifier members equal to the id (e.g. a JWT `sub` of    |
 * |          |                                   | an external issuer)                                                  |
 *
 * Matching is exact and structural, never a pattern: the id is compared as a whole string with the stored actor,
 * and with string values of identifier-like members of the details (names ending in id, ref, prefix or name, and
 * subject, principal, user, username, email, login, consumer, client, owner, sub, actor); pseudonyms (`p:` + 32 hex,
 * unique by construction) are found anywhere, also inside text. So `%`, `_`, quotes or `*` in an id match only
 * themselves, and a short id such as `a` cannot match every entry that happens to contain the letter. An id only
 * written inside free text (a message) is not found: details are redacted and bounded, and policies put
 * identifiers in their own members.
 *
 * Reserved ids (`anonymous`, `[erased]`, `rampart`) are refused: they name nobody, and matching them would touch
 * everyone's entries.
 *
 * Records of the subject that the store holds but cannot decode (a damaged row: storage/ports.ts
 * `DamagedRecordHandler`) must neither block a request nor be passed over in silence: their ids are searched for
 * like the others, and export and erase list them (`DamagedSubjectRecords` below).
 */
import { createHmac } from 'node:crypto';
import type { Privacy } from '../../audit/privacy.ts';
import { cleanText, pseudonymOfText } from '../../audit/redact.ts';
import { ERASED_ACTOR } from '../../audit/chain.ts';
import { hashSecret } from '../../crypto/hashing.ts';
import {
  normalizeUsername,
  type ConsumerRecord,
  type DamagedRecordHandler,
  type IdentityStore,
  type OAuthClientRecord,
  type SessionStore,
  type StoreCorruptError,
  type UserRecord,
} from '../../storage/ports.ts';

/** Longer ids are refused (the stores' own limits are shorter; nothing longer can name a record). */
export const MAX_SUBJECT_LENGTH = 1024;
const RESERVED = new Set(['anonymous', ERASED_ACTOR, 'rampart']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
/** `audit/sink.ts` stores at most this much of an actor. */
const MAX_ACTOR = 256;

export type SubjectKind = 'user' | 'consumer' | 'client';
export const SUBJECT_KINDS: readonly SubjectKind[] = ['user', 'consumer', 'client'];

export class SubjectError extends Error {
  override readonly name = 'SubjectError';
}

/** The id is not usable as a subject (empty, too long, reserved, not text). */
export function checkSubjectId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) throw new SubjectError('--subject must not be empty');
  if (id.length > MAX_SUBJECT_LENGTH) throw new SubjectError(`--subject is longer than ${MAX_SUBJECT_LENGTH} characters`);
  if (CONTROL.test(id)) throw new SubjectError('--subject must not contain control characters');
  if (LONE_SURROGATE.test(id)) throw new SubjectError('--subject is not well-formed Unicode');
  if (RESERVED.has(id)) throw new SubjectError(`--subject "${id}" is reserved: it names no one`);
  return id;
}

export interface ResolvedSubject {
  /** The id as given. */
  readonly query: string;
  readonly user?: UserRecord;
  readonly consumer?: ConsumerRecord;
  readonly client?: OAuthClientRecord;
}

/** Which kind of record the subject is, or `external` when no record matched. */
export function kindOf(subject: ResolvedSubject): SubjectKind | 'external' {
  return subject.user ? 'user' : subject.consumer ? 'consumer' : subject.client ? 'client' : 'external';
}

/**
 * The record an id names: by id first, then by username or consumer name. An id naming records of several kinds
 * (a user `reporting` and a consumer `reporting`) needs `kind`, so an erasure never takes the wrong one.
 */
export async function resolveSubject(identities: IdentityStore, id: string, kind?: SubjectKind): Promise<ResolvedSubject> {
  checkSubjectId(id);
  const want = (k: SubjectKind) => kind === undefined || kind === k;
  const user = want('user') ? ((await identities.getUser(id)) ?? (await identities.findUserByUsername(id))) : undefined;
  const consumer = want('consumer') ? ((await identities.getConsumer(id)) ?? (await identities.findConsumerByName(id))) : undefined;
  const client = want('client') ? await identities.getOAuthClient(id) : undefined;
  const found = [user && 'user', consumer && 'consumer', client && 'client'].filter(Boolean) as SubjectKind[];
  if (found.length > 1) throw new SubjectError(`--subject names a ${found.join(' and a ')}; say which with --kind ${found.join('|')}`);
  return { query: id, ...(user ? { user } : {}), ...(consumer ? { consumer } : {}), ...(client ? { client } : {}) };
}

/** The subject's stable identifier: the record id, else the id as given. */
export function subjectKey(subject: ResolvedSubject): string {
  return subject.user?.id ?? subject.consumer?.id ?? subject.client?.clientId ?? subject.query;
}

/**
 * The keyed reference of an erased subject (`e:` + 128 bits), stored in tombstones and in the erasure record:
 * whoever holds the privacy key can answer "was X erased?" (recompute it from X's id); nobody else learns X. A domain
 * of its own, so it never equals the pseudonyms (`p:`) still stored for other purposes.
 */
export function erasureRef(privacyKey: Buffer, key: string): string {
  return `e:${createHmac('sha256', privacyKey).update('erased-subject').update('\0').update(key, 'utf8').digest('hex').slice(0, 32)}`;
}

/** A record of the subject that the store holds but cannot decode: what export and erase say about it. */
export interface DamagedRecord {
  readonly table: string;
  /** The record's id as the store names it (sessions: the first 8 characters of the session id's keyed hash). */
  readonly id: string;
  /** What is wrong with it (never the stored value). */
  readonly reason: string;
  /** What the damage means for the search of the audit chain and the events store, where it limits it. */
  readonly note?: string;
}

/** API-key failure events name the key by its prefix only, and the prefix is part of the record that cannot be read. */
const API_KEY_NOTE = 'the key prefix is not readable: audit entries and events that name this key only by its prefix are not found until the record is repaired';

/**
 * Collects the damaged records met by several list calls (pass `onDamaged` to each), once per table and id, in the
 * order they were met.
 */
export class DamagedSubjectRecords {
  readonly #records = new Map<string, DamagedRecord>();
  readonly onDamaged: DamagedRecordHandler = (error: StoreCorruptError) => {
    const key = `${error.table}\0${error.recordId}`;
    if (this.#records.has(key)) return;
    const record: DamagedRecord = { table: error.table, id: error.recordId, reason: error.reason };
    this.#records.set(key, error.table === 'api_keys' ? { ...record, note: API_KEY_NOTE } : record);
  };

  get records(): DamagedRecord[] {
    return [...this.#records.values()];
  }

  /** Ids of the damaged records of one table. */
  ids(table: string): string[] {
    return this.records.filter((record) => record.table === table).map((record) => record.id);
  }
}

/** The forms under which a subject appears in the audit chain and the events store. */
export interface SubjectForms {
  /** Stored actor values. */
  readonly actors: ReadonlySet<string>;
  /** Identifier values (user id, names, key ids, prefixes, family and credential ids). */
  readonly identifiers: ReadonlySet<string>;
  /** Keyed pseudonyms (`p:…`) and brute-force references: unique tokens, matched anywhere in a string. */
  readonly tokens: readonly string[];
}

export interface FormsDeps {
  readonly identities: IdentityStore;
  readonly sessions: SessionStore;
  readonly privacy: Privacy;
  /** The secret-hash pepper (BruteForceGuard.userRef). */
  readonly pepper: Buffer;
}


export async function subjectForms(subject: ResolvedSubject, deps: FormsDeps): Promise<SubjectForms> {
  const identifiers = new Set<string>([subject.query]);
  const tokens = new Set<string>();
  const { user, consumer, client } = subject;
  // A damaged record is still the subject's: its id, all the store can tell of it, is searched for like the rest
  // (export and erase list it as damaged; here it only must not shrink the search).
  const damaged: DamagedRecordHandler = (error) => {
    identifiers.add(error.recordId);
  };
  if (user) {
    identifiers.add(user.id).add(user.username).add(user.usernameNormalized);
    tokens.add(pseudonymOfText(user.username, deps.privacy));
    tokens.add(pseudonymOfText(user.usernameNormalized, deps.privacy));
    // BruteForceGuard.userRef: the account reference of login failures and lockouts.
    tokens.add(hashSecret(`rampart-event-user:${normalizeUsername(user.username)}`, deps.pepper).slice(0, 16));
    for (const credential of await deps.identities.listWebAuthnCredentials(user.id, damaged)) identifiers.add(credential.id);
    for (const family of await deps.sessions.listSubjectRefreshFamilies(user.id, damaged)) identifiers.add(family.id);
  }
  if (consumer) {
    identifiers.add(consumer.id).add(consumer.name);
    for (const key of await deps.identities.listApiKeys(consumer.id, damaged)) identifiers.add(key.id).add(key.prefix);
  }
  if (client) {
    identifiers.add(client.clientId);
    for (const family of await deps.sessions.listSubjectRefreshFamilies(client.clientId, damaged)) identifiers.add(family.id);
  }
  // E-mail addresses: as members (`username`, `email`) redact.ts stores the pseudonym of the NFKC, lower-case form;
  // inside text, of the lower-case form.
  for (const id of identifiers) {
    if (!id.includes('@')) continue;
    tokens.add(pseudonymOfText(id, deps.privacy));
    tokens.add(deps.privacy.pseudonym(id.toLowerCase()));
  }
  const actors = new Set<string>();
  for (const id of identifiers) actors.add(cleanText(id.slice(0, MAX_ACTOR), deps.privacy));
  for (const token of tokens) actors.add(token);
  // Never match what names nobody (a username "anonymous" must not take everyone's anonymous entries).
  for (const reserved of RESERVED) {
    actors.delete(reserved);
    identifiers.delete(reserved);
  }
  return { actors, identifiers, tokens: [...tokens] };
}

/** Member names (normalised: lower case, letters and digits) whose string values are identifiers. */
const IDENTIFIER_NAMES = new Set(['subject', 'principal', 'user', 'username', 'email', 'login', 'consumer', 'client', 'owner', 'sub', 'actor']);
const IDENTIFIER_SUFFIXES = ['id', 'ref', 'prefix', 'name'];
/** Bounds of the walk (redact.ts stores at most depth 6 and 64 members; a hostile store row cannot make it loop). */
const MAX_DEPTH = 8;

function identifierName(name: string): boolean {
  const n = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return IDENTIFIER_NAMES.has(n) || IDENTIFIER_SUFFIXES.some((suffix) => n.endsWith(suffix));
}

function containsToken(text: string, forms: SubjectForms): boolean {
  for (const token of forms.tokens) if (text.includes(token)) return true;
  return false;
}

function matchesValue(value: unknown, identifierMember: boolean, forms: SubjectForms, depth: number): boolean {
  if (typeof value === 'string') return (identifierMember && forms.identifiers.has(value)) || containsToken(value, forms);
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((item) => matchesValue(item, identifierMember, forms, depth + 1));
  for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
    if (matchesValue(member, identifierName(name), forms, depth + 1)) return true;
  }
  return false;
}

/** Does a stored audit entry or event (actor, details) concern the subject? */
export function concerns(forms: SubjectForms, row: { readonly actor?: string | null; readonly details: unknown }): boolean {
  if (typeof row.actor === 'string' && (forms.actors.has(row.actor) || containsToken(row.actor, forms))) return true;
  return matchesValue(row.details, false, forms, 0);
}
