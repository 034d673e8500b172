/**
 * The JWKS cache of one issuer (RFC 7517 §5), shared by every route that accepts the issuer.
 *
 * - Fetched with a deadline and a body limit; the answer must be 200 and a JSON object with a `keys` array.
 *   Unusable keys (private, symmetric, wrong `use`, unsupported type, no `kid`, duplicate `kid`) are skipped with
 *   a log line; the rest are imported to CryptoKeys once per fetch, bound to their algorithms (see keys.ts).
 * - Fresh for `Cache-Control: max-age` minus `Age`, bounded to [minRefreshInterval, maxMaxAge]; defaultMaxAge
 *   without a max-age. A stale set keeps being served while a background fetch replaces it.
 * - A token naming an unknown `kid` triggers a refetch (key rotation), at most one fetch per minRefreshInterval
 *   whatever the number of requests, and concurrent requests share the fetch in flight, so random kids cannot
 *   turn the gateway into a load generator against the identity provider.
 * - Rotation: each successful fetch replaces the whole set. A kid that disappears from the JWKS stops verifying
 *   at once, including tokens already in the verified-token cache (the policy checks `has(kid)` on every hit):
 *   removing a key is how an issuer revokes it.
 * - Outage: a failed fetch keeps the last good set (logged), and is retried after minRefreshInterval.
 *   Before the first successful fetch there are no keys, and every token fails closed (401 invalid_token,
 *   detail "jwks unavailable").
 */
import type { Logger } from 'pino';
import { importPublicJwk } from './keys.ts';
import { undiciExchange, type HttpExchange } from './http.ts';

export interface JwksCacheOptions {
  readonly url: string;
  /** Algorithms keys are imported for (a JWK with its own `alg` is imported for that one only). */
  readonly algorithms: ReadonlySet<string>;
  /** Seconds. */
  readonly minRefreshInterval: number;
  /** Seconds. */
  readonly defaultMaxAge: number;
  /** Seconds. */
  readonly maxMaxAge: number;
  /** Milliseconds. */
  readonly timeout: number;
  readonly maxBytes: number;
  readonly logger: Logger;
  /** Clock in milliseconds (tests inject one). */
  readonly now?: () => number;
  readonly exchange?: HttpExchange;
}

const MAX_KEYS = 100;
const MAX_KID_LENGTH = 256;

/** Seconds of freshness from Cache-Control and Age (RFC 9111 §5.2.2.1, §4.2.3), or undefined without max-age. */
export function freshnessSeconds(cacheControl: string | undefined, age: string | undefined): number | undefined {
  if (cacheControl === undefined) return undefined;
  let maxAge: number | undefined;
  for (const directive of cacheControl.toLowerCase().split(',')) {
    const [name, value] = directive.trim().split('=', 2) as [string, string | undefined];
    if (name === 'no-store' || name === 'no-cache') return 0;
    if (name === 'max-age' && value !== undefined) {
      const seconds = /^"?(\d{1,10})"?$/.exec(value.trim());
      if (seconds) maxAge = Number(seconds[1]);
    }
  }
  if (maxAge === undefined) return undefined;
  const ageSeconds = age !== undefined && /^\d{1,10}$/.test(age.trim()) ? Number(age.trim()) : 0;
  return Math.max(0, maxAge - ageSeconds);
}

