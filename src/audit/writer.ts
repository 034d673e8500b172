/**
 * Appends audit entries to a store for the gateway.
 *
 * Choice (issue 6 point 3, "durable before the response completes"), measured on this 2-core machine
 * (SQLite, WAL, synchronous=NORMAL, HMAC chain): one append transaction per entry costs about 60 µs of CPU, one
 * transaction for 100 entries about 25 µs per entry. So there are two modes:
 * - `now` (default, every audit event but the two below): with SQLite the entry is appended synchronously, in the
 *   `emit` call that reports it, so it is committed (with the configured durability) before the policy that
 *   emitted it returns, long before the response is written;
 * - `batch` (the per-request `auth.succeeded` and data access on routes that do not require it): entries of a short
 *   window (`batchWindowMs`, default 20 ms) are appended together, or earlier with the next `now` entry (in order,
 *   in the same transaction). Under load one transaction then carries tens of entries instead of the few of one
 *   event-loop turn (measured: the per-turn batches cost the gateway more CPU than the proxying itself). A crash
 *   can lose the batched entries of that last window, and only those.
 * With PostgreSQL an append is a network round trip, which `emit` (synchronous by contract) cannot wait for: all
 * entries are queued in order and written in batches (one transaction per batch); `appendDurable` / `settled` let
 * a caller that must not answer before the record is durable wait for it (the audit route policy does).
 *
 * Failures never throw out of `write`: the entry is queued and retried with backoff; while the store is failing
 * `healthy` is false (readiness and `required` routes use it to fail closed). When the queue is full, entries are
 * dropped and counted, and the next successful append first writes an `audit.gap` entry with the count, so the
 * chain itself says that something is missing and how much.
 */
import type { AuditEntry, AuditEntryInput } from './chain.ts';
import { BatchQueue } from './queue.ts';
import type { AuditStore } from './store.ts';

export interface AuditWriterOptions {
  /** Entries waiting for the store at most (default 10,000); beyond it they are dropped and counted. */
  readonly maxQueue?: number;
  /** Entries per append transaction when queued (default 500). */
  readonly maxBatch?: number;
  /** How long `batch` entries may wait to share a transaction (default 20 ms). */
  readonly batchWindowMs?: number;
  readonly onError?: (error: unknown, entries: number) => void;
  readonly now?: () => number;
  readonly retryDelayMs?: (attempt: number) => number;
}

export class AuditWriter {
  readonly store: AuditStore;
  readonly #queue: BatchQueue<AuditEntryInput>;
  readonly #now: () => number;
  readonly #onError: ((error: unknown, entries: number) => void) | undefined;
  readonly #maxBatch: number;
  readonly #batchWindowMs: number;
  #appended = 0;
  #syncFailed = false;
  /** `batch` entries of the current event-loop turn (sync stores only), appended at setImmediate. */
  #pending: AuditEntryInput[] = [];
  #pendingTimer: NodeJS.Timeout | undefined;

