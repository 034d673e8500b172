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
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector, boundKey } from '../detector.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

class PrincipalState implements LruEntry {
  lruTick = 0;
  readonly ids: DistinctWindow;
  readonly denials = new SlidingCount();
  readonly samples = new SampleRing();
  readonly distinctCooldown = new Cooldown();
  readonly denialCooldown = new Cooldown();
  lastNumeric = Number.NaN;
  constructor(cap: number) {
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

  constructor(settings: DetectorsConfig['bolaEnumeration'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    const cap = Math.min(settings.distinctIds * 2, 4096);
    this.#byPrincipal = this.keyed(settings.maxTracked, () => new PrincipalState(cap));
    this.#byAddress = this.keyed(settings.maxTracked, () => new PrincipalState(cap));
    for (const status of settings.denialStatuses) this.#denial[status] = 1;
  }

  override observe(o: RequestObservation): void {
    const objectId = o.objectId;
    if (objectId === undefined) return;
    const state = o.principal !== undefined ? this.#byPrincipal.touch(o.principal) : this.#byAddress.touch(o.clientAddress);
    const s = this.#settings;
    const windowMs = this.#windowMs;
    const distinct = state.ids.add(boundKey(objectId), o.at, windowMs);
    state.samples.push(o.requestId);

    const id = numericId(objectId);
    if (this.#denial[o.status] === 1 && !Number.isNaN(id) && !Number.isNaN(state.lastNumeric) && Math.abs(id - state.lastNumeric) <= s.maxGap) {
      const denials = state.denials.add(o.at, windowMs);
      if (denials >= s.sequentialDenials && this.admit(state.denialCooldown, o.at, this.#cooldownMs)) {
        this.#raise(state.denialCooldown, 'sequential-denials', o, state, denials, s.sequentialDenials, distinct);
      }
    }
    if (!Number.isNaN(id)) state.lastNumeric = id;

    if (distinct >= s.distinctIds && this.admit(state.distinctCooldown, o.at, this.#cooldownMs)) {
      this.#raise(state.distinctCooldown, 'distinct-ids', o, state, distinct, s.distinctIds, distinct);
    }
  }

  #raise(cooldown: Cooldown, signal: string, o: RequestObservation, state: PrincipalState, count: number, threshold: number, distinct: number): void {
    this.raise(cooldown, {
      signal,
      severity: this.#settings.severity,
      at: o.at,
      windowMs: this.#windowMs,
      count,
      threshold,
      distinct,
      samples: state.samples,
      principal: o.principal,
      clientAddress: o.clientAddress,
      routeId: o.routeId,
      requestId: o.requestId,
    });
  }
}
