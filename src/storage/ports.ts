/**
 * Storage ports (ARCHITECTURE.md "State"): what the identity, session and brute-force code needs
 * from a store, with no SQL or store logic outside the adapters.
 *
 * Conventions every adapter follows (the shared contract suite, contract.testkit.ts, checks them):
 * - Every method returns a Promise, so PostgreSQL and Redis adapters fit behind the same interface.
 * - Records are plain, frozen, readonly objects; times are epoch milliseconds; absent optional values
 *   are `null`, never `undefined`. Lookups of a missing record resolve to `undefined`.
 * - Stores never read the clock: every time comes in as an argument, so callers inject clocks.
 * - Secrets: bearer secrets (API keys, session ids, refresh tokens, recovery codes, OAuth client
 *   secrets) come in already hashed (`hashSecret`, crypto/hashing.ts) and the store never sees them.
 *   Secrets that must be read back (TOTP seeds, private signing keys) come in as plaintext and the
 *   store seals them itself with the SecretBox it was opened with, the record identity
 *   (`<table>:<id>`) as additional data, so no caller can forget to encrypt. A sealed value that
 *   fails to open rejects with `StoreCorruptError` naming the table and record, never the value.
 * - Uniqueness violations reject with `StoreConflictError`, a reference to a missing parent record
 *   with `StoreNotFoundError`.
 * - Stored data is input too: a row that does not decode (a JSON column that is not JSON or not of
 *   the right shape, a sealed value that does not open) is a `StoreCorruptError`. Single-record
 *   reads always reject with it. List methods that decode rows take an optional last parameter
 *   `onDamaged` (`DamagedRecordHandler`, below), so that one bad row does not have to become an
 *   outage or block an operator's command; whether skipping it is safe is the caller's decision.
 * - Methods documented as atomic are compare-and-set: under any concurrency exactly one caller wins.
 */

export type EpochMs = number;
export type JsonObject = Readonly<Record<string, unknown>>;

// ---------------------------------------------------------------------------------------------
// Errors

export type StoreErrorCode = 'CONFLICT' | 'NOT_FOUND' | 'CORRUPT' | 'SCHEMA' | 'CONFIG';

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** A unique field (`field`) already holds this value, e.g. a consumer name or an API key prefix. */
export class StoreConflictError extends StoreError {
  override readonly name = 'StoreConflictError';
  readonly entity: string;
  readonly field: string;
  constructor(entity: string, field: string) {
    super('CONFLICT', `${entity} with this ${field} already exists`);
    this.entity = entity;
    this.field = field;
  }
}

/** A record the operation needs (usually the parent: the user of a TOTP secret) does not exist. */
export class StoreNotFoundError extends StoreError {
  override readonly name = 'StoreNotFoundError';
  constructor(entity: string, id: string) {
    super('NOT_FOUND', `${entity} "${id}" does not exist`);
  }
}

/**
 * A stored value cannot be read back (sealed secret that fails to open, unparsable column). The message, `table`,
 * `recordId` and `reason` name the record and what is wrong with it, never the stored value.
 */
export class StoreCorruptError extends StoreError {
  override readonly name = 'StoreCorruptError';
  readonly table: string;
  readonly recordId: string;
  /** What is wrong, e.g. `column scopes is not valid JSON` (the message without the record's name). */
  readonly reason: string;
  constructor(table: string, recordId: string, reason: string, options?: ErrorOptions) {
    super('CORRUPT', `stored record ${table} "${recordId}" is unreadable: ${reason}`, options);
    this.table = table;
    this.recordId = recordId;
    this.reason = reason;
  }
}

/**
 * Receives each damaged row a list method skipped (see the contract below).
 *
 * Contract of every list method that takes one (as its optional last parameter `onDamaged`):
 * - Without a handler (the default), the first row that does not decode rejects the whole call with
 *   `StoreCorruptError`, as a single-record read does: fail closed. Callers whose decision would
 *   turn permissive if a row were missing (does this user have a passkey?) must not pass one.
 * - With a handler, each row that does not decode is passed to it as its `StoreCorruptError` and left
 *   out; the readable rows are returned in their usual order. Only `StoreCorruptError` is caught:
 *   any other failure (the store is down, a bug) still rejects the call. Damaged rows are never
 *   changed or deleted by the store: they stay for an operator to inspect and repair.
 * Adapters that hold decoded objects (memory) have nothing that can be damaged and never call it.
 */
