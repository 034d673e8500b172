/**
 * The limit check of one policy instance: its limits, compiled once, evaluated against the counter store.
 *
 * Order and short-circuit: rates first (in config order), then concurrency, then quotas; the first refusal answers
 * 429 and later limits are not asked. So a request refused by a per-second rate spends nothing of the caller's
 * monthly quota (a quota is an allowance people pay for), and a quota is spent only by requests that go through.
 *
 * Synchronous when it can be: with the memory store every answer is synchronous and the whole check runs without
 * a promise; with Redis each limit is one round trip (one Lua script) and the check continues from its `then`.
 *
 * Store failure (Redis down, command timed out): per route, `closed` answers 503 RAMPART_ERR_RATE_LIMIT_UNAVAILABLE
 * (fail closed) and `local` asks this process's memory store instead, with the same limits (fail open to per-node
 * limits: N gateway processes then admit up to N times the limit). Nothing is queued; the Redis connection
 * reconnects by itself and the next check after it is back goes to Redis again.
 *
 * Headers (draft-ietf-httpapi-ratelimit-headers-10, September 2025, §3 and §4; structured-field lists, RFC 9651):
 *   RateLimit-Policy: "rate-0";q=100;w=60, "quota-1";q=10000;w=86400, "conc-2";q=5;qu="concurrent-requests"
 *   RateLimit: "rate-0";r=57;t=26
 * `q` is the burst (GCRA) or the quota, `w` the seconds the whole allowance takes to come back (burst × interval)
 * or the calendar day; a month has no fixed length and carries no `w`. `r` is what is left after this request,
 * `t` the seconds until the allowance is full again (GCRA) or the period ends (quota). The policy strings are
 * built once; per request only the `r`/`t` numbers are formatted. Refusals add Retry-After (RFC 9110 §10.2.3, in
 * seconds, rounded up). When address-limit and rate-limit both answer, their lists are joined into one field.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CONTINUE, problem, type Outcome, type RequestContext } from '../types.ts';
import type { CounterStore, QuotaPeriod, RateDecision } from '../../storage/ports.ts';
import type { MemoryCounterStore } from '../../storage/memory/counters.ts';
import type { CounterFailureMode } from '../../storage/counters-config.ts';
import type { KeyOf } from './keys.ts';

export type LimitKind = 'rate' | 'quota' | 'concurrency';

export interface CompiledLimit {
  readonly name: string;
  readonly kind: LimitKind;
  /** What the key counts by (ip, principal, header, ...), for log details. */
  readonly keyKind: string;
  readonly keyOf: KeyOf;
  /** rate: GCRA emission interval (period / N) and burst. */
  readonly intervalMs: number;
  readonly burst: number;
  /** quota: the allowance per calendar period. */
  readonly quota: number;
  readonly period: QuotaPeriod;
  /** concurrency: slots, and the lease a shared store frees them after. */
  readonly slots: number;
  readonly leaseMs: number;
}

/** The counter stores one runtime's limit policies use (see index.ts CounterBackend). */
export interface LimitStores {
  readonly primary: CounterStore;
  /** The per-process fallback of a shared primary; undefined when the primary is the memory store itself. */
  readonly local: MemoryCounterStore | undefined;
  /** False while a shared primary is known to be down: the check goes straight to the failure mode. */
  available(): boolean;
  /** Reports a failed store call (logged at most now and then). */
  failed(error: unknown): void;
}

export interface LimiterOptions {
  readonly onStoreFailure: CounterFailureMode;
  readonly headers: boolean;
  readonly now: () => number;
  readonly logger: Logger;
  /** Label for problem details, e.g. `rate-limit`. */
  readonly policy: string;
}

/** Lease ids of concurrency slots: unique per process (random prefix) and per acquisition (counter). */
const LEASE_PREFIX = randomBytes(8).toString('hex') + ':';
let leaseCounter = 0;

/** Appends `value` to the response header `name` (lower case), joining structured-field lists with ', '. */
function appendListHeader(headers: string[], name: string, value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) {
      headers[i + 1] = `${headers[i + 1]!}, ${value}`;
      return;
    }
  }
  headers.push(name, value);
}

