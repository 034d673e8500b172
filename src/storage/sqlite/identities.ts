/**
 * SQLite IdentityStore. Statements are prepared once, at construction. Compare-and-set operations
 * are single conditional UPDATEs (atomic in SQLite) or `BEGIN IMMEDIATE` transactions.
 */
import type Database from 'better-sqlite3';
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
  decodeRows,
  openSealed,
  optionalText,
  optionalTime,
  parseJsonObject,
  parseTextList,
  recordIdentity,
  requireCount,
  requireJsonObject,
  requireText,
  requireTextList,
  requireTime,
} from '../shared.ts';
import { sqliteErrorCode } from './database.ts';

interface ConsumerRow {
  id: string;
  name: string;
  roles: string;
  tenant: string | null;
  disabled: number;
  created_at: number;
}

interface ApiKeyRow {
  id: string;
  consumer_id: string;
  name: string | null;
  prefix: string;
  hash: string;
  scopes: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

interface UserRow {
  id: string;
  username: string;
  username_normalized: string;
  password_hash: string;
  roles: string;
  tenant: string | null;
  mfa_required: number;
  disabled: number;
  created_at: number;
  password_changed_at: number;
  sessions_valid_after: number;
}

interface TotpRow {
  user_id: string;
  sealed_secret: string;
  created_at: number;
  confirmed_at: number | null;
  last_used_step: number | null;
}

interface WebAuthnRow {
  id: string;
  user_id: string;
  public_key: Buffer;
  counter: number;
  transports: string;
  created_at: number;
  last_used_at: number | null;
}

interface OAuthClientRow {
  client_id: string;
  secret_hash: string;
  name: string;
  roles: string;
  scopes: string;
  tenant: string | null;
  disabled: number;
  created_at: number;
}

interface SigningKeyRow {
  kid: string;
  alg: string;
  sealed_private_jwk: string;
  public_jwk: string;
  created_at: number;
  activated_at: number;
  retired_at: number | null;
}

/**
 * Turns a SQLite uniqueness violation into StoreConflictError naming the port's field, and a
 * foreign-key violation into StoreNotFoundError for the parent; anything else is rethrown.
 */
function translate(error: unknown, entity: string, fields: Readonly<Record<string, string>>, parent?: { entity: string; id: string }): never {
  const code = sqliteErrorCode(error);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const column = /constraint failed: \w+\.(\w+)/.exec((error as Error).message)?.[1] ?? '';
    throw new StoreConflictError(entity, fields[column] ?? column);
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' && parent !== undefined) throw new StoreNotFoundError(parent.entity, parent.id);
  throw error;
}

const json = (list: readonly string[]): string => JSON.stringify(list);
const flag = (value: boolean): number => (value ? 1 : 0);

export class SqliteIdentityStore implements IdentityStore {
  readonly #db: Database.Database;
  readonly #box: SecretBox;
  /** Last lastUsedAt this process wrote per key, to skip writes inside the touch resolution without a query. */
  readonly #touched = new Map<string, number>();
  readonly #sql;

