/**
 * The verified-token cache: a token string → what verifying it produced (the principal), until a deadline the
 * caller computes (never past the token's `exp`). Only successes are stored, so a flood of bad tokens can evict
 * good entries at worst (costing a re-verification), never block a valid token.
 *
 * Bounded by `maxEntries`; when full, the oldest insertion is evicted (a Map iterates in insertion order, so that
 * is O(1)). Hits do not reorder entries: FIFO instead of LRU keeps the hit path to one Map lookup and one
 * comparison, and a popular token that falls out is simply verified again.
 *
 * The Map is keyed by the token's last KEY_CHARS characters, not the whole token: every request brings a fresh
 * header string whose hash V8 must compute, and hashing a 600-character JWT costs about a microsecond, while the
 * tail (random signature bytes for a JWT, random bytes for an opaque token) hashes in a few tens of nanoseconds.
 * The entry keeps the whole token and a hit requires it to be equal, so two tokens sharing a tail can only
 * displace each other (costing a re-verification), never be confused; and only verified tokens are stored, so a
 * client cannot plant an entry.
 */

const KEY_CHARS = 40;

function keyOf(token: string): string {
  return token.length > KEY_CHARS ? token.slice(token.length - KEY_CHARS) : token;
}

export interface CacheEntry<V> {
  readonly token: string;
  readonly value: V;
  /** Epoch milliseconds; the entry is not served at or after this time. */
  readonly expiresAt: number;
  /** Free tag for the caller; the jwt policy keeps the key id, so a key removed from the JWKS evicts its tokens. */
  readonly tag: string | undefined;
}

export class TokenCache<V> {
  readonly #entries = new Map<string, CacheEntry<V>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** The live entry for `token`, or undefined (an expired entry is dropped). Synchronous, allocation-free. */
  get(token: string, now: number): CacheEntry<V> | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
    if (now < entry.expiresAt) return entry;
    this.#entries.delete(key);
    return undefined;
  }

  set(token: string, value: V, expiresAt: number, tag?: string): void {
    if (this.#maxEntries === 0) return;
    const key = keyOf(token);
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { token, value, expiresAt, tag });
  }

  delete(token: string): void {
    const key = keyOf(token);
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
