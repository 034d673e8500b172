/**
 * A bounded, batching write queue: items are written in order, a batch at a time, by one writer loop. When the
 * queue is full new items are dropped and counted (a flood of events cannot exhaust memory: issue 6 "Bad input");
 * the owner turns the count into a visible record (`audit.gap`, `events.dropped`) so a loss is never silent.
 *
 * With `retry`, a batch whose write failed stays at the front and is retried with capped exponential backoff
 * (the audit chain must not lose entries to a short database outage); without it, the batch is dropped and counted.
 */

export interface BatchQueueOptions<T> {
  readonly maxQueue: number;
  readonly maxBatch: number;
  readonly write: (batch: T[]) => void | Promise<void>;
  readonly retry: boolean;
  readonly onError?: (error: unknown, batchSize: number) => void;
  /** Backoff before retry attempt `n` (1-based); default 100 ms doubling up to 5 s. */
  readonly retryDelayMs?: (attempt: number) => number;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class BatchQueue<T> {
  readonly #options: BatchQueueOptions<T>;
  #items: T[] = [];
  #head = 0;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #waiters: Waiter[] = [];
  #closed = false;
  /** Dropped because the queue was full (or a batch failed without retry), since the last `takeDropped()`. */
  #dropped = 0;
  #failing = false;
  #attempt = 0;
  readonly stats = { written: 0, dropped: 0, failedWrites: 0 };

  constructor(options: BatchQueueOptions<T>) {
    if (!(options.maxQueue >= 1) || !(options.maxBatch >= 1)) throw new Error('queue bounds must be at least 1');
    this.#options = options;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** True while the last write attempt failed and its batch waits for a retry. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Queues an item; false when it was dropped (queue full or closed). */
  push(item: T): boolean {
    if (this.#closed || this.size >= this.#options.maxQueue) {
      this.#dropped++;
      this.stats.dropped++;
      return false;
    }
    this.#items.push(item);
    this.#schedule();
    return true;
  }

  /** Items dropped since the last call (the caller records them). */
  takeDropped(): number {
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }

  /** Gives back a count taken with `takeDropped` that could not be recorded after all. */
  restoreDropped(n: number): void {
    this.#dropped += n;
  }

  /** Resolves once everything queued so far is written; rejects at the next failed write. */
  settled(): Promise<void> {
    if (this.size === 0 && !this.#running) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #schedule(delayMs = 0): void {
    if (this.#running || this.#timer !== undefined) return;
    // setImmediate batches everything emitted in the current tick; a retry waits its backoff (unref: a failing
    // store does not keep a stopping process alive).
    this.#timer = delayMs === 0 ? (setImmediate(() => this.#run()) as unknown as NodeJS.Timeout) : setTimeout(() => this.#run(), delayMs).unref();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    clearImmediate(this.#timer as unknown as NodeJS.Immediate);
    this.#timer = undefined;
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.size > 0) {
        const end = Math.min(this.#items.length, this.#head + this.#options.maxBatch);
        const batch = this.#items.slice(this.#head, end);
        try {
          await this.#options.write(batch);
          this.#failing = false;
          this.#attempt = 0;
          this.stats.written += batch.length;
        } catch (error) {
          this.stats.failedWrites++;
          this.#failing = true;
          this.#options.onError?.(error, batch.length);
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const w of waiters) w.reject(error);
          if (this.#options.retry && !this.#closed) {
            this.#attempt++;
            this.#running = false;
            this.#schedule(this.#options.retryDelayMs?.(this.#attempt) ?? Math.min(5000, 100 * 2 ** Math.min(this.#attempt - 1, 6)));
            return;
          }
          this.#dropped += batch.length;
          this.stats.dropped += batch.length;
        }
        this.#head = end;
        if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
      }
      this.#items = [];
      this.#head = 0;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.resolve();
    } finally {
      this.#running = false;
    }
  }

  /** Writes what is queued (one more attempt for a failing batch), waiting at most `timeoutMs`; then refuses new items. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.size > 0 && this.#timer !== undefined && !this.#running) {
      this.#clearTimer();
      void this.#run();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.settled().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    this.#closed = true;
    this.#clearTimer();
  }
}