  constructor(db: Database.Database, box: SecretBox) {
    this.#db = db;
    this.#box = box;
    const prepare = (sql: string) => db.prepare(sql);
    this.#sql = {
      insertConsumer: prepare(
        'INSERT INTO consumers (id, name, roles, tenant, disabled, created_at) VALUES (@id, @name, @roles, @tenant, @disabled, @createdAt)',
      ),
      getConsumer: prepare('SELECT * FROM consumers WHERE id = ?'),
      findConsumerByName: prepare('SELECT * FROM consumers WHERE name = ?'),
      listConsumers: prepare('SELECT * FROM consumers ORDER BY created_at, id'),
      updateConsumer: prepare('UPDATE consumers SET roles = @roles, tenant = @tenant, disabled = @disabled WHERE id = @id'),
      deleteConsumer: prepare('DELETE FROM consumers WHERE id = ?'),

      insertApiKey: prepare(
        `INSERT INTO api_keys (id, consumer_id, name, prefix, hash, scopes, expires_at, revoked_at, created_at, last_used_at)
         VALUES (@id, @consumerId, @name, @prefix, @hash, @scopes, @expiresAt, NULL, @createdAt, NULL)`,
      ),
      getApiKey: prepare('SELECT * FROM api_keys WHERE id = ?'),
      findApiKeyByPrefix: prepare('SELECT * FROM api_keys WHERE prefix = ?'),
      listApiKeys: prepare('SELECT * FROM api_keys ORDER BY created_at, id'),
      listConsumerApiKeys: prepare('SELECT * FROM api_keys WHERE consumer_id = ? ORDER BY created_at, id'),
      touchApiKey: prepare(
        'UPDATE api_keys SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR @at >= last_used_at + @resolution)',
      ),
      revokeApiKey: prepare('UPDATE api_keys SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL'),

      insertUser: prepare(
        `INSERT INTO users (id, username, username_normalized, password_hash, roles, tenant, mfa_required, disabled,
                            created_at, password_changed_at, sessions_valid_after)
         VALUES (@id, @username, @usernameNormalized, @passwordHash, @roles, @tenant, @mfaRequired, @disabled,
                 @createdAt, @createdAt, 0)`,
      ),
      getUser: prepare('SELECT * FROM users WHERE id = ?'),
      findUserByUsername: prepare('SELECT * FROM users WHERE username_normalized = ?'),
      listUsers: prepare('SELECT * FROM users ORDER BY created_at, id'),
      updateUser: prepare(
        'UPDATE users SET roles = @roles, tenant = @tenant, mfa_required = @mfaRequired, disabled = @disabled WHERE id = @id',
      ),
      setPasswordHash: prepare(
        `UPDATE users SET password_hash = @passwordHash, password_changed_at = @at,
                          sessions_valid_after = max(sessions_valid_after, @at) WHERE id = @id`,
      ),
      raiseSessionsValidAfter: prepare('UPDATE users SET sessions_valid_after = max(sessions_valid_after, @at) WHERE id = @id'),
      deleteUser: prepare('DELETE FROM users WHERE id = ?'),

      upsertTotp: prepare(
        `INSERT INTO totp_secrets (user_id, sealed_secret, created_at, confirmed_at, last_used_step)
         VALUES (@userId, @sealedSecret, @createdAt, NULL, NULL)
         ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at,
                                             confirmed_at = NULL, last_used_step = NULL`,
      ),
      getTotp: prepare('SELECT * FROM totp_secrets WHERE user_id = ?'),
      confirmTotp: prepare('UPDATE totp_secrets SET confirmed_at = @at WHERE user_id = @userId AND confirmed_at IS NULL'),
      // The compare-and-set of RFC 6238 §5.2 replay protection: one UPDATE, atomic in SQLite.
      recordTotpStep: prepare(
        'UPDATE totp_secrets SET last_used_step = @step WHERE user_id = @userId AND (last_used_step IS NULL OR last_used_step < @step)',
      ),
      deleteTotp: prepare('DELETE FROM totp_secrets WHERE user_id = ?'),

      userExists: prepare('SELECT 1 FROM users WHERE id = ?'),
      deleteRecoveryCodes: prepare('DELETE FROM recovery_codes WHERE user_id = ?'),
      insertRecoveryCode: prepare(
        'INSERT OR IGNORE INTO recovery_codes (user_id, hash, created_at, used_at) VALUES (@userId, @hash, @createdAt, NULL)',
      ),
      useRecoveryCode: prepare('UPDATE recovery_codes SET used_at = @at WHERE user_id = @userId AND hash = @hash AND used_at IS NULL'),
      countUnusedRecoveryCodes: prepare('SELECT count(*) AS unused FROM recovery_codes WHERE user_id = ? AND used_at IS NULL'),

      insertWebAuthn: prepare(
        `INSERT INTO webauthn_credentials (id, user_id, public_key, counter, transports, created_at, last_used_at)
         VALUES (@id, @userId, @publicKey, @counter, @transports, @createdAt, NULL)`,
      ),
      getWebAuthn: prepare('SELECT * FROM webauthn_credentials WHERE id = ?'),
      listWebAuthn: prepare('SELECT * FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id'),
      updateWebAuthnCounter: prepare(
        `UPDATE webauthn_credentials SET counter = @counter, last_used_at = @at
         WHERE id = @id AND (counter < @counter OR (counter = 0 AND @counter = 0))`,
      ),
      deleteWebAuthn: prepare('DELETE FROM webauthn_credentials WHERE id = ?'),

      insertOAuthClient: prepare(
        `INSERT INTO oauth_clients (client_id, secret_hash, name, roles, scopes, tenant, disabled, created_at)
         VALUES (@clientId, @secretHash, @name, @roles, @scopes, @tenant, @disabled, @createdAt)`,
      ),
      getOAuthClient: prepare('SELECT * FROM oauth_clients WHERE client_id = ?'),
      listOAuthClients: prepare('SELECT * FROM oauth_clients ORDER BY created_at, client_id'),
      updateOAuthClient: prepare(
        `UPDATE oauth_clients SET secret_hash = @secretHash, name = @name, roles = @roles, scopes = @scopes,
                                  tenant = @tenant, disabled = @disabled WHERE client_id = @clientId`,
      ),
      deleteOAuthClient: prepare('DELETE FROM oauth_clients WHERE client_id = ?'),

      insertSigningKey: prepare(
        `INSERT INTO signing_keys (kid, alg, sealed_private_jwk, public_jwk, created_at, activated_at, retired_at)
         VALUES (@kid, @alg, @sealedPrivateJwk, @publicJwk, @createdAt, @activatedAt, NULL)`,
      ),
      listSigningKeys: prepare('SELECT * FROM signing_keys ORDER BY created_at, kid'),
      getSigningKey: prepare('SELECT * FROM signing_keys WHERE kid = ?'),
      retireSigningKey: prepare('UPDATE signing_keys SET retired_at = @at WHERE kid = @kid AND retired_at IS NULL'),
      deleteSigningKey: prepare('DELETE FROM signing_keys WHERE kid = ?'),
    };
  }