export type DamagedRecordHandler = (error: StoreCorruptError) => void;

/** The database schema is not one this build can use (newer version, edited migration). */
export class StoreSchemaError extends StoreError {
  override readonly name = 'StoreSchemaError';
  constructor(message: string) {
    super('SCHEMA', message);
  }
}

/** The store URL or options are wrong. */
export class StoreConfigError extends StoreError {
  override readonly name = 'StoreConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIG', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Identities

/** A machine client that authenticates with API keys. */
export interface ConsumerRecord {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly tenant: string | null;
  readonly disabled: boolean;
  readonly createdAt: EpochMs;
}

export interface NewConsumer {
  /** Generated (`con_…`) when absent. */
  readonly id?: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly tenant?: string | null;
  readonly disabled?: boolean;
  readonly createdAt: EpochMs;
}

export interface ConsumerPatch {
  readonly roles?: readonly string[];
  readonly tenant?: string | null;
  readonly disabled?: boolean;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly consumerId: string;
  readonly name: string | null;
  /** The visible part of the key (`rk_live_AbCd1234`), unique: how a presented key finds its record and how logs name it. */
  readonly prefix: string;
  /** `hashSecret` of the whole key. */
  readonly hash: string;
  /** Permission names narrowing the consumer's roles; null means all of them. */
  readonly scopes: readonly string[] | null;
  readonly expiresAt: EpochMs | null;
  readonly revokedAt: EpochMs | null;
  readonly createdAt: EpochMs;
  readonly lastUsedAt: EpochMs | null;
}

export interface NewApiKey {
  /** Generated (`key_…`) when absent. */
  readonly id?: string;
  readonly consumerId: string;
  readonly name?: string | null;
  readonly prefix: string;
  readonly hash: string;
  readonly scopes: readonly string[] | null;
  readonly expiresAt: EpochMs | null;
  readonly createdAt: EpochMs;
}

/**
 * `touchApiKey` records last use with this resolution: a touch less than this after the recorded
 * time is skipped, so a busy key costs one store write a minute instead of one per request.
 */
export const API_KEY_TOUCH_RESOLUTION_MS = 60_000;

export interface UserRecord {
  readonly id: string;
  /** As the user typed it at creation (for display). */
  readonly username: string;
  /** `normalizeUsername(username)`: the unique, case-insensitive lookup key. */
  readonly usernameNormalized: string;
  /** argon2id PHC string (crypto/passwords.ts). */
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly tenant: string | null;
  readonly mfaRequired: boolean;
  readonly disabled: boolean;
  readonly createdAt: EpochMs;
  readonly passwordChangedAt: EpochMs;
  /**
   * Sessions and tokens issued at or before this time are invalid (logout everywhere, password
   * change). Starts at 0. Compare at the issuer's resolution: JWT `iat` is in seconds.
   */
  readonly sessionsValidAfter: EpochMs;
}

export interface NewUser {
  /** Generated (`usr_…`) when absent. */
  readonly id?: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly tenant?: string | null;
  readonly mfaRequired?: boolean;
  readonly disabled?: boolean;
  readonly createdAt: EpochMs;
}

export interface UserPatch {
  readonly roles?: readonly string[];
  readonly tenant?: string | null;
  readonly mfaRequired?: boolean;
  readonly disabled?: boolean;
}

/**
 * The case-insensitive form usernames are unique under: Unicode NFKC, then lower case, so `Alice`,
 * `ALICE` and a fullwidth `Ａｌｉｃｅ` are one account (no look-alike duplicates by width or case).
 */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export interface TotpRecord {
  readonly userId: string;
  /** The shared secret (RFC 6238), opened from its sealed form. */
  readonly secret: Buffer;
  readonly createdAt: EpochMs;
  /** Null until the user proved possession with a first valid code. */
  readonly confirmedAt: EpochMs | null;
  /** The last time step a code was accepted for: codes of this step or earlier are replays. */
  readonly lastUsedStep: number | null;
}

/** TOTP enrolment without the secret (subject access: what is shown is never decrypted). */
export interface TotpEnrolment {
  readonly userId: string;
  readonly createdAt: EpochMs;
  readonly confirmedAt: EpochMs | null;
}

/** One recovery code as its creation and use times (never its hash). */
export interface RecoveryCodeUse {
  readonly createdAt: EpochMs;
  readonly usedAt: EpochMs | null;
}

export interface WebAuthnCredentialRecord {
  /** Credential id, base64url. */
  readonly id: string;
  readonly userId: string;
  /** COSE public key bytes (public: stored as is). */
  readonly publicKey: Uint8Array;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly createdAt: EpochMs;
  readonly lastUsedAt: EpochMs | null;
}

export interface NewWebAuthnCredential {
  readonly id: string;
  readonly userId: string;
  readonly publicKey: Uint8Array;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly createdAt: EpochMs;
}

export interface OAuthClientRecord {
  readonly clientId: string;
  /** `hashSecret` of the client secret. */
  readonly secretHash: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly tenant: string | null;
  readonly disabled: boolean;
  readonly createdAt: EpochMs;
}

export interface NewOAuthClient {
  readonly clientId: string;
  readonly secretHash: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly tenant?: string | null;
  readonly disabled?: boolean;
  readonly createdAt: EpochMs;
}

export interface OAuthClientPatch {
  readonly secretHash?: string;
  readonly name?: string;
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
  readonly tenant?: string | null;
  readonly disabled?: boolean;
}

/** A gateway token-signing key, without its private half (see `getSigningKeyPrivateJwk`). */
export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: JsonObject;
  readonly createdAt: EpochMs;
  /** Published from creation, used for signing from this time (rotation with overlap). */
  readonly activatedAt: EpochMs;
  /** No longer used for signing; kept published until tokens signed with it have expired. */
  readonly retiredAt: EpochMs | null;
}

