/**
 * SQLite SessionStore: sessions, refresh-token families (RFC 9700 §4.14.2) and the access-token
 * deny list, in the same file as the identities. Multi-statement operations run in `BEGIN
 * IMMEDIATE` transactions, which take the write lock before reading, so two processes cannot both
 * see a refresh token as current.
 */
import type Database from 'better-sqlite3';
import { newId } from '../../crypto/random.ts';
import {
  StoreConflictError,
  type DamagedRecordHandler,
  type EpochMs,
  type NewRefreshFamily,
  type NewSession,
  type PurgeCounts,
  type RefreshFamilyRecord,
  type RotationResult,
  type SessionRecord,
  type SessionStore,
} from '../ports.ts';
import { decodeRows, optionalText, parseTextList, requireCount, requireText, requireTextList, requireTime } from '../shared.ts';
import { sqliteErrorCode } from './database.ts';

interface SessionRow {
  id_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  absolute_expires_at: number;
  idle_timeout_ms: number;
  amr: string;
  acr: string | null;
  csrf_token_hash: string | null;
  revoked_at: number | null;
}

interface FamilyRow {
  id: string;
  subject: string;
  client_id: string | null;
  scopes: string;
  amr: string;
  acr: string | null;
  auth_time: number;
  created_at: number;
  expires_at: number;
  current_token_hash: string;
  rotated_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
}

interface TokenRow {
  hash: string;
  family_id: string;
  used_at: number | null;
}