function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/** One entry of RateLimit-Policy for `limit` (sf-string name plus parameters). */
export function policyItem(limit: CompiledLimit): string {
  const name = JSON.stringify(limit.name);
  if (limit.kind === 'rate') return `${name};q=${limit.burst};w=${seconds(limit.burst * limit.intervalMs)}`;
  if (limit.kind === 'quota') return limit.period === 'day' ? `${name};q=${limit.quota};w=86400` : `${name};q=${limit.quota}`;
  return `${name};q=${limit.slots};qu="concurrent-requests"`;
}

type Answer = RateDecision | number;

export class Limiter {
  readonly #limits: readonly CompiledLimit[];
  /** `"name";r=` per limit, built once. */
  readonly #prefixes: readonly string[];
  readonly #policyHeader: string;
  readonly #stores: LimitStores;
  readonly #options: LimiterOptions;
  readonly #unavailable: Outcome;
  /** The last joined RateLimit-Policy list (see #appendPolicyHeader). */
  #joinedPolicy: { readonly before: string; readonly value: string } | undefined;

  constructor(limits: readonly CompiledLimit[], stores: LimitStores, options: LimiterOptions) {
    const rank = (kind: LimitKind) => (kind === 'rate' ? 0 : kind === 'concurrency' ? 1 : 2);
    this.#limits = [...limits].sort((a, b) => rank(a.kind) - rank(b.kind));
    this.#prefixes = this.#limits.map((limit) => `${JSON.stringify(limit.name)};r=`);
    this.#policyHeader = limits.map(policyItem).join(', ');
    this.#stores = stores;
    this.#options = options;
    this.#unavailable = problem('RAMPART_ERR_RATE_LIMIT_UNAVAILABLE', `${options.policy}: counter store unavailable (fail closed)`, { 'retry-after': '1' });
  }

  /** The RateLimit-Policy value of this instance. */
  get policyHeader(): string {
    return this.#policyHeader;
  }

