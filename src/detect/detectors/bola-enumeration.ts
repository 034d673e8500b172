/**
 * BOLA enumeration (OWASP API1:2023 Broken Object Level Authorization, "attackers substitute the ID of their own
 * resource with the ID of a resource belonging to another user"): the walk shows before any single request is
 * wrong, as
 *
 * - `distinct-ids`: one principal (or, unauthenticated, one address) touching many distinct object ids in the
 *   window, whatever the answers were (a missing check answers 200);
 * - `sequential-denials`: many denied answers (403/404 by default) on numeric ids each close to the previous one.
 *
 * Object ids come from the authorize policy's normalised `object.id` in the observation, so they are the ids the
 * gateway judged, not raw path text.
 *
 * With shared state both signals are counted over every gateway process (shared.ts): the distinct ids of a principal
 * (only ids new to its window go to Redis) and its sequential denials. Whether a denial is "sequential" is judged per
 * process, against the previous id that process saw: a walk spread round-robin over N processes still steps by at
 * most N on each, so keep `maxGap` at least the number of processes.
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector, boundKey } from '../detector.ts';
import type { DetectorsConfig } from '../schema.ts';
import { SharedSlot, type ClusterView, type SharedSpec } from '../shared.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

class PrincipalState extends SharedSlot implements LruEntry {
  lruTick = 0;
  readonly ids: DistinctWindow;
  readonly denials = new SlidingCount();
  readonly samples = new SampleRing();
  readonly distinctCooldown = new Cooldown();
  readonly denialCooldown = new Cooldown();
  lastNumeric = Number.NaN;
  /** The latest request, for the event (raised later, at a sync, when state is shared). */
  lastPrincipal: string | undefined = undefined;
  lastAddress = '';
  lastRouteId = '';
  lastRequestId = '';
  /** `key` is `p:<principal>` or `a:<address>`: the two kinds never share a key in Redis. */
  constructor(key: string, cap: number) {
    super(key);
    this.ids = new DistinctWindow(cap);
  }
}

/** A decimal id of at most 15 digits (exact in a double) as a number, else NaN. No regex, no allocation. */
export function numericId(id: string): number {
  const length = id.length;
  if (length === 0 || length > 15) return Number.NaN;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = id.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

export class BolaEnumerationDetector extends BaseDetector {
  readonly name = 'bolaEnumeration' as const;
  override readonly observes = true;
  readonly #settings: DetectorsConfig['bolaEnumeration'];
  readonly #windowMs: number;
  readonly #cooldownMs: number;
  readonly #byPrincipal;
  readonly #byAddress;
  /** denial[status] === 1 for the statuses that count as a denied object access. */
  readonly #denial = new Uint8Array(600);
  readonly #cap: number;

  constructor(settings: DetectorsConfig['bolaEnumeration'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    const cap = Math.min(settings.distinctIds * 2, 4096);
    this.#cap = cap;
    this.#byPrincipal = this.keyed(settings.maxTracked, (principal) => new PrincipalState(`p:${principal}`, cap));
    this.#byAddress = this.keyed(settings.maxTracked, (address) => new PrincipalState(`a:${address}`, cap));
    for (const status of settings.denialStatuses) this.#denial[status] = 1;
  }

  protected override sharedSpec(): SharedSpec<PrincipalState> {
    const s = this.#settings;
    return {
      windowMs: this.#windowMs,
      distinctCap: this.#cap,
      maxPending: s.maxTracked * 2,
      // In the order the local judgement raises them.
      signals: [
        {
          name: 'sequential-denials',
          measure: 'count',
          threshold: s.sequentialDenials,
          cooldownMs: this.#cooldownMs,
          cooldown: (state) => state.denialCooldown,
          raise: (state, view) => this.#raise(state.denialCooldown, 'sequential-denials', view.at, state, view.count, s.sequentialDenials, view.distinct, view),
        },
        {
          name: 'distinct-ids',
          measure: 'distinct',
          threshold: s.distinctIds,
          cooldownMs: this.#cooldownMs,
          cooldown: (state) => state.distinctCooldown,
          raise: (state, view) => this.#raise(state.distinctCooldown, 'distinct-ids', view.at, state, view.distinct, s.distinctIds, view.distinct, view),
        },
      ],
      judgeAlone: (state, at) => this.#judge(state, at, state.denials.count(at, this.#windowMs), state.ids.count(at, this.#windowMs)),
    };
  }

  override observe(o: RequestObservation): void {
    const objectId = o.objectId;
    if (objectId === undefined) return;
    const state = o.principal !== undefined ? this.#byPrincipal.touch(o.principal) : this.#byAddress.touch(o.clientAddress);
    const s = this.#settings;
    const windowMs = this.#windowMs;
    const boundedId = boundKey(objectId);
    const distinct = state.ids.add(boundedId, o.at, windowMs);
    state.samples.push(o.requestId);
    state.lastPrincipal = o.principal;
    state.lastAddress = o.clientAddress;
    state.lastRouteId = o.routeId;
    state.lastRequestId = o.requestId;

    const id = numericId(objectId);
    const sequentialDenial =
      this.#denial[o.status] === 1 && !Number.isNaN(id) && !Number.isNaN(state.lastNumeric) && Math.abs(id - state.lastNumeric) <= s.maxGap;
    const denials = sequentialDenial ? state.denials.add(o.at, windowMs) : 0;
    if (!Number.isNaN(id)) state.lastNumeric = id;

    const link = this.link;
    if (link !== undefined) {
      link.note(state, o.at, sequentialDenial ? 1 : 0, sequentialDenial, o.requestId);
      if (state.ids.fresh) link.value(state, boundedId, o.at, sequentialDenial ? undefined : o.requestId);
      if (link.judgedByCluster(state)) return; // the cluster judges the principal's ids and denials at the next sync
    }
    this.#judge(state, o.at, denials, distinct);
  }

  /**
   * The judgement on this process's own state (memory mode, or shared state while Redis is unreachable). `denials`
   * is 0 on the request path unless the request was itself a sequential denial: only those can cross its threshold.
   */
  #judge(state: PrincipalState, at: number, denials: number, distinct: number): void {
    const s = this.#settings;
    if (denials >= s.sequentialDenials && this.admit(state.denialCooldown, at, this.#cooldownMs)) {
      this.#raise(state.denialCooldown, 'sequential-denials', at, state, denials, s.sequentialDenials, distinct);
    }
    if (distinct >= s.distinctIds && this.admit(state.distinctCooldown, at, this.#cooldownMs)) {
      this.#raise(state.distinctCooldown, 'distinct-ids', at, state, distinct, s.distinctIds, distinct);
    }
  }

  #raise(
    cooldown: Cooldown,
    signal: string,
    at: number,
    state: PrincipalState,
    count: number,
    threshold: number,
    distinct: number,
    cluster?: ClusterView,
  ): void {
    this.raise(cooldown, {
      signal,
      severity: this.#settings.severity,
      at,
      windowMs: this.#windowMs,
      count,
      threshold,
      distinct,
      samples: cluster !== undefined ? state.evidence(state.samples) : state.samples,
      principal: state.lastPrincipal,
      clientAddress: state.lastAddress,
      routeId: state.lastRouteId,
      requestId: state.lastRequestId,
      key: state.key,
      cooldownMs: this.#cooldownMs,
      ...(cluster !== undefined ? { clusterSuppressed: cluster.suppressed } : {}),
    });
  }
}