function isUniqueViolation(error: unknown): boolean {
  const code = sqliteErrorCode(error);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A corrupt row is named by the first characters of its id hash: enough to find it, too few to present it anywhere. */
function sessionRecord(row: SessionRow): SessionRecord {
  return Object.freeze({
    idHash: row.id_hash,
    userId: row.user_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    absoluteExpiresAt: row.absolute_expires_at,
    idleTimeoutMs: row.idle_timeout_ms,
    amr: parseTextList(row.amr, 'sessions', row.id_hash.slice(0, 8), 'amr'),
    acr: row.acr,
    csrfTokenHash: row.csrf_token_hash,
    revokedAt: row.revoked_at,
  });
}

function familyRecord(row: FamilyRow): RefreshFamilyRecord {
  return Object.freeze({
    id: row.id,
    subject: row.subject,
    clientId: row.client_id,
    scopes: parseTextList(row.scopes, 'refresh_families', row.id, 'scopes'),
    amr: parseTextList(row.amr, 'refresh_families', row.id, 'amr'),
    acr: row.acr,
    authTime: row.auth_time,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    currentTokenHash: row.current_token_hash,
    rotatedAt: row.rotated_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  });
}

export class SqliteSessionStore implements SessionStore {
  readonly #db: Database.Database;
  readonly #sql;
  readonly #touch: (idHash: string, now: number) => SessionRecord | undefined;
  readonly #createFamily: (params: Record<string, unknown>) => void;
  readonly #rotate: (oldHash: string, newHash: string, now: number) => RotationResult;
  readonly #purge: (now: number) => PurgeCounts;

  constructor(db: Database.Database) {
    this.#db = db;
    const prepare = (sql: string) => db.prepare(sql);
    const sql = {
      insertSession: prepare(
        `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, absolute_expires_at, idle_timeout_ms, amr, acr,
                               csrf_token_hash, revoked_at)
         VALUES (@idHash, @userId, @createdAt, @createdAt, @absoluteExpiresAt, @idleTimeoutMs, @amr, @acr, @csrfTokenHash, NULL)`,
      ),
      getSession: prepare('SELECT * FROM sessions WHERE id_hash = ?'),
      // Active-at-now is checked in the same statement that slides the idle window: validate and touch are one atomic step.
      touchSession: prepare(
        `UPDATE sessions SET last_seen_at = max(last_seen_at, @now)
         WHERE id_hash = @idHash AND revoked_at IS NULL AND @now < absolute_expires_at AND @now < last_seen_at + idle_timeout_ms`,
      ),
      revokeSession: prepare('UPDATE sessions SET revoked_at = @at WHERE id_hash = @idHash AND revoked_at IS NULL'),
      revokeUserSessions: prepare('UPDATE sessions SET revoked_at = @at WHERE user_id = @userId AND revoked_at IS NULL'),
      listUserSessions: prepare(
        `SELECT * FROM sessions
         WHERE user_id = @userId AND revoked_at IS NULL AND @now < absolute_expires_at AND @now < last_seen_at + idle_timeout_ms
         ORDER BY created_at, id_hash`,
      ),

      insertFamily: prepare(
        `INSERT INTO refresh_families (id, subject, client_id, scopes, amr, acr, auth_time, created_at, expires_at,
                                       current_token_hash, rotated_at, revoked_at, revoked_reason)
         VALUES (@id, @subject, @clientId, @scopes, @amr, @acr, @authTime, @createdAt, @expiresAt, @tokenHash, NULL, NULL, NULL)`,
      ),
      insertToken: prepare('INSERT INTO refresh_tokens (hash, family_id, issued_at, used_at) VALUES (@hash, @familyId, @issuedAt, NULL)'),
      getFamily: prepare('SELECT * FROM refresh_families WHERE id = ?'),
      getToken: prepare('SELECT hash, family_id, used_at FROM refresh_tokens WHERE hash = ?'),
      markTokenUsed: prepare('UPDATE refresh_tokens SET used_at = @now WHERE hash = @hash AND used_at IS NULL'),
      setCurrentToken: prepare('UPDATE refresh_families SET current_token_hash = @newHash, rotated_at = @now WHERE id = @id'),
      revokeFamily: prepare('UPDATE refresh_families SET revoked_at = @at, revoked_reason = @reason WHERE id = @id AND revoked_at IS NULL'),
      revokeSubjectFamilies: prepare(
        'UPDATE refresh_families SET revoked_at = @at, revoked_reason = @reason WHERE subject = @subject AND revoked_at IS NULL',
      ),

      revokeAccessToken: prepare(
        `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (@jti, @expiresAt)
         ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
      ),
      isAccessTokenRevoked: prepare('SELECT 1 FROM revoked_access_tokens WHERE jti = ?'),

      purgeSessions: prepare(
        'DELETE FROM sessions WHERE revoked_at IS NOT NULL OR @now >= absolute_expires_at OR @now >= last_seen_at + idle_timeout_ms',
      ),
      // refresh_tokens rows go with their family: ON DELETE CASCADE.
      purgeFamilies: prepare('DELETE FROM refresh_families WHERE @now >= expires_at'),
      purgeRevokedAccessTokens: prepare('DELETE FROM revoked_access_tokens WHERE expires_at <= @now'),
    };
    this.#sql = sql;

    this.#touch = db.transaction((idHash: string, now: number): SessionRecord | undefined => {
      if (sql.touchSession.run({ idHash, now }).changes === 0) return undefined;
      return sessionRecord(sql.getSession.get(idHash) as SessionRow);
    }).immediate;

    this.#createFamily = db.transaction((params: Record<string, unknown>) => {
      sql.insertFamily.run(params);
      sql.insertToken.run({ hash: params['tokenHash'], familyId: params['id'], issuedAt: params['createdAt'] });
    }).immediate;

    this.#rotate = db.transaction((oldHash: string, newHash: string, now: number): RotationResult => {
      const token = sql.getToken.get(oldHash) as TokenRow | undefined;
      const row = token === undefined ? undefined : (sql.getFamily.get(token.family_id) as FamilyRow | undefined);
      if (token === undefined || row === undefined) return { status: 'unknown' };
      if (token.used_at !== null || row.current_token_hash !== oldHash) {
        // RFC 9700 §4.14.2: a refresh token used twice means one of the two users is an attacker; revoke the whole family.
        sql.revokeFamily.run({ id: row.id, at: now, reason: 'refresh token reuse' });
        return { status: 'reuse-detected', family: familyRecord(sql.getFamily.get(row.id) as FamilyRow) };
      }
      if (row.revoked_at !== null || now >= row.expires_at) return { status: 'inactive', family: familyRecord(row) };
      sql.markTokenUsed.run({ hash: oldHash, now });
      try {
        sql.insertToken.run({ hash: newHash, familyId: row.id, issuedAt: now });
      } catch (error) {
        if (isUniqueViolation(error)) throw new StoreConflictError('refresh token', 'hash');
        throw error;
      }
      sql.setCurrentToken.run({ id: row.id, newHash, now });
      return { status: 'rotated', family: familyRecord(sql.getFamily.get(row.id) as FamilyRow) };
    }).immediate;

    this.#purge = db.transaction((now: number): PurgeCounts => ({
      sessions: sql.purgeSessions.run({ now }).changes,
      refreshFamilies: sql.purgeFamilies.run({ now }).changes,
      revokedAccessTokens: sql.purgeRevokedAccessTokens.run({ now }).changes,
    })).immediate;
  }

  // Sessions ------------------------------------------------------------------------------------

  async createSession(input: NewSession): Promise<SessionRecord> {
    const params = {
      idHash: requireText(input.idHash, 'session id hash'),
      userId: requireText(input.userId, 'user id'),
      createdAt: requireTime(input.createdAt, 'session createdAt'),
      absoluteExpiresAt: requireTime(input.absoluteExpiresAt, 'session absoluteExpiresAt'),
      idleTimeoutMs: requireCount(input.idleTimeoutMs, 'session idleTimeoutMs'),
      amr: JSON.stringify(requireTextList(input.amr, 'session amr')),
      acr: optionalText(input.acr, 'session acr'),
      csrfTokenHash: optionalText(input.csrfTokenHash, 'CSRF token hash'),
    };
    try {
      this.#sql.insertSession.run(params);
    } catch (error) {
      if (isUniqueViolation(error)) throw new StoreConflictError('session', 'idHash');
      throw error;
    }
    return sessionRecord(this.#sql.getSession.get(params.idHash) as SessionRow);
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const row = this.#sql.getSession.get(idHash) as SessionRow | undefined;
    return row === undefined ? undefined : sessionRecord(row);
  }

  async touchSession(idHash: string, now: EpochMs): Promise<SessionRecord | undefined> {
    requireTime(now, 'now');
    return this.#touch(idHash, now);
  }

  async revokeSession(idHash: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'revocation time');
    return this.#sql.revokeSession.run({ idHash, at }).changes === 1;
  }

  async revokeUserSessions(userId: string, at: EpochMs): Promise<number> {
    requireTime(at, 'revocation time');
    return this.#sql.revokeUserSessions.run({ userId, at }).changes;
  }

  async listUserSessions(userId: string, now: EpochMs, onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]> {
    requireTime(now, 'now');
    return decodeRows(this.#sql.listUserSessions.all({ userId, now }) as SessionRow[], sessionRecord, onDamaged);
  }

  // Refresh-token families ----------------------------------------------------------------------

  async createRefreshFamily(input: NewRefreshFamily): Promise<RefreshFamilyRecord> {
    const params = {
      id: input.id === undefined ? newId('rtf_') : requireText(input.id, 'refresh family id'),
      subject: requireText(input.subject, 'refresh family subject'),
      clientId: optionalText(input.clientId, 'refresh family clientId'),
      scopes: JSON.stringify(requireTextList(input.scopes, 'refresh family scopes')),
      amr: JSON.stringify(requireTextList(input.amr, 'refresh family amr')),
      acr: optionalText(input.acr, 'refresh family acr'),
      authTime: requireTime(input.authTime, 'refresh family authTime'),
      createdAt: requireTime(input.createdAt, 'refresh family createdAt'),
      expiresAt: requireTime(input.expiresAt, 'refresh family expiresAt'),
      tokenHash: requireText(input.tokenHash, 'refresh token hash'),
    };
    try {
      this.#createFamily(params);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw /refresh_tokens/.test((error as Error).message)
          ? new StoreConflictError('refresh token', 'hash')
          : new StoreConflictError('refresh family', 'id');
      }
      throw error;
    }
    return familyRecord(this.#sql.getFamily.get(params.id) as FamilyRow);
  }

  async getRefreshFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    const row = this.#sql.getFamily.get(id) as FamilyRow | undefined;
    return row === undefined ? undefined : familyRecord(row);
  }

  async findRefreshFamilyByToken(tokenHash: string): Promise<RefreshFamilyRecord | undefined> {
    const token = this.#sql.getToken.get(tokenHash) as TokenRow | undefined;
    return token === undefined ? undefined : this.getRefreshFamily(token.family_id);
  }

  async rotateRefreshToken(oldHash: string, newHash: string, now: EpochMs): Promise<RotationResult> {
    requireText(newHash, 'new refresh token hash');
    requireTime(now, 'now');
    return this.#rotate(oldHash, newHash, now);
  }

  async revokeRefreshFamily(id: string, at: EpochMs, reason: string): Promise<boolean> {
    requireTime(at, 'revocation time');
    requireText(reason, 'revocation reason');
    return this.#sql.revokeFamily.run({ id, at, reason }).changes === 1;
  }

  async revokeSubjectRefreshFamilies(subject: string, at: EpochMs, reason: string): Promise<number> {
    requireTime(at, 'revocation time');
    requireText(reason, 'revocation reason');
    return this.#sql.revokeSubjectFamilies.run({ subject, at, reason }).changes;
  }

  // Access-token revocation list ----------------------------------------------------------------

  async revokeAccessToken(jti: string, expiresAt: EpochMs): Promise<void> {
    requireText(jti, 'jti');
    requireTime(expiresAt, 'token expiresAt');
    this.#sql.revokeAccessToken.run({ jti, expiresAt });
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    return this.#sql.isAccessTokenRevoked.get(jti) !== undefined;
  }

  async purgeExpired(now: EpochMs): Promise<PurgeCounts> {
    requireTime(now, 'now');
    return this.#purge(now);
  }

  // Subject access, erasure, retention (privacy/subject) ---------------------------------------
  // Statements prepared per call: operator commands and a periodic sweep, never the request path.

  async listAllUserSessions(userId: string, onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]> {
    const rows = this.#db.prepare('SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at, id_hash').all(userId) as SessionRow[];
    return decodeRows(rows, sessionRecord, onDamaged);
  }

  async deleteUserSessions(userId: string): Promise<number> {
    return this.#db.prepare('DELETE FROM sessions WHERE user_id = ?').run(userId).changes;
  }

  async listSubjectRefreshFamilies(subject: string, onDamaged?: DamagedRecordHandler): Promise<RefreshFamilyRecord[]> {
    const rows = this.#db.prepare('SELECT * FROM refresh_families WHERE subject = ? ORDER BY created_at, id').all(subject) as FamilyRow[];
    return decodeRows(rows, familyRecord, onDamaged);
  }

  async deleteSubjectRefreshFamilies(subject: string): Promise<number> {
    // refresh_tokens rows go with their family: ON DELETE CASCADE.
    return this.#db.prepare('DELETE FROM refresh_families WHERE subject = ?').run(subject).changes;
  }

  async purgeCreatedBefore(cutoff: EpochMs): Promise<PurgeCounts> {
    requireTime(cutoff, 'cutoff');
    const purge = this.#db.transaction(() => ({
      sessions: this.#db.prepare('DELETE FROM sessions WHERE created_at < ?').run(cutoff).changes,
      refreshFamilies: this.#db.prepare('DELETE FROM refresh_families WHERE created_at < ?').run(cutoff).changes,
      revokedAccessTokens: 0,
    }));
    return purge.immediate();
  }
}
