/**
 * What the detectors share: bounded keyed state with eviction counts, the cool-down bookkeeping and the one way an
 * anomaly event is built, so every `anomaly.*` event has the same evidence shape (types.ts `AnomalyDetails`), and the
 * one place that decides, with shared state (shared.ts), whether a raise goes out now, waits for the cluster's
 * cool-down lock, or is raised alone while Redis is unreachable.
 *
 * Cool-down ends: repeats inside a cool-down are counted, not raised. The next raise for the key reports them, but an
 * attack that stops inside its cool-down has no next raise, so every raise also opens an entry in a bounded table of
 * open cool-downs; `tick(now)` (AnomalyDetection runs it every second) ends the entries due and sends one follow-up
 * event (`phase: cooldown-ended`) for each cool-down that counted repeats, with their number. Each repeat is reported
 * exactly once: by the follow-up, which takes the count, or by a raise that came first, which takes it and replaces
 * the entry.
 */
import type { SecurityEvent, SecurityEvents, Severity } from '../observe/events.ts';
import { ANOMALY_TYPES, type AnomalyDetails, type Detector, type DetectorName, type DetectorStats, type RequestObservation } from './types.ts';
import type { DetectorLink, EndsAnswer, SharedSlot, SharedSpec, SharedState } from './shared.ts';
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

/**
 * Whose repeats an open cool-down's end reports:
 * - `local`: this process's own (memory state; the count is on the key's Cooldown);
 * - `shared`: this process raised with shared state, so the cluster counted repeats too (in Redis): its own count plus
 *   what the cluster hands over when asked (DetectorLink.ends);
 * - `forward`: another process won the cluster's lock for this raise; the repeats this process counts meanwhile are
 *   added to the cluster's count as they come (DetectorLink.forward), so the holder's follow-up reports them.
 */
type OpenMode = 'local' | 'shared' | 'forward';

interface OpenCooldown {
  readonly raise: Raise;
  /** When the cool-down ends: the raise's time plus its cool-down (the value of the cluster lock it took). */
  readonly endsAt: number;
  readonly mode: OpenMode;
}

/**
 * Open cool-downs kept besides the keyed maps' capacity: the few cool-downs held outside a keyed map (the
 * credential-stuffing burst's one global key). Entries beyond the bound end early (`cooldownsCut`).
 */
const OPEN_COOLDOWN_SLACK = 16;

export abstract class BaseDetector implements Detector {
  abstract readonly name: DetectorName;
  readonly eventTypes: readonly string[] = [];
  readonly observes: boolean = false;
  readonly #sink: SecurityEvents;
  readonly #maps: BoundedLru<LruEntry>[] = [];
  #raised = 0;
  #suppressed = 0;
  #summaries = 0;
  #cut = 0;
  #link: DetectorLink | undefined;
  /**
   * Open cool-downs by their Cooldown, in the order they opened. Every cool-down of a detector has the same length, so
   * that is also the order they end in (up to how far raise times arrive out of order: a sync interval at most), and
   * `tick` stops at the first entry not due. An entry keeps its raise (and the key's state it points to) alive after
   * the key's LRU forgot it, so the table is bounded: by the keyed maps' capacity plus a little.
   */
  readonly #open = new Map<Cooldown, OpenCooldown>();
  #openCap = OPEN_COOLDOWN_SLACK;
  /** `forward` entries in #open: while 0, a repeat costs no lookup. */
  #forwarding = 0;

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

  /**
   * Ends the cool-downs due at `now`: each that counted repeats gets its follow-up event (with shared state, once the
   * cluster answered at the next sync). O(cool-downs due): the table is in end order.
   */
  tick(now: number): void {
    const open = this.#open;
    if (open.size === 0) return;
    for (const [cooldown, entry] of open) {
      if (entry.endsAt > now) return;
      this.#close(cooldown, entry, entry.endsAt);
    }
  }

