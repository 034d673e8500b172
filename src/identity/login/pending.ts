/**
 * Half-finished logins: the `mfa_token` a password login returns when the user has TOTP (to be exchanged with a
 * code at the MFA endpoint), and the `enrollment_token` returned when the user must enrol first.
 *
 * Design (documented choice):
 * - Each token is 256 random bits with a purpose prefix (`mfa_…`, `enr_…`), short-lived (5 and 10 minutes),
 *   bound to one user and one purpose: an enrolment token cannot finish an MFA login or vice versa, and neither is
 *   an access token anywhere else (they are not JWTs and no other store knows them).
 * - Only the keyed hash (`hashSecret` under the pepper) is kept, in process memory: these live minutes, need no
 *   durability, and must not be confused with browser sessions, which they would be in the SessionStore (a
 *   session listing or a cookie lookup must never see them).
 * - Single use is atomic: `take` removes the entry synchronously before any await, so of two concurrent requests
 *   presenting one token exactly one gets it. A failed code puts it back (`giveBack`) with one attempt fewer;
 *   after `MAX_ATTEMPTS` failures the token is gone and the user must log in again.
 * - Bounded: at most `maxPerUser` live tokens per user (a new one evicts that user's oldest, so one account
 *   cannot flood the table) and `maxEntries` overall (expired first, then oldest).
 *
 * Multi-node: a token is only known to the node that issued it. Until the sessions port grows a purpose-scoped
 * short-lived record (Redis later), run the identity endpoints on one node or with sticky routing of
 * `{basePath}/login` and `{basePath}/mfa/*` by client.
 */
import { hashSecret } from '../../crypto/hashing.ts';
import { randomToken } from '../../crypto/random.ts';

export type PendingPurpose = 'mfa' | 'enrol';

export const MFA_TOKEN_TTL_MS = 5 * 60_000;
export const ENROLMENT_TOKEN_TTL_MS = 10 * 60_000;
export const MAX_ATTEMPTS = 5;

const PREFIX: Readonly<Record<PendingPurpose, string>> = { mfa: 'mfa_', enrol: 'enr_' };
const TOKEN_SHAPE = /^(mfa|enr)_[A-Za-z0-9_-]{43}$/;

export interface PendingEntry {
  readonly hash: string;
  readonly purpose: PendingPurpose;
  readonly userId: string;
  /** When the password was verified (epoch ms): the auth_time of the tokens this leads to. */
  readonly passwordVerifiedAt: number;
  readonly expiresAt: number;
  readonly attemptsLeft: number;
}

export interface PendingAuthStoreOptions {
  readonly pepper: Buffer;
  readonly maxEntries?: number;
  readonly maxPerUser?: number;
}

export class PendingAuthStore {
  readonly #pepper: Buffer;
  readonly #maxEntries: number;
  readonly #maxPerUser: number;
  /** By token hash, in insertion order (oldest first). */
  readonly #entries = new Map<string, PendingEntry>();
  readonly #byUser = new Map<string, string[]>();

  constructor(options: PendingAuthStoreOptions) {
    this.#pepper = options.pepper;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxPerUser = options.maxPerUser ?? 5;
  }

  get size(): number {
    return this.#entries.size;
  }

  #hash(token: string): string {
    return hashSecret(`rampart-pending:${token}`, this.#pepper);
  }

  /** A new token for `userId`; returned once, only its hash is kept. */
  create(purpose: PendingPurpose, userId: string, passwordVerifiedAt: number, now: number): string {
    const token = PREFIX[purpose] + randomToken(32);
    const ttl = purpose === 'mfa' ? MFA_TOKEN_TTL_MS : ENROLMENT_TOKEN_TTL_MS;
    const entry: PendingEntry = { hash: this.#hash(token), purpose, userId, passwordVerifiedAt, expiresAt: now + ttl, attemptsLeft: MAX_ATTEMPTS };
    const mine = this.#byUser.get(userId) ?? [];
    while (mine.length >= this.#maxPerUser) this.#entries.delete(mine.shift()!);
    if (this.#entries.size >= this.#maxEntries) this.#makeRoom(now);
    this.#entries.set(entry.hash, entry);
    mine.push(entry.hash);
    this.#byUser.set(userId, mine);
    return token;
  }

  /** The live entry for `token` with this purpose, left in place (an enrolment token serves several calls). */
  peek(purpose: PendingPurpose, token: unknown, now: number): PendingEntry | undefined {
    if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return undefined;
    const entry = this.#entries.get(this.#hash(token));
    if (entry === undefined || entry.purpose !== purpose) return undefined;
    if (now >= entry.expiresAt) {
      this.#remove(entry);
      return undefined;
    }
    return entry;
  }

  /** Removes and returns the live entry: the one caller that gets it may use it (atomic within the process). */
  take(purpose: PendingPurpose, token: unknown, now: number): PendingEntry | undefined {
    const entry = this.peek(purpose, token, now);
    if (entry !== undefined) this.#remove(entry);
    return entry;
  }

  /** Puts a taken entry back after a failed attempt, with one attempt fewer; dropped when none are left or expired. */
  giveBack(entry: PendingEntry, now: number): void {
    if (entry.attemptsLeft <= 1 || now >= entry.expiresAt) return;
    const mine = this.#byUser.get(entry.userId) ?? [];
    if (mine.length >= this.#maxPerUser) return;
    this.#entries.set(entry.hash, { ...entry, attemptsLeft: entry.attemptsLeft - 1 });
    mine.push(entry.hash);
    this.#byUser.set(entry.userId, mine);
  }

  /** Forgets every pending token of the user (password change, MFA reset, disable). */
  revokeUser(userId: string): void {
    for (const hash of this.#byUser.get(userId) ?? []) this.#entries.delete(hash);
    this.#byUser.delete(userId);
  }

  #remove(entry: PendingEntry): void {
    this.#entries.delete(entry.hash);
    const mine = this.#byUser.get(entry.userId);
    if (mine === undefined) return;
    const at = mine.indexOf(entry.hash);
    if (at !== -1) mine.splice(at, 1);
    if (mine.length === 0) this.#byUser.delete(entry.userId);
  }

  #makeRoom(now: number): void {
    for (const entry of this.#entries.values()) if (now >= entry.expiresAt) this.#remove(entry);
    const target = Math.floor(this.#maxEntries * 0.9);
    for (const entry of this.#entries.values()) {
      if (this.#entries.size <= target) break;
      this.#remove(entry);
    }
  }
}