export interface NewSigningKey {
  readonly kid: string;
  readonly alg: string;
  /** Private JWK in plaintext: the store seals it. */
  readonly privateJwk: JsonObject;
  readonly publicJwk: JsonObject;
  readonly createdAt: EpochMs;
  readonly activatedAt: EpochMs;
}

export interface IdentityStore {
  // Consumers
  createConsumer(input: NewConsumer): Promise<ConsumerRecord>;
  getConsumer(id: string): Promise<ConsumerRecord | undefined>;
  findConsumerByName(name: string): Promise<ConsumerRecord | undefined>;
  listConsumers(onDamaged?: DamagedRecordHandler): Promise<ConsumerRecord[]>;
  updateConsumer(id: string, patch: ConsumerPatch): Promise<ConsumerRecord | undefined>;
  /** Deletes the consumer and its API keys. */
  deleteConsumer(id: string): Promise<boolean>;

  // API keys
  createApiKey(input: NewApiKey): Promise<ApiKeyRecord>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  findApiKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined>;
  /** Ordered by creation time; all consumers' keys when `consumerId` is absent. */
  listApiKeys(consumerId?: string, onDamaged?: DamagedRecordHandler): Promise<ApiKeyRecord[]>;
  /** Records use at `at`, at `API_KEY_TOUCH_RESOLUTION_MS` resolution; never moves lastUsedAt back. */
  touchApiKey(id: string, at: EpochMs): Promise<void>;
  /** True when the key was active and is now revoked; false when unknown or already revoked (revokedAt kept). */
  revokeApiKey(id: string, at: EpochMs): Promise<boolean>;

