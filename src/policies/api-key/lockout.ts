/**
 * Brute-force control for API keys (issue 3 point 9; OWASP API2:2023 "Broken Authentication", OWASP Authentication
 * Cheat Sheet "Account lockout"): failed key attempts are counted per client address in the CounterStore port
 * (a sliding window; the rate-limiting issue moves it to Redis for several nodes), and an address with too many
 * failures is locked out for a while: every API-key attempt from it is then refused before any lookup.
 *
 * Decisions:
 * - The lockout is the control; there is no progressive delay by holding the request open: sleeping would tie up
 *   a gateway connection and memory per attempt, which is itself a denial-of-service lever for the attacker.
 * - Per address, never per key: the secret has 256 bits, so guessing one key is hopeless; what is worth stopping
 *   is an address spraying guesses (stolen-key lists, prefix scans). Locking a key's prefix would let anyone who
 *   sees a prefix in a log lock its owner out.
 * - A success never resets the address's count: an attacker holding one valid key could otherwise interleave it
 *   with guesses and never be locked.
 * - Attempts from a locked address are refused without being counted or reported one by one: the one
 *   `auth.brute-force-lockout` event per lock covers them, so a flood cannot flood the event log too.
 * - IPv6 clients are counted per /64: one subscriber usually holds a whole /64 (RFC 6177), so counting single
 *   addresses would give an attacker 2^64 fresh counters.
 * - Locks this process set or saw are mirrored in memory (shared by every route), so the cache-hit path checks a
 *   lock synchronously without a store read; the cache-miss path also asks the store, which sees locks set by
 *   other routes or (with Redis) other nodes.
 */
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { SecurityEvents } from '../../observe/events.ts';
import type { CounterStore } from '../../storage/ports.ts';
import type { RequestContext } from '../types.ts';

export interface LockoutSettings {
  /** Failures within `windowMs` (sliding window) that lock the address. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** How long the address stays locked. */
  readonly lockMs: number;
}

export const API_KEY_LOCKOUT: LockoutSettings = Object.freeze({ maxFailures: 20, windowMs: 15 * 60_000, lockMs: 15 * 60_000 });

/** Counter key namespace for failed API-key attempts. */
export const FAILURE_KEY_PREFIX = 'apikey-fail:';

/**
 * The unit an address is counted under: IPv4 addresses as they are (IPv4-mapped IPv6 as IPv4), IPv6 addresses by
 * their /64 network.
 */
export function addressBucket(address: string): string {
  if (!address.includes(':')) return address;
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const lower = text.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice('::ffff:'.length);
  if (!isIPv6(text)) return address;
  const [head = '', tail] = lower.split('::', 2) as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (`::1.2.3.4`) counts as two groups; it only ever sits in the low 64 bits.
  const tailLength = tailGroups.reduce((n, group) => n + (group.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? headGroups : [...headGroups, ...new Array<string>(8 - headGroups.length - tailLength).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Locks known to this process, by address bucket; one instance per runtime, shared by every route (deps.shared). */
export class LockMirror {
  readonly #locks = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  /** The end of the bucket's lock when it is locked at `now`, else undefined. Synchronous. */
  lockedUntil(bucket: string, now: number): number | undefined {
    const until = this.#locks.get(bucket);
    if (until === undefined) return undefined;
    if (now >= until) {
      this.#locks.delete(bucket);
      return undefined;
    }
    return until;
  }

  set(bucket: string, until: number, now: number): void {
    if (this.#locks.size >= this.#maxEntries && !this.#locks.has(bucket)) {
      for (const [key, end] of this.#locks) if (now >= end) this.#locks.delete(key);
      if (this.#locks.size >= this.#maxEntries) this.#locks.delete(this.#locks.keys().next().value!);
    }
    this.#locks.set(bucket, Math.max(until, this.#locks.get(bucket) ?? 0));
  }

  close(): void {
    this.#locks.clear();
  }
}

export class AddressLockout {
  readonly #counters: CounterStore;
  readonly #mirror: LockMirror;
  readonly #settings: LockoutSettings;
  readonly #events: SecurityEvents;
  readonly #logger: Logger;

  constructor(counters: CounterStore, mirror: LockMirror, settings: LockoutSettings, events: SecurityEvents, logger: Logger) {
    this.#counters = counters;
    this.#mirror = mirror;
    this.#settings = settings;
    this.#events = events;
    this.#logger = logger;
  }

  /** Synchronous check against the locks this process knows (cache-hit path). */
  lockedUntil(bucket: string, now: number): number | undefined {
    return this.#mirror.lockedUntil(bucket, now);
  }

  /** Asks the store (cache-miss path): sees locks set elsewhere and mirrors them. Rejects when the store fails. */
  async storeLockedUntil(bucket: string, now: number): Promise<number | undefined> {
    const until = await this.#counters.lockedUntil(FAILURE_KEY_PREFIX + bucket, now);
    if (until === null) return undefined;
    this.#mirror.set(bucket, until, now);
    return until;
  }

  /**
   * Counts one failure; at the threshold locks the bucket and reports `auth.brute-force-lockout` once per lock.
   * Never rejects: a counter-store failure is logged and the request still gets its 401.
   */
  async recordFailure(bucket: string, now: number, ctx: RequestContext): Promise<void> {
    const key = FAILURE_KEY_PREFIX + bucket;
    try {
      const failures = await this.#counters.increment(key, this.#settings.windowMs, now);
      if (failures < this.#settings.maxFailures) return;
      // JavaScript runs this continuation alone: the first failure that finds no lock sets it, so concurrent
      // failures past the threshold report one lock, not one each.
      if (this.#mirror.lockedUntil(bucket, now) !== undefined) return;
      const until = now + this.#settings.lockMs;
      this.#mirror.set(bucket, until, now);
      await this.#counters.lockUntil(key, until);
      this.#events.emit({
        type: 'auth.brute-force-lockout',
        severity: 'high',
        requestId: ctx.requestId,
        routeId: ctx.routeId,
        clientAddress: ctx.clientAddress,
        details: {
          method: 'api-key',
          scope: 'address',
          bucket,
          failures: Math.floor(failures),
          windowMs: this.#settings.windowMs,
          lockedUntil: new Date(until).toISOString(),
        },
      });
    } catch (error) {
      this.#logger.error({ err: error, bucket }, 'api-key: cannot count a failed attempt');
    }
  }
}
