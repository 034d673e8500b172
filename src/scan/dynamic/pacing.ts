/**
 * The scanner's own rate limit and request budget (issue 8 point 3): the scan must be something a shared staging API
 * tolerates. Requests are spaced evenly at `ratePerSecond` (no bursts: the next slot is one interval after the last),
 * and at most `budget` requests (HTTP requests and TLS handshakes) are sent in all.
 *
 * The clock is injected so tests assert how many requests a fake clock lets through, never how long anything took.
 */

export interface Clock {
  now(): number;
  /** Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason instanceof Error ? signal.reason : new ScanAborted());
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new ScanAborted());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** The scan was stopped by its AbortSignal (Ctrl-C). */
export class ScanAborted extends Error {
  override readonly name = 'ScanAborted';
  constructor() {
    super('the scan was stopped');
  }
}

/** The request budget is spent. */
export class BudgetExhausted extends Error {
  override readonly name = 'BudgetExhausted';
  constructor(readonly budget: number) {
    super(`the request budget of ${budget} is spent`);
  }
}

export class Pacer {
  readonly #interval: number;
  readonly #clock: Clock;
  #next = -Infinity;

  constructor(ratePerSecond: number, clock: Clock = systemClock) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError('ratePerSecond must be a positive number');
    this.#interval = 1000 / ratePerSecond;
    this.#clock = clock;
  }

  /** Waits for the next slot. */
  async acquire(signal?: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const slot = Math.max(now, this.#next);
    this.#next = slot + this.#interval;
    if (slot > now) await this.#clock.sleep(slot - now, signal);
    if (signal?.aborted) throw new ScanAborted();
  }
}

export class Budget {
  #spent = 0;
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError('budget must be a non-negative integer');
  }

  get spent(): number {
    return this.#spent;
  }

  get remaining(): number {
    return this.limit - this.#spent;
  }

  /** Takes one request from the budget or throws BudgetExhausted. */
  take(): void {
    if (this.#spent >= this.limit) throw new BudgetExhausted(this.limit);
    this.#spent++;
  }
}
