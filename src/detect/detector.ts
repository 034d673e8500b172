/**
 * What the detectors share: bounded keyed state with eviction counts, the cool-down bookkeeping and the one way an
 * anomaly event is built, so every `anomaly.*` event has the same evidence shape (types.ts `AnomalyDetails`), and the
 * one place that decides, with shared state (shared.ts), whether a raise goes out now, waits for the cluster's
 * cool-down lock, or is raised alone while Redis is unreachable.
 */
import type { SecurityEvent, SecurityEvents, Severity } from '../observe/events.ts';
import { ANOMALY_TYPES, type AnomalyDetails, type Detector, type DetectorName, type DetectorStats, type RequestObservation } from './types.ts';
import type { DetectorLink, SharedSlot, SharedSpec, SharedState } from './shared.ts';
import { BoundedLru, Cooldown, type LruEntry, type SampleRing } from './state.ts';

/** Keys (accounts, object ids, credential ids) longer than this are cut: they come from requests. */
export const MAX_KEY_LENGTH = 200;

export function boundKey(value: string): string {
  return value.length > MAX_KEY_LENGTH ? value.slice(0, MAX_KEY_LENGTH) : value;
}

export interface Raise {
  readonly signal: string;
  readonly severity: Severity;
  readonly at: number;
  readonly windowMs: number;
  readonly count: number;
  readonly threshold: number;
  readonly samples: SampleRing;
  readonly principal?: string | undefined;
  readonly clientAddress?: string | undefined;
  readonly routeId?: string | undefined;
  readonly requestId?: string | undefined;
  readonly distinct?: number;
  readonly baseline?: number;
  readonly extra?: Readonly<Record<string, unknown>>;
  /** The key the anomaly is about (account, address, principal, route...), as the detector keys its state. */
  readonly key: string;
  readonly cooldownMs: number;
  /** Set when the cluster judged the key and this process won its cool-down lock: the repeats the cluster saw. */
  readonly clusterSuppressed?: number;
}

export abstract class BaseDetector implements Detector {
  abstract readonly name: DetectorName;
  readonly eventTypes: readonly string[] = [];
  readonly observes: boolean = false;
  readonly #sink: SecurityEvents;
  readonly #maps: BoundedLru<LruEntry>[] = [];
  #raised = 0;
  #suppressed = 0;
  #link: DetectorLink | undefined;

  constructor(sink: SecurityEvents) {
    this.#sink = sink;
  }

  /**
   * The per-key signals this detector lets the cluster judge when state is shared; undefined for detectors that
   * judge on their own baseline and only share the cool-down lock.
   */
  protected sharedSpec(): SharedSpec<never> | undefined {
    return undefined;
  }

  /** Joins shared state (called once, by AnomalyDetection, when `detectors.state` is Redis). */
  share(state: SharedState): void {
    // The spec's callbacks take this detector's own slot class; the link only ever hands back slots it was given.
    const spec = this.sharedSpec() as SharedSpec<SharedSlot> | undefined;
    this.#link = state.link(ANOMALY_TYPES[this.name].slice('anomaly.'.length), spec, () => this.#suppressed++);
  }

  /** The shared-state link, or undefined in memory mode. */
  protected get link(): DetectorLink | undefined {
    return this.#link;
  }

  onEvent(_event: SecurityEvent, _now: number): void {}

  observe(_observation: RequestObservation): void {}

  stats(): DetectorStats {
    let tracked = 0;
    let capacity = 0;
    let evictions = 0;
    for (const map of this.#maps) {
      tracked += map.size;
      capacity += map.capacity;
      evictions += map.evictions;
    }
    return { name: this.name, tracked, capacity, evictions, raised: this.#raised, suppressed: this.#suppressed };
  }

  /** A bounded map of per-key state, included in `stats()`. */
  protected keyed<V extends LruEntry>(capacity: number, create: (key: string) => V): BoundedLru<V> {
    const map = new BoundedLru<V>(capacity, create);
    this.#maps.push(map as unknown as BoundedLru<LruEntry>);
    return map;
  }

  /** True when `cooldown` lets an event out at `now`; a repeat inside the cool-down is counted instead. */
  protected admit(cooldown: Cooldown, now: number, cooldownMs: number): boolean {
    if (cooldown.admit(now, cooldownMs)) return true;
    this.#suppressed++;
    return false;
  }

  /**
   * Raises the anomaly `r`, which passed the local cool-down (or won the cluster's). Only called on the rare path, so
   * it may allocate. With shared state and Redis reachable, a raise judged on this process's own state (baseline
   * detectors) first asks the cluster for the cool-down lock: one event for the cluster, not one per process. While
   * Redis is unreachable it goes out at once, and the cool-down it starts is told to the cluster later.
   */
  protected raise(cooldown: Cooldown, r: Raise): void {
    const localSuppressed = cooldown.raised(r.at);
    const link = this.#link;
    if (link === undefined || r.clusterSuppressed !== undefined) {
      this.#emit(r, localSuppressed + (r.clusterSuppressed ?? 0));
      return;
    }
    if (link.degraded) {
      this.#emit(r, localSuppressed);
      link.claim(r.key, r.signal, r.at, r.cooldownMs, 0);
      return;
    }
    link.claim(r.key, r.signal, r.at, r.cooldownMs, localSuppressed + 1, {
      won: (clusterSuppressed) => this.#emit(r, localSuppressed + clusterSuppressed),
      lost: () => {
        this.#suppressed++;
      },
      fallback: () => this.#emit(r, localSuppressed),
    });
  }

  #emit(r: Raise, suppressed: number): void {
    const details: AnomalyDetails = {
      detector: this.name,
      signal: r.signal,
      ...(r.principal !== undefined ? { principal: r.principal } : {}),
      count: Math.round(r.count),
      threshold: Math.ceil(r.threshold),
      ...(r.distinct !== undefined ? { distinct: r.distinct } : {}),
      ...(r.baseline !== undefined ? { baseline: Math.round(r.baseline * 1000) / 1000 } : {}),
      windowMs: r.windowMs,
      windowStart: new Date(r.at - r.windowMs).toISOString(),
      windowEnd: new Date(r.at).toISOString(),
      sampleRequestIds: r.samples.list(),
      suppressed,
      ...r.extra,
    };
    const event: SecurityEvent = {
      type: ANOMALY_TYPES[this.name],
      severity: r.severity,
      ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
      ...(r.routeId !== undefined ? { routeId: r.routeId } : {}),
      ...(r.clientAddress !== undefined ? { clientAddress: r.clientAddress } : {}),
      details,
    };
    this.#raised++;
    this.#sink.emit(event);
  }
}
