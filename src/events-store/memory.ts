/**
 * In-memory events store (tests and `memory:` configs). It keeps at most `capacity` rows whatever the retention
 * settings, oldest dropped first, so it cannot grow without bound either.
 */
import { clampLimit, compileTypeFilter, severityRank, type EventQuery, type EventRow, type EventsStore, type RetentionPolicy, type StoredEvent } from './types.ts';

export class MemoryEventsStore implements EventsStore {
  readonly kind = 'memory' as const;
  readonly #capacity: number;
  #rows: StoredEvent[] = [];
  #nextId = 1;

  constructor(options: { capacity?: number } = {}) {
    this.#capacity = options.capacity ?? 100_000;
  }

  insert(rows: readonly EventRow[]): void {
    for (const row of rows) {
      severityRank(row.severity);
      // A deep copy: the caller's objects must not change what is stored.
      this.#rows.push({ ...row, details: structuredClone(row.details) as Record<string, unknown>, id: this.#nextId++ });
    }
    if (this.#rows.length > this.#capacity) this.#rows = this.#rows.slice(this.#rows.length - this.#capacity);
  }

  query(query: EventQuery): StoredEvent[] {
    const types = compileTypeFilter(query.types);
    const min = query.minSeverity === undefined ? 0 : severityRank(query.minSeverity);
    const limit = clampLimit(query.limit);
    const matches = this.#rows.filter(
      (r) =>
        (query.since === undefined || r.time >= query.since) &&
        (query.until === undefined || r.time < query.until) &&
        severityRank(r.severity) >= min &&
        (types === undefined || types.exact.includes(r.type) || types.prefixes.some((p) => r.type.startsWith(p))),
    );
    matches.sort((a, b) => a.time - b.time || a.id - b.id);
    return matches.slice(Math.max(0, matches.length - limit)).map((r) => ({ ...r, details: structuredClone(r.details) as Record<string, unknown> }));
  }

  sweep(now: number, retention: RetentionPolicy): number {
    const before = this.#rows.length;
    if (retention.maxAgeMs !== undefined && retention.maxAgeMs > 0) {
      const cut = now - retention.maxAgeMs;
      this.#rows = this.#rows.filter((r) => r.time >= cut);
    }
    if (retention.maxRows !== undefined && retention.maxRows > 0 && this.#rows.length > retention.maxRows) {
      this.#rows = this.#rows.slice(this.#rows.length - retention.maxRows);
    }
    return before - this.#rows.length;
  }

  count(): number {
    return this.#rows.length;
  }

  close(): void {
    this.#rows = [];
  }
}