  // Users
  createUser(input: NewUser): Promise<UserRecord>;
  getUser(id: string): Promise<UserRecord | undefined>;
  /** Case-insensitive (`normalizeUsername`). */
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  listUsers(onDamaged?: DamagedRecordHandler): Promise<UserRecord[]>;
  updateUser(id: string, patch: UserPatch): Promise<UserRecord | undefined>;
  /**
   * Replaces the password hash, sets passwordChangedAt and raises sessionsValidAfter to `at`: a
   * password change revokes every session and token issued before it (issue 3, point 7).
   */
  setPasswordHash(id: string, passwordHash: string, at: EpochMs): Promise<UserRecord | undefined>;
  /** Raises sessionsValidAfter to `at` (never lowers it). */
  revokeUserCredentialsBefore(id: string, at: EpochMs): Promise<UserRecord | undefined>;
  /** Deletes the user with their TOTP secret, recovery codes and WebAuthn credentials (sessions live in the SessionStore). */
  deleteUser(id: string): Promise<boolean>;

  // TOTP (RFC 6238)
  /** Stores (sealed) a new, unconfirmed secret, replacing any previous one and its replay state. */
  setTotpSecret(userId: string, secret: Buffer, at: EpochMs): Promise<void>;
  getTotp(userId: string): Promise<TotpRecord | undefined>;
  confirmTotp(userId: string, at: EpochMs): Promise<boolean>;
  /**
   * Atomic compare-and-set: records `step` as used and resolves true only when it is later than the
   * last used step, so one code is accepted once even under concurrent requests (RFC 6238 §5.2).
   * False when the step was already used (or an earlier one) or there is no secret.
   */
  recordTotpStep(userId: string, step: number): Promise<boolean>;
  deleteTotp(userId: string): Promise<boolean>;

  // Recovery codes (hashed, single use)
  /** Atomically replaces all of the user's recovery codes. */
  replaceRecoveryCodes(userId: string, hashes: readonly string[], at: EpochMs): Promise<void>;
  /** Atomic: true exactly once per unused code. */
  useRecoveryCode(userId: string, hash: string, at: EpochMs): Promise<boolean>;
  countUnusedRecoveryCodes(userId: string): Promise<number>;

  // WebAuthn credentials
  addWebAuthnCredential(input: NewWebAuthnCredential): Promise<WebAuthnCredentialRecord>;
  getWebAuthnCredential(id: string): Promise<WebAuthnCredentialRecord | undefined>;
  listWebAuthnCredentials(userId: string, onDamaged?: DamagedRecordHandler): Promise<WebAuthnCredentialRecord[]>;
  /**
   * Atomic: stores `counter` and `at` only when the counter grew, or when both the stored and the new
   * counter are 0 (authenticators without a counter, WebAuthn L3 §6.1.1). False otherwise: a signal of
   * a cloned authenticator, for the caller to refuse and report.
   */
  updateWebAuthnCounter(id: string, counter: number, at: EpochMs): Promise<boolean>;
  deleteWebAuthnCredential(id: string): Promise<boolean>;

  // OAuth clients (client-credentials grant)
  createOAuthClient(input: NewOAuthClient): Promise<OAuthClientRecord>;
  getOAuthClient(clientId: string): Promise<OAuthClientRecord | undefined>;
  listOAuthClients(onDamaged?: DamagedRecordHandler): Promise<OAuthClientRecord[]>;
  updateOAuthClient(clientId: string, patch: OAuthClientPatch): Promise<OAuthClientRecord | undefined>;
  deleteOAuthClient(clientId: string): Promise<boolean>;

  // Signing keys
  addSigningKey(input: NewSigningKey): Promise<SigningKeyRecord>;
  /** All keys, oldest first, public halves only. */
  listSigningKeys(onDamaged?: DamagedRecordHandler): Promise<SigningKeyRecord[]>;
  getSigningKeyPrivateJwk(kid: string): Promise<JsonObject | undefined>;
  retireSigningKey(kid: string, at: EpochMs): Promise<boolean>;
  deleteSigningKey(kid: string): Promise<boolean>;

