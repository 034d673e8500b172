/**
 * In-memory IdentityStore, for tests and throwaway runs. Same contract as the SQLite adapter,
 * including sealing: TOTP seeds and private signing keys are held sealed with the SecretBox, so the
 * contract suite exercises the same open-and-verify path. Every method does its work synchronously
 * before its promise settles, so each one is atomic in the single JavaScript thread.
 *
 * Records are held decoded (frozen objects), so no row can be damaged: list methods accept `onDamaged`
 * (ports.ts `DamagedRecordHandler`) to keep the port's signature, and never call it.
 */
import { newId } from '../../crypto/random.ts';
import type { SecretBox } from '../../crypto/secret-box.ts';
import {
  API_KEY_TOUCH_RESOLUTION_MS,
  StoreConflictError,
  StoreNotFoundError,
  normalizeUsername,
  type ApiKeyRecord,
  type ConsumerPatch,
  type ConsumerRecord,
  type DamagedRecordHandler,
  type EpochMs,
  type IdentityStore,
  type JsonObject,
  type NewApiKey,
  type NewConsumer,
  type NewOAuthClient,
  type NewSigningKey,
  type NewUser,
  type NewWebAuthnCredential,
  type OAuthClientPatch,
  type OAuthClientRecord,
  type SigningKeyRecord,
  type RecoveryCodeUse,
  type TotpEnrolment,
  type TotpRecord,
  type UserPatch,
  type UserRecord,
  type WebAuthnCredentialRecord,
} from '../ports.ts';
import {
  openSealed,
  optionalText,
  optionalTime,
  parseJsonObject,
  recordIdentity,
  requireCount,
  requireJsonObject,
  requireText,
  requireTextList,
  requireTime,
} from '../shared.ts';

interface StoredTotp {
  readonly sealedSecret: string;
  readonly createdAt: EpochMs;
  confirmedAt: EpochMs | null;
  lastUsedStep: number | null;
}

interface StoredRecoveryCode {
  readonly createdAt: EpochMs;
  usedAt: EpochMs | null;
}

interface StoredSigningKey {
  record: SigningKeyRecord;
  readonly sealedPrivateJwk: string;
}

