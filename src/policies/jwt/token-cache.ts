/**
 * The verified-token cache: a token string → what verifying it produced (the principal), until a deadline the
 * caller computes (never past the token's `exp`). Only successes are stored, so a flood of bad tokens can evict
 * good entries at worst (costing a re-verification), never block a valid token.
 *
 * Bounded by `maxEntries` and by `maxBytes`, an estimate of the memory the entries hold (the token's characters at
 * two bytes each plus the size the caller gives for the value): a count alone let 10,000 introspection answers of
 * 64 KB each and their 8 KB tokens hold about 700 MB. When either bound is reached the oldest insertions are evicted
 * (a Map iterates in insertion order, so that is O(1) each). Hits do not reorder entries: FIFO instead of LRU keeps
 * the hit path to one Map lookup and one comparison, and a popular token that falls out is simply verified again.
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
  /** What this entry counts against `maxBytes`. */
  readonly bytes: number;
}

/** Default memory bound of a cache, in (estimated) bytes. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export class TokenCache<V> {
  readonly #entries = new Map<string, CacheEntry<V>>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries: number, maxBytes: number = DEFAULT_CACHE_BYTES) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** The live entry for `token`, or undefined (an expired entry is dropped). Synchronous, allocation-free. */
  get(token: string, now: number): CacheEntry<V> | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
    if (now < entry.expiresAt) return entry;
    this.#remove(key, entry);
    return undefined;
  }

  /**
   * Stores `value` for `token` until `expiresAt`. `valueBytes` estimates the value's size (callers pass the length
   * of what the value was built from: the token's claims, the introspection answer); an entry larger than the whole
   * bound is not stored.
   */
  set(token: string, value: V, expiresAt: number, tag?: string, valueBytes = 0): void {
    const bytes = 2 * token.length + valueBytes;
    if (this.#maxEntries === 0 || bytes > this.#maxBytes) return;
    const key = keyOf(token);
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#remove(key, previous);
    while (this.#entries.size >= this.#maxEntries || this.#bytes + bytes > this.#maxBytes) {
      const oldest = this.#entries.entries().next();
      if (oldest.done) break;
      this.#remove(oldest.value[0], oldest.value[1]);
    }
    this.#entries.set(key, { token, value, expiresAt, tag, bytes });
    this.#bytes += bytes;
  }

  delete(token: string): void {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry?.token === token) this.#remove(key, entry);
  }

  #remove(key: string, entry: CacheEntry<V>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The estimated bytes the entries hold (what `maxBytes` bounds). */
  get bytes(): number {
    return this.#bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
