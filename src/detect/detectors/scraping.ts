/**
 * Scraping and bulk harvesting (OWASP API6:2023 unrestricted access to sensitive business flows, API4:2023): a
 * principal's requests per bucket far above its own baseline. Rate limits cap everyone at one number; this compares
 * each principal (or, unauthenticated, each address) with itself, so a customer who normally makes 5 requests a
 * minute and suddenly makes 600 is noticed long before any global limit.
 *
 * With shared state the baseline stays per process and only the cool-down is shared (README "Shared state").
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, SampleRing, VolumeBaseline, type BaselineSettings, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

class VolumeState implements LruEntry {
  lruTick = 0;
  /** `p:<principal>` or `a:<address>`: the key of the cluster's cool-down lock when state is shared. */
  readonly key: string;
  readonly volume = new VolumeBaseline();
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  /** The bucket already reported (or suppressed), so one busy bucket is one anomaly. */
  flagged = Number.NaN;
  constructor(key: string) {
    this.key = key;
  }
}

/** The baseline settings of a detector config with bucket/baseline/warmup/zScore/ratio (shared with adminActivity). */
export function baselineSettings(
  c: { bucket: number | string; baseline: number | string; warmup: number | string; zScore: number; ratio: number },
  minCount: number,
  ceiling = Number.POSITIVE_INFINITY,
): BaselineSettings {
  const bucketMs = parseDuration(c.bucket);
  return {
    bucketMs,
    alpha: Math.min(1, bucketMs / parseDuration(c.baseline)),
    warmupBuckets: Math.ceil(parseDuration(c.warmup) / bucketMs),
    zScore: c.zScore,
    ratio: c.ratio,
    minCount,
    ceiling,
  };
}

export class ScrapingDetector extends BaseDetector {
  readonly name = 'scraping' as const;
  override readonly observes = true;
  readonly #settings: DetectorsConfig['scraping'];
  readonly #baseline: BaselineSettings;
  readonly #cooldownMs: number;
  readonly #byPrincipal;
  readonly #byAddress;

  constructor(settings: DetectorsConfig['scraping'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#baseline = baselineSettings(settings, settings.minRequests, settings.ceiling);
    this.#cooldownMs = parseDuration(settings.cooldown ?? '15m');
    this.#byPrincipal = this.keyed(settings.maxTracked, (principal) => new VolumeState(`p:${principal}`));
    this.#byAddress = this.keyed(settings.maxTracked, (address) => new VolumeState(`a:${address}`));
  }

  override observe(o: RequestObservation): void {
    const state = o.principal !== undefined ? this.#byPrincipal.touch(o.principal) : this.#byAddress.touch(o.clientAddress);
    const volume = state.volume;
    const count = volume.add(o.at, this.#baseline);
    state.samples.push(o.requestId);
    if (count <= volume.limit || state.flagged === volume.bucketStart) return;
    state.flagged = volume.bucketStart;
    if (!this.admit(state.cooldown, o.at, this.#cooldownMs)) return;
    this.raise(state.cooldown, {
      signal: 'volume',
      severity: this.#settings.severity,
      at: o.at,
      windowMs: this.#baseline.bucketMs,
      count,
      threshold: volume.limit,
      baseline: volume.mean,
      samples: state.samples,
      principal: o.principal,
      clientAddress: o.clientAddress,
      routeId: o.routeId,
      requestId: o.requestId,
      key: state.key,
      cooldownMs: this.#cooldownMs,
    });
  }
}
