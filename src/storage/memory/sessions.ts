/**
 * In-memory SessionStore, for tests and throwaway runs. Each method completes synchronously before
 * its promise settles, which makes every compare-and-set atomic in the single JavaScript thread.
 * Records are held decoded, so no row can be damaged: list methods accept `onDamaged` (ports.ts) and never call it.
 */
import { newId } from '../../crypto/random.ts';
import {
  StoreConflictError,
  isSessionActive,
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
import { optionalText, requireCount, requireText, requireTextList, requireTime } from '../shared.ts';

interface StoredRefreshToken {
  readonly familyId: string;
  usedAt: EpochMs | null;
}

export class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #families = new Map<string, RefreshFamilyRecord>();
  readonly #refreshTokens = new Map<string, StoredRefreshToken>();
  readonly #revokedJtis = new Map<string, EpochMs>();

  // Sessions ----------------------------------------------------------------------------------

  async createSession(input: NewSession): Promise<SessionRecord> {
    const createdAt = requireTime(input.createdAt, 'session createdAt');
    const record: SessionRecord = Object.freeze({
      idHash: requireText(input.idHash, 'session id hash'),
      userId: requireText(input.userId, 'user id'),
      createdAt,
      lastSeenAt: createdAt,
      absoluteExpiresAt: requireTime(input.absoluteExpiresAt, 'session absoluteExpiresAt'),
      idleTimeoutMs: requireCount(input.idleTimeoutMs, 'session idleTimeoutMs'),
      amr: requireTextList(input.amr, 'session amr'),
      acr: optionalText(input.acr, 'session acr'),
      csrfTokenHash: optionalText(input.csrfTokenHash, 'CSRF token hash'),
      revokedAt: null,
    });
    if (this.#sessions.has(record.idHash)) throw new StoreConflictError('session', 'idHash');
    this.#sessions.set(record.idHash, record);
    return record;
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    return this.#sessions.get(idHash);
  }

  async touchSession(idHash: string, now: EpochMs): Promise<SessionRecord | undefined> {
    requireTime(now, 'now');
    const existing = this.#sessions.get(idHash);
    if (existing === undefined || !isSessionActive(existing, now)) return undefined;
    if (now <= existing.lastSeenAt) return existing;
    const updated = Object.freeze({ ...existing, lastSeenAt: now });
    this.#sessions.set(idHash, updated);
    return updated;
  }

  async revokeSession(idHash: string, at: EpochMs): Promise<boolean> {
    requireTime(at, 'revocation time');
    const existing = this.#sessions.get(idHash);
    if (existing === undefined || existing.revokedAt !== null) return false;
    this.#sessions.set(idHash, Object.freeze({ ...existing, revokedAt: at }));
    return true;
  }

  async revokeUserSessions(userId: string, at: EpochMs): Promise<number> {
    requireTime(at, 'revocation time');
    let revoked = 0;
    for (const session of [...this.#sessions.values()]) {
      if (session.userId === userId && session.revokedAt === null) {
        this.#sessions.set(session.idHash, Object.freeze({ ...session, revokedAt: at }));
        revoked += 1;
      }
    }
    return revoked;
  }

  async listUserSessions(userId: string, now: EpochMs, _onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]> {
    requireTime(now, 'now');
    return [...this.#sessions.values()]
      .filter((session) => session.userId === userId && isSessionActive(session, now))
      .sort((a, b) => a.createdAt - b.createdAt || (a.idHash < b.idHash ? -1 : 1));
  }

  // Refresh-token families (RFC 9700 §4.14.2) -------------------------------------------------

  async createRefreshFamily(input: NewRefreshFamily): Promise<RefreshFamilyRecord> {
    const record: RefreshFamilyRecord = Object.freeze({
      id: input.id === undefined ? newId('rtf_') : requireText(input.id, 'refresh family id'),
      subject: requireText(input.subject, 'refresh family subject'),
      clientId: optionalText(input.clientId, 'refresh family clientId'),
      scopes: requireTextList(input.scopes, 'refresh family scopes'),
      amr: requireTextList(input.amr, 'refresh family amr'),
      acr: optionalText(input.acr, 'refresh family acr'),
      authTime: requireTime(input.authTime, 'refresh family authTime'),
      createdAt: requireTime(input.createdAt, 'refresh family createdAt'),
      expiresAt: requireTime(input.expiresAt, 'refresh family expiresAt'),
      currentTokenHash: requireText(input.tokenHash, 'refresh token hash'),
      rotatedAt: null,
      revokedAt: null,
      revokedReason: null,
    });
    if (this.#families.has(record.id)) throw new StoreConflictError('refresh family', 'id');
    if (this.#refreshTokens.has(record.currentTokenHash)) throw new StoreConflictError('refresh token', 'hash');
    this.#families.set(record.id, record);
    this.#refreshTokens.set(record.currentTokenHash, { familyId: record.id, usedAt: null });
    return record;
  }

  async getRefreshFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    return this.#families.get(id);
  }

  async findRefreshFamilyByToken(tokenHash: string): Promise<RefreshFamilyRecord | undefined> {
    const token = this.#refreshTokens.get(tokenHash);
    return token === undefined ? undefined : this.#families.get(token.familyId);
  }

  async rotateRefreshToken(oldHash: string, newHash: string, now: EpochMs): Promise<RotationResult> {
    requireText(newHash, 'new refresh token hash');
    requireTime(now, 'now');
    const token = this.#refreshTokens.get(oldHash);
    const family = token === undefined ? undefined : this.#families.get(token.familyId);
    if (token === undefined || family === undefined) return { status: 'unknown' };
    if (token.usedAt !== null || family.currentTokenHash !== oldHash) {
      const revoked = family.revokedAt === null ? this.#revokeFamily(family, now, 'refresh token reuse') : family;
      return { status: 'reuse-detected', family: revoked };
    }
    if (family.revokedAt !== null || now >= family.expiresAt) return { status: 'inactive', family };
    if (this.#refreshTokens.has(newHash)) throw new StoreConflictError('refresh token', 'hash');
    token.usedAt = now;
    this.#refreshTokens.set(newHash, { familyId: family.id, usedAt: null });
    const rotated = Object.freeze({ ...family, currentTokenHash: newHash, rotatedAt: now });
    this.#families.set(family.id, rotated);
    return { status: 'rotated', family: rotated };
  }

  async revokeRefreshFamily(id: string, at: EpochMs, reason: string): Promise<boolean> {
    requireTime(at, 'revocation time');
    requireText(reason, 'revocation reason');
    const family = this.#families.get(id);
    if (family === undefined || family.revokedAt !== null) return false;
    this.#revokeFamily(family, at, reason);
    return true;
  }

  async revokeSubjectRefreshFamilies(subject: string, at: EpochMs, reason: string): Promise<number> {
    requireTime(at, 'revocation time');
    requireText(reason, 'revocation reason');
    let revoked = 0;
    for (const family of [...this.#families.values()]) {
      if (family.subject === subject && family.revokedAt === null) {
        this.#revokeFamily(family, at, reason);
        revoked += 1;
      }
    }
    return revoked;
  }

  #revokeFamily(family: RefreshFamilyRecord, at: EpochMs, reason: string): RefreshFamilyRecord {
    const revoked = Object.freeze({ ...family, revokedAt: at, revokedReason: reason });
    this.#families.set(family.id, revoked);
    return revoked;
  }

  // Access-token revocation list --------------------------------------------------------------

  async revokeAccessToken(jti: string, expiresAt: EpochMs): Promise<void> {
    requireText(jti, 'jti');
    requireTime(expiresAt, 'token expiresAt');
    const existing = this.#revokedJtis.get(jti);
    if (existing === undefined || existing < expiresAt) this.#revokedJtis.set(jti, expiresAt);
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    return this.#revokedJtis.has(jti);
  }

  // Purge -------------------------------------------------------------------------------------

  async purgeExpired(now: EpochMs): Promise<PurgeCounts> {
    requireTime(now, 'now');
    let sessions = 0;
    for (const session of [...this.#sessions.values()]) {
      if (!isSessionActive(session, now)) {
        this.#sessions.delete(session.idHash);
        sessions += 1;
      }
    }
    let refreshFamilies = 0;
    const purgedFamilies = new Set<string>();
    for (const family of [...this.#families.values()]) {
      if (now >= family.expiresAt) {
        this.#families.delete(family.id);
        purgedFamilies.add(family.id);
        refreshFamilies += 1;
      }
    }
    if (purgedFamilies.size > 0) {
      for (const [hash, token] of [...this.#refreshTokens]) if (purgedFamilies.has(token.familyId)) this.#refreshTokens.delete(hash);
    }
    let revokedAccessTokens = 0;
    for (const [jti, expiresAt] of [...this.#revokedJtis]) {
      if (expiresAt <= now) {
        this.#revokedJtis.delete(jti);
        revokedAccessTokens += 1;
      }
    }
    return { sessions, refreshFamilies, revokedAccessTokens };
  }

  // Subject access, erasure, retention --------------------------------------------------------

  async listAllUserSessions(userId: string, _onDamaged?: DamagedRecordHandler): Promise<SessionRecord[]> {
    return [...this.#sessions.values()].filter((s) => s.userId === userId).sort((a, b) => a.createdAt - b.createdAt || (a.idHash < b.idHash ? -1 : 1));
  }

  async deleteUserSessions(userId: string): Promise<number> {
    let deleted = 0;
    for (const session of [...this.#sessions.values()]) {
      if (session.userId === userId) {
        this.#sessions.delete(session.idHash);
        deleted += 1;
      }
    }
    return deleted;
  }

  async listSubjectRefreshFamilies(subject: string, _onDamaged?: DamagedRecordHandler): Promise<RefreshFamilyRecord[]> {
    return [...this.#families.values()].filter((f) => f.subject === subject).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async deleteSubjectRefreshFamilies(subject: string): Promise<number> {
    return this.#deleteFamilies((family) => family.subject === subject);
  }

  async purgeCreatedBefore(cutoff: EpochMs): Promise<PurgeCounts> {
    requireTime(cutoff, 'cutoff');
    let sessions = 0;
    for (const session of [...this.#sessions.values()]) {
      if (session.createdAt < cutoff) {
        this.#sessions.delete(session.idHash);
        sessions += 1;
      }
    }
    return { sessions, refreshFamilies: this.#deleteFamilies((family) => family.createdAt < cutoff), revokedAccessTokens: 0 };
  }

  /** Deletes the matching families and every token they issued. */
  #deleteFamilies(match: (family: RefreshFamilyRecord) => boolean): number {
    const gone = new Set<string>();
    for (const family of [...this.#families.values()]) {
      if (match(family)) {
        this.#families.delete(family.id);
        gone.add(family.id);
      }
    }
    if (gone.size > 0) {
      for (const [hash, token] of [...this.#refreshTokens]) if (gone.has(token.familyId)) this.#refreshTokens.delete(hash);
    }
    return gone.size;
  }
}
