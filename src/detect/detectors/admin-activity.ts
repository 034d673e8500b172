/**
 * Unusual admin activity (OWASP API5:2023 broken function level authorization; a stolen admin credential is the
 * worst case of API2): once a principal's use of `sensitivity: admin` routes is learnt (a learning period and a
 * number of successful admin requests), three signals, each with its own cool-down:
 *
 * - `new-address`: an admin request from an address the principal never used for admin work;
 * - `off-hours`: at an hour of the day (in `utcOffsetMinutes`) outside the principal's working window: the smallest
 *   stretch of the 24-hour clock holding every hour with at least `hourMinShare` of its admin requests, widened by
 *   `hourTolerance` hours on each side (so it learns night shifts too, and needs no per-hour history: a few days of
 *   sessions at scattered times define the window);
 * - `rate`: admin requests per bucket far above the principal's own baseline.
 *
 * Successful requests keep teaching the profile, so a genuinely new office address is one event, not one per hour.
 *
 * With shared state the profile stays per process and only the cool-down is shared (README "Shared state").
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, DistinctWindow, SampleRing, VolumeBaseline, type BaselineSettings, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Whether `hour` lies in the working window of a 24-hour histogram: hours with at least `min` requests are "used";
 * the longest circular run of unused hours is the off period; `hour` is unusual when it lies inside that run more
 * than `tolerance` hours from either end. O(48), on admin requests only.
 */
export function usualHour(hours: Uint32Array, min: number, tolerance: number, hour: number): boolean {
  let gapStart = -1;
  let gapLength = 0;
  let runStart = 0;
  let run = 0;
  for (let i = 0; i < 48; i++) {
    if (hours[i % 24]! >= min) {
      run = 0;
      continue;
    }
    if (run === 0) runStart = i;
    run++;
    if (run > gapLength) {
      gapLength = Math.min(run, 24);
      gapStart = runStart % 24;
    }
  }
  if (gapLength === 0 || gapLength === 24) return true; // every hour used, or no profile: nothing is unusual
  const position = (hour - gapStart + 24) % 24;
  return !(position < gapLength && position >= tolerance && position < gapLength - tolerance);
}

class AdminProfile implements LruEntry {
  lruTick = 0;
  firstAt: number;
  /** Successful admin requests learnt. */
  learnt = 0;
  readonly hours = new Uint32Array(24);
  readonly addresses: DistinctWindow;
  readonly rate = new VolumeBaseline();
  rateFlagged = Number.NaN;
  readonly samples = new SampleRing();
  readonly addressCooldown = new Cooldown();
  readonly hourCooldown = new Cooldown();
  readonly rateCooldown = new Cooldown();
  constructor(maxAddresses: number, firstAt: number) {
    this.addresses = new DistinctWindow(maxAddresses);
    this.firstAt = firstAt;
  }
}

export class AdminActivityDetector extends BaseDetector {
  readonly name = 'adminActivity' as const;
  override readonly observes = true;
  readonly #s: DetectorsConfig['adminActivity'];
  readonly #learningMs: number;
  readonly #cooldownMs: number;
  readonly #offsetMs: number;
  readonly #rate: BaselineSettings | undefined;
  readonly #profiles;
  /** The time of the observation being handled, read by the profile factory (no closure per request). */
  #now = 0;

  constructor(settings: DetectorsConfig['adminActivity'], sink: SecurityEvents) {
    super(sink);
    this.#s = settings;
    this.#learningMs = parseDuration(settings.learningPeriod);
    this.#cooldownMs = parseDuration(settings.cooldown ?? '1h');
    this.#offsetMs = settings.utcOffsetMinutes * 60_000;
    const r = settings.rate;
    if (r.enabled) {
      const bucketMs = parseDuration(r.bucket);
      this.#rate = {
        bucketMs,
        alpha: Math.min(1, bucketMs / parseDuration(r.baseline)),
        warmupBuckets: Math.ceil(this.#learningMs / bucketMs),
        zScore: r.zScore,
        ratio: r.ratio,
        minCount: r.minRequests,
        ceiling: Number.POSITIVE_INFINITY,
      };
    }
    this.#profiles = this.keyed(settings.maxTracked, () => new AdminProfile(settings.maxAddresses, this.#now));
  }

  override observe(o: RequestObservation): void {
    if (o.admin !== true || o.principal === undefined) return;
    const at = o.at;
    this.#now = at;
    const p = this.#profiles.touch(o.principal);
    const s = this.#s;
    p.samples.push(o.requestId);
    const hour = Math.floor((((at + this.#offsetMs) % DAY_MS) + DAY_MS) % DAY_MS / HOUR_MS);
    const profiled = at - p.firstAt >= this.#learningMs && p.learnt >= s.learningRequests;

    if (profiled) {
      if (s.newAddress && !p.addresses.has(o.clientAddress) && this.admit(p.addressCooldown, at, this.#cooldownMs)) {
        this.#raise(p.addressCooldown, 'new-address', o, p, 1, 1, at - p.firstAt, { knownAddresses: p.addresses.size });
      }
      if (s.offHours && !usualHour(p.hours, Math.max(1, s.hourMinShare * p.learnt), s.hourTolerance, hour)) {
        if (this.admit(p.hourCooldown, at, this.#cooldownMs)) {
          this.#raise(p.hourCooldown, 'off-hours', o, p, 1, 1, at - p.firstAt, { hour, learntAtHour: p.hours[hour]!, learnt: p.learnt });
        }
      }
    }
    const rate = this.#rate;
    if (rate !== undefined) {
      const volume = p.rate;
      const count = volume.add(at, rate);
      if (count > volume.limit && p.rateFlagged !== volume.bucketStart) {
        p.rateFlagged = volume.bucketStart;
        if (this.admit(p.rateCooldown, at, this.#cooldownMs)) {
          this.#raise(p.rateCooldown, 'rate', o, p, count, volume.limit, rate.bucketMs, {}, volume.mean);
        }
      }
    }
    // Learn from answers the upstream accepted: refused attempts do not make an address or an hour usual.
    if (o.status < 400) {
      p.learnt++;
      p.hours[hour] = p.hours[hour]! + 1;
      p.addresses.add(o.clientAddress, at, Number.POSITIVE_INFINITY);
    }
  }

  #raise(
    cooldown: Cooldown,
    signal: string,
    o: RequestObservation,
    p: AdminProfile,
    count: number,
    threshold: number,
    windowMs: number,
    extra: Record<string, unknown>,
    baseline?: number,
  ): void {
    this.raise(cooldown, {
      signal,
      severity: this.#s.severity,
      at: o.at,
      windowMs,
      count,
      threshold,
      ...(baseline !== undefined ? { baseline } : {}),
      samples: p.samples,
      principal: o.principal,
      clientAddress: o.clientAddress,
      routeId: o.routeId,
      requestId: o.requestId,
      extra,
      key: o.principal ?? o.clientAddress,
      cooldownMs: this.#cooldownMs,
    });
  }
}