export class JwksCache {
  readonly #options: JwksCacheOptions;
  readonly #now: () => number;
  readonly #exchange: HttpExchange;
  readonly #closing = new AbortController();
  /** kid → algorithm → key. Undefined until the first successful fetch. */
  #keys: Map<string, Map<string, CryptoKey>> | undefined;
  #freshUntil = 0;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<boolean> | undefined;
  #closed = false;
  /** Fetch attempts so far (observability and tests). */
  fetchCount = 0;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#exchange = options.exchange ?? undiciExchange;
    // Fetch at once, so the first request finds the keys or joins the fetch in flight.
    void this.#refreshIfAllowed(this.#now());
  }

  /** True once a fetch succeeded (the gateway's readiness can use it). */
  get ready(): boolean {
    return this.#keys !== undefined;
  }

  /**
   * Whether the current set has `kid` (cache-hit path: synchronous, no allocation). Starts a background refresh
   * when the set is stale.
   */
  has(kid: string, now: number): boolean {
    if (now >= this.#freshUntil) void this.#refreshIfAllowed(now);
    return this.#keys?.has(kid) === true;
  }

  /** The key for (kid, alg) in the current set, synchronously; starts a background refresh when stale. */
  get(kid: string, alg: string, now: number): CryptoKey | undefined {
    if (now >= this.#freshUntil) void this.#refreshIfAllowed(now);
    return this.#keys?.get(kid)?.get(alg);
  }

  /**
   * The key for (kid, alg), refetching the set when the kid is unknown (rate-bounded). Answers a reason string
   * when there is no such key.
   */
  async resolve(kid: string, alg: string): Promise<CryptoKey | string> {
    const now = this.#now();
    const known = this.get(kid, alg, now);
    if (known !== undefined) return known;
    if (this.#keys?.has(kid)) return `key ${kid} does not serve ${alg}`;
    const pending = this.#refreshIfAllowed(now);
    if (pending !== undefined) await pending;
    if (this.#keys === undefined) return 'jwks unavailable';
    const key = this.#keys.get(kid)?.get(alg);
    if (key !== undefined) return key;
    return this.#keys.has(kid) ? `key ${kid} does not serve ${alg}` : 'unknown kid';
  }

  /** Resolves once no fetch is in flight (tests; readiness checks). */
  async whenIdle(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight;
  }

  /** The fetch in flight, a new one when the rate bound allows it, or undefined. */
  #refreshIfAllowed(now: number): Promise<boolean> | undefined {
    if (this.#inFlight !== undefined) return this.#inFlight;
    if (this.#closed || now - this.#lastAttempt < this.#options.minRefreshInterval * 1000) return undefined;
    this.#lastAttempt = now;
    this.#inFlight = this.#fetch().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #fetch(): Promise<boolean> {
    const { url, logger } = this.#options;
    this.fetchCount++;
    try {
      const response = await this.#exchange(url, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        timeoutMs: this.#options.timeout,
        maxBytes: this.#options.maxBytes,
        signal: this.#closing.signal,
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      let document: unknown;
      try {
        document = JSON.parse(response.body);
      } catch {
        throw new Error('body is not JSON');
      }
      if (document === null || typeof document !== 'object' || !Array.isArray((document as { keys?: unknown }).keys)) {
        throw new Error('body is not a JWK Set (no "keys" array)');
      }
      const keys = await this.#importKeys((document as { keys: unknown[] }).keys);
      if (this.#closed) return false;
      const fresh = freshnessSeconds(response.headers['cache-control'], response.headers['age']) ?? this.#options.defaultMaxAge;
      const bounded = Math.min(Math.max(fresh, this.#options.minRefreshInterval), this.#options.maxMaxAge);
      this.#keys = keys;
      this.#freshUntil = this.#now() + bounded * 1000;
      logger.debug({ jwksUrl: url, kids: [...keys.keys()], freshSeconds: bounded }, 'jwks fetched');
      return true;
    } catch (error) {
      if (this.#closed) return false;
      // Keep serving the last good set (if any) through the outage; retried after minRefreshInterval.
      logger.warn(
        { jwksUrl: url, err: { message: (error as Error).message }, keptKeys: this.#keys?.size ?? 0 },
        'jwks fetch failed; keeping the last good key set',
      );
      return false;
    }
  }

  async #importKeys(entries: readonly unknown[]): Promise<Map<string, Map<string, CryptoKey>>> {
    const { url, logger, algorithms } = this.#options;
    const keys = new Map<string, Map<string, CryptoKey>>();
    const skip = (index: number, reason: string) => logger.warn({ jwksUrl: url, index, reason }, 'jwks key skipped');
    for (const [index, entry] of entries.slice(0, MAX_KEYS).entries()) {
      const kid = (entry as { kid?: unknown } | null)?.kid;
      if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) {
        // Rampart selects JWKS keys by kid only (never "try every key"), so a key without one is unreachable.
        skip(index, 'no usable kid');
        continue;
      }
      if (keys.has(kid)) {
        skip(index, `kid "${kid}" appears twice; the first is kept`);
        continue;
      }
      const imported = await importPublicJwk(entry, algorithms);
      if (typeof imported === 'string') {
        skip(index, `key "${kid}" ${imported}`);
        continue;
      }
      keys.set(kid, imported);
    }
    if (entries.length > MAX_KEYS) logger.warn({ jwksUrl: url, count: entries.length }, `jwks has more than ${MAX_KEYS} keys; the rest are ignored`);
    return keys;
  }

  close(): void {
    this.#closed = true;
    this.#closing.abort();
  }
}
