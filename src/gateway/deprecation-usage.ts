/**
 * Who still calls what is deprecated (checklist item 15): every call to a deprecated version or route is counted
 * per consumer with first and last time seen, so owners can tell the callers before the sunset. Bounded: at most
 * MAX_ENTRIES (route, consumer) pairs are tracked; calls beyond that are counted in `untracked`, never dropped
 * silently. Served by the admin listener at /deprecations and read by `rampart deprecations report`.
 */
import type { Principal } from '../policies/types.ts';
import type { CompiledRoute } from './runtime.ts';

const MAX_ENTRIES = 10_000;

export interface DeprecationUsageEntry {
  readonly api: string;
  readonly version: string | null;
  readonly route: string;
  /** The principal's subject (consumer, user or client id), or `anonymous`. */
  readonly consumer: string;
  readonly kind: string;
  calls: number;
  firstSeen: string;
  lastSeen: string;
  readonly deprecated: string;
  readonly sunset: string | null;
  readonly link: string | null;
}

export class DeprecationUsage {
  readonly #entries = new Map<string, DeprecationUsageEntry>();
  untracked = 0;

  record(route: CompiledRoute, principal: Principal | undefined, now: number): void {
    const api = route.config.api;
    const deprecation = api?.deprecation;
    if (api === undefined || deprecation === undefined) return;
    const consumer = principal?.subject ?? 'anonymous';
    const key = `${route.id}\u0000${consumer}`;
    const at = new Date(now).toISOString();
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.calls++;
      entry.lastSeen = at;
      return;
    }
    if (this.#entries.size >= MAX_ENTRIES) {
      this.untracked++;
      return;
    }
    this.#entries.set(key, {
      api: api.api,
      version: api.version ?? null,
      route: route.id,
      consumer,
      kind: principal?.kind ?? 'anonymous',
      calls: 1,
      firstSeen: at,
      lastSeen: at,
      deprecated: new Date(deprecation.deprecatedAt).toISOString(),
      sunset: deprecation.sunsetAt === undefined ? null : new Date(deprecation.sunsetAt).toISOString(),
      link: deprecation.link ?? null,
    });
  }

  /** Forgets consumers not seen since `cutoff` (epoch ms): `privacy.retention.deprecationUsage`. */
  forgetOlderThan(cutoff: number): number {
    const at = new Date(cutoff).toISOString();
    let forgotten = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.lastSeen < at) {
        this.#entries.delete(key);
        forgotten++;
      }
    }
    return forgotten;
  }

  snapshot(): { entries: DeprecationUsageEntry[]; untracked: number } {
    return { entries: [...this.#entries.values()].map((e) => ({ ...e })), untracked: this.untracked };
  }
}
