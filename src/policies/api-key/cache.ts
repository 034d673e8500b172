/**
 * Verified API keys kept in memory for `cacheTtl`, keyed by the key's hash (the key itself is never kept), so the
 * hot path answers a known key without a store read. Bounded: a flood of distinct valid keys cannot grow the
 * process; when full, expired entries go first, then the oldest.
 */
import type { Principal } from '../types.ts';

export interface VerifiedKey {
  readonly principal: Principal;
  readonly keyId: string;
  /** The entry is not used at or after this time: now + cacheTtl, or the key's own expiry when sooner. */
  readonly validUntil: number;
  /** Last time this process recorded use of the key (`touchApiKey`), to touch at most once per resolution. */
  touchedAt: number;
}

export const DEFAULT_MAX_CACHED_KEYS = 10_000;

export class VerifiedKeyCache {
  readonly #entries = new Map<string, VerifiedKey>();
  readonly #maxEntries: number;

  constructor(maxEntries: number = DEFAULT_MAX_CACHED_KEYS) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(hash: string, now: number): VerifiedKey | undefined {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return undefined;
    if (now >= entry.validUntil) {
      this.#entries.delete(hash);
      return undefined;
    }
    return entry;
  }

  set(hash: string, entry: VerifiedKey, now: number): void {
    if (!this.#entries.has(hash) && this.#entries.size >= this.#maxEntries) this.#makeRoom(now);
    this.#entries.set(hash, entry);
  }

  delete(hash: string): void {
    this.#entries.delete(hash);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Drops expired entries, then the oldest inserted until 90% of the bound remain (amortises the scan). */
  #makeRoom(now: number): void {
    for (const [hash, entry] of this.#entries) if (now >= entry.validUntil) this.#entries.delete(hash);
    const target = Math.floor(this.#maxEntries * 0.9);
    for (const hash of this.#entries.keys()) {
      if (this.#entries.size <= target) break;
      this.#entries.delete(hash);
    }
  }
}