  // Subject access (privacy/subject export): metadata only, nothing sealed is opened
  getTotpEnrolment(userId: string): Promise<TotpEnrolment | undefined>;
  /**
   * Ordered by creation, then use. Takes no `onDamaged`: it reads two integer columns of a STRICT table, which
   * cannot fail to decode.
   */
  listRecoveryCodeUses(userId: string): Promise<RecoveryCodeUse[]>;
}

// ---------------------------------------------------------------------------------------------
// Sessions, refresh-token families, access-token revocations

export interface SessionRecord {
  /** `hashSecret` of the session id in the cookie. */
  readonly idHash: string;
  readonly userId: string;
  readonly createdAt: EpochMs;
  readonly lastSeenAt: EpochMs;
  readonly absoluteExpiresAt: EpochMs;
  readonly idleTimeoutMs: number;
  /** Authentication methods (RFC 8176), e.g. ['pwd', 'otp']. */
  readonly amr: readonly string[];
  readonly acr: string | null;
  readonly csrfTokenHash: string | null;
  readonly revokedAt: EpochMs | null;
}

export interface NewSession {
  readonly idHash: string;
  readonly userId: string;
  readonly createdAt: EpochMs;
  readonly absoluteExpiresAt: EpochMs;
  readonly idleTimeoutMs: number;
  readonly amr: readonly string[];
  readonly acr?: string | null;
  readonly csrfTokenHash?: string | null;
}

/** Active at `now`: not revoked, within its absolute lifetime and its idle timeout (OWASP Session Management Cheat Sheet). */
export function isSessionActive(session: SessionRecord, now: EpochMs): boolean {
  return session.revokedAt === null && now < session.absoluteExpiresAt && now < session.lastSeenAt + session.idleTimeoutMs;
}

/** A chain of refresh tokens descending from one grant (RFC 9700 §4.14.2). */
export interface RefreshFamilyRecord {
  readonly id: string;
  /** User id, or client id for machine grants. */
  readonly subject: string;
  readonly clientId: string | null;
  readonly scopes: readonly string[];
  readonly amr: readonly string[];
  readonly acr: string | null;
  /** When the user authenticated (OIDC `auth_time`), carried to every token of the family. */
  readonly authTime: EpochMs;
  readonly createdAt: EpochMs;
  /** Absolute end of the family: rotation does not extend it. */
  readonly expiresAt: EpochMs;
  /** `hashSecret` of the only refresh token of the family that is currently valid. */
  readonly currentTokenHash: string;
  readonly rotatedAt: EpochMs | null;
  readonly revokedAt: EpochMs | null;
  readonly revokedReason: string | null;
}

export interface NewRefreshFamily {
  /** Generated (`rtf_…`) when absent. */
  readonly id?: string;
  readonly subject: string;
  readonly clientId?: string | null;
  readonly scopes: readonly string[];
  readonly amr: readonly string[];
  readonly acr?: string | null;
  readonly authTime: EpochMs;
  readonly createdAt: EpochMs;
  readonly expiresAt: EpochMs;
  readonly tokenHash: string;
}

/**
 * Outcome of presenting a refresh token:
 * - `rotated`: it was the family's current token; `newHash` is now current and the old one is used.
 * - `reuse-detected`: it was already used: the whole family is revoked (RFC 9700 §4.14.2), the
 *   legitimate client and the attacker both lose it and the user must authenticate again.
 * - `inactive`: it is the current token of a family that is revoked or expired.
 * - `unknown`: no family has ever issued it.
 */
export type RotationResult =
  | { readonly status: 'rotated'; readonly family: RefreshFamilyRecord }
  | { readonly status: 'reuse-detected'; readonly family: RefreshFamilyRecord }
  | { readonly status: 'inactive'; readonly family: RefreshFamilyRecord }
  | { readonly status: 'unknown' };

export interface PurgeCounts {
  readonly sessions: number;
  readonly refreshFamilies: number;
  readonly revokedAccessTokens: number;
}

