/**
 * The security events store port (ARCHITECTURE.md "State": events, SQLite embedded). Every security event the
 * gateway emits (not only audit events) is kept for a bounded time and a bounded number of rows, so an operator can
 * ask "what happened in the last hour at severity high" (`rampart events --since 1h --severity high`) and the
 * anomaly detectors and alerts of issue 6 have a history to read.
 *
 * Rows are already privacy-protected (client address hashed/truncated) and redacted (recorder.ts).
 */
import type { Severity } from '../observe/events.ts';

export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

/** Severity as an ordinal, so "at least high" is one indexed comparison. */
export function severityRank(severity: Severity): number {
  const rank = SEVERITIES.indexOf(severity);
  if (rank === -1) throw new Error(`unknown severity ${String(severity).slice(0, 16)}`);
  return rank;
}

export interface EventRow {
  /** ms since the epoch */
  readonly time: number;
  readonly type: string;
  readonly severity: Severity;
  readonly route: string | null;
  readonly requestId: string | null;
  readonly client: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface StoredEvent extends EventRow {
  readonly id: number;
}

export interface EventQuery {
  /** time >= since (ms) */
  readonly since?: number;
  /** time < until (ms) */
  readonly until?: number;
  /** Severity at least this. */
  readonly minSeverity?: Severity;
  /** Exact types, or prefixes written `auth.*`. */
  readonly types?: readonly string[];
  /** At most this many rows (default 1,000; at most 100,000), the newest when more match. */
  readonly limit?: number;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 100_000;

export interface RetentionPolicy {
  /** Rows older than this are deleted (ms); 0 or undefined: no age limit. */
  readonly maxAgeMs?: number;
  /** Only the newest this many rows are kept; 0 or undefined: no row limit. */
  readonly maxRows?: number;
}

export interface EventsStore {
  readonly kind: 'sqlite' | 'memory';
  /** Inserts rows in one transaction. Synchronous for both adapters (SQLite through better-sqlite3). */
  insert(rows: readonly EventRow[]): void;
  /** Matching rows in time order (oldest first). */
  query(query: EventQuery): StoredEvent[];
  /** Deletes what the retention policy no longer allows; returns how many rows went. */
  sweep(now: number, retention: RetentionPolicy): number;
  count(): number;
  close(): void;
}

export class EventsStoreError extends Error {
  override readonly name = 'EventsStoreError';
}

/** `auth.*` → prefix `auth.`; anything else exact. Type filters are bounded: 32 entries, 128 characters each. */
export function compileTypeFilter(types: readonly string[] | undefined): { exact: string[]; prefixes: string[] } | undefined {
  if (types === undefined || types.length === 0) return undefined;
  if (types.length > 32) throw new EventsStoreError('at most 32 type filters');
  const exact: string[] = [];
  const prefixes: string[] = [];
  for (const type of types) {
    if (typeof type !== 'string' || type.length === 0 || type.length > 128 || !/^[A-Za-z0-9._*-]+$/.test(type)) {
      throw new EventsStoreError('a type filter is 1 to 128 characters: letters, digits, ".", "_", "-", and a trailing "*"');
    }
    const star = type.indexOf('*');
    if (star === -1) exact.push(type);
    else if (star === type.length - 1) prefixes.push(type.slice(0, -1));
    else throw new EventsStoreError('"*" is allowed only at the end of a type filter');
  }
  return { exact, prefixes };
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_QUERY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new EventsStoreError('limit must be a positive integer');
  return Math.min(limit, MAX_QUERY_LIMIT);
}
