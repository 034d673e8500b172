/**
 * Records every security event into an events store, off the request path: `record` turns the event into a
 * privacy-protected, redacted row and queues it; the queue writes batches in one transaction each on the next turn
 * of the event loop. The queue is bounded (a flood of events cannot exhaust memory, issue 6 "Bad input"): beyond
 * `maxQueue` rows events are dropped and counted by type, and the next batch starts with one `events.dropped` row
 * carrying the counts (the twenty most dropped types, and the total), so a flood is visible as one row with
 * counts instead of being either stored in full or lost silently.
 *
 * Retention runs at `sweepEveryMs` on an unref'd timer (and on `sweep()`), with the injectable clock.
 */
import type { SecurityEvent } from '../observe/events.ts';
import type { Privacy } from '../audit/privacy.ts';
import { redactDetails, cleanText } from '../audit/redact.ts';
import { BatchQueue } from '../audit/queue.ts';
import { SEVERITIES, type EventRow, type EventsStore, type RetentionPolicy } from './types.ts';

export interface EventRecorderOptions {
  readonly privacy: Privacy;
  readonly retention?: RetentionPolicy;
  /** Default 10,000 rows waiting. */
  readonly maxQueue?: number;
  /** Default 1,000 rows per transaction. */
  readonly maxBatch?: number;
  /** Default 10 minutes; 0 disables the timer (call `sweep()`). */
  readonly sweepEveryMs?: number;
  readonly now?: () => number;
  readonly onError?: (error: unknown, rows: number) => void;
}

const MAX_TYPE = 128;
const MAX_ID = 128;
const DROPPED_TYPES_KEPT = 20;

export class EventRecorder {
  readonly store: EventsStore;
  readonly #privacy: Privacy;
  readonly #now: () => number;
  readonly #retention: RetentionPolicy;
  readonly #queue: BatchQueue<EventRow>;
  readonly #sweeper: NodeJS.Timeout | undefined;
  /** Drops by type since the last `events.dropped` row; bounded by the number of distinct types seen. */
  #droppedByType = new Map<string, number>();

  constructor(store: EventsStore, options: EventRecorderOptions) {
    this.store = store;
    this.#privacy = options.privacy;
    this.#now = options.now ?? Date.now;
    this.#retention = options.retention ?? {};
    this.#queue = new BatchQueue<EventRow>({
      maxQueue: options.maxQueue ?? 10_000,
      maxBatch: options.maxBatch ?? 1000,
      retry: false,
      write: (batch) => {
        const dropped = this.#droppedRow();
        this.store.insert(dropped === undefined ? batch : [dropped, ...batch]);
      },
      ...(options.onError ? { onError: options.onError } : {}),
    });
    const every = options.sweepEveryMs ?? 600_000;
    if (every > 0 && (this.#retention.maxAgeMs || this.#retention.maxRows)) {
      this.#sweeper = setInterval(() => {
        try {
          this.sweep();
        } catch (error) {
          options.onError?.(error, 0);
        }
      }, every).unref();
    }
  }

  get stats(): { queued: number; written: number; dropped: number } {
    return { queued: this.#queue.size, written: this.#queue.stats.written, dropped: this.#queue.stats.dropped };
  }

  /** The stored form of an event (exported for the audit sink's tests and the CLI). */
  rowOf(event: SecurityEvent, time = this.#now()): EventRow {
    return {
      time,
      type: cleanText(String(event.type).slice(0, MAX_TYPE), this.#privacy),
      severity: SEVERITIES.includes(event.severity) ? event.severity : 'info',
      route: event.routeId === undefined ? null : cleanText(String(event.routeId).slice(0, MAX_ID), this.#privacy),
      requestId: event.requestId === undefined ? null : cleanText(String(event.requestId).slice(0, MAX_ID), this.#privacy),
      client: this.#privacy.address(event.clientAddress),
      details: redactDetails(event.details, this.#privacy),
    };
  }

  /** Queues the event; never throws, never blocks. */
  record(event: SecurityEvent): void {
    let row: EventRow;
    try {
      row = this.rowOf(event);
    } catch {
      return;
    }
    if (!this.#queue.push(row)) {
      this.#queue.takeDropped();
      const type = row.type;
      // Bounded: once many distinct types were dropped, new ones are counted under one key.
      const key = this.#droppedByType.has(type) || this.#droppedByType.size < 1000 ? type : '(other)';
      this.#droppedByType.set(key, (this.#droppedByType.get(key) ?? 0) + 1);
    }
  }

  #droppedRow(): EventRow | undefined {
    if (this.#droppedByType.size === 0) return undefined;
    const counts = [...this.#droppedByType.entries()].sort((a, b) => b[1] - a[1]);
    this.#droppedByType = new Map();
    const total = counts.reduce((sum, [, n]) => sum + n, 0);
    return {
      time: this.#now(),
      type: 'events.dropped',
      severity: 'medium',
      route: null,
      requestId: null,
      client: null,
      details: { total, byType: Object.fromEntries(counts.slice(0, DROPPED_TYPES_KEPT)), otherTypes: Math.max(0, counts.length - DROPPED_TYPES_KEPT) },
    };
  }

  /** Resolves once everything recorded so far is stored. */
  flush(): Promise<void> {
    return this.#queue.settled();
  }

  sweep(): number {
    return this.store.sweep(this.#now(), this.#retention);
  }

  async close(timeoutMs?: number): Promise<void> {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    await this.#queue.close(timeoutMs);
  }
}
