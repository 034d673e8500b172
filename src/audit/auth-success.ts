/**
 * How successful authentications of API requests (`auth.succeeded`, one per authenticated request) reach the audit
 * chain: `audit.authSuccess.record`.
 *
 * - `per-window` (the default): one entry per (route, principal, credential, client address) per window, with the
 *   number of requests and the first and last time: "user-7 (jwt, credential c1) from h:… on orders: 1,234 requests
 *   between t1 and t2". Who did what, with which credential, from where and how often stays in the chain; the
 *   request ids of the individual successes do not (the entry keeps the first one; the access log has them all).
 *   Costs one chain entry per key and window instead of one per request. Identity providers present their
 *   highest-volume successes the same way (Microsoft Graph `summarizedSignIn`: non-interactive sign-in counts grouped
 *   by user, application, IP address and time window), though Entra ID also stores each one; here the chain holds
 *   the summary and the access log the individual requests.
 * - `every-request`: one entry per request (appended in batches; writer.ts), for deployments whose auditors want
 *   each success as its own record.
 *
 * What never changes: failures (`auth.*-failed`, lockouts, MFA, denials…) are recorded individually and committed
 * before `emit` returns (SQLite), and data access on routes that require audit is made durable per request before
 * the request is forwarded (`emitDurable`). A data-access entry names the principal too, so such routes keep a
 * per-request record of who was authenticated whatever this setting says.
 *
 * Loss on a crash: the open window's counts (at most `window` of successes; with `every-request`, the last batch
 * window, 20 ms). Shutdown (`close`) and `flush` write the open window first.
 *
 * Memory is bounded (issue 6 "Bad input"): at most `maxKeys` keys are open; the next new key closes the window
 * early (its entries are written) instead of growing the table. Key parts an attacker may choose (a token's
 * subject, its `jti`) are length-bounded (hashed when long) before they become part of a key.
 */
import { createHash } from 'node:crypto';
import type { SecurityEvent } from '../observe/events.ts';

export type AuthSuccessRecord = 'per-window' | 'every-request';

export interface AuthSuccessSettings {
  readonly record: AuthSuccessRecord;
  /** Length of a window (per-window). */
  readonly windowMs: number;
  /** Open keys at most (per-window); beyond, the window closes early. */
  readonly maxKeys: number;
}

export const DEFAULT_AUTH_SUCCESS: AuthSuccessSettings = { record: 'per-window', windowMs: 60_000, maxKeys: 10_000 };

/** Longer key parts are replaced by their SHA-256 (bounded memory per key). */
const MAX_KEY_PART = 256;

interface Tally {
  readonly subject: string | undefined;
  readonly client: string | undefined;
  readonly route: string | undefined;
  readonly kind: string | undefined;
  readonly method: string | undefined;
  /** The first success of the window for this key: its request id, route, address and details are kept. */
  readonly first: SecurityEvent;
  readonly firstAt: number;
  lastAt: number;
  count: number;
}

/**
 * A key part as a map key: the string itself (absent stays undefined, distinct from ''), or `#<SHA-256>` when
 * longer than MAX_KEY_PART (a short value equal to the digest form of a long one would need a SHA-256 preimage).
 */
function part(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.length > MAX_KEY_PART ? '#' + createHash('sha256').update(value, 'utf8').digest('base64') : value;
}

/**
 * The open tallies of one credential: the first key seen with it, compared field by field, and the others (the
 * same token from another address or on another route) by one combined key, made only for them.
 *
 * Why this shape: under load with many distinct principals, every success looks up state that has gone cold in
 * the CPU caches since that principal's last request, so the cost is the chain of dependent memory reads, not the
 * hashing. Nested maps by subject, credential and address (three lookups, each an object and a hash table to
 * read) cost about 2 µs per request in a CPU profile of bench/policies.ts with 1,000 rotating tokens; one lookup
 * by credential (a token names one subject) and a field-by-field check of its first tally reads about half as
 * much. A combined string key for every success would cost a new string, flattened and hashed, per request; here
 * it is built only for a credential's second and later keys, and it keeps those lookups O(1) however many
 * addresses one token is used from (a linear list would let one token used from thousands of addresses make
 * every one of its requests scan them).
 */
