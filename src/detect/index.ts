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
 *
 * State (`detectors.state`): memory, per process; or shared by every gateway process through Redis (shared.ts). In
 * both cases `emit` and `observe` stay synchronous and never wait for Redis: with Redis they also note per-key deltas
 * that a background sync sends every `syncInterval`. `close()` stops that sync and releases the connection.
 *
 * Cool-down ends: `tick(now)` ends the detectors' cool-downs that are due, sending one follow-up event for each that
 * suppressed repeats (detector.ts). A background timer runs it every second with the injected clock (off with
 * `autoTick: false`, for tests that replay a trace and call `tick(t)` themselves); `close()` stops it and ends every
 * cool-down still open, so what was counted before a shutdown is reported too.
 */
import type { SecurityEvent, SecurityEvents } from '../observe/events.ts';
import { acquireRedis, type RedisLease } from '../storage/redis/connection.ts';
import type { CountersConfig } from '../storage/counters-config.ts';
import type { BaseDetector } from './detector.ts';
import { AdminActivityDetector } from './detectors/admin-activity.ts';
import { BolaEnumerationDetector } from './detectors/bola-enumeration.ts';
import { BruteForceDetector } from './detectors/brute-force.ts';
import { CredentialStuffingDetector } from './detectors/credential-stuffing.ts';
import { ErrorSpikeDetector } from './detectors/error-spike.ts';
import { ScrapingDetector } from './detectors/scraping.ts';
import { TokenSharingDetector } from './detectors/token-sharing.ts';
import { resolveDetectorsState, type DetectorsConfig } from './schema.ts';
import { SharedState, type SharedStateLog, type SharedStateStats } from './shared.ts';
import type { Clock, Detector, DetectorStats, RequestObservation } from './types.ts';

export interface AnomalyDetectionOptions {
  /** Time for events (which carry none); observations carry their own `at`. Never `Date.now` in tests. */
  readonly clock: Clock;
  /** Where `anomaly.*` events go. */
  readonly sink: SecurityEvents;
  /** The `counters:` section: the Redis that `detectors.state: redis` names (src/storage/counters-config.ts). */
  readonly counters?: CountersConfig;
  /** Where shared state reports Redis becoming unavailable and available again (a pino logger fits). */
  readonly log?: SharedStateLog;
  /** Sync shared state in the background every `syncInterval` (default true; tests call `sync()` instead). */
  readonly autoSync?: boolean;
  /** End due cool-downs in the background (default true; tests replaying a trace call `tick(t)` instead). */
  readonly autoTick?: boolean;
  /** How often the background tick runs (default 1 s: a follow-up comes at most that late). */
  readonly tickIntervalMs?: number;
}

export interface AnomalyDetectionStats {
  /** Where detector state lives; with Redis, whether it is usable right now (`degraded`: each process alone). */
  readonly state: { readonly store: 'memory' } | SharedStateStats;
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
  readonly #shared: SharedState | undefined;
  readonly #lease: RedisLease | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  /** Resolves once state is usable: at once in memory; with Redis, true after the first sync succeeded. */
  readonly ready: Promise<boolean>;
  #events = 0;
  #observations = 0;
  #errors = 0;

  /** Throws when `detectors.state` names a Redis that is not configured (a config error the loader reports first). */
  constructor(config: DetectorsConfig, options: AnomalyDetectionOptions) {
    this.#clock = options.clock;
    const sink = options.sink;
    const state = resolveDetectorsState(config.state, options.counters);
    if (typeof state === 'string') throw new Error(state);
    const detectors: BaseDetector[] = [];
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
    if (state.store === 'memory') {
      this.ready = Promise.resolve(true);
      this.#startTick(options);
      return;
    }
    // The process's one connection to this Redis (shared with the rate-limit counters when they name the same one);
    // its transitions are logged by whoever opened it, the detectors' own by SharedState.
    const lease = acquireRedis(state.url, { commandTimeoutMs: state.timeoutMs });
    const shared = new SharedState({
      client: lease.client,
      keyPrefix: `${state.keyPrefix}detect:`,
      where: lease.where,
      log: options.log,
      onError: () => this.#errors++,
    });
    for (const detector of detectors) detector.share(shared);
    this.#lease = lease;
    this.#shared = shared;
    if (options.autoSync !== false) shared.start(state.syncIntervalMs);
    this.#startTick(options);
    this.ready = lease.ready.then(async (connected) => {
      if (!connected) {
        options.log?.warn({ redis: lease.where }, 'detectors: Redis does not answer; each process judges on its own state until it does');
        return false;
      }
      await shared.sync();
      return !shared.degraded;
    });
  }

  /** Started where the constructor can no longer throw, so a failed construction leaves no timer behind. */
  #startTick(options: AnomalyDetectionOptions): void {
    if (options.autoTick === false) return;
    // unref'd: the gateway's shutdown calls close(); a process with nothing else to do need not wait for it.
    this.#tickTimer = setInterval(() => this.tick(), options.tickIntervalMs ?? 1000);
    this.#tickTimer.unref();
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

  /**
   * Ends the cool-downs due at `now` (default: the clock): a follow-up event for each that suppressed repeats, at once
   * in memory, with shared state once the next sync brought the cluster's count. Never throws.
   */
  tick(now: number = this.#clock()): void {
    const detectors = this.#detectors;
    for (let i = 0; i < detectors.length; i++) {
      try {
        detectors[i]!.tick(now);
      } catch {
        this.#errors++;
      }
    }
  }

  /** Sends the shared-state deltas noted so far now and acts on the answer (no-op in memory). Never rejects. */
  async sync(): Promise<void> {
    await this.#shared?.sync();
  }

  /**
   * Stops the background tick and sync, ends every open cool-down (its repeats reported now: the state goes with the
   * process), sends what is pending one last time and releases the Redis connection.
   */
  async close(): Promise<void> {
    clearInterval(this.#tickTimer);
    this.#tickTimer = undefined;
    const now = this.#clock();
    for (const detector of this.#detectors) {
      try {
        detector.flush(now);
      } catch {
        this.#errors++;
      }
    }
    await this.#shared?.close();
    await this.#lease?.release();
  }

  stats(): AnomalyDetectionStats {
    return {
      state: this.#shared?.stats() ?? { store: 'memory' },
      detectors: this.#detectors.map((d) => d.stats()),
      events: this.#events,
      observations: this.#observations,
      errors: this.#errors,
    };
  }
}

export {
  detectorsConfigSchema,
  parseDetectorsConfig,
  checkDetectorsConfig,
  resolveDetectorsState,
  type DetectorsConfig,
  type DetectorsState,
  type DetectorsStateConfig,
} from './schema.ts';
export type { SharedStateStats } from './shared.ts';
export { ANOMALY_TYPES, DETECTOR_NAMES, type AnomalyDetails, type Clock, type DetectorName, type DetectorStats, type RequestObservation } from './types.ts';