function byCreation<T extends { readonly createdAt: number }>(key: (record: T) => string): (a: T, b: T) => number {
  return (a, b) => a.createdAt - b.createdAt || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

export class MemoryIdentityStore implements IdentityStore {
  readonly #box: SecretBox;
  readonly #consumers = new Map<string, ConsumerRecord>();
  readonly #consumerIdByName = new Map<string, string>();
  readonly #apiKeys = new Map<string, ApiKeyRecord>();
  readonly #apiKeyIdByPrefix = new Map<string, string>();
  readonly #users = new Map<string, UserRecord>();
  readonly #userIdByUsername = new Map<string, string>();
  readonly #totp = new Map<string, StoredTotp>();
  readonly #recoveryCodes = new Map<string, Map<string, StoredRecoveryCode>>();
  readonly #webAuthn = new Map<string, WebAuthnCredentialRecord>();
  readonly #oauthClients = new Map<string, OAuthClientRecord>();
  readonly #signingKeys = new Map<string, StoredSigningKey>();

  constructor(box: SecretBox) {
    this.#box = box;
  }

  // Consumers ---------------------------------------------------------------------------------

  async createConsumer(input: NewConsumer): Promise<ConsumerRecord> {
    const record: ConsumerRecord = Object.freeze({
      id: input.id === undefined ? newId('con_') : requireText(input.id, 'consumer id'),
      name: requireText(input.name, 'consumer name'),
      roles: requireTextList(input.roles, 'consumer roles'),
      tenant: optionalText(input.tenant, 'consumer tenant'),
      disabled: input.disabled ?? false,
      createdAt: requireTime(input.createdAt, 'consumer createdAt'),
    });
    if (this.#consumers.has(record.id)) throw new StoreConflictError('consumer', 'id');
    if (this.#consumerIdByName.has(record.name)) throw new StoreConflictError('consumer', 'name');
    this.#consumers.set(record.id, record);
    this.#consumerIdByName.set(record.name, record.id);
    return record;
  }

  async getConsumer(id: string): Promise<ConsumerRecord | undefined> {
    return this.#consumers.get(id);
  }

  async findConsumerByName(name: string): Promise<ConsumerRecord | undefined> {
    const id = this.#consumerIdByName.get(name);
    return id === undefined ? undefined : this.#consumers.get(id);
  }

  async listConsumers(_onDamaged?: DamagedRecordHandler): Promise<ConsumerRecord[]> {
    return [...this.#consumers.values()].sort(byCreation((record) => record.id));
  }

  async updateConsumer(id: string, patch: ConsumerPatch): Promise<ConsumerRecord | undefined> {
    const existing = this.#consumers.get(id);
    if (existing === undefined) return undefined;
    const updated: ConsumerRecord = Object.freeze({
      ...existing,
      roles: patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'consumer roles'),
      tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'consumer tenant'),
      disabled: patch.disabled ?? existing.disabled,
    });
    this.#consumers.set(id, updated);
    return updated;
  }

  async deleteConsumer(id: string): Promise<boolean> {
    const existing = this.#consumers.get(id);
    if (existing === undefined) return false;
    for (const key of [...this.#apiKeys.values()]) {
      if (key.consumerId === id) {
        this.#apiKeys.delete(key.id);
        this.#apiKeyIdByPrefix.delete(key.prefix);
      }
    }
    this.#consumers.delete(id);
    this.#consumerIdByName.delete(existing.name);
    return true;
  }

  // API keys ----------------------------------------------------------------------------------

  async createApiKey(input: NewApiKey): Promise<ApiKeyRecord> {
    const record: ApiKeyRecord = Object.freeze({
      id: input.id === undefined ? newId('key_') : requireText(input.id, 'api key id'),
      consumerId: requireText(input.consumerId, 'api key consumerId'),
      name: optionalText(input.name, 'api key name'),
      prefix: requireText(input.prefix, 'api key prefix', 128),
      hash: requireText(input.hash, 'api key hash'),
      scopes: input.scopes === null ? null : requireTextList(input.scopes, 'api key scopes'),
      expiresAt: optionalTime(input.expiresAt, 'api key expiresAt'),
      revokedAt: null,
      createdAt: requireTime(input.createdAt, 'api key createdAt'),
      lastUsedAt: null,
    });
    if (!this.#consumers.has(record.consumerId)) throw new StoreNotFoundError('consumer', record.consumerId);
    if (this.#apiKeys.has(record.id)) throw new StoreConflictError('api key', 'id');
    if (this.#apiKeyIdByPrefix.has(record.prefix)) throw new StoreConflictError('api key', 'prefix');
    this.#apiKeys.set(record.id, record);
    this.#apiKeyIdByPrefix.set(record.prefix, record.id);
    return record;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKeys.get(id);
  }

  async findApiKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    const id = this.#apiKeyIdByPrefix.get(prefix);
    return id === undefined ? undefined : this.#apiKeys.get(id);
  }

  async listApiKeys(consumerId?: string, _onDamaged?: DamagedRecordHandler): Promise<ApiKeyRecord[]> {
    const all = [...this.#apiKeys.values()];
    return (consumerId === undefined ? all : all.filter((key) => key.consumerId === consumerId)).sort(byCreation((record) => record.id));
  }

  async touchApiKey(id: string, at: EpochMs): Promise<void> {
    requireTime(at, 'touch time');
    const existing = this.#apiKeys.get(id);
    if (existing === undefined) return;
    if (existing.lastUsedAt !== null && at < existing.lastUsedAt + API_KEY_TOUCH_RESOLUTION_MS) return;
    this.#apiKeys.set(id, Object.freeze({ ...existing, lastUsedAt: at }));
  }

  async revokeApiKey(id: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'revocation time');
    const existing = this.#apiKeys.get(id);
    if (existing === undefined || existing.revokedAt !== null) return false;
    this.#apiKeys.set(id, Object.freeze({ ...existing, revokedAt: at }));
    return true;
  }

  // Users -------------------------------------------------------------------------------------

  async createUser(input: NewUser): Promise<UserRecord> {
    const username = requireText(input.username, 'username', 256);
    const createdAt = requireTime(input.createdAt, 'user createdAt');
    const record: UserRecord = Object.freeze({
      id: input.id === undefined ? newId('usr_') : requireText(input.id, 'user id'),
      username,
      usernameNormalized: normalizeUsername(username),
      passwordHash: requireText(input.passwordHash, 'password hash'),
      roles: requireTextList(input.roles, 'user roles'),
      tenant: optionalText(input.tenant, 'user tenant'),
      mfaRequired: input.mfaRequired ?? false,
      disabled: input.disabled ?? false,
      createdAt,
      passwordChangedAt: createdAt,
      sessionsValidAfter: 0,
    });
    if (this.#users.has(record.id)) throw new StoreConflictError('user', 'id');
    if (this.#userIdByUsername.has(record.usernameNormalized)) throw new StoreConflictError('user', 'username');
    this.#users.set(record.id, record);
    this.#userIdByUsername.set(record.usernameNormalized, record.id);
    return record;
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    return this.#users.get(id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const id = this.#userIdByUsername.get(normalizeUsername(username));
    return id === undefined ? undefined : this.#users.get(id);
  }

  async listUsers(_onDamaged?: DamagedRecordHandler): Promise<UserRecord[]> {
    return [...this.#users.values()].sort(byCreation((record) => record.id));
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord | undefined> {
    const existing = this.#users.get(id);
    if (existing === undefined) return undefined;
    return this.#replaceUser({
      ...existing,
      roles: patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'user roles'),
      tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'user tenant'),
      mfaRequired: patch.mfaRequired ?? existing.mfaRequired,
      disabled: patch.disabled ?? existing.disabled,
    });
  }

  async setPasswordHash(id: string, passwordHash: string, at: EpochMs): Promise<UserRecord | undefined> {
    requireText(passwordHash, 'password hash');
    requireTime(at, 'password change time');
    const existing = this.#users.get(id);
    if (existing === undefined) return undefined;
    return this.#replaceUser({
      ...existing,
      passwordHash,
      passwordChangedAt: at,
      sessionsValidAfter: Math.max(existing.sessionsValidAfter, at),
    });
  }

  async revokeUserCredentialsBefore(id: string, at: EpochMs): Promise<UserRecord | undefined> {
    requireTime(at, 'revocation time');
    const existing = this.#users.get(id);
    if (existing === undefined) return undefined;
    return this.#replaceUser({ ...existing, sessionsValidAfter: Math.max(existing.sessionsValidAfter, at) });
  }

  async deleteUser(id: string): Promise<boolean> {
    const existing = this.#users.get(id);
    if (existing === undefined) return false;
    this.#users.delete(id);
    this.#userIdByUsername.delete(existing.usernameNormalized);
    this.#totp.delete(id);
    this.#recoveryCodes.delete(id);
    for (const credential of [...this.#webAuthn.values()]) {
      if (credential.userId === id) this.#webAuthn.delete(credential.id);
    }
    return true;
  }

  #replaceUser(record: UserRecord): UserRecord {
    const frozen = Object.freeze(record);
    this.#users.set(record.id, frozen);
    return frozen;
  }

  #requireUser(userId: string): void {
    if (!this.#users.has(userId)) throw new StoreNotFoundError('user', userId);
  }

  // TOTP --------------------------------------------------------------------------------------

  async setTotpSecret(userId: string, secret: Buffer, at: EpochMs): Promise<void> {
    requireText(userId, 'user id');
    if (!Buffer.isBuffer(secret) || secret.length === 0) throw new TypeError('TOTP secret must be a non-empty Buffer');
    requireTime(at, 'TOTP creation time');
    this.#requireUser(userId);
    const sealedSecret = this.#box.seal(secret, recordIdentity('totp_secrets', userId));
    this.#totp.set(userId, { sealedSecret, createdAt: at, confirmedAt: null, lastUsedStep: null });
  }

  async getTotp(userId: string): Promise<TotpRecord | undefined> {
    const stored = this.#totp.get(userId);
    if (stored === undefined) return undefined;
    return Object.freeze({
      userId,
      secret: openSealed(this.#box, 'totp_secrets', userId, stored.sealedSecret),
      createdAt: stored.createdAt,
      confirmedAt: stored.confirmedAt,
      lastUsedStep: stored.lastUsedStep,
    });
  }

  async confirmTotp(userId: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'TOTP confirmation time');
    const stored = this.#totp.get(userId);
    if (stored === undefined || stored.confirmedAt !== null) return false;
    stored.confirmedAt = at;
    return true;
  }

  async recordTotpStep(userId: string, step: number): Promise<boolean> {
    requireCount(step, 'TOTP step');
    const stored = this.#totp.get(userId);
    if (stored === undefined) return false;
    if (stored.lastUsedStep !== null && step <= stored.lastUsedStep) return false;
    stored.lastUsedStep = step;
    return true;
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return this.#totp.delete(userId);
  }

  // Recovery codes ----------------------------------------------------------------------------

  async replaceRecoveryCodes(userId: string, hashes: readonly string[], at: EpochMs): Promise<void> {
    requireTextList(hashes, 'recovery code hashes');
    requireTime(at, 'recovery code creation time');
    this.#requireUser(userId);
    const codes = new Map<string, StoredRecoveryCode>();
    for (const hash of hashes) codes.set(hash, { createdAt: at, usedAt: null });
    this.#recoveryCodes.set(userId, codes);
  }

  async useRecoveryCode(userId: string, hash: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'recovery code use time');
    const code = this.#recoveryCodes.get(userId)?.get(hash);
    if (code === undefined || code.usedAt !== null) return false;
    code.usedAt = at;
    return true;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    let unused = 0;
    for (const code of this.#recoveryCodes.get(userId)?.values() ?? []) if (code.usedAt === null) unused += 1;
    return unused;
  }

  // WebAuthn ----------------------------------------------------------------------------------

  async addWebAuthnCredential(input: NewWebAuthnCredential): Promise<WebAuthnCredentialRecord> {
    if (!(input.publicKey instanceof Uint8Array) || input.publicKey.length === 0) {
      throw new TypeError('WebAuthn public key must be a non-empty Uint8Array');
    }
    const record: WebAuthnCredentialRecord = Object.freeze({
      id: requireText(input.id, 'WebAuthn credential id'),
      userId: requireText(input.userId, 'user id'),
      publicKey: new Uint8Array(input.publicKey),
      counter: requireCount(input.counter, 'WebAuthn counter'),
      transports: requireTextList(input.transports, 'WebAuthn transports'),
      createdAt: requireTime(input.createdAt, 'WebAuthn createdAt'),
      lastUsedAt: null,
    });
    this.#requireUser(record.userId);
    if (this.#webAuthn.has(record.id)) throw new StoreConflictError('WebAuthn credential', 'id');
    this.#webAuthn.set(record.id, record);
    return this.#copyCredential(record);
  }

  async getWebAuthnCredential(id: string): Promise<WebAuthnCredentialRecord | undefined> {
    const record = this.#webAuthn.get(id);
    return record === undefined ? undefined : this.#copyCredential(record);
  }

  async listWebAuthnCredentials(userId: string, _onDamaged?: DamagedRecordHandler): Promise<WebAuthnCredentialRecord[]> {
    return [...this.#webAuthn.values()]
      .filter((credential) => credential.userId === userId)
      .sort(byCreation((record) => record.id))
      .map((record) => this.#copyCredential(record));
  }

  async updateWebAuthnCounter(id: string, counter: number, at: EpochMs): Promise<boolean> {
    requireCount(counter, 'WebAuthn counter');
    requireTime(at, 'WebAuthn use time');
    const existing = this.#webAuthn.get(id);
    if (existing === undefined) return false;
    const grew = counter > existing.counter || (counter === 0 && existing.counter === 0);
    if (!grew) return false;
    this.#webAuthn.set(id, Object.freeze({ ...existing, counter, lastUsedAt: at }));
    return true;
  }

  async deleteWebAuthnCredential(id: string): Promise<boolean> {
    return this.#webAuthn.delete(id);
  }

  /** Frozen objects cannot freeze a typed array's bytes: hand out copies so callers cannot edit the store. */
  #copyCredential(record: WebAuthnCredentialRecord): WebAuthnCredentialRecord {
    return Object.freeze({ ...record, publicKey: new Uint8Array(record.publicKey) });
  }

  // OAuth clients -----------------------------------------------------------------------------

  async createOAuthClient(input: NewOAuthClient): Promise<OAuthClientRecord> {
    const record: OAuthClientRecord = Object.freeze({
      clientId: requireText(input.clientId, 'client id', 256),
      secretHash: requireText(input.secretHash, 'client secret hash'),
      name: requireText(input.name, 'client name'),
      roles: requireTextList(input.roles, 'client roles'),
      scopes: requireTextList(input.scopes, 'client scopes'),
      tenant: optionalText(input.tenant, 'client tenant'),
      disabled: input.disabled ?? false,
      createdAt: requireTime(input.createdAt, 'client createdAt'),
    });
    if (this.#oauthClients.has(record.clientId)) throw new StoreConflictError('OAuth client', 'clientId');
    this.#oauthClients.set(record.clientId, record);
    return record;
  }

  async getOAuthClient(clientId: string): Promise<OAuthClientRecord | undefined> {
    return this.#oauthClients.get(clientId);
  }

  async listOAuthClients(_onDamaged?: DamagedRecordHandler): Promise<OAuthClientRecord[]> {
    return [...this.#oauthClients.values()].sort(byCreation((record) => record.clientId));
  }

  async updateOAuthClient(clientId: string, patch: OAuthClientPatch): Promise<OAuthClientRecord | undefined> {
    const existing = this.#oauthClients.get(clientId);
    if (existing === undefined) return undefined;
    const updated: OAuthClientRecord = Object.freeze({
      ...existing,
      secretHash: patch.secretHash === undefined ? existing.secretHash : requireText(patch.secretHash, 'client secret hash'),
      name: patch.name === undefined ? existing.name : requireText(patch.name, 'client name'),
      roles: patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'client roles'),
      scopes: patch.scopes === undefined ? existing.scopes : requireTextList(patch.scopes, 'client scopes'),
      tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'client tenant'),
      disabled: patch.disabled ?? existing.disabled,
    });
    this.#oauthClients.set(clientId, updated);
    return updated;
  }

  async deleteOAuthClient(clientId: string): Promise<boolean> {
    return this.#oauthClients.delete(clientId);
  }

  // Signing keys ------------------------------------------------------------------------------

  async addSigningKey(input: NewSigningKey): Promise<SigningKeyRecord> {
    const kid = requireText(input.kid, 'signing key kid', 256);
    const record: SigningKeyRecord = Object.freeze({
      kid,
      alg: requireText(input.alg, 'signing key alg', 32),
      publicJwk: Object.freeze(structuredClone(requireJsonObject(input.publicJwk, 'public JWK'))),
      createdAt: requireTime(input.createdAt, 'signing key createdAt'),
      activatedAt: requireTime(input.activatedAt, 'signing key activatedAt'),
      retiredAt: null,
    });
    const privateJwk = JSON.stringify(requireJsonObject(input.privateJwk, 'private JWK'));
    if (this.#signingKeys.has(kid)) throw new StoreConflictError('signing key', 'kid');
    this.#signingKeys.set(kid, { record, sealedPrivateJwk: this.#box.seal(privateJwk, recordIdentity('signing_keys', kid)) });
    return record;
  }

  async listSigningKeys(_onDamaged?: DamagedRecordHandler): Promise<SigningKeyRecord[]> {
    return [...this.#signingKeys.values()].map((stored) => stored.record).sort(byCreation((record) => record.kid));
  }

  async getSigningKeyPrivateJwk(kid: string): Promise<JsonObject | undefined> {
    const stored = this.#signingKeys.get(kid);
    if (stored === undefined) return undefined;
    const text = openSealed(this.#box, 'signing_keys', kid, stored.sealedPrivateJwk).toString('utf8');
    return parseJsonObject(text, 'signing_keys', kid, 'sealed_private_jwk');
  }

  async retireSigningKey(kid: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'retirement time');
    const stored = this.#signingKeys.get(kid);
    if (stored === undefined || stored.record.retiredAt !== null) return false;
    stored.record = Object.freeze({ ...stored.record, retiredAt: at });
    return true;
  }

  async deleteSigningKey(kid: string): Promise<boolean> {
    return this.#signingKeys.delete(kid);
  }

  // Subject access ----------------------------------------------------------------------------

  async getTotpEnrolment(userId: string): Promise<TotpEnrolment | undefined> {
    const stored = this.#totp.get(userId);
    return stored === undefined ? undefined : Object.freeze({ userId, createdAt: stored.createdAt, confirmedAt: stored.confirmedAt });
  }

  async listRecoveryCodeUses(userId: string): Promise<RecoveryCodeUse[]> {
    return [...(this.#recoveryCodes.get(userId)?.values() ?? [])]
      .map((code) => Object.freeze({ createdAt: code.createdAt, usedAt: code.usedAt }))
      .sort((a, b) => a.createdAt - b.createdAt || (a.usedAt ?? Infinity) - (b.usedAt ?? Infinity));
  }
}
