/**
 * Error spikes per route (checklist item 6; OWASP API8:2023 and API4:2023 show first as error rates): a route's 5xx
 * or 4xx rate in the current bucket far above the route's own baseline rate. A 5xx spike is an upstream failing or
 * being pushed over (resource exhaustion, injection payloads); a 4xx spike is a scanner, fuzzer or enumeration run
 * against the route.
 *
 * The test is binomial: with the route's learnt rate p and n requests so far in the bucket, the error count must
 * exceed n·p + z·sqrt(n·p·(1-p)), reach `ratio`·n·p, and reach `minErrors` (with at least `minRequests`). A rate at or
 * above `absoluteRate` is a spike during the warm-up (so a route that fails from its first minute is reported) and,
 * after it, whenever it is also `ratio` times the baseline.
 *
 * With shared state the baseline stays per process and only the cool-down is shared (README "Shared state").
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, SampleRing, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

/** The baseline rate never goes below this in the test, so a route that never failed is not "infinitely" surprised. */
const MIN_RATE = 0.001;

class ClassState {
  /** Errors of this class in the current bucket. */
  errors = 0;
  /** The learnt error rate (EWMA of per-bucket rates). */
  rate = 0;
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  flagged = Number.NaN;
}

class RouteState implements LruEntry {
  lruTick = 0;
  bucketStart = Number.NaN;
  firstBucket = Number.NaN;
  total = 0;
  readonly c5 = new ClassState();
  readonly c4 = new ClassState();
}

export class ErrorSpikeDetector extends BaseDetector {
  readonly name = 'errorSpike' as const;
  override readonly observes = true;
  readonly #s: DetectorsConfig['errorSpike'];
  readonly #bucketMs: number;
  readonly #alpha: number;
  readonly #warmupMs: number;
  readonly #cooldownMs: number;
  readonly #watch5: boolean;
  readonly #watch4: boolean;
  readonly #routes;

  constructor(settings: DetectorsConfig['errorSpike'], sink: SecurityEvents) {
    super(sink);
    this.#s = settings;
    this.#bucketMs = parseDuration(settings.bucket);
    this.#alpha = Math.min(1, this.#bucketMs / parseDuration(settings.baseline));
    this.#warmupMs = parseDuration(settings.warmup);
    this.#cooldownMs = parseDuration(settings.cooldown ?? '15m');
    this.#watch5 = settings.classes.includes('5xx');
    this.#watch4 = settings.classes.includes('4xx');
    this.#routes = this.keyed(settings.maxTracked, () => new RouteState());
  }

  override observe(o: RequestObservation): void {
    const route = this.#routes.touch(o.routeId);
    this.#advance(route, o.at);
    route.total++;
    const status = o.status;
    if (status >= 500) {
      if (this.#watch5) this.#error(route, route.c5, '5xx', o);
    } else if (status >= 400 && this.#watch4) this.#error(route, route.c4, '4xx', o);
  }

  #advance(route: RouteState, now: number): void {
    const bucketMs = this.#bucketMs;
    if (Number.isNaN(route.bucketStart)) {
      route.bucketStart = route.firstBucket = now - (now % bucketMs);
      return;
    }
    if (now < route.bucketStart + bucketMs) return;
    if (route.total > 0) {
      // A bucket with few requests says little about the rate: it weighs in proportion, up to a full bucket.
      const alpha = this.#alpha * Math.min(1, route.total / this.#s.minRequests);
      this.#fold(route.c5, route.total, alpha, route.bucketStart);
      this.#fold(route.c4, route.total, alpha, route.bucketStart);
    }
    route.bucketStart += Math.floor((now - route.bucketStart) / bucketMs) * bucketMs;
    route.total = 0;
  }

  #fold(c: ClassState, total: number, alpha: number, bucketStart: number): void {
    let rate = c.errors / total;
    // A spike is not learnt as normal: a bucket that was a spike weighs in at most at the ratio the test allows.
    if (c.flagged === bucketStart && rate > c.rate * this.#s.ratio) rate = c.rate * this.#s.ratio;
    c.rate += alpha * (rate - c.rate);
    c.errors = 0;
  }

  #error(route: RouteState, c: ClassState, kind: '5xx' | '4xx', o: RequestObservation): void {
    c.errors++;
    c.samples.push(o.requestId);
    if (c.flagged === route.bucketStart) return;
    const s = this.#s;
    const n = route.total;
    const errors = c.errors;
    if (errors < s.minErrors || n < s.minRequests) return;
    const warmedUp = route.bucketStart - route.firstBucket >= this.#warmupMs;
    const p = Math.max(c.rate, MIN_RATE);
    const limit = warmedUp ? Math.max(n * p + s.zScore * Math.sqrt(n * p * (1 - p)), n * p * s.ratio) : n * s.absoluteRate;
    // Once the baseline is known, even the absolute rate must be `ratio` times it: a route that always answers 404
    // (the unrouted `-`, a probe endpoint) has no spike at its usual rate.
    const aboveBaseline = !warmedUp || errors >= n * p * s.ratio;
    const spike = aboveBaseline && (errors >= n * s.absoluteRate || (warmedUp && errors > limit));
    if (!spike) return;
    c.flagged = route.bucketStart;
    if (!this.admit(c.cooldown, o.at, this.#cooldownMs)) return;
    this.raise(c.cooldown, {
      signal: `rate-${kind}`,
      severity: kind === '5xx' ? s.severity : s.severity4xx,
      at: o.at,
      windowMs: this.#bucketMs,
      count: errors,
      threshold: Math.max(s.minErrors, Math.min(limit, n * s.absoluteRate)),
      baseline: c.rate,
      samples: c.samples,
      routeId: o.routeId,
      clientAddress: o.clientAddress,
      requestId: o.requestId,
      extra: { requests: n, rate: Math.round((errors / n) * 1000) / 1000 },
      key: o.routeId,
      cooldownMs: this.#cooldownMs,
    });
  }
}
