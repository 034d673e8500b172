/**
 * Anomaly detection (issue 6, point 5): the detectors of `detectors:` over the two live streams, as one object the
 * gateway holds per configuration.
 *
 * - Security events arrive through `emit` (it implements `SecurityEvents`, so it can sit in the gateway's event
 *   fan-out beside the log, the events store and the alert dispatcher). Each event type is looked up once and handed
 *   only to the detectors that read it.
 * - Request observations arrive through `observe`, once per finished request.
 *
 * Anomalies go to `sink` as `anomaly.*` security events (normally that same fan-out, so they are logged, stored and
 * alerted on like any other event). `anomaly.*` events coming back in are ignored, so the loop cannot feed itself.
 * Neither entry point throws: a detector bug is counted in `errors` and never fails the request being handled.
 */
import type { SecurityEvent, SecurityEvents } from '../observe/events.ts';
import { AdminActivityDetector } from './detectors/admin-activity.ts';
import { BolaEnumerationDetector } from './detectors/bola-enumeration.ts';
import { BruteForceDetector } from './detectors/brute-force.ts';
import { CredentialStuffingDetector } from './detectors/credential-stuffing.ts';
import { ErrorSpikeDetector } from './detectors/error-spike.ts';
import { ScrapingDetector } from './detectors/scraping.ts';
import { TokenSharingDetector } from './detectors/token-sharing.ts';
import type { DetectorsConfig } from './schema.ts';
import type { Clock, Detector, DetectorStats, RequestObservation } from './types.ts';

export interface AnomalyDetectionOptions {
  /** Time for events (which carry none); observations carry their own `at`. Never `Date.now` in tests. */
  readonly clock: Clock;
  /** Where `anomaly.*` events go. */
  readonly sink: SecurityEvents;
}

export interface AnomalyDetectionStats {
  readonly detectors: readonly DetectorStats[];
  readonly events: number;
  readonly observations: number;
  /** Exceptions caught from detectors or the sink (should stay 0; each one is a bug to report). */
  readonly errors: number;
}

const ANOMALY_PREFIX = 'anomaly.';

export class AnomalyDetection implements SecurityEvents {
  readonly #clock: Clock;
  readonly #detectors: readonly Detector[];
  readonly #observers: readonly Detector[];
  readonly #byType = new Map<string, Detector[]>();
  #events = 0;
  #observations = 0;
  #errors = 0;

  constructor(config: DetectorsConfig, options: AnomalyDetectionOptions) {
    this.#clock = options.clock;
    const sink = options.sink;
    const detectors: Detector[] = [];
    if (config.bruteForce.enabled) detectors.push(new BruteForceDetector(config.bruteForce, sink));
    if (config.credentialStuffing.enabled) detectors.push(new CredentialStuffingDetector(config.credentialStuffing, sink));
    if (config.tokenSharing.enabled) detectors.push(new TokenSharingDetector(config.tokenSharing, sink));
    if (config.bolaEnumeration.enabled) detectors.push(new BolaEnumerationDetector(config.bolaEnumeration, sink));
    if (config.scraping.enabled) detectors.push(new ScrapingDetector(config.scraping, sink));
    if (config.errorSpike.enabled) detectors.push(new ErrorSpikeDetector(config.errorSpike, sink));
    if (config.adminActivity.enabled) detectors.push(new AdminActivityDetector(config.adminActivity, sink));
    this.#detectors = detectors;
    this.#observers = detectors.filter((d) => d.observes);
    for (const detector of detectors) {
      for (const type of detector.eventTypes) {
        const list = this.#byType.get(type);
        if (list === undefined) this.#byType.set(type, [detector]);
        else list.push(detector);
      }
    }
  }

  /** The names of the detectors that run (for posture: the others are disabled). */
  get enabled(): readonly string[] {
    return this.#detectors.map((d) => d.name);
  }

  /** Consumes a security event (does not forward it anywhere). */
  emit(event: SecurityEvent): void {
    const detectors = this.#byType.get(event.type);
    if (detectors === undefined || event.type.startsWith(ANOMALY_PREFIX)) return;
    this.#events++;
    try {
      const now = this.#clock();
      for (let i = 0; i < detectors.length; i++) detectors[i]!.onEvent(event, now);
    } catch {
      this.#errors++;
    }
  }

  /** One finished request. O(1) amortised per detector; allocates only when an anomaly is raised. */
  observe(observation: RequestObservation): void {
    this.#observations++;
    const observers = this.#observers;
    try {
      for (let i = 0; i < observers.length; i++) observers[i]!.observe(observation);
    } catch {
      this.#errors++;
    }
  }

  stats(): AnomalyDetectionStats {
    return { detectors: this.#detectors.map((d) => d.stats()), events: this.#events, observations: this.#observations, errors: this.#errors };
  }
}

export { detectorsConfigSchema, parseDetectorsConfig, checkDetectorsConfig, type DetectorsConfig } from './schema.ts';
export { ANOMALY_TYPES, DETECTOR_NAMES, type AnomalyDetails, type Clock, type DetectorName, type DetectorStats, type RequestObservation } from './types.ts';