interface CredentialTallies {
  readonly first: Tally;
  others: Map<string, Tally> | undefined;
}

/** The combined key of a credential's other tallies: JSON of the parts keeps it injective (undefined is null). */
function otherKey(subject: string | undefined, client: string | undefined, route: string | undefined, kind: string | undefined, method: string | undefined): string {
  return JSON.stringify([subject ?? null, client ?? null, route ?? null, kind ?? null, method ?? null]);
}

export interface AuthSuccessWindowsOptions {
  readonly windowMs: number;
  readonly maxKeys: number;
  readonly now: () => number;
  /** Receives the window's aggregated events (one per key), in first-seen order, when a window closes. */
  readonly write: (events: SecurityEvent[]) => void;
}

/** Counts successes per key over a window and hands one aggregated event per key to `write` when it closes. */
export class AuthSuccessWindows {
  readonly #options: AuthSuccessWindowsOptions;
  /** Open tallies by credential id (see CredentialTallies). */
  #open = new Map<string | undefined, CredentialTallies>();
  /** The open tallies in first-seen order (the order their entries are written in). */
  #order: Tally[] = [];
  #windowStart: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AuthSuccessWindowsOptions) {
    if (!(options.windowMs >= 1) || !(options.maxKeys >= 1)) throw new Error('the auth-success window and key bound must be at least 1');
    this.#options = options;
    this.#windowStart = options.now();
  }

  /** Keys in the open window (tests, metrics). */
  get size(): number {
    return this.#order.length;
  }

  /** Counts one success; false once closed (the caller records it on its own then). */
  add(event: SecurityEvent): boolean {
    if (this.#closed) return false;
    const at = this.#options.now();
    const d = event.details;
    const subject = part(d?.['subject']);
    const credential = part(d?.['credentialId']);
    const client = part(event.clientAddress);
    const route = part(event.routeId);
    const kind = part(d?.['kind']);
    const method = part(d?.['method']);
    const open = this.#open.get(credential);
    let tally: Tally | undefined;
    if (open !== undefined) {
      const head = open.first;
      if (head.subject === subject && head.client === client && head.route === route && head.kind === kind && head.method === method) tally = head;
      else tally = open.others?.get(otherKey(subject, client, route, kind, method));
      if (tally !== undefined) {
        tally.count++;
        if (at > tally.lastAt) tally.lastAt = at;
        return true;
      }
    }
    if (this.#order.length >= this.#options.maxKeys) this.closeWindow();
    tally = { subject, client, route, kind, method, first: event, firstAt: at, lastAt: at, count: 1 };
    // Looked up again: closeWindow above may have emptied the table.
    const bucket = this.#open.get(credential);
    if (bucket === undefined) this.#open.set(credential, { first: tally, others: undefined });
    else (bucket.others ??= new Map()).set(otherKey(subject, client, route, kind, method), tally);
    this.#order.push(tally);
    // The timer runs only while something is open: an idle gateway wakes up for nothing.
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.closeWindow(), this.#options.windowMs);
      this.#timer.unref();
    }
    return true;
  }

  /** Closes the open window now: its aggregated events go to `write` (nothing when it is empty). */
  closeWindow(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const order = this.#order;
    const start = this.#windowStart;
    const end = this.#options.now();
    this.#open = new Map();
    this.#order = [];
    this.#windowStart = end;
    if (order.length === 0) return;
    this.#options.write(order.map((tally) => aggregated(tally, start, end)));
  }

  /** Writes the open window and stops counting (later successes are the caller's to record). */
  close(): void {
    this.closeWindow();
    this.#closed = true;
  }
}

/**
 * The event recorded for one key of a window: the first success with its details, plus `count`, `firstAt`,
 * `lastAt` (ms) and the window's bounds `windowStart`, `windowEnd` (ms). `record: 'per-window'` says how to read
 * it. The request id is the first request's.
 */
function aggregated(tally: Tally, windowStart: number, windowEnd: number): SecurityEvent {
  const { first } = tally;
  return {
    ...first,
    details: {
      ...first.details,
      record: 'per-window',
      count: tally.count,
      firstAt: tally.firstAt,
      lastAt: tally.lastAt,
      windowStart,
      windowEnd,
    },
  };
}
