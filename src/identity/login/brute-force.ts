/**
 * Brute-force defence for passwords and MFA codes (issue 3, point 9; OWASP Authentication Cheat Sheet "Account
 * lockout", NIST SP 800-63B §5.2.2 rate limiting).
 *
 * - Failures are counted per account (`login-fail:user:<normalised username>`) and per client address
 *   (`login-fail:addr:<address>`) over a sliding window, in the CounterStore port (in-process today, Redis for
 *   several nodes later). Password and MFA-code failures share the account counter, so guessing codes after a
 *   stolen password locks the same account as guessing passwords.
 * - Counting is by the name that was tried, whether or not such a user exists: an unknown name is counted and
 *   locked exactly like a real one, so neither the delay nor the lockout reveals which accounts exist.
 * - Progressive delay: from the second failure in the window the failing answer is held back, doubling each time
 *   (capped), which slows a sequential guesser without affecting a user who mistypes once.
 * - Lockout: at `maxFailuresPerAccount` (or `maxFailuresPerAddress`) failures the key is locked for `lockFor`;
 *   while locked, attempts are refused without checking the password (no argon2 work to burn). After the lock
 *   ends, the window still holds the earlier failures, so a single further failure locks again at once.
 * - A success resets the account counter only: resetting the address counter would let an attacker who owns one
 *   account clear their address's record between guesses at others.
 */
import { hashSecret } from '../../crypto/hashing.ts';
import type { IdentityConfig } from '../types.ts';
import type { CounterStore } from '../../storage/ports.ts';
import type { SecurityEvents } from '../../observe/events.ts';

export const BASE_DELAY_MS = 250;
export const MAX_DELAY_MS = 4000;

export type Delay = (ms: number) => Promise<void>;

export const realDelay: Delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface AttemptSource {
  readonly requestId: string;
  readonly clientAddress: string;
  readonly routeId?: string;
}

export interface BruteForceGuardOptions {
  readonly config: IdentityConfig['bruteForce'];
  readonly counters: CounterStore;
  readonly events: SecurityEvents;
  readonly pepper: Buffer;
  readonly delay?: Delay;
}

export interface Lock {
  readonly scope: 'account' | 'address';
  readonly until: number;
}

export class BruteForceGuard {
  readonly #config: IdentityConfig['bruteForce'];
  readonly #counters: CounterStore;
  readonly #events: SecurityEvents;
  readonly #pepper: Buffer;
  readonly #delay: Delay;

  constructor(options: BruteForceGuardOptions) {
    this.#config = options.config;
    this.#counters = options.counters;
    this.#events = options.events;
    this.#pepper = options.pepper;
    this.#delay = options.delay ?? realDelay;
  }

  static accountKey(normalisedUsername: string): string {
    return `login-fail:user:${normalisedUsername}`;
  }

  static addressKey(address: string): string {
    return `login-fail:addr:${address}`;
  }

  /**
   * A stable pseudonym of a username for events and logs: keyed, so log readers can correlate attempts on one
   * account without learning the name (and without an offline dictionary, the pepper being secret).
   */
  userRef(normalisedUsername: string): string {
    return hashSecret(`rampart-event-user:${normalisedUsername}`, this.#pepper).slice(0, 16);
  }

  /** The lock in force for this account or address at `now`, if any. */
  async lockFor(normalisedUsername: string, address: string, now: number): Promise<Lock | undefined> {
    const [account, byAddress] = await Promise.all([
      this.#counters.lockedUntil(BruteForceGuard.accountKey(normalisedUsername), now),
      this.#counters.lockedUntil(BruteForceGuard.addressKey(address), now),
    ]);
    if (account !== null) return { scope: 'account', until: account };
    if (byAddress !== null) return { scope: 'address', until: byAddress };
    return undefined;
  }

  /**
   * Counts a failed password or code, locks what went over its limit (one `auth.brute-force-lockout` event per
   * lock), then waits the progressive delay before the caller answers.
   */
  async recordFailure(source: AttemptSource, normalisedUsername: string, now: number, factor: 'password' | 'mfa'): Promise<void> {
    const { windowMs, maxFailuresPerAccount, maxFailuresPerAddress, lockForMs } = this.#config;
    const accountKey = BruteForceGuard.accountKey(normalisedUsername);
    const addressKey = BruteForceGuard.addressKey(source.clientAddress);
    const [accountCount, addressCount] = await Promise.all([
      this.#counters.increment(accountKey, windowMs, now),
      this.#counters.increment(addressKey, windowMs, now),
    ]);
    if (accountCount >= maxFailuresPerAccount) await this.#lock(source, accountKey, 'account', now + lockForMs, now, factor, normalisedUsername, accountCount);
    if (addressCount >= maxFailuresPerAddress) await this.#lock(source, addressKey, 'address', now + lockForMs, now, factor, normalisedUsername, addressCount);
    const ms = progressiveDelayMs(accountCount);
    if (ms > 0) await this.#delay(ms);
  }

  /** After a success: the account's failures are forgiven (the address's are not, see the module comment). */
  async recordSuccess(normalisedUsername: string): Promise<void> {
    await this.#counters.reset(BruteForceGuard.accountKey(normalisedUsername));
  }

  async #lock(
    source: AttemptSource,
    key: string,
    scope: Lock['scope'],
    until: number,
    now: number,
    factor: 'password' | 'mfa',
    normalisedUsername: string,
    failures: number,
  ): Promise<void> {
    // Locked already (a concurrent failure won the race): one event per lock. Two racing requests may both see
    // "unlocked" and both report; the lock itself is idempotent (lockUntil keeps the later end).
    if ((await this.#counters.lockedUntil(key, now)) !== null) return;
    await this.#counters.lockUntil(key, until);
    this.#events.emit({
      type: 'auth.brute-force-lockout',
      severity: 'high',
      requestId: source.requestId,
      clientAddress: source.clientAddress,
      ...(source.routeId !== undefined ? { routeId: source.routeId } : {}),
      details: {
        scope,
        factor,
        ...(scope === 'account' ? { user: this.userRef(normalisedUsername) } : {}),
        failures: Math.floor(failures),
        lockedUntil: new Date(until).toISOString(),
      },
    });
  }
}

/** 0 for the first failure in the window, then 250 ms doubling, at most 4 s. */
export function progressiveDelayMs(failures: number): number {
  const n = Math.floor(failures);
  if (n < 2) return 0;
  return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(n - 2, 8));
}