  /** Ends every open cool-down at `now`, due or not: on shutdown, so repeats counted so far are still reported. */
  flush(now: number): void {
    for (const [cooldown, entry] of this.#open) this.#close(cooldown, entry, Math.min(now, entry.endsAt));
  }

  stats(): DetectorStats {
    let tracked = 0;
    let capacity = 0;
    let evictions = 0;
    for (const map of this.#maps) {
      tracked += map.size;
      capacity += map.capacity;
      evictions += map.evictions;
    }
    return {
      name: this.name,
      tracked,
      capacity,
      evictions,
      raised: this.#raised,
      suppressed: this.#suppressed,
      summaries: this.#summaries,
      openCooldowns: this.#open.size,
      cooldownsCut: this.#cut,
    };
  }

  /** A bounded map of per-key state, included in `stats()`. */
  protected keyed<V extends LruEntry>(capacity: number, create: (key: string) => V): BoundedLru<V> {
    const map = new BoundedLru<V>(capacity, create);
    this.#maps.push(map as unknown as BoundedLru<LruEntry>);
    this.#openCap += capacity;
    return map;
  }

  /** True when `cooldown` lets an event out at `now`; a repeat inside the cool-down is counted instead. */
  protected admit(cooldown: Cooldown, now: number, cooldownMs: number): boolean {
    if (cooldown.admit(now, cooldownMs)) return true;
    this.#suppressed++;
    if (this.#forwarding !== 0) this.#forward(cooldown);
    return false;
  }

  /**
   * Raises the anomaly `r`, which passed the local cool-down (or won the cluster's). Only called on the rare path, so
   * it may allocate. With shared state and Redis reachable, a raise judged on this process's own state (baseline
   * detectors) first asks the cluster for the cool-down lock: one event for the cluster, not one per process. While
   * Redis is unreachable it goes out at once, and the cool-down it starts is told to the cluster later. Every raise
   * that goes out opens its cool-down in the table `tick` ends.
   */
  protected raise(cooldown: Cooldown, r: Raise): void {
    const localSuppressed = cooldown.raised(r.at);
    const link = this.#link;
    if (link === undefined || r.clusterSuppressed !== undefined) {
      this.#emit(r, localSuppressed + (r.clusterSuppressed ?? 0), 'raised', r.at - r.windowMs, r.at, r.windowMs);
      this.#opened(cooldown, r, link === undefined ? 'local' : 'shared');
      return;
    }
    if (link.degraded) {
      this.#emit(r, localSuppressed, 'raised', r.at - r.windowMs, r.at, r.windowMs);
      link.claim(r.key, r.signal, r.at, r.cooldownMs, 0);
      this.#opened(cooldown, r, 'shared');
      return;
    }
    link.claim(r.key, r.signal, r.at, r.cooldownMs, localSuppressed + 1, {
      won: (clusterSuppressed) => {
        this.#emit(r, localSuppressed + clusterSuppressed, 'raised', r.at - r.windowMs, r.at, r.windowMs);
        this.#opened(cooldown, r, 'shared');
      },
      lost: () => {
        this.#suppressed++;
        // The local cool-down stays (so this process, should it judge alone, does not raise what the cluster did),
        // and what it counts goes to the holder: the repeats since this raise at once, later ones as they come.
        this.#opened(cooldown, r, 'forward');
        const since = cooldown.takeSuppressed();
        if (since > 0) link.forward(r.key, r.signal, r.cooldownMs, since);
      },
      fallback: () => {
        this.#emit(r, localSuppressed, 'raised', r.at - r.windowMs, r.at, r.windowMs);
        this.#opened(cooldown, r, 'shared');
      },
    });
  }

  /** Opens `cooldown`'s entry for `r`, replacing its previous one (whose repeats `r` just took and reported). */
  #opened(cooldown: Cooldown, r: Raise, mode: OpenMode): void {
    const open = this.#open;
    const previous = open.get(cooldown);
    if (previous !== undefined) {
      open.delete(cooldown);
      if (previous.mode === 'forward') this.#forwarding--;
    } else if (open.size >= this.#openCap) {
      // Full (a flood of distinct keys raising within one cool-down): the oldest ends now, reporting what it has.
      const [oldest, entry] = open.entries().next().value as [Cooldown, OpenCooldown];
      this.#cut++;
      this.#close(oldest, entry, Math.min(r.at, entry.endsAt));
    }
    open.set(cooldown, { raise: r, endsAt: r.at + r.cooldownMs, mode });
    if (mode === 'forward') this.#forwarding++;
  }

  /** Removes `entry` and reports the repeats of its cool-down, which ended (or is cut short) at `endedAt`. */
  #close(cooldown: Cooldown, entry: OpenCooldown, endedAt: number): void {
    this.#open.delete(cooldown);
    const local = cooldown.takeSuppressed();
    const r = entry.raise;
    switch (entry.mode) {
      case 'local':
        if (local > 0) this.#summary(entry, local, endedAt);
        return;
      case 'forward':
        this.#forwarding--;
        if (local > 0) this.#link?.forward(r.key, r.signal, r.cooldownMs, local);
        return;
      case 'shared': {
        const link = this.#link!;
        const answer: EndsAnswer = {
          answered: (clusterSuppressed) => {
            if (local + clusterSuppressed > 0) this.#summary(entry, local + clusterSuppressed, endedAt);
          },
          // Nothing invented: this process's own repeats go out; the cluster's stay in Redis for the next raise.
          unanswered: () => {
            if (local > 0) this.#summary(entry, local, endedAt);
          },
        };
        link.ends(r.key, r.signal, entry.endsAt, answer);
        return;
      }
    }
  }

  /** A repeat on a cool-down another process holds: handed to the cluster's count at once (it reports them). */
  #forward(cooldown: Cooldown): void {
    const entry = this.#open.get(cooldown);
    if (entry?.mode !== 'forward') return;
    const r = entry.raise;
    this.#link?.forward(r.key, r.signal, r.cooldownMs, cooldown.takeSuppressed());
  }

  /** The follow-up of `entry`'s raise: same anomaly, its cool-down as the window, the repeats it counted. */
  #summary(entry: OpenCooldown, suppressed: number, endedAt: number): void {
    const r = entry.raise;
    this.#summaries++;
    this.#emit(r, suppressed, 'cooldown-ended', r.at, endedAt, endedAt - r.at);
  }

  #emit(r: Raise, suppressed: number, phase: AnomalyDetails['phase'], windowStart: number, windowEnd: number, windowMs: number): void {
    const details: AnomalyDetails = {
      detector: this.name,
      signal: r.signal,
      ...(r.principal !== undefined ? { principal: r.principal } : {}),
      count: Math.round(r.count),
      threshold: Math.ceil(r.threshold),
      ...(r.distinct !== undefined ? { distinct: r.distinct } : {}),
      ...(r.baseline !== undefined ? { baseline: Math.round(r.baseline * 1000) / 1000 } : {}),
      windowMs,
      windowStart: new Date(windowStart).toISOString(),
      windowEnd: new Date(windowEnd).toISOString(),
      sampleRequestIds: r.samples.list(),
      suppressed,
      ...r.extra,
      phase,
    };
    const event: SecurityEvent = {
      type: ANOMALY_TYPES[this.name],
      severity: r.severity,
      ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
      ...(r.routeId !== undefined ? { routeId: r.routeId } : {}),
      ...(r.clientAddress !== undefined ? { clientAddress: r.clientAddress } : {}),
      details,
    };
    if (phase === 'raised') this.#raised++;
    this.#sink.emit(event);
  }
}