  constructor(store: AuditStore, options: AuditWriterOptions = {}) {
    this.store = store;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#batchWindowMs = options.batchWindowMs ?? 20;
    this.#queue = new BatchQueue<AuditEntryInput>({
      maxQueue: options.maxQueue ?? 10_000,
      maxBatch: this.#maxBatch,
      retry: true,
      write: async (batch) => {
        await this.#append(batch);
        this.#syncFailed = false;
      },
      ...(options.onError ? { onError: options.onError } : {}),
      ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
    });
  }

  /** False while appends fail (entries wait for a retry) or entries were lost. */
  get healthy(): boolean {
    return !this.#syncFailed && !this.#queue.failing;
  }

  get stats(): { appended: number; queued: number; dropped: number; failedWrites: number } {
    return { appended: this.#appended, queued: this.#queue.size, dropped: this.#queue.stats.dropped, failedWrites: this.#queue.stats.failedWrites };
  }

  /** Prepends an `audit.gap` entry when entries were dropped since the last append. */
  async #append(batch: readonly AuditEntryInput[]): Promise<AuditEntry[]> {
    const lost = this.#queue.takeDropped();
    const entries = lost > 0 ? [this.#gap(lost), ...batch] : batch;
    try {
      const written = this.store.appendSync ? this.store.appendSync(entries) : await this.store.append(entries);
      this.#appended += written.length;
      return written;
    } catch (error) {
      this.#queue.restoreDropped(lost);
      throw error;
    }
  }

  #gap(lost: number): AuditEntryInput {
    return {
      time: this.#now(),
      type: 'audit.gap',
      actor: 'rampart',
      client: null,
      route: null,
      requestId: null,
      outcome: 'failure',
      details: { lost, reason: 'the audit queue was full while the store was slow or failing' },
    };
  }

  /**
   * Records an entry; never throws. `now` with SQLite: committed before this returns (unless earlier entries still
   * wait for a retry, which keeps the order). `batch`: committed at the end of this event-loop turn. PostgreSQL:
   * queued either way; `settled()` says when it is durable.
   */
  write(entry: AuditEntryInput, mode: 'now' | 'batch' = 'now'): void {
    if (this.store.appendSync && this.#queue.size === 0 && !this.#syncFailed) {
      if (mode === 'batch') {
        this.#pending.push(entry);
        if (this.#pending.length >= this.#maxBatch) this.#flushPending();
        else if (this.#pendingTimer === undefined) {
          this.#pendingTimer = setTimeout(() => this.#flushPending(), this.#batchWindowMs);
          this.#pendingTimer.unref();
        }
        return;
      }
      try {
        this.#appendNow(entry);
        return;
      } catch (error) {
        this.#syncFailed = true;
        this.#onError?.(error, 1);
      }
    }
    this.#queue.push(entry);
  }

  /** Appends the pending `batch` entries in one transaction; on failure they go to the retry queue, in order. */
  #flushPending(): void {
    if (this.#pendingTimer !== undefined) clearTimeout(this.#pendingTimer);
    this.#pendingTimer = undefined;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    const lost = this.#queue.takeDropped();
    try {
      this.#appended += this.store.appendSync!(lost > 0 ? [this.#gap(lost), ...batch] : batch).length;
    } catch (error) {
      this.#queue.restoreDropped(lost);
      this.#syncFailed = true;
      this.#onError?.(error, batch.length);
      for (const e of batch) this.#queue.push(e);
    }
  }

  /** Appends the pending `batch` entries and `entry` in one transaction (sync stores); throws when that fails. */
  #appendNow(entry: AuditEntryInput): AuditEntry {
    if (this.#pendingTimer !== undefined) clearTimeout(this.#pendingTimer);
    this.#pendingTimer = undefined;
    const pending = this.#pending;
    this.#pending = [];
    const lost = this.#queue.takeDropped();
    try {
      const written = this.store.appendSync!([...(lost > 0 ? [this.#gap(lost)] : []), ...pending, entry]);
      this.#appended += written.length;
      return written[written.length - 1]!;
    } catch (error) {
      this.#queue.restoreDropped(lost);
      // The pending entries are not lost with this one: they wait in the retry queue.
      for (const e of pending) this.#queue.push(e);
      throw error;
    }
  }

  /** Appends one entry and resolves once it is durable; rejects when the store fails (the caller fails closed). */
  async appendDurable(entry: AuditEntryInput): Promise<AuditEntry> {
    if (this.store.appendSync && this.#queue.size === 0) {
      const written = this.#appendNow(entry);
      this.#syncFailed = false;
      return written;
    }
    // Earlier queued entries first, so the chain keeps the order in which events happened.
    await this.#queue.settled();
    const written = await this.#append([entry]);
    return written[written.length - 1]!;
  }

  /** Resolves once every entry written so far is durable; rejects when the store fails meanwhile. */
  settled(): Promise<void> {
    this.#flushPending();
    return this.#queue.settled();
  }

  /** Writes what is queued (waiting at most `timeoutMs`); the store stays open (its owner closes it). */
  close(timeoutMs?: number): Promise<void> {
    this.#flushPending();
    return this.#queue.close(timeoutMs);
  }
}