  // Row mapping ---------------------------------------------------------------------------------

  #consumer(row: ConsumerRow | undefined): ConsumerRecord | undefined {
    if (row === undefined) return undefined;
    return Object.freeze({
      id: row.id,
      name: row.name,
      roles: parseTextList(row.roles, 'consumers', row.id, 'roles'),
      tenant: row.tenant,
      disabled: row.disabled === 1,
      createdAt: row.created_at,
    });
  }

  #apiKey(row: ApiKeyRow | undefined): ApiKeyRecord | undefined {
    if (row === undefined) return undefined;
    return Object.freeze({
      id: row.id,
      consumerId: row.consumer_id,
      name: row.name,
      prefix: row.prefix,
      hash: row.hash,
      scopes: row.scopes === null ? null : parseTextList(row.scopes, 'api_keys', row.id, 'scopes'),
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
    });
  }

  #user(row: UserRow | undefined): UserRecord | undefined {
    if (row === undefined) return undefined;
    return Object.freeze({
      id: row.id,
      username: row.username,
      usernameNormalized: row.username_normalized,
      passwordHash: row.password_hash,
      roles: parseTextList(row.roles, 'users', row.id, 'roles'),
      tenant: row.tenant,
      mfaRequired: row.mfa_required === 1,
      disabled: row.disabled === 1,
      createdAt: row.created_at,
      passwordChangedAt: row.password_changed_at,
      sessionsValidAfter: row.sessions_valid_after,
    });
  }

  #credential(row: WebAuthnRow | undefined): WebAuthnCredentialRecord | undefined {
    if (row === undefined) return undefined;
    return Object.freeze({
      id: row.id,
      userId: row.user_id,
      publicKey: new Uint8Array(row.public_key),
      counter: row.counter,
      transports: parseTextList(row.transports, 'webauthn_credentials', row.id, 'transports'),
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
    });
  }

  #oauthClient(row: OAuthClientRow | undefined): OAuthClientRecord | undefined {
    if (row === undefined) return undefined;
    return Object.freeze({
      clientId: row.client_id,
      secretHash: row.secret_hash,
      name: row.name,
      roles: parseTextList(row.roles, 'oauth_clients', row.client_id, 'roles'),
      scopes: parseTextList(row.scopes, 'oauth_clients', row.client_id, 'scopes'),
      tenant: row.tenant,
      disabled: row.disabled === 1,
      createdAt: row.created_at,
    });
  }

  #signingKey(row: SigningKeyRow): SigningKeyRecord {
    return Object.freeze({
      kid: row.kid,
      alg: row.alg,
      publicJwk: parseJsonObject(row.public_jwk, 'signing_keys', row.kid, 'public_jwk'),
      createdAt: row.created_at,
      activatedAt: row.activated_at,
      retiredAt: row.retired_at,
    });
  }

  // Consumers -----------------------------------------------------------------------------------

  async createConsumer(input: NewConsumer): Promise<ConsumerRecord> {
    const params = {
      id: input.id === undefined ? newId('con_') : requireText(input.id, 'consumer id'),
      name: requireText(input.name, 'consumer name'),
      roles: json(requireTextList(input.roles, 'consumer roles')),
      tenant: optionalText(input.tenant, 'consumer tenant'),
      disabled: flag(input.disabled ?? false),
      createdAt: requireTime(input.createdAt, 'consumer createdAt'),
    };
    try {
      this.#sql.insertConsumer.run(params);
    } catch (error) {
      translate(error, 'consumer', { id: 'id', name: 'name' });
    }
    return this.#consumer(this.#sql.getConsumer.get(params.id) as ConsumerRow)!;
  }

  async getConsumer(id: string): Promise<ConsumerRecord | undefined> {
    return this.#consumer(this.#sql.getConsumer.get(id) as ConsumerRow | undefined);
  }

  async findConsumerByName(name: string): Promise<ConsumerRecord | undefined> {
    return this.#consumer(this.#sql.findConsumerByName.get(name) as ConsumerRow | undefined);
  }

  async listConsumers(onDamaged?: DamagedRecordHandler): Promise<ConsumerRecord[]> {
    return decodeRows(this.#sql.listConsumers.all() as ConsumerRow[], (row) => this.#consumer(row)!, onDamaged);
  }

  async updateConsumer(id: string, patch: ConsumerPatch): Promise<ConsumerRecord | undefined> {
    const update = this.#db.transaction((): ConsumerRecord | undefined => {
      const existing = this.#consumer(this.#sql.getConsumer.get(id) as ConsumerRow | undefined);
      if (existing === undefined) return undefined;
      this.#sql.updateConsumer.run({
        id,
        roles: json(patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'consumer roles')),
        tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'consumer tenant'),
        disabled: flag(patch.disabled ?? existing.disabled),
      });
      return this.#consumer(this.#sql.getConsumer.get(id) as ConsumerRow);
    });
    return update.immediate();
  }

  async deleteConsumer(id: string): Promise<boolean> {
    // api_keys rows go with it: ON DELETE CASCADE.
    return this.#sql.deleteConsumer.run(id).changes === 1;
  }

  // API keys ------------------------------------------------------------------------------------

  async createApiKey(input: NewApiKey): Promise<ApiKeyRecord> {
    const params = {
      id: input.id === undefined ? newId('key_') : requireText(input.id, 'api key id'),
      consumerId: requireText(input.consumerId, 'api key consumerId'),
      name: optionalText(input.name, 'api key name'),
      prefix: requireText(input.prefix, 'api key prefix', 128),
      hash: requireText(input.hash, 'api key hash'),
      scopes: input.scopes === null ? null : json(requireTextList(input.scopes, 'api key scopes')),
      expiresAt: optionalTime(input.expiresAt, 'api key expiresAt'),
      createdAt: requireTime(input.createdAt, 'api key createdAt'),
    };
    try {
      this.#sql.insertApiKey.run(params);
    } catch (error) {
      translate(error, 'api key', { id: 'id', prefix: 'prefix' }, { entity: 'consumer', id: params.consumerId });
    }
    return this.#apiKey(this.#sql.getApiKey.get(params.id) as ApiKeyRow)!;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKey(this.#sql.getApiKey.get(id) as ApiKeyRow | undefined);
  }

  async findApiKeyByPrefix(prefix: string): Promise<ApiKeyRecord | undefined> {
    return this.#apiKey(this.#sql.findApiKeyByPrefix.get(prefix) as ApiKeyRow | undefined);
  }

  async listApiKeys(consumerId?: string, onDamaged?: DamagedRecordHandler): Promise<ApiKeyRecord[]> {
    const rows = (consumerId === undefined ? this.#sql.listApiKeys.all() : this.#sql.listConsumerApiKeys.all(consumerId)) as ApiKeyRow[];
    return decodeRows(rows, (row) => this.#apiKey(row)!, onDamaged);
  }

  async touchApiKey(id: string, at: EpochMs): Promise<void> {
    requireTime(at, 'touch time');
    const written = this.#touched.get(id);
    if (written !== undefined && at < written + API_KEY_TOUCH_RESOLUTION_MS) return;
    this.#sql.touchApiKey.run({ id, at, resolution: API_KEY_TOUCH_RESOLUTION_MS });
    // Bounded: one entry per key in use; a cleared map only costs one extra UPDATE per key.
    if (this.#touched.size >= 10_000) this.#touched.clear();
    this.#touched.set(id, at);
  }

  async revokeApiKey(id: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'revocation time');
    return this.#sql.revokeApiKey.run({ id, at }).changes === 1;
  }

  // Users ---------------------------------------------------------------------------------------

  async createUser(input: NewUser): Promise<UserRecord> {
    const username = requireText(input.username, 'username', 256);
    const params = {
      id: input.id === undefined ? newId('usr_') : requireText(input.id, 'user id'),
      username,
      usernameNormalized: normalizeUsername(username),
      passwordHash: requireText(input.passwordHash, 'password hash'),
      roles: json(requireTextList(input.roles, 'user roles')),
      tenant: optionalText(input.tenant, 'user tenant'),
      mfaRequired: flag(input.mfaRequired ?? false),
      disabled: flag(input.disabled ?? false),
      createdAt: requireTime(input.createdAt, 'user createdAt'),
    };
    try {
      this.#sql.insertUser.run(params);
    } catch (error) {
      translate(error, 'user', { id: 'id', username_normalized: 'username' });
    }
    return this.#user(this.#sql.getUser.get(params.id) as UserRow)!;
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    return this.#user(this.#sql.getUser.get(id) as UserRow | undefined);
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    return this.#user(this.#sql.findUserByUsername.get(normalizeUsername(username)) as UserRow | undefined);
  }

  async listUsers(onDamaged?: DamagedRecordHandler): Promise<UserRecord[]> {
    return decodeRows(this.#sql.listUsers.all() as UserRow[], (row) => this.#user(row)!, onDamaged);
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord | undefined> {
    const update = this.#db.transaction((): UserRecord | undefined => {
      const existing = this.#user(this.#sql.getUser.get(id) as UserRow | undefined);
      if (existing === undefined) return undefined;
      this.#sql.updateUser.run({
        id,
        roles: json(patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'user roles')),
        tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'user tenant'),
        mfaRequired: flag(patch.mfaRequired ?? existing.mfaRequired),
        disabled: flag(patch.disabled ?? existing.disabled),
      });
      return this.#user(this.#sql.getUser.get(id) as UserRow);
    });
    return update.immediate();
  }

  async setPasswordHash(id: string, passwordHash: string, at: EpochMs): Promise<UserRecord | undefined> {
    requireText(passwordHash, 'password hash');
    requireTime(at, 'password change time');
    if (this.#sql.setPasswordHash.run({ id, passwordHash, at }).changes === 0) return undefined;
    return this.getUser(id);
  }

  async revokeUserCredentialsBefore(id: string, at: EpochMs): Promise<UserRecord | undefined> {
    requireTime(at, 'revocation time');
    if (this.#sql.raiseSessionsValidAfter.run({ id, at }).changes === 0) return undefined;
    return this.getUser(id);
  }

  async deleteUser(id: string): Promise<boolean> {
    // TOTP secret, recovery codes and WebAuthn credentials go with it: ON DELETE CASCADE.
    return this.#sql.deleteUser.run(id).changes === 1;
  }

  // TOTP ----------------------------------------------------------------------------------------

  async setTotpSecret(userId: string, secret: Buffer, at: EpochMs): Promise<void> {
    requireText(userId, 'user id');
    if (!Buffer.isBuffer(secret) || secret.length === 0) throw new TypeError('TOTP secret must be a non-empty Buffer');
    requireTime(at, 'TOTP creation time');
    const sealedSecret = this.#box.seal(secret, recordIdentity('totp_secrets', userId));
    try {
      this.#sql.upsertTotp.run({ userId, sealedSecret, createdAt: at });
    } catch (error) {
      translate(error, 'TOTP secret', {}, { entity: 'user', id: userId });
    }
  }

  async getTotp(userId: string): Promise<TotpRecord | undefined> {
    const row = this.#sql.getTotp.get(userId) as TotpRow | undefined;
    if (row === undefined) return undefined;
    return Object.freeze({
      userId: row.user_id,
      secret: openSealed(this.#box, 'totp_secrets', row.user_id, row.sealed_secret),
      createdAt: row.created_at,
      confirmedAt: row.confirmed_at,
      lastUsedStep: row.last_used_step,
    });
  }

  async confirmTotp(userId: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'TOTP confirmation time');
    return this.#sql.confirmTotp.run({ userId, at }).changes === 1;
  }

  async recordTotpStep(userId: string, step: number): Promise<boolean> {
    requireCount(step, 'TOTP step');
    return this.#sql.recordTotpStep.run({ userId, step }).changes === 1;
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return this.#sql.deleteTotp.run(userId).changes === 1;
  }

  // Recovery codes ------------------------------------------------------------------------------

  async replaceRecoveryCodes(userId: string, hashes: readonly string[], at: EpochMs): Promise<void> {
    requireTextList(hashes, 'recovery code hashes');
    requireTime(at, 'recovery code creation time');
    const replace = this.#db.transaction(() => {
      if (this.#sql.userExists.get(userId) === undefined) throw new StoreNotFoundError('user', userId);
      this.#sql.deleteRecoveryCodes.run(userId);
      for (const hash of hashes) this.#sql.insertRecoveryCode.run({ userId, hash, createdAt: at });
    });
    replace.immediate();
  }

  async useRecoveryCode(userId: string, hash: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'recovery code use time');
    return this.#sql.useRecoveryCode.run({ userId, hash, at }).changes === 1;
  }

  async countUnusedRecoveryCodes(userId: string): Promise<number> {
    return (this.#sql.countUnusedRecoveryCodes.get(userId) as { unused: number }).unused;
  }

  // WebAuthn ------------------------------------------------------------------------------------

  async addWebAuthnCredential(input: NewWebAuthnCredential): Promise<WebAuthnCredentialRecord> {
    if (!(input.publicKey instanceof Uint8Array) || input.publicKey.length === 0) {
      throw new TypeError('WebAuthn public key must be a non-empty Uint8Array');
    }
    const params = {
      id: requireText(input.id, 'WebAuthn credential id'),
      userId: requireText(input.userId, 'user id'),
      publicKey: Buffer.from(input.publicKey),
      counter: requireCount(input.counter, 'WebAuthn counter'),
      transports: json(requireTextList(input.transports, 'WebAuthn transports')),
      createdAt: requireTime(input.createdAt, 'WebAuthn createdAt'),
    };
    try {
      this.#sql.insertWebAuthn.run(params);
    } catch (error) {
      translate(error, 'WebAuthn credential', { id: 'id' }, { entity: 'user', id: params.userId });
    }
    return this.#credential(this.#sql.getWebAuthn.get(params.id) as WebAuthnRow)!;
  }

  async getWebAuthnCredential(id: string): Promise<WebAuthnCredentialRecord | undefined> {
    return this.#credential(this.#sql.getWebAuthn.get(id) as WebAuthnRow | undefined);
  }

  async listWebAuthnCredentials(userId: string, onDamaged?: DamagedRecordHandler): Promise<WebAuthnCredentialRecord[]> {
    return decodeRows(this.#sql.listWebAuthn.all(userId) as WebAuthnRow[], (row) => this.#credential(row)!, onDamaged);
  }

  async updateWebAuthnCounter(id: string, counter: number, at: EpochMs): Promise<boolean> {
    requireCount(counter, 'WebAuthn counter');
    requireTime(at, 'WebAuthn use time');
    return this.#sql.updateWebAuthnCounter.run({ id, counter, at }).changes === 1;
  }

  async deleteWebAuthnCredential(id: string): Promise<boolean> {
    return this.#sql.deleteWebAuthn.run(id).changes === 1;
  }

  // OAuth clients -------------------------------------------------------------------------------

  async createOAuthClient(input: NewOAuthClient): Promise<OAuthClientRecord> {
    const params = {
      clientId: requireText(input.clientId, 'client id', 256),
      secretHash: requireText(input.secretHash, 'client secret hash'),
      name: requireText(input.name, 'client name'),
      roles: json(requireTextList(input.roles, 'client roles')),
      scopes: json(requireTextList(input.scopes, 'client scopes')),
      tenant: optionalText(input.tenant, 'client tenant'),
      disabled: flag(input.disabled ?? false),
      createdAt: requireTime(input.createdAt, 'client createdAt'),
    };
    try {
      this.#sql.insertOAuthClient.run(params);
    } catch (error) {
      translate(error, 'OAuth client', { client_id: 'clientId' });
    }
    return this.#oauthClient(this.#sql.getOAuthClient.get(params.clientId) as OAuthClientRow)!;
  }

  async getOAuthClient(clientId: string): Promise<OAuthClientRecord | undefined> {
    return this.#oauthClient(this.#sql.getOAuthClient.get(clientId) as OAuthClientRow | undefined);
  }

  async listOAuthClients(onDamaged?: DamagedRecordHandler): Promise<OAuthClientRecord[]> {
    return decodeRows(this.#sql.listOAuthClients.all() as OAuthClientRow[], (row) => this.#oauthClient(row)!, onDamaged);
  }

  async updateOAuthClient(clientId: string, patch: OAuthClientPatch): Promise<OAuthClientRecord | undefined> {
    const update = this.#db.transaction((): OAuthClientRecord | undefined => {
      const existing = this.#oauthClient(this.#sql.getOAuthClient.get(clientId) as OAuthClientRow | undefined);
      if (existing === undefined) return undefined;
      this.#sql.updateOAuthClient.run({
        clientId,
        secretHash: patch.secretHash === undefined ? existing.secretHash : requireText(patch.secretHash, 'client secret hash'),
        name: patch.name === undefined ? existing.name : requireText(patch.name, 'client name'),
        roles: json(patch.roles === undefined ? existing.roles : requireTextList(patch.roles, 'client roles')),
        scopes: json(patch.scopes === undefined ? existing.scopes : requireTextList(patch.scopes, 'client scopes')),
        tenant: patch.tenant === undefined ? existing.tenant : optionalText(patch.tenant, 'client tenant'),
        disabled: flag(patch.disabled ?? existing.disabled),
      });
      return this.#oauthClient(this.#sql.getOAuthClient.get(clientId) as OAuthClientRow);
    });
    return update.immediate();
  }

  async deleteOAuthClient(clientId: string): Promise<boolean> {
    return this.#sql.deleteOAuthClient.run(clientId).changes === 1;
  }

  // Signing keys --------------------------------------------------------------------------------

  async addSigningKey(input: NewSigningKey): Promise<SigningKeyRecord> {
    const kid = requireText(input.kid, 'signing key kid', 256);
    const params = {
      kid,
      alg: requireText(input.alg, 'signing key alg', 32),
      sealedPrivateJwk: this.#box.seal(JSON.stringify(requireJsonObject(input.privateJwk, 'private JWK')), recordIdentity('signing_keys', kid)),
      publicJwk: JSON.stringify(requireJsonObject(input.publicJwk, 'public JWK')),
      createdAt: requireTime(input.createdAt, 'signing key createdAt'),
      activatedAt: requireTime(input.activatedAt, 'signing key activatedAt'),
    };
    try {
      this.#sql.insertSigningKey.run(params);
    } catch (error) {
      translate(error, 'signing key', { kid: 'kid' });
    }
    return this.#signingKey(this.#sql.getSigningKey.get(kid) as SigningKeyRow);
  }

  async listSigningKeys(onDamaged?: DamagedRecordHandler): Promise<SigningKeyRecord[]> {
    return decodeRows(this.#sql.listSigningKeys.all() as SigningKeyRow[], (row) => this.#signingKey(row), onDamaged);
  }

  async getSigningKeyPrivateJwk(kid: string): Promise<JsonObject | undefined> {
    const row = this.#sql.getSigningKey.get(kid) as SigningKeyRow | undefined;
    if (row === undefined) return undefined;
    const text = openSealed(this.#box, 'signing_keys', kid, row.sealed_private_jwk).toString('utf8');
    return parseJsonObject(text, 'signing_keys', kid, 'sealed_private_jwk');
  }

  async retireSigningKey(kid: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'retirement time');
    return this.#sql.retireSigningKey.run({ kid, at }).changes === 1;
  }

  async deleteSigningKey(kid: string): Promise<boolean> {
    return this.#sql.deleteSigningKey.run(kid).changes === 1;
  }

  // Subject access (privacy/subject export) -----------------------------------------------------
  // Prepared per call: rare operator commands, and the constructor's statement table stays as it is.

  async getTotpEnrolment(userId: string): Promise<TotpEnrolment | undefined> {
    // The sealed secret is not even selected: what export shows is never decrypted.
    const row = this.#db.prepare('SELECT user_id, created_at, confirmed_at FROM totp_secrets WHERE user_id = ?').get(userId) as
      | { user_id: string; created_at: number; confirmed_at: number | null }
      | undefined;
    return row === undefined ? undefined : Object.freeze({ userId: row.user_id, createdAt: row.created_at, confirmedAt: row.confirmed_at });
  }

  async listRecoveryCodeUses(userId: string): Promise<RecoveryCodeUse[]> {
    const rows = this.#db
      .prepare('SELECT created_at, used_at FROM recovery_codes WHERE user_id = ? ORDER BY created_at, used_at IS NULL, used_at')
      .all(userId) as Array<{ created_at: number; used_at: number | null }>;
    return rows.map((row) => Object.freeze({ createdAt: row.created_at, usedAt: row.used_at }));
  }
}