  /**
   * Adds this instance's RateLimit-Policy to the response's list. The list an earlier limit policy left there is
   * the same string on every request of a route (its own policy value), so the joined value is kept for it rather
   * than concatenated (and flattened when written) per request.
   */
  #appendPolicyHeader(headers: string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== 'ratelimit-policy') continue;
      const before = headers[i + 1]!;
      let joined = this.#joinedPolicy;
      if (joined === undefined || joined.before !== before) this.#joinedPolicy = joined = { before, value: `${before}, ${this.#policyHeader}` };
      headers[i + 1] = joined.value;
      return;
    }
    headers.push('ratelimit-policy', this.#policyHeader);
  }

  check(ctx: RequestContext): Outcome | Promise<Outcome> {
    return this.#run(ctx, 0, '', this.#options.now());
  }

  /** Evaluates limits from `from`; `applied` is the RateLimit list so far. Synchronous until a store answers late. */
  #run(ctx: RequestContext, from: number, applied: string, now: number): Outcome | Promise<Outcome> {
    const limits = this.#limits;
    for (let i = from; i < limits.length; i++) {
      const limit = limits[i]!;
      const key = limit.keyOf(ctx);
      if (key === undefined) continue;
      let store: CounterStore = this.#stores.primary;
      const leaseId = limit.kind === 'concurrency' ? LEASE_PREFIX + String(leaseCounter++) : '';
      if (this.#stores.local !== undefined && !this.#stores.available()) {
        if (this.#options.onStoreFailure === 'closed') return this.#unavailable;
        store = this.#stores.local;
      }
      // A synchronous throw is a bug in the arguments (validated at load), not an outage: the pipeline answers 500.
      const answer = this.#ask(store, limit, key, leaseId, now);
      if (answer instanceof Promise) {
        const pending = answer;
        return pending.then(
          (resolved) => this.#continue(ctx, limit, i, key, leaseId, store, resolved, applied, now),
          (error: unknown) => {
            this.#stores.failed(error);
            if (this.#options.onStoreFailure === 'closed' || this.#stores.local === undefined) return this.#unavailable;
            const local = this.#stores.local;
            return this.#continue(ctx, limit, i, key, leaseId, local, this.#ask(local, limit, key, leaseId, now) as Answer, applied, now);
          },
        );
      }
      const next = this.#apply(ctx, limit, i, key, leaseId, store, answer, applied);
      if (typeof next !== 'string') return next;
      applied = next;
    }
    if (this.#options.headers && applied !== '') {
      this.#appendPolicyHeader(ctx.responseHeaders);
      appendListHeader(ctx.responseHeaders, 'ratelimit', applied);
    }
    return CONTINUE;
  }

  #continue(
    ctx: RequestContext,
    limit: CompiledLimit,
    index: number,
    key: string,
    leaseId: string,
    store: CounterStore,
    answer: Answer,
    applied: string,
    now: number,
  ): Outcome | Promise<Outcome> {
    const next = this.#apply(ctx, limit, index, key, leaseId, store, answer, applied);
    if (typeof next !== 'string') return next;
    return this.#run(ctx, index + 1, next, now);
  }

  #ask(store: CounterStore, limit: CompiledLimit, key: string, leaseId: string, now: number): Answer | Promise<Answer> {
    switch (limit.kind) {
      case 'rate':
        return store.take(key, limit.intervalMs, limit.burst, now);
      case 'quota':
        return store.quota(key, limit.quota, limit.period, now);
      default:
        return store.acquire(key, leaseId, limit.slots, limit.leaseMs, now);
    }
  }

  /** Applies one answer: the RateLimit list extended with it, or the refusal. */
  #apply(
    ctx: RequestContext,
    limit: CompiledLimit,
    index: number,
    key: string,
    leaseId: string,
    store: CounterStore,
    answer: Answer,
    applied: string,
  ): string | Outcome {
    const prefix = this.#prefixes[index]!;
    const separator = applied === '' ? '' : ', ';
    if (typeof answer === 'number') {
      if (answer < 0) return this.#refuse(ctx, limit, 1000, applied + separator + prefix + '0');
      this.#releaseAtEnd(ctx, store, key, leaseId);
      return applied + separator + prefix + String(answer);
    }
    if (!answer.allowed) {
      return this.#refuse(ctx, limit, answer.retryAfterMs, `${applied}${separator}${prefix}0;t=${seconds(answer.retryAfterMs)}`);
    }
    return `${applied}${separator}${prefix}${answer.remaining};t=${seconds(answer.resetMs)}`;
  }

  #refuse(ctx: RequestContext, limit: CompiledLimit, retryAfterMs: number, applied: string): Outcome {
    // Written to the response headers (not the problem's own), so the list joins whatever an earlier limit policy
    // of this request added, and survives the pipeline's precedence of ctx.responseHeaders.
    this.#appendPolicyHeader(ctx.responseHeaders);
    appendListHeader(ctx.responseHeaders, 'ratelimit', applied);
    return problem('RAMPART_ERR_RATE_LIMITED', `${this.#options.policy}: limit "${limit.name}" (${limit.kind} by ${limit.keyKind}) exceeded`, {
      'retry-after': String(Math.max(1, seconds(retryAfterMs))),
    });
  }

  /**
   * Frees a concurrency slot when the request ends, however it ends. `IncomingMessage` emits 'close' once the
   * response has been sent, when the client went away, and when the upstream failed and the gateway answered
   * instead (Node >= 16); a request already closed (the client left while the store answered) frees it at once.
   */
  #releaseAtEnd(ctx: RequestContext, store: CounterStore, key: string, leaseId: string): void {
    const release = () => {
      try {
        const done = store.release(key, leaseId);
        // A shared store that cannot be reached frees the slot by its lease expiry instead.
        if (done instanceof Promise) done.catch((error: unknown) => this.#stores.failed(error));
      } catch (error) {
        this.#options.logger.error({ err: error }, `${this.#options.policy}: cannot release a concurrency slot`);
      }
    };
    const req = ctx.req;
    if (req.closed || req.destroyed) release();
    else req.once('close', release);
  }
}