export interface SessionStore {
  createSession(input: NewSession): Promise<SessionRecord>;
  /** The record whatever its state (use `isSessionActive`), or undefined. */
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  /**
   * Atomic validate-and-slide: when the session is active at `now`, moves lastSeenAt to `now` (never
   * back) and resolves the updated record; otherwise resolves undefined and changes nothing.
   */
  touchSession(idHash: string, now: EpochMs): Promise<SessionRecord | undefined>;
  revokeSession(idHash: string, at: EpochMs): Promise<boolean>;
  /** Revokes every unrevoked session of the user; resolves how many. */
  revokeUserSessions(userId: string, at: EpochMs): Promise<number>;
  /** The user's sessions active at `now`, oldest first. */
  listUserSessions(userId: string, now: EpochMs, onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]>;

  createRefreshFamily(input: NewRefreshFamily): Promise<RefreshFamilyRecord>;
  getRefreshFamily(id: string): Promise<RefreshFamilyRecord | undefined>;
  /** The family that issued this token (current or used), for RFC 7009 revocation. */
  findRefreshFamilyByToken(tokenHash: string): Promise<RefreshFamilyRecord | undefined>;
  /** Atomic; see `RotationResult`. Exactly one of any number of concurrent calls with the same `oldHash` rotates. */
  rotateRefreshToken(oldHash: string, newHash: string, now: EpochMs): Promise<RotationResult>;
  revokeRefreshFamily(id: string, at: EpochMs, reason: string): Promise<boolean>;
  revokeSubjectRefreshFamilies(subject: string, at: EpochMs, reason: string): Promise<number>;

  /** Adds a JWT id to the deny list until the token's own expiry (idempotent). */
  revokeAccessToken(jti: string, expiresAt: EpochMs): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;

  /**
   * Deletes what can no longer matter at `now`: sessions past their absolute or idle end or revoked,
   * refresh families past their expiry, and access-token revocations past the token's expiry.
   * Revoked but unexpired families are kept so reuse of their tokens is still detected.
   */
  purgeExpired(now: EpochMs): Promise<PurgeCounts>;

  // Subject access and erasure (privacy/subject), retention
  /** Every stored session of the user whatever its state (revoked, ended), oldest first. */
  listAllUserSessions(userId: string, onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]>;
  /** Deletes every session of the user; resolves how many. */
  deleteUserSessions(userId: string): Promise<number>;
  /** Every refresh-token family of the subject (user id or client id) whatever its state, oldest first. */
  listSubjectRefreshFamilies(subject: string, onDamaged?: DamagedRecordHandler): Promise<RefreshFamilyRecord[]>;
  /** Deletes the subject's refresh-token families with every token they issued; resolves how many families. */
  deleteSubjectRefreshFamilies(subject: string): Promise<number>;
  /**
   * Retention (`privacy.retention.sessions`): deletes sessions and refresh-token families created before `cutoff`,
   * whatever their state (`revokedAccessTokens` is 0: those end with their token's expiry, `purgeExpired`).
   */
  purgeCreatedBefore(cutoff: EpochMs): Promise<PurgeCounts>;
}

// ---------------------------------------------------------------------------------------------
// Counters

/**
 * Counts events per key over a sliding window, holds temporary locks (brute-force defence), and answers the
 * rate-limit checks of the `rate-limit` policy (GCRA rates, calendar quotas, concurrency slots).
 *
 * Sliding window (`increment`/`get`, brute-force counters): the sliding-window counter used by Cloudflare and by
 * nginx-style limiters: two fixed buckets (current and previous window) and an estimate `current + previous ×
 * (share of the previous window still inside the sliding window)`. O(1) memory per key, no double burst at bucket
 * edges like fixed windows. The estimate may be fractional; compare it with `>=`.
 *
 * GCRA (`take`): the Generic Cell Rate Algorithm (ITU-T I.371 "virtual scheduling"; the algorithm behind
 * redis-cell and `throttled`). One number per key, the theoretical arrival time (TAT) of the next request. A request
 * at `now` is allowed when `max(TAT, now) + T - now <= burst × T` (T = emission interval = period / rate) and then
 * moves TAT by T. Up to `burst` requests pass at once; after that one per T, exactly, whatever the wall-clock
 * bucket boundaries: there is no window edge at which two bursts can meet.
 *
 * Clocks: every method takes the caller's `now`. The memory adapter uses it (tests inject clocks). A shared
 * adapter answers `take`, `quota` and `acquire` with its own clock (Redis server `TIME`) so every gateway node
 * agrees on one time line; the brute-force methods keep the caller's time (their windows are minutes long).
 *
 * Synchronous answers: `take`, `quota`, `acquire` and `release` may answer synchronously (the memory adapter
 * does: no promise per request on the hot path) or with a Promise (Redis); callers handle both. A `RateDecision`
 * is valid until the next call on the same store (the memory adapter reuses one object): copy what you keep.
 *
 * Keys are bounded by `boundCounterKey`: attacker-influenced keys (addresses, usernames, header values) longer
 * than MAX_RAW_COUNTER_KEY are replaced by their SHA-256, in a separate namespace so no raw key can collide with a
 * hashed one. Each method family (windows, locks, GCRA, quotas, concurrency) has its own key space.
 */
export interface CounterStore {
  /** Adds one event at `now` and resolves the sliding-window count including it. Use one `windowMs` per key. */
  increment(key: string, windowMs: number, now: EpochMs): Promise<number>;
  /** The sliding-window count at `now` without adding. */
  get(key: string, windowMs: number, now: EpochMs): Promise<number>;
  /** Forgets the key's count and lock (e.g. after a successful login). */
  reset(key: string): Promise<void>;
  /** Locks the key until `until` (keeps a later existing lock). */
  lockUntil(key: string, until: EpochMs): Promise<void>;
  /** The end of the key's lock when it is locked at `now`, else null. */
  lockedUntil(key: string, now: EpochMs): Promise<EpochMs | null>;

  /**
   * GCRA: spends one unit of `key`'s allowance, where one unit comes back every `emissionIntervalMs` (may be
   * fractional: 1000/3 for 3/s) and at most `burst` units are held. Refused requests spend nothing.
   */
  take(key: string, emissionIntervalMs: number, burst: number, now: EpochMs): RateDecision | Promise<RateDecision>;
  /**
   * A quota of `limit` requests per UTC calendar `period` (day: from 00:00Z; month: from the 1st, 00:00Z). Resets
   * at the period boundary (a quota is a billing-style allowance, not a rate). Refused requests spend nothing.
   */
  quota(key: string, limit: number, period: QuotaPeriod, now: EpochMs): RateDecision | Promise<RateDecision>;
  /**
   * Takes one of `limit` concurrency slots of `key` under the caller-chosen, unique `leaseId`; resolves the slots
   * left after taking it, or -1 when all are taken. A slot not released within `leaseMs` is freed anyway (a shared
   * store cannot otherwise recover the slots of a node that died mid-request).
   */
  acquire(key: string, leaseId: string, limit: number, leaseMs: number, now: EpochMs): number | Promise<number>;
  /** Frees the slot taken under `leaseId` (no effect when it was already freed or expired). */
  release(key: string, leaseId: string): void | Promise<void>;
  /** Releases connections and timers; the owner of the store calls it once. */
  close?(): Promise<void>;
}

export type QuotaPeriod = 'day' | 'month';

/** The answer to one `take` or `quota` check. Milliseconds are relative to the check's time and rounded up. */
export interface RateDecision {
  allowed: boolean;
  /** Whole units left after this check (0 when refused). */
  remaining: number;
  /** When refused: how long until one unit is available again; 0 when allowed. */
  retryAfterMs: number;
  /** How long until the allowance is full again (GCRA) or the period ends (quota). */
  resetMs: number;
}

/**
 * The counter store cannot answer (connection lost, command timed out). Callers of the rate-limit methods treat
 * any rejection as this; the class lets logs say which it was.
 */
export class CounterStoreUnavailableError extends Error {
  override readonly name = 'CounterStoreUnavailableError';
}

export interface Stores {
  readonly identities: IdentityStore;
  readonly sessions: SessionStore;
  readonly counters: CounterStore;
  close(): Promise<void>;
}
